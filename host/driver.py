"""Host side of the SpAtten accelerator (docs/architecture.md): memory image, CSRs, layer flow.

Shared by the system testbench and ``spatten run``. Per layer command the host

1. reads LIVE_HEADS (after CTRL.CLEAR every head is live),
2. quantizes Q, K, V of every live head over the live tokens (``golden.fixed.quantize_sym``),
   packs them in the bit-plane layout (:class:`Layout`: one block per head, HEAD_STRIDE apart)
   and writes them to device memory,
3. programs every command CSR (counts from a :class:`golden.config.PruneConfig` with
   ``kept_count``; SCORE_SCALE[h] from ``score_scale_params``, HEAD_SCALE[h] from
   ``head_scale_params`` of the V scale), writes CTRL.START, waits,
4. reads back E of the live heads, the KEEP list, LIVE_HEADS and the counters -> a
   :class:`golden.system.LayerResult` (the interface of the golden attention models).

Every device access is a coroutine (:class:`Device`), because under cocotb each register
access awaits the bus. The synchronous MiniLM forward (``golden.minilm.encode``) reaches it
through :class:`RtlAttention`, which runs one coroutine per layer with a pluggable ``run``
function: :func:`run_sync` for devices that never suspend (:class:`ModelDevice`, pure Python),
``verif.axil.cocotb_run`` under cocotb (the forward runs in a ``cocotb.task.bridge`` thread and
each layer is a ``cocotb.task.resume`` call back into the simulator).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from golden import blocks as blk
from golden import fixed as fx
from golden.accel import (
    ID_VALUE,
    RO_REGS,
    AccelModel,
    AccelParams,
    CommandError,
    Ctrl,
    ErrorCode,
    Mode,
    Reg,
    Status,
    head_scale_reg,
    heads_of,
    pack_bits,
    pack_head_scale,
    pack_score_scale,
    score_scale_reg,
)
from golden.config import (
    DENSE,
    PruneConfig,
    kept_count,
    special_positions,
    token_keep_count,
    with_special,
)
from golden.regs import ImpAddr
from golden.system import LayerResult
from golden.traffic import dense_bytes, zero_bytes

T = TypeVar("T")

# Cycle counters read back after every command (not modelled by golden.accel: 0 there).
TIMING_REGS = {"cycles": Reg.CYCLES, "busy_cycles": Reg.BUSY_CYCLES,
               "stall_cycles": Reg.MEM_STALL_CYCLES}


# ================================================================ device protocol =============
class Device(Protocol):
    """An accelerator instance: CSR space + the memory it masters. All methods await."""

    async def write_reg(self, off: int, val: int) -> None: ...

    async def read_reg(self, off: int) -> int: ...

    async def write_mem(self, addr: int, data: bytes) -> None: ...

    async def read_mem(self, addr: int, n: int) -> bytes: ...

    async def wait_done(self) -> int:
        """Wait until STATUS has DONE or ERROR; return STATUS."""
        ...


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (a pure-Python device) to completion."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("the device suspended: run this flow under its event loop "
                       "(cocotb: verif.axil.cocotb_run inside cocotb.task.bridge)")


# ================================================================ memory layout ===============
@dataclass(frozen=True)
class Layout:
    """Memory image of one command: per head a block [Q | K_MSB | K_LSB | V_MSB | E] at
    ``base + h * head_stride``, then the KEEP list (whole beats). Every region starts 32-byte
    aligned; Q and the K/V planes are packed rows (blocks.row_bytes), E rows whole beats."""

    base: int
    heads: int
    queries: int
    n: int
    d: int
    msb_bits: int
    lsb_bits: int

    def _sizes(self) -> tuple[int, ...]:
        pb = blk.plane_bytes
        return (pb(self.queries, self.d, fx.DATA_W), pb(self.n, self.d, self.msb_bits),
                pb(self.n, self.d, self.lsb_bits), pb(self.n, self.d, self.msb_bits),
                self.queries * blk.row_stride(self.d, fx.E_W))

    def _offsets(self) -> list[int]:
        return [sum(self._sizes()[:i]) for i in range(5)]

    @property
    def head_stride(self) -> int:
        return sum(self._sizes())

    @property
    def q_base(self) -> int:
        return self.base + self._offsets()[0]

    @property
    def k_msb_base(self) -> int:
        return self.base + self._offsets()[1]

    @property
    def k_lsb_base(self) -> int:
        return self.base + self._offsets()[2]

    @property
    def v_msb_base(self) -> int:
        return self.base + self._offsets()[3]

    @property
    def e_base(self) -> int:
        return self.base + self._offsets()[4]

    @property
    def keep_base(self) -> int:
        return self.base + self.heads * self.head_stride

    @property
    def end(self) -> int:
        keep = -(-self.n * 2 // fx.AXI_BYTES) * fx.AXI_BYTES
        return self.keep_base + keep

    def head(self, h: int) -> int:
        """Offset of head ``h``'s block from each base."""
        return h * self.head_stride

    def regs(self) -> dict[int, int]:
        return {Reg.Q_BASE: self.q_base, Reg.K_MSB_BASE: self.k_msb_base,
                Reg.K_LSB_BASE: self.k_lsb_base, Reg.V_MSB_BASE: self.v_msb_base,
                Reg.E_BASE: self.e_base, Reg.KEEP_BASE: self.keep_base,
                Reg.HEAD_STRIDE: self.head_stride}


# ================================================================ layer image ===============
@dataclass
class LayerImage:
    """Quantized operands of the live heads of one command and their memory writes."""

    writes: list[tuple[int, bytes]]
    score_scale: dict[int, tuple[int, int]]  # head -> (score_mult, score_shift)
    scale_v: dict[int, float]  # head -> V scale (E real = E int * scale_v / 16)
    head_scale: dict[int, tuple[int, int]]  # head -> HEAD_SCALE (mult, shift) from scale_v

    @classmethod
    def empty(cls) -> LayerImage:
        """No head: command CSRs without SCORE_SCALE / HEAD_SCALE (what the START check sees)."""
        return cls([], {}, {}, {})


def head_writes(layout: Layout, h: int, q12: np.ndarray, k12: np.ndarray,
                v12: np.ndarray) -> list[tuple[int, bytes]]:
    """Memory writes of one head's 12-bit Q [queries, D], K and V [n, D]."""
    m, lsb, off = layout.msb_bits, layout.lsb_bits, layout.head(h)
    k_msb, k_lsb, _, _ = blk.pack_planes(k12, m, lsb)
    v_msb, _, _, _ = blk.pack_planes(v12, m, 0)
    q, _ = blk.pack_rows(q12, fx.DATA_W)
    return [(layout.q_base + off, q), (layout.k_msb_base + off, k_msb),
            (layout.k_lsb_base + off, k_lsb), (layout.v_msb_base + off, v_msb)]


def build_image(layout: Layout, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                live_heads: np.ndarray) -> LayerImage:
    """Quantize (per head, per tensor) and pack float q [H, queries, D], k, v [H, n, D]."""
    image = LayerImage.empty()
    for h in (int(x) for x in live_heads):
        (qi, sq), (ki, sk), (vi, sv) = (fx.quantize_sym(x[h]) for x in (q, k, v))
        image.writes += head_writes(layout, h, qi, ki, vi)
        image.score_scale[h] = fx.score_scale_params(sq, sk, layout.d)
        image.scale_v[h] = sv
        image.head_scale[h] = fx.head_scale_params(sv)
    return image


# ================================================================ CSR values ================
@dataclass(frozen=True)
class Counts:
    """The count CSRs of one command."""

    prune: bool
    token_keep: int
    head_keep: int
    value_keep: int


def command_counts(cfg: PruneConfig, index: int, n: int, live_heads: int) -> Counts:
    """Counts of layer (or decode step) ``index`` over ``n`` live tokens, as FixedSpatten."""
    return Counts(prune=index + 1 >= cfg.prune_start_layer,
                  token_keep=token_keep_count(cfg, n),
                  head_keep=kept_count(cfg.head_keep, live_heads),
                  value_keep=kept_count(cfg.value_keep, n))


def command_regs(layout: Layout, cfg: PruneConfig, counts: Counts, mode: Mode,
                 image: LayerImage) -> dict[int, int]:
    """Every command CSR (written in this order; SCORE_SCALE and HEAD_SCALE of the live heads
    only, from the image)."""
    regs = {
        Reg.MODE: int(mode),
        Reg.N: layout.n,
        Reg.D: layout.d,
        Reg.HEADS: layout.heads,
        Reg.PRUNE: int(counts.prune),
        Reg.TOKEN_KEEP: counts.token_keep,
        Reg.HEAD_KEEP: counts.head_keep,
        Reg.VALUE_KEEP: counts.value_keep,
        Reg.BITS: pack_bits(cfg.msb_bits, cfg.lsb_bits),
        Reg.REQUANT_THR: blk.prob_threshold(cfg.requant_threshold),
        **layout.regs(),
    }
    regs.update({score_scale_reg(h): pack_score_scale(*ms) for h, ms in image.score_scale.items()})
    regs.update({head_scale_reg(h): pack_head_scale(*ms) for h, ms in image.head_scale.items()})
    return {int(k): int(v) for k, v in regs.items()}


# ================================================================ device access ==============
async def probe(dev: Device) -> AccelParams:
    """Check the ID register and read the build parameters."""
    ident = await dev.read_reg(Reg.ID)
    if ident != ID_VALUE:
        raise RuntimeError(f"ID register 0x{ident:08x}, expected 0x{ID_VALUE:08x}")
    return AccelParams.from_version(await dev.read_reg(Reg.VERSION))


async def live_heads(dev: Device, heads: int) -> np.ndarray:
    return heads_of(await dev.read_reg(Reg.LIVE_HEADS), heads)


async def execute(dev: Device, regs: Mapping[int, int]) -> None:
    """Program the CSRs, START, wait; clear DONE/ERROR; raise CommandError on ERROR."""
    for off, val in regs.items():
        await dev.write_reg(off, val)
    await dev.write_reg(Reg.CTRL, Ctrl.START)
    status = await dev.wait_done()
    await dev.write_reg(Reg.STATUS, Status.DONE | Status.ERROR)
    if status & Status.ERROR:
        code = await dev.read_reg(Reg.ERROR_CODE)
        raise CommandError(ErrorCode(code), f"device STATUS 0x{status:x}")


async def read_e(dev: Device, layout: Layout, h: int) -> np.ndarray:
    """E rows of head ``h`` [queries, D] from device memory."""
    stride = blk.row_stride(layout.d, fx.E_W)
    data = await dev.read_mem(layout.e_base + layout.head(h), layout.queries * stride)
    return blk.unpack_rows(data, layout.queries, layout.d, fx.E_W, signed=True, stride=stride)


async def read_keep(dev: Device, layout: Layout, count: int) -> np.ndarray:
    data = await dev.read_mem(layout.keep_base, 2 * count)
    return np.frombuffer(data, dtype="<u2").astype(np.int64)


async def read_bytes_counters(dev: Device) -> dict[str, int]:
    nbytes = zero_bytes()
    for name in nbytes:
        reg = getattr(Reg, f"BYTES_{name}", None)
        nbytes[name] = await dev.read_reg(reg) if reg is not None else 0
    return nbytes


async def run_command(dev: Device, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                      cfg: PruneConfig, index: int, mode: Mode = Mode.SUMMARIZATION,
                      base: int = 0) -> LayerResult:
    """One layer command (summarization: q [H, n, D]; generation: q [H, 1, D]) on the live
    tokens k, v [H, n, D]; the device's importance state must match (CLEAR before layer 0)."""
    h_all, nq, d = q.shape
    n = k.shape[1]
    live = await live_heads(dev, h_all)
    layout = Layout(base, h_all, nq, n, d, cfg.msb_bits, cfg.lsb_bits)
    image = build_image(layout, q, k, v, live)
    for addr, data in image.writes:
        await dev.write_mem(addr, data)
    counts = command_counts(cfg, index, n, len(live))
    await execute(dev, command_regs(layout, cfg, counts, mode, image))
    return await collect(dev, layout, counts, live, image.scale_v)


async def collect(dev: Device, layout: Layout, counts: Counts, live: np.ndarray,
                  scale_v: Mapping[int, float]) -> LayerResult:
    """Read back a finished command as a LayerResult (out dequantized as FixedSpatten)."""
    e_int = np.zeros((layout.heads, layout.queries, layout.d), dtype=np.int64)
    out = np.zeros(e_int.shape)
    for h in (int(x) for x in live):
        e_int[h] = await read_e(dev, layout, h)
        out[h] = e_int[h] * (scale_v[h] / (1 << fx.E_EXTRA_FRAC))
    kept = await dev.read_reg(Reg.KEPT_TOKENS)
    keep_tokens = await read_keep(dev, layout, kept) if counts.prune else np.arange(layout.n)
    macs = await dev.read_reg(Reg.MACS_LO) | await dev.read_reg(Reg.MACS_HI) << 32
    timing = {name: await dev.read_reg(reg) for name, reg in TIMING_REGS.items()}
    return LayerResult(
        out=out,
        keep_tokens=keep_tokens,
        keep_heads=await live_heads(dev, layout.heads),
        requant_rows=await dev.read_reg(Reg.REQUANT_ROWS),
        rows=len(live) * layout.queries,
        bytes=await read_bytes_counters(dev),
        extra={"e_int": e_int, "live_heads": live, "macs": macs, "layout": layout, **timing},
    )


# ================================================================ attention objects ==========
class RtlAttention:
    """``golden.minilm`` attention object running every layer as one device command.

    Same protocol as FixedSpatten.layer: ``layer(0, ...)`` starts a sequence (probe + CLEAR).
    ``run`` turns a coroutine into its result synchronously (default :func:`run_sync`)."""

    def __init__(self, dev: Device, cfg: PruneConfig = DENSE,
                 run: Callable[[Coroutine[Any, Any, LayerResult]], LayerResult] = run_sync,
                 base: int = 0) -> None:
        self.dev, self.cfg, self.run, self.base = dev, cfg, run, base
        self.n0 = 0
        self.special = np.zeros(0, dtype=np.int64)  # live-list indexes of [CLS] and [SEP]
        self.params: AccelParams | None = None

    def layer(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> LayerResult:
        return self.run(self.alayer(layer, q, k, v))

    async def alayer(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray
                     ) -> LayerResult:
        if layer == 0:
            self.params = await probe(self.dev)
            await self.dev.write_reg(Reg.CTRL, Ctrl.CLEAR)
            self.n0 = q.shape[1]
            self.special = special_positions(self.cfg, self.n0)
        res = await run_command(self.dev, q, k, v, self.cfg, layer, base=self.base)
        # Special tokens the device's top-k dropped are passed again in the next command
        # (N above KEPT_TOKENS: the device appends them with importance 0, as the models do).
        res.keep_tokens, self.special = with_special(res.keep_tokens, self.special)
        res.bytes_dense = dense_bytes(q.shape[0], q.shape[2], self.n0, self.n0)
        return res


class RtlGeneration:
    """Generation on a device, protocol of ``FixedSpatten.generate_step`` (the host keeps the
    live cache positions; every step is one MODE=1 command over them)."""

    def __init__(self, dev: Device, cfg: PruneConfig = DENSE,
                 run: Callable[[Coroutine[Any, Any, LayerResult]], LayerResult] = run_sync,
                 base: int = 0) -> None:
        self.dev, self.cfg, self.run, self.base = dev, cfg, run, base
        self.live_pos = np.zeros(0, dtype=np.int64)
        self.length = 0
        self.step = 0

    def generate_step(self, q: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray
                      ) -> LayerResult:
        return self.run(self.astep(q, k_cache, v_cache))

    async def astep(self, q: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray
                    ) -> LayerResult:
        h_all, length, d = k_cache.shape
        if self.length == 0:
            await probe(self.dev)
            await self.dev.write_reg(Reg.CTRL, Ctrl.CLEAR)
        live = np.concatenate([self.live_pos, np.arange(self.length, length)])
        self.length = length
        res = await run_command(self.dev, q.reshape(h_all, 1, d), k_cache[:, live],
                                v_cache[:, live], self.cfg, self.step, Mode.GENERATION,
                                self.base)
        res.extra["live_positions"] = live
        res.bytes_dense = dense_bytes(h_all, d, 1, length)
        self.live_pos = live[res.keep_tokens]
        self.step += 1
        return res


# ================================================================ model device ===============
class ModelDevice:
    """:class:`Device` backed by :class:`golden.accel.AccelModel` (no simulator): CSRs in a
    dict, memory a bytearray; a START executes at once (DONE or ERROR set on return)."""

    def __init__(self, params: AccelParams | None = None, mem_size: int = 1 << 22) -> None:
        self.model = AccelModel(params)
        self.mem = bytearray(mem_size)
        self.regs: dict[int, int] = {}
        self.ro: dict[int, int] = {int(Reg.ERROR_CODE): 0, **self.model.status_regs()}
        self.status = 0
        self.results: list = []  # CommandResult of every START

    async def write_reg(self, off: int, val: int) -> None:
        if off == Reg.CTRL:
            self._ctrl(val)
        elif off == Reg.STATUS:
            self.status &= ~val & (Status.DONE | Status.ERROR)
        elif off not in RO_REGS:
            self.regs[int(off)] = val & 0xFFFFFFFF

    async def read_reg(self, off: int) -> int:
        if off == Reg.IMP_DATA:
            return self._imp_read()
        fixed = {Reg.ID: ID_VALUE, Reg.VERSION: self.model.params.version(),
                 Reg.STATUS: self.status}
        if off in fixed:
            return int(fixed[Reg(off)])
        return self.ro.get(int(off), self.regs.get(int(off), 0))

    async def write_mem(self, addr: int, data: bytes) -> None:
        self.mem[addr:addr + len(data)] = data

    async def read_mem(self, addr: int, n: int) -> bytes:
        return bytes(self.mem[addr:addr + n])

    async def wait_done(self) -> int:
        return self.status

    def _imp_read(self) -> int:
        """IMP_DATA (docs/csr.md, importance window): the entry at IMP_ADDR, IMP_DATA_HI
        latched, INDEX + 1."""
        addr = self.regs.get(int(Reg.IMP_ADDR), 0) & (ImpAddr.HEAD | ImpAddr.INDEX)
        head, index = bool(addr & ImpAddr.HEAD), addr & ImpAddr.INDEX
        value = self.model.importance_entry(head, index)
        self.ro[int(Reg.IMP_DATA_HI)] = value >> 32
        self.regs[int(Reg.IMP_ADDR)] = (addr & ImpAddr.HEAD) | (index + 1) & ImpAddr.INDEX
        return value & 0xFFFFFFFF

    def _ctrl(self, val: int) -> None:
        if val & Ctrl.CLEAR:
            self.model.clear()
            self.ro.update(self.model.status_regs())
        if val & Ctrl.START:
            res = self.model.run_command(self.regs, self.mem)
            res.apply(self.mem)
            self.ro.update(res.regs)
            self.status |= Status.DONE if res.ok else Status.ERROR
            self.results.append(res)

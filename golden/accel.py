"""Golden model of the whole accelerator at the command level (docs/architecture.md).

:class:`AccelModel` holds what ``spatten_top`` keeps between layer commands (token importance
per live position, head importance per head, the live-head mask) and executes one command
from its CSR values (:class:`golden.regs.Reg`, generated from rtl/spatten_regs.rdl) and a
memory image, exactly as the RTL reads and writes memory: Q/K/V rows are unpacked from the
bit-plane layout at ``<X>_BASE + h*HEAD_STRIDE``, every live head goes through
:func:`golden.system.attend_head` (the bit-exact datapath), and the result
(:class:`CommandResult`) lists the bytes the RTL must write (E rows, KEEP list), the read-only
CSRs after the command (LIVE_HEADS, KEPT_TOKENS, ERROR_CODE, counters) and the state.
A bad setting gives an error code and changes nothing.

The system testbench and ``host.driver.ModelDevice`` both use this model; the equivalence
with :class:`golden.system.FixedSpatten` is tested in ``tests/golden/test_accel.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from golden import blocks as blk
from golden import fixed as fx
from golden.codes import ErrorCode
from golden.config import PruneConfig, kept_count
from golden.regs import ARRAYS, FIELDS, Reg
from golden.regs import RO_REGS as RO_REGS  # re-exported: the map's users import it from here
from golden.regs import Ctrl as Ctrl
from golden.regs import Status as Status
from golden.regs import field as reg_field
from golden.system import HeadResult, attend_head
from golden.topk import topk
from golden.traffic import add_head_bytes, zero_bytes

ID_VALUE = reg_field(Reg.ID, "VALUE").reset  # "SPAT"
MAX_SCALE_REGS = ARRAYS[Reg.SCORE_SCALE][0]  # SCORE_SCALE[0..31] (H_MAX <= 32: LIVE_HEADS)
KEEP_W = 16  # bits per KEEP list entry
COUNTER_BYTE_CLASSES = ("Q", "K_MSB", "K_LSB", "V_MSB", "E")


BASE_REGS = (Reg.Q_BASE, Reg.K_MSB_BASE, Reg.K_LSB_BASE, Reg.V_MSB_BASE, Reg.E_BASE,
             Reg.KEEP_BASE, Reg.HEAD_STRIDE)
BYTE_COUNTER_REGS = {c: Reg[f"BYTES_{c}"] for c in COUNTER_BYTE_CLASSES}
_SCALE_MULT, _SCALE_SHIFT = reg_field(Reg.SCORE_SCALE, "MULT"), reg_field(Reg.SCORE_SCALE, "SHIFT")
_HSCALE_MULT, _HSCALE_SHIFT = reg_field(Reg.HEAD_SCALE, "MULT"), reg_field(Reg.HEAD_SCALE, "SHIFT")
_BITS_MSB, _BITS_LSB = reg_field(Reg.BITS, "MSB"), reg_field(Reg.BITS, "LSB")
_MODE, _PRUNE = reg_field(Reg.MODE, "GENERATION"), reg_field(Reg.PRUNE, "EN")
_THR = reg_field(Reg.REQUANT_THR, "THR")
_VERSION = {f.name: f for f in FIELDS[Reg.VERSION]}  # LANES, D_MAX, LOG2_MAX_N, H_MAX


class Mode(IntEnum):
    SUMMARIZATION = 0
    GENERATION = 1


class CommandError(Exception):
    """A command refused (bad setting) or ended by a memory error, with its ERROR_CODE."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        super().__init__(f"{code.name}: {detail}" if detail else code.name)
        self.code = code


def score_scale_reg(h: int) -> int:
    """Offset of SCORE_SCALE[h]."""
    return Reg.SCORE_SCALE + ARRAYS[Reg.SCORE_SCALE][1] * h


def head_scale_reg(h: int) -> int:
    """Offset of HEAD_SCALE[h]."""
    return Reg.HEAD_SCALE + ARRAYS[Reg.HEAD_SCALE][1] * h


def pack_score_scale(mult: int, shift: int) -> int:
    """SCORE_SCALE value: fields MULT (score_mult) and SHIFT (score_shift)."""
    return _SCALE_MULT.put(mult) | _SCALE_SHIFT.put(shift)


def unpack_score_scale(value: int) -> tuple[int, int]:
    return _SCALE_MULT.get(value), _SCALE_SHIFT.get(value)


def pack_head_scale(mult: int, shift: int) -> int:
    """HEAD_SCALE value: fields MULT and SHIFT (golden.fixed.head_scale_params)."""
    return _HSCALE_MULT.put(mult) | _HSCALE_SHIFT.put(shift)


def unpack_head_scale(value: int) -> tuple[int, int]:
    return _HSCALE_MULT.get(value), _HSCALE_SHIFT.get(value)


def pack_bits(msb_bits: int, lsb_bits: int) -> int:
    """BITS value: fields MSB and LSB."""
    return _BITS_MSB.put(msb_bits) | _BITS_LSB.put(lsb_bits)


def mask_of(heads: np.ndarray | list[int]) -> int:
    """Bit mask of head ids."""
    return sum(1 << int(h) for h in heads)


def heads_of(mask: int, heads: int) -> np.ndarray:
    """Ascending head ids < ``heads`` set in ``mask``."""
    return np.asarray([h for h in range(heads) if mask >> h & 1], dtype=np.int64)


# ================================================================ build parameters =============
@dataclass(frozen=True)
class AccelParams:
    """Build parameters of ``spatten_top`` (VERSION register, see the Host/verification notes
    of docs/architecture.md: [7:0] LANES, [15:8] D_MAX, [20:16] log2 MAX_N, [31:21] H_MAX)."""

    lanes: int = 8
    d_max: int = fx.D_MAX
    max_n: int = 1024
    h_max: int = 16

    def __post_init__(self) -> None:
        pow2 = all(x > 0 and x & (x - 1) == 0 for x in (self.lanes, self.d_max, self.max_n))
        if not (pow2 and self.d_max <= fx.D_MAX and 1 <= self.h_max <= MAX_SCALE_REGS):
            raise ValueError(f"bad build parameters {self}")

    def version(self) -> int:
        v = _VERSION
        return (v["LANES"].put(self.lanes) | v["D_MAX"].put(self.d_max)
                | v["LOG2_MAX_N"].put(self.max_n.bit_length() - 1) | v["H_MAX"].put(self.h_max))

    @classmethod
    def from_version(cls, value: int) -> AccelParams:
        v = _VERSION
        return cls(v["LANES"].get(value), v["D_MAX"].get(value),
                   1 << v["LOG2_MAX_N"].get(value), v["H_MAX"].get(value))


# ================================================================ decoded command =============
@dataclass(frozen=True)
class Command:
    """A layer command decoded from the CSRs."""

    mode: Mode
    n: int
    d: int
    heads: int
    prune: bool
    token_keep: int
    head_keep: int
    value_keep: int
    msb_bits: int
    lsb_bits: int
    threshold: int  # UQ0.16
    q_base: int
    k_msb_base: int
    k_lsb_base: int
    v_msb_base: int
    e_base: int
    keep_base: int
    head_stride: int
    score_scale: tuple[tuple[int, int], ...]  # (mult, shift) per head
    head_scale: tuple[tuple[int, int], ...]  # HEAD_SCALE (mult, shift) per head

    @classmethod
    def from_regs(cls, regs: Mapping[int, int]) -> Command:
        def r(off: int) -> int:
            return int(regs.get(int(off), 0)) & 0xFFFFFFFF

        heads = r(Reg.HEADS)
        return cls(
            mode=Mode(_MODE.get(r(Reg.MODE))),
            n=r(Reg.N),
            d=r(Reg.D),
            heads=heads,
            prune=bool(_PRUNE.get(r(Reg.PRUNE))),
            token_keep=r(Reg.TOKEN_KEEP),
            head_keep=r(Reg.HEAD_KEEP),
            value_keep=r(Reg.VALUE_KEEP),
            msb_bits=_BITS_MSB.get(r(Reg.BITS)),
            lsb_bits=_BITS_LSB.get(r(Reg.BITS)),
            threshold=_THR.get(r(Reg.REQUANT_THR)),
            q_base=r(Reg.Q_BASE),
            k_msb_base=r(Reg.K_MSB_BASE),
            k_lsb_base=r(Reg.K_LSB_BASE),
            v_msb_base=r(Reg.V_MSB_BASE),
            e_base=r(Reg.E_BASE),
            keep_base=r(Reg.KEEP_BASE),
            head_stride=r(Reg.HEAD_STRIDE),
            score_scale=tuple(unpack_score_scale(r(score_scale_reg(h)))
                              for h in range(min(heads, MAX_SCALE_REGS))),
            head_scale=tuple(unpack_head_scale(r(head_scale_reg(h)))
                             for h in range(min(heads, MAX_SCALE_REGS))),
        )

    @property
    def queries(self) -> int:
        return 1 if self.mode == Mode.GENERATION else self.n

    def head_cfg(self) -> PruneConfig:
        """PruneConfig whose attend_head behaviour is exactly this command's CSRs."""
        return PruneConfig(
            value_keep=ratio_for_count(self.value_keep, self.n),
            msb_bits=self.msb_bits,
            lsb_bits=self.lsb_bits,
            requant_threshold=self.threshold / (1 << fx.PROB_FRAC),  # exact: prob_threshold
        )


def ratio_for_count(count: int, live: int) -> float:
    """A keep ratio with ``kept_count(ratio, live) == count`` (1 <= count <= live)."""
    ratio = 1.0 if count >= live else count / live
    assert kept_count(ratio, live) == count, (count, live)
    return ratio


_ADDR_FIELDS = ("q_base", "k_msb_base", "k_lsb_base", "v_msb_base", "e_base", "keep_base",
                "head_stride")


def regions(cmd: Command) -> dict[str, tuple[int, int]]:
    """Byte ranges [start, end) of head 0's regions as the RTL touches them (whole beats),
    the K LSB plane only when fetched, KEEP only with PRUNE; head h is shifted by
    h * HEAD_STRIDE (KEEP is not per head)."""
    pb, nq = blk.plane_bytes, cmd.queries
    sizes = {"Q": (cmd.q_base, pb(nq, cmd.d, fx.DATA_W)),
             "K_MSB": (cmd.k_msb_base, pb(cmd.n, cmd.d, cmd.msb_bits)),
             "K_LSB": (cmd.k_lsb_base, pb(cmd.n, cmd.d, cmd.lsb_bits)),
             "V_MSB": (cmd.v_msb_base, pb(cmd.n, cmd.d, cmd.msb_bits)),
             "E": (cmd.e_base, nq * blk.row_stride(cmd.d, fx.E_W)),
             "KEEP": (cmd.keep_base, blk.beat_ceil(KEEP_W // 8 * cmd.token_keep) if cmd.prune else 0)}
    return {name: (base, base + size) for name, (base, size) in sizes.items() if size}


def layout_error(cmd: Command) -> str:
    """The layout rule (docs/csr.md, START check code 11), '' when it holds. Every head is
    one block of HEAD_STRIDE bytes: with HEADS > 1, each region of head 0 lies in [lo, lo +
    HEAD_STRIDE), lo = the lowest per-head base (so HEAD_STRIDE = 0 is refused, and heads
    never overlap); within a head the E rows overlap no region read; the KEEP list overlaps no
    head's block ([lo, lo + HEADS * HEAD_STRIDE), or [lo, highest end) with one head)."""
    reg = regions(cmd)
    keep = reg.pop("KEEP", None)
    lo, hi = min(a for a, _ in reg.values()), max(b for _, b in reg.values())
    if cmd.heads > 1:
        out = [name for name, (_, end) in reg.items() if end > lo + cmd.head_stride]
        if out:
            return f"{out[0]} of head 0 ends beyond HEAD_STRIDE={cmd.head_stride} from 0x{lo:x}"
        hi = lo + cmd.heads * cmd.head_stride
    e0, e1 = reg.pop("E")
    hit = [name for name, (a, b) in reg.items() if a < e1 and e0 < b]
    if hit:
        return f"E rows overlap the {hit[0]} region"
    if keep is not None and keep[0] < hi and lo < keep[1]:
        return "the KEEP list overlaps the heads' blocks"
    return ""


def check_command(cmd: Command, params: AccelParams, live_tokens: int, live_heads: int) -> None:
    """Raise :class:`CommandError` for a bad setting; the lowest code wins."""
    bad: list[tuple[ErrorCode, bool, str]] = [
        (ErrorCode.BAD_N, not 1 <= cmd.n <= params.max_n, f"N={cmd.n}"),
        (ErrorCode.BAD_N, cmd.n < live_tokens, f"N={cmd.n} < {live_tokens} live tokens"),
        (ErrorCode.BAD_D, not (1 <= cmd.d <= params.d_max and cmd.d & (cmd.d - 1) == 0),
         f"D={cmd.d}"),
        (ErrorCode.BAD_HEADS, not 1 <= cmd.heads <= params.h_max, f"HEADS={cmd.heads}"),
        (ErrorCode.BAD_HEADS, live_heads == 0, "no live head below HEADS"),
        (ErrorCode.K_GT_LIVE, not 1 <= cmd.value_keep <= cmd.n, f"VALUE_KEEP={cmd.value_keep}"),
        (ErrorCode.K_GT_LIVE, cmd.prune and not 1 <= cmd.token_keep <= cmd.n,
         f"TOKEN_KEEP={cmd.token_keep}"),
        (ErrorCode.K_GT_LIVE, cmd.prune and not 1 <= cmd.head_keep <= live_heads,
         f"HEAD_KEEP={cmd.head_keep} of {live_heads} live"),
        (ErrorCode.MISALIGNED, any(getattr(cmd, f) % fx.AXI_BYTES for f in _ADDR_FIELDS),
         "a base or HEAD_STRIDE is not 32-byte aligned"),
        (ErrorCode.BAD_BITS, not (1 <= cmd.msb_bits <= fx.DATA_W
                                  and cmd.msb_bits + cmd.lsb_bits <= fx.DATA_W),
         f"BITS msb={cmd.msb_bits} lsb={cmd.lsb_bits}"),
    ]
    failed = [(code, text) for code, cond, text in bad if cond]
    if failed:
        raise CommandError(*min(failed))
    layout = layout_error(cmd)  # sizes are only defined once the fields above are valid
    if layout:
        raise CommandError(ErrorCode.BAD_LAYOUT, layout)



# ================================================================ memory access ===============
def read_bytes(mem: np.ndarray, addr: int, nbytes: int) -> bytes:
    """``nbytes`` at ``addr`` of the image; outside it is an AXI read error."""
    if addr < 0 or addr + nbytes > mem.size:
        raise CommandError(ErrorCode.AXI_READ, f"read 0x{addr:x}+{nbytes} outside the image")
    return mem[addr:addr + nbytes].tobytes()


def read_rows(mem: np.ndarray, start: int, n: int, d: int, bits: int, signed: bool) -> np.ndarray:
    """Rows ``0..n-1`` of a packed plane at ``start`` -> [n, d] ints."""
    data = read_bytes(mem, start, n * blk.row_bytes(d, bits)) if bits else b""
    return blk.unpack_rows(data, n, d, bits, signed)


def as_image(mem: object) -> np.ndarray:
    """Any bytes-like memory image (or uint8 array) as a flat uint8 array (no copy)."""
    if isinstance(mem, np.ndarray):
        return mem.reshape(-1).view(np.uint8)
    return np.frombuffer(mem, dtype=np.uint8)  # type: ignore[arg-type]


# ================================================================ results =====================
@dataclass
class CommandResult:
    """What one command does. ``writes`` are (address, bytes) in the order the RTL writes them:
    per live head (ascending) its E rows (one block of ``queries`` rows), then the KEEP list."""

    error: ErrorCode
    detail: str = ""
    writes: list[tuple[int, bytes]] = field(default_factory=list)
    e_int: np.ndarray | None = None  # [HEADS, queries, D], zeros for heads not computed
    heads: dict[int, HeadResult] = field(default_factory=dict)  # integer internals per head
    live_heads: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    keep_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    keep_heads: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    token_importance: np.ndarray | None = None  # per live position, before the selection
    head_importance: np.ndarray | None = None  # [H_MAX] after the command
    bytes: dict[str, int] = field(default_factory=zero_bytes)  # golden.traffic classes
    requant_rows: int = 0
    macs: int = 0
    regs: dict[int, int] = field(default_factory=dict)  # RO CSRs after the command

    @property
    def ok(self) -> bool:
        return self.error == ErrorCode.NONE

    def apply(self, mem: np.ndarray | bytearray) -> None:
        """Perform the writes on a memory image (in place)."""
        img = as_image(mem)
        for addr, data in self.writes:
            img[addr:addr + len(data)] = np.frombuffer(data, dtype=np.uint8)


def counter_regs(nbytes: Mapping[str, int], requant_rows: int, macs: int) -> dict[int, int]:
    """Counter CSR values (cycle counters are not modelled and absent)."""
    regs = {int(BYTE_COUNTER_REGS[c]): int(nbytes[c]) & 0xFFFFFFFF for c in COUNTER_BYTE_CLASSES}
    regs[int(Reg.REQUANT_ROWS)] = requant_rows
    regs[int(Reg.MACS_LO)] = macs & 0xFFFFFFFF
    regs[int(Reg.MACS_HI)] = macs >> 32
    return regs


def keep_list_bytes(positions: np.ndarray) -> bytes:
    """KEEP list as written: 16-bit little-endian entries, padded with zeros to whole beats."""
    data = np.asarray(positions, dtype="<u2").tobytes()
    return data + bytes(-len(data) % fx.AXI_BYTES)


def head_macs(hr: HeadResult, n_keys: int, d: int) -> int:
    """Q.K MACs (every computed row, requantized rows twice) + P.V MACs (kept pairs)."""
    rows = len(hr.e) + int(hr.requant.sum())
    return rows * n_keys * d + hr.kept_v.size * d


# ================================================================ the model ===================
class AccelModel:
    """Persistent state of ``spatten_top`` plus the command semantics."""

    def __init__(self, params: AccelParams | None = None) -> None:
        self.params = params or AccelParams()
        self.clear()

    def clear(self) -> None:
        """CTRL.CLEAR (and reset): importance cleared, no live token, every head live."""
        self.tok_imp = np.zeros(0, dtype=np.int64)
        self.head_imp = np.zeros(self.params.h_max, dtype=np.int64)
        self.live_mask = (1 << self.params.h_max) - 1
        self.kept_tokens = 0

    @property
    def live_tokens(self) -> int:
        return len(self.tok_imp)

    def importance_entry(self, head: bool, index: int) -> int:
        """What the CSR importance window (IMP_ADDR / IMP_DATA, docs/csr.md) reads: the token
        importance of live position ``index`` or the head importance of head ``index``; 0 at
        or beyond the live tokens / H_MAX."""
        table = self.head_imp if head else self.tok_imp
        return int(table[index]) if 0 <= index < len(table) else 0

    def status_regs(self) -> dict[int, int]:
        return {int(Reg.LIVE_HEADS): self.live_mask, int(Reg.KEPT_TOKENS): self.kept_tokens}

    def run_command(self, regs: Mapping[int, int], mem: object) -> CommandResult:
        """Execute one START with these CSRs on the memory image ``mem`` (not modified: apply
        ``result.writes``). On error the state is unchanged and nothing is written."""
        cmd = Command.from_regs(regs)
        try:
            return self._run(cmd, as_image(mem))
        except CommandError as err:
            res = CommandResult(err.code, str(err))
            res.regs = {**self.status_regs(), int(Reg.ERROR_CODE): int(err.code)}
            return res

    # -------------------------------------------------------------------------- internals
    def _run(self, cmd: Command, mem: np.ndarray) -> CommandResult:
        live = heads_of(self.live_mask, cmd.heads) if cmd.heads <= self.params.h_max else []
        check_command(cmd, self.params, self.live_tokens, len(live))
        res = CommandResult(ErrorCode.NONE, live_heads=np.asarray(live, dtype=np.int64))
        res.e_int = np.zeros((cmd.heads, cmd.queries, cmd.d), dtype=np.int64)
        cfg = cmd.head_cfg()
        for h in res.live_heads:  # reads first: an AXI read error leaves the state untouched
            hr = attend_head(*self._head_operands(cmd, mem, int(h)), *cmd.score_scale[h], cfg)
            res.heads[int(h)], res.e_int[h] = hr, hr.e
            add_head_bytes(res.bytes, cfg, cmd.d, cmd.queries, cmd.n, bool(hr.requant.any()),
                           hr.kept_v)
            res.requant_rows += int(hr.requant.sum())
            res.macs += head_macs(hr, cmd.n, cmd.d)
            res.writes.append(self._e_write(cmd, int(h), hr.e))
        self._update_importance(cmd, res)
        self._select(cmd, res)
        res.regs = {**self.status_regs(), int(Reg.ERROR_CODE): 0,
                    **counter_regs(res.bytes, res.requant_rows, res.macs)}
        return res

    @staticmethod
    def _head_operands(cmd: Command, mem: np.ndarray, h: int) -> tuple[np.ndarray, ...]:
        """12-bit q [queries, D], k and v [N, D] of head ``h`` as the datapath sees them
        (unfetched low bits zero; attend_head reconstructs at MSB / MSB+LSB bits)."""
        off = h * cmd.head_stride
        m, lsb, n, d = cmd.msb_bits, cmd.lsb_bits, cmd.n, cmd.d
        q = read_rows(mem, cmd.q_base + off, cmd.queries, d, fx.DATA_W, signed=True)
        k_msb = read_rows(mem, cmd.k_msb_base + off, n, d, m, signed=True)
        k_lsb = read_rows(mem, cmd.k_lsb_base + off, n, d, lsb, signed=False)
        v_msb = read_rows(mem, cmd.v_msb_base + off, n, d, m, signed=True)
        k = fx.join_planes(k_msb, k_lsb, m, lsb)
        v = fx.join_planes(v_msb, np.zeros_like(v_msb), m, 0)
        return q, k, v

    @staticmethod
    def _e_write(cmd: Command, h: int, e: np.ndarray) -> tuple[int, bytes]:
        data, _ = blk.pack_rows(e, fx.E_W, blk.row_stride(cmd.d, fx.E_W))
        return cmd.e_base + h * cmd.head_stride, data

    def _update_importance(self, cmd: Command, res: CommandResult) -> None:
        grow = np.zeros(cmd.n - self.live_tokens, dtype=np.int64)  # new positions start at 0
        probs = np.stack([res.heads[int(h)].probs for h in res.live_heads])
        self.tok_imp = blk.token_importance(np.concatenate([self.tok_imp, grow]), probs)
        for h in res.live_heads:
            self.head_imp[h] = blk.head_importance(self.head_imp[h], res.heads[int(h)].e,
                                                   *cmd.head_scale[h])
        res.token_importance = self.tok_imp.copy()
        res.head_importance = self.head_imp.copy()

    def _select(self, cmd: Command, res: CommandResult) -> None:
        """Token and head top-k when PRUNE_EN; otherwise everything stays live."""
        live = res.live_heads
        res.keep_tokens, res.keep_heads = np.arange(cmd.n), live
        if cmd.prune:
            res.keep_tokens = topk(self.tok_imp, cmd.token_keep).positions
            res.keep_heads = live[topk(self.head_imp[live], cmd.head_keep).positions]
            res.writes.append((cmd.keep_base, keep_list_bytes(res.keep_tokens)))
        self.tok_imp = self.tok_imp[res.keep_tokens]
        self.live_mask = mask_of(res.keep_heads)
        self.kept_tokens = len(res.keep_tokens)

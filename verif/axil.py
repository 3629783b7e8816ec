"""CSR + memory agent of the ``spatten_top`` system testbench: :class:`AxilDevice` implements
``host.driver.Device`` under cocotb.

* CSRs: cocotbext-axi ``AxiLiteMaster`` on the ``s_axil_*`` port (32-bit registers).
* Memory: ONE bytearray shared by every memory port of the DUT; each port (``m_axi0_*``, ...,
  configurable: :func:`channel_prefixes`) gets a ``verif.axi_mem.LatencyAxiRamRead`` if it has
  an AR channel and an ``ErrAxiRamWrite`` if it has an AW channel, with latency, jitter and
  random pauses on every channel (backpressure). ``write_mem``/``read_mem`` touch the
  bytearray directly (no bus time), as a host would before START / after DONE.
* ``wait_done``: polls STATUS every ``poll_cycles`` (or waits for the ``irq`` output when the
  DUT has one and ``use_irq`` is set), with a cycle timeout.

The synchronous MiniLM forward runs against the DUT with :func:`encode_in_sim`: the forward
runs in a ``cocotb.task.bridge`` thread; each layer command is a ``cocotb.task.resume`` call
back into the simulator (:func:`cocotb_run`, the ``run`` function of ``RtlAttention``).

:class:`ModelCsrSlave` is the reverse piece: an AXI4-Lite slave (on a DUT's or a stub's
``s_axil`` signals) whose registers behave like ``spatten_top`` by running
``golden.accel.AccelModel`` on the shared memory — a stand-in top level to develop the system
testbench before the RTL exists (and this module's self-test).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import cocotb
from cocotb.handle import HierarchyObject
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, First, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiLiteSlave, AxiReadBus, AxiWriteBus

from golden.accel import AccelParams, Ctrl, Reg, Status
from host.driver import ModelDevice
from verif.axi_mem import ErrAxiRamWrite, LatencyAxiRamRead
from verif.stream import reset, start_clock

T = TypeVar("T")


def channel_prefixes(channels: int, pattern: str = "m_axi{}") -> list[str]:
    """Prefixes of ``channels`` memory ports, e.g. m_axi0 .. m_axi3 (or ``"m{:02d}_axi"``)."""
    return [pattern.format(c) for c in range(channels)]


@dataclass
class AxilConfig:
    """Wiring and randomisation of :class:`AxilDevice`."""

    csr_prefix: str = "s_axil"
    mem_prefixes: Sequence[str] = ("m_axi",)
    clock: str = "clk"
    reset: str = "rst_n"  # active low
    irq: str = "irq"
    use_irq: bool = False
    mem_size: int = 1 << 24
    latency: int = 20  # cycles from AR to the first R beat
    jitter: int = 10
    read_pause: tuple[float, float] = (0.1, 0.1)  # AR, R ready/valid pause probabilities
    write_pause: tuple[float, float, float] = (0.1, 0.1, 0.1)  # AW, W, B
    write_latency: int = 4  # cycles before the B response
    period_ns: float = 10
    poll_cycles: int = 32
    timeout_cycles: int = 20_000_000
    # a hang ends sooner: no memory beat (and nothing else the caller's ``progress`` shows)
    # for this many cycles ends ``wait_done`` (0: only the timeout)
    stall_cycles: int = 0


def _has(dut: HierarchyObject, name: str) -> bool:
    try:
        getattr(dut, name)
    except AttributeError:
        return False
    return True


class AxilDevice:
    """``host.driver.Device`` on a simulated DUT (see the module docstring)."""

    def __init__(self, dut: HierarchyObject, cfg: AxilConfig | None = None,
                 rng: random.Random | None = None) -> None:
        self.dut, self.cfg = dut, cfg or AxilConfig()
        self.rng = rng or random.Random(0)
        c = self.cfg
        self.clk, self.rst = getattr(dut, c.clock), getattr(dut, c.reset)
        self.mem = bytearray(c.mem_size)
        self.csr = AxiLiteMaster(AxiLiteBus.from_prefix(dut, c.csr_prefix), self.clk, self.rst,
                                 reset_active_level=False)
        self.readers: list[LatencyAxiRamRead] = []
        self.writers: list[ErrAxiRamWrite] = []
        self.progress: Callable[[], object] | None = None  # wait_done's stall check, see there
        for prefix in c.mem_prefixes:
            self._attach(prefix)
        if not self.readers and not self.writers:
            raise ValueError(f"no AXI memory port found for prefixes {list(c.mem_prefixes)}")

    def _attach(self, prefix: str) -> None:
        c, sub = self.cfg, random.Random(self.rng.random())
        if _has(self.dut, f"{prefix}_arvalid"):
            ram = LatencyAxiRamRead(AxiReadBus.from_prefix(self.dut, prefix), self.clk, self.rst,
                                    size=c.mem_size, mem=self.mem, period_ns=c.period_ns,
                                    latency=c.latency, jitter=c.jitter, rng=sub, name=prefix)
            ram.set_pause(sub, *c.read_pause)
            self.readers.append(ram)
        if _has(self.dut, f"{prefix}_awvalid"):
            wram = ErrAxiRamWrite(AxiWriteBus.from_prefix(self.dut, prefix), self.clk, self.rst,
                                  size=c.mem_size, mem=self.mem, latency=c.write_latency,
                                  name=prefix)
            wram.set_pause(sub, *c.write_pause)
            self.writers.append(wram)

    def set_error_range(self, lo: int, hi: int, resp: int) -> None:
        """Answer reads and writes of bytes [lo, hi) with ``resp`` (SLVERR / DECERR)."""
        for ram in (*self.readers, *self.writers):
            ram.error_ranges.append((lo, hi, resp))

    # ------------------------------------------------------------------ Device protocol
    async def write_reg(self, off: int, val: int) -> None:
        await self.csr.write_dword(int(off), int(val) & 0xFFFFFFFF)

    async def read_reg(self, off: int) -> int:
        return int(await self.csr.read_dword(int(off)))

    async def write_mem(self, addr: int, data: bytes) -> None:
        self.mem[addr:addr + len(data)] = data

    async def read_mem(self, addr: int, n: int) -> bytes:
        return bytes(self.mem[addr:addr + n])

    async def wait_done(self) -> int:
        """Poll STATUS until DONE or ERROR; return it. TimeoutError after ``timeout_cycles``,
        or after ``stall_cycles`` in which nothing moved: no memory beat on any port and no
        change of ``self.progress()`` if set (a testbench's view of the DUT: beats, state),
        sampled at every poll (with ``use_irq`` one poll per 64 x ``poll_cycles`` at most)."""
        progress = self.progress
        c, waited = self.cfg, 0
        irq = getattr(self.dut, c.irq) if c.use_irq and _has(self.dut, c.irq) else None
        step = c.poll_cycles * (64 if irq is not None else 1)  # the longest wait per poll
        last, still = None, 0
        while True:
            status = await self.read_reg(Reg.STATUS)
            if status & (Status.DONE | Status.ERROR):
                return status
            if waited >= c.timeout_cycles:
                raise TimeoutError(f"no DONE/ERROR after {waited} cycles (STATUS 0x{status:x})")
            seen = (sum(r.beats for r in self.readers), sum(w.beats for w in self.writers),
                    progress() if progress is not None else None)
            still = still + step if seen == last else 0
            last = seen
            if c.stall_cycles and still >= c.stall_cycles:
                raise TimeoutError(f"no DONE/ERROR and nothing moved for {still} cycles "
                                   f"(STATUS 0x{status:x}, {waited} cycles since the wait began)")
            if irq is not None:
                await First(RisingEdge(irq), ClockCycles(self.clk, step))
            else:
                await ClockCycles(self.clk, step)
            waited += step


async def measuring_device(dut: HierarchyObject, channels: int, mem_size: int, latency: int,
                           period_ns: int = 10,
                           device: Callable[[HierarchyObject, AxilConfig], AxilDevice]
                           = AxilDevice) -> AxilDevice:
    """``spatten_top`` ready for measured runs (``spatten run``, the trace benchmark): clock
    started, reset, done interrupt enabled; AXI memory with a fixed ``latency``, no jitter and no
    random pauses (a measurement, not a stress test); one INFO line per bus access silenced.
    ``device`` builds the device (``verif.hdl_mem.HdlMemDevice`` on the benchmark top, whose
    read ports are HDL memory: no read port is found for the Python models there)."""
    start_clock(dut.clk, period_ns)
    dut.rst_n.value = 0
    cfg = AxilConfig(mem_prefixes=(*channel_prefixes(channels), "m_axiw"), mem_size=mem_size,
                     latency=latency, jitter=0, read_pause=(0.0, 0.0),
                     write_pause=(0.0, 0.0, 0.0), period_ns=period_ns, poll_cycles=16,
                     use_irq=True, timeout_cycles=20_000_000)
    dev = device(dut, cfg)
    for prefix in (cfg.csr_prefix, *cfg.mem_prefixes):
        logging.getLogger(f"cocotb.{dut._name}.{prefix}").setLevel(logging.WARNING)
    await reset(dut.clk, dut.rst_n, 5)
    await dev.write_reg(Reg.IRQ_EN, 1)
    return dev


# ================================================================ sync bridge ==================
async def _awaited(coro: Coroutine[Any, Any, T]) -> T:
    return await coro


def cocotb_run(coro: Coroutine[Any, Any, T]) -> T:
    """``run`` function for ``host.driver.RtlAttention`` / ``RtlGeneration`` under cocotb:
    call it only from a thread started by ``cocotb.task.bridge``."""
    return resume(_awaited)(coro)


async def encode_in_sim(text: str, dev: Any, cfg: Any) -> Any:
    """``golden.minilm.encode(text)`` with every attention layer run on ``dev`` (a Device)."""
    from golden import minilm
    from host.driver import RtlAttention

    return await bridge(minilm.encode)(text, RtlAttention(dev, cfg, run=cocotb_run))


# ================================================================ model stand-in top ===========
class ModelCsrSlave:
    """AXI4-Lite slave whose registers behave as ``spatten_top`` (``golden.accel`` model on the
    shared ``mem``): a START sets BUSY and completes ``latency`` cycles later."""

    def __init__(self, dut: HierarchyObject, mem: bytearray, prefix: str = "s_axil",
                 clock: str = "clk", reset: str = "rst_n", params: AccelParams | None = None,
                 latency: int = 50) -> None:
        self.clk = getattr(dut, clock)
        self.slave = AxiLiteSlave(AxiLiteBus.from_prefix(dut, prefix), self.clk,
                                  getattr(dut, reset), target=self, reset_active_level=False)
        self.model = ModelDevice(params, mem_size=0)
        self.model.mem = mem
        self.latency, self.busy = latency, False

    async def write(self, address: int, data: bytes) -> None:
        """Target of the AXI-Lite slave: one dword per transfer."""
        off, val = address & ~3, int.from_bytes(bytes(data[:4]), "little")
        if off == Reg.CTRL and val & Ctrl.START:
            if val & Ctrl.CLEAR:
                await self.model.write_reg(off, Ctrl.CLEAR)
            self.busy = True
            cocotb.start_soon(self._finish())
        else:
            await self.model.write_reg(off, val)

    async def read(self, address: int, length: int) -> bytes:
        val = await self.model.read_reg(address & ~3)
        val |= Status.BUSY if address & ~3 == Reg.STATUS and self.busy else 0
        return int(val).to_bytes(4, "little")[:length]

    async def _finish(self) -> None:
        await ClockCycles(self.clk, self.latency)
        await self.model.write_reg(Reg.CTRL, Ctrl.START)
        self.busy = False

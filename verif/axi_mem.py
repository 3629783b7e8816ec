"""AXI4 memory models for the memory-system testbenches, on top of cocotbext-axi's AxiRam.

:class:`LatencyAxiRamRead` — an ``AxiRamRead`` that

* accepts up to ``max_outstanding`` read bursts (cocotbext-axi's own model takes 2), so a
  DUT that keeps many requests in flight sees its latency hidden;
* returns the first beat of a burst ``latency`` (+ random ``jitter``) cycles after the AR
  handshake, then one beat per cycle (subject to the R pause generator), bursts in order;
* answers SLVERR / DECERR for beats inside configured error ranges (``error_ranges``);
* records every burst (``bursts``: (cycle, addr, len)) and any burst whose address does not
  belong to this channel (``wrong_channel``, via ``owns(addr)``).

:class:`ErrAxiRamWrite` — an ``AxiRamWrite`` whose write response is SLVERR/DECERR when a
burst touches an error range (the refused beats are not written), after ``latency`` cycles,
with the bursts recorded; ``on_write(addr, nbytes)``, when set, is called after every beat
written (the benchmark's HDL read memory mirrors what the write port wrote, verif/hdl_mem.py).

Random backpressure: :func:`pause_gen` gives the pause generators of cocotbext-axi.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from cocotb.triggers import ClockCycles
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiRamRead, AxiRamWrite, AxiResp

SLVERR = int(AxiResp.SLVERR)
DECERR = int(AxiResp.DECERR)


def pause_gen(rng: random.Random, prob: float) -> Iterator[bool]:
    """Endless pause pattern: True (paused) with probability ``prob`` each cycle."""
    while True:
        yield prob > 0 and rng.random() < prob


class _Clocked:
    """Cycle counter of a clock (sim time / period), for latency bookkeeping."""

    def __init__(self, clock: object, period_ns: float) -> None:
        self.clock, self.period = clock, period_ns

    def now(self) -> int:
        return round(get_sim_time("ns") / self.period)


class LatencyAxiRamRead(AxiRamRead):
    def __init__(self, bus: object, clock: object, reset: object = None, *, size: int,
                 period_ns: float = 10, latency: int = 20, jitter: int = 0,
                 rng: random.Random | None = None, max_outstanding: int = 64,
                 owns: Callable[[int], bool] | None = None, name: str = "mem",
                 reset_active_level: bool = False, **kwargs: object) -> None:
        super().__init__(bus, clock, reset, reset_active_level=reset_active_level, size=size, **kwargs)
        self.latency, self.jitter = latency, jitter
        self.rng = rng or random.Random(0)
        self.owns, self.name = owns, name
        self.error_ranges: list[tuple[int, int, int]] = []  # [lo, hi) bytes -> resp
        self.bursts: list[tuple[int, int, int]] = []
        self.wrong_channel: list[int] = []
        self.beats = 0
        self._t = _Clocked(clock, period_ns)
        self.ar_channel.queue_occupancy_limit = max_outstanding
        base = self.ar_channel._transaction_obj
        clocked = self._t

        def stamped() -> object:  # called at the AR handshake: remember when
            obj = base()
            obj.t_cycle = clocked.now()
            return obj

        self.ar_channel._transaction_obj = stamped

    def set_pause(self, rng: random.Random, ar_prob: float, r_prob: float) -> None:
        self.ar_channel.set_pause_generator(pause_gen(rng, ar_prob) if ar_prob else None)
        self.r_channel.set_pause_generator(pause_gen(rng, r_prob) if r_prob else None)

    def resp_at(self, addr: int) -> int:
        for lo, hi, resp in self.error_ranges:
            if lo <= addr < hi:
                return resp
        return int(AxiResp.OKAY)

    async def _process_read(self) -> None:
        due_prev = 0
        while True:
            ar = await self.ar_channel.recv()
            arid = int(getattr(ar, "arid", 0))
            addr = int(ar.araddr)
            length = int(getattr(ar, "arlen", 0)) + 1
            size = int(getattr(ar, "arsize", self.max_burst_size))
            assert size == self.max_burst_size, f"{self.name}: arsize {size}"
            assert int(getattr(ar, "arburst", 1)) == 1, f"{self.name}: not INCR"
            assert 0x1000 - (addr & 0xFFF) >= length * self.byte_lanes, \
                f"{self.name}: burst 0x{addr:x}+{length} crosses 4 KiB"
            t0 = getattr(ar, "t_cycle", self._t.now())
            self.bursts.append((t0, addr, length))
            if self.owns is not None and not self.owns(addr):
                self.wrong_channel.append(addr)
            due = max(t0 + self.latency + (self.rng.randint(0, self.jitter) if self.jitter else 0),
                      due_prev)
            due_prev = due
            wait = due - self._t.now()
            if wait > 0:
                await ClockCycles(self.clock, wait)
            for n in range(length):
                a = addr + n * self.byte_lanes
                r = self.r_channel._transaction_obj()
                r.rid = arid
                r.rlast = n == length - 1
                r.rresp = self.resp_at(a)
                r.rdata = int.from_bytes(self.read(a % self.size, self.byte_lanes), "little")
                await self.r_channel.send(r)
                self.beats += 1


class ErrAxiRamWrite(AxiRamWrite):
    def __init__(self, bus: object, clock: object, reset: object = None, *, size: int,
                 latency: int = 0, name: str = "wmem", reset_active_level: bool = False,
                 **kwargs: object) -> None:
        super().__init__(bus, clock, reset, reset_active_level=reset_active_level, size=size, **kwargs)
        self.latency, self.name = latency, name
        self.error_ranges: list[tuple[int, int, int]] = []
        self.bursts: list[tuple[int, int]] = []
        self.beats = 0
        self.on_write: Callable[[int, int], None] | None = None
        self.aw_channel.queue_occupancy_limit = 16
        self.w_channel.queue_occupancy_limit = 64

    def set_pause(self, rng: random.Random, aw_prob: float, w_prob: float, b_prob: float) -> None:
        self.aw_channel.set_pause_generator(pause_gen(rng, aw_prob) if aw_prob else None)
        self.w_channel.set_pause_generator(pause_gen(rng, w_prob) if w_prob else None)
        self.b_channel.set_pause_generator(pause_gen(rng, b_prob) if b_prob else None)

    async def _process_write(self) -> None:
        while True:
            aw = await self.aw_channel.recv()
            awid = int(getattr(aw, "awid", 0))
            addr = int(aw.awaddr)
            length = int(getattr(aw, "awlen", 0)) + 1
            assert int(getattr(aw, "awsize", self.max_burst_size)) == self.max_burst_size
            assert int(getattr(aw, "awburst", 1)) == 1, f"{self.name}: not INCR"
            assert 0x1000 - (addr & 0xFFF) >= length * self.byte_lanes, \
                f"{self.name}: burst 0x{addr:x}+{length} crosses 4 KiB"
            self.bursts.append((addr, length))
            resp = int(AxiResp.OKAY)
            for n in range(length):
                w = await self.w_channel.recv()
                a = addr + n * self.byte_lanes
                data = int(w.wdata).to_bytes(self.byte_lanes, "little")
                strb = int(getattr(w, "wstrb", self.strb_mask))
                assert int(w.wlast) == (n == length - 1), f"{self.name}: wlast wrong at beat {n}"
                bad = max([r for lo, hi, r in self.error_ranges if lo <= a < hi], default=0)
                resp = max(resp, bad)
                if not bad:  # a refused beat is not written
                    for i in range(self.byte_lanes):
                        if strb >> i & 1:
                            self.write((a + i) % self.size, data[i:i + 1])
                    if self.on_write is not None:
                        self.on_write(a % self.size, self.byte_lanes)
                self.beats += 1
            if self.latency:
                await ClockCycles(self.clock, self.latency)
            b = self.b_channel._transaction_obj()
            b.bid = awid
            b.bresp = resp
            await self.b_channel.send(b)

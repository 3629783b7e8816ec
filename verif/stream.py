"""Cocotb-level valid/ready(/last) stream components: source, sink, monitor.

A beat is a dict of field name -> int (plus ``"last"`` when the stream has packets). Signals
are found by prefix: ``<prefix>_valid``, ``<prefix>_ready``, ``<prefix>_<field>``,
``<prefix>_last``. All components sample the handshake right after the rising edge (the values
the flops saw) and drive their outputs for the next edge.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

Beat = dict[str, int]


class StreamPort:
    """Handles of one stream interface of the DUT."""

    def __init__(self, dut: Any, prefix: str, fields: Sequence[str] = ("data",),
                 has_last: bool = True) -> None:
        self.prefix = prefix
        self.valid = getattr(dut, f"{prefix}_valid")
        self.ready = getattr(dut, f"{prefix}_ready")
        self.fields = {name: getattr(dut, f"{prefix}_{name}") for name in fields}
        self.last = getattr(dut, f"{prefix}_last") if has_last else None

    def fired(self) -> bool:
        return bool(self.valid.value) and bool(self.ready.value)

    def read(self) -> Beat:
        beat = {name: int(h.value) for name, h in self.fields.items()}
        if self.last is not None:
            beat["last"] = int(self.last.value)
        return beat

    def drive(self, beat: Beat) -> None:
        for name, h in self.fields.items():
            h.value = beat[name]
        if self.last is not None:
            self.last.value = beat.get("last", 0)


class StreamSource:
    """Drives beats into a DUT input; inserts random idle cycles *between* beats only
    (valid never drops while a beat waits for ready)."""

    def __init__(self, port: StreamPort, clk: Any, idle: float = 0.0,
                 rng: random.Random | None = None) -> None:
        self.port, self.clk, self.idle = port, clk, idle
        self.rng = rng or random.Random(0)
        self.queue: deque[Beat] = deque()
        self.sent = 0
        port.valid.value = 0

    def send_nowait(self, beats: Sequence[Beat]) -> None:
        self.queue.extend(beats)

    @property
    def idle_now(self) -> bool:
        return not self.queue and not int(self.port.valid.value)

    async def run(self) -> None:
        port, queue, rng = self.port, self.queue, self.rng
        holding = False
        while True:
            await RisingEdge(self.clk)
            if holding and port.fired():
                queue.popleft()
                self.sent += 1
                holding = False
            if not holding and queue and not (self.idle and rng.random() < self.idle):
                port.drive(queue[0])
                holding = True
            port.valid.value = int(holding)

    async def wait_empty(self) -> None:
        while self.queue:
            await RisingEdge(self.clk)


class StreamSink:
    """Drives a DUT output's ready with random backpressure (probability of ready low)."""

    def __init__(self, port: StreamPort, clk: Any, backpressure: float = 0.0,
                 rng: random.Random | None = None) -> None:
        self.port, self.clk, self.backpressure = port, clk, backpressure
        self.rng = rng or random.Random(1)
        port.ready.value = 0

    async def run(self) -> None:
        ready, rng = self.port.ready, self.rng
        while True:
            bp = self.backpressure  # read every cycle: tests may change it mid-run
            ready.value = int(not (bp and rng.random() < bp))
            await RisingEdge(self.clk)


class StreamMonitor:
    """Passively records every beat that crosses an interface and groups beats into packets
    (by ``last``; without ``last`` every beat is its own packet). ``callback(packet, cycle)``
    is called for each completed packet; ``cycle`` counts rising edges since start."""

    def __init__(self, port: StreamPort, clk: Any,
                 callback: Callable[[list[Beat], int], None], rst_n: Any = None) -> None:
        self.port, self.clk, self.callback, self.rst_n = port, clk, callback, rst_n
        self.beats = 0
        self.first_cycle: int | None = None
        self.last_cycle: int | None = None

    async def run(self) -> None:
        port, packet, cycle = self.port, [], 0
        while True:
            await RisingEdge(self.clk)
            cycle += 1
            if self.rst_n is not None and not self.rst_n.value:
                packet = []  # a reset drops any partial packet
                continue
            if not port.fired():
                continue
            beat = port.read()
            packet.append(beat)
            self.beats += 1
            if self.first_cycle is None:
                self.first_cycle = cycle
            self.last_cycle = cycle
            if port.last is None or beat["last"]:
                self.callback(packet, cycle)
                packet = []


def start_clock(clk: Any, period_ns: int = 10) -> None:
    Clock(clk, period_ns, unit="ns").start()


async def reset(clk: Any, rst_n: Any, cycles: int = 3) -> None:
    """Synchronous active-low reset for ``cycles`` rising edges."""
    rst_n.value = 0
    await ClockCycles(clk, cycles)
    rst_n.value = 1
    await RisingEdge(clk)

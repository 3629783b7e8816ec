"""pyuvm environment and tests for blocks whose output stream equals their input stream
(stream_skid, stream_fifo): every beat must arrive once, in order, with its ``last``."""

from __future__ import annotations

import random
from collections.abc import Iterable

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge
from pyuvm import ConfigDB, uvm_env, uvm_sequence, uvm_test

from verif.seeding import params, seed_all, seed_text
from verif.stream import reset, start_clock
from verif.uvm import (
    CoverageSubscriber,
    Scoreboard,
    StreamAgent,
    StreamAgentConfig,
    StreamItem,
    wait_drained,
)


def identity(item: StreamItem) -> Iterable[StreamItem]:
    return [StreamItem("expected", [dict(b) for b in item.beats])]


def drop_one_beat(item: StreamItem) -> Iterable[StreamItem]:
    """A deliberately broken model (loses the first beat of the third packet)."""
    drop_one_beat.calls = getattr(drop_one_beat, "calls", 0) + 1
    beats = [dict(b) for b in item.beats]
    if drop_one_beat.calls == 3:
        beats = beats[1:] or [{**beats[0], "data": beats[0]["data"] ^ 1}]
    return [StreamItem("expected", beats)]


class RandomPackets(uvm_sequence):
    """``count`` packets of 1..max_len beats of random ``width``-bit data."""

    def __init__(self, name: str, count: int, max_len: int, width: int,
                 rng: random.Random) -> None:
        super().__init__(name)
        self.count, self.max_len, self.width, self.rng = count, max_len, width, rng

    async def body(self) -> None:
        for _ in range(self.count):
            n = self.rng.randint(1, self.max_len)
            beats = [{"data": self.rng.getrandbits(self.width), "last": int(i == n - 1)}
                     for i in range(n)]
            item = StreamItem("pkt", beats)
            await self.start_item(item)
            await self.finish_item(item)


PACKET_BINS = {
    "single_beat_packet": lambda it: len(it.beats) == 1,
    "multi_beat_packet": lambda it: len(it.beats) >= 4,
    "data_all_zero": lambda it: any(b["data"] == 0 for b in it.beats),
}


class PassthroughEnv(uvm_env):
    def build_phase(self) -> None:
        self.src = StreamAgent("src", self)
        self.snk = StreamAgent("snk", self)
        self.sb = Scoreboard("sb", self)
        self.cov = CoverageSubscriber("cov", self)
        self.cov.bins = dict(PACKET_BINS)

    def connect_phase(self) -> None:
        self.src.ap.connect(self.sb.inp.analysis_export)
        self.snk.ap.connect(self.sb.out.analysis_export)
        self.snk.ap.connect(self.cov.analysis_export)


class PassthroughTest(uvm_test):
    """Random packets with random idle and backpressure; override the class knobs."""

    idle = 0.3
    backpressure = 0.3
    packets = 300
    max_len = 6
    zero_data_every = 5  # every n-th packet uses data 0, to hit the all-zero bin
    model = staticmethod(identity)
    env_class = PassthroughEnv

    def build_phase(self) -> None:
        self.rng = random.Random(int(seed_all(type(self).__name__).integers(2**31)))
        self.params = params()
        ConfigDB().set(None, "*env.src", "cfg", StreamAgentConfig("in", idle=self.idle))
        ConfigDB().set(None, "*env.snk", "cfg",
                       StreamAgentConfig("out", role="sink", backpressure=self.backpressure))
        self.env = self.env_class("env", self)

    def connect_phase(self) -> None:
        self.env.sb.model = self.model

    async def stimulus(self) -> None:
        width = self.params.get("WIDTH", 32)
        await RandomPackets("rand", self.packets, self.max_len, width, self.rng).start(self.env.src.seqr)
        zero = StreamItem("zero", [{"data": 0, "last": 1}])
        await _send(self.env.src.seqr, zero)

    async def run_phase(self) -> None:
        self.raise_objection()
        dut = cocotb.top
        dut.rst_n.value = 0
        start_clock(dut.clk)
        await reset(dut.clk, dut.rst_n)
        await self.stimulus()
        await wait_drained(dut.clk, self.env.sb, [self.env.src.driver.source],
                           timeout_cycles=200 * self.packets * self.max_len + 1000)
        await self.after_drain()
        self.drop_objection()

    async def after_drain(self) -> None:
        """Hook for checks once all traffic has passed."""


class _OneItem(uvm_sequence):
    def __init__(self, item: StreamItem) -> None:
        super().__init__("one")
        self.item = item

    async def body(self) -> None:
        await self.start_item(self.item)
        await self.finish_item(self.item)


async def _send(seqr: object, item: StreamItem) -> None:
    await _OneItem(item).start(seqr)


class ThroughputTest(PassthroughTest):
    """No idle, no backpressure: the ``measured`` side (the output by default) must carry one
    beat per cycle."""

    idle = 0.0
    backpressure = 0.0
    packets = 40
    max_len = 8
    measured = "snk"  # "src": the input side (a block that packs beats, stream_upsize)

    async def after_drain(self) -> None:
        mon = getattr(self.env, self.measured).monitor.mon
        span = mon.last_cycle - mon.first_cycle + 1
        self.logger.info(f"throughput: {mon.beats} beats in {span} cycles")
        assert span == mon.beats, f"{mon.beats} beats took {span} cycles (expected 1 beat/cycle)"


class ResetMidStreamTest(PassthroughTest):
    """Reset while the block holds data: afterwards it must be empty (nothing stale comes out)
    and carry new traffic correctly. The packets caught inside are flushed from the scoreboard."""

    packets = 60

    def capacity(self) -> int:
        """Beats the block holds with its output stalled (FIFO: DEPTH; skid register: 2)."""
        return self.params.get("DEPTH", 2)

    def fill_beat(self) -> dict:
        """One beat of the fill (a one-beat packet)."""
        return {"data": self.rng.getrandbits(self.params.get("WIDTH", 32)), "last": 1}

    async def run_phase(self) -> None:
        self.raise_objection()
        dut, env = cocotb.top, self.env
        dut.rst_n.value = 0
        start_clock(dut.clk)
        await reset(dut.clk, dut.rst_n)
        src = env.src.driver.source
        # Fill: the sink stalls and the source sends exactly what the block can hold.
        env.snk.sink.backpressure = 1.0
        for _ in range(self.capacity()):
            await _send(env.src.seqr, StreamItem("fill", [self.fill_beat()]))
        for _ in range(200):
            if src.idle_now:
                break
            await RisingEdge(dut.clk)
        assert src.idle_now, f"block accepted fewer than {self.capacity()} beats ({seed_text()})"
        await ClockCycles(dut.clk, 5)
        assert int(dut.out_valid.value) == 1, "block should hold data before the reset"
        await reset(dut.clk, dut.rst_n)
        assert int(dut.out_valid.value) == 0, f"out_valid high right after reset ({seed_text()})"
        env.sb.flush("reset mid-stream")
        env.snk.sink.backpressure = self.backpressure
        await ClockCycles(dut.clk, 5)
        assert int(dut.out_valid.value) == 0, f"stale data came out after reset ({seed_text()})"
        await self.stimulus()
        await wait_drained(dut.clk, env.sb, [src], timeout_cycles=100_000)
        self.drop_objection()


class BrokenModelTest(PassthroughTest):
    """The scoreboard must catch a model that disagrees with the DUT (expect-fail)."""

    packets = 20
    model = staticmethod(drop_one_beat)

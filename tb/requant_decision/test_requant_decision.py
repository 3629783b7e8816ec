"""requant_decision: out_requant == golden.blocks.need_requant(maxp, threshold) for every row
(one beat per row), in order, under idle and backpressure; full throughput."""

from __future__ import annotations

import random

import cocotb
import pytest
import pyuvm
from pyuvm import ConfigDB, uvm_env, uvm_sequence, uvm_test

from golden import blocks, fixed
from verif.runner import Bench
from verif.seeding import params, seed_all, seed_text
from verif.stream import reset, start_clock
from verif.testing import run_bench
from verif.uvm import (
    CoverageSubscriber,
    Scoreboard,
    ScoreboardError,
    StreamAgent,
    StreamAgentConfig,
    StreamItem,
    wait_drained,
)

BENCH = Bench("requant_decision", ["requant_decision.v"], {"TAG_W": 8})
CONFIGS = [{"TAG_W": 8}, {"TAG_W": 1}]
P_MAX = fixed.PROB_MAX
DEFAULT_THRESHOLD = blocks.prob_threshold(0.05)


def requant_model(item: StreamItem) -> list[StreamItem]:
    b = item.beats[0]
    flag = int(bool(blocks.need_requant(b["maxp"], b["threshold"])))
    return [StreamItem("expected", [{"requant": flag, "maxp": b["maxp"], "tag": b["tag"]}])]


def non_strict_model(item: StreamItem) -> list[StreamItem]:
    """Deliberately wrong: maxp <= threshold (the golden rule is strict)."""
    b = item.beats[0]
    flag = int(b["maxp"] <= b["threshold"])
    return [StreamItem("expected", [{"requant": flag, "maxp": b["maxp"], "tag": b["tag"]}])]


BINS = {
    "requant_taken": lambda it: it.beats[0]["maxp"] < it.beats[0]["threshold"],
    "requant_not_taken": lambda it: it.beats[0]["maxp"] > it.beats[0]["threshold"],
    "maxp_equals_threshold": lambda it: it.beats[0]["maxp"] == it.beats[0]["threshold"],
    "maxp_one_below_threshold": lambda it: it.beats[0]["maxp"] + 1 == it.beats[0]["threshold"],
    "threshold_0_never": lambda it: it.beats[0]["threshold"] == 0,
    "threshold_max": lambda it: it.beats[0]["threshold"] == P_MAX,
    "maxp_saturated_1_0": lambda it: it.beats[0]["maxp"] == P_MAX,
    "maxp_0": lambda it: it.beats[0]["maxp"] == 0,
    "default_threshold_0_05": lambda it: it.beats[0]["threshold"] == DEFAULT_THRESHOLD,
}


class RowMaxSequence(uvm_sequence):
    """One beat per row: maxp near/at the threshold, at the extremes, or random."""

    def __init__(self, name: str, count: int, rng: random.Random, tag_w: int) -> None:
        super().__init__(name)
        self.count, self.rng, self.tag_w = count, rng, tag_w

    async def body(self) -> None:
        r = self.rng
        thr = DEFAULT_THRESHOLD
        for i in range(self.count):
            if i % 50 == 0:  # the CSR is reprogrammed now and then
                thr = r.choice([DEFAULT_THRESHOLD, 0, P_MAX, 1, r.getrandbits(16)])
            kind = r.random()
            if kind < 0.4:
                maxp = min(max(thr + r.randint(-2, 2), 0), P_MAX)
            elif kind < 0.5:
                maxp = r.choice([0, 1, P_MAX - 1, P_MAX])
            else:
                maxp = r.getrandbits(16)
            beat = {"maxp": maxp, "threshold": thr, "tag": r.getrandbits(self.tag_w)}
            item = StreamItem("row", [beat])
            await self.start_item(item)
            await self.finish_item(item)


class RequantEnv(uvm_env):
    def build_phase(self) -> None:
        self.src = StreamAgent("src", self)
        self.snk = StreamAgent("snk", self)
        self.sb = Scoreboard("sb", self)
        self.cov = CoverageSubscriber("cov", self)
        self.cov.bins = dict(BINS)

    def connect_phase(self) -> None:
        self.src.ap.connect(self.sb.inp.analysis_export)
        self.src.ap.connect(self.cov.analysis_export)
        self.snk.ap.connect(self.sb.out.analysis_export)


class RequantTest(uvm_test):
    idle = 0.2
    backpressure = 0.3
    rows_verilator = 12000
    rows_icarus = 4000
    model = staticmethod(requant_model)
    coverage_required = True

    def build_phase(self) -> None:
        seed_all(type(self).__name__)
        self.rng = random.Random(int(cocotb.RANDOM_SEED))
        self.tag_w = params()["TAG_W"]
        ConfigDB().set(
            None,
            "*env.src",
            "cfg",
            StreamAgentConfig(
                "in", fields=("maxp", "threshold", "tag"), has_last=False, idle=self.idle
            ),
        )
        ConfigDB().set(
            None,
            "*env.snk",
            "cfg",
            StreamAgentConfig(
                "out",
                fields=("requant", "maxp", "tag"),
                has_last=False,
                role="sink",
                backpressure=self.backpressure,
            ),
        )
        self.env = RequantEnv("env", self)

    def connect_phase(self) -> None:
        self.env.sb.model = self.model
        self.env.cov.required = self.coverage_required

    async def run_phase(self) -> None:
        self.raise_objection()
        dut = cocotb.top
        dut.rst_n.value = 0
        start_clock(dut.clk)
        await reset(dut.clk, dut.rst_n)
        sim = cocotb.SIM_NAME.lower()
        n = self.rows_verilator if sim.startswith("verilator") else self.rows_icarus
        self.logger.info(f"{n} rows ({seed_text()})")
        await RowMaxSequence("rows", n, self.rng, self.tag_w).start(self.env.src.seqr)
        await wait_drained(
            dut.clk, self.env.sb, [self.env.src.driver.source], timeout_cycles=20 * n + 1000
        )
        await self.after_drain()
        self.drop_objection()

    async def after_drain(self) -> None:
        """Hook for checks once all traffic has passed."""


@pyuvm.test()
class RequantRandomTest(RequantTest):
    pass


@pyuvm.test()
class RequantThroughputTest(RequantTest):
    """No idle, no backpressure: one decision per cycle."""

    idle = backpressure = 0.0
    rows_verilator = rows_icarus = 500
    coverage_required = False

    async def after_drain(self) -> None:
        mon = self.env.snk.monitor.mon
        span = mon.last_cycle - mon.first_cycle + 1
        assert span == mon.beats, f"{mon.beats} decisions took {span} cycles (expected 1/cycle)"


@pyuvm.test(expect_error=ScoreboardError)
class RequantBrokenModelTest(RequantTest):
    """The scoreboard must catch a model with <= instead of the strict <."""

    rows_verilator = rows_icarus = 400
    coverage_required = False
    model = staticmethod(non_strict_model)


# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    (
        "requant_decision.v",
        "out_requant_q <= (in_maxp < in_threshold);",
        "out_requant_q <= (in_maxp <= in_threshold);",
        "requant non-strict comparison",
    ),
    (
        "requant_decision.v",
        "assign in_ready    = ~out_valid_q | out_ready;",
        "assign in_ready    = 1'b1;",
        "requant decision overwritten while the sink stalls",
    ),
    (
        "requant_decision.v",
        "    if (in_fire) begin",
        "    if (in_valid) begin",
        "requant output register reloads while stalled",
    ),
]


@pytest.mark.sim
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: f"TAG{p['TAG_W']}")
def test_requant_decision(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)

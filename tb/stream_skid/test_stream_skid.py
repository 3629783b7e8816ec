"""stream_skid: every beat once, in order, under idle/backpressure; full throughput."""

from __future__ import annotations

import pytest
import pyuvm

from verif.passthrough import BrokenModelTest, PassthroughTest, ResetMidStreamTest, ThroughputTest
from verif.runner import Bench
from verif.testing import run_bench
from verif.uvm import ScoreboardError

BENCH = Bench("stream_skid", ["stream_skid.v"], {"WIDTH": 16})
CONFIGS = [{"WIDTH": 16}, {"WIDTH": 1}, {"WIDTH": 64}]


# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    ("stream_skid.v", "skid_valid_q <= 1'b1;", "skid_valid_q <= 1'b0;", "skid slot dropped"),
    ("stream_skid.v", "out_last_q <= skid_valid_q ? skid_last_q : in_last;",
     "out_last_q <= in_last;", "last flag of a skidded beat lost"),
]


@pyuvm.test()
class SkidRandomTest(PassthroughTest):
    pass


@pyuvm.test()
class SkidHeavyBackpressureTest(PassthroughTest):
    idle = 0.05
    backpressure = 0.8


@pyuvm.test()
class SkidThroughputTest(ThroughputTest):
    pass


@pyuvm.test()
class SkidResetMidStreamTest(ResetMidStreamTest):
    pass


@pyuvm.test(expect_error=ScoreboardError)
class SkidBrokenModelTest(BrokenModelTest):
    pass


@pytest.mark.sim
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: f"W{p['WIDTH']}")
def test_stream_skid(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)

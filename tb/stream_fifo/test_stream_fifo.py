"""stream_fifo: every beat once, in order, under idle/backpressure; count/full/empty checked
against the occupancy implied by the handshakes on every cycle; full throughput."""

from __future__ import annotations

import cocotb
import pytest
import pyuvm
from cocotb.triggers import RisingEdge
from pyuvm import uvm_component, uvm_root

from verif.passthrough import (
    BrokenModelTest,
    PassthroughEnv,
    PassthroughTest,
    ResetMidStreamTest,
    ThroughputTest,
)
from verif.runner import Bench
from verif.seeding import params, seed_text
from verif.testing import run_bench
from verif.uvm import CoverageError, ScoreboardError, export_bins

BENCH = Bench("stream_fifo", ["stream_fifo.v"], {"WIDTH": 16, "DEPTH": 8})
CONFIGS = [{"WIDTH": 16, "DEPTH": 8}, {"WIDTH": 8, "DEPTH": 3}, {"WIDTH": 32, "DEPTH": 2}]

STATUS_BINS = ("full", "empty_after_traffic", "push_pop_same_cycle", "push_blocked_full",
               "pop_at_full", "push_at_empty")


class FifoStatusChecker(uvm_component):
    """Tracks occupancy from the handshakes and checks count/full/empty every cycle."""

    def build_phase(self) -> None:
        self.depth = params()["DEPTH"]
        self.hits = dict.fromkeys(STATUS_BINS, 0)
        self.errors: list[str] = []

    async def run_phase(self) -> None:
        dut, occ, seen_traffic = cocotb.top, 0, False
        while True:
            await RisingEdge(dut.clk)
            if not dut.rst_n.value:
                occ = 0
                continue
            push = bool(dut.in_valid.value) and bool(dut.in_ready.value)
            pop = bool(dut.out_valid.value) and bool(dut.out_ready.value)
            got = (int(dut.count.value), int(dut.full.value), int(dut.empty.value))
            want = (occ, int(occ == self.depth), int(occ == 0))
            if got != want and len(self.errors) < 10:
                self.errors.append(f"count/full/empty {got}, expected {want}")
            self.hits["full"] += occ == self.depth
            self.hits["empty_after_traffic"] += seen_traffic and occ == 0
            self.hits["push_pop_same_cycle"] += push and pop
            self.hits["push_blocked_full"] += bool(dut.in_valid.value) and occ == self.depth
            self.hits["pop_at_full"] += pop and occ == self.depth
            self.hits["push_at_empty"] += push and occ == 0
            seen_traffic |= push
            occ += int(push) - int(pop)

    def check_phase(self) -> None:
        export_bins(self, self.hits)
        assert not self.errors, f"FIFO status wrong: {self.errors[0]} ({seed_text()})"
        missed = [k for k, n in self.hits.items() if not n]
        if missed and getattr(uvm_root().uvm_test_top, "status_bins_required", True):
            raise CoverageError(f"FIFO status bins never hit: {missed}")


class FifoEnv(PassthroughEnv):
    def build_phase(self) -> None:
        super().build_phase()
        self.status = FifoStatusChecker("status", self)


class FifoTest(PassthroughTest):
    env_class = FifoEnv


# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    ("stream_fifo.v", "if (push) mem_q[wr_ptr_q] <= {in_last, in_data};", "",
     "storage write deleted"),
    ("stream_fifo.v", "if (pop) rd_ptr_q <=", "if (1'b0) rd_ptr_q <=",
     "read pointer never advances"),
    ("stream_fifo.v", "assign full      = (count_q == DEPTH_CNT);",
     "assign full      = (count_q == DEPTH_CNT - 1'b1);", "full one entry early"),
]


@pyuvm.test()
class FifoRandomTest(FifoTest):
    pass


@pyuvm.test()
class FifoFillDrainTest(FifoTest):
    """Bursty: the sink stalls often so the FIFO fills, the source idles so it empties."""

    idle = 0.5
    backpressure = 0.7
    packets = 200


@pyuvm.test()
class FifoThroughputTest(ThroughputTest):
    pass


@pyuvm.test()
class FifoResetMidStreamTest(ResetMidStreamTest, FifoTest):
    status_bins_required = False  # about the reset, not the corners (still checks the status)


@pyuvm.test(expect_error=ScoreboardError)
class FifoBrokenModelTest(BrokenModelTest):
    pass


@pytest.mark.sim
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: f"W{p['WIDTH']}_D{p['DEPTH']}")
def test_stream_fifo(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)

"""stream_upsize: R narrow beats per wide beat, a packet's short last group zero-filled, every
packet once and in order under idle/backpressure; the input taken at one beat per cycle."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest
import pyuvm
from pyuvm import ConfigDB, uvm_sequence

from verif.passthrough import PassthroughEnv, PassthroughTest, ResetMidStreamTest, ThroughputTest
from verif.runner import Bench
from verif.seeding import params, seed_all
from verif.testing import run_bench
from verif.uvm import ScoreboardError, StreamAgentConfig, StreamItem

BENCH = Bench("stream_upsize", ["stream_upsize.v"], {"W": 8, "K": 2, "R": 4})
CONFIGS = [{"W": 8, "K": 2, "R": 4}, {"W": 16, "K": 1, "R": 2}, {"W": 5, "K": 3, "R": 1}]

# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    ("stream_upsize.v", "wire          done  = in_last | (32'(slot) == R - 1);",
     "wire          done  = (32'(slot) == R - 1);", "a short last group waits for the next packet"),
    ("stream_upsize.v", "        end else if (fresh) begin",
     "        end else if (1'b0) begin", "unfilled lanes keep the previous beat's data and keep"),
]


def upsize(item: StreamItem, w: int, k: int, r: int) -> list[dict]:
    """Golden: groups of r narrow beats, beat j of a group at lanes [j*k, (j+1)*k), the last
    group of the packet zero-filled."""
    beats = item.beats
    out = []
    for g in range(0, len(beats), r):
        group = beats[g:g + r]
        out.append({"data": sum(b["data"] << (j * w) for j, b in enumerate(group)),
                    "keep": sum(b["keep"] << (j * k) for j, b in enumerate(group)),
                    "last": int(g + r >= len(beats))})
    return out


def model(item: StreamItem) -> Iterable[StreamItem]:
    p = params()
    return [StreamItem("expected", upsize(item, p["W"], p["K"], p["R"]))]


def broken_model(item: StreamItem) -> Iterable[StreamItem]:
    """Deliberately wrong (the keep of the third packet's first beat flipped): must be caught."""
    broken_model.calls = getattr(broken_model, "calls", 0) + 1
    beats = model(item)[0].beats
    if broken_model.calls == 3:
        beats[0] = {**beats[0], "keep": beats[0]["keep"] ^ 1}
    return [StreamItem("expected", beats)]


# functional bins on the wide packets (the scoreboard's output side)
UPSIZE_BINS = {
    "single_wide_beat": lambda it: len(it.beats) == 1,
    "multi_wide_beat": lambda it: len(it.beats) >= 2,
}


class UpsizeEnv(PassthroughEnv):
    def build_phase(self) -> None:
        super().build_phase()
        self.cov.bins = dict(UPSIZE_BINS)


class LanePackets(uvm_sequence):
    """``count`` packets of 1..max_len beats: random data, keep all ones but on the last beat
    (a random prefix, as the top-k engine's packets), or fully random keep when ``any_keep``."""

    def __init__(self, name: str, count: int, max_len: int, rng: random.Random,
                 any_keep: bool = False) -> None:
        super().__init__(name)
        self.count, self.max_len, self.rng, self.any_keep = count, max_len, rng, any_keep

    async def body(self) -> None:
        p = params()
        w, k = p["W"], p["K"]
        for _ in range(self.count):
            n = self.rng.randint(1, self.max_len)
            beats = []
            for i in range(n):
                keep = (1 << k) - 1
                if self.any_keep:
                    keep = self.rng.getrandbits(k)
                elif i == n - 1:
                    keep = (1 << self.rng.randint(0, k)) - 1
                beats.append({"data": self.rng.getrandbits(w), "keep": keep,
                              "last": int(i == n - 1)})
            item = StreamItem("pkt", beats)
            await self.start_item(item)
            await self.finish_item(item)


class UpsizeTest(PassthroughTest):
    """Random packets (lengths around R, so short last groups and whole groups both occur)."""

    model = staticmethod(model)
    env_class = UpsizeEnv
    any_keep = False

    def build_phase(self) -> None:
        self.rng = random.Random(int(seed_all(type(self).__name__).integers(2**31)))
        self.params = params()
        self.max_len = 3 * self.params["R"] + 1
        ConfigDB().set(None, "*env.src", "cfg",
                       StreamAgentConfig("in", fields=("data", "keep"), idle=self.idle))
        ConfigDB().set(None, "*env.snk", "cfg",
                       StreamAgentConfig("out", fields=("data", "keep"), role="sink",
                                         backpressure=self.backpressure))
        self.env = self.env_class("env", self)

    async def stimulus(self) -> None:
        await LanePackets("rand", self.packets, self.max_len, self.rng,
                          self.any_keep).start(self.env.src.seqr)


@pyuvm.test()
class UpsizeRandomTest(UpsizeTest):
    pass


@pyuvm.test()
class UpsizeAnyKeepHeavyBackpressureTest(UpsizeTest):
    idle = 0.05
    backpressure = 0.8
    any_keep = True


@pyuvm.test()
class UpsizeThroughputTest(UpsizeTest, ThroughputTest):
    """No idle, no backpressure: the input is taken at one narrow beat per cycle."""

    measured = "src"


@pyuvm.test()
class UpsizeResetMidStreamTest(UpsizeTest, ResetMidStreamTest):
    """Reset while a wide beat waits on a stalled sink: out_valid drops, nothing stale comes
    out afterwards, and new packets pass correctly."""

    packets = 60

    def capacity(self) -> int:
        return 1  # one wide beat (each fill beat is a one-beat packet)

    def fill_beat(self) -> dict:
        return {"data": self.rng.getrandbits(self.params["W"]), "keep": 1, "last": 1}


@pyuvm.test(expect_error=ScoreboardError)
class UpsizeBrokenModelTest(UpsizeTest):
    packets = 20
    model = staticmethod(broken_model)


@pytest.mark.sim
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: f"W{p['W']}_K{p['K']}_R{p['R']}")
def test_stream_upsize(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)

"""pv_array: head output E bit-exact against golden ``blocks.pv``.

A sequence item is one query: its kept (probability, V row) pairs, LANES per beat, keep mask,
last on the final beat. The model turns the beats the DUT accepted into probs [n], V [n, D]
and a keep mask and predicts the single E beat. Coverage: query bins (length 1 / long,
partial beat, keep holes, all-zero probabilities, single kept value, extreme V and
probabilities), output bins (E saturation of both signs) and handshake bins.
"""

from __future__ import annotations

import math
import os

import cocotb
import numpy as np
import pytest
import pyuvm
from pyuvm import ConfigDB, uvm_analysis_port, uvm_env, uvm_test

from golden import blocks, fixed
from verif.lanes import pack, unpack
from verif.observer import Port, StreamObserver
from verif.runner import Bench
from verif.seeding import on_verilator, params, seed_all
from verif.stream import reset, start_clock
from verif.testing import run_bench, run_sweep
from verif.uvm import (
    CoverageSubscriber,
    Scoreboard,
    ScoreboardError,
    StreamAgent,
    StreamAgentConfig,
    StreamItem,
    wait_drained,
)
from verif.vecstream import send_all

BENCH = Bench("pv_array", ["pv_array.v"], {"LANES": 2, "D": 8})
PAPER = {"LANES": 8, "D": 64}
# Paper scale on Verilator; Icarus gets small configs of the same logic (LANES = 1: no tree).
SIM_CONFIGS = {
    "verilator": [PAPER],
    "icarus": [{"LANES": 2, "D": 32}, {"LANES": 1, "D": 8}, {"LANES": 4, "D": 1}],
}

DW, PBW, EW = fixed.DATA_W, fixed.PROB_W, fixed.E_W


def cfg() -> tuple[int, int]:
    p = params()
    return p["LANES"], p["D"]


def latency(lanes: int) -> int:
    """Documented latency: final beat accepted -> E valid on e_*."""
    return int(math.log2(lanes)) + 4


# ============================================================ queries (stimulus)
class Query:
    """probs [nb, LANES], v [nb, LANES, D], keep [nb, LANES]."""

    def __init__(self, probs: np.ndarray, v: np.ndarray, keep: np.ndarray) -> None:
        self.probs, self.v, self.keep = probs, v, keep

    def item(self, lanes: int, d: int) -> StreamItem:
        nb = self.v.shape[0]
        pw = pack(self.probs, PBW)
        vw = pack(self.v.reshape(nb, lanes * d), DW)
        kw = pack(self.keep.astype(np.int64), 1)
        return StreamItem("pv", [{"prob": p, "v": v, "keep": k, "last": int(i == nb - 1)}
                                 for i, (p, v, k) in enumerate(zip(pw, vw, kw, strict=True))])


def _values(rng: np.random.Generator, shape: tuple, kind: str) -> np.ndarray:
    if kind == "uniform":
        return rng.integers(-2048, 2048, size=shape)
    if kind == "extreme":
        return rng.choice(np.array([-2048, 2047, -2047, 0, -1, 1]), size=shape)
    if kind == "small":
        return rng.integers(-8, 9, size=shape)
    return np.clip(np.rint(rng.normal(0, 300, size=shape)), -2048, 2047).astype(np.int64)


def _probs(rng: np.random.Generator, shape: tuple, kind: str) -> np.ndarray:
    if kind == "softmax":  # a kept slice of a real distribution: sums to at most 1.0
        w = rng.exponential(1.0, size=shape) ** 3
        p = np.floor(w / w.sum() * 65536 * rng.uniform(0.2, 1.0))
        return np.minimum(p, 65535).astype(np.int64)
    if kind == "uniform":  # adversarial: sums far above 1.0, E saturates
        return rng.integers(0, 1 << 16, size=shape)
    if kind == "extreme":
        return rng.choice(np.array([0, 1, 65535, 32768]), size=shape)
    return np.zeros(shape, dtype=np.int64)  # "zero"


def random_length(rng: np.random.Generator, lanes: int) -> int:
    u = rng.random()
    if u < 0.05:
        return 1
    if u < 0.45:
        return int(rng.integers(1, 2 * lanes + 1))
    if u < 0.85:
        return int(rng.integers(1, 16 * lanes + 1))
    if u < 0.998:
        return int(rng.integers(1, 301))
    return 1024


def random_query(rng: np.random.Generator, lanes: int, d: int, length: int | None = None,
                 pkind: str | None = None, vkind: str | None = None) -> Query:
    n = random_length(rng, lanes) if length is None else length
    nb = -(-n // lanes)
    keep = (np.arange(nb * lanes) < n).reshape(nb, lanes)  # a prefix: partial last beat
    if length is None and nb > 1 and rng.random() < 0.1:
        keep = rng.random((nb, lanes)) < 0.7  # holes anywhere
    if pkind is None:
        pkind = str(rng.choice(["softmax", "softmax", "uniform", "extreme", "zero"],
                               p=[0.35, 0.2, 0.25, 0.15, 0.05]))
    vkind = vkind or str(rng.choice(["uniform", "extreme", "small", "gauss"]))
    # Unkept lanes carry random garbage: the DUT must ignore it.
    return Query(_probs(rng, (nb, lanes), pkind), _values(rng, (nb, lanes, d), vkind), keep)


def directed_queries(rng: np.random.Generator, lanes: int, d: int) -> list[Query]:
    qs = [
        random_query(rng, lanes, d, 1, "extreme", "extreme"),   # single kept value
        random_query(rng, lanes, d, 2 * lanes + 1, "zero"),     # all-zero probabilities
        random_query(rng, lanes, d, 1024, "softmax"),           # long query
        random_query(rng, lanes, d, 3, "uniform"),
        random_query(rng, lanes, d, 3, "uniform"),
    ]
    qs[3].probs[:] = 65535                                      # saturates positive
    qs[3].v[:] = 2047
    qs[4].probs[:] = 65535                                      # saturates negative
    qs[4].v[:] = -2048
    one = random_query(rng, lanes, d, 1, "extreme")            # one kept pair: p = 1.0 - 1 LSB
    one.probs[:] = 65535
    one.v[0, 0] = rng.choice(np.array([-2048, 2047]), size=d)
    return [*qs, one]


# ============================================================ model and coverage
class PvModel:
    def __init__(self, query_ap: uvm_analysis_port | None = None) -> None:
        self.lanes, self.d = cfg()
        self.query_ap = query_ap
        self.queries = 0

    def __call__(self, item: StreamItem) -> list[StreamItem]:
        beats = item.beats
        nb = len(beats)
        probs = unpack([b["prob"] for b in beats], self.lanes, PBW, signed=False).reshape(-1)
        v = unpack([b["v"] for b in beats], self.lanes * self.d, DW, signed=True)
        v = v.reshape(nb * self.lanes, self.d)
        keep2 = unpack([b["keep"] for b in beats], self.lanes, 1, signed=False).astype(bool)
        keep = keep2.reshape(-1)
        e = blocks.pv(probs[None, :], v, keep[None, :])[0]
        e = self.corrupt(e)
        self.queries += 1
        if self.query_ap is not None:
            kp, kv = probs[keep], v[keep]
            self.query_ap.write(StreamItem("query", [], {
                "n": int(keep.sum()), "beats": nb, "partial": not keep2[-1].all(),
                "holes": bool((~keep2[:-1]).any()), "pmax": int(kp.max(initial=0)),
                "pmin": int(kp.min(initial=0)), "psum": int(kp.sum()),
                "vmin": int(kv.min(initial=0)), "vmax": int(kv.max(initial=0))}))
        return [StreamItem("expected", [{"data": pack(e[None, :], EW)[0], "last": 1}])]

    def corrupt(self, e: np.ndarray) -> np.ndarray:
        return e


class BrokenPvModel(PvModel):
    """Deliberately wrong: E[0] of the 4th query is off by one LSB."""

    def corrupt(self, e: np.ndarray) -> np.ndarray:
        if self.queries == 3:
            e = e.copy()
            e[0] += 1
        return e


QUERY_BINS = {
    "single_kept_value": lambda it: it.meta["n"] == 1,
    "one_beat_query": lambda it: it.meta["beats"] == 1,
    "long_query_1024": lambda it: it.meta["n"] >= 1024,
    "all_zero_probs": lambda it: it.meta["n"] > 0 and it.meta["pmax"] == 0,
    "partial_last_beat": lambda it: it.meta["partial"],
    "keep_holes": lambda it: it.meta["holes"],
    "prob_max_65535": lambda it: it.meta["pmax"] == 65535,
    "probs_sum_le_1.0": lambda it: 0 < it.meta["psum"] <= 65536,
    "v_min_-2048": lambda it: it.meta["vmin"] == -2048,
    "v_max_2047": lambda it: it.meta["vmax"] == 2047,
}


def _e(item: StreamItem) -> np.ndarray:
    if "e" not in item.meta:
        item.meta["e"] = unpack([item.beats[0]["data"]], cfg()[1], EW, signed=True)[0]
    return item.meta["e"]


OUT_BINS = {
    "e_sat_pos": lambda it: bool((_e(it) == fixed.E_MAX).any()),
    "e_sat_neg": lambda it: bool((_e(it) == fixed.E_MIN).any()),
    "e_negative": lambda it: bool((_e(it) < 0).any()),
    "e_all_zero": lambda it: not _e(it).any(),
}


class QueryCoverage(CoverageSubscriber):
    bins = QUERY_BINS


class OutCoverage(CoverageSubscriber):
    bins = OUT_BINS


class PvEnv(uvm_env):
    def build_phase(self) -> None:
        self.src = StreamAgent("src", self)
        self.snk = StreamAgent("snk", self)
        self.sb = Scoreboard("sb", self)
        self.qcov = QueryCoverage("qcov", self)
        self.outcov = OutCoverage("outcov", self)
        self.hs = StreamObserver("hs", self)
        self.hs.ports = (Port("in"), Port("e", last=False, bins=("stall",)))  # E: one-beat packets
        self.query_ap = uvm_analysis_port("query_ap", self)

    def connect_phase(self) -> None:
        self.src.ap.connect(self.sb.inp.analysis_export)
        self.snk.ap.connect(self.sb.out.analysis_export)
        self.snk.ap.connect(self.outcov.analysis_export)
        self.query_ap.connect(self.qcov.analysis_export)


# ============================================================ tests
def bulk_queries(default: int) -> int:
    """Queries of the bulk test: 10,000 at paper scale on Verilator (override SPATTEN_PV_ROWS)."""
    if "SPATTEN_PV_ROWS" in os.environ:
        return int(os.environ["SPATTEN_PV_ROWS"])
    lanes, d = cfg()
    paper = lanes * d >= 512 and on_verilator()
    return 10_000 if paper else default


class PvTest(uvm_test):
    """Directed corner queries then random queries, random idle and backpressure."""

    idle = 0.25
    backpressure = 0.5
    queries = 250
    directed = True
    coverage_required = True
    handshake_bins: tuple[str, ...] = ("in_stall", "in_gap", "e_stall")
    model_class = PvModel

    def build_phase(self) -> None:
        self.rng = seed_all(type(self).__name__)
        self.lanes, self.d = cfg()
        ConfigDB().set(None, "*env.src", "cfg", StreamAgentConfig(
            "in", fields=("prob", "v", "keep"), idle=self.idle))
        ConfigDB().set(None, "*env.snk", "cfg", StreamAgentConfig(
            "e", fields=("data",), role="sink", backpressure=self.backpressure))
        self.env = PvEnv("env", self)

    def connect_phase(self) -> None:
        self.env.sb.model = self.model_class(self.env.query_ap)
        self.env.qcov.required = self.env.outcov.required = self.coverage_required
        self.env.hs.required = self.handshake_bins

    def query_count(self) -> int:
        return self.queries

    def make_queries(self) -> list[Query]:
        qs = directed_queries(self.rng, self.lanes, self.d) if self.directed else []
        return qs + [random_query(self.rng, self.lanes, self.d) for _ in range(self.query_count())]

    async def run_phase(self) -> None:
        self.raise_objection()
        dut = cocotb.top
        dut.rst_n.value = 0
        start_clock(dut.clk)
        await reset(dut.clk, dut.rst_n)
        items = [q.item(self.lanes, self.d) for q in self.make_queries()]
        beats = sum(len(it.beats) for it in items)
        self.logger.info(f"{len(items)} queries, {beats} beats")
        await send_all([(self.env.src.seqr, items)])
        await wait_drained(dut.clk, self.env.sb, [self.env.src.driver.source],
                           timeout_cycles=20 * beats + 100 * len(items) + 2000)
        await self.after_drain()
        self.drop_objection()

    async def after_drain(self) -> None:
        pass


class PvBulkTest(PvTest):
    """The regression: 10,000 random queries at paper scale on Verilator, light idle/backpressure."""

    idle = 0.05
    backpressure = 0.1

    handshake_bins = ()  # covered by the random test; no per-cycle observer here

    def connect_phase(self) -> None:
        super().connect_phase()
        self.env.hs.enabled = False

    def query_count(self) -> int:
        return bulk_queries(400)


class PvThroughputTest(PvTest):
    """No idle, no backpressure: back-to-back queries of 64 and 1024 kept rows; cycles/query."""

    idle = backpressure = 0.0
    directed = False
    coverage_required = False
    handshake_bins = ()
    lengths = ((64, 6), (1024, 2))

    def make_queries(self) -> list[Query]:
        qs = []
        for n, count in self.lengths:
            qs += [random_query(self.rng, self.lanes, self.d, n, "softmax") for _ in range(count)]
        return qs

    async def after_drain(self) -> None:
        hs, lat = self.env.hs, latency(self.lanes)
        starts, ends = hs.starts["in"], hs.ends["e"]
        i = 0
        for n, count in self.lengths:
            ideal = n / self.lanes
            nb = -(-n // self.lanes)
            first = ends[i] - starts[i] + 1
            batch = (ends[i + count - 1] - starts[i] + 1) / count
            steady = (ends[i + count - 1] - ends[i]) / (count - 1)
            self.logger.info(f"CYCLES L={n} LANES={self.lanes} D={self.d}: ideal L/LANES={ideal:g}, "
                             f"query alone {first} (latency {lat}), {count} back-to-back queries "
                             f"{batch:g}/query, steady state {steady:g}/query")
            assert steady == nb, f"L={n}: {steady} cycles/query in steady state, expected {nb}"
            assert first <= 1.1 * ideal + lat + 1, f"L={n}: {first} cycles for one query"
            i += count


@pyuvm.test()
class PvRandomTest(PvTest):
    pass


@pyuvm.test()
class PvBulkRegressionTest(PvBulkTest):
    pass


@pyuvm.test()
class PvCyclesTest(PvThroughputTest):
    pass


@pyuvm.test(expect_error=ScoreboardError)
class PvBrokenModelTest(PvTest):
    queries = 10
    directed = False
    coverage_required = False
    handshake_bins = ()
    model_class = BrokenPvModel


# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    ("pv_array.v", "wire [AW-1:0] base = first_q ? {AW{1'b0}} : acc_q[d*AW +: AW];",
     "wire [AW-1:0] base = acc_q[d*AW +: AW];", "pv accumulator not cleared between queries"),
    ("pv_array.v", "wire [PBW:0] p = {1'b0, in_keep[l] ? in_prob[l*PBW +: PBW] : {PBW{1'b0}}};",
     "wire [PBW:0] p = {1'b0, in_prob[l*PBW +: PBW]};", "pv keep mask ignored"),
    ("pv_array.v",
     "wire       [EW-1:0] sat = (r > EMAX) ? EMAX[EW-1:0] : (r < EMIN) ? EMIN[EW-1:0] : r[EW-1:0];",
     "wire       [EW-1:0] sat = r[EW-1:0];", "pv E wraps instead of saturating"),
]


@pytest.mark.long
@pytest.mark.sim
def test_pv_array(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.only_sim("verilator")
def test_pv_array_sweep(sim: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """make regress: 50,000 more random rows at paper scale (SPATTEN_SWEEP_ROWS overrides)."""
    monkeypatch.setenv("SPATTEN_PV_ROWS", os.environ.get("SPATTEN_SWEEP_ROWS", "50000"))
    run_sweep(BENCH, sim, PAPER, "PvBulkRegressionTest")

"""qk_array: Q·K scores bit-exact against golden qk_dot + reconstruct + qk_score.

A sequence item is one row: the query item (D/QW beats, row context on the last beat) and
the key item (LANES keys per beat, keep mask, last). The scoreboard's model pairs every key
row with the oldest query not yet used (the DUT double-buffers queries), rebuilds the keys
with golden ``reconstruct`` and predicts the score beats. Coverage: row bins (length, partial
beat, precision mode, extreme operands, scale extremes), output bins (saturation of both
signs) and handshake bins (source gaps, stalls, backpressure).
"""

from __future__ import annotations

import math
import os
from collections import deque

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

BENCH = Bench("qk_array", ["qk_array.v"], {"LANES": 2, "D": 8, "QW": 4})
PAPER = {"LANES": 8, "D": 64, "QW": 64}
# Paper scale runs on Verilator (~80x faster on this datapath; plus a small build with a
# multi-beat query for code coverage); Icarus gets small configs that exercise the same logic
# (D = 32 with a 4-beat query, LANES = 1, D = 1: no adder-tree level).
SIM_CONFIGS = {
    "verilator": [PAPER, {"LANES": 2, "D": 8, "QW": 4}],
    "icarus": [{"LANES": 2, "D": 32, "QW": 8}, {"LANES": 1, "D": 8, "QW": 8},
               {"LANES": 4, "D": 1, "QW": 1}],
}

DW, SW = fixed.DATA_W, fixed.SCORE_W


def cfg() -> tuple[int, int, int]:
    p = params()
    return p["LANES"], p["D"], p.get("QW", p["D"])


def latency(d: int) -> int:
    """Documented latency: key beat accepted -> its score beat valid on s_*."""
    return int(math.log2(d)) + 4


# ============================================================ rows (stimulus)
class Row:
    """One row: query [D], keys laid out in beats [nb, LANES, D], keep [nb, LANES], context."""

    def __init__(self, q: np.ndarray, keys: np.ndarray, keep: np.ndarray, mult: int, shift: int,
                 known: int) -> None:
        self.q, self.keys, self.keep = q, keys, keep
        self.mult, self.shift, self.known = int(mult), int(shift), int(known)

    def items(self, lanes: int, d: int, qw: int) -> tuple[StreamItem, StreamItem]:
        qwords = pack(self.q.reshape(d // qw, qw), DW)
        qbeats = [{"data": w, "mult": self.mult, "shift": self.shift, "known": self.known,
                   "last": int(i == len(qwords) - 1)} for i, w in enumerate(qwords)]
        nb = self.keys.shape[0]
        kwords = pack(self.keys.reshape(nb, lanes * d), DW)
        kkeep = pack(self.keep.astype(np.int64), 1)
        kbeats = [{"data": w, "keep": m, "last": int(i == nb - 1)}
                  for i, (w, m) in enumerate(zip(kwords, kkeep, strict=True))]
        return StreamItem("q", qbeats), StreamItem("k", kbeats)


def _values(rng: np.random.Generator, shape: tuple, kind: str) -> np.ndarray:
    if kind == "uniform":
        return rng.integers(-2048, 2048, size=shape)
    if kind == "extreme":
        return rng.choice(np.array([-2048, 2047, -2047, 0, -1, 1]), size=shape)
    if kind == "small":
        return rng.integers(-8, 9, size=shape)
    return np.clip(np.rint(rng.normal(0, 300, size=shape)), -2048, 2047).astype(np.int64)


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


def random_scale(rng: np.random.Generator, d: int) -> tuple[int, int]:
    u = rng.random()
    if u < 0.5:  # realistic: the CSRs the system model computes for random tensor scales
        return fixed.score_scale_params(10 ** rng.uniform(-4, -1), 10 ** rng.uniform(-4, -1), d)
    if u < 0.8:
        return int(rng.integers(0, 1 << 16)), int(rng.integers(0, 64))
    return int(rng.choice([0, 1, 65535])), int(rng.choice([0, 1, 15, 30, 40, 63]))


def random_row(rng: np.random.Generator, lanes: int, d: int, length: int | None = None) -> Row:
    n = random_length(rng, lanes) if length is None else length
    nb = -(-n // lanes)
    keep = (np.arange(nb * lanes) < n).reshape(nb, lanes)  # a prefix: partial last beat
    if length is None and nb > 1 and rng.random() < 0.1:
        keep = rng.random((nb, lanes)) < 0.7  # holes anywhere (the keep mask is per lane)
        keep[0, 0] = True
    kinds = ["uniform", "extreme", "small", "gauss"]
    q = _values(rng, (d,), kinds[int(rng.integers(0, 4))])
    keys = _values(rng, (nb, lanes, d), kinds[int(rng.integers(0, 4))])
    known = 12 if rng.random() < 0.5 else int(rng.integers(1, 12))
    mult, shift = random_scale(rng, d)
    return Row(q, keys, keep, mult, shift, known)


def directed_rows(rng: np.random.Generator, lanes: int, d: int) -> list[Row]:
    """Rows that hit the corner bins in every run."""
    def row(n: int, q: int | None, k: int | None, mult: int, shift: int, known: int = 12) -> Row:
        r = random_row(rng, lanes, d, n)
        if q is not None:
            r.q = np.full(d, q, dtype=np.int64)
        if k is not None:
            r.keys = np.full_like(r.keys, k)
        r.mult, r.shift, r.known = mult, shift, known
        return r

    rows = [
        row(1, 2047, 2047, 65535, 0),                # saturates positive
        row(lanes + 1, 2047, -2048, 65535, 0),       # saturates negative, partial last beat
        row(1, -2048, -2048, 1, 0),                  # largest product, unscaled
        row(3 * lanes, None, None, 40000, 63),       # shift 63: everything rounds to 0
        row(2 * lanes, None, None, 0, 5, known=1),   # 1 known bit (sign + fill)
        row(1024, None, None, *fixed.score_scale_params(0.01, 0.02, d), 6),  # long MSB-only row
    ]
    rows[3].q = rng.integers(-2048, 2048, size=d)
    rows[4].q = rng.integers(-2048, 2048, size=d)
    rows[5].q = rng.integers(-2048, 2048, size=d)
    return rows


# ============================================================ model and coverage
class QkModel:
    """Scoreboard model: q items are stored, each k item is scored with the oldest query."""

    def __init__(self, row_ap: uvm_analysis_port | None = None) -> None:
        self.lanes, self.d, self.qw = cfg()
        self.queries: deque = deque()
        self.row_ap = row_ap
        self.rows = 0

    def __call__(self, item: StreamItem) -> list[StreamItem]:
        beats = item.beats
        if "mult" in beats[0]:
            q = unpack([b["data"] for b in beats], self.qw, DW, signed=True).reshape(-1)
            last = beats[-1]
            self.queries.append((q[-self.d:], last["mult"], last["shift"], last["known"]))
            return []
        q, mult, shift, known = self.queries.popleft()
        nb = len(beats)
        keys = unpack([b["data"] for b in beats], self.lanes * self.d, DW, signed=True)
        keys = keys.reshape(nb * self.lanes, self.d)
        keep = unpack([b["keep"] for b in beats], self.lanes, 1, signed=False).astype(bool)
        kbits = known if 1 <= known <= 12 else 12
        kr = fixed.reconstruct(keys, kbits)
        scores = blocks.qk_score(blocks.qk_dot(q[None, :], kr)[0], mult, shift)
        scores = np.where(keep.reshape(-1), scores, 0).reshape(nb, self.lanes)
        scores = self.corrupt(scores)
        self.rows += 1
        if self.row_ap is not None:
            kept = kr[keep.reshape(-1)]
            self.row_ap.write(StreamItem("row", [], {
                "n": int(keep.sum()), "partial": not keep[-1].all(),
                "holes": bool((~keep[:-1]).any()), "known": kbits, "raw_known": known,
                "kmin": int(kept.min()), "kmax": int(kept.max()),
                "qmin": int(q.min()), "qmax": int(q.max()), "mult": mult, "shift": shift}))
        words = pack(scores, SW)
        return [StreamItem("expected", [
            {"data": w, "keep": b["keep"], "last": b["last"]} for w, b in zip(words, beats, strict=True)])]

    def corrupt(self, scores: np.ndarray) -> np.ndarray:
        return scores


class BrokenQkModel(QkModel):
    """Deliberately wrong: the first kept score of the 5th row is off by one LSB."""

    def corrupt(self, scores: np.ndarray) -> np.ndarray:
        if self.rows == 4:
            scores = scores.copy()
            scores.reshape(-1)[0] += 1
        return scores


ROW_BINS = {
    "row_len_1": lambda it: it.meta["n"] == 1,
    "row_len_long_1024": lambda it: it.meta["n"] >= 1024,
    "partial_last_beat": lambda it: it.meta["partial"],
    "keep_holes": lambda it: it.meta["holes"],
    "msb_only_keys": lambda it: it.meta["known"] < 12,
    "msb_1_bit": lambda it: it.meta["known"] == 1,
    "full_precision_keys": lambda it: it.meta["known"] == 12,
    "key_min_-2048": lambda it: it.meta["kmin"] == -2048,
    "key_max_2047": lambda it: it.meta["kmax"] == 2047,
    "query_min_-2048": lambda it: it.meta["qmin"] == -2048,
    "query_max_2047": lambda it: it.meta["qmax"] == 2047,
    "negative_keys": lambda it: it.meta["kmin"] < 0,
    "mult_zero": lambda it: it.meta["mult"] == 0,
    "mult_max": lambda it: it.meta["mult"] == 65535,
    "shift_zero": lambda it: it.meta["shift"] == 0,
    "shift_max_63": lambda it: it.meta["shift"] == 63,
}


def _scores(item: StreamItem) -> np.ndarray:
    if "scores" not in item.meta:
        lanes = cfg()[0]
        s = unpack([b["data"] for b in item.beats], lanes, SW, signed=True)
        k = unpack([b["keep"] for b in item.beats], lanes, 1, signed=False).astype(bool)
        item.meta["scores"] = s[k]
    return item.meta["scores"]


OUT_BINS = {
    "score_sat_pos": lambda it: bool((_scores(it) == fixed.SCORE_MAX).any()),
    "score_sat_neg": lambda it: bool((_scores(it) == fixed.SCORE_MIN).any()),
    "score_negative": lambda it: bool((_scores(it) < 0).any()),
    "score_positive": lambda it: bool((_scores(it) > 0).any()),
}


class RowCoverage(CoverageSubscriber):
    bins = ROW_BINS


class OutCoverage(CoverageSubscriber):
    bins = OUT_BINS


class QkEnv(uvm_env):
    def build_phase(self) -> None:
        self.q = StreamAgent("q", self)
        self.k = StreamAgent("k", self)
        self.s = StreamAgent("s", self)
        self.sb = Scoreboard("sb", self)
        self.rowcov = RowCoverage("rowcov", self)
        self.outcov = OutCoverage("outcov", self)
        self.hs = StreamObserver("hs", self)
        self.hs.ports = (Port("q"), Port("k"), Port("s"))
        self.row_ap = uvm_analysis_port("row_ap", self)

    def connect_phase(self) -> None:
        self.q.ap.connect(self.sb.inp.analysis_export)
        self.k.ap.connect(self.sb.inp.analysis_export)
        self.s.ap.connect(self.sb.out.analysis_export)
        self.s.ap.connect(self.outcov.analysis_export)
        self.row_ap.connect(self.rowcov.analysis_export)


# ============================================================ tests
def bulk_rows(default: int) -> int:
    """Rows of the bulk test: 10,000 at paper scale on Verilator (override SPATTEN_QK_ROWS)."""
    if "SPATTEN_QK_ROWS" in os.environ:
        return int(os.environ["SPATTEN_QK_ROWS"])
    lanes, d, _ = cfg()
    paper = lanes * d >= 512 and on_verilator()
    return 10_000 if paper else default


class QkTest(uvm_test):
    """Directed corner rows then random rows, random idle on both sources, backpressure."""

    q_idle = 0.3
    k_idle = 0.2
    backpressure = 0.3
    rows = 250
    directed = True
    coverage_required = True
    handshake_bins: tuple[str, ...] = ("q_stall", "k_stall", "k_gap", "s_stall")
    model_class = QkModel

    def build_phase(self) -> None:
        self.rng = seed_all(type(self).__name__)
        self.lanes, self.d, self.qw = cfg()
        ConfigDB().set(None, "*env.q", "cfg", StreamAgentConfig(
            "q", fields=("data", "mult", "shift", "known"), idle=self.q_idle))
        ConfigDB().set(None, "*env.k", "cfg", StreamAgentConfig(
            "k", fields=("data", "keep"), idle=self.k_idle))
        ConfigDB().set(None, "*env.s", "cfg", StreamAgentConfig(
            "s", fields=("data", "keep"), role="sink", backpressure=self.backpressure))
        self.env = QkEnv("env", self)

    def connect_phase(self) -> None:
        self.env.sb.model = self.model_class(self.env.row_ap)
        self.env.rowcov.required = self.env.outcov.required = self.coverage_required
        self.env.hs.required = self.handshake_bins

    def make_rows(self) -> list[Row]:
        rows = directed_rows(self.rng, self.lanes, self.d) if self.directed else []
        rows += [random_row(self.rng, self.lanes, self.d) for _ in range(self.row_count())]
        return rows

    def row_count(self) -> int:
        return self.rows

    async def run_phase(self) -> None:
        self.raise_objection()
        dut = cocotb.top
        dut.rst_n.value = 0
        start_clock(dut.clk)
        await reset(dut.clk, dut.rst_n)
        rows = self.make_rows()
        items = [r.items(self.lanes, self.d, self.qw) for r in rows]
        beats = sum(len(k.beats) for _, k in items)
        self.logger.info(f"{len(rows)} rows, {beats} key beats")
        await send_all([(self.env.q.seqr, [q for q, _ in items]),
                        (self.env.k.seqr, [k for _, k in items])])
        await wait_drained(dut.clk, self.env.sb,
                           [self.env.q.driver.source, self.env.k.driver.source],
                           timeout_cycles=20 * beats + 100 * len(rows) + 2000)
        await self.after_drain()
        self.drop_objection()

    async def after_drain(self) -> None:
        pass


class QkBulkTest(QkTest):
    """The regression: 10,000 random rows at paper scale on Verilator, light idle/backpressure."""

    q_idle = 0.02
    k_idle = 0.05
    backpressure = 0.1

    handshake_bins = ()  # covered by the random test; no per-cycle observer here

    def connect_phase(self) -> None:
        super().connect_phase()
        self.env.hs.enabled = False

    def row_count(self) -> int:
        return bulk_rows(400)


class QkThroughputTest(QkTest):
    """No idle, no backpressure: back-to-back rows of L = 64 and L = 1024 keys; cycles/row."""

    q_idle = k_idle = backpressure = 0.0
    directed = False
    coverage_required = False
    handshake_bins = ()
    lengths = ((64, 6), (1024, 2))

    def make_rows(self) -> list[Row]:
        rows = []
        for n, count in self.lengths:
            rows += [random_row(self.rng, self.lanes, self.d, n) for _ in range(count)]
        return rows

    async def after_drain(self) -> None:
        hs, lat = self.env.hs, latency(self.d)
        k_start, s_end = hs.starts["k"], hs.ends["s"]
        i = 0
        for n, count in self.lengths:
            ideal = n / self.lanes
            nb = -(-n // self.lanes)
            first = s_end[i] - k_start[i] + 1  # one row alone: beats + pipeline latency
            batch = (s_end[i + count - 1] - k_start[i] + 1) / count
            steady = (s_end[i + count - 1] - s_end[i]) / (count - 1)
            self.logger.info(f"CYCLES L={n} LANES={self.lanes} D={self.d}: ideal L/LANES={ideal:g}, "
                             f"row alone {first} (latency {lat}), {count} back-to-back rows "
                             f"{batch:g}/row, steady state {steady:g}/row")
            assert steady == nb, f"L={n}: {steady} cycles/row in steady state, expected {nb}"
            assert first <= 1.1 * ideal + lat + 1, f"L={n}: {first} cycles for one row"
            i += count


@pyuvm.test()
class QkRandomTest(QkTest):
    pass


@pyuvm.test()
class QkBulkRegressionTest(QkBulkTest):
    pass


@pyuvm.test()
class QkCyclesTest(QkThroughputTest):
    pass


@pyuvm.test(expect_error=ScoreboardError)
class QkBrokenModelTest(QkTest):
    rows = 10
    directed = False
    coverage_required = False
    handshake_bins = ()
    model_class = BrokenQkModel


# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    ("qk_array.v", "wire signed [XW-1:0] t1    = t + XW'(1);",
     "wire signed [XW-1:0] t1    = t;", "qk score rounding truncates"),
    ("qk_array.v", "wire [DW-1:0] pend_fill = (pend_mask >> 1) & ~pend_mask;",
     "wire [DW-1:0] pend_fill = {DW{1'b0}};", "qk MSB-only keys without the 10..0 fill"),
    ("qk_array.v", "wire swap     = pend_valid_q & (~act_valid_q | row_end);",
     "wire swap     = pend_valid_q;", "qk next query replaces the active one mid-row"),
]


@pytest.mark.long
@pytest.mark.sim
def test_qk_array(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.only_sim("verilator")
def test_qk_array_sweep(sim: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """make regress: 50,000 more random rows at paper scale (SPATTEN_SWEEP_ROWS overrides)."""
    monkeypatch.setenv("SPATTEN_QK_ROWS", os.environ.get("SPATTEN_SWEEP_ROWS", "50000"))
    run_sweep(BENCH, sim, PAPER, "QkBulkRegressionTest")

"""softmax: bit-exact against golden.blocks.softmax on random and corner-case rows (one row =
one sequence item), under idle and backpressure; steady-state cycles per row measured against
the ideal L/LANES (docs/softmax.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
import pytest
import pyuvm
from pyuvm import ConfigDB, uvm_env, uvm_sequence, uvm_subscriber, uvm_test

from golden import blocks, fixed
from verif.observer import Port, StreamObserver
from verif.rowstream import beats_to_row, prefix_keeps, row_to_beats
from verif.runner import Bench
from verif.seeding import on_verilator, params, seed_all, seed_text
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

BENCH = Bench("softmax", ["softmax.v"], {"LANES": 8, "MAX_N": 1024, "NBUF": 3, "RECIP_STEPS": 4})
CONFIGS = [{"LANES": 8, "MAX_N": 1024}, {"LANES": 4, "MAX_N": 64}]
SLOW_CONFIGS = [{"LANES": 8, "MAX_N": 4096}, {"LANES": 3, "MAX_N": 50, "NBUF": 2, "RECIP_STEPS": 1}]

SW, PW = fixed.SCORE_W, fixed.PROB_W
S_MIN, S_MAX = fixed.SCORE_MIN, fixed.SCORE_MAX
REQUANT_THRESHOLD = blocks.prob_threshold(0.05)  # the system's default (3277)
# Asserted on every row a SoftmaxTest checks: |p_dut - p_float| <= this many UQ0.16 LSBs.
# The worst case measured over the regression's seeds and configurations, harsh rows included,
# is 1.031 LSB (docs/softmax.md section 4); the bound is that rounded up to 1.05.
ERROR_BOUND_LSB = 1.05


class ErrorBoundExceeded(AssertionError):
    """A row's probabilities are further from the float softmax than the documented bound."""


# ================================================================ model =======================
def max_beats() -> int:
    p = params()
    return -(-p["MAX_N"] // p["LANES"])


def chunks(item: StreamItem) -> list[StreamItem]:
    """The rows the DUT makes of an input packet: a packet longer than the row buffer is cut
    every ceil(MAX_N/LANES) beats (a usage error the DUT survives, see docs/softmax.md)."""
    if "chunks" not in item.meta:
        mb = max_beats()
        item.meta["chunks"] = [
            item if len(item.beats) <= mb else StreamItem("chunk", item.beats[i : i + mb])
            for i in range(0, len(item.beats), mb)
        ]
    return item.meta["chunks"]


def decode(item: StreamItem) -> dict:
    """Scores, keeps and golden results of one row (cached in the item's meta)."""
    if "row" not in item.meta:
        lanes = params()["LANES"]
        scores, keeps = beats_to_row(item.beats, lanes, SW, signed=True)
        probs, maxp = blocks.softmax(scores)
        item.meta["row"] = {
            "scores": scores,
            "keeps": keeps,
            "probs": probs,
            "maxp": int(maxp),
            "lanes": lanes,
        }
    return item.meta["row"]


def softmax_model(item: StreamItem) -> list[StreamItem]:
    out = []
    for c in chunks(item):
        row = decode(c)
        probs = [int(p) for p in row["probs"]]
        beats = row_to_beats(probs, row["lanes"], PW, row["keeps"], extra={"maxp": row["maxp"]})
        out.append(StreamItem("expected", beats))
    return out


def broken_model(item: StreamItem) -> list[StreamItem]:
    """Deliberately wrong: the third row's first probability is off by one LSB."""
    broken_model.calls = getattr(broken_model, "calls", 0) + 1
    out = softmax_model(item)
    if broken_model.calls == 3:
        out[0].beats[0]["data"] ^= 1
    return out


# ================================================================ stimulus ====================
class RowGen:
    """Random and corner-case rows of Q11.8 scores (numpy generator seeded from the test seed)."""

    KINDS = (
        "normal",
        "normal",
        "normal",
        "wide",
        "uniform",
        "ties",
        "flat",
        "peaked",
        "extremes",
        "t_edges",
    )

    def __init__(self, rng: np.random.Generator, lanes: int, max_n: int) -> None:
        self.rng, self.lanes, self.max_n = rng, lanes, max_n

    def length(self, long_frac: float) -> int:
        r = self.rng
        if r.random() < long_frac:
            return int(r.integers(65, self.max_n + 1)) if self.max_n > 65 else self.max_n
        return int(r.integers(1, min(64, self.max_n) + 1))

    def scores(self, n: int, kind: str) -> np.ndarray:
        r = self.rng
        if kind in ("normal", "wide"):
            sigma = r.choice([0.25, 1, 4, 16]) if kind == "normal" else r.choice([40, 200, 2000])
            centre = int(r.integers(S_MIN // 2, S_MAX // 2))
            s = np.rint(r.normal(centre, sigma * 256, n))
        elif kind == "uniform":
            s = r.integers(S_MIN, S_MAX + 1, n)
        elif kind == "ties":
            s = r.integers(-24, 25, n) + int(r.integers(-1000, 1000))
        elif kind == "flat":
            s = np.full(n, int(r.choice([S_MIN, S_MAX, 0, int(r.integers(S_MIN, S_MAX))])))
        elif kind == "peaked":
            s = r.integers(S_MIN, S_MIN + 2000, n)
            s[int(r.integers(n))] = int(r.integers(0, S_MAX))
        elif kind == "extremes":
            s = r.choice([S_MIN, S_MIN + 1, S_MAX, S_MAX - 1, -1, 0], n)
        else:  # t_edges: t around the LUT/shift corners (6400: shift 31 still rounds to 1)
            top = int(r.integers(S_MIN + 9000, S_MAX + 1))
            edges = [0, 6400, 1, 15, 16, 255, 256, 6399, 6401, 6656, 7935, 8191, 8192, 9000]
            t = r.choice(edges, n)
            t[: min(n, len(edges))] = edges[:n]
            s = top - t
        return np.clip(s, S_MIN, S_MAX).astype(np.int64)

    def keeps(self, n: int, sparse: bool) -> list[int]:
        if not sparse:
            return prefix_keeps(n, self.lanes)
        # random masks (each beat keeps >= 1 lane) within the row-buffer's beat budget
        max_beats = -(-self.max_n // self.lanes)
        beats = int(self.rng.integers(-(-n // self.lanes), min(max_beats, n) + 1))
        counts = np.ones(beats, dtype=int)
        for _ in range(n - beats):  # spread the remaining lanes
            free = np.flatnonzero(counts < self.lanes)
            counts[self.rng.choice(free)] += 1
        out = []
        for c in counts:
            lanes = self.rng.choice(self.lanes, int(c), replace=False)
            out.append(int(sum(1 << int(i) for i in lanes)))
        return out

    def row(self, n: int, kind: str | None = None, sparse: bool = False) -> StreamItem:
        kind = kind or str(self.rng.choice(self.KINDS))
        s = self.scores(n, kind)
        beats = row_to_beats([int(v) for v in s], self.lanes, SW, self.keeps(n, sparse))
        return StreamItem(f"row_{kind}_{n}", beats)

    def directed(self) -> list[StreamItem]:
        """Corner rows every random test starts with."""
        n_max, lanes, rows = self.max_n, self.lanes, []
        for n in (1, 2, lanes, lanes + 1, n_max):
            for kind in ("normal", "extremes", "flat"):
                rows.append(self.row(n, kind))
        for v in (S_MIN, S_MAX, 0, -1):
            rows.append(
                StreamItem("const", row_to_beats([v] * min(n_max, 3 * lanes + 1), lanes, SW))
            )
        rows.append(
            StreamItem(
                "minmax", row_to_beats([S_MAX, S_MIN] * (min(n_max, 16) // 2) or [S_MAX], lanes, SW)
            )
        )
        rows.append(self.row(min(n_max, 40), "t_edges"))
        rows.append(self.row(min(n_max, 40), "peaked"))
        rows.append(self.row(n_max, "uniform"))
        # too long for the row buffer (no last within ceil(MAX_N/LANES) beats): cut into two rows
        mb = -(-n_max // lanes)
        long_scores = self.scores(mb * lanes + lanes + 3, "normal")
        rows.append(StreamItem("overlong", row_to_beats([int(v) for v in long_scores], lanes, SW)))
        rows.append(self.row(2, "normal"))
        return rows


class RowSequence(uvm_sequence):
    def __init__(self, name: str, items: list[StreamItem]) -> None:
        super().__init__(name)
        self.items = items

    async def body(self) -> None:
        for item in self.items:
            await self.start_item(item)
            await self.finish_item(item)


# ================================================================ coverage ====================
def _t_values(row: dict) -> np.ndarray:
    s = row["scores"]
    return s.max() - s


ROW_BINS = {
    "row_len_1": lambda r: len(r["scores"]) == 1,
    "row_len_max_n": lambda r: len(r["scores"]) == params()["MAX_N"],
    "long_row_over_256": lambda r: len(r["scores"]) > 256,
    "partial_last_beat": lambda r: r["keeps"][-1] != (1 << r["lanes"]) - 1,
    "full_last_beat": lambda r: r["keeps"][-1] == (1 << r["lanes"]) - 1,
    "sparse_keep_mid_row": lambda r: any(k != (1 << r["lanes"]) - 1 for k in r["keeps"][:-1]),
    "t_saturates": lambda r: bool((_t_values(r) > fixed.T_MAX).any()),
    "exp_flushes_to_0": lambda r: bool(
        (fixed.exp2_neg(np.minimum(_t_values(r), fixed.T_MAX)) == 0).any()
    ),
    "t_6400_rounds_to_1": lambda r: bool((_t_values(r) == 6400).any()),
    "score_at_max": lambda r: bool((r["scores"] == S_MAX).any()),
    "score_at_min": lambda r: bool((r["scores"] == S_MIN).any()),
    "all_negative": lambda r: int(r["scores"].max()) < 0,
    "flat_row": lambda r: len(r["scores"]) > 1 and int(np.ptp(r["scores"])) == 0,
    "peaked_row_maxp_saturates": lambda r: len(r["scores"]) > 1 and r["maxp"] == fixed.PROB_MAX,
    "many_ties_at_max": lambda r: int((r["scores"] == r["scores"].max()).sum()) >= 3,
    "requant_taken": lambda r: bool(blocks.need_requant(r["maxp"], REQUANT_THRESHOLD)),
    "requant_not_taken": lambda r: not blocks.need_requant(r["maxp"], REQUANT_THRESHOLD),
}


class RowCoverage(CoverageSubscriber):
    """Bins over the decoded input rows (and their golden results)."""

    def build_phase(self) -> None:
        skip = set() if params()["MAX_N"] > 256 else {"long_row_over_256"}
        self.bins = {
            k: (lambda it, f=f: f(decode(chunks(it)[0])))
            for k, f in ROW_BINS.items()
            if k not in skip
        }
        self.bins["overlong_row_cut"] = lambda it: len(chunks(it)) > 1
        super().build_phase()


PROTO_BINS = ("out_backpressure", "in_idle_mid_row", "in_stalled_by_dut", "out_row_back_to_back")


# the stream observer's ports, with this bench's bin names (stall = backpressure / DUT stall)
PROTO_PORTS = (
    Port("in", bins={"gap": "in_idle_mid_row", "stall": "in_stalled_by_dut"}),
    Port("out", bins={"stall": "out_backpressure", "back_to_back": "out_row_back_to_back"},
         hold=("data", "keep", "maxp")),
)


class RowTimer(uvm_subscriber):
    """Completion cycle (and the item) of every row on the port it listens to."""

    def build_phase(self) -> None:
        self.cycles: list[int] = []
        self.items: list[StreamItem] = []

    def write(self, item: StreamItem) -> None:
        self.cycles.append(item.meta["cycle"])
        self.items.append(item)


def error_vs_float(inputs: list[StreamItem], outputs: list[StreamItem]) -> dict:
    """|p_dut - p_float| in UQ0.16 LSBs over every probability the DUT produced, and the
    worst row (index in the output stream, length, its max error)."""
    errs, sat = [], []
    rows = [c for i in inputs for c in chunks(i)]
    for i, o in zip(rows, outputs, strict=False):
        row = decode(i)
        got, _ = beats_to_row(o.beats, row["lanes"], PW)
        errs.append(np.abs(got / 65536.0 - blocks.softmax_float(row["scores"])) * 65536.0)
        sat.append(got == fixed.PROB_MAX)
    worst = int(np.argmax([x.max() if x.size else 0.0 for x in errs])) if errs else 0
    e = np.concatenate(errs) if errs else np.zeros(1)
    s = np.concatenate(sat) if sat else np.zeros(1, dtype=bool)
    unsat = e[~s] if (~s).any() else np.zeros(1)
    return {
        "rows": len(errs),
        "probs": int(e.size),
        "max_lsb": float(e.max()),
        "max_lsb_unsaturated": float(unsat.max()),
        "mean_lsb": float(e.mean()),
        "p999_lsb": float(np.quantile(e, 0.999)),
        "saturated_to_65535": int(s.sum()),
        "worst_row": {"index": worst, "length": int(errs[worst].size) if errs else 0},
    }


# ================================================================ env and tests ===============
class SoftmaxEnv(uvm_env):
    def build_phase(self) -> None:
        self.src = StreamAgent("src", self)
        self.snk = StreamAgent("snk", self)
        self.sb = Scoreboard("sb", self)
        self.cov = RowCoverage("cov", self)
        self.proto = StreamObserver("proto", self)
        self.proto.ports, self.proto.required = PROTO_PORTS, PROTO_BINS
        self.t_in = RowTimer("t_in", self)
        self.t_out = RowTimer("t_out", self)

    def connect_phase(self) -> None:
        self.src.ap.connect(self.sb.inp.analysis_export)
        self.src.ap.connect(self.cov.analysis_export)
        self.src.ap.connect(self.t_in.analysis_export)
        self.snk.ap.connect(self.sb.out.analysis_export)
        self.snk.ap.connect(self.t_out.analysis_export)


class SoftmaxTest(uvm_test):
    """Directed corner rows, then random rows (mostly 1..64 long, a few up to MAX_N)."""

    idle = 0.15
    backpressure = 0.25
    rows_verilator = 10000
    rows_icarus = 2000
    long_frac = 0.01
    sparse_frac = 0.05
    directed = True
    coverage_required = True
    proto_required: tuple[str, ...] = PROTO_BINS
    model = staticmethod(softmax_model)
    error_bound = ERROR_BOUND_LSB  # |p - p_float| LSBs asserted on every checked row

    def build_phase(self) -> None:
        self.np_rng = seed_all(type(self).__name__)
        self.params = params()
        self.lanes, self.max_n = self.params["LANES"], self.params["MAX_N"]
        self.gen = RowGen(self.np_rng, self.lanes, self.max_n)
        ConfigDB().set(
            None,
            "*env.src",
            "cfg",
            StreamAgentConfig("in", fields=("data", "keep"), idle=self.idle),
        )
        ConfigDB().set(
            None,
            "*env.snk",
            "cfg",
            StreamAgentConfig(
                "out", fields=("data", "keep", "maxp"), role="sink", backpressure=self.backpressure
            ),
        )
        self.env = SoftmaxEnv("env", self)

    def connect_phase(self) -> None:
        self.env.sb.model = self.model
        self.env.cov.required = self.coverage_required
        self.env.proto.required = self.proto_required

    def rows(self) -> list[StreamItem]:
        n = self.rows_verilator if on_verilator() else self.rows_icarus
        if self.max_n < 1024:  # the small configuration: half the rows (the 10,000 run at 1024)
            n = max(n // 2, 1)
        n = int(os.environ.get("SOFTMAX_ROWS", n))  # quick runs while debugging
        items = self.gen.directed() if self.directed else []
        while len(items) < n:
            sparse = self.np_rng.random() < self.sparse_frac
            items.append(self.gen.row(self.gen.length(self.long_frac), sparse=sparse))
        return items

    async def run_phase(self) -> None:
        self.raise_objection()
        dut = cocotb.top
        dut.rst_n.value = 0
        start_clock(dut.clk)
        await reset(dut.clk, dut.rst_n)
        items = self.rows()
        beats = sum(len(it.beats) for it in items)
        self.logger.info(f"{len(items)} rows, {beats} beats ({seed_text()})")
        await RowSequence("rows", items).start(self.env.src.seqr)
        await wait_drained(
            dut.clk,
            self.env.sb,
            [self.env.src.driver.source],
            timeout_cycles=40 * beats + 100 * len(items) + 5000,
            # a long row leaves at 1/(1-backpressure) cycles per beat while the
            # full ring holds the source: no row completes for that long
            stall_cycles=2000 + 20 * -(-self.max_n // self.lanes),
        )
        self.check_error_bound()
        await self.after_drain(items)
        self.drop_objection()

    def check_error_bound(self) -> dict:
        """Every checked row within ``error_bound`` LSBs of the float softmax."""
        err = error_vs_float(self.env.t_in.items, self.env.t_out.items)
        err["bound_lsb"] = self.error_bound
        if err["max_lsb"] > self.error_bound:
            raise ErrorBoundExceeded(
                f"row {err['worst_row']['index']} (length {err['worst_row']['length']}): "
                f"{err['max_lsb']:.4f} LSB from the float softmax, bound {self.error_bound} "
                f"({seed_text()})")
        self.error = err
        return err

    async def after_drain(self, items: list[StreamItem]) -> None:
        """Hook for checks once all rows have come out."""


@pyuvm.test()
class SoftmaxRandomTest(SoftmaxTest):
    async def after_drain(self, items: list[StreamItem]) -> None:
        err = self.error
        self.logger.info(f"error vs float softmax: {err}")
        folder = Path(os.environ.get("SPATTEN_TEST_DIR", "."))
        (folder / "softmax_error.json").write_text(json.dumps(err, indent=1))


@pyuvm.test()
class SoftmaxStallTest(SoftmaxTest):
    """Bursty source and a sink that stalls most cycles: the ring fills and drains."""

    idle = 0.5
    backpressure = 0.7
    rows_verilator = 600
    rows_icarus = 60
    long_frac = 0.05
    directed = False
    coverage_required = False


class ThroughputBase(SoftmaxTest):
    """No idle, no backpressure: back-to-back rows of length L; steady-state cycles per row
    (spacing of the rows' last output beats) against the ideal L/LANES."""

    idle = 0.0
    backpressure = 0.0
    directed = False
    coverage_required = False
    repeats = 8

    def connect_phase(self) -> None:
        super().connect_phase()
        # with >= 3 row buffers consecutive rows leave back to back (see docs/softmax.md)
        self.env.proto.required = ("out_row_back_to_back",) if self.params["NBUF"] >= 3 else ()

    def lengths(self) -> list[int]:
        return sorted({min(64, self.max_n), self.max_n, min(1024, self.max_n)})

    def rows(self) -> list[StreamItem]:
        self.plan = [(n, self.repeats) for n in self.lengths()]
        items = []
        for n, reps in self.plan:
            items += [self.gen.row(n, "normal") for _ in range(reps)]
        return items

    async def after_drain(self, items: list[StreamItem]) -> None:
        out, inp = self.env.t_out.cycles, self.env.t_in.cycles
        report, pos = {}, 0
        for n, reps in self.plan:
            done = out[pos : pos + reps]
            gaps = np.diff(done[2:])  # skip the fill of the pipeline
            period = float(np.mean(gaps))
            ideal = -(-n // self.lanes)
            # latency of the first row of the group: last beat in -> last beat out
            latency = done[0] - inp[pos] if pos == 0 else None
            report[n] = {
                "cycles_per_row": period,
                "ideal": ideal,
                "ratio": period / ideal,
                "first_row_latency": latency,
            }
            self.logger.info(
                f"L={n}: {period:.1f} cycles/row, ideal {ideal}, "
                f"ratio {period / ideal:.3f}, latency {latency}"
            )
            pos += reps
        folder = Path(os.environ.get("SPATTEN_TEST_DIR", "."))
        (folder / "softmax_throughput.json").write_text(
            json.dumps({"params": self.params, "rows": report}, indent=1)
        )
        if 1024 in report:  # the target: within 10 % of L/LANES at L = 1024
            r = report[1024]
            assert r["cycles_per_row"] <= 1.10 * r["ideal"], f"L=1024: {r}"
        for n, r in report.items():  # never worse than two passes per row
            assert r["cycles_per_row"] <= 2 * r["ideal"] + 16, f"L={n}: {r}"


@pyuvm.test()
class SoftmaxThroughputTest(ThroughputBase):
    pass


@pyuvm.test(expect_error=ErrorBoundExceeded)
class SoftmaxTightBoundTest(SoftmaxTest):
    """The error-bound check must fire: the same random rows against a 0.5 LSB bound (the
    RTL's rows reach ~1 LSB)."""

    rows_verilator = rows_icarus = 300
    directed = False
    coverage_required = False
    proto_required = ()
    error_bound = 0.5


@pyuvm.test(expect_error=ScoreboardError)
class SoftmaxBrokenModelTest(SoftmaxTest):
    """The scoreboard must catch a model that is one LSB off on one probability."""

    rows_verilator = rows_icarus = 30
    directed = False
    coverage_required = False
    proto_required = ()
    model = staticmethod(broken_model)


# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    (
        "softmax.v",
        "v = (RNDW'(x) + (RNDW'(1) << (sh - 1'b1))) >> sh;",
        "v = RNDW'(x) >> sh;",
        "softmax exp truncates instead of rounding",
    ),
    (
        "softmax.v",
        "t_of = (d > (SW + 1)'(T_MAX)) ? T_MAX : d[TW-1:0];",
        "t_of = d[TW-1:0];",
        "softmax t wraps instead of saturating",
    ),
    (
        "softmax.v",
        "mx_node[TREE-1+mi] = keep_pad[mi] ? data_pad[SW*mi+:SW] : S_MIN;",
        "mx_node[TREE-1+mi] = data_pad[SW*mi+:SW];",
        "softmax masked lanes counted in the row max",
    ),
    (
        "softmax.v",
        "assign in_ready = (used_q != NBUF_CNT);",
        "assign in_ready = 1'b1;",
        "softmax ingest overwrites a row buffer still in use",
    ),
    (
        "softmax.v",
        "wire s_odd_ok = ~s_row_last | s_nbm1[0];",
        "wire s_odd_ok = 1'b1;",
        "softmax sum pass adds a stale odd beat to a row with an odd number of beats",
    ),
    (
        "softmax.v",
        "wire s_row_last = (s_beat == (s_nbm1 >> 1));",
        "wire s_row_last = (s_beat == s_nbm1);",
        "softmax sum pass counts beats instead of beat pairs",
    ),
]


@pytest.mark.sim
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: f"L{p['LANES']}_N{p['MAX_N']}")
def test_softmax(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize(
    "params", SLOW_CONFIGS, ids=lambda p: "_".join(f"{k}{v}" for k, v in p.items())
)
def test_softmax_slow(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)

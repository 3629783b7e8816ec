"""topk_engine: bit-exact top-k against golden/topk.py (k largest, boundary ties to the earlier
arrival, arrival order, dense beats, saturated flag) under idle and backpressure on both sides;
functional coverage of data kinds, k classes and n classes; exact per-job latency against the
engine's cycle model (which proves the quick-select pass sizes equal golden
``quickselect_passes(..., pivot_rule="row")``); back-to-back overlap; broken-model check.

``TopkBenchTest`` is the measurement used by ``bench/topk_bench.py`` (skipped unless
``TOPK_BENCH_JOBS`` names a JSON job list)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
import pytest
import pyuvm
from cocotb.triggers import RisingEdge
from pyuvm import ConfigDB, uvm_env, uvm_sequence, uvm_test

from verif.runner import Bench
from verif.seeding import params, seed_all, seed_text
from verif.stream import reset, start_clock
from verif.testing import run_bench
from verif.topk_agents import (
    Job,
    JobCoverage,
    TopkCfg,
    TopkStreamChecker,
    directed_jobs,
    encode_job,
    engine_cycles,
    job_bins,
    kind_of,
    later_wins_model,
    make_job,
    out_bins,
    random_jobs,
    topk_model,
)
from verif.uvm import (
    CoverageSubscriber,
    Scoreboard,
    ScoreboardError,
    StreamAgent,
    StreamAgentConfig,
    StreamItem,
    wait_drained,
)

DEFAULT = {"P": 16, "MAX_N": 1024, "SCORE_W": 16, "INDEX_W": 16}
BENCH = Bench("topk_engine", ["topk_engine.v"], DEFAULT)
CONFIGS = [
    DEFAULT,
    {"P": 4, "MAX_N": 64, "SCORE_W": 32, "INDEX_W": 8},
    {"P": 16, "MAX_N": 4096, "SCORE_W": 32, "INDEX_W": 12},
]

# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    (
        "topk_engine.v",
        "(cmp_eq[l] & (eq_run < need_eq_q))",
        "(cmp_eq[l] & (eq_run <= need_eq_q))",
        "topk one tie too many kept at the k boundary",
    ),
    (
        "topk_engine.v",
        "RW'(j[LP-1:0] < g_cnt_q[LP-1:0])",
        "RW'(j[LP-1:0] <= g_cnt_q[LP-1:0])",
        "topk candidate append wraps one lane late",
    ),
    (
        "topk_zero_elim.v",
        "flush_q     <= s1_final_q && comb_cnt[LP-1:0] != {LP{1'b0}};",
        "flush_q     <= 1'b0;",
        "topk overflowing tail of the last beat dropped",
    ),
    (
        "topk_engine.v",
        "(fill_row_q < FW'(row_q))",
        "(fill_row_q <= FW'(row_q))",
        "topk next job overwrites a row before the final pass reads it",
    ),
    (
        "topk_engine.v",
        "next_rank - NW'(rk_gt)",
        "rank_q - NW'(rk_gt)",
        "topk one-row threshold uses the stale rank of the previous pass",
    ),
    (
        "topk_engine.v",
        "up ? (2 * j - 1) : (2 * j + 3)",
        "up ? (2 * j + 1) : (2 * j + 3)",
        "topk pivot target not pushed towards the shorter side (other passes than golden)",
    ),
    (
        "topk_engine.v",
        "f1_first_q ? rk_value : fpiv_q",
        "rk_value",
        "topk fill pass compares later beats with a pivot of their own",
    ),
    (
        "topk_engine.v",
        "smp_asc ? sel_len - sel_rank : sel_rank - 1'b1",
        "smp_asc ? sel_len - sel_rank : sel_rank",
        "topk probe of a descending list one position late",
    ),
]


def scaled(icarus: int, verilator: int) -> int:
    base = icarus if "icarus" in cocotb.SIM_NAME.lower() else verilator
    return max(1, int(base * float(os.environ.get("TOPK_SCALE", "1"))))


class TopkEnv(uvm_env):
    def build_phase(self) -> None:
        self.cfg = TopkCfg.from_params(params())
        self.src = StreamAgent("src", self)
        self.snk = StreamAgent("snk", self)
        self.sb = Scoreboard("sb", self)
        self.cov_in = JobCoverage("cov_in", self)
        self.cov_in.cfg = self.cfg
        self.cov_in.bins = job_bins(self.cfg)
        self.cov_out = CoverageSubscriber("cov_out", self)
        self.cov_out.bins = out_bins(self.cfg)
        self.stream = TopkStreamChecker("stream", self)

    def connect_phase(self) -> None:
        self.src.ap.connect(self.sb.inp.analysis_export)
        self.src.ap.connect(self.cov_in.analysis_export)
        self.snk.ap.connect(self.sb.out.analysis_export)
        self.snk.ap.connect(self.cov_out.analysis_export)


class JobSequence(uvm_sequence):
    """Sends jobs; with ``one_at_a_time`` waits for each job's output before the next."""

    def __init__(
        self,
        name: str,
        jobs: list[Job],
        cfg: TopkCfg,
        rng: random.Random,
        env: TopkEnv | None = None,
    ) -> None:
        super().__init__(name)
        self.jobs, self.cfg, self.rng, self.env = jobs, cfg, rng, env

    async def body(self) -> None:
        for i, job in enumerate(self.jobs):
            item = StreamItem("job", encode_job(job, self.cfg, self.rng))
            await self.start_item(item)
            await self.finish_item(item)
            if self.env is not None:
                await self.wait_output(
                    i + 1, 8 * len(item.beats) + 40 * self.cfg.max_n // self.cfg.p + 500
                )

    async def wait_output(self, count: int, timeout_cycles: int) -> None:
        """Wait until ``count`` output packets were compared (the DUT must not hang)."""
        for _ in range(timeout_cycles):
            if self.env.sb.compared >= count:
                return
            await RisingEdge(cocotb.top.clk)
        raise TimeoutError(
            f"job {count - 1}: no output within {timeout_cycles} cycles ({seed_text()})"
        )


class TopkTest(uvm_test):
    """Jobs with random idle and backpressure; override the class knobs / ``make_jobs``."""

    idle = 0.3
    backpressure = 0.3
    one_at_a_time = False
    coverage_required = False

    def make_model(self, cfg: TopkCfg):  # noqa: ANN201
        return topk_model(cfg)

    def make_jobs(self, cfg: TopkCfg, rng: random.Random) -> list[Job]:
        return random_jobs(cfg, rng, scaled(20, 60))

    def build_phase(self) -> None:
        self.rng = random.Random(int(seed_all(type(self).__name__).integers(2**31)))
        self.cfg = TopkCfg.from_params(params())
        ConfigDB().set(
            None,
            "*env.src",
            "cfg",
            StreamAgentConfig("in", fields=("score", "index", "keep", "k"), idle=self.idle),
        )
        ConfigDB().set(
            None,
            "*env.snk",
            "cfg",
            StreamAgentConfig(
                "out",
                fields=("index", "score", "keep", "saturated"),
                role="sink",
                backpressure=self.backpressure,
            ),
        )
        self.env = TopkEnv("env", self)

    def connect_phase(self) -> None:
        self.env.sb.model = self.make_model(self.cfg)
        for comp in (self.env.cov_in, self.env.cov_out, self.env.stream):
            comp.required = self.coverage_required

    async def run_phase(self) -> None:
        self.raise_objection()
        dut = cocotb.top
        dut.rst_n.value = 0
        dut.in_valid.value = 0
        dut.out_ready.value = 0
        start_clock(dut.clk)
        await reset(dut.clk, dut.rst_n)
        self.jobs = self.make_jobs(self.cfg, self.rng)
        beats = sum(max(1, -(-j.n // self.cfg.p)) for j in self.jobs)
        await JobSequence(
            "jobs", self.jobs, self.cfg, self.rng, self.env if self.one_at_a_time else None
        ).start(self.env.src.seqr)
        await wait_drained(
            dut.clk,
            self.env.sb,
            [self.env.src.driver.source],
            timeout_cycles=40 * beats + 2000 * len(self.jobs) + 1000,
        )
        await self.after_drain()
        self.drop_objection()

    async def after_drain(self) -> None:
        """Hook for checks once all traffic has passed."""


@pyuvm.test()
class TopkRandomTest(TopkTest):
    """Directed jobs (every kind, k class, n class) plus random ones; every bin must be hit."""

    coverage_required = True

    def make_jobs(self, cfg: TopkCfg, rng: random.Random) -> list[Job]:
        jobs = directed_jobs(cfg, rng) + random_jobs(cfg, rng, scaled(60, 500))
        rng.shuffle(jobs)
        return jobs


@pyuvm.test()
class TopkBackToBackTest(TopkTest):
    """No idle, no backpressure: the next job's input must be accepted while the previous
    job's output is still streaming (fill overlapped with the final pass)."""

    idle = 0.0
    backpressure = 0.0

    def make_jobs(self, cfg: TopkCfg, rng: random.Random) -> list[Job]:
        return [
            make_job(
                cfg,
                rng,
                rng.randint(2 * cfg.p, 6 * cfg.p),
                rng.choice(("random", "ties", "sorted")),
                rng.choice(("mid", "eq_n")),
            )
            for _ in range(scaled(20, 80))
        ]

    async def after_drain(self) -> None:
        st = self.env.stream
        span = st.out_last[-1] - st.in_first[0] + 1
        alone = sum(engine_cycles(j.scores, j.k, self.cfg.p) for j in self.jobs)
        self.logger.info(
            f"back to back: {len(self.jobs)} jobs in {span} cycles "
            f"(one at a time: {alone}); overlap cycles "
            f"{st.hits['input_during_output']}"
        )
        assert st.hits["input_during_output"], "no input accepted while output was streaming"
        assert span < alone, f"back to back ({span}) not faster than one at a time ({alone})"


class TopkLatencyBase(TopkTest):
    """One job at a time, no stalls; per job cycles must equal ``engine_cycles``."""

    idle = 0.0
    backpressure = 0.0
    one_at_a_time = True

    def measured(self) -> list[int]:
        st = self.env.stream
        assert len(st.in_first) == len(st.out_last) == len(self.jobs), (
            f"{len(st.in_first)} inputs / {len(st.out_last)} outputs for {len(self.jobs)} jobs"
        )
        return [o - i + 1 for i, o in zip(st.in_first, st.out_last, strict=True)]


@pyuvm.test()
class TopkLatencyTest(TopkLatencyBase):
    def make_jobs(self, cfg: TopkCfg, rng: random.Random) -> list[Job]:
        jobs = []
        for _ in range(scaled(40, 200)):
            n = rng.choice(
                (rng.randint(0, 3 * cfg.p), rng.randint(cfg.p, min(cfg.max_n, 12 * cfg.p)))
            )
            jobs.append(
                make_job(
                    cfg,
                    rng,
                    n,
                    rng.choice(("random", "sorted", "reverse", "ties", "all_equal")),
                    rng.choice(("mid", "mid", "mid", "one", "n_minus_1", "gt_n", "zero")),
                )
            )
        # longer random jobs: several passes after the fill pass, each with a row-target pivot
        for _ in range(scaled(6, 12)):
            n = rng.randint(8 * cfg.p, min(cfg.max_n, 32 * cfg.p))
            jobs.append(make_job(cfg, rng, n, "random", "mid"))
        return jobs

    async def after_drain(self) -> None:
        bad = []
        for job, got in zip(self.jobs, self.measured(), strict=True):
            want = engine_cycles(job.scores, job.k, self.cfg.p)
            if got != want:
                bad.append(f"n={job.n} k={job.k}: {got} cycles, model {want}")
        self.logger.info(f"latency: {len(self.jobs) - len(bad)}/{len(self.jobs)} jobs exact")
        assert not bad, f"latency differs from the cycle model: {bad[:5]} ({seed_text()})"


@pyuvm.test(expect_error=ScoreboardError)
class TopkBrokenModelTest(TopkTest):
    """The scoreboard must catch a model that gives boundary ties to the later arrival."""

    def make_model(self, cfg: TopkCfg):  # noqa: ANN201
        return later_wins_model(cfg)

    def make_jobs(self, cfg: TopkCfg, rng: random.Random) -> list[Job]:
        jobs = []
        while len(jobs) < 3:
            job = make_job(cfg, rng, 3 * cfg.p, "ties", "mid")
            if "ties" in kind_of(job):
                jobs.append(job)
        return jobs


BENCH_JOBS = os.environ.get("TOPK_BENCH_JOBS", "")


@pyuvm.test(skip=not BENCH_JOBS)
class TopkBenchTest(TopkLatencyBase):
    """bench/topk_bench.py: jobs from $TOPK_BENCH_JOBS, measured cycles to $TOPK_BENCH_OUT."""

    def make_jobs(self, cfg: TopkCfg, rng: random.Random) -> list[Job]:
        data = json.loads(Path(BENCH_JOBS).read_text())
        return [Job(j["scores"], list(range(len(j["scores"]))), j["k"]) for j in data]

    async def after_drain(self) -> None:
        Path(os.environ["TOPK_BENCH_OUT"]).write_text(json.dumps(self.measured()))


# MAX_N=4096 is slow on Icarus: there it runs in make regress (test_topk_engine_long).
SIM_CONFIGS = {"icarus": CONFIGS[:2], "verilator": CONFIGS}


@pytest.mark.sim
def test_topk_engine(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize(
    "params", CONFIGS, ids=lambda p: f"P{p['P']}_N{p['MAX_N']}_S{p['SCORE_W']}"
)
def test_topk_engine_long(sim: str, params: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """make regress: 4x the jobs, every config on both simulators."""
    monkeypatch.setenv("TOPK_SCALE", "4")
    monkeypatch.setenv("SPATTEN_SEED", os.environ.get("SPATTEN_SEED", "1") + "-long")
    run_bench(BENCH, sim, params)

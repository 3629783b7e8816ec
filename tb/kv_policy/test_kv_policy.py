"""kv_policy: the SpAtten-LLM cache policy block, bit-exact against golden.kvfixed.policy_keep
(kept entries, ascending, dense beats) and policy_refused (out_cfg_err), with the evicted count
and the overflow flag, under idle and backpressure; both policies, live lists 0..MAX_N (and
beyond: overflow), within / over budget, budget 0, refused settings, start / recent edge cases
(start beyond n, recent covering everything, recent 0), equal importances at the selection
boundary (tie rule), importance 2^32 - 1, back-to-back jobs; broken-model check."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import cocotb
import numpy as np
import pytest
import pyuvm
from cocotb.triggers import RisingEdge
from pyuvm import ConfigDB, uvm_env, uvm_test

from golden.kvfixed import policy_keep, policy_refused
from verif.lanes import pack_lanes, unpack_lanes
from verif.observer import Port, StreamObserver
from verif.runner import Bench
from verif.seeding import params, seed_all, seed_text
from verif.stream import Beat, reset, start_clock
from verif.testing import run_bench
from verif.uvm import (
    CoverageError,
    CoverageSubscriber,
    Scoreboard,
    ScoreboardError,
    StreamAgent,
    StreamAgentConfig,
    StreamItem,
    wait_drained,
)
from verif.vecstream import ItemSequence

DEFAULT = {"P": 8, "MAX_N": 128, "POS_W": 16, "IMP_W": 32}
BENCH = Bench("kv_policy", ["kv_policy.v"], DEFAULT)
# Icarus: the default; Verilator also the smallest and the accelerator's P = 16
SIM_CONFIGS = {
    "icarus": [DEFAULT],
    "verilator": [DEFAULT, {"P": 4, "MAX_N": 64, "POS_W": 16, "IMP_W": 32},
                  {"P": 16, "MAX_N": 256, "POS_W": 16, "IMP_W": 32}],
}
IN_FIELDS = ("pos", "imp", "keep", "n", "budget", "start", "recent", "by_imp")
OUT_FIELDS = ("pos", "imp", "keep", "evicted", "cfg_err", "overflow")

# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    ("kv_policy.v", "eng_score[l*SW +: SW] = fixed ? {SW{1'b1}}",
     "eng_score[l*SW +: SW] = fixed ? {1'b0, {(SW-1){1'b1}}}",
     "kv_policy fixed score not above importance 2^32-1 (tie with the rest goes to the earlier)"),
    ("kv_policy.v", "+ {1'b0, c_recent}) > {1'b0, c_n});", "+ {1'b0, c_recent}) >= {1'b0, c_n});",
     "kv_policy recent window one token short"),
    ("kv_policy.v", "wire             in_unlim = (in_budget == {POS_W{1'b0}}) | in_err",
     "wire             in_unlim = in_err",
     "kv_policy budget 0 not a pass-through (k = 0)"),
    ("kv_policy.v", "wire [POS_W-1:0] c_start  = first_q ? in_start : start_q;",
     "wire [POS_W-1:0] c_start  = in_start;",
     "kv_policy start not held from the first beat"),
    ("kv_policy.v", "& (({1'b0, in_start} + {1'b0, in_recent}) > {1'b0, in_budget});",
     "& (({1'b0, in_start} + {1'b0, in_recent}) >= {1'b0, in_budget});",
     "kv_policy refuses budget == start + recent"),
    ("kv_policy.v", "eng_out_sat ? {NW{1'b0}} : info_n - info_k_n",
     "info_n - info_k_n", "kv_policy evicted count wrong for a saturated job"),
]


@dataclass(frozen=True)
class Cfg:
    p: int
    max_n: int
    pos_w: int
    imp_w: int

    @classmethod
    def now(cls) -> Cfg:
        q = {**DEFAULT, **params()}
        return cls(q["P"], q["MAX_N"], q["POS_W"], q["IMP_W"])

    @property
    def nw(self) -> int:
        return self.max_n.bit_length()  # clog2(MAX_N + 1)


@dataclass
class Job:
    live: list[int]  # positions, ascending
    imp: list[int]
    n: int
    budget: int
    start: int
    recent: int
    by_imp: bool


# ================================================================ encoding and the model ======
def encode(job: Job, cfg: Cfg, rng: random.Random) -> list[Beat]:
    """Input beats; junk in the lanes beyond keep and in the configuration after beat 0."""
    p, beats = cfg.p, []
    nb = max(1, -(-len(job.live) // p))
    for b in range(nb):
        pos, imp = job.live[b * p:(b + 1) * p], job.imp[b * p:(b + 1) * p]
        cnt = len(pos)
        pos = pos + [rng.getrandbits(cfg.pos_w) for _ in range(p - cnt)]
        imp = imp + [rng.getrandbits(cfg.imp_w) for _ in range(p - cnt)]
        first = b == 0
        beats.append({
            "pos": pack_lanes(pos, cfg.pos_w), "imp": pack_lanes(imp, cfg.imp_w),
            "keep": (1 << cnt) - 1,
            "n": job.n if first else rng.getrandbits(cfg.pos_w),
            "budget": job.budget if first else rng.getrandbits(cfg.pos_w),
            "start": job.start if first else rng.getrandbits(cfg.pos_w),
            "recent": job.recent if first else rng.getrandbits(cfg.pos_w),
            "by_imp": int(job.by_imp) if first else rng.getrandbits(1),
            "last": int(b == nb - 1),
        })
    return beats


def decode(beats: list[Beat], cfg: Cfg) -> tuple[Job, int]:
    """The job the block saw (its first MAX_N entries) and the number of entries sent."""
    pos: list[int] = []
    imp: list[int] = []
    for b in beats:
        cnt = cfg.p if not b["last"] else bin(b["keep"]).count("1")
        pos += unpack_lanes(b["pos"], cnt, cfg.pos_w)
        imp += unpack_lanes(b["imp"], cnt, cfg.imp_w)
    b0 = beats[0]
    job = Job(pos[:cfg.max_n], imp[:cfg.max_n], b0["n"], b0["budget"], b0["start"], b0["recent"],
              bool(b0["by_imp"]))
    return job, len(pos)


Keep = Callable[[Job], np.ndarray]


def golden_keep(job: Job) -> np.ndarray:
    return policy_keep(np.array(job.live, dtype=np.int64), np.array(job.imp, dtype=np.int64),
                       job.n, job.budget, job.start, job.recent, job.by_imp)


def later_ties_keep(job: Job) -> np.ndarray:
    """Deliberately wrong: boundary ties of the rest go to the LATER position."""
    live, imp = np.array(job.live, dtype=np.int64), np.array(job.imp, dtype=np.int64)
    if not job.budget or len(live) <= job.budget or policy_refused(job.budget, job.start,
                                                                   job.recent):
        return np.arange(len(live))
    fixed = (live < job.start) | (live > job.n - job.recent)
    rest = np.flatnonzero(~fixed)
    score = imp[rest] if job.by_imp else live[rest]
    k = job.budget - int(fixed.sum())
    order = sorted(range(len(rest)), key=lambda i: (-int(score[i]), -i))[:k]
    return np.sort(np.concatenate([np.flatnonzero(fixed), rest[order]]))


def expected(job: Job, sent: int, cfg: Cfg, keep_fn: Keep = golden_keep) -> list[Beat]:
    keep = keep_fn(job)
    pairs = [(job.live[i], job.imp[i]) for i in keep]
    flags = {"evicted": len(job.live) - len(keep),
             "cfg_err": int(policy_refused(job.budget, job.start, job.recent)),
             "overflow": int(sent > cfg.max_n)}
    p, beats = cfg.p, []
    nb = max(1, -(-len(pairs) // p))
    for b in range(nb):
        chunk = pairs[b * p:(b + 1) * p]
        beats.append({"pos": pack_lanes([c[0] for c in chunk], cfg.pos_w),
                      "imp": pack_lanes([c[1] for c in chunk], cfg.imp_w),
                      "keep": (1 << len(chunk)) - 1, **flags, "last": int(b == nb - 1)})
    return beats


def make_model(cfg: Cfg, keep_fn: Keep = golden_keep) -> Callable[[StreamItem], list[StreamItem]]:
    def model(item: StreamItem) -> list[StreamItem]:
        job, sent = decode(item.beats, cfg)
        return [StreamItem("expected", expected(job, sent, cfg, keep_fn))]

    return model


# ================================================================ stimulus ====================
IMP_KINDS = ("random", "ties", "max", "zero", "small")


def make_imp(kind: str, count: int, w: int, rng: random.Random) -> list[int]:
    top = (1 << w) - 1
    if kind == "max":
        return [top if rng.random() < 0.7 else rng.getrandbits(w) for _ in range(count)]
    if kind == "zero":
        return [0] * count
    if kind == "ties":
        vals = [rng.choice((top, 0, rng.getrandbits(w))) for _ in range(rng.randint(1, 3))]
        return [rng.choice(vals) for _ in range(count)]
    if kind == "small":
        return [rng.randint(0, 3) for _ in range(count)]
    return [rng.getrandbits(w) for _ in range(count)]


def make_job(cfg: Cfg, rng: random.Random, n_live: int, budget: str = "over",
             window: str = "normal", imp: str | None = None, by_imp: bool | None = None,
             has_newest: bool = True) -> Job:
    """A live list of ``n_live`` distinct ascending positions <= n (n among them unless
    ``has_newest`` is False) and a setting: ``budget`` in zero / within / over / exact (=
    start + recent) / refused / refused_within / huge (> MAX_N); ``window`` in normal / start_beyond_n /
    recent_all / recent_zero."""
    lim = (1 << cfg.pos_w) - 1
    n = min(lim, max(n_live - (0 if has_newest else -1), 0) + rng.choice(
        (0, rng.randint(0, n_live + 1), rng.randint(0, 4 * n_live + 8))))
    n = max(n, n_live - 1 if has_newest else n_live)
    if n_live == 0:
        live = []
    elif has_newest:
        live = sorted(rng.sample(range(n), n_live - 1)) + [n]
    else:
        live = sorted(rng.sample(range(n), n_live))
    b_over = rng.randint(max(1, n_live // 4), max(1, n_live - 1))
    within = rng.randint(max(n_live, 1), max(n_live, 1) + 5)
    b = {"zero": 0, "within": within, "over": b_over, "exact": b_over, "refused": b_over,
         "refused_within": within,
         "huge": rng.randint(cfg.max_n + 1, lim)}[budget]
    bb = max(b, 1)
    start = rng.randint(0, bb // 2)
    recent = rng.randint(1, max(1, bb - start))
    if window == "start_beyond_n":
        start = rng.randint(n + 1, min(lim, n + 10))
    elif window == "recent_all":
        recent = rng.randint(n + 1, min(lim, n + 10))
    elif window == "recent_zero":
        recent = 0
    if budget == "exact":
        start = rng.randint(0, b)
        recent = b - start
    elif budget in ("refused", "refused_within"):
        start = rng.randint(0, b)
        recent = rng.randint(b - start + 1, b - start + 6)
    elif window != "normal" and budget in ("over", "within"):
        b = max(b, min(lim, start + recent))  # keep the setting legal where it can be
    if by_imp is None:
        by_imp = rng.random() < 0.6
    values = make_imp(imp or rng.choice(IMP_KINDS), n_live, cfg.imp_w, rng)
    return Job(live, values, n, b, start, recent, by_imp)


def n_classes(cfg: Cfg) -> dict[str, int]:
    p = cfg.p
    return {"n0": 0, "n1": 1, "p_minus_1": p - 1, "p": p, "p_plus_1": p + 1, "max": cfg.max_n}


def directed_jobs(cfg: Cfg, rng: random.Random) -> list[Job]:
    jobs = [make_job(cfg, rng, n, rng.choice(("over", "within"))) for n in n_classes(cfg).values()]
    small = (cfg.p - 1, cfg.p + 3, 2 * cfg.p + 1, 3 * cfg.p)
    for budget in ("zero", "within", "over", "exact", "refused", "refused_within", "huge"):
        for by_imp in (True, False):
            jobs.append(make_job(cfg, rng, rng.choice(small), budget, by_imp=by_imp))
    for window in ("start_beyond_n", "recent_all", "recent_zero"):
        for budget in ("over", "refused"):
            jobs.append(make_job(cfg, rng, rng.choice(small), budget, window))
    for kind in IMP_KINDS:
        jobs.append(make_job(cfg, rng, rng.choice(small), "over", imp=kind, by_imp=True))
    jobs.append(make_job(cfg, rng, 2 * cfg.p, "over", has_newest=False))
    bins = job_bins(cfg)
    for name in ("imp_max_kept_and_evicted", "tie_at_boundary", "budget_eq_start_recent"):
        for _ in range(200):  # a job of that bin (random draws hit each within a few tries)
            job = make_job(cfg, rng, rng.choice(small), "exact" if "eq" in name else "over",
                           imp=rng.choice(("max", "ties", "small")), by_imp=True)
            if bins[name](job, len(job.live)):
                jobs.append(job)
                break
    jobs.append(make_job(cfg, rng, cfg.max_n, "over", imp="ties", by_imp=True))
    return jobs


def random_jobs(cfg: Cfg, rng: random.Random, count: int) -> list[Job]:
    jobs = []
    for _ in range(count):
        x = rng.random()
        n_live = rng.randint(cfg.p, cfg.max_n) if x < 0.1 else rng.randint(0, 4 * cfg.p)
        budget = rng.choice(("over", "over", "over", "within", "zero", "exact", "refused"))
        window = rng.choice(("normal",) * 6 + ("start_beyond_n", "recent_all", "recent_zero"))
        jobs.append(make_job(cfg, rng, n_live, budget, window))
    return jobs


def overflow_job(cfg: Cfg, rng: random.Random) -> Job:
    """More than MAX_N entries: the block uses the first MAX_N and flags the job."""
    return make_job(cfg, rng, cfg.max_n + rng.randint(1, 2 * cfg.p), "over")


# ================================================================ coverage ====================
def rest_tie(job: Job) -> bool:
    """The rest's selection boundary falls inside a run of equal scores (tie rule decides)."""
    live = np.array(job.live, dtype=np.int64)
    if not job.budget or len(live) <= job.budget or policy_refused(job.budget, job.start,
                                                                   job.recent):
        return False
    fixed = (live < job.start) | (live > job.n - job.recent)
    score = (np.array(job.imp) if job.by_imp else live)[~fixed]
    k = job.budget - int(fixed.sum())
    if not 0 < k < len(score):
        return False
    t = np.sort(score)[::-1][k - 1]
    return int((score > t).sum()) < k < int((score >= t).sum())


def over(job: Job) -> bool:
    return bool(job.budget) and len(job.live) > job.budget and not policy_refused(
        job.budget, job.start, job.recent)


def job_bins(cfg: Cfg) -> dict[str, Callable[[Job, int], bool]]:
    top = (1 << cfg.imp_w) - 1
    bins: dict[str, Callable[[Job, int], bool]] = {
        "budget_zero": lambda j, s: j.budget == 0 and len(j.live) > 0,
        "within_budget": lambda j, s: 0 < len(j.live) <= j.budget,
        "over_spatten": lambda j, s: over(j) and j.by_imp,
        "over_sinks_recent": lambda j, s: over(j) and not j.by_imp,
        "budget_eq_start_recent": lambda j, s: over(j) and j.budget == j.start + j.recent,
        "refused_over": lambda j, s: policy_refused(j.budget, j.start, j.recent)
        and len(j.live) > j.budget,
        "refused_within": lambda j, s: policy_refused(j.budget, j.start, j.recent)
        and len(j.live) <= j.budget,
        "budget_above_max_n": lambda j, s: j.budget > cfg.max_n and len(j.live) > 0,
        "start_beyond_n": lambda j, s: j.start > j.n and len(j.live) > 0,
        "recent_covers_all": lambda j, s: j.recent > j.n and len(j.live) > 0,
        "recent_zero_over": lambda j, s: j.recent == 0 and over(j),
        "tie_at_boundary": lambda j, s: over(j) and j.by_imp and rest_tie(j),
        "imp_max_kept_and_evicted": lambda j, s: over(j) and j.by_imp
        and sum(1 for x in j.imp if x == top) > j.budget,
        "newest_absent": lambda j, s: len(j.live) > 0 and j.live[-1] != j.n,
        "partial_last_beat": lambda j, s: len(j.live) % cfg.p != 0,
        "overflow": lambda j, s: s > cfg.max_n,
    }
    for name, n in n_classes(cfg).items():
        bins[f"n_live_{name}"] = lambda j, s, n=n: s == n
    return bins


class PromisedCoverage(CoverageSubscriber):
    """Bins of which only ``promised`` must be hit (True: all); every bin is exported."""

    promised: tuple[str, ...] | bool = True

    def check_phase(self) -> None:
        if self.promised is True:
            self.required = True
            super().check_phase()
            return
        self.required = False
        super().check_phase()
        missed = [b for b in self.promised or () if not self.hits.get(b)]
        if missed:
            raise CoverageError(f"{self.get_name()}: bins never hit: {missed}")


class JobCoverage(PromisedCoverage):
    cfg: Cfg

    def write(self, item: StreamItem) -> None:
        job, sent = decode(item.beats, self.cfg)
        for name, pred in self.bins.items():
            if pred(job, sent):
                self.hits[name] += 1


def out_bins(cfg: Cfg) -> dict[str, Callable[[StreamItem], bool]]:
    full = (1 << cfg.p) - 1
    return {
        "empty_packet": lambda it: it.beats[0]["keep"] == 0,
        "multi_beat_packet": lambda it: len(it.beats) >= 3,
        "partial_last_beat": lambda it: len(it.beats) >= 2 and 0 < it.beats[-1]["keep"] < full,
        "evicted": lambda it: it.beats[0]["evicted"] > 0,
        "cfg_err": lambda it: bool(it.beats[0]["cfg_err"]),
    }


# ================================================================ env and tests ===============
class KvEnv(uvm_env):
    def build_phase(self) -> None:
        self.cfg = Cfg.now()
        self.src = StreamAgent("src", self)
        self.snk = StreamAgent("snk", self)
        self.sb = Scoreboard("sb", self)
        self.cov_in = JobCoverage("cov_in", self)
        self.cov_in.cfg = self.cfg
        self.cov_in.bins = job_bins(self.cfg)
        self.cov_out = PromisedCoverage("cov_out", self)
        self.cov_out.bins = out_bins(self.cfg)
        self.obs = StreamObserver("obs", self)
        self.obs.ports = (Port("in", bins=("stall", "gap"), hold=IN_FIELDS),
                          Port("out", bins=("stall", "gap", "back_to_back"), hold=OUT_FIELDS))

    def connect_phase(self) -> None:
        self.src.ap.connect(self.sb.inp.analysis_export)
        self.src.ap.connect(self.cov_in.analysis_export)
        self.snk.ap.connect(self.sb.out.analysis_export)
        self.snk.ap.connect(self.cov_out.analysis_export)


class KvTest(uvm_test):
    """Jobs with random idle and backpressure; override the knobs / ``make_jobs``."""

    idle = 0.3
    backpressure = 0.3
    keep_fn: Keep = staticmethod(golden_keep)
    required_job_bins: tuple[str, ...] | bool = ()
    required_out_bins: tuple[str, ...] | bool = ()
    required_cycle_bins: tuple[str, ...] = ()
    jobs_count = 60

    def make_jobs(self, cfg: Cfg, rng: random.Random) -> list[Job]:
        return random_jobs(cfg, rng, self.jobs_count)

    def build_phase(self) -> None:
        self.rng = random.Random(int(seed_all(type(self).__name__).integers(2**31)))
        self.cfg = Cfg.now()
        ConfigDB().set(None, "*env.src", "cfg",
                       StreamAgentConfig("in", fields=IN_FIELDS, idle=self.idle))
        ConfigDB().set(None, "*env.snk", "cfg",
                       StreamAgentConfig("out", fields=OUT_FIELDS, role="sink",
                                         backpressure=self.backpressure))
        self.env = KvEnv("env", self)

    def connect_phase(self) -> None:
        self.env.sb.model = make_model(self.cfg, self.keep_fn)
        self.env.cov_in.promised = self.required_job_bins
        self.env.cov_out.promised = self.required_out_bins
        self.env.obs.required = self.required_cycle_bins

    async def run_phase(self) -> None:
        self.raise_objection()
        dut = cocotb.top
        dut.rst_n.value = 0
        dut.in_valid.value = 0
        dut.out_ready.value = 0
        start_clock(dut.clk)
        await reset(dut.clk, dut.rst_n)
        self.jobs = self.make_jobs(self.cfg, self.rng)
        items = [StreamItem("job", encode(j, self.cfg, self.rng)) for j in self.jobs]
        beats = sum(len(it.beats) for it in items)
        await ItemSequence("jobs", items).start(self.env.src.seqr)
        await wait_drained(dut.clk, self.env.sb, [self.env.src.driver.source],
                           timeout_cycles=60 * beats + 400 * len(items) + 2000)
        await self.after_drain()
        self.drop_objection()

    async def after_drain(self) -> None:
        """Hook for checks once all traffic has passed."""


@pyuvm.test()
class KvRandomTest(KvTest):
    """Directed jobs (every budget class, window edge, importance kind, n class) plus random
    ones, shuffled, with idle and backpressure; every job, output and cycle bin promised."""

    required_job_bins = True
    required_out_bins = True
    required_cycle_bins = ("in_stall", "in_gap", "out_stall", "out_gap")

    def make_jobs(self, cfg: Cfg, rng: random.Random) -> list[Job]:
        jobs = directed_jobs(cfg, rng) + random_jobs(cfg, rng, self.jobs_count)
        jobs.append(overflow_job(cfg, rng))
        rng.shuffle(jobs)
        return jobs


@pyuvm.test()
class KvBackToBackTest(KvTest):
    """No idle, no backpressure: jobs back to back on both sides (the engine overlaps the next
    job's input with the previous job's output; the job-info FIFO must keep up)."""

    idle = 0.0
    backpressure = 0.0

    def make_jobs(self, cfg: Cfg, rng: random.Random) -> list[Job]:
        return [make_job(cfg, rng, rng.randint(0, 3 * cfg.p),
                         rng.choice(("over", "over", "within", "zero"))) for _ in range(40)]


@pyuvm.test()
class KvBadInputTest(KvTest):
    """Bad inputs, one job in flight at a time, each answered without a hang: refused settings
    (budget < start + recent: everything kept, out_cfg_err), live lists longer than MAX_N
    (the first MAX_N used, out_overflow), budgets beyond MAX_N, and a normal job after each."""

    required_job_bins = ("refused_over", "refused_within", "overflow", "budget_above_max_n")

    def make_jobs(self, cfg: Cfg, rng: random.Random) -> list[Job]:
        jobs = []
        for _ in range(3):
            jobs += [make_job(cfg, rng, rng.randint(cfg.p, 3 * cfg.p), "refused"),
                     make_job(cfg, rng, rng.randint(1, cfg.p), "refused_within"),
                     make_job(cfg, rng, rng.randint(1, cfg.p), "refused", "recent_all"),
                     overflow_job(cfg, rng),
                     make_job(cfg, rng, rng.randint(1, 3 * cfg.p), "huge"),
                     make_job(cfg, rng, rng.randint(cfg.p, 3 * cfg.p), "over")]
        return jobs

    async def after_drain(self) -> None:
        # one more job after all of them: the block still answers (no state left behind)
        job = make_job(self.cfg, self.rng, 2 * self.cfg.p + 1, "over")
        item = StreamItem("job", encode(job, self.cfg, self.rng))
        before = self.env.sb.compared
        await ItemSequence("after", [item]).start(self.env.src.seqr)
        for _ in range(4000):
            if self.env.sb.compared > before:
                return
            await RisingEdge(cocotb.top.clk)
        raise TimeoutError(f"no answer to a job after the bad inputs ({seed_text()})")


@pyuvm.test(expect_error=ScoreboardError)
class KvBrokenModelTest(KvTest):
    """The scoreboard must catch a model that gives boundary ties to the later position."""

    keep_fn = staticmethod(later_ties_keep)

    def make_jobs(self, cfg: Cfg, rng: random.Random) -> list[Job]:
        jobs = []
        while len(jobs) < 3:
            job = make_job(cfg, rng, 3 * cfg.p, "over", imp="small", by_imp=True)
            if rest_tie(job):
                jobs.append(job)
        return jobs


@pytest.mark.sim
def test_kv_policy(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)

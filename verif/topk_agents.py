"""Top-k engine verification helpers: job encoding into input beats, the golden output packet,
job generators and classifiers for functional coverage, the engine's own latency model, and a
per-cycle stream checker (idle / backpressure / overlap bins, per-packet timestamps).

A *job* is ``(scores, indexes, k)``; its input packet is ``ceil(n/P)`` beats (one beat with
keep = 0 when n = 0) of packed lanes ``score``, ``index``, ``keep`` and ``k`` (``k`` is
sampled by the engine with the first beat only; later beats carry junk on purpose, as do the
lanes beyond ``keep``). The expected output packet holds the golden top-k positions as
``(index, score)`` pairs in arrival order, dense, ``saturated`` = k >= n on every beat.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from golden.topk import quickselect_passes, topk, topk_reference_cycles
from verif.lanes import pack_lanes, unpack_lanes
from verif.observer import Port, StreamObserver
from verif.stream import Beat
from verif.uvm import CoverageSubscriber, StreamItem

KINDS = ("random", "sorted", "reverse", "all_equal", "ties")
K_CLASSES = ("zero", "one", "n_minus_1", "eq_n", "gt_n", "mid")


@dataclass(frozen=True)
class TopkCfg:
    p: int = 16
    max_n: int = 1024
    score_w: int = 16
    index_w: int = 16

    @classmethod
    def from_params(cls, params: dict) -> TopkCfg:
        return cls(
            params.get("P", 16),
            params.get("MAX_N", 1024),
            params.get("SCORE_W", 16),
            params.get("INDEX_W", 16),
        )

    @property
    def k_w(self) -> int:
        return math.ceil(math.log2(self.max_n + 1)) + 1


@dataclass
class Job:
    scores: list[int]
    indexes: list[int]
    k: int

    @property
    def n(self) -> int:
        return len(self.scores)


def encode_job(job: Job, cfg: TopkCfg, rng: random.Random | None = None) -> list[Beat]:
    """Input beats of a job; junk in unkept lanes and in ``k`` after the first beat."""
    p, rng = cfg.p, rng or random.Random(0)
    beats = []
    nb = max(1, math.ceil(job.n / p))
    for b in range(nb):
        sc, ix = job.scores[b * p : (b + 1) * p], job.indexes[b * p : (b + 1) * p]
        cnt = len(sc)
        sc = sc + [rng.getrandbits(cfg.score_w) for _ in range(p - cnt)]
        ix = ix + [rng.getrandbits(cfg.index_w) for _ in range(p - cnt)]
        beats.append(
            {
                "score": pack_lanes(sc, cfg.score_w),
                "index": pack_lanes(ix, cfg.index_w),
                "keep": (1 << cnt) - 1,
                "k": job.k if b == 0 else rng.getrandbits(cfg.k_w),
                "last": int(b == nb - 1),
            }
        )
    return beats


def decode_job(beats: Sequence[Beat], cfg: TopkCfg) -> Job:
    """The job the engine saw: full beats, then the kept prefix of the last (at most MAX_N)."""
    scores: list[int] = []
    indexes: list[int] = []
    for b in beats:
        cnt = cfg.p if not b["last"] else bin(b["keep"]).count("1")
        scores += unpack_lanes(b["score"], cnt, cfg.score_w)
        indexes += unpack_lanes(b["index"], cnt, cfg.index_w)
    return Job(scores[: cfg.max_n], indexes[: cfg.max_n], beats[0]["k"])


def expected_beats(
    job: Job,
    cfg: TopkCfg,
    select: Callable[[list[int], int], tuple[Iterable[int], bool]] | None = None,
) -> list[Beat]:
    """Golden output packet of a job (``select`` overrides the golden top-k, for tests)."""
    if select is None:
        res = topk(job.scores, job.k)
        pos, sat = [int(x) for x in res.positions], bool(res.saturated)
    else:
        got, sat = select(job.scores, job.k)
        pos = list(got)
    pairs = [(job.indexes[i], job.scores[i]) for i in pos]
    p, beats = cfg.p, []
    for b in range(max(1, math.ceil(len(pairs) / p))):
        chunk = pairs[b * p : (b + 1) * p]
        beats.append(
            {
                "index": pack_lanes([c[0] for c in chunk], cfg.index_w),
                "score": pack_lanes([c[1] for c in chunk], cfg.score_w),
                "keep": (1 << len(chunk)) - 1,
                "saturated": int(sat),
                "last": 0,
            }
        )
    beats[-1]["last"] = 1
    return beats


def topk_model(cfg: TopkCfg) -> Callable[[StreamItem], list[StreamItem]]:
    """Scoreboard model: input packet -> the golden output packet."""

    def model(item: StreamItem) -> list[StreamItem]:
        return [StreamItem("expected", expected_beats(decode_job(item.beats, cfg), cfg))]

    return model


def later_wins_model(cfg: TopkCfg) -> Callable[[StreamItem], list[StreamItem]]:
    """A deliberately broken model: boundary ties go to the LATER arrival."""

    def select(scores: list[int], k: int) -> tuple[list[int], bool]:
        n = len(scores)
        if k >= n:
            return list(range(n)), True
        order = sorted(range(n), key=lambda i: (-scores[i], -i))[:k]
        return sorted(order), False

    def model(item: StreamItem) -> list[StreamItem]:
        return [StreamItem("expected", expected_beats(decode_job(item.beats, cfg), cfg, select))]

    return model


# ------------------------------------------------------------------ stimulus ---------------
def make_scores(kind: str, n: int, w: int, rng: random.Random) -> list[int]:
    top = (1 << w) - 1
    if kind == "all_equal":
        return [rng.choice((0, top, rng.getrandbits(w)))] * n
    if kind == "ties":  # few distinct values: many ties at the boundary
        vals = [rng.getrandbits(w) for _ in range(rng.randint(1, 4))]
        return [rng.choice(vals) for _ in range(n)]
    s = [rng.getrandbits(w) for _ in range(n)]
    if rng.random() < 0.2:  # extremes
        s = [rng.choice((0, top, x)) for x in s]
    if kind == "sorted":
        return sorted(s)
    if kind == "reverse":
        return sorted(s, reverse=True)
    return s


def make_k(kclass: str, n: int, rng: random.Random) -> int:
    return {
        "zero": 0,
        "one": 1,
        "n_minus_1": max(n - 1, 0),
        "eq_n": n,
        "gt_n": n + rng.randint(1, 5),
        "mid": rng.randint(1, max(1, n - 1)),
    }[kclass]


def make_job(cfg: TopkCfg, rng: random.Random, n: int, kind: str, kclass: str) -> Job:
    scores = make_scores(kind, n, cfg.score_w, rng)
    indexes = rng.sample(range(1 << cfg.index_w), n)  # no duplicate indexes
    return Job(scores, indexes, min(make_k(kclass, n, rng), (1 << cfg.k_w) - 1))


def direct_tie_job(cfg: TopkCfg, rng: random.Random) -> Job:
    """A job whose threshold is picked directly from a one-row list reached through a smaller
    side (its rank differs from k), with more scores == T than are kept (boundary ties)."""
    while True:
        n = rng.randint(2 * cfg.p, 4 * cfg.p)
        low = [rng.getrandbits(cfg.score_w) >> 1 for _ in range(2)]
        scores = [
            rng.choice(low) if rng.random() < 0.4 else rng.getrandbits(cfg.score_w)
            for _ in range(n)
        ]
        k = rng.randint(1, n - 1)
        qs = quickselect_passes(scores, k, cfg.p, "row")
        cut = len(qs.ranks) >= 2 and qs.ranks[-1] != qs.ranks[-2]  # last pass kept the smaller
        if qs.direct and cut and "ties" in kind_of(Job(scores, [], k)):
            return Job(scores, rng.sample(range(1 << cfg.index_w), n), k)


def n_values(cfg: TopkCfg) -> dict[str, int]:
    p = cfg.p
    return {"zero": 0, "one": 1, "p_minus_1": p - 1, "p": p, "p_plus_1": p + 1, "max": cfg.max_n}


def directed_jobs(cfg: TopkCfg, rng: random.Random, with_max: bool = True) -> list[Job]:
    """Every kind, k class and n class at least once (separately, not the full cross)."""
    jobs = []
    for cls_name, n in n_values(cfg).items():
        if cls_name == "max" and not with_max:
            continue
        jobs.append(make_job(cfg, rng, n, rng.choice(KINDS), "mid"))
    small = [cfg.p - 1, cfg.p + 1, 2 * cfg.p + 3, 3 * cfg.p]
    for kind in KINDS:
        jobs.append(make_job(cfg, rng, rng.choice(small), kind, "mid"))
    for kclass in K_CLASSES:
        jobs.append(make_job(cfg, rng, rng.choice(small), rng.choice(KINDS), kclass))
    jobs += [direct_tie_job(cfg, rng) for _ in range(2)]
    # sparse selection over many rows: output beats with gaps between them
    job = make_job(cfg, rng, min(cfg.max_n, 8 * cfg.p), "random", "mid")
    jobs.append(Job(job.scores, job.indexes, 3 * cfg.p))
    if with_max:
        # longer than MAX_N: the engine keeps the first MAX_N elements (decode_job does too)
        job = make_job(cfg, rng, cfg.max_n, "random", "mid")
        extra = cfg.p + 3
        jobs.append(
            Job(
                job.scores + [rng.getrandbits(cfg.score_w) for _ in range(extra)],
                job.indexes + [rng.getrandbits(cfg.index_w) for _ in range(extra)],
                job.k,
            )
        )
        jobs.append(make_job(cfg, rng, cfg.max_n, "sorted", "mid"))
        jobs.append(make_job(cfg, rng, cfg.max_n, "ties", "gt_n"))
    return jobs


def random_jobs(cfg: TopkCfg, rng: random.Random, count: int, big: float = 0.05) -> list[Job]:
    jobs = []
    for _ in range(count):
        if rng.random() < big:
            n = rng.randint(cfg.p, cfg.max_n)
        else:
            n = rng.choice((rng.randint(0, 4 * cfg.p), rng.randint(0, cfg.p + 1)))
        jobs.append(make_job(cfg, rng, n, rng.choice(KINDS), rng.choice(K_CLASSES)))
    return jobs


# ------------------------------------------------------------------ classification ---------
def kind_of(job: Job) -> set[str]:
    s, n, k = job.scores, job.n, job.k
    out = set()
    if n >= 2 and len(set(s)) == 1:
        out.add("all_equal")
    elif n >= 3:
        if all(a <= b for a, b in zip(s, s[1:], strict=False)):
            out.add("sorted")
        elif all(a >= b for a, b in zip(s, s[1:], strict=False)):
            out.add("reverse")
        else:
            out.add("random")
    if 0 < k < n:
        t = sorted(s, reverse=True)[k - 1]
        if sum(x > t for x in s) < k < sum(x >= t for x in s):
            out.add("ties")
    return out


def k_class_of(job: Job) -> set[str]:
    n, k = job.n, job.k
    out = set()
    if k == 0:
        out.add("zero")
    if k == 1:
        out.add("one")
    if n >= 2 and k == n - 1:
        out.add("n_minus_1")
    if n >= 1 and k == n:
        out.add("eq_n")
    if k > n:
        out.add("gt_n")
    if 1 < k < n - 1:
        out.add("mid")
    return out


def job_bins(cfg: TopkCfg) -> dict[str, Callable[[Job], bool]]:
    bins: dict[str, Callable[[Job], bool]] = {}
    for kind in KINDS:
        bins[f"kind_{kind}"] = lambda j, kind=kind: kind in kind_of(j)
    for kc in K_CLASSES:
        bins[f"k_{kc}"] = lambda j, kc=kc: kc in k_class_of(j)
    for name, n in n_values(cfg).items():
        bins[f"n_{name}"] = lambda j, n=n: j.n == n
    return bins


def out_bins(cfg: TopkCfg) -> dict[str, Callable[[StreamItem], bool]]:
    full = (1 << cfg.p) - 1
    return {
        "empty_packet": lambda it: len(it.beats) == 1 and it.beats[0]["keep"] == 0,
        "saturated_packet": lambda it: bool(it.beats[-1]["saturated"]) and it.beats[0]["keep"] != 0,
        "multi_beat_packet": lambda it: len(it.beats) >= 3,
        "partial_last_beat": lambda it: len(it.beats) >= 2 and 0 < it.beats[-1]["keep"] < full,
        "full_last_beat": lambda it: len(it.beats) >= 2 and it.beats[-1]["keep"] == full,
    }


class JobCoverage(CoverageSubscriber):
    """Coverage bins over the jobs seen on the input (decoded from the beats)."""

    cfg: TopkCfg
    bins: dict[str, Callable[[Job], bool]]

    def write(self, item: StreamItem) -> None:
        job = decode_job(item.beats, self.cfg)
        for name, pred in self.bins.items():
            if pred(job):
                self.hits[name] += 1


class TopkStreamChecker(StreamObserver):
    """The stream observer (``verif.observer``) on both handshakes: idle/backpressure bins, the
    overlap bin ``input_during_output``, and per packet the cycle of its first input beat
    (``in_first``) and of its last output beat (``out_last``), for latency checks."""

    required = True
    ports = (
        Port("in", bins={"gap": "in_idle_mid_packet", "stall": "in_backpressure"}),
        Port("out", bins={"stall": "out_backpressure", "gap": "out_gap"}),
    )

    def build_phase(self) -> None:
        super().build_phase()
        self.hits["input_during_output"] = 0

    @property
    def in_first(self) -> list[int]:
        return self.starts["in"]

    @property
    def out_last(self) -> list[int]:
        return self.ends["out"]

    def sample(self, dut: Any) -> None:
        """An input beat accepted while an output packet is valid or under way."""
        out = self.state["out"]
        if (dut.in_valid.value and dut.in_ready.value
                and (dut.out_valid.value or out.in_packet)):
            self.hits["input_during_output"] += 1
        super().sample(dut)


# ------------------------------------------------------------------ latency models ---------
def engine_cycles(scores: Sequence[int] | np.ndarray, k: int, p: int) -> int:
    """Cycles of rtl/topk_engine.v for one job on an idle engine with no stalls, counted from
    the first input beat accepted to the last output beat accepted (both included):
    beats + sum_passes(ceil(n_pass/P) + 2) - ceil(n/P) + r + 4 (+1 flush), r = row of the last
    kept element (0 for an empty result), flush when that row's selections overflow the last
    beat. The passes are golden's with the engine's pivot rule "row"; the first one (over all n)
    runs during the fill and costs only its 2 cycles; a later list of <= P candidates takes no
    pass (its threshold is picked directly); a probed pivot (sorted sample row) costs 1 cycle."""
    s = np.asarray(scores, dtype=np.int64).reshape(-1)
    n = s.size
    qs = quickselect_passes(s, k, p, "row")
    cycles = max(1, math.ceil(n / p)) + sum(math.ceil(m / p) + 2 for m in qs.pass_sizes) + 4
    if qs.pass_sizes:  # the fill pass: no reads of its own
        cycles -= math.ceil(n / p)
    cycles += qs.probes  # S_PROBE: one cycle per pivot read from a sorted-looking list
    pos = [int(x) for x in qs.positions] if 0 < k < n else list(range(n)) if k else []
    if pos:
        r = pos[-1] // p
        before = sum(1 for x in pos if x < r * p)
        in_row = len(pos) - before
        cycles += r + int(before % p + in_row > p)
    return cycles


def reference_cycles(scores: Sequence[int] | np.ndarray, k: int, p: int) -> int:
    s = np.asarray(scores, dtype=np.int64).reshape(-1)
    qs = quickselect_passes(s, k, p, "middle")
    return topk_reference_cycles(s.size, k, p, qs.pass_sizes)

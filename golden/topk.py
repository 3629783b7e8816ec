"""Bit-exact top-k of the SpAtten top-k engine (token, head and local-V pruning).

Contract: the k largest unsigned scores; ties at the boundary go to the EARLIER arrival
position; the output lists positions in ARRIVAL ORDER (ascending), as the final pass streams
the buffer through the zero eliminator. The hardware algorithm is a quick-select; its pass
structure (and so its latency) is defined here by :func:`quickselect_passes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PIVOT_RULES = ("middle", "first", "median3", "row")
PASS_OVERHEAD = 3  # cycles added to every pass over the buffer (reference model)
PROBE_MIN_P = 8  # rule "row" probes sorted-looking lists only from this P up (into rtl/spatten_fixed.vh)


@dataclass(frozen=True)
class TopkResult:
    positions: np.ndarray  # kept positions, ascending (arrival order)
    saturated: bool  # k >= n: everything kept, the engine only streams the input through


def topk(scores: Sequence[int] | np.ndarray, k: int) -> TopkResult:
    """Top-k of one score sequence (see module docstring). k = 0 or n = 0 -> empty."""
    s = np.asarray(scores, dtype=np.int64).reshape(-1)
    if k < 0:
        raise ValueError("k must be >= 0")
    if k >= s.size:
        return TopkResult(np.arange(s.size), True)
    return TopkResult(topk_rows(s, k), False)


def topk_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Vectorised top-k over the last axis -> [..., min(k, n)] ascending positions.

    A stable sort on the negated scores ranks equal scores by arrival position."""
    s = np.asarray(scores, dtype=np.int64)
    n = s.shape[-1]
    if k >= n:
        return np.broadcast_to(np.arange(n), s.shape).copy()
    order = np.argsort(-s, axis=-1, kind="stable")[..., :k]
    return np.sort(order, axis=-1)


# ================================================================ quick-select model ==========
@dataclass(frozen=True)
class QuickSelect:
    threshold: int  # the k-th largest score (0 when k == 0 or k >= n)
    pass_sizes: tuple[int, ...]  # candidates read by each quick-select pass
    positions: np.ndarray  # result of the final selection pass (== topk(...).positions)
    direct: bool = False  # rule "row": the threshold was picked from a one-row list, no pass
    probes: int = 0  # rule "row": pivots read at a sorted list's position (one cycle each)
    ranks: tuple[int, ...] = ()  # rank of the k-th element in each candidate list, in order

    @property
    def passes(self) -> int:
        return len(self.pass_sizes)


def row_target(rank: int, size: int, p: int) -> int:
    """Rank (1 = largest) to pick within a sample row of ``p`` candidates so that the pivot's
    expected rank among ``size`` candidates lands near ``rank``, pushed one sample step towards
    the SHORTER side: 1 + #{j in 1..p-1 : 2 rank (p+1) >= (2j + 1 - 2 beta)(size + 1)}, beta = +1
    when 2 rank <= size (the pivot just below the k-th: the kept greater side is about rank
    long), else -1 (just above it: the kept smaller side is about size - rank long)."""
    beta = 1 if 2 * rank <= size else -1
    return 1 + sum(
        1 for j in range(1, p) if 2 * rank * (p + 1) >= (2 * j + 1 - 2 * beta) * (size + 1)
    )


def _rank_in(values: Sequence[int], rank: int) -> int:
    return sorted(values, reverse=True)[rank - 1]


def _row_pivot(cand: list[int], rank: int, p: int) -> tuple[int, bool]:
    """Rule "row" after the first pass -> (pivot, probed). The sample is the row of p
    candidates holding cand[len // 2] (a full row when len > p). If it is sorted (ascending
    first; all equal counts as ascending) and p >= PROBE_MIN_P (a random row of 4 is sorted 1
    time in 12: too often to tell), the list is taken as sorted and the pivot is the
    candidate at the rank-th element's position in a sorted list (len - rank ascending, rank - 1
    descending): the engine reads it in one more cycle. Else the sample's row_target-th largest.
    """
    row = (len(cand) // 2) // p * p
    smp = cand[row : row + p]
    pairs = list(zip(smp, smp[1:], strict=False))
    if p >= PROBE_MIN_P and all(a <= b for a, b in pairs):
        return cand[len(cand) - rank], True
    if p >= PROBE_MIN_P and all(a >= b for a, b in pairs):
        return cand[rank - 1], True
    return _rank_in(smp, row_target(rank, len(cand), p)), False


def _pivot(cand: list[int], rule: str, rank: int, p: int) -> int:
    mid = cand[len(cand) // 2]
    if rule == "middle":
        return mid
    if rule == "first":
        return cand[0]
    if rule == "median3":
        return sorted((cand[0], mid, cand[-1]))[1]
    if rule == "row":
        return _row_pivot(cand, rank, p)[0]
    if rule == "row-first":  # rule "row", first pass: the first row's (p/2)-th largest
        return _rank_in(cand, rank) if len(cand) <= p else _rank_in(cand[:p], p // 2)
    raise ValueError(f"unknown pivot rule {rule!r}; expected one of {PIVOT_RULES}")


def quickselect_passes(
    scores: Sequence[int] | np.ndarray, k: int, p: int = 16, pivot_rule: str = "middle"
) -> QuickSelect:
    """Scalar model of the engine's quick-select (``p`` = lanes per row).

    Each pass reads the candidate buffer in arrival order, compares with the pivot (a candidate
    picked by ``pivot_rule``: "middle" = the candidate at index len//2, the reference model's
    rule; "row" = the engine's: in the row of ``p`` candidates holding index len//2, the one of
    rank :func:`row_target`, or a probe when that row is sorted (:func:`_row_pivot`), except on
    the first pass, which the engine runs on the input beats as they arrive: there the (p/2)-th
    largest of the first row, or the k-th largest when the job is one row) and splits it into
    greater / equal (only counted) / smaller. With ``g`` greater and ``e`` equal: k <= g keeps
    the greater side; k <= g + e stops (threshold = pivot); otherwise k -= g + e and the smaller
    side is kept. With rule "row" a later candidate list of at most ``p`` elements (one row)
    needs no pass: the threshold is its rank-th largest element, picked directly. Then one selection pass
    over the whole buffer keeps every score > threshold and the first ``k - #greater`` scores ==
    threshold in arrival order. The selected set does not depend on the rule (only the passes).
    """
    s = [int(x) for x in np.asarray(scores).reshape(-1)]
    if k <= 0 or k >= len(s):
        return QuickSelect(0, (), topk(s, k).positions)
    cand, rank, sizes, ranks, probes = s, k, [], [], 0
    while True:
        ranks.append(rank)
        direct = pivot_rule == "row" and len(cand) <= p and bool(sizes)
        if direct:
            pivot = _rank_in(cand, rank)
            break
        if pivot_rule == "row" and sizes:
            pivot, probed = _row_pivot(cand, rank, p)
            probes += probed
        else:
            pivot = _pivot(cand, "row-first" if pivot_rule == "row" else pivot_rule, rank, p)
        sizes.append(len(cand))
        greater = [x for x in cand if x > pivot]
        equal = sum(1 for x in cand if x == pivot)
        if rank <= len(greater):
            cand = greater
        elif rank <= len(greater) + equal:
            break
        else:
            rank -= len(greater) + equal
            cand = [x for x in cand if x < pivot]
    need_eq = k - sum(1 for x in s if x > pivot)
    kept, eq_seen = [], 0
    for pos, x in enumerate(s):
        if x > pivot or (x == pivot and eq_seen < need_eq):
            kept.append(pos)
        eq_seen += x == pivot
    return QuickSelect(
        pivot, tuple(sizes), np.asarray(kept, dtype=np.int64), direct, probes, tuple(ranks)
    )


def topk_reference_cycles(n: int, k: int, p: int, pass_sizes: Sequence[int]) -> int:
    """Reference latency: fill ceil(n/P), each quick-select pass ceil(n_pass/P) + 3, the final
    selection pass ceil(n/P) + 3 (only when 0 < k < n), drain ceil(min(k, n)/P)."""
    cycles = math.ceil(n / p) + math.ceil(min(k, n) / p)
    cycles += sum(math.ceil(m / p) + PASS_OVERHEAD for m in pass_sizes)
    if 0 < k < n:
        cycles += math.ceil(n / p) + PASS_OVERHEAD
    return cycles


def topk_cycles(
    scores: Sequence[int] | np.ndarray, k: int, p: int = 16, pivot_rule: str = "middle"
) -> int:
    """Reference latency of the engine on these scores (quick-select simulated)."""
    qs = quickselect_passes(scores, k, p, pivot_rule)
    return topk_reference_cycles(len(np.asarray(scores).reshape(-1)), k, p, qs.pass_sizes)

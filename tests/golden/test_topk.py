"""Top-k contract and the quick-select model of golden/topk.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from golden.topk import (
    PIVOT_RULES,
    quickselect_passes,
    row_target,
    topk,
    topk_cycles,
    topk_reference_cycles,
    topk_rows,
)

score_lists = st.lists(st.integers(0, 12), max_size=60) | st.lists(
    st.integers(0, (1 << 40) - 1), max_size=60
)


def topk_scalar(scores: list[int], k: int) -> list[int]:
    """Reference: rank by (score descending, position ascending), then arrival order."""
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return sorted(ranked[:k])


@given(score_lists, st.integers(0, 70))
def test_topk_matches_scalar_reference(scores: list[int], k: int) -> None:
    res = topk(scores, k)
    assert res.positions.tolist() == topk_scalar(scores, k)
    assert res.saturated == (k >= len(scores))


@given(score_lists, st.integers(1, 70), st.sampled_from(PIVOT_RULES))
def test_quickselect_matches_topk(scores: list[int], k: int, rule: str) -> None:
    qs = quickselect_passes(scores, k, 16, rule)
    assert qs.positions.tolist() == topk_scalar(scores, k)
    if 0 < k < len(scores):
        assert qs.threshold == sorted(scores, reverse=True)[k - 1]
        assert list(qs.pass_sizes) == sorted(qs.pass_sizes, reverse=True)
        assert qs.pass_sizes[0] == len(scores) and qs.passes >= 1


@given(
    st.lists(st.integers(0, 2**16 - 1), min_size=2, max_size=300),
    st.integers(1, 299),
    st.sampled_from((4, 8, 16, 32)),
)
def test_row_rule_passes_shrink_and_stop_at_one_row(scores: list[int], k: int, p: int) -> None:
    """Rule "row": every pass removes at least one candidate and every pass after the first
    (the fill pass) reads more than one row (a list of <= p candidates is finished directly);
    a one-row job is finished by its first pass (pivot = the k-th largest)."""
    qs = quickselect_passes(scores, k, p, "row")
    assert qs.positions.tolist() == topk_scalar(scores, k)
    sizes = list(qs.pass_sizes)
    assert all(a > b for a, b in zip(sizes, sizes[1:], strict=False))
    assert all(m > p for m in sizes[1:])
    if 0 < k < len(scores) <= p:
        assert sizes == [len(scores)] and not qs.direct


def test_row_target() -> None:
    # estimate rank * 17 / 1001 rounded, then one step towards the shorter side: down the row
    # (a smaller pivot) while 2 rank <= size, up the row otherwise
    assert row_target(8, 1000, 16) == 1  # 0.14 -> 0, +1 -> 1
    assert row_target(100, 1000, 16) == 2 + 1  # 1.70 -> 2, +1
    assert row_target(500, 1000, 16) == 8 + 1  # 8.49 -> 8, +1
    assert row_target(900, 1000, 16) == 15 - 1  # 15.28 -> 15, -1
    assert row_target(1000, 1000, 16) == 16  # the smallest of the row
    for rank in range(1, 200):
        assert 1 <= row_target(rank, 199, 8) <= 8


@given(st.integers(1, 6), st.integers(1, 40), st.integers(0, 45), st.integers(0, 2**32))
def test_topk_rows_matches_topk(rows: int, n: int, k: int, seed: int) -> None:
    s = np.random.default_rng(seed).integers(0, 5, size=(rows, n))
    got = topk_rows(s, k)
    assert got.shape == (rows, min(k, n))
    for r in range(rows):
        assert got[r].tolist() == topk_scalar(s[r].tolist(), k)


def test_edge_cases() -> None:
    assert topk([], 3).positions.size == 0 and topk([], 3).saturated
    assert topk([5, 6], 0).positions.size == 0 and not topk([5, 6], 0).saturated
    assert topk([9], 1).positions.tolist() == [0]
    assert topk([7] * 10, 4).positions.tolist() == [0, 1, 2, 3]  # ties: earlier wins
    assert topk([1, 3, 3, 2, 3], 2).positions.tolist() == [1, 2]
    assert topk([0, 2**40 - 1, 2**40 - 1], 1).positions.tolist() == [1]
    with pytest.raises(ValueError):
        topk([1], -1)


def test_quickselect_passes_by_hand() -> None:
    qs = quickselect_passes([5, 1, 4, 2, 3], 2, pivot_rule="middle")
    # pass 1: pivot 4 (index 2), greater [5], equal 1 -> rank 2 found
    assert qs.pass_sizes == (5,) and qs.threshold == 4 and qs.positions.tolist() == [0, 2]
    qs = quickselect_passes([5, 1, 4, 2, 3], 4, pivot_rule="first")
    # pivot 5 -> rank 3 of [1, 4, 2, 3]; pivot 1 -> [4, 2, 3]; pivot 4 -> rank 2 of [2, 3];
    # pivot 2: one greater, one equal -> threshold 2
    assert qs.pass_sizes == (5, 4, 3, 2)
    assert qs.threshold == 2 and qs.positions.tolist() == [0, 2, 3, 4]
    # rule "row" at p = 4, k = 5. Pass 1 (the fill pass): pivot = 2nd largest of the first row
    # [1, 8, 3, 7] = 7; greater [8, 9], one equal -> rank 5 - 3 = 2 of the smaller side
    # [1, 3, 2, 6, 5, 0, 4]. Pass 2: sample row = the row holding index 3 = [1, 3, 2, 6];
    # row_target(2, 7, 4) = 2 -> pivot 3; greater [6, 5, 4] holds rank 2 -> kept; 3 <= 4
    # candidates: threshold = 2nd largest of [6, 5, 4] = 5, no third pass
    scores = [1, 8, 3, 7, 9, 2, 6, 5, 0, 4]
    qs = quickselect_passes(scores, 5, 4, "row")
    assert qs.pass_sizes == (10, 7) and qs.threshold == 5
    assert qs.positions.tolist() == [1, 3, 4, 6, 7]
    assert qs.direct and qs.ranks == (5, 2, 2)
    assert not quickselect_passes(scores, 5, 4, "middle").direct
    # k = 3: the fill pass's pivot 7 is the 3rd largest -> found in one pass
    assert quickselect_passes(scores, 3, 4, "row").pass_sizes == (10,)


def test_row_rule_probes_sorted_lists() -> None:
    # ascending 0..63, k = 32, p = 16: fill pivot = 8th largest of 0..15 = 8 -> greater 9..63
    # (55, rank 32). Sample row (index 27 -> row 1 = 25..40) is ascending: probe the element at
    # 55 - 32 = 23, value 32 = the 32nd largest -> found in the second pass
    qs = quickselect_passes(list(range(64)), 32, 16, "row")
    assert qs.pass_sizes == (64, 55) and qs.probes == 1 and qs.threshold == 32
    # descending 63..0: fill pivot 55 -> greater 56..63 (8 < 32) -> rank 24 of the smaller side
    # 54..0 (56); its sample row is descending: probe index 24 - 1 = 23 -> 31 = the 32nd largest
    qs = quickselect_passes(list(range(63, -1, -1)), 32, 16, "row")
    assert qs.pass_sizes == (64, 56) and qs.probes == 1 and qs.threshold == 32
    assert quickselect_passes(list(range(64)), 32, 4, "row").probes == 0  # not at p = 4
    qs = quickselect_passes([(i * 37) % 101 for i in range(100)], 10, 8, "row")
    assert qs.pass_sizes == (100, 52, 11) and qs.probes == 0  # no sample row is sorted


def test_reference_cycles() -> None:
    # fill 63 + passes (63+3) + (13+3) + final select 63+3 + drain 13
    assert topk_reference_cycles(993, 204, 16, (993, 200)) == 63 + 66 + 16 + 66 + 13
    assert topk_reference_cycles(10, 0, 16, ()) == 1
    assert topk_reference_cycles(10, 10, 16, ()) == 2  # saturated: stream through
    assert topk_cycles(list(range(100)), 10) > 0

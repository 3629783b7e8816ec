"""Head importance in one unit (issue 17 item 1): the fixed-point accumulator holds |E| in
2^-HEAD_IMP_FRAC of the real value for every head and layer (CSR HEAD_SCALE from each head's V
scale), so with unequal V scales across heads and layers it picks the heads the float
reference (sum of the real |E|) picks. The old rule -- sum |E_int| in each head's own V-scale
units, i.e. the scale ignored -- does not."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

from golden import fixed as fx
from golden.config import PruneConfig
from golden.reference import FloatSpatten
from golden.system import FixedSpatten
from golden.topk import topk

HEADS, N, D, LAYERS = 4, 16, 16, 2
KEEP = 2  # head_keep 0.5 of 4
CASES = 200
TIE = 0.01  # float importances of the last kept and first dropped head within 1 %: a tie
CFG = PruneConfig(head_keep=0.5, prune_start_layer=LAYERS)  # heads chosen after layer 1


def run_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two layers, every head's V scaled by its own gain in 0.1..10 (per layer): float
    importance [H], fixed importance [H] (40-bit ints), old-rule importance (sum |E_int|)."""
    rng = np.random.default_rng(seed)
    fixed, ref = FixedSpatten(CFG), FloatSpatten(CFG)
    old = np.zeros(HEADS, dtype=np.int64)
    for layer in range(LAYERS):
        q, k = rng.normal(0, 1, (2, HEADS, N, D))
        v = rng.normal(0, 1, (HEADS, N, D)) * (10 ** rng.uniform(-1, 1, HEADS))[:, None, None]
        res = fixed.layer(layer, q, k, v)
        ref.layer(layer, q, k, v)
        old += np.abs(res.extra["e_int"]).sum(axis=(1, 2))
    return ref.s_head.copy(), res.extra["head_importance"], old


@cache
def case_results() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [run_case(s) for s in range(CASES)]


def chosen(importance: np.ndarray) -> set[int]:
    return {int(h) for h in topk(importance, KEEP).positions}


def is_tie(s_float: np.ndarray) -> bool:
    top = np.sort(s_float)[::-1]
    return bool(top[KEEP - 1] - top[KEEP] < TIE * top[KEEP - 1])


def agreement(rule: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> tuple[int, int]:
    """(cases where ``rule``'s head choice equals the float one, cases that are not ties)."""
    cases = [(s, rule(f, o)) for s, f, o in case_results() if not is_tie(s)]
    return sum(chosen(imp) == chosen(s) for s, imp in cases), len(cases)


def test_fixed_importance_is_real_magnitude() -> None:
    """The accumulator in the common unit equals the float sum of |E| to well within TIE."""
    err = max(np.abs(f / 2**fx.HEAD_IMP_FRAC / s - 1).max() for s, f, _ in case_results())
    assert err < TIE / 10, err


def test_head_choice_agrees_with_float() -> None:
    agree, cases = agreement(lambda fixed, old: fixed)
    assert cases >= 0.9 * CASES, f"{CASES - cases} ties of {CASES}"
    assert agree >= 0.95 * cases, f"fixed and float choose the same heads in {agree}/{cases}"


def test_scale_ignored_rule_fails() -> None:
    """The mutant 'scale ignored' (sum |E_int|, each head in its own V-scale units) fails the
    agreement property the fixed model passes."""
    agree, cases = agreement(lambda fixed, old: old)
    assert agree < 0.5 * cases, f"the old rule agrees in {agree}/{cases}"


def test_head_scale_written_per_head() -> None:
    """FixedSpatten derives HEAD_SCALE from each head's V scale, as the host does."""
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(0, 1, (3, HEADS, N, D))
    v *= np.array([0.1, 1.0, 3.0, 10.0])[:, None, None]
    res = FixedSpatten(CFG).layer(0, q, k, v)
    want = [fx.head_scale_params(fx.quantize_sym(v[h])[1]) for h in range(HEADS)]
    assert [tuple(int(x) for x in res.extra["head_scale"][:, h]) for h in range(HEADS)] == want
    assert len({m / 2**s for m, s in want}) == HEADS  # unequal V scales: unequal factors

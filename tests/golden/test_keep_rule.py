"""Keep rule for short inputs (golden/config.py): counts rounded up, a minimum of live tokens,
[CLS] and [SEP] never pruned — in the float reference, the fixed-point model and the host flow
on the command-level accelerator model (the RTL-facing CSR values), input lengths 1..512."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import eval as ev
from golden.accel import Reg
from golden.config import (
    DEFAULT_PRUNE,
    PruneConfig,
    kept_count,
    special_positions,
    token_keep_count,
    with_special,
)
from golden.reference import FloatSpatten
from golden.system import FixedSpatten
from host.driver import ModelDevice, RtlAttention, command_counts

LENGTHS = st.integers(1, 512)
RATIOS = st.floats(0.0, 1.0, allow_nan=False)
LAYERS = 4


@given(ratio=RATIOS, live=LENGTHS, minimum=st.integers(1, 600))
def test_kept_count_rounds_up_and_respects_the_minimum(ratio: float, live: int,
                                                       minimum: int) -> None:
    k = kept_count(ratio, live, minimum)
    assert 1 <= k <= live
    assert k >= min(minimum, live)
    asked = ratio * live
    assert k >= asked - 1e-9  # never drops a token the ratio does not ask to drop
    if k > max(1, min(minimum, live)):
        assert k - 1 < asked  # ... and keeps no more than the ratio asks (rounded up)


@given(count=st.integers(0, 512), live=LENGTHS)
def test_exact_fractions_keep_exactly_their_count(count: int, live: int) -> None:
    count = min(count, live)
    assert kept_count(count / live, live) == max(1, count)


def test_keep_rule_hand_examples() -> None:
    assert kept_count(0.95, 4) == 4  # floor dropped one of 4 tokens
    assert kept_count(0.95, 19) == 19 and kept_count(0.95, 20) == 19
    assert kept_count(0.7, 10) == 7  # 0.7 * 10 = 7.000000000000001 in floating point
    assert kept_count(0.5, 3) == 2 and kept_count(0.0, 9) == 1 and kept_count(1.0, 9) == 9
    assert kept_count(0.5, 40, minimum=8) == 20 and kept_count(0.1, 40, minimum=8) == 8
    assert kept_count(0.1, 5, minimum=8) == 5 and kept_count(0.3, 0) == 0
    assert token_keep_count(PruneConfig(token_keep=0.25, min_tokens=6), 12) == 6
    assert special_positions(PruneConfig(), 1).tolist() == [0]
    assert special_positions(PruneConfig(), 7).tolist() == [0, 6]
    assert special_positions(PruneConfig(keep_special=False), 7).size == 0


def test_with_special_appends_the_missed_ones() -> None:
    keep, special = with_special(np.array([1, 2, 4]), np.array([0, 5]))
    assert keep.tolist() == [1, 2, 4, 0, 5] and special.tolist() == [3, 4]
    keep, special = with_special(np.array([0, 2, 5]), np.array([0, 5]))
    assert keep.tolist() == [0, 2, 5] and special.tolist() == [0, 2]
    keep, special = with_special(np.array([2, 3]), np.array([0, 3]))
    assert keep.tolist() == [2, 3, 0] and special.tolist() == [1, 2]


def test_default_setting_documents_a_minimum() -> None:
    assert DEFAULT_PRUNE.keep_special and DEFAULT_PRUNE.min_tokens >= 2


# ----------------------------------------------------------------------------- models
def layer_inputs(rng: np.random.Generator, n: int, bury: bool) -> tuple[np.ndarray, ...]:
    """q, k, v [2, n, 4]; ``bury``: keys of the first and last token far from every query,
    so [CLS] and [SEP] get almost no attention (the top-k would drop them)."""
    q, k, v = (rng.normal(0, 1, (2, n, 4)) for _ in range(3))
    q[..., 0] = np.abs(q[..., 0]) + 1.0
    if bury and n > 2:
        k[:, [0, -1], 0] = -6.0
    return q, k, v


def run_model(model: object, cfg: PruneConfig, n: int, seed: int, bury: bool) -> list:
    """LAYERS layers on ``model``; returns the absolute positions live in each layer."""
    rng = np.random.default_rng(seed)
    live = np.arange(n)
    lives, results = [], []
    for layer in range(LAYERS):
        res = model.layer(layer, *layer_inputs(rng, len(live), bury))  # type: ignore[attr-defined]
        lives.append(live)
        results.append(res)
        live = live[res.keep_tokens]
    return [lives, results]


CFGS = st.builds(
    PruneConfig,
    token_keep=st.sampled_from([0.95, 0.8, 0.5, 0.2, 0.0]),
    msb_bits=st.sampled_from([8, 12]),
    prune_start_layer=st.integers(0, 2),
    min_tokens=st.integers(1, 12),
)


@settings(max_examples=30, deadline=None)
@given(cfg=CFGS, n=LENGTHS, seed=st.integers(0, 2**16), bury=st.booleans())
def test_models_keep_special_tokens_and_the_minimum(cfg: PruneConfig, n: int, seed: int,
                                                    bury: bool) -> None:
    for model in (FloatSpatten(cfg, quantize=True), FixedSpatten(cfg)):
        lives, results = run_model(model, cfg, n, seed, bury)
        for layer, (live, res) in enumerate(zip(lives, results, strict=True)):
            assert {0, n - 1} <= set(live.tolist())  # [CLS] and [SEP] live in every layer
            assert len(set(live.tolist())) == len(live)
            if layer + 1 < cfg.prune_start_layer:
                assert len(res.keep_tokens) == len(live)
                continue
            selected = token_keep_count(cfg, len(live))
            extra = len(res.keep_tokens) - selected
            assert 0 <= extra <= 2 and len(res.keep_tokens) >= min(cfg.min_tokens, n)
            kept = live[res.keep_tokens]
            assert set(kept[selected:].tolist()) <= {0, n - 1}  # only specials re-appended


@settings(max_examples=25, deadline=None)
@given(cfg=CFGS, n=LENGTHS, seed=st.integers(0, 2**16), bury=st.booleans())
def test_host_flow_on_the_accelerator_model_equals_fixed_spatten(
    cfg: PruneConfig, n: int, seed: int, bury: bool
) -> None:
    """The host re-passes dropped special tokens (N above KEPT_TOKENS): bit-exact with the
    golden model, so the current RTL computes the rule (spatten run compares it per layer)."""
    _, gold = run_model(FixedSpatten(cfg), cfg, n, seed, bury)
    dev = ModelDevice()
    _, got = run_model(RtlAttention(dev, cfg), cfg, n, seed, bury)
    for g, r, cmd in zip(gold, got, dev.results, strict=True):
        np.testing.assert_array_equal(r.extra["e_int"], g.extra["e_int"])
        np.testing.assert_array_equal(r.keep_tokens, g.keep_tokens)
        np.testing.assert_array_equal(r.keep_heads, g.keep_heads)
        np.testing.assert_array_equal(cmd.token_importance, g.extra["token_importance"])


def test_buried_special_tokens_are_re_appended_with_importance_zero() -> None:
    cfg = PruneConfig(token_keep=0.5, prune_start_layer=0)
    lives, results = run_model(FixedSpatten(cfg), cfg, 20, 3, bury=True)
    assert lives[1][-2:].tolist() == [0, 19]  # the top-k missed both: appended
    layer1 = results[1].extra
    restarted = layer1["probs"][layer1["live_heads"]][..., -2:].sum(axis=(0, 1))
    np.testing.assert_array_equal(layer1["token_importance"][-2:], restarted)  # from 0
    assert (layer1["token_importance"][:-2] > layer1["probs"][..., :-2].sum(axis=(0, 1))).all()
    off = PruneConfig(token_keep=0.5, prune_start_layer=0, keep_special=False)
    lives_off, _ = run_model(FixedSpatten(off), off, 20, 3, bury=True)
    assert 0 not in lives_off[1] and 19 not in lives_off[1]  # the test can fail
    dev = ModelDevice()
    run_model(RtlAttention(dev, cfg), cfg, 20, 3, bury=True)
    assert command_counts(cfg, 0, 20, 2).token_keep == 10
    assert dev.results[0].regs[Reg.KEPT_TOKENS] == 10  # the device kept 10 ...
    assert len(dev.results[1].token_importance) == 12  # ... and was passed N = 10 + 2


# ----------------------------------------------------------------------------- real text
def test_default_setting_survives_short_lines() -> None:
    """The real-text bar (golden.eval: Python's reference docs with one-word lines)."""
    lines = ev.short_line_text()
    assert len(lines) == 117 and sum(len(line.split()) == 1 for line in lines) >= 10
    result = ev.evaluate(DEFAULT_PRUNE, lines)
    assert result["cosine_min"] >= ev.REAL_TEXT_MIN, result
    assert result["cosine_vs_dense"] >= ev.REAL_TEXT_MEAN, result
    assert ev.passes_real_text_bar(result["cosine_vs_dense"], result["cosine_min"])
    assert result["live_tokens_at_end"] < result["tokens"]  # the default does prune them

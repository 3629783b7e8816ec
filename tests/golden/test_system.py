"""Composed fixed-point model golden/system.py: scalar cross-check, float accuracy, pruning."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import blocks as blk
from golden import fixed as fx
from golden.config import DENSE, PruneConfig, kept_count
from golden.system import FixedSpatten, attend_head
from tests.golden.test_blocks import rshift_round, softmax_scalar
from tests.golden.test_topk import topk_scalar

PRUNED = PruneConfig(
    token_keep=0.5, head_keep=0.5, value_keep=0.3, msb_bits=6, lsb_bits=4,
    requant_threshold=0.2, prune_start_layer=1, keep_special=False,
)  # fmt: skip


def head_scalar(q: np.ndarray, k: np.ndarray, v: np.ndarray, mult: int, shift: int,
                cfg: PruneConfig) -> tuple[list, list, list]:  # fmt: skip
    """Python-int model of one head: (probs, kept V positions, E) per query."""

    def rec(x: int, bits: int) -> int:
        drop = 12 - bits
        return x if drop == 0 else ((x >> drop) << drop) | (1 << (drop - 1))

    def probs_with(q_row: np.ndarray, bits: int) -> tuple[list[int], int]:
        scores = []
        for k_row in k:
            dot = sum(int(a) * rec(int(b), bits) for a, b in zip(q_row, k_row, strict=True))
            scores.append(min(max(rshift_round(dot * mult, shift), fx.SCORE_MIN), fx.SCORE_MAX))
        return softmax_scalar(scores)

    thr = min(max(round(cfg.requant_threshold * 65536), 0), 65535)
    all_p, all_kept, all_e = [], [], []
    for q_row in q:
        p, maxp = probs_with(q_row, cfg.msb_bits)
        if cfg.lsb_bits and cfg.msb_bits < 12 and maxp < thr:
            p, _ = probs_with(q_row, cfg.msb_bits + cfg.lsb_bits)
        kept = topk_scalar(p, kept_count(cfg.value_keep, len(k)))
        e = []
        for c in range(q.shape[1]):
            acc = sum(p[j] * rec(int(v[j, c]), cfg.msb_bits) for j in kept)
            e.append(min(max(rshift_round(acc, 12), fx.E_MIN), fx.E_MAX))
        all_p.append(p), all_kept.append(kept), all_e.append(e)
    return all_p, all_kept, all_e


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 7), st.integers(1, 9), st.sampled_from([1, 4, 8]), st.integers(1, 12),
    st.integers(0, 6), st.sampled_from([0.0, 0.3, 1.0]), st.sampled_from([0.2, 0.5, 1.0]),
    st.integers(0, 2**32),
)  # fmt: skip
def test_attend_head_matches_scalar(
    nq: int, nk: int, d: int, m: int, lsb: int, thr: float, vk: float, seed: int
) -> None:
    cfg = PruneConfig(msb_bits=m, lsb_bits=min(lsb, 12 - m), requant_threshold=thr, value_keep=vk)
    rng = np.random.default_rng(seed)
    q, k, v = (rng.integers(-2047, 2048, (n, d)) for n in (nq, nk, nk))
    mult, shift = int(rng.integers(1, 1 << 16)), int(rng.integers(8, 24))
    hr = attend_head(q, k, v, mult, shift, cfg)
    p, kept, e = head_scalar(q, k, v, mult, shift, cfg)
    assert hr.probs.tolist() == p and hr.kept_v.tolist() == kept and hr.e.tolist() == e


def float_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ v


def dense_error(d: int, n: int, sigma: float, seed: int = 0) -> float:
    """max |fixed - float| / max|V| of one dense 12-bit layer (4 heads, q, k ~ N(0, sigma))."""
    rng = np.random.default_rng(seed)
    q, k = rng.normal(0, sigma, (2, 4, n, d))
    v = rng.normal(0, 1, (4, n, d))
    out = FixedSpatten(DENSE).layer(0, q, k, v).out
    return float(np.abs(out - float_attention(q, k, v)).max() / np.abs(v).max())


@pytest.mark.parametrize("d", [32, 64])
@pytest.mark.parametrize("n", [1, 17, 60])
def test_dense_layer_matches_float_attention(d: int, n: int) -> None:
    # measured max: 2.8e-3 for sigma <= 2 (score std <= 4 nats), 1.1e-2 for sigma = 4
    assert max(dense_error(d, n, s) for s in (0.5, 1.0, 2.0)) < 5e-3
    assert dense_error(d, n, 4.0) < 2e-2


def run_layers(cfg: PruneConfig, layers: int = 3, h: int = 4, n: int = 12, d: int = 8) -> list:
    rng = np.random.default_rng(1)
    model, results = FixedSpatten(cfg), []
    for layer in range(layers):
        q, k, v = rng.normal(0, 1.5, (3, h, n, d))
        results.append(model.layer(layer, q, k, v))
        n = len(results[-1].keep_tokens)
    return results


def test_cascade_pruning() -> None:
    r0, r1, r2 = run_layers(PRUNED)
    assert r0.keep_tokens.tolist() == sorted(r0.keep_tokens.tolist()) and len(r0.keep_tokens) == 6
    assert len(r0.keep_heads) == 2 and len(r1.keep_tokens) == 3 and len(r1.keep_heads) == 1
    assert set(r2.keep_heads) <= set(r1.keep_heads) <= set(r0.keep_heads)
    assert r1.out.shape == (4, 6, 8) and r1.rows == 2 * 6
    dead = np.setdiff1d(np.arange(4), r0.keep_heads)
    assert not r1.out[dead].any() and not r1.extra["e_int"][dead].any()
    assert (r1.extra["kept_v"][r0.keep_heads] >= 0).all() and (r1.extra["kept_v"][dead] == -1).all()
    assert r1.extra["kept_v"].shape[-1] == kept_count(0.3, 6)


def test_pruning_starts_at_prune_start_layer() -> None:
    r0, r1, _ = run_layers(PruneConfig(token_keep=0.5, head_keep=0.5, prune_start_layer=2, keep_special=False))
    assert len(r0.keep_tokens) == 12 and len(r0.keep_heads) == 4
    assert len(r1.keep_tokens) == 6 and len(r1.keep_heads) == 2


def test_importance_accumulates_across_layers() -> None:
    model, rng = FixedSpatten(PRUNED), np.random.default_rng(2)
    q, k, v = rng.normal(0, 1, (3, 4, 10, 8))
    r0 = model.layer(0, q, k, v)
    probs0 = r0.extra["probs"]
    assert r0.extra["token_importance"].tolist() == probs0.sum(axis=(0, 1)).tolist()
    mult, shift = r0.extra["head_scale"]
    rows = np.abs(r0.extra["e_int"]).sum(axis=2) * mult[:, None]  # one rounding per vector
    heads0 = fx.round_shift(rows, shift[:, None]).sum(axis=1)
    assert r0.extra["head_importance"].tolist() == heads0.tolist()
    sv = [fx.quantize_sym(v[h])[1] for h in range(4)]
    assert [(int(m), int(s)) for m, s in zip(mult, shift, strict=True)] == [fx.head_scale_params(x) for x in sv]
    keep = r0.keep_tokens
    r1 = model.layer(1, q[:, keep], k[:, keep], v[:, keep])
    expect = probs0.sum(axis=(0, 1))[keep] + r1.extra["probs"].sum(axis=(0, 1))
    assert r1.extra["token_importance"].tolist() == expect.tolist()
    with pytest.raises(ValueError):
        model.layer(2, q, k, v)  # 10 tokens given, fewer live


def test_requant_with_all_lsbs_equals_full_precision_keys() -> None:
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(0, 1, (3, 2, 9, 16))
    full = FixedSpatten(PruneConfig(msb_bits=6, lsb_bits=6, requant_threshold=1.0)).layer(
        0, q, k, v
    )
    dense = FixedSpatten(DENSE).layer(0, q, k, v)
    assert full.requant_rows == full.rows == 18
    assert (full.extra["probs"] == dense.extra["probs"]).all()
    assert full.bytes["K_LSB"] == 2 * 128  # 9 packed 12-byte rows per head: 108 bytes, 4 beats
    none = FixedSpatten(PruneConfig(msb_bits=6, lsb_bits=6)).layer(0, q, k, v)
    assert none.requant_rows == 0 and none.bytes["K_LSB"] == 0


def test_bytes_dense_config() -> None:
    q, k, v = np.random.default_rng(4).normal(0, 1, (3, 2, 10, 32))
    r = FixedSpatten(DENSE).layer(0, q, k, v)
    plane = 480  # 10 packed rows of 32 x 12 bits = 48 bytes: 15 beats; E rows 64 bytes
    q_rows = 640  # each query's Q row its own fetch job: 48-byte rows at 0, 48, ... all 2 beats
    assert r.bytes == {"Q": 2 * q_rows, "K_MSB": 2 * plane, "K_LSB": 0,
                       "V_MSB": 2 * plane, "V_LSB": 0, "E": 2 * 10 * 64}  # fmt: skip
    assert r.bytes_dense == dict.fromkeys(["Q", "K", "V", "E"], 2 * 10 * 64)


def test_generate_step_carries_importance() -> None:
    rng = np.random.default_rng(5)
    h, d, total = 3, 8, 16
    k_cache, v_cache = rng.normal(0, 1, (2, h, total, d))
    model = FixedSpatten(PruneConfig(token_keep=0.75, value_keep=0.5, prune_start_layer=1, keep_special=False))
    r0 = model.generate_step(rng.normal(0, 1, (h, d)), k_cache[:, :8], v_cache[:, :8])
    assert r0.out.shape == (h, 1, d) and len(r0.keep_tokens) == 6  # step 0 -> prune for step 1
    assert r0.extra["token_importance"].tolist() == r0.extra["probs"].sum(axis=(0, 1)).tolist()
    kept_pos = r0.extra["live_positions"][r0.keep_tokens]
    imp_before = r0.extra["token_importance"][r0.keep_tokens]
    r1 = model.generate_step(rng.normal(0, 1, (h, 1, d)), k_cache[:, :10], v_cache[:, :10])
    live = r1.extra["live_positions"]
    assert live.tolist() == kept_pos.tolist() + [8, 9]
    added = r1.extra["probs"].sum(axis=(0, 1))
    assert r1.extra["token_importance"].tolist() == (np.r_[imp_before, 0, 0] + added).tolist()
    assert len(r1.keep_tokens) == kept_count(0.75, 8)
    assert r1.bytes_dense["K"] == h * 10 * 2 * d and r1.bytes_dense["Q"] == h * 2 * d


def test_layer_wiring_bit_exact() -> None:
    """Each live head of a layer equals attend_head on its own quantized tensors."""
    rng = np.random.default_rng(6)
    q, k, v = rng.normal(0, 1.5, (3, 4, 12, 8))
    r0 = FixedSpatten(PRUNED).layer(0, q, k, v)
    for h in r0.extra["live_heads"]:
        (qi, sq), (ki, sk), (vi, sv) = (fx.quantize_sym(x[h]) for x in (q, k, v))
        hr = attend_head(qi, ki, vi, *fx.score_scale_params(sq, sk, 8), PRUNED)
        assert (hr.e == r0.extra["e_int"][h]).all() and (hr.kept_v == r0.extra["kept_v"][h]).all()
        assert np.allclose(r0.out[h], hr.e * sv / 16)
        assert (blk.keep_mask(hr.kept_v, 12).sum(axis=1) == kept_count(0.3, 12)).all()

"""Float reference model (golden/reference.py) against direct numpy implementations."""

from __future__ import annotations

import numpy as np
import pytest

from golden import fixed as fx
from golden.blocks import fetch_bytes
from golden.config import DENSE, PruneConfig, kept_count
from golden.reference import FloatSpatten, plain_attention, softmax, topk_indexes, topk_mask
from golden.system import FixedSpatten

H, N, D = 4, 12, 16


def qkv(seed: int, n: int = N, h: int = H, d: int = D) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=(h, n, d)) for _ in range(3))


def run_layers(model: FloatSpatten, layers: int, seed: int = 0) -> list:
    """Feed ``layers`` layers of random data through the live-token protocol."""
    results, n = [], N
    for layer in range(layers):
        q, k, v = qkv(seed + layer, n)
        results.append(model.layer(layer, q, k, v))
        n = len(results[-1].keep_tokens)
    return results


@pytest.mark.parametrize("seed", range(3))
def test_dense_float_equals_plain_attention(seed: int) -> None:
    model = FloatSpatten(DENSE)
    for layer in range(3):
        q, k, v = qkv(seed * 10 + layer)
        res = model.layer(layer, q, k, v)
        np.testing.assert_allclose(res.out, plain_attention(q, k, v), rtol=0, atol=1e-12)
        assert list(res.keep_tokens) == list(range(N))
        assert list(res.keep_heads) == list(range(H))
        assert res.requant_rows == 0 and res.rows == H * N


def test_topk_ties_go_to_earlier_position() -> None:
    assert list(topk_indexes(np.array([1.0, 3.0, 2.0, 3.0, 2.0]), 3)) == [1, 2, 3]
    assert list(topk_indexes(np.zeros(6), 2)) == [0, 1]
    mask = topk_mask(np.array([[0.2, 0.4, 0.2, 0.2]]), 2)
    assert mask.tolist() == [[True, True, False, False]]


def test_token_pruning_keeps_most_attended_tokens_in_cascade() -> None:
    cfg = PruneConfig(token_keep=0.75, prune_start_layer=1, keep_special=False)
    model = FloatSpatten(cfg)
    q, k, v = qkv(1)
    res = model.layer(0, q, k, v)
    probs = softmax(q @ np.swapaxes(k, 1, 2) / np.sqrt(D))
    importance = probs.sum(axis=(0, 1))
    expected = np.sort(np.argsort(-importance, kind="stable")[: kept_count(0.75, N)])
    assert list(res.keep_tokens) == list(expected)
    live = res.extra["live_positions"][res.keep_tokens]
    for layer in (1, 2):
        res = model.layer(layer, *qkv(layer, len(live)))
        assert list(res.extra["live_positions"]) == list(live)  # pruned tokens never return
        live = res.extra["live_positions"][res.keep_tokens]
        assert len(live) == kept_count(0.75, len(res.extra["live_positions"]))


def test_uniform_importance_keeps_earliest_tokens() -> None:
    model = FloatSpatten(PruneConfig(token_keep=0.5, prune_start_layer=1, keep_special=False))
    q, k, v = qkv(2)
    res = model.layer(0, np.zeros_like(q), k, v)  # every probability is 1/N
    assert list(res.keep_tokens) == list(range(N // 2))


def test_prune_start_layer_delays_pruning() -> None:
    results = run_layers(FloatSpatten(PruneConfig(token_keep=0.5, prune_start_layer=2, keep_special=False)), 3)
    assert len(results[0].keep_tokens) == N
    assert len(results[1].keep_tokens) == N // 2


def test_head_pruning_drops_smallest_output_head_and_zeroes_it() -> None:
    model = FloatSpatten(PruneConfig(head_keep=0.6, prune_start_layer=1, keep_special=False))
    q, k, v = qkv(3)
    v[2] *= 1e-3  # head 2 has the smallest |E|
    res = model.layer(0, q, k, v)
    assert list(res.keep_heads) == [0, 1, 3]
    res1 = model.layer(1, *qkv(4))
    assert np.all(res1.out[2] == 0.0)
    assert res1.rows == 3 * N
    assert len(res1.keep_heads) == 2  # cascade: 4 -> ceil(0.6 * 4) = 3 -> ceil(0.6 * 3) = 2
    assert set(res1.keep_heads) < {0, 1, 3}


def test_local_value_pruning_without_renormalisation() -> None:
    cfg = PruneConfig(value_keep=0.25)
    q, k, v = qkv(5)
    res = FloatSpatten(cfg).layer(0, q, k, v)
    kv = kept_count(0.25, N)
    for h in range(H):
        p = softmax(q[h] @ k[h].T / np.sqrt(D))
        for i in range(N):
            keep = np.argsort(-p[i], kind="stable")[:kv]
            np.testing.assert_allclose(res.out[h, i], p[i, keep] @ v[h, keep], atol=1e-12)


def quantized_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, k_bits: int, v_bits: int
) -> np.ndarray:
    """Direct implementation: per-head 12-bit quantization, top bits kept with half-LSB fill."""
    out = np.zeros_like(q)
    for h in range(q.shape[0]):
        (qi, qs), (ki, ks), (vi, vs) = (fx.quantize_sym(x[h]) for x in (q, k, v))
        kq = fx.reconstruct(ki, k_bits) * ks
        out[h] = plain_attention(qi * qs, kq, fx.reconstruct(vi, v_bits) * vs)
    return out


@pytest.mark.parametrize(("threshold", "k_bits"), [(0.0, 4), (1.01, 12)])
def test_progressive_quantization_requant_all_or_none(threshold: float, k_bits: int) -> None:
    cfg = PruneConfig(msb_bits=4, lsb_bits=8, requant_threshold=threshold)
    q, k, v = qkv(6)
    res = FloatSpatten(cfg, quantize=True).layer(0, q, k, v)
    np.testing.assert_allclose(res.out, quantized_attention(q, k, v, k_bits, 4), atol=1e-12)
    assert res.requant_rows == (H * N if threshold > 1 else 0)
    assert res.bytes["K_LSB"] == (H * fetch_bytes(N, D, 8) if threshold > 1 else 0)


def test_requant_only_flat_rows() -> None:
    cfg = PruneConfig(msb_bits=6, lsb_bits=6, requant_threshold=0.3)
    q, k, v = qkv(7)
    q[:, ::2] *= 10  # peaked rows
    res = FloatSpatten(cfg, quantize=True).layer(0, q, k, v)
    flat = res.extra["requant"]
    assert 0 < res.requant_rows < H * N and flat.sum() == res.requant_rows
    exact = quantized_attention(q, k, v, 12, 6)
    np.testing.assert_allclose(res.out[flat], exact[flat], atol=1e-12)


def test_byte_model_counts() -> None:
    cfg = PruneConfig(msb_bits=8, token_keep=0.5, head_keep=0.5, prune_start_layer=1, keep_special=False)
    results = run_layers(FloatSpatten(cfg), 2)
    r0, r1 = results
    assert r0.bytes_dense == {k: H * fetch_bytes(N, D, 16) for k in ("Q", "K", "V", "E")}
    assert r1.bytes_dense == r0.bytes_dense  # the baseline is the unpruned sequence
    n1, h1 = N // 2, H // 2
    # every query's Q row is its own fetch job: 16 x 12 bits = 24-byte rows, 1 or 2 beats
    assert r1.bytes["Q"] == h1 * sum(fetch_bytes([i], D, fx.DATA_W) for i in range(n1))
    assert r1.bytes["K_MSB"] == h1 * fetch_bytes(n1, D, 8)
    assert r1.bytes["E"] == h1 * fetch_bytes(n1, D, fx.E_W)
    assert r1.bytes["V_MSB"] == r1.bytes["K_MSB"]  # value_keep 1: every row used


def test_generation_dense_equals_plain_attention() -> None:
    model = FloatSpatten(DENSE)
    q, k, v = qkv(8, n=6)
    for length in range(1, 7):
        res = model.generate_step(q[:, length - 1], k[:, :length], v[:, :length])
        expected = plain_attention(q[:, length - 1 : length], k[:, :length], v[:, :length])
        np.testing.assert_allclose(res.out, expected, atol=1e-12)
        assert res.bytes_dense["K"] == H * fetch_bytes(length, D, 16)


def test_generation_cascade_and_new_tokens() -> None:
    model = FloatSpatten(PruneConfig(token_keep=0.5, prune_start_layer=1, keep_special=False))
    q, k, v = qkv(9, n=20)
    model.generate_step(q[:, 9], k[:, :10], v[:, :10])  # step 0: 10 live, prune to 5
    res = model.generate_step(q[:, 10], k[:, :11], v[:, :11])
    live = res.extra["live_positions"]
    assert len(live) == 6 and live[-1] == 10  # 5 kept + the new token (importance 0)
    assert res.bytes["K_MSB"] == H * fetch_bytes(6, D, 12)


def test_float_matches_fixed_point_model() -> None:
    cfg = PruneConfig(msb_bits=8, value_keep=0.5)
    q, k, v = qkv(10)
    ref = FloatSpatten(cfg, quantize=True).layer(0, q, k, v)
    fix = FixedSpatten(cfg).layer(0, q, k, v)
    err = np.abs(ref.out - fix.out).max() / np.abs(ref.out).max()
    assert err < 0.03
    assert sum(ref.bytes.values()) == sum(fix.bytes.values())
    assert ref.bytes_dense == fix.bytes_dense

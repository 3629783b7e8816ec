"""SpAtten-LLM KV-cache semantics (golden/kvcache.py) on random data with a tiny model shape."""

from __future__ import annotations

import numpy as np
import pytest

from golden import fixed as fx
from golden.kvcache import CacheConfig, Smoothing, SpattenCache, quantize_rows, seen
from golden.smollm import Hyper

HP = Hyper(
    n_layers=2,
    d_model=32,
    n_heads=4,
    n_kv_heads=2,
    head_dim=8,
    d_ff=64,
    rope_base=1e4,
    rms_eps=1e-5,
    vocab=10,
    context=64,
    bos=0,
    eos=0,
)


def run(
    configs: list[CacheConfig],
    steps: int,
    seed: int = 0,
    scale: float = 2.0,
    old_loud: bool = False,
    snapshot: bool = False,
) -> tuple[SpattenCache, list]:
    """Decode ``steps`` random tokens (the same for every row); ``old_loud`` makes every new key weak, so the oldest
    tokens collect most of the attention (the situation where a new token risks pruning)."""
    rng = np.random.default_rng(seed)
    cache = SpattenCache(HP, configs, steps)
    history = []
    b = len(configs)
    for n in range(steps):
        q = rng.normal(size=(1, HP.n_heads, HP.head_dim)).astype(np.float32).repeat(b, 0) * scale
        k = rng.normal(size=(1, HP.n_kv_heads, HP.head_dim)).astype(np.float32).repeat(b, 0)
        if old_loud:
            k *= 0.01 if n >= 8 else 3.0
        v = rng.normal(size=(1, HP.n_kv_heads, HP.head_dim)).astype(np.float32).repeat(b, 0)
        outs = [cache.attend(layer, q, k, v) for layer in range(HP.n_layers)]
        history.append(
            {
                "live": cache.live.copy(),
                "importance": cache.importance.copy(),
                "out": outs,
                "k": cache.k.copy() if snapshot else None,
                "v": cache.v.copy() if snapshot else None,
            }
        )
    return cache, history


SP = CacheConfig(policy="spatten", budget=12, start=2, recent=3)
SR = CacheConfig(policy="sinks_recent", budget=12, start=2, recent=3)


def test_budget_sinks_and_recent_kept() -> None:
    cache, hist = run([SP, SR], 40)
    for n, h in enumerate(hist):
        count = h["live"][:, :, : n + 1].sum(axis=2)
        assert (count == min(n + 1, 12)).all()
        assert h["live"][:, :, : min(2, n + 1)].all()  # sinks
        assert h["live"][:, :, max(0, n - 2) : n + 1].all()  # the 3 newest
    # sinks+recent: the sinks and exactly the newest budget - start tokens
    final = cache.live[:, 1]
    expected = np.zeros(40, dtype=bool)
    expected[:2] = True
    expected[-10:] = True
    assert (final == expected).all()


def test_newest_token_survives_its_own_step() -> None:
    """New keys get almost no attention (importance ~0) against old, loud keys: the newest
    token would lose a plain top-k; the recent window keeps it through its step."""
    cfg = CacheConfig(policy="spatten", budget=10, start=1, recent=1)
    _, hist = run([cfg], 40, old_loud=True)
    for n, h in enumerate(hist):
        assert h["live"][:, 0, n].all(), f"token {n} pruned in its own step"
    # and the old loud tokens are what the policy keeps beyond the sink and the newest
    assert hist[-1]["live"][0, 0, 1:8].all()


def test_recent_zero_rejected() -> None:
    with pytest.raises(ValueError, match="recent"):
        CacheConfig(policy="spatten", budget=10, start=1, recent=0)


def test_pruned_tokens_never_return() -> None:
    _, hist = run([SP, SR], 40, seed=3)
    for prev, cur in zip(hist[:-1], hist[1:], strict=True):
        returned = cur["live"] & ~prev["live"]
        # only the slot written in this step may switch live
        step = int(prev["live"][0, 0].nonzero()[0].max()) + 1
        returned[:, :, step] = False
        assert not returned.any()


def test_evicted_token_is_least_important_candidate() -> None:
    _, hist = run([SP], 30, seed=5)
    for n in range(12, 30):
        before, after = hist[n - 1], hist[n]
        for layer in range(HP.n_layers):
            was = before["live"][layer, 0].copy()
            was[n] = True
            gone = np.flatnonzero(was & ~after["live"][layer, 0])
            assert len(gone) == 1
            cand = np.flatnonzero(was)
            cand = cand[(cand >= SP.start) & (cand <= n - SP.recent_count)]
            imp = after["importance"][layer, 0]
            assert imp[gone[0]] == imp[cand].min()


def test_cached_rows_written_once_never_requantized() -> None:
    cfg = CacheConfig(
        policy="spatten", budget=12, start=2, k_bits=6, k_lsb=4, requant_threshold=0.5, v_bits=8
    )
    cache, hist = run([cfg], 30, snapshot=True)
    assert cache.writes.max() == 1 and (cache.writes[:, 0, :30] == 1).all()
    for n in range(1, 30):  # slots 0..n-1 keep the bytes they were written with
        np.testing.assert_array_equal(hist[n]["k"][..., :n, :], hist[n - 1]["k"][..., :n, :])
        np.testing.assert_array_equal(hist[n]["v"][..., :n, :], hist[n - 1]["v"][..., :n, :])


def test_importance_is_probability_mass_accumulated() -> None:
    cache, _ = run([CacheConfig()], 20)
    # every step, every query head distributes probability 1 over the live tokens
    np.testing.assert_allclose(cache.importance.sum(axis=2), HP.n_heads * 20, rtol=1e-5)


def test_per_token_quantization() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 3, 8)) * rng.uniform(0.1, 10, size=(5, 3, 1))
    ints, scale = quantize_rows(x)
    assert np.abs(ints).max(axis=-1).min() == fx.DATA_QMAX  # each row uses its full range
    assert np.all(np.abs(ints * scale - x) <= scale / 2 + 1e-12)
    np.testing.assert_array_equal(
        seen(ints, scale, 6), (fx.reconstruct(ints, 6) * scale).astype(np.float32)
    )


def test_progressive_k_matches_full_bits_when_always_requantized() -> None:
    """threshold above 1: every head fetches the LSBs -> the same as 10-bit K throughout;
    threshold 0: never -> the same as 6-bit K."""
    always = CacheConfig(k_bits=6, k_lsb=4, requant_threshold=1.01)
    never = CacheConfig(k_bits=6, k_lsb=4, requant_threshold=0.0)
    cache, hist = run([always, CacheConfig(k_bits=10), never, CacheConfig(k_bits=6)], 16)
    for h in hist:
        for out in h["out"]:
            np.testing.assert_array_equal(out[0], out[1])
            np.testing.assert_array_equal(out[2], out[3])
    assert not np.array_equal(hist[-1]["out"][0][0], hist[-1]["out"][0][2])
    cache.counting = True
    assert cache.requant_rows[0] == 0  # counted only while counting


def test_bytes_dense_equal_baseline_and_quantized_less() -> None:
    cfgs = [CacheConfig(), CacheConfig(k_bits=8, v_bits=8), SP]
    cache = SpattenCache(HP, cfgs, 30)
    cache.counting = True
    rng = np.random.default_rng(0)
    for _ in range(30):
        q = rng.normal(size=(3, HP.n_heads, HP.head_dim)).astype(np.float32)
        kv = rng.normal(size=(2, 3, HP.n_kv_heads, HP.head_dim)).astype(np.float32)
        for layer in range(HP.n_layers):
            cache.attend(layer, q, kv[0], kv[1])
    dense = cache.kv_bytes_dense[0]
    assert cache.kv_bytes[0] == dense == 2 * HP.n_layers * HP.n_kv_heads * 30 * 31 / 2 * 16
    # 8-bit rows plus a 2-byte scale per 8-byte row
    assert cache.kv_bytes[1] == pytest.approx(dense * (8 + 2) / 16)
    assert cache.kv_bytes[2] < dense


def test_local_value_pruning_uses_top_rows() -> None:
    cfg = CacheConfig(value_keep=0.5)
    cache = SpattenCache(HP, [cfg, CacheConfig()], 10)
    rng = np.random.default_rng(4)
    for _ in range(10):
        q = rng.normal(size=(1, HP.n_heads, HP.head_dim)).astype(np.float32).repeat(2, 0)
        kv = rng.normal(size=(2, 1, HP.n_kv_heads, HP.head_dim)).astype(np.float32).repeat(2, 1)
        out = cache.attend(0, q, kv[0], kv[1])
    mask = cache.live[0, :, :10]
    prob = cache._value_mask(np.tile(np.arange(10.0), (2, HP.n_heads, 1)), mask)
    assert (prob[0].sum(axis=-1) == 5).all() and prob[0][:, 5:].all()
    assert (prob[1].sum(axis=-1) == 10).all()
    assert not np.allclose(out[0], out[1])


def _smoothing(seed: int = 8) -> Smoothing:
    rng = np.random.default_rng(seed)
    shape = (HP.n_layers, HP.n_kv_heads, 20, HP.head_dim)
    loud = np.ones(HP.head_dim)
    loud[2:4] = 30.0  # one loud RoPE pair of channels, as in real K
    return Smoothing.calibrate(rng.normal(size=shape) * loud, rng.normal(size=shape) * loud)


def test_smoothing_calibration_pairs_and_normalised() -> None:
    sm = _smoothing()
    np.testing.assert_array_equal(sm.k[..., 0::2], sm.k[..., 1::2])  # RoPE pairs share one
    np.testing.assert_allclose(np.log(sm.k).mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(np.log(sm.v).mean(axis=-1), 0, atol=1e-5)
    assert (sm.k[..., 2:4] > 5 * sm.k[..., 4:6]).all()


def _loud_run(configs: list[CacheConfig], sm: Smoothing, steps: int = 24) -> list[np.ndarray]:
    rng = np.random.default_rng(9)
    cache = SpattenCache(HP, configs, steps, sm)
    loud = np.ones(HP.head_dim, dtype=np.float32)
    loud[2:4] = 30.0
    b = len(configs)
    outs = []
    for _ in range(steps):
        q = rng.normal(size=(1, HP.n_heads, HP.head_dim)).astype(np.float32).repeat(b, 0) * 0.3
        k = (rng.normal(size=(1, HP.n_kv_heads, HP.head_dim)) * loud).astype(np.float32)
        v = (rng.normal(size=(1, HP.n_kv_heads, HP.head_dim)) * loud).astype(np.float32)
        outs.append(cache.attend(0, q, k.repeat(b, 0), v.repeat(b, 0)))
    return outs


def test_smoothing_changes_nothing_unquantized_and_helps_quantized() -> None:
    sm = _smoothing()
    quant = {"k_bits": 4, "v_bits": 4}
    cfgs = [CacheConfig(), CacheConfig(smooth=True), CacheConfig(**quant),
            CacheConfig(smooth=True, **quant)]
    outs = np.array(_loud_run(cfgs, sm))  # [steps, B, H, D]
    np.testing.assert_allclose(outs[:, 1], outs[:, 0], rtol=1e-4, atol=1e-5)
    plain = np.abs(outs[:, 2] - outs[:, 0]).mean()
    smoothed = np.abs(outs[:, 3] - outs[:, 0]).mean()
    assert smoothed < 0.7 * plain, (smoothed, plain)
    with pytest.raises(ValueError, match="Smoothing"):
        SpattenCache(HP, [CacheConfig(smooth=True)], 4)

"""Bit-exact block models of golden/blocks.py against scalar Python-int references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from golden import blocks as blk
from golden import fixed as fx

int12 = st.integers(-2048, 2047)
score = st.integers(fx.SCORE_MIN, fx.SCORE_MAX)


def rshift_round(x: int, s: int) -> int:
    return (x + (1 << s >> 1)) >> s


def softmax_scalar(scores: list[int]) -> tuple[list[int], int]:
    """Python-int softmax following docs/fixed_point.md step by step."""
    m = max(scores)
    es = []
    for s in scores:
        t = min(m - s, fx.T_MAX)
        hi, lo = (t & 255) >> 4, t & 15
        prod = int(fx.EXP_LUT_HI[hi]) * int(fx.EXP_LUT_LO[lo])
        es.append(rshift_round(prod, 2 * fx.LUT_FRAC - fx.EXP_FRAC + (t >> 8)))
    r = (1 << fx.RECIP_R) // sum(es)
    probs = [min(rshift_round(e * r, fx.PROB_SHIFT), fx.PROB_MAX) for e in es]
    return probs, min(rshift_round((1 << fx.EXP_FRAC) * r, fx.PROB_SHIFT), fx.PROB_MAX)


@given(st.lists(score, min_size=1, max_size=40) | st.lists(st.integers(-3000, 3000), min_size=1))
def test_softmax_matches_scalar(scores: list[int]) -> None:
    probs, maxp = blk.softmax(np.array(scores))
    ref_probs, ref_max = softmax_scalar(scores)
    assert probs.tolist() == ref_probs and int(maxp) == ref_max
    assert int(maxp) == int(probs[int(np.argmax(scores))])


def softmax_error_lsb(seed: int = 0, rows: int = 300) -> np.ndarray:
    """|fixed - float| in UQ0.16 LSBs over typical rows: n in 1..4096, N(0, sigma) log2 scores
    with sigma from 0.5 to 40 (flat to one-hot)."""
    rng = np.random.default_rng(seed)
    errs = []
    for _ in range(rows):
        n = int(rng.choice([1, 2, 3, 8, 16, 60, 128, 512, 4096]))
        sigma = float(rng.choice([0.5, 2, 4, 8, 16, 40]))
        s = fx.sat_signed(np.rint(rng.normal(0, sigma, n) * 256), fx.SCORE_W)
        probs, _ = blk.softmax(s)
        ref = np.minimum(blk.softmax_float(s) * 65536, fx.PROB_MAX)
        errs.append(np.abs(probs - ref))
    return np.concatenate(errs)


def test_softmax_error_bound() -> None:
    err = softmax_error_lsb()
    assert err.max() < 1.0 and err.mean() < 0.2  # measured: max 0.83, mean 0.12 LSB


def test_softmax_edges() -> None:
    p, m = blk.softmax(np.array([123]))  # n = 1: probability 1.0 saturates to 65535
    assert p.tolist() == [65535] and m == 65535
    p, m = blk.softmax(np.full(4096, -77))  # all equal, longest row
    assert (p == 16).all() and m == 16
    p, m = blk.softmax(np.array([fx.SCORE_MAX, fx.SCORE_MIN, fx.SCORE_MAX]))  # extremes
    assert p.tolist() == [32768, 0, 32768] and m == 32768
    p, m = blk.softmax(np.array([[0, 256], [0, 0]]))  # batched rows: 1/3, 2/3 and 1/2, 1/2
    assert p.tolist() == [[21845, 43691], [32768, 32768]] and m.tolist() == [43691, 32768]
    with pytest.raises(ValueError):
        blk.softmax(np.zeros(fx.MAX_N + 1, dtype=np.int64))


def test_requant_threshold_is_strict() -> None:
    thr = blk.prob_threshold(0.05)
    assert thr == 3277 and blk.prob_threshold(2.0) == 65535 and blk.prob_threshold(-1) == 0
    assert blk.need_requant(np.array([thr - 1, thr, thr + 1]), thr).tolist() == [1, 0, 0]


@given(st.sampled_from([1, 2, 32, 64]), st.integers(1, 5), st.integers(0, 2**32))
def test_qk_matches_scalar(d: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    q, k = rng.integers(-2048, 2048, (2, n, d))
    mult, shift = int(rng.integers(0, 1 << 16)), int(rng.integers(0, 64))
    acc = blk.qk_dot(q, k)
    s = blk.qk_score(acc, mult, shift)
    for i in range(n):
        for j in range(n):
            dot = sum(int(a) * int(b) for a, b in zip(q[i], k[j], strict=True))
            assert acc[i, j] == dot
            ref = min(max(rshift_round(dot * mult, shift), fx.SCORE_MIN), fx.SCORE_MAX)
            assert s[i, j] == ref


def test_qk_saturation_and_bad_d() -> None:
    q = np.full((1, 64), -2048)
    acc = blk.qk_dot(q, q)
    assert acc[0, 0] == 64 << 22 and acc[0, 0] < (1 << (fx.QK_ACC_W_MAX - 1))
    assert blk.qk_score(acc, 65535, 0)[0, 0] == fx.SCORE_MAX
    assert blk.qk_score(-acc, 65535, 0)[0, 0] == fx.SCORE_MIN
    with pytest.raises(ValueError):
        blk.qk_dot(np.zeros((1, 48)), np.zeros((1, 48)))


@given(st.integers(1, 6), st.integers(1, 40), st.sampled_from([1, 32, 64]), st.integers(0, 2**32))
def test_pv_matches_scalar(nq: int, nk: int, d: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 65536, (nq, nk))
    v = rng.integers(-2048, 2048, (nk, d))
    keep = rng.random((nq, nk)) < 0.5
    e = blk.pv(p, v, keep)
    for i in range(nq):
        for c in range(d):
            acc = sum(int(p[i, j]) * int(v[j, c]) for j in range(nk) if keep[i, j])
            assert e[i, c] == min(max(rshift_round(acc, 12), fx.E_MIN), fx.E_MAX)


def test_pv_saturation_and_mask() -> None:
    p = np.full((1, 4096), 65535)
    assert blk.pv(p, np.full((4096, 2), 2047))[0].tolist() == [fx.E_MAX] * 2
    assert blk.pv(p, np.full((4096, 2), -2048))[0].tolist() == [fx.E_MIN] * 2
    assert blk.pv(np.array([[65535]]), np.array([[-2048]]))[0, 0] == -32767  # -32767.5 rounds up
    mask = blk.keep_mask(np.array([[0, 2]]), 4)
    assert mask.tolist() == [[True, False, True, False]]


def test_importance_accumulators_saturate() -> None:
    acc = blk.token_importance(np.array([0, fx.TOK_IMP_MAX - 5]), np.array([[[3, 4]], [[1, 4]]]))
    assert acc.tolist() == [4, fx.TOK_IMP_MAX]
    e = np.full((2, 4096, 64), -32768)  # [heads, queries, dims]
    h = blk.head_importance(np.array([0, fx.HEAD_IMP_MAX - 1]), e, 1, 0)
    assert h.tolist() == [4096 * 64 * 32768, fx.HEAD_IMP_MAX]
    big = blk.head_importance(0, np.full((1, 4096, 64), -32768), 65535, 0)
    assert big == fx.HEAD_IMP_MAX  # 2^21 * 65535 per vector: saturates after 8 vectors


def test_head_importance_scales_each_vector() -> None:
    """Each vector (row) adds round_half_up(min(sum |E|, 2^22 - 1) * mult / 2^shift); mult and
    shift per head (broadcast like acc); the lanes per beat do not matter."""
    e = np.array([[[3, -1], [0, 0], [-5, 2]]])  # one head, three vectors: 4, 0, 7
    assert blk.head_importance(np.array([10]), e, np.array([3]), np.array([2])).tolist() == [
        10 + 3 + 0 + 5  # 12/4 = 3, 0, 21/4 = 5.25 -> 5
    ]
    assert int(blk.head_importance(0, e[0], 1, 1)) == 2 + 0 + 4  # 3.5 rounds half up to 4
    two = np.stack([e[0], -e[0]])
    assert blk.head_importance(np.zeros(2), two, np.array([1, 2]), np.array([0, 0])).tolist() == [
        11, 22]
    long = np.full((1, 200), -32768)  # a vector longer than D_MAX saturates its sum
    assert int(blk.head_importance(0, long, 1, 0)) == fx.HEAD_VEC_MAX
    assert int(blk.head_importance(5, e[0], 0, 0)) == 5  # scale 0: nothing added


@given(
    st.integers(0, 5),
    st.sampled_from([1, 3, 32, 64]),
    st.integers(1, 12),
    st.integers(0, 11),
    st.integers(0, 2**32),
)
def test_pack_unpack_round_trip(n: int, d: int, m: int, lsb: int, seed: int) -> None:
    lsb = min(lsb, 12 - m)
    x = np.random.default_rng(seed).integers(-2048, 2048, (n, d))
    ref_msb, ref_lsb = fx.split_planes(x, m, lsb)
    for aligned in (False, True):
        msb_b, lsb_b, s_msb, s_lsb = blk.pack_planes(x, m, lsb, aligned)
        want = blk.row_stride(d, m) if aligned else blk.row_bytes(d, m)
        assert s_msb == want and s_msb * 8 >= d * m
        assert len(msb_b) == blk.beat_ceil(n * s_msb) and len(lsb_b) % 32 == 0
        msb, low = blk.unpack_planes(msb_b, lsb_b, n, d, m, lsb, (s_msb, s_lsb))
        assert (msb == ref_msb).all() and (low == ref_lsb).all()


def test_pack_bit_order_little_endian() -> None:
    msb, lsb, s_msb, s_lsb = blk.pack_planes(np.array([[0x7FF, -2048, 0x123]]), 4, 8)
    # MSB nibbles 0x7, 0x8, 0x1 -> bits 0..11 = 0x187 ; LSB bytes 0xFF, 0x00, 0x23
    assert msb[:2] == bytes([0x87, 0x01]) and not any(msb[2:])
    assert lsb[:3] == bytes([0xFF, 0x00, 0x23]) and (s_msb, s_lsb) == (2, 3)
    assert len(msb) == len(lsb) == 32  # the plane ends on a whole beat


def test_packed_rows_share_beats() -> None:
    """Two 48-byte 6-bit rows of 64 values in 3 beats (the official fused pair)."""
    x = np.arange(128).reshape(2, 64) % 64 - 32
    data, stride = blk.pack_rows(x, 6)
    assert stride == 48 and len(data) == 96
    assert (blk.unpack_rows(data, 2, 64, 6, signed=True) == x).all()
    assert blk.fetch_bytes(2, 64, 6) == 96 and blk.fetch_bytes([1], 64, 6) == 64
    assert blk.fetch_bytes([1, 0], 64, 6) == 128  # not adjacent in list order: no sharing
    assert blk.fetch_bytes([0, 1], 64, 6, share=False) == 128
    assert blk.plane_bytes(3, 64, 6) == 160 and blk.row_group(48) == 2


def test_fetch_bytes() -> None:
    assert blk.row_stride(64, 12) == 96 and blk.row_stride(32, 12) == 64
    assert blk.row_stride(64, 6) == 64 and blk.row_stride(64, 4) == 32
    assert blk.row_stride(64, 16) == 128 and blk.row_stride(32, 0) == 0
    assert blk.row_bytes(64, 6) == 48 and blk.row_bytes(3, 5) == 2 and blk.row_bytes(8, 0) == 0
    # rows 3, 7, 9 of 48 bytes: 144..191 (beats 4, 5), 336..383 (10, 11), 432..479 (13, 14)
    assert blk.fetch_bytes([3, 7, 9], 64, 6) == 192 and blk.fetch_bytes(5, 32, 16) == 320
    assert blk.fetch_bytes(np.arange(0), 64, 12) == 0
    assert blk.fetch_bytes(4, 64, 5) == 160  # 40-byte rows: 160 bytes, 5 beats
    assert blk.fetch_bytes([2, 2], 64, 4) == 32  # a one-beat row twice: read once
    assert blk.fetch_bytes([2, 2], 64, 4, share=False) == 64
    assert [blk.row_group(s) for s in (32, 64, 48, 40, 1, 24, 6)] == [1, 1, 2, 4, 32, 4, 16]


@given(st.integers(1, 64), st.integers(1, 12), st.integers(1, 300), st.integers(0, 2**32))
def test_fetch_bytes_is_the_union_of_beats_for_ascending_lists(d: int, bits: int, n: int,
                                                                seed: int) -> None:
    """For an ascending list of distinct rows, the shared-beat rule reads every beat any of the
    rows touches exactly once (the packed plane's bytes when the list is 0..n-1)."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=rng.integers(1, n + 1), replace=False))
    rb = blk.row_bytes(d, bits)
    beats = {b for j in idx for b in range(j * rb // 32, (j * rb + rb - 1) // 32 + 1)}
    assert blk.fetch_bytes(idx, d, bits) == 32 * len(beats)
    assert blk.fetch_bytes(n, d, bits) == blk.plane_bytes(n, d, bits)


@given(st.lists(st.integers(-4000, 4000), min_size=1, max_size=300))
def test_softmax_row_sum(scores: list[int]) -> None:
    probs, _ = blk.softmax(np.array(scores))
    assert abs(int(probs.sum()) - 65536) <= len(scores)

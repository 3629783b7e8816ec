"""Bit-exact models of the SpAtten datapath blocks (formats in golden/fixed.py).

Every function works on int64 arrays and broadcasts over leading dimensions (rows), so the
same code is the block model for the RTL scoreboards and the vectorised system model.
"""

from __future__ import annotations

import numpy as np

from golden import fixed as fx


# ================================================================ Q.K =========================
def qk_dot(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Exact dot products ``q[..., i, :] . k[..., j, :]`` of 12-bit ints -> [..., nq, nk]."""
    d = np.shape(q)[-1]
    if d < 1 or d > fx.D_MAX or d & (d - 1):
        raise ValueError(f"head dimension {d} is not a power of two in 1..{fx.D_MAX}")
    return np.matmul(fx.as_int(q), np.swapaxes(fx.as_int(k), -1, -2))


def qk_score(acc: np.ndarray, mult: int, shift: int) -> np.ndarray:
    """Q11.8 log2-domain score: ``sat20(round_half_up(acc * mult / 2^shift))``."""
    return fx.sat_signed(fx.round_shift(fx.as_int(acc) * mult, shift), fx.SCORE_W)


# ================================================================ softmax =====================
def softmax(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row softmax of Q11.8 log2 scores (last axis, 1..4096 long) -> (probs UQ0.16, max prob).

    t = min(max - s, T_MAX); e = exp2_neg(t) (UQ1.24); r = floor(2^46 / sum e);
    prob = min(round_half_up(e * r / 2^30), 65535); the row max probability is the prob of
    t = 0, i.e. ``min(round_half_up(2^24 * r / 2^30), 65535)``."""
    s = fx.as_int(scores)
    if s.shape[-1] < 1 or s.shape[-1] > fx.MAX_N:
        raise ValueError(f"row length {s.shape[-1]} out of 1..{fx.MAX_N}")
    t = np.minimum(s.max(axis=-1, keepdims=True) - s, fx.T_MAX)
    e = fx.exp2_neg(t)
    r = (1 << fx.RECIP_R) // e.sum(axis=-1, keepdims=True)
    probs = np.minimum(fx.round_shift(e * r, fx.PROB_SHIFT), fx.PROB_MAX)
    maxp = np.minimum(fx.round_shift((1 << fx.EXP_FRAC) * r[..., 0], fx.PROB_SHIFT), fx.PROB_MAX)
    return probs, maxp


def softmax_float(scores: np.ndarray) -> np.ndarray:
    """Float softmax of the same Q11.8 log2-domain scores (probabilities in 0..1)."""
    s = np.asarray(scores, dtype=np.float64) / (1 << fx.SCORE_FRAC)
    e = np.exp2(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def prob_threshold(x: float) -> int:
    """A probability threshold as its UQ0.16 CSR value (rounded, saturated)."""
    return int(min(max(round(x * (1 << fx.PROB_FRAC)), 0), fx.PROB_MAX))


def need_requant(max_prob: np.ndarray, threshold: int) -> np.ndarray:
    """Requantization decision: ``max_prob < threshold`` (strict), both UQ0.16."""
    return fx.as_int(max_prob) < threshold


# ================================================================ P.V =========================
def pv(probs: np.ndarray, v: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Head output E (16-bit signed, V scale / 16) = sat16(round_half_up(sum p*v / 2^12)).

    ``probs`` [..., nq, nk] UQ0.16, ``v`` [..., nk, D] 12-bit; ``keep`` an optional boolean mask
    shaped like ``probs``: dropped probabilities count as zero (no renormalisation)."""
    p = fx.as_int(probs)
    if keep is not None:
        p = np.where(keep, p, 0)
    acc = np.matmul(p, fx.as_int(v))
    return fx.sat_signed(fx.round_shift(acc, fx.PV_SHIFT), fx.E_W)


def keep_mask(positions: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask [..., n] from per-row kept positions [..., k]."""
    pos = np.asarray(positions, dtype=np.int64)
    mask = np.zeros(pos.shape[:-1] + (n,), dtype=bool)
    np.put_along_axis(mask, pos, True, axis=-1)
    return mask


# ================================================================ importance ==================
def token_importance(acc: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Token accumulator += probabilities summed over every leading axis (heads, queries).

    The addends are unsigned, so a saturating running sum equals min(total, 2^32 - 1)."""
    p = fx.as_int(probs)
    total = p.reshape(-1, p.shape[-1]).sum(axis=0)
    return np.minimum(fx.as_int(acc) + total, fx.TOK_IMP_MAX)


def head_importance(acc: int | np.ndarray, e: np.ndarray) -> np.ndarray:
    """Head accumulator += sum |E| over queries and dims (last two axes), saturating 40 bits."""
    e_abs = np.abs(fx.as_int(e))
    return np.minimum(fx.as_int(acc) + e_abs.sum(axis=(-2, -1)), fx.HEAD_IMP_MAX)


# ================================================================ bit-plane memory ============
def row_stride(d: int, bits: int) -> int:
    """Bytes between rows of a plane of ``d`` values x ``bits``: whole 32-byte beats."""
    return -(-d * bits // (8 * fx.AXI_BYTES)) * fx.AXI_BYTES


def fetch_bytes(indices: np.ndarray | list[int] | int, d: int, bits: int) -> int:
    """Bytes moved by fetching the given rows (or that many rows) of a ``bits``-wide plane."""
    count = indices if isinstance(indices, int | np.integer) else len(indices)
    return int(count) * row_stride(d, bits)


def pack_rows(values: np.ndarray, bits: int) -> tuple[bytes, int]:
    """Pack [n, D] fields of ``bits`` (two's complement kept modulo 2^bits) densely per row,
    little-endian bit order (field d at row bits d*bits..), rows padded to 32-byte beats."""
    vals = fx.as_int(values)
    n, d = vals.shape
    stride = row_stride(d, bits)
    if bits == 0 or n == 0:
        return b"", stride
    field_bits = (vals[..., None] >> np.arange(bits)) & 1  # [n, D, bits], LSB first
    row_bits = np.zeros((n, stride * 8), dtype=np.uint8)
    row_bits[:, : d * bits] = field_bits.reshape(n, d * bits)
    return np.packbits(row_bits, axis=1, bitorder="little").tobytes(), stride


def unpack_rows(data: bytes, n: int, d: int, bits: int, signed: bool) -> np.ndarray:
    """Inverse of :func:`pack_rows` -> [n, D] int64."""
    if bits == 0:
        return np.zeros((n, d), dtype=np.int64)
    stride = row_stride(d, bits)
    raw = np.frombuffer(data, dtype=np.uint8).reshape(n, stride)
    row_bits = np.unpackbits(raw, axis=1, bitorder="little")[:, : d * bits].reshape(n, d, bits)
    vals = (row_bits.astype(np.int64) << np.arange(bits)).sum(axis=-1)
    return fx.wrap_signed(vals, bits) if signed else vals


def pack_planes(x12: np.ndarray, msb_bits: int, lsb_bits: int) -> tuple[bytes, bytes, int, int]:
    """Memory image of one (layer, head) K or V: (msb_bytes, lsb_bytes, stride_msb, stride_lsb)."""
    msb, lsb = fx.split_planes(x12, msb_bits, lsb_bits)
    msb_bytes, stride_msb = pack_rows(msb, msb_bits)
    lsb_bytes, stride_lsb = pack_rows(lsb, lsb_bits)
    return msb_bytes, lsb_bytes, stride_msb, stride_lsb


def unpack_planes(
    msb_bytes: bytes, lsb_bytes: bytes, n: int, d: int, msb_bits: int, lsb_bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """Planes back from a memory image: (msb [n, D] signed, lsb [n, D] unsigned)."""
    return (
        unpack_rows(msb_bytes, n, d, msb_bits, signed=True),
        unpack_rows(lsb_bytes, n, d, lsb_bits, signed=False),
    )

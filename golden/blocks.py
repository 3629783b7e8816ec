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


def head_importance(
    acc: int | np.ndarray, e: np.ndarray, mult: int | np.ndarray, shift: int | np.ndarray
) -> np.ndarray:
    """Head accumulator += |E| in the common unit (fixed.HEAD_IMP_FRAC), saturating 40 bits.

    ``e`` [..., nq, D]: each vector (row) adds
    ``round_half_up(min(sum |E|, HEAD_VEC_MAX) * mult / 2^shift)``; ``mult``, ``shift`` (CSR
    HEAD_SCALE, :func:`golden.fixed.head_scale_params`) scalars or shaped like ``acc``. Every
    addend is unsigned, so the saturating running sum is min(total, 2^40 - 1)."""
    rows = np.minimum(np.abs(fx.as_int(e)).sum(axis=-1), fx.HEAD_VEC_MAX)
    mult, shift = fx.as_int(mult)[..., None], fx.as_int(shift)[..., None]
    add = fx.round_shift(rows * mult, shift).sum(axis=-1)
    return np.minimum(fx.as_int(acc) + add, fx.HEAD_IMP_MAX)


# ================================================================ bit-plane memory ============
# Read planes (Q, K and V, MSB and LSB) are packed: row j of a plane of ``d`` values x ``bits``
# takes row_bytes(d, bits) = ceil(d * bits / 8) bytes at ``base + j * stride`` with stride =
# row_bytes, so two 48-byte 6-bit rows share 3 beats (docs/memory.md §1). The fetcher reads
# whole 32-byte beats and keeps the last beat of each row: a row whose first beat is the
# previous row's last beat reads it from there, not from memory. E rows (written) and the
# fetcher's two-plane jobs keep whole-beat rows (row_stride).
def row_bytes(d: int, bits: int) -> int:
    """Bytes of one packed row of ``d`` values x ``bits`` (the last byte zero-padded)."""
    return -(-d * bits // 8)


def row_stride(d: int, bits: int) -> int:
    """Bytes of one row padded to whole 32-byte beats (E rows, two-plane fetch jobs)."""
    return -(-d * bits // (8 * fx.AXI_BYTES)) * fx.AXI_BYTES


def beat_ceil(nbytes: int) -> int:
    """``nbytes`` rounded up to whole 32-byte beats."""
    return -(-nbytes // fx.AXI_BYTES) * fx.AXI_BYTES


def plane_bytes(n: int, d: int, bits: int) -> int:
    """Bytes of a packed plane region of ``n`` rows (whole beats, so the next region aligns)."""
    return beat_ceil(n * row_bytes(d, bits))


def row_group(stride: int) -> int:
    """Rows per beat-aligned group: the smallest P with P * stride a multiple of 32 bytes (a
    power of two 1..32). Rows of one group may share beats; rows of two groups never do (with
    a beat-aligned base), so the fetch array sends a whole group to one channel."""
    tz = (stride & -stride).bit_length() - 1 if stride else 5
    return 1 << (5 - min(tz, 5))


def fetch_bytes(indices: np.ndarray | list[int] | int, d: int, bits: int,
                stride: int | None = None, base: int = 0, share: bool = True) -> int:
    """Bytes one fetcher moves for the rows ``indices`` (list order; an int n: rows 0..n-1) of
    a plane at ``base`` with row ``stride`` (default packed, row_bytes): every row's beats,
    less the first beat of a row that is the previous row's last (``share``, single-plane
    jobs). Two-plane jobs (whole-beat rows) pass ``share=False``."""
    nbytes = row_bytes(d, bits)
    if nbytes == 0:
        return 0
    idx = (np.arange(int(indices)) if isinstance(indices, int | np.integer)
           else np.asarray(indices, dtype=np.int64).reshape(-1))
    if idx.size == 0:
        return 0
    start = base + idx * (nbytes if stride is None else stride)
    first, last = start // fx.AXI_BYTES, (start + nbytes - 1) // fx.AXI_BYTES
    beats = int((last - first + 1).sum())
    if share:
        beats -= int(np.count_nonzero(first[1:] == last[:-1]))
    return beats * fx.AXI_BYTES


def pack_rows(values: np.ndarray, bits: int, stride: int | None = None) -> tuple[bytes, int]:
    """Pack [n, D] fields of ``bits`` (two's complement kept modulo 2^bits) per row,
    little-endian bit order (field d at row bits d*bits..), row j at byte j * stride (default
    packed: row_bytes), zeros between rows and up to the next whole beat -> (bytes, stride)."""
    vals = fx.as_int(values)
    n, d = vals.shape
    stride = row_bytes(d, bits) if stride is None else stride
    if bits == 0 or n == 0:
        return b"", stride
    if stride < row_bytes(d, bits):
        raise ValueError(f"row stride {stride} < {row_bytes(d, bits)} bytes of a row")
    field_bits = (vals[..., None] >> np.arange(bits)) & 1  # [n, D, bits], LSB first
    row_bits = np.zeros((n, stride * 8), dtype=np.uint8)
    row_bits[:, : d * bits] = field_bits.reshape(n, d * bits)
    data = np.packbits(row_bits, axis=1, bitorder="little").tobytes()
    return data + bytes(beat_ceil(len(data)) - len(data)), stride


def unpack_rows(data: bytes, n: int, d: int, bits: int, signed: bool,
                stride: int | None = None) -> np.ndarray:
    """Inverse of :func:`pack_rows` -> [n, D] int64 (``data`` holds at least n rows)."""
    if bits == 0 or n == 0:
        return np.zeros((n, d), dtype=np.int64)
    stride = row_bytes(d, bits) if stride is None else stride
    raw = np.frombuffer(data, dtype=np.uint8)[: n * stride].reshape(n, stride)
    row_bits = np.unpackbits(raw, axis=1, bitorder="little")[:, : d * bits].reshape(n, d, bits)
    vals = (row_bits.astype(np.int64) << np.arange(bits)).sum(axis=-1)
    return fx.wrap_signed(vals, bits) if signed else vals


def pack_planes(x12: np.ndarray, msb_bits: int, lsb_bits: int,
                aligned: bool = False) -> tuple[bytes, bytes, int, int]:
    """Memory image of one (layer, head) K or V: (msb_bytes, lsb_bytes, stride_msb, stride_lsb);
    rows packed, or whole beats with ``aligned`` (two-plane fetch jobs)."""
    msb, lsb = fx.split_planes(x12, msb_bits, lsb_bits)
    d = np.shape(x12)[-1]
    sm, sl = ((row_stride(d, msb_bits), row_stride(d, lsb_bits)) if aligned else (None, None))
    msb_bytes, stride_msb = pack_rows(msb, msb_bits, sm)
    lsb_bytes, stride_lsb = pack_rows(lsb, lsb_bits, sl)
    return msb_bytes, lsb_bytes, stride_msb, stride_lsb


def unpack_planes(msb_bytes: bytes, lsb_bytes: bytes, n: int, d: int, msb_bits: int,
                  lsb_bits: int, strides: tuple[int, int] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Planes back from a memory image: (msb [n, D] signed, lsb [n, D] unsigned)."""
    sm, sl = strides if strides else (None, None)
    return (
        unpack_rows(msb_bytes, n, d, msb_bits, signed=True, stride=sm),
        unpack_rows(lsb_bytes, n, d, lsb_bits, signed=False, stride=sl),
    )

"""Fixed-point formats of the SpAtten datapath: the single source of every width, scale,
rounding and saturation rule (docs/fixed_point.md is the prose version).

Notation: ``Qm.f`` signed, ``UQm.f`` unsigned, ``f`` fractional bits. Integers in numpy are
held in ``int64`` (every intermediate of the datapath fits in 63 bits).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------- operands (Q, K, V) ---------
DATA_W = 12  # Q, K, V: signed two's complement, real = int * per-tensor scale
DATA_QMAX = (1 << (DATA_W - 1)) - 1  # symmetric quantization uses [-2047, 2047]
D_MAX = 64  # head dimension: any power of two 1..64
LOG2_D_MAX = 6

# ---------------------------------------------------------------- Q.K -------------------------
QK_PROD_W = 2 * DATA_W  # 12 x 12 signed product, exact
QK_ACC_W_MAX = QK_PROD_W + LOG2_D_MAX  # exact dot product for D = 64
SCORE_MULT_W = 16  # CSR score_mult, unsigned
SCORE_SHIFT_W = 6  # CSR score_shift, 0..63
SCORE_SHIFT_MAX = (1 << SCORE_SHIFT_W) - 1
SCORE_FRAC = 8  # score is a log2-domain value, Q11.8
SCORE_W = 20  # signed, saturated
SCORE_MAX = (1 << (SCORE_W - 1)) - 1
SCORE_MIN = -(1 << (SCORE_W - 1))

# ---------------------------------------------------------------- softmax ---------------------
MAX_N = 4096  # longest row
LOG2_MAX_N = 12
T_INT_W = 5  # t = max - score, UQ5.8, saturated: 2^-31 underflows anyway
T_W = T_INT_W + SCORE_FRAC
T_MAX = (1 << T_W) - 1
LUT_ADDR_W = SCORE_FRAC // 2  # two 16-entry LUTs on the high and low nibble of frac(t)
LUT_W = 16  # entries UQ1.15 (1.0 = 32768)
LUT_FRAC = 15
EXP_FRAC = 24  # exp2(-t) UQ1.24, 0..2^24 (extra bits keep the sum of many small terms exact)
EXP_W = EXP_FRAC + 1
EXP_SUM_W = EXP_W + LOG2_MAX_N  # 37 bits: 4096 * 2^24 = 2^36, never overflows
RECIP_R = EXP_FRAC + 22  # r = floor(2^RECIP_R / sum)
RECIP_W = RECIP_R - EXP_FRAC + 1  # 23 bits: r <= 2^22 (sum >= 2^EXP_FRAC always)
PROB_FRAC = 16  # probabilities UQ0.16
PROB_W = 16
PROB_MAX = (1 << PROB_W) - 1
PROB_SHIFT = RECIP_R - PROB_FRAC  # prob = round(e * r / 2^30)

# ---------------------------------------------------------------- P.V -------------------------
PV_PROD_W = PROB_W + DATA_W  # 28-bit signed product (|p * v| < 2^27)
PV_ACC_W = PV_PROD_W + LOG2_MAX_N  # 40 bits: 4096 terms, never overflows
E_W = 16  # head output: signed, V's scale with 4 extra fractional bits
E_EXTRA_FRAC = 4
PV_SHIFT = PROB_FRAC - E_EXTRA_FRAC  # E = round(acc / 2^12)
E_MAX = (1 << (E_W - 1)) - 1
E_MIN = -(1 << (E_W - 1))

# ---------------------------------------------------------------- importance ------------------
TOK_IMP_W = 32  # per-token saturating sum of UQ0.16 probabilities
HEAD_IMP_W = 40  # per-head saturating sum of |E| in the common unit 2^-HEAD_IMP_FRAC
TOK_IMP_MAX = (1 << TOK_IMP_W) - 1
HEAD_IMP_MAX = (1 << HEAD_IMP_W) - 1
# Head importance is accumulated in ONE unit for every head and layer: 2^-HEAD_IMP_FRAC of the
# real |E| (the float model's units). E of head h is in units of scale_v[h] / 16, so every E
# vector (one query's row of D values) adds round_half_up(min(sum |E|, VEC_MAX) * mult / 2^shift)
# with CSR HEAD_SCALE[h] = (mult, shift) ~= scale_v[h] / 16 * 2^HEAD_IMP_FRAC
# (head_scale_params). One rounding per vector: independent of the lanes per beat.
HEAD_IMP_FRAC = 12
HEAD_SCALE_MULT_W = 16  # CSR HEAD_SCALE.MULT, unsigned
HEAD_SCALE_SHIFT_W = 6  # CSR HEAD_SCALE.SHIFT, 0..63
HEAD_SCALE_SHIFT_MAX = (1 << HEAD_SCALE_SHIFT_W) - 1
HEAD_VEC_W = E_W + LOG2_D_MAX  # sum |E| of one vector, saturating (exact up to D_MAX values)
HEAD_VEC_MAX = (1 << HEAD_VEC_W) - 1

# ---------------------------------------------------------------- memory ----------------------
AXI_BYTES = 32  # 256-bit beat; every row of a plane starts on a beat boundary


# ================================================================ helpers =====================
def as_int(x: np.ndarray | int) -> np.ndarray:
    """``x`` as an int64 array (no copy when it already is one)."""
    return np.asarray(x, dtype=np.int64)


def saturate(x: np.ndarray | int, lo: int, hi: int) -> np.ndarray:
    """Clamp integers to ``[lo, hi]``."""
    return np.clip(as_int(x), lo, hi)


def sat_signed(x: np.ndarray | int, width: int) -> np.ndarray:
    """Saturate to a ``width``-bit two's-complement range."""
    return saturate(x, -(1 << (width - 1)), (1 << (width - 1)) - 1)


def sat_unsigned(x: np.ndarray | int, width: int) -> np.ndarray:
    """Saturate to ``[0, 2^width - 1]``."""
    return saturate(x, 0, (1 << width) - 1)


def round_shift(x: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """``floor(x / 2^shift + 1/2)``: arithmetic right shift, round half up (towards +inf).

    ``shift`` may be an array (element-wise) and may be 0 (no rounding)."""
    x, shift = as_int(x), as_int(shift)
    half = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)
    return np.right_shift(x + half, shift)


def wrap_signed(x: np.ndarray | int, width: int) -> np.ndarray:
    """Two's-complement wrap of integers to ``width`` bits (for bit-field views)."""
    x = as_int(x) & ((1 << width) - 1)
    return np.where(x >= (1 << (width - 1)), x - (1 << width), x)


# ================================================================ quantization ================
def quantize_sym(x: np.ndarray, bits: int = DATA_W) -> tuple[np.ndarray, float]:
    """Per-tensor symmetric quantization (host side): ``x ~= ints * scale``.

    ``scale = max|x| / (2^(bits-1) - 1)`` (1.0 when that is 0); ints rounded half to
    even (``np.rint``) and clipped to ``[-(2^(bits-1) - 1), 2^(bits-1) - 1]``."""
    qmax = (1 << (bits - 1)) - 1
    scale = (float(np.max(np.abs(x))) if np.size(x) else 0.0) / qmax
    scale = scale if scale > 0 else 1.0  # all-zero (or subnormal) tensor
    ints = np.clip(np.rint(np.asarray(x, dtype=np.float64) / scale), -qmax, qmax)
    return ints.astype(np.int64), scale


def split_planes(x12: np.ndarray, msb_bits: int, lsb_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """MSB plane (top ``msb_bits``, signed) and LSB plane (next ``lsb_bits``, unsigned)."""
    if not (1 <= msb_bits and 0 <= lsb_bits and msb_bits + lsb_bits <= DATA_W):
        raise ValueError(f"bad plane split {msb_bits}+{lsb_bits}")
    x = as_int(x12)
    msb = np.right_shift(x, DATA_W - msb_bits)
    lsb = np.right_shift(x, DATA_W - msb_bits - lsb_bits) & ((1 << lsb_bits) - 1)
    return msb, lsb


def reconstruct(x12: np.ndarray, known_bits: int) -> np.ndarray:
    """12-bit value seen when only its top ``known_bits`` are known: unknown low bits = 10..0."""
    if not 1 <= known_bits <= DATA_W:
        raise ValueError(f"known_bits {known_bits} out of 1..{DATA_W}")
    x = as_int(x12)
    drop = DATA_W - known_bits
    if drop == 0:
        return x
    return np.left_shift(np.right_shift(x, drop), drop) | (1 << (drop - 1))


def join_planes(msb: np.ndarray, lsb: np.ndarray, msb_bits: int, lsb_bits: int) -> np.ndarray:
    """Inverse of :func:`split_planes` followed by :func:`reconstruct` at ``msb+lsb`` bits."""
    x = np.left_shift(
        np.left_shift(as_int(msb), lsb_bits) | as_int(lsb), DATA_W - msb_bits - lsb_bits
    )
    return reconstruct(x, msb_bits + lsb_bits)


# ================================================================ CSR scale factors ===========
def mult_shift(c: float, mult_w: int, shift_max: int) -> tuple[int, int]:
    """``(mult, shift)`` with ``mult / 2^shift ~= c``: the largest shift in 0..shift_max that
    keeps ``mult < 2^mult_w`` (mult saturated at 2^mult_w - 1 when even shift 0 is too small)."""
    for shift in range(shift_max, -1, -1):
        mult = round(c * 2.0**shift)
        if mult < (1 << mult_w):
            return mult, shift
    return (1 << mult_w) - 1, 0


def score_scale_params(scale_q: float, scale_k: float, d: int) -> tuple[int, int]:
    """CSR ``(score_mult, score_shift)`` turning an integer dot product into a Q11.8 log2 score:
    ``mult / 2^shift ~= scale_q * scale_k * log2(e) / sqrt(d) * 2^8`` (:func:`mult_shift`)."""
    c = scale_q * scale_k * math.log2(math.e) / math.sqrt(d) * (1 << SCORE_FRAC)
    return mult_shift(c, SCORE_MULT_W, SCORE_SHIFT_MAX)


def head_scale_params(scale_v: float) -> tuple[int, int]:
    """CSR HEAD_SCALE ``(mult, shift)`` of a head whose V scale is ``scale_v``: E ints (units
    scale_v / 16) into the common head-importance unit 2^-HEAD_IMP_FRAC,
    ``mult / 2^shift ~= scale_v / 2^E_EXTRA_FRAC * 2^HEAD_IMP_FRAC`` (:func:`mult_shift`)."""
    c = scale_v * 2.0 ** (HEAD_IMP_FRAC - E_EXTRA_FRAC)
    return mult_shift(c, HEAD_SCALE_MULT_W, HEAD_SCALE_SHIFT_MAX)


# ================================================================ exp2 LUTs ===================
def _lut(step_log2: int) -> np.ndarray:
    idx = np.arange(1 << LUT_ADDR_W)
    return np.rint(np.exp2(-idx / (1 << step_log2)) * (1 << LUT_FRAC)).astype(np.int64)


EXP_LUT_HI = _lut(LUT_ADDR_W)  # 2^(-i/16), UQ1.15
EXP_LUT_LO = _lut(SCORE_FRAC)  # 2^(-j/256), UQ1.15


def exp2_neg(t: np.ndarray) -> np.ndarray:
    """``exp2(-t / 2^8)`` in UQ1.24 for a saturated UQ5.8 ``t``: LUT_HI[hi nibble] *
    LUT_LO[lo nibble] (UQ2.30), one rounding shift right by ``6 + int(t)`` (0 once it underflows)."""
    t = as_int(t)
    frac = t & ((1 << SCORE_FRAC) - 1)
    prod = EXP_LUT_HI[frac >> LUT_ADDR_W] * EXP_LUT_LO[frac & ((1 << LUT_ADDR_W) - 1)]
    return round_shift(prod, 2 * LUT_FRAC - EXP_FRAC + (t >> SCORE_FRAC))


def lut_hex(lut: np.ndarray) -> str:
    """LUT as one Verilog concatenation literal, entry 0 in the least significant bits."""
    return f"{LUT_W * len(lut)}'h" + "".join(f"{int(v):04x}" for v in lut[::-1])


# ================================================================ Verilog header ==============
def header_defines() -> dict[str, int | str]:
    """Every format constant the RTL needs, by its `define name (without prefix)."""
    names = [
        "DATA_W",
        "D_MAX",
        "LOG2_D_MAX",
        "QK_PROD_W",
        "QK_ACC_W_MAX",
        "SCORE_MULT_W",
        "SCORE_SHIFT_W",
        "SCORE_FRAC",
        "SCORE_W",
        "MAX_N",
        "LOG2_MAX_N",
        "T_INT_W",
        "T_W",
        "LUT_ADDR_W",
        "LUT_W",
        "LUT_FRAC",
        "EXP_FRAC",
        "EXP_W",
        "EXP_SUM_W",
        "RECIP_R",
        "RECIP_W",
        "PROB_FRAC",
        "PROB_W",
        "PROB_SHIFT",
        "PV_PROD_W",
        "PV_ACC_W",
        "E_W",
        "E_EXTRA_FRAC",
        "PV_SHIFT",
        "TOK_IMP_W",
        "HEAD_IMP_W",
        "HEAD_IMP_FRAC",
        "HEAD_SCALE_MULT_W",
        "HEAD_SCALE_SHIFT_W",
        "HEAD_VEC_W",
        "AXI_BYTES",
    ]
    from golden.codes import ByteClass, ErrorCode, FetchJob, ImportanceOp  # one source for all
    from golden.topk import PROBE_MIN_P  # the engine's sorted-input probe, golden rule "row"

    out: dict[str, int | str] = {n: globals()[n] for n in names}
    out["EXP_LUT_HI"] = lut_hex(EXP_LUT_HI)
    out["EXP_LUT_LO"] = lut_hex(EXP_LUT_LO)
    out["TOPK_PROBE_MIN_P"] = PROBE_MIN_P
    for prefix, codes, width in (("ERR", ErrorCode, 4), ("IMP_OP", ImportanceOp, 2),
                                 ("CLASS", ByteClass, 3), ("FJOB", FetchJob, 2)):
        out.update({f"{prefix}_{c.name}": f"{width}'d{int(c)}" for c in codes})
    return out


def write_verilog_header(path: str | Path) -> None:
    """Write the `define header (rtl/spatten_fixed.vh) generated from this module."""
    lines = [
        "// Generated by golden/fixed.py (write_verilog_header). Do not edit by hand.",
        "// Formats: docs/fixed_point.md; codes (ERR, IMP_OP, CLASS, FJOB): golden/codes.py.",
        "`ifndef SPATTEN_FIXED_VH",
        "`define SPATTEN_FIXED_VH",
    ]
    lines += [f"`define SPATTEN_{k} {v}" for k, v in header_defines().items()]
    lines += ["`endif // SPATTEN_FIXED_VH", ""]
    Path(path).write_text("\n".join(lines))


if __name__ == "__main__":  # regenerate the header: python -m golden.fixed [path]
    import sys

    write_verilog_header(sys.argv[1] if len(sys.argv) > 1 else "rtl/spatten_fixed.vh")

"""Formats, rounding, quantization, plane split and the exp2 LUTs of golden/fixed.py."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from golden import fixed as fx

ROOT = Path(__file__).resolve().parents[2]
int12 = st.integers(-2048, 2047)


def test_widths_cover_their_worst_case() -> None:
    assert fx.QK_ACC_W_MAX == 30 and (2048 * 2048 * fx.D_MAX) <= (1 << (fx.QK_ACC_W_MAX - 1))
    assert fx.MAX_N * (1 << fx.EXP_FRAC) < (1 << fx.EXP_SUM_W)
    assert (1 << fx.RECIP_R) // (1 << fx.EXP_FRAC) < (1 << fx.RECIP_W)  # sum >= 2^EXP_FRAC
    assert fx.PROB_MAX * 2048 <= (1 << (fx.PV_PROD_W - 1))
    assert fx.MAX_N * fx.PROB_MAX * 2048 <= (1 << (fx.PV_ACC_W - 1))
    assert (1 << (fx.E_W - 1)) > fx.DATA_QMAX << fx.E_EXTRA_FRAC  # no saturation for sane rows
    assert 2 * fx.LUT_FRAC >= fx.EXP_FRAC and fx.PROB_SHIFT == fx.RECIP_R - fx.PROB_FRAC


@given(st.integers(-(1 << 50), 1 << 50), st.integers(0, 40))
def test_round_shift_is_round_half_up(x: int, s: int) -> None:
    assert int(fx.round_shift(x, s)) == math.floor(Fraction(x, 2**s) + Fraction(1, 2))


def test_saturation_helpers() -> None:
    assert fx.sat_signed([-(1 << 30), 5, 1 << 30], 20).tolist() == [-(1 << 19), 5, (1 << 19) - 1]
    assert fx.sat_unsigned([-3, 7, 1 << 40], 16).tolist() == [0, 7, 65535]
    assert fx.wrap_signed([255, 128, 127], 8).tolist() == [-1, -128, 127]


@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=50), st.integers(2, 16))
def test_quantize_sym(xs: list[float], bits: int) -> None:
    x = np.array(xs)
    ints, scale = fx.quantize_sym(x, bits)
    qmax = (1 << (bits - 1)) - 1
    assert np.abs(ints).max() <= qmax
    assert np.abs(ints * scale - x).max() <= scale / 2 * (1 + 1e-9)


def test_quantize_zero_tensor_and_half_even() -> None:
    ints, scale = fx.quantize_sym(np.zeros(4))
    assert scale == 1.0 and not ints.any()
    ints, _ = fx.quantize_sym(np.array([2047.0, 0.5, 1.5, -2.5]))
    assert ints.tolist() == [2047, 0, 2, -2]


def test_reconstruct_example_from_brief() -> None:
    k = 0b0101_1011_0111
    assert int(fx.reconstruct(k, 6)) == 0b0101_1010_0000
    assert int(fx.reconstruct(k, 12)) == k
    assert int(fx.reconstruct(-1, 1)) == -2048 + 1024


@given(int12, st.integers(1, 12), st.integers(0, 11))
def test_split_join_planes(k: int, m: int, lsb: int) -> None:
    lsb = min(lsb, 12 - m)
    msb_plane, lsb_plane = fx.split_planes(k, m, lsb)
    assert -(1 << (m - 1)) <= msb_plane < (1 << (m - 1)) and 0 <= lsb_plane < (1 << lsb)
    r = int(fx.join_planes(msb_plane, lsb_plane, m, lsb))
    assert r == int(fx.reconstruct(k, m + lsb))
    drop = 12 - m - lsb
    assert abs(r - k) <= (1 << drop >> 1) and -2048 <= r <= 2047


@given(st.floats(1e-5, 1.0), st.floats(1e-5, 1.0), st.sampled_from([1, 2, 32, 64]))
def test_score_scale_params(sq: float, sk: float, d: int) -> None:
    mult, shift = fx.score_scale_params(sq, sk, d)
    c = sq * sk * math.log2(math.e) / math.sqrt(d) * 256
    assert 0 < mult < (1 << 16) and 0 <= shift <= 63
    assert shift == 63 or round(c * 2.0 ** (shift + 1)) >= (1 << 16)  # largest shift
    assert abs(mult / 2.0**shift / c - 1) < 2e-5


def test_score_scale_params_saturates() -> None:
    assert fx.score_scale_params(1e3, 1e3, 1) == (65535, 0)


@given(st.floats(1e-6, 1e2))
def test_head_scale_params(scale_v: float) -> None:
    """HEAD_SCALE: E ints (units scale_v / 16) to the common unit 2^-HEAD_IMP_FRAC."""
    mult, shift = fx.head_scale_params(scale_v)
    c = scale_v / 16 * 2**fx.HEAD_IMP_FRAC
    assert 0 < mult < (1 << fx.HEAD_SCALE_MULT_W) and 0 <= shift <= fx.HEAD_SCALE_SHIFT_MAX
    assert shift == fx.HEAD_SCALE_SHIFT_MAX or round(c * 2.0 ** (shift + 1)) >= (1 << 16)
    assert abs(mult / 2.0**shift / c - 1) < 2e-5


def test_head_scale_params_saturates() -> None:
    assert fx.head_scale_params(1e3) == (65535, 0)  # c = 256000 > 2^16 - 1 at shift 0


def test_exp_luts_and_exp2_neg() -> None:
    assert fx.EXP_LUT_HI[0] == fx.EXP_LUT_LO[0] == 32768 and fx.EXP_LUT_HI.max() < (1 << 16)
    t = np.arange(fx.T_MAX + 1)
    e = fx.exp2_neg(t)
    assert e[0] == 1 << fx.EXP_FRAC and (np.diff(e) <= 0).all() and e[-1] == 0
    exact = np.exp2(-t / 256) * (1 << fx.EXP_FRAC)
    assert (np.abs(e - exact) <= exact * 2**-14.5 + 0.5).all()


def test_verilog_header_is_current(tmp_path: Path) -> None:
    out = tmp_path / "h.vh"
    fx.write_verilog_header(out)
    text = out.read_text()
    assert "`define SPATTEN_DATA_W 12" in text and "`define SPATTEN_EXP_LUT_HI 256'h" in text
    assert text == (ROOT / "rtl" / "spatten_fixed.vh").read_text(), "regenerate the header"

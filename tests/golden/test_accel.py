"""Command-level accelerator model golden/accel.py: equivalence with FixedSpatten through the
memory image, memory writes, CSR read-back, every error code."""

from __future__ import annotations

import numpy as np
import pytest

from golden import blocks as blk
from golden import fixed as fx
from golden.accel import (
    AccelModel,
    AccelParams,
    CommandResult,
    ErrorCode,
    Mode,
    Reg,
    heads_of,
    keep_list_bytes,
    mask_of,
    pack_bits,
)
from golden.config import PruneConfig
from golden.system import FixedSpatten, LayerResult
from host.driver import Layout, build_image, command_counts, command_regs

POISON = 0xA5
PARAMS = AccelParams(lanes=8, d_max=64, max_n=64, h_max=8)


def random_cfg(rng: np.random.Generator) -> PruneConfig:
    msb = int(rng.integers(1, 13))
    return PruneConfig(
        token_keep=float(rng.choice([1.0, 0.9, 0.6, 0.3])),
        head_keep=float(rng.choice([1.0, 0.75, 0.5])),
        value_keep=float(rng.choice([1.0, 0.7, 0.3, 0.05])),
        msb_bits=msb,
        lsb_bits=int(rng.integers(0, 13 - msb)),
        requant_threshold=float(rng.choice([0.0, 0.1, 0.3, 1.0])),
        prune_start_layer=int(rng.integers(0, 3)),
        keep_special=False,  # a host-side rule (host.driver.RtlAttention, test_host.py)
    )


def model_layer(model: AccelModel, mem: bytearray, q: np.ndarray, k: np.ndarray,
                v: np.ndarray, cfg: PruneConfig, index: int, mode: Mode = Mode.SUMMARIZATION
                ) -> tuple[CommandResult, Layout]:
    """One command on the model, image and CSRs built by the host functions."""
    h_all, nq, d = q.shape
    n = k.shape[1]
    live = heads_of(model.live_mask, h_all)
    layout = Layout(0, h_all, nq, n, d, cfg.msb_bits, cfg.lsb_bits)
    image = build_image(layout, q, k, v, live)
    for addr, data in image.writes:
        mem[addr:addr + len(data)] = data
    regs = command_regs(layout, cfg, command_counts(cfg, index, n, len(live)), mode, image)
    return model.run_command(regs, mem), layout


def expected_macs(gold: LayerResult, n: int, d: int) -> int:
    live = gold.extra["live_heads"]
    rows = gold.extra["e_int"].shape[1] * len(live) + gold.requant_rows
    return rows * n * d + int(gold.extra["kept_v"][live].size) * d


def check_against_golden(res: CommandResult, gold: LayerResult, layout: Layout,
                         mem: bytearray) -> None:
    assert res.ok, res.detail
    live = gold.extra["live_heads"]
    np.testing.assert_array_equal(res.live_heads, live)
    np.testing.assert_array_equal(res.e_int, gold.extra["e_int"])
    np.testing.assert_array_equal(res.keep_tokens, gold.keep_tokens)
    np.testing.assert_array_equal(res.keep_heads, gold.keep_heads)
    np.testing.assert_array_equal(res.token_importance, gold.extra["token_importance"])
    np.testing.assert_array_equal(res.head_importance[:layout.heads],
                                  gold.extra["head_importance"])
    assert res.bytes == gold.bytes
    assert res.requant_rows == gold.requant_rows
    assert res.macs == expected_macs(gold, layout.n, layout.d)
    regs = res.regs
    assert regs[Reg.LIVE_HEADS] == mask_of(gold.keep_heads)
    assert regs[Reg.KEPT_TOKENS] == len(gold.keep_tokens)
    assert regs[Reg.BYTES_E] == gold.bytes["E"] and regs[Reg.BYTES_K_LSB] == gold.bytes["K_LSB"]
    assert regs[Reg.MACS_LO] | regs[Reg.MACS_HI] << 32 == res.macs
    # memory: E of the live heads as packed 16-bit rows, nothing at pruned heads' E
    before = bytes(mem)
    res.apply(mem)
    e_bytes = layout.queries * blk.row_stride(layout.d, fx.E_W)
    for h in range(layout.heads):
        got = bytes(mem[layout.e_base + layout.head(h):][:e_bytes])
        if h in live:
            assert got == blk.pack_rows(gold.extra["e_int"][h], fx.E_W, blk.row_stride(layout.d, fx.E_W))[0]
        else:
            assert got == bytes(before[layout.e_base + layout.head(h):][:e_bytes])
    if res.keep_tokens.size and len(res.writes) > len(live):  # PRUNE_EN: KEEP list written
        keep = keep_list_bytes(gold.keep_tokens)
        assert bytes(mem[layout.keep_base:layout.keep_base + len(keep)]) == keep


@pytest.mark.parametrize("seed", range(12))
def test_model_matches_fixed_spatten_over_layers(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = random_cfg(rng)
    h_all = int(rng.integers(1, 6))
    d = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
    n = int(rng.integers(1, 41))
    sigma = float(rng.choice([0.1, 1.0, 3.0]))
    gold, model = FixedSpatten(cfg), AccelModel(PARAMS)
    for layer in range(4):
        q, k, v = (rng.normal(0, sigma, (h_all, n, d)) for _ in range(3))
        g = gold.layer(layer, q, k, v)
        if layer == 0:
            model.clear()
        layout = Layout(0, h_all, n, n, d, cfg.msb_bits, cfg.lsb_bits)
        mem = bytearray([POISON]) * layout.end
        res, layout = model_layer(model, mem, q, k, v, cfg, layer)
        check_against_golden(res, g, layout, mem)
        n = len(g.keep_tokens)


def test_requant_and_pruning_are_exercised() -> None:
    """A setting that requantizes rows and prunes tokens and heads (guards the random test)."""
    cfg = PruneConfig(token_keep=0.5, head_keep=0.5, value_keep=0.3, msb_bits=4, lsb_bits=4,
                      requant_threshold=0.3, prune_start_layer=0, keep_special=False)
    rng = np.random.default_rng(7)
    gold, model = FixedSpatten(cfg), AccelModel(PARAMS)
    n, saw_requant = 24, 0
    for layer in range(3):
        q, k, v = (rng.normal(0, 0.5, (4, n, 16)) for _ in range(3))
        g = gold.layer(layer, q, k, v)
        mem = bytearray([POISON]) * Layout(0, 4, n, n, 16, 4, 4).end
        res, layout = model_layer(model, mem, q, k, v, cfg, layer)
        check_against_golden(res, g, layout, mem)
        saw_requant += res.requant_rows
        n = len(g.keep_tokens)
    assert saw_requant > 0 and res.bytes["K_LSB"] > 0
    assert n == 3 and len(res.keep_heads) == 1


def test_generation_mode_matches_generate_step() -> None:
    cfg = PruneConfig(token_keep=0.8, head_keep=0.75, value_keep=0.5, msb_bits=6, lsb_bits=4,
                      requant_threshold=0.1, prune_start_layer=2)
    rng = np.random.default_rng(3)
    h_all, d, length = 4, 8, 6
    gold, model = FixedSpatten(cfg), AccelModel(PARAMS)
    k_cache, v_cache = rng.normal(0, 1, (2, h_all, length, d))
    live, seen = np.zeros(0, dtype=np.int64), 0
    for step in range(6):
        q = rng.normal(0, 1, (h_all, d))
        g = gold.generate_step(q, k_cache, v_cache)
        live, seen = np.concatenate([live, np.arange(seen, length)]), length
        np.testing.assert_array_equal(g.extra["live_positions"], live)
        mem = bytearray([POISON]) * Layout(0, h_all, 1, len(live), d, 6, 4).end
        res, layout = model_layer(model, mem, q[:, None], k_cache[:, live], v_cache[:, live],
                                  cfg, step, Mode.GENERATION)
        check_against_golden(res, g, layout, mem)
        live = live[res.keep_tokens]
        k_cache = np.concatenate([k_cache, rng.normal(0, 1, (h_all, 1, d))], axis=1)
        v_cache = np.concatenate([v_cache, rng.normal(0, 1, (h_all, 1, d))], axis=1)
        length += 1


def test_no_prune_keeps_everything_and_writes_no_keep_list() -> None:
    rng = np.random.default_rng(1)
    model = AccelModel(PARAMS)
    q, k, v = (rng.normal(0, 1, (3, 10, 8)) for _ in range(3))
    cfg = PruneConfig(token_keep=0.5, head_keep=0.5, prune_start_layer=5)
    mem = bytearray([POISON]) * Layout(0, 3, 10, 10, 8, 12, 0).end
    res, layout = model_layer(model, mem, q, k, v, cfg, 0)
    assert res.ok and len(res.writes) == 3  # the E blocks only
    assert res.regs[Reg.KEPT_TOKENS] == 10 and res.regs[Reg.LIVE_HEADS] == 0b111
    assert model.live_tokens == 10


def test_keep_list_padding_and_params_version() -> None:
    assert keep_list_bytes(np.array([1, 2, 300])) == bytes([1, 0, 2, 0, 44, 1]) + bytes(26)
    assert len(keep_list_bytes(np.arange(16))) == 32 and keep_list_bytes(np.arange(0)) == b""
    for p in (PARAMS, AccelParams(), AccelParams(lanes=64, d_max=32, max_n=4096, h_max=32)):
        assert AccelParams.from_version(p.version()) == p


# ================================================================ error codes ==================
def good_regs() -> tuple[dict[int, int], bytearray, Layout]:
    rng = np.random.default_rng(5)
    q, k, v = (rng.normal(0, 1, (2, 8, 16)) for _ in range(3))
    cfg = PruneConfig(token_keep=0.5, head_keep=0.5, msb_bits=8, lsb_bits=4,
                      requant_threshold=0.2)
    layout = Layout(0x100, 2, 8, 8, 16, 8, 4)
    image = build_image(layout, q, k, v, np.arange(2))
    mem = bytearray(layout.end)
    for addr, data in image.writes:
        mem[addr:addr + len(data)] = data
    regs = command_regs(layout, cfg, command_counts(cfg, 0, 8, 2), Mode.SUMMARIZATION, image)
    return regs, mem, layout


BAD_SETTINGS = [
    (ErrorCode.BAD_N, {Reg.N: 0}),
    (ErrorCode.BAD_N, {Reg.N: PARAMS.max_n + 1}),
    (ErrorCode.BAD_D, {Reg.D: 0}),
    (ErrorCode.BAD_D, {Reg.D: 12}),
    (ErrorCode.BAD_D, {Reg.D: 128}),
    (ErrorCode.BAD_HEADS, {Reg.HEADS: 0}),
    (ErrorCode.BAD_HEADS, {Reg.HEADS: PARAMS.h_max + 1}),
    (ErrorCode.K_GT_LIVE, {Reg.VALUE_KEEP: 9}),
    (ErrorCode.K_GT_LIVE, {Reg.VALUE_KEEP: 0}),
    (ErrorCode.K_GT_LIVE, {Reg.TOKEN_KEEP: 9}),
    (ErrorCode.K_GT_LIVE, {Reg.TOKEN_KEEP: 0}),
    (ErrorCode.K_GT_LIVE, {Reg.HEAD_KEEP: 3}),
    *[(ErrorCode.MISALIGNED, {r: 0x110}) for r in (Reg.Q_BASE, Reg.K_MSB_BASE, Reg.K_LSB_BASE,
                                                   Reg.V_MSB_BASE, Reg.E_BASE, Reg.KEEP_BASE)],
    (ErrorCode.MISALIGNED, {Reg.HEAD_STRIDE: 0x1004}),
    (ErrorCode.BAD_BITS, {Reg.BITS: pack_bits(0, 4)}),
    (ErrorCode.BAD_BITS, {Reg.BITS: pack_bits(13, 0)}),
    (ErrorCode.BAD_BITS, {Reg.BITS: pack_bits(8, 5)}),
    (ErrorCode.AXI_READ, {Reg.HEAD_STRIDE: 1 << 20, Reg.KEEP_BASE: 1 << 22}),  # head 1 outside
    # the layout rule (good_regs: 2 heads, blocks of 768 B at 0x100: Q 0x100, K MSB 0x1C0,
    # K LSB 0x240, V 0x280, E 0x300..0x400, KEEP 0x700)
    (ErrorCode.BAD_LAYOUT, {Reg.HEAD_STRIDE: 0}),
    (ErrorCode.BAD_LAYOUT, {Reg.HEAD_STRIDE: 768 - 32}),  # E of head 0 ends in head 1's block
    (ErrorCode.BAD_LAYOUT, {Reg.E_BASE: 0x280}),  # E over V
    (ErrorCode.BAD_LAYOUT, {Reg.E_BASE: 0x100 - 0xE0, Reg.HEAD_STRIDE: 1024}),  # E over Q
    (ErrorCode.BAD_LAYOUT, {Reg.KEEP_BASE: 0x100 + 768 + 32}),  # KEEP in head 1's block
    (ErrorCode.MISALIGNED, {Reg.HEAD_STRIDE: 8}),  # code 5 before code 11
    (ErrorCode.BAD_N, {Reg.N: 0, Reg.D: 3, Reg.BITS: 0}),  # the lowest code wins
]


@pytest.mark.parametrize("code, change", BAD_SETTINGS,
                         ids=[f"{c.name}-{i}" for i, (c, _) in enumerate(BAD_SETTINGS)])
def test_bad_setting_gives_its_code_and_changes_nothing(code: ErrorCode, change: dict) -> None:
    regs, mem, _ = good_regs()
    model = AccelModel(PARAMS)
    res = model.run_command({**regs, **change}, mem)
    assert res.error == code, res.detail
    assert not res.writes and res.regs[Reg.ERROR_CODE] == code
    assert model.live_tokens == 0 and model.live_mask == (1 << PARAMS.h_max) - 1
    assert not model.head_imp.any()
    assert model.run_command(regs, mem).ok  # the good setting still runs afterwards


@pytest.mark.parametrize("change", [
    {},  # HEAD_STRIDE = the block: heads back to back
    {Reg.HEADS: 1, Reg.HEAD_KEEP: 1, Reg.HEAD_STRIDE: 0},  # one head: the stride is not used
    {Reg.HEAD_STRIDE: 1024, Reg.KEEP_BASE: 0x100 + 2048},  # gaps; KEEP right after the blocks
    {Reg.K_LSB_BASE: 0x300, Reg.BITS: pack_bits(8, 0)},  # an unread K LSB plane may sit on E
    {Reg.PRUNE: 0, Reg.KEEP_BASE: 0x100},  # no KEEP list written without PRUNE
], ids=["back_to_back", "one_head_stride_0", "gaps", "lsb_unused", "no_prune"])
def test_layout_rule_accepts(change: dict) -> None:
    """Layouts at the edges of the rule that must run (docs/csr.md, code 11)."""
    regs, mem, _ = good_regs()
    mem += bytearray(4096)  # room for the gaps
    res = AccelModel(PARAMS).run_command({**regs, **change}, mem)
    assert res.ok, res.detail


def test_unused_keep_counts_ignored_without_prune_and_n_below_live_refused() -> None:
    regs, mem, _ = good_regs()
    model = AccelModel(PARAMS)
    assert model.run_command({**regs, Reg.PRUNE: 0, Reg.TOKEN_KEEP: 0, Reg.HEAD_KEEP: 99},
                             mem).ok
    assert model.live_tokens == 8
    res = model.run_command({**regs, Reg.N: 7, Reg.VALUE_KEEP: 7, Reg.TOKEN_KEEP: 3}, mem)
    assert res.error == ErrorCode.BAD_N  # fewer tokens than live: host forgot CLEAR / KEEP
    model.clear()
    assert model.run_command({**regs, Reg.N: 7, Reg.VALUE_KEEP: 7, Reg.TOKEN_KEEP: 3}, mem).ok

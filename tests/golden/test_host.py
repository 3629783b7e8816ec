"""Host flow host/driver.py on the pure-Python ModelDevice: MiniLM and generation equal the
golden FixedSpatten exactly; memory layout; CSR protocol; errors; async devices."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from golden import minilm
from golden.accel import AccelParams, CommandError, Ctrl, ErrorCode, Reg, Status
from golden.config import DEFAULT_PRUNE, PruneConfig
from golden.regs import ImpAddr
from golden.system import FixedSpatten
from host.driver import (
    Layout,
    ModelDevice,
    RtlAttention,
    RtlGeneration,
    command_counts,
    probe,
    run_command,
    run_sync,
)

PRUNED = PruneConfig(token_keep=0.7, head_keep=0.75, value_keep=0.5, msb_bits=6, lsb_bits=4,
                     requant_threshold=0.2, prune_start_layer=1)
TEXT = "The tokenizer splits the sentence into word pieces before the encoder runs."


@pytest.mark.parametrize("cfg", [DEFAULT_PRUNE, PRUNED], ids=["default", "pruned"])
def test_minilm_on_model_device_equals_fixed_spatten(cfg: PruneConfig) -> None:
    gold = minilm.encode(TEXT, FixedSpatten(cfg))
    dev = ModelDevice()
    got = minilm.encode(TEXT, RtlAttention(dev, cfg))
    np.testing.assert_array_equal(got.embedding, gold.embedding)
    np.testing.assert_array_equal(got.live_positions, gold.live_positions)
    for g, r in zip(gold.layers, got.layers, strict=True):
        np.testing.assert_array_equal(r.out, g.out)
        np.testing.assert_array_equal(r.keep_tokens, g.keep_tokens)
        np.testing.assert_array_equal(r.keep_heads, g.keep_heads)
        assert (r.bytes, r.bytes_dense, r.requant_rows, r.rows) == \
            (g.bytes, g.bytes_dense, g.requant_rows, g.rows)
    assert len(dev.results) == minilm.N_LAYERS
    if cfg is PRUNED:
        assert sum(r.requant_rows for r in got.layers) > 0
        assert len(got.layers[-1].keep_heads) < minilm.N_HEADS


def test_generation_on_model_device_equals_generate_step() -> None:
    rng = np.random.default_rng(11)
    h_all, d, length = 3, 16, 5
    gold, dut = FixedSpatten(PRUNED), RtlGeneration(ModelDevice(), PRUNED)
    k_cache, v_cache = rng.normal(0, 1, (2, h_all, length, d))
    for _ in range(5):
        q = rng.normal(0, 1, (h_all, d))
        g, r = gold.generate_step(q, k_cache, v_cache), dut.generate_step(q, k_cache, v_cache)
        np.testing.assert_array_equal(r.out, g.out)
        np.testing.assert_array_equal(r.extra["live_positions"], g.extra["live_positions"])
        np.testing.assert_array_equal(r.keep_tokens, g.keep_tokens)
        np.testing.assert_array_equal(r.keep_heads, g.keep_heads)
        assert r.bytes == g.bytes and r.bytes_dense == g.bytes_dense
        k_cache, v_cache = (np.concatenate([c, rng.normal(0, 1, (h_all, 2, d))], axis=1)
                            for c in (k_cache, v_cache))
    assert len(dut.live_pos) < k_cache.shape[1] - 2


def test_layout_regions_aligned_and_disjoint() -> None:
    for args in [(0, 12, 60, 60, 32, 8, 0), (0x40, 3, 1, 17, 64, 6, 4), (0, 1, 5, 5, 1, 12, 0)]:
        lay = Layout(*args)
        starts = [lay.q_base, lay.k_msb_base, lay.k_lsb_base, lay.v_msb_base, lay.e_base,
                  lay.base + lay.head_stride]
        assert all(a % 32 == 0 for a in [*starts, lay.keep_base, lay.head_stride, lay.end])
        assert starts == sorted(starts)
        assert lay.keep_base == lay.base + lay.heads * lay.head_stride
        assert lay.end - lay.keep_base >= 2 * lay.n


def test_counts_follow_prune_config() -> None:
    c = command_counts(PRUNED, 0, 60, 12)
    assert (c.prune, c.token_keep, c.head_keep, c.value_keep) == (True, 42, 9, 30)
    start = DEFAULT_PRUNE.prune_start_layer
    assert not command_counts(DEFAULT_PRUNE, start - 2, 60, 12).prune
    assert command_counts(DEFAULT_PRUNE, start - 1, 60, 12).prune


def test_model_device_csr_protocol() -> None:
    dev = ModelDevice()
    params = run_sync(probe(dev))
    assert params == dev.model.params
    assert run_sync(dev.read_reg(Reg.LIVE_HEADS)) == (1 << params.h_max) - 1
    run_sync(dev.write_reg(Reg.LIVE_HEADS, 0))  # read-only: ignored
    assert run_sync(dev.read_reg(Reg.LIVE_HEADS)) == (1 << params.h_max) - 1
    run_sync(dev.write_reg(Reg.CTRL, Ctrl.START))  # all CSRs 0: bad N
    assert run_sync(dev.wait_done()) == Status.ERROR
    assert run_sync(dev.read_reg(Reg.ERROR_CODE)) == ErrorCode.BAD_N
    run_sync(dev.write_reg(Reg.STATUS, Status.ERROR))  # W1C
    assert run_sync(dev.read_reg(Reg.STATUS)) == 0


def test_model_device_importance_window() -> None:
    """IMP_ADDR / IMP_DATA / IMP_DATA_HI (docs/csr.md) read golden's importance state: each
    IMP_DATA read advances INDEX, 0 beyond the live tokens / H_MAX, head bits 63:32 in HI."""
    dev = ModelDevice(AccelParams(max_n=64, h_max=4))
    rng = np.random.default_rng(3)
    q = rng.normal(0, 1, (4, 12, 16))
    run_sync(dev.write_reg(Reg.CTRL, Ctrl.CLEAR))
    res = run_sync(run_command(dev, q, q, rng.normal(0, 30, (4, 12, 16)), PRUNED, 1))
    model, kept = dev.model, len(res.keep_tokens)
    assert kept == run_sync(dev.read_reg(Reg.KEPT_TOKENS)) and model.tok_imp.any()

    def window(addr: int, count: int, hi: bool) -> list[int]:
        run_sync(dev.write_reg(Reg.IMP_ADDR, addr))
        out = []
        for _ in range(count):
            word = run_sync(dev.read_reg(Reg.IMP_DATA))
            out.append(word | (run_sync(dev.read_reg(Reg.IMP_DATA_HI)) << 32 if hi else 0))
        return out

    assert window(0, kept + 2, False) == [*model.tok_imp.tolist(), 0, 0]
    assert window(ImpAddr.HEAD, 5, True) == [*model.head_imp.tolist(), 0]
    assert run_sync(dev.read_reg(Reg.IMP_ADDR)) == ImpAddr.HEAD | 5
    model.head_imp[1] = 0x12_3456_789A  # above 32 bits (40-bit accumulators): HI
    assert window(ImpAddr.HEAD | 1, 1, True) == [0x12_3456_789A]
    assert window(ImpAddr.HEAD | 0xFFFF, 2, True) == [0, model.head_imp[0]]  # INDEX wraps


def test_bad_setting_raises_command_error() -> None:
    dev = ModelDevice(AccelParams(max_n=4, h_max=2))
    q = np.ones((2, 8, 8))  # 8 tokens > MAX_N
    with pytest.raises(CommandError) as err:
        run_sync(run_command(dev, q, q, q, PRUNED, 0))
    assert err.value.code == ErrorCode.BAD_N
    assert run_sync(dev.read_reg(Reg.STATUS)) == 0  # the host cleared it


class YieldingDevice(ModelDevice):
    """A ModelDevice whose every access suspends once (like a bus transaction)."""

    async def read_reg(self, off: int) -> int:
        await asyncio.sleep(0)
        return await super().read_reg(off)

    async def write_reg(self, off: int, val: int) -> None:
        await asyncio.sleep(0)
        await super().write_reg(off, val)


def test_suspending_device_needs_an_event_loop() -> None:
    rng = np.random.default_rng(2)
    q, k, v = (rng.normal(0, 1, (2, 6, 8)) for _ in range(3))
    with pytest.raises(RuntimeError, match="suspended"):
        run_sync(run_command(YieldingDevice(), q, k, v, PRUNED, 0))
    got = asyncio.run(run_command(YieldingDevice(), q, k, v, PRUNED, 0))
    gold = FixedSpatten(PRUNED).layer(0, q, k, v)
    np.testing.assert_array_equal(got.out, gold.out)
    assert got.extra["layout"].queries == 6

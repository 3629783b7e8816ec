"""head_importance: random sequences of clear / accumulate-E-vector / read-out commands,
bit-exact against golden.blocks.head_importance (the model keeps the H accumulators); every
vector with its own head scale (in_scale = {shift, mult}: random multipliers, shifts 0..63);
idle and backpressure; |-32768|; vector-sum and accumulator saturation; out-of-range head ids;
read-outs of every live mask size (dense packing of the live heads); an accumulate or a clear
right before a read-out or a clear (the pending-update cases); accumulate never stalls."""

from __future__ import annotations

from typing import Any

import cocotb
import numpy as np
import pytest
import pyuvm

from golden import blocks
from golden import fixed as fx
from verif.importance import OP_ACC, OP_CLEAR, OP_READ, OpTest, cmd
from verif.lanes import pack_lanes, unpack_lanes
from verif.runner import Bench
from verif.seeding import params, seed_text
from verif.testing import run_bench
from verif.uvm import ScoreboardError, StreamItem

# make sim / mutants: 16 heads, 8 lanes, 24-bit accumulators (test-only width); the regression
# also runs the real 40 bits (saturated by a few vectors at the largest scale).
BENCH = Bench("head_importance", ["head_importance.v"], {"H_MAX": 16, "LANES": 8, "ACC_W": 24})
CONFIGS = [{"H_MAX": 16, "LANES": 8, "ACC_W": 40}, {"H_MAX": 12, "LANES": 4, "ACC_W": 20}]
OP_RESERVED = 3
E_W = 16
IN_FIELDS = ("op", "data", "keep", "head", "scale", "live")
MULT_W, SHIFT_MAX = fx.HEAD_SCALE_MULT_W, fx.HEAD_SCALE_SHIFT_MAX
MAX_SCALE = (1 << MULT_W) - 1  # mult 65535, shift 0: the largest factor
OUT_FIELDS = ("score", "head", "keep")


def cfg() -> tuple[int, int, int]:
    p = {**BENCH.parameters, **params()}
    return p["H_MAX"], p["LANES"], p["ACC_W"]


# ================================================================ model =======================
class HeadModel:
    def __init__(self, h_max: int, lanes: int, acc_w: int) -> None:
        self.h_max, self.lanes, self.acc_w = h_max, lanes, acc_w
        self.sat = (1 << acc_w) - 1
        self.hw = (h_max - 1).bit_length()
        self.acc = np.zeros(h_max, dtype=np.int64)

    def __call__(self, item: StreamItem) -> list[StreamItem]:
        beats, m = item.beats, item.meta
        op = beats[0]["op"]
        m.update(op=op, lanes=self.lanes, h_max=self.h_max, nonzero=bool(self.acc.any()))
        if op == OP_CLEAR:
            self.acc[:] = 0
        elif op == OP_ACC:  # one vector: head and scale of its last beat
            vals: list[int] = []
            for beat in beats:
                lanes = unpack_lanes(beat["data"], self.lanes, E_W, signed=True)
                vals += [v for i, v in enumerate(lanes) if beat["keep"] >> i & 1]
            h, scale = beats[-1]["head"], beats[-1]["scale"]
            mult, shift = scale & MAX_SCALE, scale >> MULT_W
            e = np.array(vals, dtype=np.int64).reshape(1, -1)
            m.update(length=len(vals), e_min=-32768 in vals, out_of_range=h >= self.h_max,
                     shift=shift, vec_saturated=int(np.abs(e).sum()) > fx.HEAD_VEC_MAX,
                     saturated=False)
            if h < self.h_max:  # else ignored by the block
                total = int(self.acc[h]) + int(blocks.head_importance(0, e, mult, shift))
                self.acc[h] = min(int(blocks.head_importance(self.acc[h], e, mult, shift)),
                                  self.sat)
                m["saturated"] = total > self.sat
        elif op == OP_READ:
            live = [h for h in range(self.h_max) if beats[0]["live"] >> h & 1]
            m.update(n_live=len(live))
            return [self.readout(live)]
        return []

    def readout(self, live: list[int]) -> StreamItem:
        L, out = self.lanes, []
        nb = max(1, -(-len(live) // L))
        for b in range(nb):
            ids = live[b * L:(b + 1) * L]
            scores = [int(self.acc[h]) for h in ids]
            pad = [0] * (L - len(ids))
            out.append({"score": pack_lanes(scores + pad, self.acc_w),
                        "head": pack_lanes(ids + pad, self.hw),
                        "keep": (1 << len(ids)) - 1, "last": int(b == nb - 1)})
        return StreamItem("expected", out)


class BrokenHeadModel(HeadModel):
    """Deliberately wrong: the third read-out's first score is off by one."""

    reads = 0

    def readout(self, live: list[int]) -> StreamItem:
        item = super().readout(live)
        self.reads += 1
        if self.reads == 3:
            item.beats[0]["score"] ^= 1
        return item


# ================================================================ stimulus ====================
class HeadGen:
    def __init__(self, rng: np.random.Generator, h_max: int, lanes: int) -> None:
        self.rng, self.h_max, self.lanes = rng, h_max, lanes
        self.hw = (h_max - 1).bit_length()

    def _junk_data(self) -> int:
        return int.from_bytes(self.rng.bytes(2 * self.lanes), "little")

    def _junk_live(self) -> int:
        return int(self.rng.integers(0, 1 << self.h_max))

    def _junk_scale(self) -> int:
        return int(self.rng.integers(0, 1 << (MULT_W + fx.HEAD_SCALE_SHIFT_W)))

    def scale(self) -> int:
        """{shift, mult}: shifts 0..63 (mostly those that keep some bits of a vector)."""
        r = self.rng
        shift = int(r.choice([0, SHIFT_MAX, int(r.integers(0, 64))]) if r.random() < 0.3
                    else r.integers(1, 24))
        return shift << MULT_W | int(r.integers(0, 1 << MULT_W))

    def values(self, n: int, kind: str | None = None) -> list[int]:
        r = self.rng
        kind = kind or r.choice(["uniform", "uniform", "small", "extreme", "min", "zero"])
        if kind == "uniform":
            v = r.integers(-32768, 32768, n)
        elif kind == "small":
            v = r.integers(-8, 8, n)
        elif kind == "extreme":
            v = r.choice([-32768, 32767, -32767], n)
        elif kind == "min":
            v = np.full(n, -32768)
        else:
            v = np.zeros(n, dtype=np.int64)
        return [int(x) for x in v]

    def acc(self, head: int, length: int, kind: str | None = None,
            scale: int | None = None) -> StreamItem:
        vals, L, beats = self.values(length, kind), self.lanes, []
        scale = self.scale() if scale is None else scale
        for b in range(max(1, -(-length // L))):
            chunk = vals[b * L:(b + 1) * L]
            junk = [int(x) for x in self.rng.integers(-32768, 32768, L - len(chunk))]
            beats.append({"data": pack_lanes(chunk + junk, E_W), "keep": (1 << len(chunk)) - 1,
                          "head": head, "scale": scale, "live": self._junk_live()})
        return cmd(OP_ACC, beats)

    def read(self, live: int) -> StreamItem:
        return cmd(OP_READ, [{"data": self._junk_data(), "keep": 0,
                              "head": int(self.rng.integers(0, 1 << self.hw)),
                              "scale": self._junk_scale(), "live": live}])

    def clear(self) -> StreamItem:
        return cmd(OP_CLEAR, [{"data": 0, "keep": 0, "head": 0, "scale": self._junk_scale(),
                               "live": self._junk_live()}])

    def reserved(self) -> StreamItem:
        return cmd(OP_RESERVED, [{"data": self._junk_data(), "keep": (1 << self.lanes) - 1,
                                  "head": 0, "scale": self._junk_scale(),
                                  "live": self._junk_live()}])

    def live_mask(self) -> int:
        r, full = self.rng.random(), (1 << self.h_max) - 1
        if r < 0.15:
            return 0
        if r < 0.35:
            return full
        if r < 0.5:
            return 1 << int(self.rng.integers(0, self.h_max))
        return self._junk_live()

    def head(self) -> int:
        # out-of-range ids (>= H_MAX, when H_MAX is not a power of two) now and then
        top = 1 << self.hw if self.rng.random() < 0.1 else self.h_max
        return int(self.rng.integers(0, top))

    def length(self) -> int:
        r, L = self.rng.random(), self.lanes
        return 1 if r < 0.15 else 64 if r < 0.35 else int(self.rng.integers(1, 3 * L + 1))

    def random_op(self) -> StreamItem:
        x = self.rng.random()
        if x < 0.04:
            return self.clear()
        if x < 0.06:
            return self.reserved()
        if x < 0.78:
            return self.acc(self.head(), self.length())
        return self.read(self.live_mask())


# ================================================================ coverage ====================
def _op(it: StreamItem, op: int) -> bool:
    return it.meta.get("op") == op


ITEM_BINS = {
    "saturation": lambda it: _op(it, OP_ACC) and it.meta["saturated"],
    "vec_saturation": lambda it: _op(it, OP_ACC) and it.meta["vec_saturated"],
    "shift_zero": lambda it: _op(it, OP_ACC) and it.meta["shift"] == 0,
    "shift_max": lambda it: _op(it, OP_ACC) and it.meta["shift"] == SHIFT_MAX,
    "e_min": lambda it: _op(it, OP_ACC) and it.meta["e_min"],
    "partial_beat": lambda it: _op(it, OP_ACC) and it.meta["length"] % it.meta["lanes"] != 0,
    "vector_len_1": lambda it: _op(it, OP_ACC) and it.meta["length"] == 1,
    "read_none_live": lambda it: _op(it, OP_READ) and it.meta["n_live"] == 0,
    "read_all_live": lambda it: _op(it, OP_READ) and it.meta["n_live"] == it.meta["h_max"],
    "read_one_live": lambda it: _op(it, OP_READ) and it.meta["n_live"] == 1,
    "read_multi_beat": lambda it: _op(it, OP_READ) and it.meta["n_live"] > it.meta["lanes"],
    "clear_nonempty": lambda it: _op(it, OP_CLEAR) and it.meta["nonzero"],
    "reserved_op": lambda it: _op(it, OP_RESERVED),
}
# white-box: a read-out / clear presented while an accumulate update is still pending
PENDING_BINS = ("read_waits_update", "clear_during_update")


class HeadTest(OpTest):
    in_fields = IN_FIELDS
    out_fields = OUT_FIELDS
    item_bins = ITEM_BINS
    never_stalled = (OP_ACC, OP_CLEAR, OP_RESERVED)
    ops = 150
    batches_n = 2
    model_class = HeadModel
    debug_index = "dbg_head"

    def make_model(self) -> HeadModel:
        return self.model_class(*cfg())

    def debug_want(self) -> list[int]:
        return [int(v) for v in self.model.acc]

    def build_phase(self) -> None:
        super().build_phase()
        self.h_max, self.lanes, self.acc_w = cfg()
        self.gen = HeadGen(self.np_rng, self.h_max, self.lanes)

    def hook(self, dut: Any, hits: dict[str, int]) -> None:
        if dut.in_valid.value and dut.v1_q.value:
            op = int(dut.in_op.value)
            if op in (OP_READ, OP_CLEAR):
                name = PENDING_BINS[0] if op == OP_READ else PENDING_BINS[1]
                hits[name] = hits.get(name, 0) + 1

    def saturation_burst(self) -> list[StreamItem]:
        """Vectors of -32768 at the largest scale on one head (each adds 2^15 * 64 * 65535 ~
        2^37: 9 saturate 40 bits), then on another head (cleared first) one vector longer than
        127 values (its sum saturates at 2^22 - 1) at scale 1.0, a read-out."""
        g, h = self.gen, int(self.gen.rng.integers(0, self.h_max))
        vectors = (1 << self.acc_w) // (64 * 32768 * MAX_SCALE) + 2
        return [g.acc(h, 64, "min", MAX_SCALE) for _ in range(vectors)] + \
            [g.read((1 << self.h_max) - 1), g.clear(),
             g.acc((h + 1) % self.h_max, 128 + int(g.rng.integers(0, 2 * self.lanes)), "min", 1),
             g.read((1 << self.h_max) - 1)]

    def pending_mix(self) -> list[StreamItem]:
        """Accumulate immediately followed by a read-out / a clear (and a read right after)."""
        g, items = self.gen, []
        for _ in range(4):
            h = int(g.rng.integers(0, self.h_max))
            items += [g.acc(h, int(g.rng.integers(1, 2 * self.lanes + 1))), g.read(1 << h)]
            items += [g.acc(h, self.lanes, "extreme"), g.clear(), g.read((1 << self.h_max) - 1)]
            items += [g.acc(h, 1), g.acc(h, 1), g.read(g.live_mask())]
        return items

    def batches(self) -> Any:
        g = self.gen
        for b in range(self.batches_n):
            items = [g.clear()] if b == 0 else []
            items += [g.acc(h, 64, "uniform") for h in range(self.h_max)]
            items += [g.read((1 << self.h_max) - 1), g.read(0)]
            items += [g.random_op() for _ in range(self.ops)]
            items += self.saturation_burst()
            items += self.pending_mix()
            items += [g.read((1 << self.h_max) - 1), g.acc(0, 1), g.read(1)]
            yield items

    def check_status(self) -> None:
        assert int(cocotb.top.busy.value) == 0, f"busy high after drain ({seed_text()})"


@pyuvm.test()
class HeadRandomTest(HeadTest):
    """Random commands with random idle and backpressure; every bin promised."""

    def end_of_elaboration_phase(self) -> None:
        self.env.cov.promised = list(ITEM_BINS)
        self.env.obs.required = ("in_gap", "in_stall", "out_stall", *PENDING_BINS)


@pyuvm.test()
class HeadBackToBackTest(HeadTest):
    """No idle, no backpressure: commands back-to-back; a read-out takes one cycle per live
    head (a beat every LANES heads)."""

    idle = 0.0
    backpressure = 0.0
    ops = 100
    batches_n = 1
    required_item_bins = ("read_multi_beat", "read_none_live", "e_min")
    required_cycle_bins = PENDING_BINS

    async def after_drain(self) -> None:
        spans, L = self.env.obs.spans, self.lanes
        bad = [(b, c) for b, c in spans if c > (b - 1) * L + 1]
        self.logger.info(f"read-out: {len(spans)} packets, {len(bad)} slower than 1 head/cycle")
        assert spans and not bad, f"read-out slower than one head per cycle: {bad[:3]} ({seed_text()})"


@pyuvm.test(expect_error=ScoreboardError)
class HeadBrokenModelTest(HeadTest):
    """The scoreboard must catch a model that disagrees with the DUT (expect-fail)."""

    model_class = BrokenHeadModel
    ops = 40
    batches_n = 1
    required_item_bins = ()


# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    ("head_importance.v", "wire [ACC_W-1:0] upd_new = (upd_sum > UW'(SAT)) ? SAT : upd_sum[ACC_W-1:0];",
     "wire [ACC_W-1:0] upd_new = upd_sum[ACC_W-1:0];", "head_importance accumulator wraps instead of saturating"),
    ("head_importance.v", "wire [PW-1:0] addend = (shift_q == {FW{1'b0}}) ? prod : prod_rnd;",
     "wire [PW-1:0] addend = {{MW{1'b0}}, vec_q};", "head_importance scale ignored"),
    ("head_importance.v", "+ {{(PW - 1) {1'b0}}, prod_pre[0]};", ";",
     "head_importance scaled vector truncated instead of rounded"),
    ("head_importance.v", "vsum_q <= in_last ? {VW{1'b0}} : vec_total;", "vsum_q <= {VW{1'b0}};",
     "head_importance vector sum keeps only the last beat"),
    ("head_importance.v", "vec_sum[VW] ? {VW{1'b1}} : vec_sum[VW-1:0];", "vec_sum[VW-1:0];",
     "head_importance vector sum wraps instead of saturating"),
    ("head_importance.v", "(~in_data[l*EW+:EW] + 1'b1)", "(~in_data[l*EW+:EW])",
     "head_importance abs by ones complement"),
    ("head_importance.v", "wire rd_go = in_valid & is_read & ~v1_q &", "wire rd_go = in_valid & is_read &",
     "head_importance read-out ignores the pending update"),
    ("head_importance.v",
     "      if (v1_q) val_q[head_q] <= 1'b1;\n"
     "      if (in_valid & is_clear) val_q <= {H_MAX{1'b0}};  // after the update: the clear wins",
     "      if (in_valid & is_clear) val_q <= {H_MAX{1'b0}};\n"
     "      if (v1_q) val_q[head_q] <= 1'b1;", "head_importance pending update survives a clear"),
    # the debug read port (spatten_top's importance window): run by HeadRandomTest only
    ("head_importance.v", "assign dbg_score = val_q[dbg_head_q] ? acc_q[dbg_head_q]",
     "assign dbg_score = 1'b1 ? acc_q[dbg_head_q]",
     "head_importance debug read of a cleared head not 0", "HeadRandomTest"),
]


@pytest.mark.sim
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: "_".join(f"{k}{v}" for k, v in p.items()))
def test_head_importance(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)

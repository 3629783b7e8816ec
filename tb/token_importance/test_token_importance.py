"""token_importance: random sequences of clear / accumulate-row / read-out / compaction commands,
bit-exact against golden.blocks.token_importance plus numpy compaction (the model keeps the
array and the live count); idle and backpressure; back-to-back rows that hit the same memory
word (the read-modify-write forwarding path); saturation (a small test-only ACC_W, and the real
32 bits in one long run); read-out at one beat per cycle; accumulate never stalls."""

from __future__ import annotations

import os
from typing import Any

import cocotb
import numpy as np
import pytest
import pyuvm

from golden import blocks
from verif.importance import OP_ACC, OP_CLEAR, OP_COMPACT, OP_READ, OpTest, cmd
from verif.lanes import pack_lanes, unpack_lanes
from verif.runner import Bench, check, regression_seed, run
from verif.seeding import params, seed_text
from verif.testing import run_bench
from verif.uvm import ScoreboardError, StreamItem

# make sim / mutants: the default geometry with 24-bit accumulators (test-only width) so that the
# random run reaches saturation (258 rows of 1.0); the regression also runs the real 32 bits.
BENCH = Bench("token_importance", ["token_importance.v"], {"MAX_N": 1024, "LANES": 8, "ACC_W": 24})
CONFIGS = [{"MAX_N": 1024, "LANES": 8, "ACC_W": 32}, {"MAX_N": 64, "LANES": 4, "ACC_W": 20}]
SLOW_CONFIGS = [{"MAX_N": 4096, "LANES": 16, "ACC_W": 32}, {"MAX_N": 1000, "LANES": 8, "ACC_W": 24}]
FULL_SAT_ENV = "SPATTEN_TOK_FULL_SAT"  # set: TokenSaturationTest also runs 2^32 / 65535 rows

PROB_MAX = 65535
IN_FIELDS = ("op", "data", "keep", "n")
OUT_FIELDS = ("score", "pos", "keep")


def cfg() -> tuple[int, int, int]:
    p = {**BENCH.parameters, **params()}
    return p["MAX_N"], p["LANES"], p["ACC_W"]


# ================================================================ model =======================
class TokenModel:
    """The array (entries >= live read 0, kept at 0 here), bit-exact with the RTL."""

    def __init__(self, max_n: int, lanes: int, acc_w: int) -> None:
        self.max_n, self.lanes, self.acc_w = max_n, lanes, acc_w
        self.sat = (1 << acc_w) - 1
        self.psw = (max_n - 1).bit_length()
        self.imp = np.zeros(max_n, dtype=np.int64)
        self.live = 0

    def kept(self, beats: list[dict[str, int]], width: int) -> tuple[np.ndarray, np.ndarray]:
        """(slot, value) of every kept lane; slot = beat * LANES + lane."""
        slots, vals = [], []
        for b, beat in enumerate(beats):
            lanes = unpack_lanes(beat["data"], self.lanes, 16)
            for lane in range(self.lanes):
                if beat["keep"] >> lane & 1:
                    slots.append(b * self.lanes + lane)
                    vals.append(lanes[lane] & ((1 << width) - 1))
        return np.array(slots, dtype=np.int64), np.array(vals, dtype=np.int64)

    def __call__(self, item: StreamItem) -> list[StreamItem]:
        beats, m = item.beats, item.meta
        op = beats[0]["op"]
        m.update(op=op, live_before=self.live, lanes=self.lanes, max_n=self.max_n)
        if op == OP_CLEAR:
            self.imp[:] = 0
            self.live = 0
        elif op == OP_ACC:
            pos, probs = self.kept(beats, 16)
            probs = probs[pos < self.max_n]  # beats beyond MAX_N are dropped
            pos = pos[pos < self.max_n]
            old = self.imp[pos]
            self.imp[pos] = np.minimum(blocks.token_importance(old, probs), self.sat)
            m.update(length=len(pos), beats=len(beats),
                     saturated=bool((old + probs > self.sat).any()),
                     at_sat=bool((self.imp[pos] == self.sat).any()))
            if len(pos):
                self.live = max(self.live, int(pos.max()) + 1)
        elif op == OP_READ:
            n = min(beats[0]["n"], self.max_n)
            m.update(n=n)
            return [self.readout(n)]
        elif op == OP_COMPACT:
            _, keep = self.kept(beats, self.psw)
            new = np.zeros_like(self.imp)
            new[: len(keep)] = self.imp[keep]
            self.imp, self.live = new, len(keep)
            m.update(k=len(keep), holes=any(b["keep"] & (b["keep"] + 1) for b in beats))
        return []

    def readout(self, n: int) -> StreamItem:
        lanes, out = self.lanes, []
        nb = max(1, -(-n // lanes))
        for b in range(nb):
            pos = [b * lanes + i for i in range(lanes)]
            keep = [p < n for p in pos]
            scores = [int(self.imp[p]) if k else 0 for p, k in zip(pos, keep, strict=True)]
            out.append({"score": pack_lanes(scores, self.acc_w), "pos": pack_lanes(pos, self.psw),
                        "keep": pack_lanes(keep, 1), "last": int(b == nb - 1)})
        return StreamItem("expected", out)


class BrokenTokenModel(TokenModel):
    """Deliberately wrong: the third read-out's first score is off by one."""

    reads = 0

    def readout(self, n: int) -> StreamItem:
        item = super().readout(n)
        self.reads += 1
        if self.reads == 3:
            item.beats[0]["score"] ^= 1
        return item


# ================================================================ stimulus ====================
class OpGen:
    """Random commands; keeps its own copy of the live count to make sensible rows/lists."""

    def __init__(self, rng: np.random.Generator, max_n: int, lanes: int) -> None:
        self.rng, self.max_n, self.lanes = rng, max_n, lanes
        self.live = 0

    def _garbage(self) -> int:
        return int(self.rng.integers(0, 2**62)) << 2 | int(self.rng.integers(0, 4))

    def _lanes(self, values: list[int]) -> list[dict[str, int]]:
        """Dense lanes with a partial last beat; unkept lanes carry garbage."""
        beats, L = [], self.lanes
        for b in range(max(1, -(-len(values) // L))):
            chunk = values[b * L:(b + 1) * L]
            junk = [int(x) for x in self.rng.integers(0, 65536, L - len(chunk))]
            beats.append({"data": pack_lanes(list(chunk) + junk, 16), "keep": (1 << len(chunk)) - 1,
                          "n": int(self.rng.integers(0, self.max_n + 1))})
        return beats

    def probs(self, n: int, kind: str | None = None) -> list[int]:
        kind = kind or self.rng.choice(["uniform", "uniform", "small", "big", "sparse", "zero"])
        r = self.rng
        if kind == "uniform":
            v = r.integers(0, PROB_MAX + 1, n)
        elif kind == "small":
            v = r.integers(0, 16, n)
        elif kind == "big":
            v = np.full(n, PROB_MAX)
        elif kind == "sparse":
            v = np.where(r.random(n) < 0.1, r.integers(30000, PROB_MAX + 1, n), 0)
        else:
            v = np.zeros(n, dtype=np.int64)
        return [int(x) for x in v]

    def acc(self, length: int, kind: str | None = None) -> StreamItem:
        self.live = max(self.live, length)
        return cmd(OP_ACC, self._lanes(self.probs(length, kind)))

    def read(self, n: int) -> StreamItem:
        return cmd(OP_READ, [{"data": self._garbage() & ((1 << 16 * self.lanes) - 1),
                              "keep": int(self.rng.integers(0, 1 << self.lanes)), "n": n}])

    def clear(self) -> StreamItem:
        self.live = 0
        return cmd(OP_CLEAR, [{"data": 0, "keep": (1 << self.lanes) - 1, "n": 0}])

    def compact(self, keep: list[int], holes: bool = False) -> StreamItem:
        self.live = len(keep)
        if not holes or not keep:
            return cmd(OP_COMPACT, self._lanes(keep))
        beats, i, L = [], 0, self.lanes  # kept lanes scattered over each beat (ascending)
        while i < len(keep):
            take = int(self.rng.integers(1, L + 1))
            lanes = sorted(self.rng.choice(L, size=min(take, len(keep) - i), replace=False))
            data = [int(x) for x in self.rng.integers(0, 65536, L)]
            for lane in lanes:
                data[lane] = keep[i]
                i += 1
            beats.append({"data": pack_lanes(data, 16), "keep": sum(1 << int(x) for x in lanes),
                          "n": 0})
        return cmd(OP_COMPACT, beats)

    def keep_list(self, kind: str | None = None) -> list[int]:
        live, r = self.live, self.rng
        kind = kind or r.choice(["empty", "all", "random", "random", "random", "random"])
        if kind == "empty" or live == 0:
            return []
        if kind == "all":
            return list(range(live))
        k = int(r.integers(1, live + 1))
        return sorted(int(x) for x in r.choice(live, size=k, replace=False))

    def row_length(self) -> int:
        r, live, L = self.rng, self.live, self.lanes
        x = r.random()
        if x < 0.45 and live:
            return live
        if x < 0.55:
            return 1
        if x < 0.60:
            return self.max_n
        if x < 0.80:
            return int(r.integers(1, 2 * L + 1))
        return int(r.integers(1, min(self.max_n, max(live, 2 * L) + 2 * L) + 1))

    def random_op(self) -> StreamItem:
        x = self.rng.random()
        if x < 0.04:
            return self.clear()
        if x < 0.62:
            return self.acc(self.row_length())
        if x < 0.80:
            r = self.rng.random()
            n = self.live if r < 0.5 else 0 if r < 0.6 else self.max_n if r < 0.7 else \
                int(self.rng.integers(0, self.max_n + 1))
            return self.read(n)
        return self.compact(self.keep_list(), holes=self.rng.random() < 0.25)


# ================================================================ coverage ====================
def _acc(it: StreamItem) -> bool:
    return it.meta.get("op") == OP_ACC


ITEM_BINS = {
    "saturation": lambda it: _acc(it) and it.meta["saturated"],
    "partial_beat": lambda it: _acc(it) and it.meta["length"] % it.meta["lanes"] != 0,
    "row_len_1": lambda it: _acc(it) and it.meta["length"] == 1,
    "row_len_max": lambda it: _acc(it) and it.meta["length"] == it.meta["max_n"],
    "row_extends_live": lambda it: _acc(it) and it.meta["length"] > it.meta["live_before"] > 0,
    "compact_empty": lambda it: it.meta.get("op") == OP_COMPACT and it.meta["k"] == 0,
    "compact_full": lambda it: it.meta.get("op") == OP_COMPACT and it.meta["k"] == it.meta["live_before"] > 0,
    "compact_partial": lambda it: it.meta.get("op") == OP_COMPACT and 0 < it.meta["k"] < it.meta["live_before"],
    "compact_holes": lambda it: it.meta.get("op") == OP_COMPACT and it.meta["holes"],
    "read_n0": lambda it: it.meta.get("op") == OP_READ and it.meta["n"] == 0,
    "read_past_live": lambda it: it.meta.get("op") == OP_READ and it.meta["n"] > it.meta["live_before"],
    "read_n_max": lambda it: it.meta.get("op") == OP_READ and it.meta["n"] == it.meta["max_n"],
    "clear_nonempty": lambda it: it.meta.get("op") == OP_CLEAR and it.meta["live_before"] > 0,
}
# forwarding cases (white-box: fwd_hit_q with the writer and reader ops) and the interface-level
# RMW hazard (two one-beat rows accepted on consecutive cycles: same word read and written).
# A compaction's own writes are never forwarded: it writes a word only once every later
# position lies above it, and its last beat is accepted after its last write, so the ACC or
# READ after it reads memory.
FWD_BINS = ("fwd_acc_acc", "fwd_acc_read", "fwd_acc_compact")
HAZARD_BINS = ("rmw_hazard_b2b", *FWD_BINS)
OP_NAMES = {OP_ACC: "acc", OP_READ: "read", OP_COMPACT: "compact", OP_CLEAR: "clear"}


class TokenTest(OpTest):
    in_fields = IN_FIELDS
    out_fields = OUT_FIELDS
    item_bins = ITEM_BINS
    never_stalled = (OP_ACC, OP_CLEAR)
    ops = 100
    batches_n = 3
    sat_burst = True  # ACC_W <= 24: rows of 1.0 until saturation in every batch
    model_class = TokenModel
    debug_index = "dbg_pos"

    def make_model(self) -> TokenModel:
        return self.model_class(*cfg())

    def debug_want(self) -> list[int]:
        return [int(v) for v in self.model.imp]  # entries >= live read 0 (kept 0 here)

    def build_phase(self) -> None:
        super().build_phase()
        self.max_n, self.lanes, self.acc_w = cfg()
        self.gen = OpGen(self.np_rng, self.max_n, self.lanes)
        self._prev_s1, self._acc_idx, self._prev_single = -1, 0, False

    def hook(self, dut: Any, hits: dict[str, int]) -> None:
        s1 = int(dut.s1_op_q.value) if int(dut.s1_valid_q.value) else -1
        if int(dut.fwd_hit_q.value) and s1 >= 0 and self._prev_s1 >= 0:
            name = f"fwd_{OP_NAMES[self._prev_s1]}_{OP_NAMES[s1]}"
            hits[name] = hits.get(name, 0) + 1
        self._prev_s1 = s1
        single = False
        if dut.in_valid.value and dut.in_ready.value and int(dut.in_op.value) == OP_ACC:
            last = int(dut.in_last.value)
            if self._acc_idx == 0 and self._prev_single:
                hits["rmw_hazard_b2b"] = hits.get("rmw_hazard_b2b", 0) + 1
            single = self._acc_idx == 0 and bool(last)
            self._acc_idx = 0 if last else self._acc_idx + 1
        self._prev_single = single

    def saturation_burst(self) -> list[StreamItem]:
        """Short rows of probability 1.0 back-to-back: saturates ACC_W <= 24 quickly."""
        need = (1 << self.acc_w) // PROB_MAX + 2
        g = self.gen
        return [g.acc(int(g.rng.integers(1, 2 * self.lanes + 1)), "big") for _ in range(need)] + \
            [g.read(3 * self.lanes)]

    def hazard_mix(self) -> list[StreamItem]:
        """Sequences whose consecutive commands touch the same word on consecutive cycles."""
        g, L, items = self.gen, self.lanes, []
        for _ in range(6):
            items += [g.acc(int(g.rng.integers(1, L + 1))) for _ in range(4)]  # acc -> acc
            items += [g.read(int(g.rng.integers(1, 2 * L)))]  # acc -> read
            items += [g.acc(int(g.rng.integers(1, L + 1))),
                      g.compact(sorted(int(x) for x in g.rng.choice(
                          max(g.live, 1), size=min(g.live, int(g.rng.integers(1, L + 1))),
                          replace=False)))]  # acc -> compact
            items += [g.acc(int(g.rng.integers(1, L + 1)))]  # compact -> acc
            items += [g.compact(list(range(min(g.live, int(g.rng.integers(1, L + 1)))))),
                      g.read(int(g.rng.integers(1, L + 1)))]  # compact -> read
        return items

    def batches(self) -> Any:
        g = self.gen
        for b in range(self.batches_n):
            items = [g.clear()] if b == 0 else []
            items += [g.acc(self.max_n, "uniform"), g.read(self.max_n)]
            items += [g.random_op() for _ in range(self.ops)]
            if self.sat_burst and self.acc_w <= 24:
                items += self.saturation_burst()
            items += self.hazard_mix()
            items += [g.compact([]), g.read(0), g.acc(1), g.compact(list(range(g.live))),
                      g.read(g.live)]
            yield items

    def check_status(self) -> None:
        dut, m = cocotb.top, self.model
        got = (int(dut.live_count.value), int(dut.busy.value))
        assert got == (m.live, 0), f"live_count/busy {got}, expected ({m.live}, 0) ({seed_text()})"


@pyuvm.test()
class TokenRandomTest(TokenTest):
    """Random commands with random idle and backpressure; every bin promised."""

    def end_of_elaboration_phase(self) -> None:
        promised = list(ITEM_BINS)
        if self.acc_w > 24:
            promised.remove("saturation")  # 32 bits: TokenSaturationTest in the slow regression
        self.env.cov.promised = promised
        self.env.obs.required = ("in_gap", "in_stall", "out_stall", *HAZARD_BINS)


@pyuvm.test()
class TokenBackToBackTest(TokenTest):
    """No idle, no backpressure: commands back-to-back (forwarding), read-out one beat/cycle."""

    idle = 0.0
    backpressure = 0.0
    ops = 60
    batches_n = 2
    sat_burst = False
    required_item_bins = ("row_len_1", "partial_beat", "compact_empty", "compact_full")
    required_cycle_bins = ("in_stall", *HAZARD_BINS)

    async def after_drain(self) -> None:
        spans = self.env.obs.spans
        bad = [(b, c) for b, c in spans if b != c]
        self.logger.info(f"read-out: {sum(b for b, _ in spans)} beats in {len(spans)} packets, "
                         f"{len(bad)} with gaps")
        assert spans and not bad, f"read-out not one beat per cycle: {bad[:3]} ({seed_text()})"


@pyuvm.test()
class TokenSaturationTest(TokenTest):
    """2^ACC_W / 65535 one-beat rows of 1.0 back-to-back saturate the first word, then more
    rows keep it saturated. With 32 bits that is 65,538 rows (about 25 s of simulation): only
    when FULL_SAT_ENV is set (slow regression); otherwise the run is short and promises
    nothing (TokenRandomTest covers saturation whenever ACC_W <= 24)."""

    idle = 0.0
    backpressure = 0.0
    required_item_bins = ("saturation",)

    def build_phase(self) -> None:
        full = (1 << cfg()[2]) // PROB_MAX + 2
        self.need = full
        if full > 5000 and not os.environ.get(FULL_SAT_ENV):
            self.need, self.required_item_bins = 20, ()
            cocotb.log.info(f"saturation needs {full} rows; set {FULL_SAT_ENV}=1 (slow "
                            "regression) to run them")
        super().build_phase()

    def batches(self) -> Any:
        g = self.gen
        row = g.acc(self.lanes, "big")
        yield [g.clear(), g.acc(2 * self.lanes, "uniform")] + [row] * self.need + \
            [g.read(2 * self.lanes), g.acc(self.lanes, "uniform"), g.read(2 * self.lanes)]


@pyuvm.test(expect_error=ScoreboardError)
class TokenBrokenModelTest(TokenTest):
    """The scoreboard must catch a model that disagrees with the DUT (expect-fail)."""

    model_class = BrokenTokenModel
    ops = 30
    batches_n = 1
    required_item_bins = ()


# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    ("token_importance.v", "wire [WW-1:0] cur = fwd_hit_q ? fwd_data_q : rdata_q;",
     "wire [WW-1:0] cur = rdata_q;", "token_importance no forwarding on the RMW hazard"),
    ("token_importance.v", "acc_word[l*ACC_W+:ACC_W] = sum[ACC_W] ? SAT : sum[ACC_W-1:0];",
     "acc_word[l*ACC_W+:ACC_W] = sum[ACC_W-1:0];", "token_importance accumulator wraps instead of saturating"),
    ("token_importance.v", "wire cm_flush = cm_end & (cm_pkn_q != {(LG + 1) {1'b0}});",
     "wire cm_flush = 1'b0;", "token_importance compaction never writes its last partial word"),
    ("token_importance.v", "CW'({cm_dst_q, {LG{1'b0}}}) + CW'(cm_pkn_q);",
     "CW'({cm_dst_q, {LG{1'b0}}});", "token_importance compaction drops the last kept positions"),
    ("token_importance.v", "if (cm_pend[l] && in_data[l*LW+LG+:AW] == cm_row) begin",
     "if (cm_pend[l]) begin",
     "token_importance compaction moves a beat's positions as if all were in its first word"),
    ("token_importance.v", "(is_cmp & (in_last ? cm_tail : ~cm_more))", "(is_cmp & ~cm_more)",
     "token_importance compaction's last beat accepted before its last word is written"),
    # the debug read port (spatten_top's importance window): run by TokenRandomTest only
    ("token_importance.v", "assign dbg_score = dbg_live_q ? rdata_q", "assign dbg_score = 1'b1 ? rdata_q",
     "token_importance debug read of a position beyond live_count not 0", "TokenRandomTest"),
]


@pytest.mark.sim
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: "_".join(f"{k}{v}" for k, v in p.items()))
def test_token_importance(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("params", SLOW_CONFIGS, ids=lambda p: "_".join(f"{k}{v}" for k, v in p.items()))
def test_token_importance_slow(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)


@pytest.mark.sim
@pytest.mark.slow
def test_token_importance_saturation32(sim: str) -> None:
    """The real 32-bit accumulators driven into saturation (65,538 rows of 1.0)."""
    p = {**BENCH.parameters, "ACC_W": 32}
    seed = regression_seed("token_importance", sim, "sat32")
    results = run(BENCH, sim, p, seed=seed, testcase="TokenSaturationTest", log_to_file=True,
                  extra_env={FULL_SAT_ENV: "1"}, variant="sat32")
    print(results.summary())
    check(results)

"""Bit-exact fixed-point SpAtten-LLM generation: one decode step of one layer as the
accelerator runs it, the KV cache in a byte-addressed memory image written only by appends.

:class:`FixedSpattenCache` has the interface of the float reference
(:class:`golden.kvcache.SpattenCache`, ``attend(layer, q, k, v)``) and the same cache
semantics; every number it uses is an integer of the datapath formats (golden/fixed.py).
Per sequence, per layer and decode step (token at position ``n``):

1. **append** (host): the token's K and V rows (one per KV head) are quantized with their own
   **per-token scale** (:func:`scale_code`: an 8-bit mantissa and a 5-bit exponent,
   ``s = mant * 2^-exp``, rounded *up* so no value clips) to 12-bit ints and written once to
   slot ``n`` of the layer's planes: K MSB (``k_bits``), K LSB (the next ``k_lsb`` bits; the
   lower bits are never stored), V MSB (``v_bits``), and the 16-bit scale codes of K and V
   (``exp << 8 | mant``). Rows are packed (``golden.blocks.pack_rows``, row ``j`` at byte
   ``base + j * row_bytes``) and written with byte strobes: :class:`Memory` counts the writes
   of every byte, none is ever written twice (a cached row is never re-quantized or moved).
2. **fetch by index**: the accelerator reads the live rows of the layer's live-token list
   (ascending positions) from each KV head's planes **once for the head's group** of query heads
   (GQA); bytes in whole beats as the fetcher moves them (``golden.blocks.fetch_bytes``).
3. **scores**: ``Q`` is quantized per query head (``fx.quantize_sym``), ``(mult_h, shift_h)``
   from ``sq_h * log2(e) / sqrt(D) * 2^8`` with ``shift_h <= 32`` (:func:`head_score_params`);
   key row ``j`` with scale code ``(mant_j, exp_j)``:
   ``score = sat20(round_half_up(acc * mult_h * mant_j / 2^min(shift_h + exp_j, 63)))`` (one
   8-bit multiplier and a shifter per key row besides the dot product; ``|acc * mult * mant|
   < 2^52``). Progressive K: the first pass uses the ``k_bits`` MSBs
   (``fx.reconstruct``); a query head whose UQ0.16 max probability is below
   ``prob_threshold(requant_threshold)`` is recomputed at ``k_bits + k_lsb`` bits and the LSB
   plane of its KV head's live rows is fetched (once per KV head). Softmax: ``blk.softmax``.
4. **P.V with per-token V scales**: per KV head, ``x0`` = the smallest exponent among the live
   V rows (the largest scale); each probability is weighted by its row's scale,
   ``w = round_half_up(p * mant_j / 2^(8 + exp_j - x0))`` (UQ0.16, ``w <= p``), and the
   unchanged P.V datapath gives ``E = blk.pv(w, V MSBs, kept)`` in units of
   ``2^(8 - x0) / 16`` (:func:`e_scale`). Local V pruning: each query head keeps the V rows of
   its top ``kept_count(value_keep, live)`` probabilities (``golden.topk`` rule).
5. **importance per layer, across steps**: ``imp[token] = sat32(imp + sum over the query heads
   of the UQ0.16 probabilities)`` (``blk.token_importance``, 32-bit saturating: 16 heads x 4096
   steps x 65535 < 2^32, so it never saturates within MAX_N steps), the newest token included
   in its own step; the state (16-bit position + 32-bit importance per live token) is read and
   written back every layer step when held in memory (class ``STATE``), else on chip.
6. **policy** (``spatten``): when more than ``budget`` tokens are live, keep the ``start`` sinks,
   the ``recent`` newest and ``golden.topk.topk(imp[rest], budget - sinks - recent)`` of the
   rest (ties: the earlier token); ``sinks_recent`` ranks the rest by position instead. The
   newest token is among the recent ones (``recent >= 1``), so it survives its own step; an
   evicted token is dropped from the live list and never returns. The rule is the pure
   function :func:`policy_keep` (shared with the RTL block's testbench, tb/kv_policy).

Byte classes per (step, layer), :data:`CLASSES`: ``Q`` (12-bit query rows), ``K_MSB``,
``K_LSB``, ``V_MSB``, ``SCALE`` (the K scales of the live rows, the V scales of the fetched V
rows), ``STATE`` (live list and importance, read + write, when in memory), ``E`` (written),
``APPEND`` (the host's row writes). K/V traffic = K_MSB + K_LSB + V_MSB + SCALE (+ STATE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from golden import blocks as blk
from golden import fixed as fx
from golden.config import kept_count
from golden.kvcache import FLOAT_BITS, CacheConfig, Smoothing
from golden.smollm import DTYPE, Hyper
from golden.topk import topk, topk_rows
from golden.traces import GenStep
from golden.traffic import e_bytes, q_bytes

SCALE_MANT_W = 8  # per-token scale: s = mant * 2^-exp, mant in [2^7, 2^8) (smaller at exp max)
SCALE_EXP_W = 5
SCALE_EXP_MAX = (1 << SCALE_EXP_W) - 1
SCALE_CODE_BITS = 16  # stored as exp << 8 | mant
SHIFT_MAX = 63
HEAD_SHIFT_MAX = SHIFT_MAX - SCALE_EXP_MAX  # per-head score shift, so shift + exp <= 63
POS_BITS = 16  # live-list entry
STATE_CLASSES = ("K_MSB", "K_LSB", "V_MSB", "SCALE", "STATE")
CLASSES = ("Q", *STATE_CLASSES, "E", "APPEND")
KV_CLASSES = ("K_MSB", "K_LSB", "V_MSB", "SCALE", "STATE")
PLANES = ("k_msb", "k_lsb", "v_msb", "k_scale", "v_scale")


def fixed_bits(bits: int) -> int:
    """A CacheConfig bit width in the fixed-point model (16 = unquantized -> all 12 bits)."""
    return fx.DATA_W if bits == FLOAT_BITS else bits


# ================================================================ per-token scales ============
def scale_code(amax: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mant, exp) of the smallest code ``mant * 2^-exp >= amax / 2047`` (no clipping), mant in
    [128, 255] (at exp 31 also 1..127; all-zero rows get mant 1, exp 31)."""
    s = np.asarray(amax, dtype=np.float64) / fx.DATA_QMAX
    with np.errstate(divide="ignore"):
        e = np.floor(-np.log2(np.where(s > 0, s, 1.0))) + SCALE_MANT_W
    e = np.where(s > 0, e, SCALE_EXP_MAX)
    exp = np.clip(e, 0, SCALE_EXP_MAX).astype(np.int64)
    mant = np.ceil(s * np.exp2(exp)).astype(np.int64)
    carry = (mant >= 1 << SCALE_MANT_W) & (exp > 0)  # s * 2^exp rounded up to 2^8
    mant, exp = np.where(carry, mant >> 1, mant), np.where(carry, exp - 1, exp)
    return np.clip(mant, 1, (1 << SCALE_MANT_W) - 1), exp


def scale_value(mant: np.ndarray, exp: np.ndarray) -> np.ndarray:
    return np.asarray(mant, dtype=np.float64) * np.exp2(-np.asarray(exp, dtype=np.float64))


def quantize_token_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows [..., D] -> (12-bit ints, mant, exp), one scale code per row."""
    mant, exp = scale_code(np.abs(x).max(axis=-1))
    s = scale_value(mant, exp)[..., None]
    ints = np.clip(np.rint(np.asarray(x, dtype=np.float64) / s), -fx.DATA_QMAX, fx.DATA_QMAX)
    return ints.astype(np.int64), mant, exp


def head_score_params(scale_q: float, d: int) -> tuple[int, int]:
    """(mult, shift) with ``mult / 2^shift ~= scale_q * log2(e) / sqrt(d) * 2^8``, mult < 2^16,
    the largest shift <= HEAD_SHIFT_MAX (mult saturated at shift 0)."""
    c = scale_q * math.log2(math.e) / math.sqrt(d) * (1 << fx.SCORE_FRAC)
    limit = 1 << fx.SCORE_MULT_W
    shift = HEAD_SHIFT_MAX if c <= 0 else min(HEAD_SHIFT_MAX,
                                               max(0, math.floor(math.log2(limit / c))))
    while shift > 0 and round(c * 2.0**shift) >= limit:
        shift -= 1
    while shift < HEAD_SHIFT_MAX and round(c * 2.0 ** (shift + 1)) < limit:
        shift += 1
    return min(round(c * 2.0**shift), limit - 1), shift


def row_scores(acc: np.ndarray, mult: np.ndarray | int, shift: np.ndarray | int,
               mant: np.ndarray, exp: np.ndarray) -> np.ndarray:
    """Q11.8 scores of integer dot products ``acc`` [..., L] against rows with scale codes."""
    total = np.minimum(shift + fx.as_int(exp), SHIFT_MAX)
    return fx.sat_signed(fx.round_shift(fx.as_int(acc) * mult * fx.as_int(mant), total),
                         fx.SCORE_W)


def v_weights(probs: np.ndarray, mant: np.ndarray, exp: np.ndarray, x0: np.ndarray | int
              ) -> np.ndarray:
    """Probabilities [..., L] weighted by their V rows' scales relative to ``2^-x0`` (the
    group's smallest exponent): ``round_half_up(p * mant / 2^(8 + exp - x0))``, UQ0.16."""
    shift = np.minimum(SCALE_MANT_W + fx.as_int(exp) - fx.as_int(x0), SHIFT_MAX)
    return fx.round_shift(fx.as_int(probs) * fx.as_int(mant), shift)


def group_fetch_bytes(live: np.ndarray, keep: np.ndarray, d: int, bits: int) -> int:
    """V-plane bytes of one KV head's group (keep [grp, L] per query head): as
    ``golden.traffic.v_bytes``, each query head in order fetches the kept rows the shared value
    buffer does not hold yet (ascending)."""
    have = np.zeros(keep.shape[-1], dtype=bool)
    total = 0
    for row in keep:
        miss = row & ~have
        if miss.any():
            total += blk.fetch_bytes(live[miss], d, bits)
        have |= miss
    return total


def quantize_queries(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query head (rows of q [H, D]): 12-bit ints (``fx.quantize_sym`` per row) and the
    head's (mult, shift) (:func:`head_score_params`)."""
    rows = [fx.quantize_sym(x) for x in np.asarray(q, dtype=np.float64)]
    params = [head_score_params(sq, q.shape[-1]) for _, sq in rows]
    return (np.stack([i for i, _ in rows]), np.array([m for m, _ in params]),
            np.array([s for _, s in params]))


def e_scale(x0: int) -> float:
    """Real value of one E unit for a KV head whose V rows have minimum exponent ``x0``."""
    return 2.0 ** (SCALE_MANT_W - x0 - fx.E_EXTRA_FRAC)


# ================================================================ memory image ===============
class Memory:
    """Byte-addressed accelerator memory; counts how often every byte is written."""

    def __init__(self, size: int) -> None:
        self.data = np.zeros(size, dtype=np.uint8)
        self.write_count = np.zeros(size, dtype=np.uint8)
        self.writes = 0

    def write(self, addr: int, data: bytes) -> None:
        if addr < 0 or addr + len(data) > self.data.size:
            raise ValueError(f"write 0x{addr:x}+{len(data)} outside the image")
        self.data[addr : addr + len(data)] = np.frombuffer(data, dtype=np.uint8)
        seg = self.write_count[addr : addr + len(data)]
        seg[:] = np.minimum(seg.astype(np.int64) + 1, 255)
        self.writes += 1

    def gather(self, base: int, idx: np.ndarray, nbytes: int) -> bytes:
        """The ``nbytes``-byte rows ``idx`` of a packed plane at ``base``, concatenated."""
        offs = base + np.asarray(idx, dtype=np.int64)[:, None] * nbytes + np.arange(nbytes)
        return self.data[offs].tobytes()


@dataclass(frozen=True)
class Plane:
    base: int
    bits: int
    d: int
    signed: bool

    @property
    def row(self) -> int:
        return blk.row_bytes(self.d, self.bits)


@dataclass(frozen=True)
class Layout:
    """Plane bases of every (layer, KV head) of one sequence: K MSB, K LSB, V MSB, K scale,
    V scale regions of ``capacity`` packed rows each, beat-aligned, in that order."""

    planes: dict[tuple[int, int, str], Plane]
    size: int

    @classmethod
    def build(cls, hp: Hyper, cfg: CacheConfig, capacity: int) -> Layout:
        bits = {"k_msb": fixed_bits(cfg.k_bits), "k_lsb": cfg.k_lsb,
                "v_msb": fixed_bits(cfg.v_bits), "k_scale": SCALE_CODE_BITS,
                "v_scale": SCALE_CODE_BITS}
        dims = {"k_scale": 1, "v_scale": 1}
        planes, addr = {}, 0
        for layer in range(hp.n_layers):
            for g in range(hp.n_kv_heads):
                for name in PLANES:
                    d = dims.get(name, hp.head_dim)
                    planes[layer, g, name] = Plane(addr, bits[name], d, name != "k_lsb"
                                                   and "scale" not in name)
                    addr += blk.plane_bytes(capacity, d, bits[name])
        return cls(planes, addr)


class RowReader:
    """Rows of one plane as read from memory by index. Rows are write-once, so a row decoded
    once is kept (a later fetch of it reads the same bytes; tests check the image)."""

    def __init__(self, mem: Memory, plane: Plane, capacity: int) -> None:
        self.mem, self.plane = mem, plane
        self.rows = np.zeros((capacity, plane.d), dtype=np.int64)
        self.known = np.zeros(capacity, dtype=bool)

    def read(self, idx: np.ndarray) -> np.ndarray:
        p = self.plane
        if p.bits == 0:
            return np.zeros((len(idx), p.d), dtype=np.int64)
        new = idx[~self.known[idx]]
        if new.size:
            data = self.mem.gather(p.base, new, p.row)
            self.rows[new] = blk.unpack_rows(data, len(new), p.d, p.bits, p.signed)
            self.known[new] = True
        return self.rows[idx]


# ================================================================ cache policy ===============
def policy_refused(budget: int, start: int, recent: int) -> bool:
    """A pruning setting the policy refuses: ``start + recent > budget`` (budget > 0). The
    fixed tokens of a live list (``live < start`` or ``live > n - recent``, distinct positions
    <= n) are at most ``start + recent``, so only such a setting can leave fewer budget slots
    than fixed tokens (a negative k). Refused, the policy evicts nothing (every token kept) and
    the hardware raises its error flag (rtl/kv_policy.v ``out_cfg_err``). CacheConfig never
    builds one (it needs ``start + recent + 1 <= budget``)."""
    return budget > 0 and start + recent > budget


def policy_keep(live: np.ndarray, imp: np.ndarray, n: int, budget: int, start: int,
                recent: int, by_importance: bool = True) -> np.ndarray:
    """The SpAtten-LLM cache policy: ascending indexes into ``live`` kept after step ``n``.

    ``live``: the layer's live positions (ascending, the newest token ``n`` included), ``imp``
    their 32-bit importance. Within the budget (``budget == 0`` or ``len(live) <= budget``) and
    for a refused setting (:func:`policy_refused`) every token is kept. Otherwise the fixed
    tokens (the sinks ``live < start`` and the recent ``live > n - recent``) are kept and the
    rest compete for the ``budget - #fixed`` remaining slots by ``golden.topk.topk`` (ties to
    the earlier position) of their importance, or of their position (``by_importance`` False:
    the ``sinks_recent`` policy, the newest of the rest). rtl/kv_policy.v is bit-exact with it.
    """
    live = np.asarray(live, dtype=np.int64)
    imp = np.asarray(imp, dtype=np.int64)
    if not budget or len(live) <= budget or policy_refused(budget, start, recent):
        return np.arange(len(live))
    fixed = (live < start) | (live > n - recent)
    rest = np.flatnonzero(~fixed)
    score = imp[rest] if by_importance else live[rest]
    chosen = rest[topk(score, budget - int(fixed.sum())).positions]
    return np.sort(np.concatenate([np.flatnonzero(fixed), chosen]))


# ================================================================ one layer step =============
@dataclass
class StepRecord:
    """What one (decode step, layer) of one sequence did (integer internals and bytes)."""

    step: int  # position of the new token
    layer: int
    live: np.ndarray  # positions attended (ascending), the new token included
    probs: np.ndarray  # [H, live] UQ0.16 (final pass)
    requant: np.ndarray  # [H] bool
    kept_v: np.ndarray  # [H, kv] positions into ``live`` of the V rows used
    e_int: np.ndarray  # [H, D]
    x0: np.ndarray  # [KVH] E exponent per KV head
    importance: np.ndarray  # per live token after the update, before the policy
    evicted: np.ndarray  # positions dropped by the policy this step
    bytes: dict[str, int] = field(default_factory=dict)


class LayerState:
    """Live-token list and importance of one layer of one sequence."""

    def __init__(self) -> None:
        self.live = np.zeros(0, dtype=np.int64)
        self.imp = np.zeros(0, dtype=np.int64)
        self.length = 0


class FixedSequence:
    """One sequence: memory image, layout, per-layer state, step records."""

    def __init__(self, hp: Hyper, cfg: CacheConfig, capacity: int, state_on_chip: bool = False,
                 keep_records: bool = False) -> None:
        if cfg.k_bits == FLOAT_BITS and cfg.k_lsb:
            raise ValueError("k_lsb needs quantized K")
        self.hp, self.cfg, self.capacity = hp, cfg, capacity
        self.state_on_chip, self.keep_records = state_on_chip, keep_records
        self.layout = Layout.build(hp, cfg, capacity)
        self.mem = Memory(self.layout.size)
        self.readers = {key: RowReader(self.mem, p, capacity)
                        for key, p in self.layout.planes.items()}
        self.state = [LayerState() for _ in range(hp.n_layers)]
        self.records: list[StepRecord] = []  # with keep_records
        self.trace: list[GenStep] = []  # every (step, layer), for golden.traces
        self.bytes = dict.fromkeys(CLASSES, 0)
        self.kv_bytes_dense = 0
        self.requant_rows = self.query_rows = 0
        self.counting = False

    # ------------------------------------------------------------------ host side
    def append(self, layer: int, n: int, k: np.ndarray, v: np.ndarray) -> int:
        """Quantize and write the K/V rows [KVH, D] of position ``n``; bytes written."""
        cfg, msb, lsb = self.cfg, fixed_bits(self.cfg.k_bits), self.cfg.k_lsb
        kq, km, ke = quantize_token_rows(k)
        vq, vm, ve = quantize_token_rows(v)
        k_hi, k_lo = fx.split_planes(kq, msb, lsb)
        v_hi, _ = fx.split_planes(vq, fixed_bits(cfg.v_bits), 0)
        values = {"k_msb": k_hi, "k_lsb": k_lo, "v_msb": v_hi,
                  "k_scale": (ke << SCALE_MANT_W | km)[:, None],
                  "v_scale": (ve << SCALE_MANT_W | vm)[:, None]}
        written = 0
        for name in PLANES:
            bits = self.layout.planes[layer, 0, name].bits
            if bits == 0:
                continue
            data, row = blk.pack_rows(values[name], bits)
            for g in range(self.hp.n_kv_heads):
                p = self.layout.planes[layer, g, name]
                self.mem.write(p.base + n * row, data[g * row : (g + 1) * row])
                written += row
        return written

    # ------------------------------------------------------------------ accelerator side
    def _rows(self, layer: int, g: int, name: str, idx: np.ndarray) -> np.ndarray:
        return self.readers[layer, g, name].read(idx)

    def _scales(self, layer: int, g: int, name: str, idx: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        code = self._rows(layer, g, name, idx)[:, 0] & ((1 << SCALE_CODE_BITS) - 1)
        return code & ((1 << SCALE_MANT_W) - 1), code >> SCALE_MANT_W

    def step(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Append (k, v) [KVH, D], attend with q [H, D], apply the policy -> out [H, D]."""
        st, hp = self.state[layer], self.hp
        n = st.length
        if n >= self.capacity:
            raise ValueError(f"cache capacity {self.capacity} exceeded")
        appended = self.append(layer, n, k, v)
        st.live = np.append(st.live, n)
        st.imp = np.append(st.imp, 0)
        st.length = n + 1
        rec = self._attend(layer, n, q, st.live)
        rec.bytes["APPEND"] = appended
        st.imp = blk.token_importance(st.imp, rec.probs)
        rec.importance = st.imp.copy()
        keep = self._policy(n, st.live, st.imp)
        rec.evicted = st.live[~np.isin(np.arange(len(st.live)), keep)]
        rec.bytes["STATE"] = 0 if self.state_on_chip else state_bytes(len(st.live), len(keep))
        self.trace.append(GenStep(n, layer, n + 1, len(st.live),
                                  tuple(bool(x) for x in rec.requant),
                                  (rec.kept_v.shape[1],) * hp.n_heads,
                                  len(keep) if len(keep) < len(st.live) else 0))
        st.live, st.imp = st.live[keep], st.imp[keep]
        if self.counting:
            for c, b in rec.bytes.items():
                self.bytes[c] += b
            self.kv_bytes_dense += 2 * hp.n_kv_heads * (n + 1) * blk.row_bytes(hp.head_dim, 16)
            self.requant_rows += int(rec.requant.sum())
            self.query_rows += hp.n_heads
        if self.keep_records:
            self.records.append(rec)
        return rec.e_int * np.repeat(
            np.array([e_scale(int(x)) for x in rec.x0]), hp.group)[:, None]

    def _attend(self, layer: int, n: int, q: np.ndarray, live: np.ndarray) -> StepRecord:
        hp, cfg = self.hp, self.cfg
        d, grp, n_kv = hp.head_dim, hp.group, hp.n_kv_heads
        msb, lsb, vbits = fixed_bits(cfg.k_bits), cfg.k_lsb, fixed_bits(cfg.v_bits)
        nl = len(live)
        kv = kept_count(cfg.value_keep, nl)
        nbytes = dict.fromkeys(CLASSES, 0)
        k_hi = np.stack([self._rows(layer, g, "k_msb", live) for g in range(n_kv)])
        km, ke = (np.repeat(np.stack(x), grp, axis=0) for x in zip(
            *(self._scales(layer, g, "k_scale", live) for g in range(n_kv)), strict=True))
        nbytes["K_MSB"] = n_kv * blk.fetch_bytes(live, d, msb)
        nbytes["SCALE"] = n_kv * blk.fetch_bytes(live, 1, SCALE_CODE_BITS)
        qi, mult, shift = quantize_queries(q)
        nbytes["Q"] = hp.n_heads * q_bytes(1, d)

        def scores_of(k12: np.ndarray) -> np.ndarray:  # k12 [KVH, nl, D] -> [H, nl]
            acc = blk.qk_dot(qi.reshape(n_kv, grp, d), k12).reshape(hp.n_heads, nl)
            return row_scores(acc, mult[:, None], shift[:, None], km, ke)

        probs, maxp = blk.softmax(scores_of(fx.join_planes(k_hi, np.zeros_like(k_hi), msb, 0)))
        requant = np.zeros(hp.n_heads, dtype=bool)
        if lsb and msb < fx.DATA_W:
            requant = blk.need_requant(maxp, blk.prob_threshold(cfg.requant_threshold))
        groups = np.flatnonzero(requant.reshape(n_kv, grp).any(axis=1))
        if groups.size:
            k_lo = np.zeros_like(k_hi)
            for g in groups:
                k_lo[g] = self._rows(layer, int(g), "k_lsb", live)
            nbytes["K_LSB"] = len(groups) * blk.fetch_bytes(live, d, lsb)
            full, _ = blk.softmax(scores_of(fx.join_planes(k_hi, k_lo, msb, lsb)))
            probs[requant] = full[requant]
        kept_v = topk_rows(probs, kv)
        keep = blk.keep_mask(kept_v, nl).reshape(n_kv, grp, nl)
        v_seen = np.zeros((n_kv, nl, d), dtype=np.int64)
        vm = np.zeros((n_kv, nl), dtype=np.int64)
        ve = np.full((n_kv, nl), SCALE_EXP_MAX, dtype=np.int64)
        for g in range(n_kv):
            rows = np.flatnonzero(keep[g].any(axis=0))  # V rows fetched for the group
            v_hi = self._rows(layer, g, "v_msb", live[rows])
            v_seen[g, rows] = fx.join_planes(v_hi, np.zeros_like(v_hi), vbits, 0)
            vm[g, rows], ve[g, rows] = self._scales(layer, g, "v_scale", live[rows])
            nbytes["V_MSB"] += group_fetch_bytes(live, keep[g], d, vbits)
            nbytes["SCALE"] += group_fetch_bytes(live, keep[g], 1, SCALE_CODE_BITS)
        x0 = np.where(keep.any(axis=1), ve, SCALE_EXP_MAX).min(axis=1)
        w = v_weights(probs.reshape(n_kv, grp, nl), vm[:, None], ve[:, None], x0[:, None, None])
        e_int = blk.pv(w, v_seen, keep).reshape(hp.n_heads, d)
        nbytes["E"] = hp.n_heads * e_bytes(1, d)
        return StepRecord(n, layer, live.copy(), probs, requant, kept_v, e_int, x0,
                          np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), nbytes)

    def _policy(self, n: int, live: np.ndarray, imp: np.ndarray) -> np.ndarray:
        """Indexes into ``live`` kept after step ``n`` (all when within the budget)."""
        cfg = self.cfg
        return policy_keep(live, imp, n, cfg.budget, cfg.start, cfg.recent_count,
                           by_importance=cfg.policy == "spatten")


def state_bytes(live_before: int, live_after: int) -> int:
    """Live list (16-bit positions) and 32-bit importance: read before, written after."""
    def one(count: int) -> int:
        return blk.beat_ceil(count * POS_BITS // 8) + blk.beat_ceil(count * fx.TOK_IMP_W // 8)
    return one(live_before) + one(live_after)


class FixedSpattenCache:
    """Bit-exact fixed-point caches of ``len(configs)`` sequences (``smollm.step`` interface)."""

    def __init__(self, hp: Hyper, configs: list[CacheConfig], capacity: int,
                 state_on_chip: bool = False, keep_records: bool = False,
                 smoothing: Smoothing | None = None) -> None:
        self.hp, self.configs, self.smoothing = hp, list(configs), smoothing
        self.smooth_rows = np.array([c.smooth for c in self.configs])
        if self.smooth_rows.any() and smoothing is None:
            raise ValueError("a setting with smooth=True needs a Smoothing")
        self.seqs = [FixedSequence(hp, c, capacity, state_on_chip, keep_records)
                     for c in self.configs]
        self.trace_row: int | None = None

    @property
    def counting(self) -> bool:
        return self.seqs[0].counting

    @counting.setter
    def counting(self, value: bool) -> None:
        for s in self.seqs:
            s.counting = value

    def attend(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The host applies the smoothing (golden.kvcache.Smoothing) around the accelerator."""
        sm = self.smoothing if self.smooth_rows.any() else None
        if sm is not None:
            q, k, v = sm.inputs(layer, q, k, v, self.smooth_rows)
        out = np.stack([s.step(layer, q[b], k[b], v[b])
                        for b, s in enumerate(self.seqs)]).astype(DTYPE)
        return sm.output(layer, out, self.smooth_rows) if sm is not None else out

    def occupancy(self) -> np.ndarray:
        """Live tokens per layer and row [L, B]."""
        return np.array([[len(st.live) for st in s.state] for s in self.seqs]).T

    # the float cache's report attributes (golden.lm_eval.evaluate reads either cache)
    @property
    def kv_bytes(self) -> np.ndarray:
        """K/V bytes per row (K_MSB + K_LSB + V_MSB + SCALE + STATE), counted steps."""
        return np.array([sum(s.bytes[c] for c in KV_CLASSES) for s in self.seqs], dtype=float)

    @property
    def kv_bytes_dense(self) -> np.ndarray:
        return np.array([s.kv_bytes_dense for s in self.seqs], dtype=float)

    @property
    def requant_rows(self) -> np.ndarray:
        return np.array([s.requant_rows for s in self.seqs])

    @property
    def query_rows(self) -> np.ndarray:
        return np.array([s.query_rows for s in self.seqs])

    @property
    def trace(self) -> list[GenStep]:
        return self.seqs[self.trace_row].trace if self.trace_row is not None else []

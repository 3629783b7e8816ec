"""SpAtten-LLM generation semantics (float reference): per-layer KV cache, token importance
carried across decode steps, cache policies, grouped-query attention, progressive K
quantization and low-bit V, K/V DRAM bytes per decoded token.

One :class:`SpattenCache` holds the caches of every layer of a batch of sequences; each batch
row has its own :class:`CacheConfig` (so one decode pass evaluates several policies at once).
Per layer and decode step (the token at position ``n``):

1. **append**: the new token's K and V rows (one per KV head) are quantized once and written to
   slot ``n``; a cached row is never re-quantized nor written again (``writes`` counts it).
2. **attend**: each query head ``h`` uses KV head ``h // group`` (GQA: a KV head's rows are
   fetched once for its ``group`` query heads). Scores against the live rows only.
   *Progressive K*: probabilities from the ``k_bits`` MSBs of the 12-bit K integers
   (``golden.fixed.reconstruct``: unknown low bits = half an LSB); a query head whose max
   probability is below ``requant_threshold`` is recomputed with ``k_bits + k_lsb`` bits (the LSB
   plane of its KV head's live rows is fetched once for the group). V is used at ``v_bits``.
   *Local V pruning*: each query head uses only the V rows of its top
   ``kept_count(value_keep, live)`` probabilities (no renormalisation).
3. **importance**: ``s[layer, token] += sum over the query heads of the probability the token
   received``, accumulated over every step the token is live (the newest token gets its own
   step's probabilities).
4. **policy**, when more than ``budget`` tokens are live: ``spatten`` keeps the ``start`` sink
   tokens (positions 0..start-1), the ``recent`` newest tokens and the most important of the
   rest (SpAtten-LLM; ties: the earlier token is kept); ``sinks_recent`` (StreamingLLM) keeps
   the sinks and the newest tokens. A token appended per step means at most one eviction per
   step. The newest token is always among the ``recent >= 1`` newest, so it survives its own
   step; an evicted token never returns (slots are only ever switched live when written).

Quantization scheme (never re-quantizes a cached row): **per-token scales**. Each K and V row
(token, KV head) is quantized symmetrically to 12-bit integers with its own scale
``max|row| / 2047`` when it is appended; the scale (16 bits) travels with the row. Per-layer
scales calibrated once would suit a single score multiplier in the datapath but clip the
outliers of later tokens; per-token scales need one multiplier per key row instead.

K/V bytes (counted only while ``counting`` is set, i.e. for the decoded tokens that are scored):
per live row and KV head ``k_bits * D / 8`` K MSB bytes, ``k_lsb * D / 8`` LSB bytes for the
KV heads with a requantized query head, ``v_bits * D / 8`` for every V row some query head of
the group keeps, plus 2 scale bytes per fetched K row and per fetched V row when quantized.
Rows are packed densely (no 32-byte beat padding; see docs/llm.md). Dense baseline: 16-bit K
and V for every token of the unpruned cache, no scales. Float (``k_bits = v_bits = 16``) rows
are stored as float32 and counted as 16-bit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from golden import fixed as fx
from golden.config import kept_count
from golden.smollm import DTYPE, Hyper, gqa_attention
from golden.traces import GenBits, GenStep

POLICIES = ("dense", "spatten", "sinks_recent")
FLOAT_BITS = 16  # k_bits / v_bits value meaning "unquantized" (counted as 16-bit)
SCALE_BYTES = 2


@dataclass(frozen=True)
class CacheConfig:
    """Setting of one batch row. ``budget`` 0 = unlimited; ``recent`` None = half of the
    non-sink budget (SpAtten-LLM's split: start + recent + important = budget)."""

    policy: str = "dense"
    budget: int = 0
    start: int = 4
    recent: int | None = None
    k_bits: int = FLOAT_BITS  # 1..12: MSBs of the 12-bit K used first; 16: float K
    k_lsb: int = 0  # extra K bits fetched on requantization
    requant_threshold: float = 0.0
    v_bits: int = FLOAT_BITS  # 1..12: MSBs of the 12-bit V; 16: float V
    value_keep: float = 1.0
    smooth: bool = False  # host-side channel smoothing of K and V (``Smoothing``)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy {self.policy!r} not in {POLICIES}")
        if (self.policy == "dense") != (self.budget == 0):
            raise ValueError("a budget goes with a pruning policy, the dense policy has none")
        if self.budget and self.start + self.recent_count + 1 > self.budget:
            raise ValueError(
                f"budget {self.budget} must exceed start {self.start} + recent "
                f"{self.recent_count} (no room for important tokens)"
            )
        if self.budget and self.recent_count < 1:
            raise ValueError("recent must be >= 1 (the newest token must survive its step)")
        for name in ("k_bits", "v_bits"):
            bits = getattr(self, name)
            if bits != FLOAT_BITS and not 1 <= bits <= fx.DATA_W:
                raise ValueError(f"{name} {bits} not in 1..{fx.DATA_W} or {FLOAT_BITS}")
        if self.k_lsb and (self.k_bits == FLOAT_BITS or self.k_bits + self.k_lsb > fx.DATA_W):
            raise ValueError(f"k_bits + k_lsb must be <= {fx.DATA_W} with quantized K")
        if not 0.0 < self.value_keep <= 1.0:
            raise ValueError(f"value_keep {self.value_keep} not in (0, 1]")

    @property
    def recent_count(self) -> int:
        if self.recent is not None:
            return self.recent
        return max(1, (self.budget - self.start) // 2)

    def to_dict(self) -> dict:
        return {**asdict(self), "recent": self.recent_count if self.budget else None}


DENSE_CACHE = CacheConfig()


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric 12-bit quantization with one scale per row (last axis): (ints, scales)."""
    amax = np.abs(x).max(axis=-1, keepdims=True).astype(np.float64)
    scale = np.where(amax > 0, amax / fx.DATA_QMAX, 1.0)
    ints = np.clip(np.rint(x / scale), -fx.DATA_QMAX, fx.DATA_QMAX).astype(np.int64)
    return ints, scale


def seen(ints: np.ndarray, scale: np.ndarray, bits: int) -> np.ndarray:
    """Float value used by the datapath when ``bits`` MSBs of the 12-bit ints are known."""
    return (fx.reconstruct(ints, bits) * scale).astype(DTYPE)


def _bits_view(x: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Rows x [B, KVH, D] as seen at ``bits`` [B] (FLOAT_BITS = unchanged)."""
    out = x.copy()
    quant = bits != FLOAT_BITS
    if quant.any():
        ints, scale = quantize_rows(x[quant])
        out[quant] = np.stack(
            [seen(i, s, int(b)) for i, s, b in zip(ints, scale, bits[quant], strict=True)]
        )
    return out


@dataclass(frozen=True)
class Smoothing:
    """Per-channel K and V smoothing, calibrated once per layer and KV head (host side, free
    for the accelerator): K rows are divided by ``k`` [L, KVH, D] before quantization and the
    query of every head of the group multiplied by it (``q.k`` unchanged); V rows are divided by
    ``v`` and the attention output multiplied by it (or, equivalently, ``v`` folded into the
    rows of W_o). Channels of K are smoothed in RoPE pairs (2i, 2i+1) by the largest pair norm
    seen, so the rotation keeps the bound; V channels by their largest magnitude; both
    normalised to a geometric mean of 1. Unquantized, it changes nothing."""

    k: np.ndarray
    v: np.ndarray

    @classmethod
    def calibrate(cls, k: np.ndarray, v: np.ndarray) -> Smoothing:
        """From cached rows k, v [L, KVH, N, D] of a calibration decode."""
        pair = np.sqrt(k[..., 0::2] ** 2 + k[..., 1::2] ** 2).max(axis=2)
        return cls(
            _geo_normalised(np.repeat(pair, 2, axis=-1)), _geo_normalised(np.abs(v).max(axis=2))
        )

    def inputs(
        self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """q [B, H, D], k, v [B, KVH, D] of one layer step, smoothed in the batch ``rows``."""
        sk, sv, r = self.k[layer], self.v[layer], rows[:, None, None]
        group = q.shape[1] // k.shape[1]
        return (
            np.where(r, q * np.repeat(sk, group, axis=0), q),
            np.where(r, k / sk, k),
            np.where(r, v / sv, v),
        )

    def output(self, layer: int, out: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Attention output [B, H, D] back in the model's units in the smoothed rows."""
        group = out.shape[1] // self.v.shape[1]
        scale = np.repeat(self.v[layer], group, axis=0)
        return np.where(rows[:, None, None], out * scale, out).astype(DTYPE)


def _geo_normalised(s: np.ndarray) -> np.ndarray:
    s = np.maximum(s.astype(np.float64), 1e-6)
    return (s / np.exp(np.log(s).mean(axis=-1, keepdims=True))).astype(DTYPE)


class SpattenCache:
    """KV caches of all layers for ``len(configs)`` sequences decoded in lock step."""

    def __init__(
        self,
        hp: Hyper,
        configs: list[CacheConfig],
        capacity: int,
        smoothing: Smoothing | None = None,
    ) -> None:
        self.hp, self.configs, self.capacity = hp, list(configs), capacity
        self.smooth_rows = np.array([c.smooth for c in self.configs])
        if self.smooth_rows.any() and smoothing is None:
            raise ValueError("a setting with smooth=True needs a Smoothing")
        self.smoothing = smoothing
        b = len(self.configs)
        shape = (hp.n_layers, b, hp.n_kv_heads, capacity, hp.head_dim)
        self.k = np.zeros(shape, dtype=DTYPE)  # K as first used (MSBs)
        self.v = np.zeros(shape, dtype=DTYPE)
        c = self.configs
        self.k_bits = np.array([x.k_bits for x in c])
        self.v_bits = np.array([x.v_bits for x in c])
        self.total_bits = np.array([x.k_bits + x.k_lsb if x.k_lsb else x.k_bits for x in c])
        self.has_lsb = np.array([x.k_lsb > 0 for x in c])
        self.k_full = np.zeros(shape, dtype=DTYPE) if self.has_lsb.any() else None
        self.threshold = np.array([x.requant_threshold for x in c])
        self.budget = np.array([x.budget for x in c])
        self.start = np.array([x.start for x in c])
        self.recent = np.array([x.recent_count if x.budget else 0 for x in c])
        self.by_importance = np.array([x.policy == "spatten" for x in c])
        self.value_keep = np.array([x.value_keep for x in c])
        self.live = np.zeros((hp.n_layers, b, capacity), dtype=bool)
        self.importance = np.zeros((hp.n_layers, b, capacity))
        self.writes = np.zeros((hp.n_layers, b, capacity), dtype=np.int64)
        self.length = np.zeros(hp.n_layers, dtype=np.int64)
        self.counting = False
        self.kv_bytes = np.zeros(b)
        self.kv_bytes_dense = np.zeros(b)
        self.requant_rows = np.zeros(b, dtype=np.int64)
        self.query_rows = np.zeros(b, dtype=np.int64)
        self.trace_row: int | None = None  # batch row whose steps go to ``trace``
        self.trace: list[GenStep] = []
        self._step_info: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ the step
    def attend(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Append (k, v) [B, KVH, D] at the next slot, attend with q [B, H, D], then apply the
        cache policy; returns the attention output [B, H, D]."""
        n = int(self.length[layer])
        if n >= self.capacity:
            raise ValueError(f"cache capacity {self.capacity} exceeded")
        smooth = self.smoothing is not None and self.smooth_rows.any()
        if smooth:
            q, k, v = self.smoothing.inputs(layer, q, k, v, self.smooth_rows)
        self._append(layer, n, k, v)
        mask = self.live[layer, :, : n + 1]
        out, prob = self._attention(layer, n + 1, q, mask)
        self.importance[layer, :, : n + 1] += prob.sum(axis=1)
        live = int(mask[self.trace_row].sum()) if self.trace_row is not None else 0
        self._evict(layer, n)
        if self.trace_row is not None and self._step_info is not None:
            r, (need, vmask) = self.trace_row, self._step_info
            kept = int(self.live[layer, r, : n + 1].sum())
            self.trace.append(
                GenStep(
                    n,
                    layer,
                    n + 1,
                    live,
                    tuple(bool(x) for x in need[r]),
                    tuple(int(x) for x in vmask[r].sum(axis=-1)),
                    kept if kept < live else 0,
                )
            )
        return self.smoothing.output(layer, out, self.smooth_rows) if smooth else out

    def _append(self, layer: int, n: int, k: np.ndarray, v: np.ndarray) -> None:
        self.k[layer, :, :, n] = _bits_view(k, self.k_bits)
        self.v[layer, :, :, n] = _bits_view(v, self.v_bits)
        if self.k_full is not None:
            self.k_full[layer, :, :, n] = _bits_view(k, self.total_bits)
        self.live[layer, :, n] = True
        self.writes[layer, :, n] += 1
        self.length[layer] = n + 1

    def _attention(
        self, layer: int, length: int, q: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        k, v = self.k[layer, :, :, :length], self.v[layer, :, :, :length]
        b, n_heads, d = q.shape
        n_kv = k.shape[1]
        _, prob = gqa_attention(q, k, v, mask)
        need = np.zeros((b, n_heads), dtype=bool)
        if self.k_full is not None:
            need = (prob.max(axis=-1) < self.threshold[:, None]) & self.has_lsb[:, None]
            if need.any():
                _, prob_full = gqa_attention(q, self.k_full[layer, :, :, :length], v, mask)
                prob = np.where(need[..., None], prob_full, prob)
        vmask = self._value_mask(prob, mask)
        self._step_info = (need, vmask) if self.trace_row is not None else None
        used = np.where(vmask, prob, 0.0).astype(DTYPE).reshape(b, n_kv, n_heads // n_kv, length)
        out = (used @ v).reshape(b, n_heads, d)
        if self.counting:
            self._count(
                mask,
                need.reshape(b, n_kv, -1).any(axis=-1),
                vmask.reshape(b, n_kv, n_heads // n_kv, length).any(axis=2),
                d,
            )
            self.requant_rows += need.sum(axis=1)
            self.query_rows += n_heads
        return out, prob

    def _value_mask(self, prob: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """[B, H, L]: V rows each query head uses (top kept_count(value_keep) probabilities)."""
        vmask = np.broadcast_to(mask[:, None, :], prob.shape).copy()
        for row in np.flatnonzero(self.value_keep < 1.0):
            keep = kept_count(float(self.value_keep[row]), int(mask[row].sum()))
            order = np.argsort(-prob[row], axis=-1, kind="stable")[:, :keep]
            vmask[row] = False
            np.put_along_axis(vmask[row], order, True, axis=-1)
        return vmask

    def _count(self, mask: np.ndarray, lsb: np.ndarray, v_rows: np.ndarray, d: int) -> None:
        """Add this layer-step's K/V bytes: mask [B, L], lsb [B, KVH], v_rows [B, KVH, L]."""
        n_kv = lsb.shape[1]
        live = mask.sum(axis=1)
        quant_k = (self.k_bits != FLOAT_BITS) * SCALE_BYTES
        quant_v = (self.v_bits != FLOAT_BITS) * SCALE_BYTES
        k_bytes = n_kv * live * (self.k_bits * d / 8 + quant_k)
        lsb_bytes = lsb.sum(axis=1) * live * (self.total_bits - self.k_bits) * d / 8
        v_bytes = v_rows.sum(axis=(1, 2)) * (self.v_bits * d / 8 + quant_v)
        self.kv_bytes += k_bytes + lsb_bytes + v_bytes
        self.kv_bytes_dense += 2 * n_kv * mask.shape[1] * FLOAT_BITS * d / 8

    def _evict(self, layer: int, n: int) -> None:
        """Apply the policy of every row whose live count now exceeds its budget."""
        live = self.live[layer, :, : n + 1]
        over = (self.budget > 0) & (live.sum(axis=1) > self.budget)
        if not over.any():
            return
        pos = np.arange(n + 1)
        cand = live & (pos >= self.start[:, None]) & (pos <= n - self.recent[:, None])
        score = np.where(
            self.by_importance[:, None],
            self.importance[layer, :, : n + 1],
            pos[None, :].astype(np.float64),
        )
        score = np.where(cand, score, np.inf)
        victim = n - np.argmin(score[:, ::-1], axis=1)  # lowest score; ties: the later token
        rows = np.flatnonzero(over)
        self.live[layer, rows, victim[rows]] = False

    # ------------------------------------------------------------------ reports
    def occupancy(self) -> np.ndarray:
        """Live tokens per layer and row [L, B]."""
        return self.live.sum(axis=2)


def trace_bits(cfg: CacheConfig) -> GenBits:
    """Bit columns of the trace of a setting (float K or V: unquantized)."""
    return GenBits(
        k_bits=None if cfg.k_bits == FLOAT_BITS else cfg.k_bits,
        k_lsb=cfg.k_lsb,
        threshold=cfg.requant_threshold,
        v_bits=None if cfg.v_bits == FLOAT_BITS else cfg.v_bits,
        importance=cfg.policy == "spatten",
    )

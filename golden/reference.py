"""Float reference model of SpAtten attention (spec SPATTEN.md §1).

``FloatSpatten`` computes multi-head attention in float64 with the four SpAtten techniques:

* cascade token pruning: ``s_tok[j] += sum_h sum_i prob_h[i, j]`` over the live heads and
  queries of every layer (and, in generation, of every step). After each layer the top
  ``token_keep_count(cfg, live)`` live tokens by ``s_tok`` are kept for the next layer, plus
  [CLS] and [SEP] when ``keep_special`` and the top-k missed them (``config.with_special``:
  appended to the live list, importance restarting at 0);
* cascade head pruning: ``s_head[h] += sum |E_h|``; after each layer the top
  ``kept_count(head_keep, live heads)`` live heads are kept; a pruned head outputs zeros;
* local value pruning: per query only the V rows of the top ``kept_count(value_keep, live)``
  probabilities are used, without renormalisation;
* progressive quantization (only with ``quantize=True``): Q, K, V of every head are quantized
  per tensor, symmetric, to 12-bit integers (``fixed.quantize_sym``, as the fixed-point model);
  K and V are first used with only their ``msb_bits`` top bits, the unknown low bits filled
  with half an LSB (``fixed.reconstruct``); a query row whose max probability is below
  ``requant_threshold`` is recomputed with ``msb_bits + lsb_bits`` key bits. V has no LSB path.
  With ``quantize=False`` (default) all arithmetic is float64; the requantization decision is
  still taken on the float probabilities (it only affects the byte count).

Protocol, shared with the fixed-point model ``golden.system.FixedSpatten``:

* Summarization: ``layer(0, q, k, v)`` starts a sequence (resets the state); ``layer(l, ...)``
  then takes q, k, v [H, n_live, D] of the tokens kept by the previous result's
  ``keep_tokens`` (in that order); rows of pruned heads are ignored.
* Generation: after :meth:`reset`, ``generate_step(q, k_cache, v_cache)`` once per decode step
  with the newest query [H, D] (or [H, 1, D]) and the whole cache [H, L, D] of the layer
  (positions >= the previous L are new: live, importance 0). The model keeps the live cache
  positions itself (``extra['live_positions']``); the decode step index plays the role of the
  layer index, so token and head pruning cascade across steps.
* Pruning decisions are made at the end of layer (step) ``l`` for ``l + 1``, only when
  ``l + 1 >= prune_start_layer``; layer 0 of a sequence is never pruned (no importance yet).
* Top-k ties are broken in favour of the EARLIER position (as the hardware top-k engine,
  ``golden.topk``); kept indexes are returned in ascending order.

Byte model (per layer, per live head): Q at 12 bits and E at 16 bits for the queries; K MSBs
for the live tokens; the K LSB plane of the live tokens once per head with at least one
requantized query row (the key buffer holds the whole key matrix); V at ``msb_bits`` for the
distinct rows that some query of the head keeps. The dense baseline moves Q, K, V and E at 16
bits for every head and token of the unpruned sequence. Bytes come from ``blocks.fetch_bytes``
(every row of a plane padded to whole 32-byte AXI beats), the same count as the fixed model.
"""

from __future__ import annotations

import math

import numpy as np

from golden import fixed as fx
from golden.config import (
    DENSE,
    PruneConfig,
    kept_count,
    special_positions,
    token_keep_count,
    with_special,
)
from golden.system import LayerResult
from golden.traffic import add_head_bytes, dense_bytes, zero_bytes

WIDTH = fx.DATA_W  # bits of the Q/K/V integers in DRAM (12)


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def plain_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Dense multi-head attention ``softmax(q k^T / sqrt(D)) v`` for [H, n, D] arrays."""
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    return softmax(scores) @ v


def topk_indexes(scores: np.ndarray, k: int) -> np.ndarray:
    """Indexes of the ``k`` largest ``scores`` (ties: earlier index first), ascending."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return np.sort(order[:k])


def topk_mask(prob: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the top ``k`` entries of every row of ``prob`` (earlier index wins ties)."""
    order = np.argsort(-prob, axis=-1, kind="stable")[..., :k]
    mask = np.zeros(prob.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=-1)
    return mask


class FloatSpatten:
    """Float SpAtten attention with cascade token/head pruning, local value pruning and
    (optionally) progressive quantization. See the module docstring for the protocol."""

    def __init__(self, cfg: PruneConfig = DENSE, quantize: bool = False) -> None:
        self.cfg = cfg
        self.quantize = quantize
        self.reset()

    def reset(self) -> None:
        """Forget all importance and pruning state (start a new sequence)."""
        self.s_tok = np.zeros(0)  # importance per absolute token position
        self.s_head = np.zeros(0)  # importance per head
        self.live = np.zeros(0, dtype=np.int64)  # absolute positions live in this layer
        self.heads = np.zeros(0, dtype=np.int64)  # heads live in this layer
        self.n_full = 0  # unpruned sequence length (dense baseline)
        self.special = np.zeros(0, dtype=np.int64)  # indexes into live of [CLS]/[SEP]
        self.step = 0  # generation: decode steps done

    # ----------------------------------------------------------------- public entry points
    def layer(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> LayerResult:
        """One summarization layer on the live tokens: q, k, v float [H, n_live, D]."""
        n_heads, n, _ = q.shape
        if layer == 0:
            self._start(n_heads)
            self._append_tokens(n)
            self.special = special_positions(self.cfg, n)
        elif n != len(self.live):
            raise ValueError(f"layer {layer}: {n} tokens given, {len(self.live)} live")
        return self._attend(layer, q, k, v, dense_queries=self.n_full)

    def generate_step(self, q: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray) -> LayerResult:
        """One decode step: q float [H, D] (or [H, 1, D]) against the live part of the cache."""
        n_heads, length, d = k_cache.shape
        if self.n_full == 0:
            self._start(n_heads)
        self._append_tokens(length - self.n_full)
        live = self.live
        result = self._attend(
            self.step, q.reshape(n_heads, 1, d), k_cache[:, live], v_cache[:, live], 1
        )
        self.step += 1
        return result

    # ----------------------------------------------------------------------- internals
    def _start(self, n_heads: int) -> None:
        self.reset()
        self.s_head = np.zeros(n_heads)
        self.heads = np.arange(n_heads)

    def _append_tokens(self, count: int) -> None:
        """New tokens: live, importance 0."""
        self.live = np.concatenate([self.live, np.arange(self.n_full, self.n_full + count)])
        self.s_tok = np.concatenate([self.s_tok, np.zeros(count)])
        self.n_full += count

    def _attend(
        self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray, dense_queries: int
    ) -> LayerResult:
        n_heads, n_queries, d = q.shape
        n_live = k.shape[1]
        out = np.zeros((n_heads, n_queries, d))
        n_value = kept_count(self.cfg.value_keep, n_live)
        nbytes = zero_bytes()
        requant = np.zeros((n_heads, n_queries), dtype=bool)
        tok_importance = np.zeros(n_live)
        for h in self.heads:
            qf, k_msb, k_full, vf = self._operands(q[h], k[h], v[h])
            prob, need = self._probabilities(qf, k_msb, k_full)
            mask = topk_mask(prob, n_value)
            out[h] = np.where(mask, prob, 0.0) @ vf
            tok_importance += prob.sum(axis=0)
            self.s_head[h] += np.abs(out[h]).sum()
            requant[h] = need
            add_head_bytes(nbytes, self.cfg, d, n_queries, n_live, bool(need.any()),
                           [np.flatnonzero(r) for r in mask])
        self.s_tok[self.live] += tok_importance
        keep_tokens, keep_heads = self._prune_for(layer + 1, n_live)
        result = LayerResult(
            out=out,
            keep_tokens=keep_tokens,
            keep_heads=keep_heads,
            requant_rows=int(requant.sum()),
            rows=len(self.heads) * n_queries,
            bytes=nbytes,
            bytes_dense=dense_bytes(n_heads, d, dense_queries, self.n_full),
            extra={
                "live_positions": self.live.copy(),
                "live_heads": self.heads.copy(),
                "requant": requant,
            },
        )
        self.live = self.live[keep_tokens]
        self.heads = keep_heads
        return result

    def _operands(
        self, q: np.ndarray, k: np.ndarray, v: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(Q, K with MSBs only, K with MSB+LSB, V) of one head as used by the datapath."""
        q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
        if not self.quantize:
            return q, k, k, v
        msb, total = self.cfg.msb_bits, self.cfg.total_bits
        (qi, qs), (ki, ks), (vi, vs) = (fx.quantize_sym(x) for x in (q, k, v))
        k_msb = fx.reconstruct(ki, msb) * ks
        k_full = fx.reconstruct(ki, total) * ks
        return qi * qs, k_msb, k_full, fx.reconstruct(vi, msb) * vs

    def _probabilities(
        self, q: np.ndarray, k_msb: np.ndarray, k_full: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of one head (MSB keys, flat rows recomputed) and the requant mask."""
        scale = 1.0 / math.sqrt(q.shape[-1])
        prob = softmax(q @ k_msb.T * scale)
        need = np.zeros(prob.shape[0], dtype=bool)
        if self.cfg.lsb_bits > 0 and self.cfg.msb_bits < WIDTH:
            need = prob.max(axis=-1) < self.cfg.requant_threshold
            if need.any():
                prob[need] = softmax(q[need] @ k_full.T * scale)
        return prob, need

    def _prune_for(self, next_layer: int, n_live: int) -> tuple[np.ndarray, np.ndarray]:
        """Kept token positions (into the live list) and head ids for ``next_layer``."""
        if next_layer < self.cfg.prune_start_layer:
            return np.arange(n_live), self.heads.copy()
        selected = topk_indexes(self.s_tok[self.live], token_keep_count(self.cfg, n_live))
        tokens, self.special = with_special(selected, self.special)
        self.s_tok[self.live[tokens[len(selected):]]] = 0.0  # re-appended: importance 0
        n_heads = kept_count(self.cfg.head_keep, len(self.heads))
        heads = self.heads[topk_indexes(self.s_head[self.heads], n_heads)]
        return tokens, heads

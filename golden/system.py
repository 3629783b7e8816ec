"""Composed bit-exact fixed-point SpAtten model (see docs/fixed_point.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from golden import blocks as blk
from golden import fixed as fx
from golden.config import (
    DENSE,
    PruneConfig,
    kept_count,
    special_positions,
    token_keep_count,
    with_special,
)
from golden.topk import topk, topk_rows
from golden.traffic import add_head_bytes, dense_bytes, zero_bytes


@dataclass
class LayerResult:
    """Result of one attention layer (or one generation step) of a SpAtten model."""

    out: np.ndarray  # float [H, n, D], zeros for pruned heads
    keep_tokens: np.ndarray  # int positions into the current live list, ascending
    keep_heads: np.ndarray  # int head ids, ascending
    requant_rows: int  # query rows that re-fetched K LSBs
    rows: int  # query rows computed (live heads x queries)
    bytes: dict[str, int] = field(default_factory=dict)  # DRAM bytes moved per class
    bytes_dense: dict[str, int] = field(default_factory=dict)  # dense 16-bit baseline
    extra: dict = field(default_factory=dict)  # bit-exact integer internals
    # FixedSpatten's extra: e_int [H, nq, D]; probs [H, nq, nk] UQ0.16; kept_v [H, nq, kv]
    # (-1 for pruned heads); requant [H, nq] bool; live_heads; token_importance (per live token,
    # before this layer's selection); head_importance [H]; head_scale [2, H] (HEAD_SCALE mult,
    # shift; 0 for heads not computed); generation: live_positions (cache).


@dataclass
class HeadResult:
    """Integer internals of one head: queries [nq], keys [nk]."""

    scores: np.ndarray  # [nq, nk] Q11.8 log2 scores of the final (possibly requantized) pass
    probs: np.ndarray  # [nq, nk] UQ0.16
    max_prob: np.ndarray  # [nq] UQ0.16
    requant: np.ndarray  # [nq] bool, row recomputed with MSB+LSB keys
    kept_v: np.ndarray  # [nq, kv] positions of the V rows used, ascending
    e: np.ndarray  # [nq, D] 16-bit head output (V scale / 16)


def attend_head(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mult: int, shift: int, cfg: PruneConfig
) -> HeadResult:
    """One head of the fixed-point datapath on 12-bit ints q [nq, D], k and v [nk, D]."""
    m, lsb = cfg.msb_bits, cfg.lsb_bits
    scores = blk.qk_score(blk.qk_dot(q, fx.reconstruct(k, m)), mult, shift)
    probs, max_prob = blk.softmax(scores)
    requant = np.zeros(len(q), dtype=bool)
    if lsb > 0 and m < fx.DATA_W:
        requant = blk.need_requant(max_prob, blk.prob_threshold(cfg.requant_threshold))
    if requant.any():
        scores[requant] = blk.qk_score(
            blk.qk_dot(q[requant], fx.reconstruct(k, m + lsb)), mult, shift
        )
        probs[requant], max_prob[requant] = blk.softmax(scores[requant])
    kept_v = topk_rows(probs, kept_count(cfg.value_keep, len(k)))
    e = blk.pv(probs, fx.reconstruct(v, m), blk.keep_mask(kept_v, len(k)))
    return HeadResult(scores, probs, max_prob, requant, kept_v, e)


class FixedSpatten:
    """Bit-exact fixed-point SpAtten (summarization via :meth:`layer`, generation via
    :meth:`generate_step`). Same interface as ``golden.reference.FloatSpatten``.

    Protocol (summarization): call ``layer(0, ...)`` for the first layer of a sequence (it
    resets the state), then ``layer(l, ...)`` with q, k, v of the tokens kept by the previous
    result's ``keep_tokens`` (in that order) and any data for pruned heads (ignored). Token
    importance (per live token) and head importance (per head) accumulate across layers.

    Protocol (generation): after :meth:`reset`, call ``generate_step`` once per decode step
    with the whole cache ``k_cache, v_cache`` [H, L, D] (L grows; positions >= the previous L
    are new, live, importance 0). The model keeps the live cache positions itself; decode step
    ``s`` plays the role of the layer index for ``prune_start_layer``.
    """

    def __init__(self, cfg: PruneConfig = DENSE) -> None:
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self.tok_imp = np.zeros(0, dtype=np.int64)  # per live token, UQ0.16 sums (32 bits)
        self.head_imp = np.zeros(0, dtype=np.int64)  # per head, sum |E| (40 bits, 2^-12 units)
        self.live_heads = np.zeros(0, dtype=np.int64)
        self.n0 = 0  # tokens of layer 0 (dense baseline)
        self.live_pos = np.zeros(0, dtype=np.int64)  # generation: live cache positions
        self.step = 0  # generation: decode steps done
        self._gen_len = 0  # generation: cache length seen so far
        self.special = np.zeros(0, dtype=np.int64)  # summarization: live indexes of CLS/SEP

    # ------------------------------------------------------------------------------ public
    def layer(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> LayerResult:
        """One summarization layer on the live tokens: q, k, v float [H, n_live, D]."""
        h_all, n, d = q.shape
        if layer == 0:
            self._start(h_all, n)
            self.n0 = n
            self.special = special_positions(self.cfg, n)
        elif n != len(self.tok_imp):
            raise ValueError(f"layer {layer}: {n} tokens given, {len(self.tok_imp)} live")
        res = self._attend(q, k, v, layer)
        res.bytes_dense = dense_bytes(h_all, d, self.n0, self.n0)
        return res

    def generate_step(self, q: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray) -> LayerResult:
        """One decode step: q float [H, D] (or [H, 1, D]) against the live part of the cache."""
        h_all, length, d = k_cache.shape
        if self._gen_len == 0:
            self._start(h_all, 0)
        new = np.arange(self._gen_len, length)
        self.live_pos = np.concatenate([self.live_pos, new])
        self.tok_imp = np.concatenate([self.tok_imp, np.zeros(len(new), dtype=np.int64)])
        self._gen_len = length
        live = self.live_pos
        res = self._attend(q.reshape(h_all, 1, d), k_cache[:, live], v_cache[:, live], self.step)
        res.extra["live_positions"] = live
        self.live_pos = live[res.keep_tokens]
        res.bytes_dense = dense_bytes(h_all, d, 1, length)
        self.step += 1
        return res

    # ------------------------------------------------------------------------------ internals
    def _start(self, h_all: int, n: int) -> None:
        self.reset()
        self.tok_imp = np.zeros(n, dtype=np.int64)
        self.head_imp = np.zeros(h_all, dtype=np.int64)
        self.live_heads = np.arange(h_all)

    def _attend(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, index: int) -> LayerResult:
        cfg = self.cfg
        h_all, nq, d = q.shape
        nk = k.shape[1]
        kv = kept_count(cfg.value_keep, nk)
        e_int = np.zeros((h_all, nq, d), dtype=np.int64)
        out = np.zeros((h_all, nq, d))
        probs = np.zeros((h_all, nq, nk), dtype=np.int64)
        kept_v = np.full((h_all, nq, kv), -1, dtype=np.int64)
        requant = np.zeros((h_all, nq), dtype=bool)
        head_scale = np.zeros((2, h_all), dtype=np.int64)  # HEAD_SCALE (mult, shift) per head
        nbytes = zero_bytes()
        for h in self.live_heads:
            (qi, sq), (ki, sk), (vi, sv) = (fx.quantize_sym(x[h]) for x in (q, k, v))
            hr = attend_head(qi, ki, vi, *fx.score_scale_params(sq, sk, d), cfg)
            e_int[h], probs[h], kept_v[h], requant[h] = hr.e, hr.probs, hr.kept_v, hr.requant
            head_scale[:, h] = fx.head_scale_params(sv)
            out[h] = hr.e * (sv / (1 << fx.E_EXTRA_FRAC))
            add_head_bytes(nbytes, cfg, d, nq, nk, bool(hr.requant.any()), hr.kept_v)
        live_heads = self.live_heads
        self.tok_imp = blk.token_importance(self.tok_imp, probs[live_heads])
        self.head_imp[live_heads] = blk.head_importance(
            self.head_imp[live_heads], e_int[live_heads], *head_scale[:, live_heads]
        )
        extra = {
            "e_int": e_int,
            "probs": probs,
            "kept_v": kept_v,
            "requant": requant,
            "live_heads": live_heads,
            "token_importance": self.tok_imp.copy(),
            "head_importance": self.head_imp.copy(),
            "head_scale": head_scale,
        }
        keep_tokens, keep_heads = np.arange(nk), live_heads
        selected = keep_tokens
        if index + 1 >= cfg.prune_start_layer:
            selected = topk(self.tok_imp, token_keep_count(cfg, nk)).positions
            keep_tokens, self.special = with_special(selected, self.special)
            heads = topk(self.head_imp[live_heads], kept_count(cfg.head_keep, len(live_heads)))
            keep_heads = live_heads[heads.positions]
        self.tok_imp = self.tok_imp[keep_tokens]
        self.tok_imp[len(selected) :] = 0  # special tokens re-appended: importance 0
        self.live_heads = keep_heads
        return LayerResult(
            out=out,
            keep_tokens=keep_tokens,
            keep_heads=keep_heads,
            requant_rows=int(requant.sum()),
            rows=len(live_heads) * nq,
            bytes=nbytes,
            extra=extra,
        )

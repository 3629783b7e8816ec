"""Perplexity and K/V DRAM traffic of SpAtten-LLM cache policies on SmolLM2-135M.

Method: the text is tokenized whole and cut into ``windows`` consecutive, non-overlapping
windows of ``context`` tokens from its start. Every window is decoded token by token from an
empty cache (no prefill); the tokens at positions ``context // 2 .. context - 1`` are scored,
each predicted from everything before it, so every scored prediction sees at least half a
context of history (and a budget-limited cache is full). Perplexity = exp(mean negative
log-likelihood over the scored tokens of all windows). K/V bytes are counted over the decode
steps that produce the scored predictions (``golden.kvcache``), against dense 16-bit K/V of
the whole cache: ``kv_reduction = dense bytes / bytes``.

All settings of one evaluation are decoded together (one batch row per (setting, window),
rows in lock step), which shares the weight reads between them; each row's arithmetic is
independent of the others'.

Default text: WikiText-2 test (``$SPATTEN_DATA`` or ``../shared/data`` beside the repository,
``wikitext-2/test.txt``) when present, otherwise the documentation strings of a fixed list of
Python standard-library modules (present with every Python; the exact text depends on the
Python version).
"""

from __future__ import annotations

import argparse
import collections
import difflib
import inspect
import json
import math
import os
import statistics
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from golden import smollm
from golden.kvcache import DENSE_CACHE, CacheConfig, Smoothing, SpattenCache
from golden.kvfixed import FixedSpattenCache
from golden.traces import GenStep

DATA = Path(os.environ.get("SPATTEN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
WIKITEXT = DATA / "wikitext-2" / "test.txt"
DOC_MODULES: tuple[object, ...] = (
    argparse,
    collections,
    difflib,
    inspect,
    json,
    statistics,
    textwrap,
    math,
    os,
)

DEFAULT_CONTEXT = 1024
DEFAULT_WINDOWS = 4
DEFAULT_SWEEP_FRACTIONS = (0.125, 0.25, 0.5)  # sweep budgets, fractions of the context
# The documented default (docs/llm.md, chosen from the measured curves): SpAtten-LLM with a
# budget of 13/16 of the context (832 of 1024: 4 sinks + 414 recent + 414 important), progressive
# K (6 MSBs, +4 LSBs when a head's max probability < 0.05) and 4-bit V, per-token scales.
# Measured at context 512 (2 windows): 4-bit V costs little more than 6-bit (+1.24 % vs +1.02 %
# without pruning, 2.97x vs 2.51x); the mild pruning adds the last few percent of reduction.
DEFAULT_QUANT = {"k_bits": 6, "k_lsb": 4, "requant_threshold": 0.05, "v_bits": 4}
DEFAULT_BUDGET_FRACTION = 0.8125

Progress = Callable[[Iterable[int]], Iterable[int]]


def _no_progress(items: Iterable[int]) -> Iterable[int]:
    return items


def stdlib_text() -> str:
    """Docstrings of :data:`DOC_MODULES` and their public members, in a fixed order."""
    parts = []
    for module in DOC_MODULES:
        objs = [module] + [
            getattr(module, n) for n in sorted(vars(module)) if not n.startswith("_")
        ]
        for obj in objs:
            doc = inspect.getdoc(obj) if inspect.ismodule(obj) or callable(obj) else None
            if doc and doc not in parts:
                parts.append(doc)
    return "\n\n".join(parts)


def default_text() -> tuple[str, str]:
    """(text, description of its source) of the default evaluation text."""
    if WIKITEXT.is_file():
        return WIKITEXT.read_text(encoding="utf-8"), f"WikiText-2 test ({WIKITEXT})"
    return stdlib_text(), "Python standard-library docstrings (WikiText-2 not found)"


def windows(ids: list[int], context: int, count: int) -> list[list[int]]:
    """The first ``count`` consecutive windows of ``context`` tokens; ValueError if short."""
    if len(ids) < context * count:
        raise ValueError(
            f"text has {len(ids)} tokens, {count} windows of {context} need {context * count}"
        )
    return [ids[i * context : (i + 1) * context] for i in range(count)]


@dataclass
class RunResult:
    """Result of one cache setting over all windows."""

    config: CacheConfig
    perplexity: float
    kv_bytes: float  # per decoded (scored) token
    kv_bytes_dense: float
    requant_fraction: float
    occupancy: list[float] = field(default_factory=list)  # mean live tokens per layer at the end
    trace: list[GenStep] = field(default_factory=list)  # first window's steps (trace_config)
    model: str = "float"  # "fixed": decoded by the bit-exact fixed-point model

    @property
    def kv_reduction(self) -> float:
        return self.kv_bytes_dense / self.kv_bytes

    def to_dict(self) -> dict:
        return {
            "policy": self.config.policy,
            "budget": self.config.budget,
            "perplexity": self.perplexity,
            "kv_reduction": self.kv_reduction,
            "kv_bytes_per_token": self.kv_bytes,
            "kv_bytes_per_token_dense": self.kv_bytes_dense,
            "requant_fraction": self.requant_fraction,
            "occupancy_per_layer": self.occupancy,
            "config": self.config.to_dict(),
            "model": self.model,
        }


def evaluate(
    configs: list[CacheConfig],
    wins: list[list[int]],
    progress: Progress = _no_progress,
    trace_config: CacheConfig | None = None,
    fixed: bool = False,
) -> list[RunResult]:
    """Decode every window under every setting (one batch) and score it; see module doc.
    ``trace_config``: that setting's result holds the (step, layer) records of its first
    window, every decode step (``RunResult.trace``, for golden.traces.generation_trace).
    ``fixed``: decode with the bit-exact fixed-point model (golden.kvfixed) instead of the
    float reference (K/V bytes then in whole beats, with the scale and state classes)."""
    model = smollm.load_model()
    context = len(wins[0])
    score_from = context // 2
    rows = [(c, w) for c in range(len(configs)) for w in range(len(wins))]
    smoothing = calibrated_smoothing() if any(c.smooth for c in configs) else None
    settings = [configs[c] for c, _ in rows]
    cache: SpattenCache | FixedSpattenCache = (
        FixedSpattenCache(model.hp, settings, context, smoothing=smoothing)
        if fixed
        else SpattenCache(model.hp, settings, context, smoothing)
    )
    if trace_config is not None:
        cache.trace_row = rows.index((configs.index(trace_config), 0))
    ids = np.array([wins[w] for _, w in rows])  # [B, context]
    nll = np.zeros(len(rows))
    for pos in progress(range(context - 1)):
        scored = pos + 1 >= score_from
        cache.counting = scored
        logits = smollm.step(model, ids[:, pos], pos, cache, logits=scored)
        if logits is not None:
            logp = smollm.log_softmax(logits)
            nll -= logp[np.arange(len(rows)), ids[:, pos + 1]]
    n_scored = context - score_from
    occupancy = cache.occupancy()  # [L, B]
    results = []
    for c, cfg in enumerate(configs):
        sel = [i for i, (rc, _) in enumerate(rows) if rc == c]
        tokens = n_scored * len(sel)
        results.append(
            RunResult(
                config=cfg,
                perplexity=math.exp(float(nll[sel].sum()) / tokens),
                kv_bytes=float(cache.kv_bytes[sel].sum()) / tokens,
                kv_bytes_dense=float(cache.kv_bytes_dense[sel].sum()) / tokens,
                requant_fraction=float(cache.requant_rows[sel].sum() / cache.query_rows[sel].sum()),
                occupancy=[float(x) for x in occupancy[:, sel].mean(axis=1)],
                trace=cache.trace if cfg == trace_config else [],
                model="fixed" if fixed else "float",
            )
        )
    return results


CALIBRATION_TOKENS = 256


@lru_cache(maxsize=1)
def calibrated_smoothing() -> Smoothing:
    """K/V smoothing calibrated once on the first CALIBRATION_TOKENS tokens of the
    standard-library docstrings (dense decode): never on the evaluated text."""
    model = smollm.load_model()
    ids = smollm.tokenize(stdlib_text())[:CALIBRATION_TOKENS]
    cache = smollm.DenseCache(model.hp, 1, len(ids))
    for pos, tok in enumerate(ids):
        smollm.step(model, np.array([tok]), pos, cache, logits=False)
    return Smoothing.calibrate(cache.k[:, 0], cache.v[:, 0])


def sweep_configs(budgets: Iterable[int], start: int, recent: int | None) -> list[CacheConfig]:
    """SpAtten-LLM and sinks+recent at each budget, same start/recent split, float K/V."""
    return [
        CacheConfig(policy=policy, budget=b, start=start, recent=recent)
        for b in budgets
        for policy in ("spatten", "sinks_recent")
    ]


def all_configs(default: CacheConfig, sweep: list[CacheConfig]) -> list[CacheConfig]:
    """Dense first, then the default and the sweep, without duplicates (order kept)."""
    return list(dict.fromkeys([DENSE_CACHE, default, *sweep]))


def label(cfg: CacheConfig) -> str:
    """Short human-readable setting."""
    parts = [cfg.policy if not cfg.budget else f"{cfg.policy} {cfg.budget}"]
    if cfg.k_bits != 16:
        parts.append(
            f"K {cfg.k_bits}" + (f"+{cfg.k_lsb}@{cfg.requant_threshold:g}" if cfg.k_lsb else "")
        )
    if cfg.v_bits != 16:
        parts.append(f"V {cfg.v_bits}")
    if cfg.value_keep < 1.0:
        parts.append(f"vkeep {cfg.value_keep:g}")
    if cfg.smooth:
        parts.append("smooth")
    return ", ".join(parts)


def table(results: list[RunResult], dense: float) -> str:
    lines = [f"{'setting':<34} {'ppl':>8} {'vs dense':>9} {'K/V B/token':>12} {'reduction':>9}"]
    for r in results:
        name = label(r.config) + (" [fixed]" if r.model == "fixed" else "")
        lines.append(
            f"{name:<34} {r.perplexity:8.3f} {100 * (r.perplexity / dense - 1):+8.2f}%"
            f" {r.kv_bytes:12.0f} {r.kv_reduction:8.2f}x"
        )
    return "\n".join(lines)


def plot(results: list[RunResult], dense: float, default: CacheConfig, path: str | Path) -> None:
    """Perplexity against K/V traffic reduction, one curve per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    curves: dict[str, list[RunResult]] = {}
    for r in results:
        if r.config.budget and r.config != default:
            curves.setdefault(label(r.config).split(" ", 1)[0] + _quant_tag(r.config), []).append(r)
    for name, rs in curves.items():
        rs.sort(key=lambda r: r.kv_reduction)
        ax.plot([r.kv_reduction for r in rs], [r.perplexity for r in rs], "o-", label=name)
    for r in results:
        if r.config == default:
            ax.plot(r.kv_reduction, r.perplexity, "r*", ms=14, label=f"default ({label(r.config)})")
        elif not r.config.budget and r.config != DENSE_CACHE:
            ax.plot(r.kv_reduction, r.perplexity, "s", label=label(r.config))
    ax.axhline(dense, color="k", ls=":", label=f"dense {dense:.2f}")
    ax.axhline(dense * 1.03, color="grey", ls="--", lw=0.8, label="dense +3 %")
    ax.set_xlabel("K/V DRAM reduction per decoded token vs dense 16-bit (x)")
    ax.set_ylabel("perplexity")
    ax.set_title("SmolLM2-135M: KV-cache policies")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _quant_tag(cfg: CacheConfig) -> str:
    return " (quantized)" if cfg.k_bits != 16 or cfg.v_bits != 16 else ""

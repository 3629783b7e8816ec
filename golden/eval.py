"""Accuracy / DRAM evaluation of SpAtten pruning on all-MiniLM-L6-v2 with real text.

Accuracy metric: cosine similarity between the sentence embedding computed with a SpAtten
attention model and the one of the dense float model (plain attention), averaged over the
sentences. DRAM metric: bytes moved by the attention layers (LayerResult.bytes, summed over
classes, layers and sentences) against the dense 16-bit baseline (LayerResult.bytes_dense).

Text: sentences split from the documentation strings of Python standard-library objects
(``inspect.getdoc``), i.e. real English written by others and present on every machine.
The selection is deterministic for a given Python version (the sentences are stored in the
JSON results).
"""

from __future__ import annotations

import argparse
import calendar
import difflib
import fractions
import heapq
import inspect
import json
import re
import shlex
import statistics
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from golden import minilm
from golden.config import DEFAULT_PRUNE, DENSE, PruneConfig
from golden.reference import FloatSpatten

# Documentation sources of the default text, in order (at most 2 sentences each).
DOC_SOURCES: tuple[object, ...] = (
    textwrap.TextWrapper,
    textwrap.dedent,
    json,
    json.dumps,
    heapq,
    difflib,
    difflib.SequenceMatcher,
    statistics,
    shlex,
    calendar,
    fractions.Fraction,
    argparse.ArgumentParser,
)
MIN_TOKENS, MAX_TOKENS = 10, 60
SENTENCES_PER_SOURCE = 2
DEFAULT_COUNT = 20
_SENTENCE_END = re.compile(r"(?<=[a-z)][.!?])\s+(?=[A-Z])")
_NOT_PROSE = (" ", "-", "*", ">>>", "|")

# Settings of the default sweep (applied on top of the dense config).
SWEEP: tuple[PruneConfig, ...] = tuple(
    dict.fromkeys(  # ordered, without duplicates
        (
            DENSE,
            DEFAULT_PRUNE,
            PruneConfig(msb_bits=8),
            PruneConfig(msb_bits=6),
            PruneConfig(msb_bits=4),
            PruneConfig(msb_bits=4, lsb_bits=4, requant_threshold=0.3),
            PruneConfig(msb_bits=6, lsb_bits=2, requant_threshold=0.2),
            PruneConfig(msb_bits=8, value_keep=0.5),
            PruneConfig(msb_bits=8, value_keep=0.3),
            *(
                PruneConfig(msb_bits=8, token_keep=t, prune_start_layer=s)
                for s in (1, 3, 4, 5)
                for t in (0.97, 0.95, 0.9, 0.8, 0.5)
            ),
            *(
                PruneConfig(msb_bits=8, head_keep=h, prune_start_layer=s)
                for s in (3, 5)
                for h in (0.9, 0.5)
            ),
            PruneConfig(
                msb_bits=8, token_keep=0.9, head_keep=0.9, value_keep=0.5, prune_start_layer=3
            ),
            PruneConfig(
                msb_bits=8, token_keep=0.5, head_keep=0.5, value_keep=0.3, prune_start_layer=1
            ),
        )
    )
)


# ----------------------------------------------------------------------------- text
def prose_sentences(doc: str) -> list[str]:
    """Sentences of the prose paragraphs of a docstring (lists, code and tables skipped)."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", doc):
        lines = para.splitlines()
        if not lines or any(line.startswith(_NOT_PROSE) for line in lines):
            continue
        out += _SENTENCE_END.split(" ".join(para.split()))
    return out


def default_sentences(count: int = DEFAULT_COUNT) -> list[str]:
    """The default evaluation text: ``count`` stdlib documentation sentences of 10-60 tokens."""
    picked: list[str] = []
    for source in DOC_SOURCES:
        ok = [
            s
            for s in prose_sentences(inspect.getdoc(source) or "")
            if s.endswith(".") and MIN_TOKENS <= len(minilm.tokenize(s)) <= MAX_TOKENS
        ]
        picked += ok[:SENTENCES_PER_SOURCE]
    return picked[:count]


# Real text with short lines: Python's own reference documentation (pydoc_data.topics, shipped
# with every CPython). The wrapped text of these statements has many short lines, 14 of its
# 117 lines one word ("hints.", "loop.", "substituted.", the "****" underlines). Every setting
# DEFAULT_PRUNE may be must keep the per-sentence cosine vs dense on it at min >= REAL_TEXT_MIN
# and mean >= REAL_TEXT_MEAN (issue 17; golden.stsb.best_setting applies the bar).
SHORT_LINE_TOPICS = ("assert", "pass", "del", "if", "while", "break", "continue", "return")
REAL_TEXT_MIN, REAL_TEXT_MEAN = 0.95, 0.98


def short_line_text() -> list[str]:
    """The non-empty lines, stripped, of the SHORT_LINE_TOPICS entries of pydoc_data.topics."""
    from pydoc_data.topics import topics

    return [line.strip() for key in SHORT_LINE_TOPICS for line in topics[key].splitlines()
            if line.strip()]


def passes_real_text_bar(mean: float, minimum: float) -> bool:
    """True when a per-sentence cosine mean and minimum meet REAL_TEXT_MEAN and REAL_TEXT_MIN."""
    return minimum >= REAL_TEXT_MIN and mean >= REAL_TEXT_MEAN


def read_sentences(path: str | Path) -> list[str]:
    """Sentences of a text file: one per non-empty line."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- models
def make_attention(cfg: PruneConfig, fixed_point: bool = False) -> minilm.Attention:
    """A fresh attention model for one sentence: float SpAtten (quantizing) or fixed point."""
    if fixed_point:
        from golden.system import FixedSpatten

        return FixedSpatten(cfg)
    return FloatSpatten(cfg, quantize=True)


def fixed_point_available() -> bool:
    """True when golden.system provides the fixed-point model."""
    try:
        from golden.system import FixedSpatten  # noqa: F401
    except ImportError:
        return False
    return True


_DENSE_CACHE: dict[str, np.ndarray] = {}


def dense_embedding(sentence: str) -> np.ndarray:
    """Embedding of the dense float model (cached per process)."""
    if sentence not in _DENSE_CACHE:
        _DENSE_CACHE[sentence] = minilm.encode(sentence).embedding
    return _DENSE_CACHE[sentence]


# ----------------------------------------------------------------------------- evaluation
def _add_bytes(total: dict[str, int], part: dict[str, int]) -> None:
    for name, value in part.items():
        total[name] = total.get(name, 0) + int(value)


def evaluate(
    cfg: PruneConfig,
    sentences: Sequence[str],
    fixed_point: bool = False,
    progress: Callable[[Iterable[str]], Iterable[str]] | None = None,
    embeddings: dict[str, np.ndarray] | None = None,
) -> dict:
    """Cosine vs dense and DRAM bytes of one setting over ``sentences`` (the embedding of
    every sentence also goes to ``embeddings`` when given)."""
    cosines: list[float] = []
    tokens: list[int] = []
    live_end: list[int] = []
    dram: dict[str, int] = {}
    dram_dense: dict[str, int] = {}
    rows = requant_rows = 0
    for sentence in progress(sentences) if progress else sentences:
        enc = minilm.encode(sentence, make_attention(cfg, fixed_point))
        cosines.append(minilm.cosine(enc.embedding, dense_embedding(sentence)))
        if embeddings is not None:
            embeddings[sentence] = enc.embedding
        tokens.append(enc.n_tokens)
        live_end.append(len(enc.live_positions))
        for result in enc.layers:
            _add_bytes(dram, result.bytes)
            _add_bytes(dram_dense, result.bytes_dense)
            rows += result.rows
            requant_rows += result.requant_rows
    total, total_dense = sum(dram.values()), sum(dram_dense.values())
    return {
        "model": "fixed" if fixed_point else "float",
        "settings": cfg.to_dict(),
        "cosine_vs_dense": float(np.mean(cosines)),
        "cosine_min": float(np.min(cosines)),
        "cosines": cosines,
        "dram_bytes": total,
        "dram_bytes_dense": total_dense,
        "dram_reduction": total_dense / total if total else float("inf"),
        "dram_bytes_by_class": dram,
        "dram_bytes_dense_by_class": dram_dense,
        "requant_fraction": requant_rows / rows if rows else 0.0,
        "live_tokens_at_end": int(sum(live_end)),
        "sentences": len(sentences),
        "tokens": int(sum(tokens)),
    }


def sweep(
    settings: Sequence[PruneConfig],
    sentences: Sequence[str],
    fixed_point: bool = False,
    progress: Callable[[Iterable[PruneConfig]], Iterable[PruneConfig]] | None = None,
) -> list[dict]:
    """:func:`evaluate` for every setting."""
    return [
        evaluate(cfg, sentences, fixed_point)
        for cfg in (progress(settings) if progress else settings)
    ]


def with_overrides(base: PruneConfig, **overrides: float | int | None) -> PruneConfig:
    """``base`` with the non-None overrides applied."""
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


# ----------------------------------------------------------------------------- output
def setting_label(settings: dict) -> str:
    """Short label of the non-dense fields of a settings dict."""
    short = {
        "token_keep": "tok",
        "head_keep": "head",
        "value_keep": "val",
        "msb_bits": "msb",
        "lsb_bits": "lsb",
        "requant_threshold": "thr",
        "prune_start_layer": "from",
        "min_tokens": "min",
        "keep_special": "special",
    }
    dense = DENSE.to_dict()
    parts = [f"{short[k]}={v}" for k, v in settings.items() if k in short and v != dense[k]]
    return " ".join(parts) or "dense"


def format_table(results: Sequence[dict]) -> str:
    """Readable table of sweep results."""
    lines = [f"{'model':6} {'cosine':>7} {'min':>7} {'DRAM x':>7} {'requant':>7}  setting"]
    for r in results:
        lines.append(
            f"{r['model']:6} {r['cosine_vs_dense']:7.4f} {r['cosine_min']:7.4f} "
            f"{r['dram_reduction']:7.3f} {r['requant_fraction']:7.3f}  {setting_label(r['settings'])}"
        )
    return "\n".join(lines)


def write_json(path: str | Path, payload: dict | list) -> None:
    """Write results as indented JSON."""
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def plot(results: Sequence[dict], path: str | Path, bar: float = 0.98) -> None:
    """Cosine vs DRAM reduction: whole range (left) and the region near the bar (right,
    labelled); one marker per model, the default setting starred."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    default = DEFAULT_PRUNE.to_dict()
    for ax, zoom in zip(axes, (False, True), strict=True):
        for model, marker in (("float", "o"), ("fixed", "x")):
            pts = [
                r
                for r in results
                if r["model"] == model and (not zoom or r["cosine_vs_dense"] > 0.9)
            ]
            xs = [r["dram_reduction"] for r in pts]
            ys = [r["cosine_vs_dense"] for r in pts]
            if pts:
                ax.scatter(xs, ys, marker=marker, label=f"{model} model")
            if zoom and model == "float":
                for r, x, y in zip(pts, xs, ys, strict=True):
                    ax.annotate(setting_label(r["settings"]), (x, y), fontsize=6, rotation=20)
        best = [r for r in results if r["settings"] == default]
        if best:
            ax.scatter(
                [best[0]["dram_reduction"]],
                [best[0]["cosine_vs_dense"]],
                marker="*",
                s=250,
                facecolors="none",
                edgecolors="red",
                label="DEFAULT_PRUNE",
            )
        ax.axhline(bar, color="grey", linestyle="--", linewidth=0.8, label=f"cosine {bar}")
        ax.set_xlabel("DRAM reduction vs dense 16-bit (x)")
        ax.set_ylabel("mean cosine vs dense float embedding")
        ax.grid(alpha=0.3)
        ax.set_title("zoom: cosine > 0.9" if zoom else "SpAtten on all-MiniLM-L6-v2, stdlib text")
    axes[0].legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

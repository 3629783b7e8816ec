"""STS-B evaluation of SpAtten pruning on all-MiniLM-L6-v2 (``spatten eval --task sts-b``).

Task metric: Spearman (and Pearson) correlation between the cosine similarity of the two
sentence embeddings of each pair and the human similarity score (GLUE STS-B development set,
1,500 pairs, tab-separated with a header naming at least ``sentence1``, ``sentence2`` and
``score``). Spearman is the Pearson correlation of the ranks, ties ranked by their average
position (:func:`rankdata`), in numpy.

Each setting is also run on real text with short lines (``golden.eval.short_line_text``):
the mean and minimum per-sentence embedding cosine vs dense there are the second bar of
:func:`best_setting`.

Each distinct sentence is encoded once per setting (the dev set has 2,910 distinct sentences
of 3,000); DRAM bytes are summed over those encodings (attention layers only, as
``golden.eval``) against the dense 16-bit baseline of the same encodings. The dense reference
is the plain float model (``golden.eval.dense_embedding``, cached per process).

Published figure for the sanity check: MTEB STSBenchmark, **test** split, cosine Spearman
0.8203 for sentence-transformers/all-MiniLM-L6-v2 (embeddings-benchmark/results,
results/sentence-transformers__all-MiniLM-L6-v2/8b3219a92973c328a8e22fadcfa821b5dc75636a/
STSBenchmark.json). No published dev-split figure was found; the dev split is not the same
data, so only closeness is expected.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden import eval as ev
from golden.config import DEFAULT_PRUNE, DENSE, PruneConfig

COLUMNS = ("sentence1", "sentence2", "score")
# GLUE STS-B dev set beside the repository (../shared/data), or under $SPATTEN_DATA.
DATA_DIR = Path(os.environ.get("SPATTEN_DATA",
                               Path(__file__).resolve().parents[2] / "shared" / "data"))
DEFAULT_DATA = DATA_DIR / "sts-b" / "dev.tsv"
PUBLISHED = {
    "spearman": 0.8203247283076371,
    "split": "test",
    "source": "MTEB STSBenchmark (test split), embeddings-benchmark/results: results/"
    "sentence-transformers__all-MiniLM-L6-v2/8b3219a92973c328a8e22fadcfa821b5dc75636a/"
    "STSBenchmark.json, cosine_spearman",
}
TOLERANCE = 0.005  # DEFAULT_PRUNE: Spearman within this of dense (docs/golden_model.md)
RULE = (f"largest DRAM reduction with Spearman >= dense - {TOLERANCE} and real-text cosine "
        f"(golden.eval.short_line_text) min >= {ev.REAL_TEXT_MIN}, mean >= {ev.REAL_TEXT_MEAN}")

# The STS-B sweep (float model). Rows are padded to 32-byte beats, so with D = 32 K/V rows
# below 8 bits cost the same as 8 bits: the DRAM levers are token, head and value pruning
# at 8 bits; one progressive-quantization point covers the MSB/LSB/threshold axis.
SWEEP: tuple[PruneConfig, ...] = tuple(
    dict.fromkeys(
        (
            DENSE,
            DEFAULT_PRUNE,
            PruneConfig(msb_bits=8, token_keep=0.95, prune_start_layer=4),  # the previous default
            PruneConfig(msb_bits=8),
            PruneConfig(msb_bits=4, lsb_bits=4, requant_threshold=0.3),
            PruneConfig(msb_bits=8, value_keep=0.5),
            *(
                PruneConfig(msb_bits=8, token_keep=t, prune_start_layer=s)
                for s, t in ((1, 0.9), (1, 0.8), (2, 0.7), (3, 0.8), (3, 0.6), (4, 0.5))
            ),
            PruneConfig(msb_bits=8, head_keep=0.9, prune_start_layer=2),
            PruneConfig(msb_bits=8, head_keep=0.75, prune_start_layer=4),
            PruneConfig(msb_bits=8, token_keep=0.9, head_keep=0.9, value_keep=0.5,
                        prune_start_layer=2),
        )
    )
)


class DataError(ValueError):
    """The STS-B file is missing or malformed (message: one line)."""


@dataclass(frozen=True)
class Pairs:
    """Sentence pairs and their gold similarity scores."""

    first: tuple[str, ...]
    second: tuple[str, ...]
    scores: np.ndarray  # float [pairs]
    lines: tuple[int, ...] = ()  # file line of each pair (read_pairs), 1-based

    def __len__(self) -> int:
        return len(self.scores)

    def sentences(self) -> list[str]:
        """The distinct sentences, in first-seen order."""
        return [s for _, s in self.numbered_sentences()]

    def numbered_sentences(self) -> list[tuple[int, str]]:
        """(file line of the first pair holding it, sentence) of every distinct sentence, in
        first-seen order (line 0 when the pairs carry no line numbers)."""
        lines = self.lines or (0,) * len(self)
        first: dict[str, int] = {}
        for line, a, b in zip(lines, self.first, self.second, strict=True):
            first.setdefault(a, line)
            first.setdefault(b, line)
        return [(line, s) for s, line in first.items()]


# ----------------------------------------------------------------------------- data
def read_pairs(path: str | Path, limit: int | None = None) -> Pairs:
    """Pairs of a GLUE STS-B file (tab-separated, header row, no quoting); the first
    ``limit`` pairs when given. Raises :class:`DataError` with a one-line message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read ({err.__class__.__name__}: "
                        f"{getattr(err, 'strerror', None) or err})") from None
    rows = csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(rows, None)
    missing = [c for c in COLUMNS if header is None or c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} in the header row")
    index = [header.index(c) for c in COLUMNS]  # type: ignore[union-attr]
    first, second, scores, lines = [], [], [], []
    for line, row in enumerate(rows, start=2):
        if limit is not None and len(scores) >= limit:
            break
        if not row:
            continue
        if len(row) <= max(index):
            raise DataError(f"{path}:{line}: {len(row)} fields, expected {len(header)}")
        a, b, score = (row[i] for i in index)
        scores.append(_score(path, line, score))
        first.append(a)
        second.append(b)
        lines.append(line)
    if not scores:
        raise DataError(f"{path}: no sentence pairs")
    return Pairs(tuple(first), tuple(second), np.asarray(scores, dtype=np.float64),
                 tuple(lines))


def _score(path: Path, line: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}:{line}: score {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{path}:{line}: score {text!r} is not a finite number")
    return value


# ----------------------------------------------------------------------------- statistics
def rankdata(x: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x``; tied values get the average of the ranks they span."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    average = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def pearson(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    norm = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / norm if norm > 0 else float("nan")


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation (Pearson of the tie-averaged ranks)."""
    return pearson(rankdata(x), rankdata(y))


# ----------------------------------------------------------------------------- evaluation
def pair_cosines(pairs: Pairs, embedding: dict[str, np.ndarray]) -> np.ndarray:
    """Cosine of the two embeddings of every pair (embeddings are unit vectors)."""
    return np.asarray([float(embedding[a] @ embedding[b])
                       for a, b in zip(pairs.first, pairs.second, strict=True)])


def correlations(pairs: Pairs, embedding: dict[str, np.ndarray]) -> dict[str, float]:
    cos = pair_cosines(pairs, embedding)
    return {"spearman": spearman(cos, pairs.scores), "pearson": pearson(cos, pairs.scores)}


def dense_result(pairs: Pairs, progress: Callable[[Iterable[str]], Iterable[str]] | None = None
                 ) -> dict:
    """Correlations of the dense float model."""
    sentences = pairs.sentences()
    emb = {s: ev.dense_embedding(s) for s in (progress(sentences) if progress else sentences)}
    return {"model": "dense float", **correlations(pairs, emb)}


def evaluate(cfg: PruneConfig, pairs: Pairs, fixed_point: bool = False,
             progress: Callable[[Iterable[str]], Iterable[str]] | None = None) -> dict:
    """Correlations, DRAM bytes and embedding cosine vs dense of one setting, and the
    embedding cosine vs dense (mean, min per sentence) on the short-line real text."""
    emb: dict[str, np.ndarray] = {}
    stats = ev.evaluate(cfg, pairs.sentences(), fixed_point, progress, embeddings=emb)
    text = ev.evaluate(cfg, ev.short_line_text(), fixed_point)
    keep = ("model", "settings", "dram_bytes", "dram_bytes_dense", "dram_reduction",
            "requant_fraction", "cosine_vs_dense", "cosine_min", "tokens",
            "live_tokens_at_end")
    return {**correlations(pairs, emb), **{k: stats[k] for k in keep},
            "real_text_cosine": text["cosine_vs_dense"],
            "real_text_cosine_min": text["cosine_min"],
            "label": ev.setting_label(stats["settings"])}


def sweep(settings: Sequence[PruneConfig], pairs: Pairs, fixed_point: bool = False,
          jobs: int = 1,
          progress: Callable[[Iterable[PruneConfig]], Iterable[PruneConfig]] | None = None
          ) -> list[dict]:
    """:func:`evaluate` for every setting; ``jobs`` > 1 runs settings in worker processes."""
    if jobs <= 1:
        return [evaluate(c, pairs, fixed_point) for c in (progress(settings) if progress
                                                            else settings)]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs) as pool:
        futures = [pool.submit(evaluate, c, pairs, fixed_point) for c in settings]
        done = progress(futures) if progress else futures
        return [f.result() for f in done]  # type: ignore[union-attr]


def passes(result: dict, dense_spearman: float, tolerance: float = TOLERANCE) -> bool:
    """Both bars of :data:`RULE`: Spearman within ``tolerance`` of dense, and the real-text
    cosine bar (a result without the real-text figures fails it)."""
    return (result["spearman"] >= dense_spearman - tolerance
            and "real_text_cosine" in result
            and ev.passes_real_text_bar(result["real_text_cosine"],
                                        result["real_text_cosine_min"]))


def best_setting(results: Sequence[dict], dense_spearman: float,
                 tolerance: float = TOLERANCE) -> dict | None:
    """The result with the largest DRAM reduction among those that pass both bars
    (:func:`passes`); None when no setting qualifies."""
    ok = [r for r in results if passes(r, dense_spearman, tolerance)]
    return max(ok, key=lambda r: r["dram_reduction"], default=None)


# ----------------------------------------------------------------------------- output
def format_table(results: Sequence[dict], dense: dict) -> str:
    """Readable table of results (Spearman also as the difference to dense)."""
    lines = [f"{'model':6} {'spearman':>8} {'d dense':>8} {'pearson':>8} {'DRAM x':>7} "
             f"{'cosine':>7} {'min':>7} {'text':>7} {'tmin':>7} {'bars':>4}  setting"]
    for r in results:
        lines.append(
            f"{r['model']:6} {r['spearman']:8.4f} {r['spearman'] - dense['spearman']:+8.4f} "
            f"{r['pearson']:8.4f} {r['dram_reduction']:7.3f} {r['cosine_vs_dense']:7.4f} "
            f"{r['cosine_min']:7.4f} {r['real_text_cosine']:7.4f} "
            f"{r['real_text_cosine_min']:7.4f} {'ok' if passes(r, dense['spearman']) else '-':>4}"
            f"  {r['label']}"
        )
    lines.append("(cosine, min: vs dense on the STS-B sentences; text, tmin: on the short-line "
                 "real text; bars ok: passes both bars of the default rule)")
    return "\n".join(lines)


def plot(results: Sequence[dict], dense: dict, path: str | Path,
         tolerance: float = TOLERANCE) -> None:
    """Spearman vs DRAM reduction, dense and dense - tolerance lines, DEFAULT_PRUNE starred."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6))
    xs = [r["dram_reduction"] for r in results]
    ys = [r["spearman"] for r in results]
    text_ok = ["real_text_cosine" in r and ev.passes_real_text_bar(
        r["real_text_cosine"], r["real_text_cosine_min"]) for r in results]
    for ok, marker, name in ((True, "o", "passes"), (False, "x", "fails")):
        pts = [(x, y) for x, y, t in zip(xs, ys, text_ok, strict=True) if t == ok]
        if pts:
            ax.scatter(*zip(*pts, strict=True), marker=marker,
                       label=f"setting (float model), {name} the real-text cosine bar")
    for r, x, y in zip(results, xs, ys, strict=True):
        ax.annotate(r["label"], (x, y), fontsize=6, rotation=15)
    default = [r for r in results if r["settings"] == DEFAULT_PRUNE.to_dict()]
    if default:
        ax.scatter([default[0]["dram_reduction"]], [default[0]["spearman"]], marker="*", s=300,
                   facecolors="none", edgecolors="red", label="DEFAULT_PRUNE")
    ax.axhline(dense["spearman"], color="grey", linewidth=0.8, label="dense float")
    ax.axhline(dense["spearman"] - tolerance, color="grey", linestyle="--", linewidth=0.8,
               label=f"dense - {tolerance}")
    ax.set_xlabel("DRAM reduction vs dense 16-bit (x)")
    ax.set_ylabel("Spearman (embedding cosine vs gold score)")
    ax.set_title("SpAtten on all-MiniLM-L6-v2, STS-B dev")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

"""``spatten eval --task sts-b``: Spearman / Pearson of MiniLM embedding cosines vs the STS-B
gold scores, dense and pruned (golden models only; see golden/stsb.py)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from spatten.args import POSITIVE, BadInput

if TYPE_CHECKING:
    from golden.stsb import Pairs

STSB_TASK = "sts-b"


def add_stsb_data_arguments(p: argparse.ArgumentParser, task_help: str) -> None:
    """``--task``, ``--data`` and ``--pairs``: the STS-B input of ``spatten eval`` and
    ``spatten run`` (read with :func:`load_pairs`)."""
    p.add_argument("--task", choices=("text", STSB_TASK), default="text", help=task_help)
    p.add_argument("--data", metavar="FILE",
                   help="sts-b: a GLUE STS-B dev-format TSV (default: ../shared/data/sts-b/"
                   "dev.tsv beside the repository, or $SPATTEN_DATA/sts-b/dev.tsv)")
    p.add_argument("--pairs", type=POSITIVE, metavar="N", help="sts-b: only the first N pairs")


def add_stsb_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the STS-B task of ``spatten eval``."""
    add_stsb_data_arguments(p, "text: cosine vs dense on --text (default); sts-b: Spearman on "
                            "STS-B")
    p.add_argument("--jobs", type=POSITIVE, default=1, metavar="N",
                   help="sts-b --sweep: settings evaluated in N processes")


def load_pairs(args: argparse.Namespace) -> tuple[str, Pairs]:
    """(path, pairs) of ``--data`` (default: golden.stsb.DEFAULT_DATA), the first ``--pairs``
    of them; BadInput (one line) when the default data is absent, the file is missing or
    malformed, or holds fewer pairs than ``--pairs``."""
    from golden import stsb

    path = args.data or str(stsb.DEFAULT_DATA)
    if args.data is None and not stsb.DEFAULT_DATA.is_file():
        raise BadInput(f"no STS-B data at {stsb.DEFAULT_DATA} (give --data FILE, a GLUE STS-B "
                       "dev-format TSV, or set SPATTEN_DATA)")
    try:
        pairs = stsb.read_pairs(path, args.pairs)
    except stsb.DataError as err:
        raise BadInput(str(err)) from None
    if args.pairs is not None and len(pairs) < args.pairs:
        raise BadInput(f"--pairs {args.pairs}: {path} holds only {len(pairs)} pairs")
    return path, pairs


def _report(dense: dict, results: list[dict], npairs: int, path: str, seconds: float) -> str:
    from golden import stsb

    pub = stsb.PUBLISHED
    lines = [
        f"SpAtten eval on STS-B ({npairs} pairs of {path}), all-MiniLM-L6-v2",
        f"  dense float      Spearman {dense['spearman']:.4f}, Pearson {dense['pearson']:.4f}"
        f"  (published: {pub['spearman']:.4f}, MTEB STSBenchmark {pub['split']} split)",
    ]
    for r in results:
        lines += [
            f"  {r['model']:5} {r['label']}",
            f"    Spearman {r['spearman']:.4f} ({r['spearman'] - dense['spearman']:+.4f} vs "
            f"dense), Pearson {r['pearson']:.4f}",
            f"    DRAM {r['dram_bytes']} vs dense 16-bit {r['dram_bytes_dense']} -> "
            f"{r['dram_reduction']:.3f}x less; embedding cosine vs dense mean "
            f"{r['cosine_vs_dense']:.4f}, min {r['cosine_min']:.4f}",
            f"    real text with short lines: embedding cosine vs dense mean "
            f"{r['real_text_cosine']:.4f}, min {r['real_text_cosine_min']:.4f}",
        ]
    lines.append(f"  time             {seconds:.1f} s")
    return "\n".join(lines)


def run_stsb(args: argparse.Namespace, cfg: object, progress: Callable) -> int:
    """Handler of ``spatten eval --task sts-b``: dense and ``cfg`` (float model, and the
    fixed-point model too with --fixed-point), the sweep with --sweep."""
    from golden import eval as ev
    from golden import stsb
    from spatten.options import check_bits

    check_bits(args)
    path, pairs = load_pairs(args)
    start = time.perf_counter()
    dense = stsb.dense_result(pairs, progress("dense"))
    sweep: list[dict] = []
    if args.sweep:  # the sweep includes the setting asked for (evaluated once)
        settings = tuple(dict.fromkeys((cfg, *stsb.SWEEP)))
        sweep = stsb.sweep(settings, pairs, False, args.jobs, progress("sweep"))
        results = [sweep[0]]
    else:
        results = [stsb.evaluate(cfg, pairs, False, progress("float"))]  # type: ignore[arg-type]
    if args.fixed_point:
        results.append(stsb.evaluate(cfg, pairs, True, progress("fixed")))  # type: ignore[arg-type]
    payload: dict = {"task": STSB_TASK, "data": path, "pairs": len(pairs),
                     "sentences": len(pairs.sentences()), "published": stsb.PUBLISHED,
                     "tolerance": stsb.TOLERANCE, "rule": stsb.RULE, "dense": dense,
                     "default": results[0]}
    if args.fixed_point:
        payload["default_fixed"] = results[1]
    if args.sweep:
        best = stsb.best_setting(sweep, dense["spearman"])
        payload["sweep"] = sweep
        payload["best"] = best
        print(stsb.format_table(sweep, dense))
        print(f"best ({stsb.RULE}): "
              + (f"{best['label']} ({best['dram_reduction']:.3f}x)" if best else "none"))
        print()
    payload["seconds"] = time.perf_counter() - start
    print(_report(dense, results, len(pairs), path, payload["seconds"]))
    if args.json:
        ev.write_json(args.json, payload)
    if args.plot:
        stsb.plot(payload.get("sweep", results), dense, args.plot)
    return 0

"""Top-k engine latency benchmark: RTL (Verilator) cycles per job against the reference model.

    .venv/bin/python -m bench.topk_bench [--trials 5] [--seed 1]

Runs ``TopkBenchTest`` of tb/topk_engine (P = 16, MAX_N = 4096, SCORE_W = 16) one job at a time
with no idle and no backpressure, and measures each job from its first input beat accepted to
its last output beat accepted (both cycles included). For the same scores it computes the
reference latency (``golden.topk.topk_cycles``: fill + quick-select passes of ceil(n/P) + 3 +
final pass + drain, pivot rule "middle") and the engine's own cycle model
(``verif.topk_agents.engine_cycles``), which the measurement must equal.
Cases: n in {64, 256, 1024, 4096} x k in {n/2, n/4, n/8} x data in {random (``--trials``
draws), sorted ascending, sorted descending}. Writes build/bench/topk.md and topk.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

from golden.topk import quickselect_passes
from verif.runner import run
from verif.sim import load_tb_module
from verif.tools import BUILD
from verif.topk_agents import engine_cycles, reference_cycles

P = 16
PARAMS = {"P": P, "MAX_N": 4096, "SCORE_W": 16, "INDEX_W": 16}
NS = (64, 256, 1024, 4096)
KINDS = ("random", "sorted", "reverse")


def make_cases(trials: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    for n in NS:
        for div in (2, 4, 8):
            k = n // div
            for kind in KINDS:
                for t in range(trials if kind == "random" else 1):
                    s = rng.integers(0, 2**16, n)
                    if kind == "sorted":
                        s = np.sort(s)
                    elif kind == "reverse":
                        s = np.sort(s)[::-1]
                    cases.append(
                        {"n": n, "k": k, "kind": kind, "trial": t, "scores": [int(x) for x in s]}
                    )
    return cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="bench.topk_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--trials", type=int, default=5, help="random draws per (n, k)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    out_dir = BUILD / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = make_cases(args.trials, args.seed)
    jobs_file, cycles_file = out_dir / "topk_jobs.json", out_dir / "topk_cycles.json"
    jobs_file.write_text(json.dumps([{"scores": c["scores"], "k": c["k"]} for c in cases]))
    cycles_file.unlink(missing_ok=True)

    os.environ["SPATTEN_COVERAGE"] = "0"  # a plain -O build; keeps the bench out of coverage
    bench = load_tb_module("topk_engine").BENCH
    t0 = time.time()
    res = run(
        bench,
        "verilator",
        PARAMS,
        seed=args.seed,
        testcase="TopkBenchTest",
        log_to_file=True,
        variant="bench",
        extra_env={"TOPK_BENCH_JOBS": str(jobs_file), "TOPK_BENCH_OUT": str(cycles_file)},
    )
    if not res.ok or not cycles_file.is_file():
        print(f"topk_bench: simulation failed ({res.summary()}); see {res.log}")
        return 1
    measured = json.loads(cycles_file.read_text())
    wall = time.time() - t0

    rows, mismatches = [], 0
    for c, got in zip(cases, measured, strict=True):
        ref = reference_cycles(c["scores"], c["k"], P)
        model = engine_cycles(c["scores"], c["k"], P)
        mismatches += got != model
        passes = len(quickselect_passes(c["scores"], c["k"], P, "middle").pass_sizes)
        rows.append(
            {k: c[k] for k in ("n", "k", "kind", "trial")}
            | {"ours": got, "model": model, "ref": ref, "passes": passes, "ratio": got / ref}
        )

    table = []
    for n in NS:
        for div in (2, 4, 8):
            for kind in KINDS:
                sel = [r for r in rows if r["n"] == n and r["k"] == n // div and r["kind"] == kind]
                table.append(
                    {
                        "n": n,
                        "k": n // div,
                        "kind": kind,
                        "jobs": len(sel),
                        "ours": statistics.mean(r["ours"] for r in sel),
                        "ref": statistics.mean(r["ref"] for r in sel),
                        "passes": statistics.mean(r["passes"] for r in sel),
                        "ratio": statistics.mean(r["ratio"] for r in sel),
                    }
                )
    rand = [r for r in rows if r["kind"] == "random"]
    mean_ratio = statistics.mean(r["ratio"] for r in rand)
    sum_ratio = sum(r["ours"] for r in rand) / sum(r["ref"] for r in rand)
    worst_sorted = max((r for r in rows if r["kind"] != "random"), key=lambda r: r["ratio"])
    worst_any = max(rows, key=lambda r: r["ratio"])

    lines = [
        "# Top-k engine latency benchmark",
        "",
        f"RTL `topk_engine` P={P}, MAX_N=4096, SCORE_W=16 on Verilator; one job at a time, no idle, "
        "no backpressure; cycles from the first input beat accepted to the last output beat "
        'accepted (both included). Reference = `golden.topk.topk_cycles` (pivot "middle"). '
        f"Random: {args.trials} draws of uniform 16-bit scores per (n, k), seed {args.seed}.",
        "",
        "| n | k | data | jobs | passes | ours | reference | ours/ref |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for t in table:
        lines.append(
            f"| {t['n']} | {t['k']} | {t['kind']} | {t['jobs']} | {t['passes']:.1f} | "
            f"{t['ours']:.1f} | {t['ref']:.1f} | {t['ratio']:.3f} |"
        )
    lines += [
        "",
        f"- **mean ratio ours/reference, random data: {mean_ratio:.3f}** "
        f"(ratio of sums {sum_ratio:.3f}, {len(rand)} jobs)",
        f"- worst case on sorted input: n={worst_sorted['n']} k={worst_sorted['k']} "
        f"{worst_sorted['kind']}: {worst_sorted['ours']} vs {worst_sorted['ref']} cycles "
        f"(ratio {worst_sorted['ratio']:.3f})",
        f"- worst case overall: n={worst_any['n']} k={worst_any['k']} {worst_any['kind']}: "
        f"ratio {worst_any['ratio']:.3f}",
        f"- measured == engine cycle model (`verif.topk_agents.engine_cycles`) for "
        f"{len(rows) - mismatches}/{len(rows)} jobs",
        f"- simulation wall time {wall:.1f} s",
    ]
    text = "\n".join(lines) + "\n"
    (out_dir / "topk.md").write_text(text)
    (out_dir / "topk.json").write_text(
        json.dumps(
            {
                "params": PARAMS,
                "trials": args.trials,
                "seed": args.seed,
                "mean_ratio_random": mean_ratio,
                "sum_ratio_random": sum_ratio,
                "worst_sorted": worst_sorted,
                "table": table,
                "jobs": rows,
                "model_mismatches": mismatches,
            },
            indent=1,
        )
    )
    print(text)
    print(f"topk_bench: wrote {out_dir / 'topk.md'} and {out_dir / 'topk.json'}")
    return 0 if mismatches == 0 and mean_ratio <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())

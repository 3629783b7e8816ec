"""Top-k engine latency benchmark: RTL (Verilator) cycles per job against the reference model.

    .venv/bin/python -m bench.topk_bench [--p 4 8 16] [--trials 5] [--seed 1]

For each P, runs ``TopkBenchTest`` of tb/topk_engine (MAX_N = 4096, SCORE_W = 16) one job at a
time with no idle and no backpressure, and measures each job from its first input beat accepted
to its last output beat accepted (both cycles included). For the same scores it computes the
reference latency (``golden.topk.topk_cycles``: fill + quick-select passes of ceil(n/P) + 3 +
final pass + drain, pivot rule "middle") and the engine's own cycle model
(``verif.topk_agents.engine_cycles``, pivot rule "row"), which the measurement must equal.
Cases: n in {64, 256, 1024, 4096} x k in {n/2, n/4, n/8} x data in {random (``--trials``
draws), sorted ascending, sorted descending}. Target (issue 13): mean ours/reference on random
data <= 0.75 at P = 16. Writes build/bench/topk.md and topk.json; exit status 1 when a
measurement differs from the cycle model or the P = 16 target is missed.
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

PS = (4, 8, 16)
MAX_N = 4096
NS = (64, 256, 1024, 4096)
KINDS = ("random", "sorted", "reverse")
TARGET_P, TARGET = 16, 0.75
FIELDS = ("passes", "ref_passes", "ours", "ref", "ratio")  # averaged per table row


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


def measure(p: int, cases: list[dict], seed: int) -> list[int] | None:
    """Cycles per case on the RTL at P = p (None when the simulation fails)."""
    out_dir = BUILD / "bench"
    jobs_file, cycles_file = out_dir / f"topk_jobs_p{p}.json", out_dir / f"topk_cycles_p{p}.json"
    jobs_file.write_text(json.dumps([{"scores": c["scores"], "k": c["k"]} for c in cases]))
    cycles_file.unlink(missing_ok=True)
    res = run(
        load_tb_module("topk_engine").BENCH,
        "verilator",
        {"P": p, "MAX_N": MAX_N, "SCORE_W": 16, "INDEX_W": 16},
        seed=seed,
        testcase="TopkBenchTest",
        log_to_file=True,
        variant=f"bench-p{p}",
        extra_env={"TOPK_BENCH_JOBS": str(jobs_file), "TOPK_BENCH_OUT": str(cycles_file)},
    )
    if not res.ok or not cycles_file.is_file():
        print(f"topk_bench: P={p} simulation failed ({res.summary()}); see {res.log}")
        return None
    return json.loads(cycles_file.read_text())


def job_rows(p: int, cases: list[dict], measured: list[int]) -> list[dict]:
    rows = []
    for c, got in zip(cases, measured, strict=True):
        ref = reference_cycles(c["scores"], c["k"], p)
        passes = {
            rule: len(quickselect_passes(c["scores"], c["k"], p, rule).pass_sizes)
            for rule in ("row", "middle")
        }
        rows.append(
            {k: c[k] for k in ("n", "k", "kind", "trial")}
            | {"ours": got, "model": engine_cycles(c["scores"], c["k"], p), "ref": ref}
            | {"passes": passes["row"], "ref_passes": passes["middle"], "ratio": got / ref}
        )
    return rows


def table(rows: list[dict]) -> list[dict]:
    """Means per (n, k, data kind)."""
    out = []
    for n in NS:
        for div in (2, 4, 8):
            for kind in KINDS:
                sel = [r for r in rows if r["n"] == n and r["k"] == n // div and r["kind"] == kind]
                out.append(
                    {"n": n, "k": n // div, "kind": kind, "jobs": len(sel)}
                    | {f: statistics.mean(r[f] for r in sel) for f in FIELDS}
                )
    return out


def summary(p: int, rows: list[dict]) -> dict:
    rand = [r for r in rows if r["kind"] == "random"]
    return {
        "p": p,
        "mean_ratio_random": statistics.mean(r["ratio"] for r in rand),
        "sum_ratio_random": sum(r["ours"] for r in rand) / sum(r["ref"] for r in rand),
        "random_jobs": len(rand),
        "worst_sorted": max((r for r in rows if r["kind"] != "random"), key=lambda r: r["ratio"]),
        "worst_any": max(rows, key=lambda r: r["ratio"]),
        "model_mismatches": sum(r["ours"] != r["model"] for r in rows),
        "jobs": len(rows),
    }


def p_section(s: dict, tab: list[dict]) -> list[str]:
    ws, wa = s["worst_sorted"], s["worst_any"]
    lines = [
        f"## P = {s['p']}",
        "",
        "| n | k | data | jobs | passes | ref passes | ours | reference | ours/ref |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {t['n']} | {t['k']} | {t['kind']} | {t['jobs']} | {t['passes']:.1f} | "
        f"{t['ref_passes']:.1f} | {t['ours']:.1f} | {t['ref']:.1f} | {t['ratio']:.3f} |"
        for t in tab
    ]
    return lines + [
        "",
        f"- **mean ratio ours/reference, random data: {s['mean_ratio_random']:.3f}** "
        f"(ratio of sums {s['sum_ratio_random']:.3f}, {s['random_jobs']} jobs)",
        f"- worst case on sorted input: n={ws['n']} k={ws['k']} {ws['kind']}: "
        f"{ws['ours']} vs {ws['ref']} cycles (ratio {ws['ratio']:.3f})",
        f"- worst case overall: n={wa['n']} k={wa['k']} {wa['kind']}: ratio {wa['ratio']:.3f}",
        f"- measured == engine cycle model (`verif.topk_agents.engine_cycles`) for "
        f"{s['jobs'] - s['model_mismatches']}/{s['jobs']} jobs",
        "",
    ]


def report(args: argparse.Namespace, sums: list[dict], sections: list[str], wall: float) -> str:
    lines = [
        "# Top-k engine latency benchmark",
        "",
        f"RTL `topk_engine` MAX_N={MAX_N}, SCORE_W=16 on Verilator; one job at a time, no idle, "
        "no backpressure; cycles from the first input beat accepted to the last output beat "
        'accepted (both included). Reference = `golden.topk.topk_cycles` (pivot "middle") at '
        f"the same P. Random: {args.trials} draws of uniform 16-bit scores per (n, k), seed "
        f'{args.seed}. `passes` = the engine\'s quick-select passes (pivot rule "row"), '
        '`ref passes` = the reference model\'s (pivot "middle").',
        "",
        "| P | mean ours/ref (random) | ratio of sums (random) | worst sorted | worst overall "
        "| == cycle model |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s['p']} | **{s['mean_ratio_random']:.3f}** | {s['sum_ratio_random']:.3f} | "
        f"{s['worst_sorted']['ratio']:.3f} | {s['worst_any']['ratio']:.3f} | "
        f"{s['jobs'] - s['model_mismatches']}/{s['jobs']} |"
        for s in sums
    ]
    lines += ["", *target_lines(sums), f"- simulation wall time {wall:.1f} s", "", *sections]
    return "\n".join(lines) + "\n"


def target_lines(sums: list[dict]) -> list[str]:
    at = [s for s in sums if s["p"] == TARGET_P]
    if not at:
        return [f"- target (P = {TARGET_P}) not measured in this run"]
    got = at[0]["mean_ratio_random"]
    verdict = "met" if got <= TARGET else "NOT met"
    return [f"- target mean <= {TARGET} x reference at P = {TARGET_P}: {got:.3f}, {verdict}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="bench.topk_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--p", type=int, nargs="+", choices=PS, default=list(PS), help="lanes P")
    ap.add_argument("--trials", type=int, default=5, help="random draws per (n, k)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.trials < 1:
        ap.error("--trials must be >= 1")

    out_dir = BUILD / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = make_cases(args.trials, args.seed)
    os.environ["SPATTEN_COVERAGE"] = "0"  # a plain -O build; keeps the bench out of coverage
    t0 = time.time()
    sums, sections, tables = [], [], {}
    for p in sorted(set(args.p)):
        measured = measure(p, cases, args.seed)
        if measured is None:
            return 1
        rows = job_rows(p, cases, measured)
        tables[p] = {"table": table(rows), "jobs": rows}
        sums.append(summary(p, rows))
        sections += p_section(sums[-1], tables[p]["table"])
    text = report(args, sums, sections, time.time() - t0)
    (out_dir / "topk.md").write_text(text)
    (out_dir / "topk.json").write_text(
        json.dumps(
            {"max_n": MAX_N, "trials": args.trials, "seed": args.seed, "summary": sums}
            | {"per_p": {str(p): v for p, v in tables.items()}},
            indent=1,
        )
    )
    print(text)
    print(f"topk_bench: wrote {out_dir / 'topk.md'} and {out_dir / 'topk.json'}")
    missed = any(s["p"] == TARGET_P and s["mean_ratio_random"] > TARGET for s in sums)
    return 1 if missed or any(s["model_mismatches"] for s in sums) else 0


if __name__ == "__main__":
    sys.exit(main())

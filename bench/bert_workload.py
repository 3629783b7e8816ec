"""BERT-base-shaped summarization workload of ``make bench`` (issue 13, deliverable 6).

One summarization command (MODE 0: N queries against N keys in every head) per (N, pruning)
point: HEADS 12, D 64 (BERT-base attention), N = 128, 384 and 512 (:data:`BERT_NS`), each

* **dense**: 12-bit K / V, no LSB fetch or requant, PRUNE off (every token and head kept,
  no top-k), VALUE_KEEP = N;
* **pruned** (:data:`BERT_PRUNE`): progressive quantization 6 MSB + 4 LSB bits with
  requant threshold 0.05 (the official GPT-2 trace's setting), token keep 0.95 of the live
  tokens and at least 8 (the project's ``DEFAULT_PRUNE``), head keep 0.75 (9 of 12) and value
  keep 0.5 (local V pruning to half the keys); PRUNE on.

Data (``verif.trace_run.command_tensors``, summarization): K, V ~ N(0, 1) seeded by (seed, N),
every query row 3 x a random key of its head (one dominant probability); in the pruned
command every 8th query row of every head is flat (tiny values), so 1/8 of the rows
requantize (the GPT-2 trace: 0.118). Every command is checked against the golden command
model (0 mismatches required, as the trace). :func:`bert_rows` gives per command its cycles,
the Q.K array busy fraction (``qk_beats`` / CYCLES), the occupancy of every controller stage
and the limiting one (``bench.occupancy``).

    .venv/bin/python -m bench.system_bench --workloads bert [other options]

runs this workload alone (this module is a layer below ``bench.system_bench``, which imports
it; it has no command line of its own).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from bench.occupancy import STAGES, named_states, occupancy
from golden.config import DEFAULT_PRUNE, DENSE, PruneConfig, kept_count, token_keep_count
from verif.trace_run import BYTE_CLASSES, TraceCommand, record_bytes, run_commands_on_rtl

BERT_NS = (128, 384, 512)
BERT_HEADS, BERT_D = 12, 64
BERT_PRUNE = PruneConfig(msb_bits=6, lsb_bits=4, requant_threshold=0.05,
                         token_keep=DEFAULT_PRUNE.token_keep, min_tokens=DEFAULT_PRUNE.min_tokens,
                         head_keep=0.75, value_keep=0.5)
SETTINGS = {"dense": DENSE, "pruned": BERT_PRUNE}
KIND_PREFIX = "bert-"  # the record kind of a BERT command: bert-dense, bert-pruned


def bert_command(n: int, pruning: str) -> TraceCommand:
    """The summarization command of one point (``pruning``: dense or pruned)."""
    cfg = SETTINGS[pruning]
    prune = pruning == "pruned"
    return TraceCommand(kind=KIND_PREFIX + pruning, iteration=0, layer=0, heads=BERT_HEADS,
                        d=BERT_D, n=n, value_keep=kept_count(cfg.value_keep, n),
                        msb_bits=cfg.msb_bits, lsb_bits=cfg.lsb_bits,
                        threshold=cfg.requant_threshold,
                        requant=(cfg.lsb_bits > 0,) * BERT_HEADS,
                        token_keep=token_keep_count(cfg, n) if prune else 0,
                        mode="summarization",
                        head_keep=kept_count(cfg.head_keep, BERT_HEADS) if prune else 0)


def bert_commands(ns: Sequence[int] = BERT_NS) -> list[TraceCommand]:
    """Every point: for each N the dense command, then the pruned one."""
    return [bert_command(n, p) for n in ns for p in SETTINGS]


def command_name(cmd: dict[str, Any]) -> str:
    return f"BERT-base summarization N={cmd['n']} ({cmd['kind'].removeprefix(KIND_PREFIX)})"


def run_bert(args: argparse.Namespace, channels: int) -> dict[str, Any]:
    """The workload on the Verilator build with ``channels`` read ports (the trace run's build,
    ``verif.trace_run.run_commands_on_rtl``): its result dict with the records."""
    return run_commands_on_rtl(bert_commands(), command_name, "verilator", args.seed,
                               not args.quiet, channels=channels, mem=args.mem,
                               job_name="bert")


def bert_row(rec: dict[str, Any], lanes: int) -> dict[str, Any]:
    """One line of the BERT table: the point, counters, Q.K busy and stage occupancy."""
    cmd, k = rec["command"], rec["counters"]
    occ = occupancy([rec], lanes)
    return {"name": f"bert-base-n{cmd['n']}-{cmd['kind'].removeprefix(KIND_PREFIX)}",
            "pruning": cmd["kind"].removeprefix(KIND_PREFIX), "n": cmd["n"],
            "heads": cmd["heads"], "d": cmd["d"], "value_keep": cmd["value_keep"],
            "token_keep": cmd["token_keep"], "head_keep": cmd["head_keep"],
            "bits": f"{cmd['msb_bits']}+{cmd['lsb_bits']}",
            "requant_rows": k["REQUANT_ROWS"], "kept_tokens": k["KEPT_TOKENS"],
            "mismatches": len(rec["mismatches"]), "bytes": record_bytes(rec),
            "qk_macs": rec["qk_macs"], "pv_macs": rec["pv_macs"],
            "states": {st: named_states([rec], st) for st in STAGES}, **occ}


def bert_rows(records: Sequence[dict[str, Any]], lanes: int) -> list[dict[str, Any]]:
    return [bert_row(r, lanes) for r in records if r["command"]["kind"].startswith(KIND_PREFIX)]


def fraction(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def bert_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown: one line per (N, pruning) point."""
    lines = ["| N | pruning | bits | V kept | tokens kept | requant rows | cycles | "
             "**Q.K busy** | Q.K needed | front | row | back | output | write | limiting | "
             "read bytes | mismatches |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        st = r["stages"]
        read = sum(r["bytes"][c] for c in BYTE_CLASSES if c != "E")
        lines.append(
            f"| {r['n']} | {r['pruning']} | {r['bits']} | {r['value_keep']} | "
            f"{r['kept_tokens']} | {r['requant_rows']} | {r['cycles']:,} | "
            f"**{fraction(r['qk_busy'])}** | {r['qk_useful']:.3f} | {st['front']:.1%} | "
            f"{st['row']:.1%} | {st['back']:.1%} | {st['output']:.1%} | {st['write']:.1%} | "
            f"{r['limiting']} | "
            f"{read:,} | "
            f"{r['mismatches']} |")
    return lines

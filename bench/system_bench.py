"""System performance benchmark (issue 8): ``make bench`` / ``spatten bench``.

    .venv/bin/python -m bench.system_bench [--steps 3] [--channels 16,2] [--seed 1]
        [--trace FILE] [--json OUT] [--no-icarus] [--mem hdl|python] [--quiet]
        [--workloads gpt2,bert]

Everything below is measured in the same run and written to build/bench/ (report.md,
system.json, PNG plots):

1. the full system (``rtl/spatten_top.v``, Verilator, LANES 8 x D_MAX 64 = 512 Q.K
   multipliers) built with each of ``--channels`` read ports (default 16, then 2; the first
   build also runs the dense twins) on the GPT-2 small trace, subsampled decode steps, every
   command checked against the golden command model (``bench.trace_sim``), against the
   official behaviour model ``bert.cpp`` re-implemented (``bench.refmodel``) at the build's
   channel count and at 16 channels, 512 multipliers, sizeZE 16; the read ports on the HDL
   memory model of ``tb/run/spatten_bench_top.v`` (``--mem hdl``, default: fixed latency,
   one beat per port per cycle) or on cocotbext-axi models (``--mem python``);
2. roofline bounds per command: compute = max(Q.K MACs, P.V MACs) / (LANES x D_MAX),
   memory = max(read bytes / (32 B x CHANNELS), E bytes / 32 B); efficiency = max / cycles;
3. DRAM bytes per class from the RTL byte counters, pruned trace vs its dense twin;
4. the same attention in numpy on this machine, timed here, vs accelerator cycles at 1 GHz;
5. the BERT-base summarization workload (``bench.bert_workload``: 12 heads, D 64, N = 128 /
   384 / 512, dense and pruned, one command each) on the first build, every command checked
   against the golden command model, with the Q.K array busy fraction; the Q.K busy and the
   occupancy of every controller stage, and the stage that limits, of every workload
   (``bench.occupancy``);
6. simulated cycles per second (Verilator run above; Icarus on a small build and one small
   layer) and the last full regression's wall time (build/regression_time.json, written by
   the root conftest.py when a session runs tb/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.bert_workload import BERT_NS, bert_rows, bert_table, fraction, run_bert
from bench.occupancy import (
    SATURATED_GAP,
    STAGES,
    limiting_stage,
    named_states,
    occupancy,
    stage_busy,
)
from bench.refmodel import TERMS, BertCppParams, bert_cpp_layer_parts
from golden.traces import TraceRow, densify, group_layers
from golden.traffic import dense_bytes
from verif.machine import speed_probe
from verif.tools import BUILD
from verif.trace_run import (
    BYTE_CLASSES,
    MEMS,
    TraceCommand,
    load_trace,
    macs_of,
    record_bytes,
    run_trace_on_rtl,
)

OUT = BUILD / "bench"
CLOCK_HZ = 1e9  # paper design point, used to turn accelerator cycles into time
AXI_BYTES = 32
READ_CLASSES = ("Q", "K_MSB", "K_LSB", "V_MSB")
REGRESSION_TIME = BUILD / "regression_time.json"


# ================================================================ per-command analysis =========
def bounds(rec: dict[str, Any], params: dict[str, int]) -> dict[str, float]:
    """Roofline bounds of one command on our build (cycles)."""
    nbytes = record_bytes(rec)
    read = sum(nbytes[c] for c in READ_CLASSES)
    mem = max(read / (AXI_BYTES * params["CHANNELS"]), nbytes["E"] / AXI_BYTES)
    compute = max(rec["qk_macs"], rec["pv_macs"]) / (params["LANES"] * params["D_MAX"])
    # the fetch array drains CHANNELS 32-byte beats per cycle: the read part of the memory bound
    return {"read_bytes": read, "mem_bound": mem, "compute_bound": compute,
            "fetch_bound": read / (AXI_BYTES * params["CHANNELS"])}


def trace_rows_of(cmd: dict[str, Any], groups: dict[tuple[int, int], list[TraceRow]]
                  ) -> list[TraceRow]:
    rows = groups[(cmd["iteration"], cmd["layer"])]
    return densify(rows) if cmd["kind"] == "dense" else rows


def analyze(rec: dict[str, Any], groups: dict[tuple[int, int], list[TraceRow]],
            params: dict[str, int]) -> dict[str, Any]:
    """One row of the per-layer table: measured counters, bounds, reference cycles."""
    cmd, k = rec["command"], rec["counters"]
    rows = trace_rows_of(cmd, groups)
    b = bounds(rec, params)
    bert16 = bert_cpp_layer_parts(rows, BertCppParams())
    bert_ch = bert_cpp_layer_parts(rows, BertCppParams(channels=params["CHANNELS"]))
    return {
        "kind": cmd["kind"], "step": cmd["iteration"], "layer": cmd["layer"],
        "heads": cmd["heads"], "n": cmd["n"], "value_keep": cmd["value_keep"],
        "requant_heads": sum(cmd["requant"]), "requant_rows": k["REQUANT_ROWS"],
        "cycles": k["CYCLES"], "busy": k["BUSY_CYCLES"], "mem_stall": k["MEM_STALL_CYCLES"],
        "macs": macs_of(rec), "qk_macs": rec["qk_macs"], "pv_macs": rec["pv_macs"], **b,
        "efficiency": max(b["mem_bound"], b["compute_bound"]) / k["CYCLES"],
        "bert_cpp16_cycles": bert16["total"], "bert_cpp16_parts": bert16,
        "bert_cpp_cycles": bert_ch["total"], "bert_cpp_parts": bert_ch,
        "mismatches": len(rec["mismatches"]), "qk_beats": rec.get("qk_beats"),
        "qk_busy": occupancy([rec], params["LANES"])["qk_busy"],
        "bytes": record_bytes(rec),
        "bytes_dense16": dense_bytes(cmd["heads"], cmd["d"], 1, rows[0].sentence_length_L),
    }


def totals(table: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the commands of one kind, overall ratios and efficiency."""
    keys = ("cycles", "busy", "mem_stall", "macs", "read_bytes", "mem_bound", "compute_bound",
            "fetch_bound", "bert_cpp16_cycles", "bert_cpp_cycles", "mismatches")
    tot: dict[str, Any] = {key: sum(r[key] for r in table) for key in keys}
    for key in ("bert_cpp16_parts", "bert_cpp_parts"):
        tot[key] = {t: sum(r[key][t] for r in table) for t in (*TERMS, "total")}
    tot["ratio_bert_cpp16"] = tot["cycles"] / tot["bert_cpp16_cycles"]
    tot["ratio_bert_cpp"] = tot["cycles"] / tot["bert_cpp_cycles"]
    tot["efficiency"] = max(tot["mem_bound"], tot["compute_bound"]) / tot["cycles"]
    tot["fetch_efficiency"] = tot["fetch_bound"] / tot["cycles"]
    tot["bytes"] = {c: sum(r["bytes"][c] for r in table) for c in BYTE_CLASSES}
    tot["bytes_dense16"] = {c: sum(r["bytes_dense16"][c] for r in table)
                            for c in ("Q", "K", "V", "E")}
    return tot


# ================================================================ per-phase breakdown ==========
def phase_cycles(records: Sequence[dict[str, Any]], kind: str, stage: str | None = None
                 ) -> dict[str, float]:
    """Cycles per state of the sequencer (or of ``stage``) over the commands of one kind (IDLE,
    i.e. host time between commands or a stage waiting for work, left out), largest first."""
    return named_states((r for r in records if r["command"]["kind"] == kind), stage)


def phase_table(phases: dict[str, dict[str, float]], tot: dict[str, dict[str, Any]]
                ) -> list[str]:
    kinds = [k for k in ("pruned", "dense") if k in phases]
    lines = ["| state (`spatten_ctrl`) | " + " | ".join(f"{k} cycles | % of CYCLES" for k in kinds)
             + " |", "|---|" + "---:|---:|" * len(kinds)]
    for name in phases["pruned"]:
        cells = [f"{phases[k].get(name, 0):,.0f} | {phases[k].get(name, 0) / tot[k]['cycles']:.1%}"
                 for k in kinds]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return lines


def stage_table(stages: dict[str, dict[str, dict[str, float]]], tot: dict[str, dict[str, Any]]
                ) -> list[str]:
    """Occupancy of every controller stage: cycles in each of its working states, and the
    stage's busy fraction (those states, its waiting ones left out) against the command
    cycles."""
    kinds = [k for k in ("pruned", "dense") if k in stages]
    lines = ["| stage | state | " + " | ".join(f"{k} cycles | % of CYCLES" for k in kinds) + " |",
             "|---|---|" + "---:|---:|" * len(kinds)]
    for stage in STAGES:
        busy = {k: stage_busy(stage, stages[k][stage]) for k in kinds}
        cells = [f"**{busy[k]:,.0f}** | **{busy[k] / tot[k]['cycles']:.1%}**" for k in kinds]
        lines.append(f"| {stage} | (busy) | {' | '.join(cells)} |")
        for name in stages[kinds[0]][stage]:
            cells = [f"{stages[k][stage].get(name, 0):,.0f} | "
                     f"{stages[k][stage].get(name, 0) / tot[k]['cycles']:.1%}" for k in kinds]
            lines.append(f"| {stage} | {name} | {' | '.join(cells)} |")
    return lines


# ================================================================ CPU baseline =================
def cpu_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, value_keep: int,
                  requant: Sequence[bool]) -> np.ndarray:
    """Generation attention of every head in numpy float32: scores (twice for a requant
    head), softmax, local V pruning to the top ``value_keep`` probabilities, P.V."""
    heads, n, d = k.shape
    out = np.empty((heads, d), dtype=np.float32)
    for h in range(heads):
        for _ in range(2 if requant[h] else 1):
            s = k[h] @ q[h] / np.float32(np.sqrt(d))
        p = np.exp(s - s.max())
        p /= p.sum()
        if value_keep < n:
            idx = np.argpartition(-p, value_keep - 1)[:value_keep]
            out[h] = p[idx] @ v[h, idx]
        else:
            out[h] = p @ v[h]
    return out


def time_best(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cpu_seconds(cmd: dict[str, Any], seed: int, repeats: int = 5) -> float:
    """Best-of-``repeats`` wall time of one command's attention on this CPU."""
    c = TraceCommand.from_dict(cmd)
    rng = np.random.default_rng([seed, c.iteration, c.layer, c.n])
    q = rng.standard_normal((c.heads, c.d), dtype=np.float32)
    k = rng.standard_normal((c.heads, c.n, c.d), dtype=np.float32)
    v = rng.standard_normal((c.heads, c.n, c.d), dtype=np.float32)
    return time_best(lambda: cpu_attention(q, k, v, c.value_keep, c.requant), repeats)


# ================================================================ simulator speed ==============
def sim_speed(records: Sequence[dict[str, Any]]) -> float:
    """Simulated cycles per wall second while commands execute (START..DONE)."""
    wall = sum(r["execute_wall_s"] for r in records)
    return sum(r["execute_sim_time"] for r in records) / wall if wall else 0.0


def regression_time() -> dict[str, Any] | None:
    return json.loads(REGRESSION_TIME.read_text()) if REGRESSION_TIME.is_file() else None


# ================================================================ plots ========================
def plot_all(table: Sequence[dict[str, Any]], tot: dict[str, dict[str, Any]],
             cpu: dict[str, dict[str, float]], params: dict[str, int]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    for name, draw in (("cycles_per_layer.png", _plot_cycles), ("roofline.png", _plot_roofline),
                       ("dram_traffic.png", _plot_traffic), ("cpu_vs_accel.png", _plot_cpu)):
        fig, ax = plt.subplots(figsize=(9, 4.5))
        draw(ax, table, tot, cpu, params)
        fig.tight_layout()
        fig.savefig(OUT / name, dpi=110)
        plt.close(fig)
        files.append(name)
    return files


def _plot_cycles(ax: Any, table: Sequence[dict[str, Any]], _t: Any, _c: Any,
                 params: dict[str, int]) -> None:
    rows = [r for r in table if r["kind"] == "pruned"]
    x = np.arange(len(rows))
    ch = params["CHANNELS"]
    series = (("cycles", f"ours (RTL, {ch} ch)"), ("bert_cpp16_cycles", "bert.cpp, 16 ch"),
              ("bert_cpp_cycles", f"bert.cpp, {ch} ch"), ("mem_bound", "our memory bound"))
    for i, (key, label) in enumerate(series):
        ax.bar(x + (i - 1.5) * 0.2, [r[key] for r in rows], 0.2, label=label)
    ax.set_xticks(x, [f"s{r['step']}L{r['layer']}" for r in rows], rotation=90, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("cycles per layer command")
    ax.set_title("Pruned GPT-2 small trace: cycles per (step, layer)")
    ax.legend(fontsize=8)


def _plot_roofline(ax: Any, table: Sequence[dict[str, Any]], _t: Any, _c: Any,
                   params: dict[str, int]) -> None:
    peak = params["LANES"] * params["D_MAX"]
    ai = np.logspace(-2, 3, 100)
    ax.loglog(ai, np.minimum(peak, ai * AXI_BYTES * params["CHANNELS"]), "k-",
              label=f"roof: {peak} MAC/cycle, {AXI_BYTES * params['CHANNELS']} B/cycle")
    ax.loglog(ai, np.minimum(peak, ai * AXI_BYTES), "k--", label="fetcher drain 32 B/cycle")
    for kind, marker in (("pruned", "o"), ("dense", "s")):
        rows = [r for r in table if r["kind"] == kind]
        ax.loglog([max(r["qk_macs"], r["pv_macs"]) / r["read_bytes"] for r in rows],
                  [max(r["qk_macs"], r["pv_macs"]) / r["cycles"] for r in rows], marker,
                  linestyle="", label=f"{kind} commands (achieved)")
    ax.set_xlabel("arithmetic intensity (MACs of the busier array / byte read)")
    ax.set_ylabel("MACs per cycle")
    ax.set_title("Roofline of our build")
    ax.legend(fontsize=8)


def _plot_traffic(ax: Any, _r: Any, tot: dict[str, dict[str, Any]], *_: Any) -> None:
    x = np.arange(len(BYTE_CLASSES))
    for i, kind in enumerate(("pruned", "dense")):
        ax.bar(x + (i - 0.5) * 0.4, [max(tot[kind]["bytes"][c], 1) for c in BYTE_CLASSES],
               0.4, label=kind)
    ax.set_xticks(x, BYTE_CLASSES)
    ax.set_yscale("log")
    ax.set_ylabel("bytes (RTL counters)")
    ax.set_title("DRAM traffic per class, same steps")
    ax.legend()


def _plot_cpu(ax: Any, _r: Any, tot: dict[str, dict[str, Any]],
              cpu: dict[str, dict[str, float]], *_: Any) -> None:
    kinds = ("pruned", "dense")
    x = np.arange(len(kinds))
    ax.bar(x - 0.2, [cpu[k]["seconds"] * 1e3 for k in kinds], 0.4, label="numpy on this CPU")
    ax.bar(x + 0.2, [tot[k]["cycles"] / CLOCK_HZ * 1e3 for k in kinds], 0.4,
           label="RTL cycles at 1 GHz")
    ax.set_xticks(x, kinds)
    ax.set_ylabel("ms for the simulated steps")
    ax.set_title("Attention time: CPU vs accelerator")
    ax.legend()


# ================================================================ report =======================
def fmt(x: float, digits: int = 3) -> str:
    return f"{x:,.{digits}f}" if isinstance(x, float) else f"{x:,}"


def layer_table(table: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["| kind | step | layer | N | V kept | requant heads | cycles | busy | mem stall | "
             "mem bound | fetch bound | compute bound | efficiency | bert.cpp 16 ch | "
             "ours/bert.cpp 16 | bert.cpp our ch | ours/bert.cpp | Q.K busy | mismatches |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
             "---:|---:|---:|"]
    for r in table:
        lines.append(
            f"| {r['kind']} | {r['step']} | {r['layer']} | {r['n']} | {r['value_keep']} | "
            f"{r['requant_rows']}/{r['requant_heads']} | {r['cycles']:,} | {r['busy']:,} | "
            f"{r['mem_stall']:,} | {r['mem_bound']:,.0f} | {r['fetch_bound']:,.0f} | "
            f"{r['compute_bound']:,.0f} | {r['efficiency']:.3f} | "
            f"{r['bert_cpp16_cycles']:,} | {r['cycles'] / r['bert_cpp16_cycles']:.2f} | "
            f"{r['bert_cpp_cycles']:,} | {r['cycles'] / r['bert_cpp_cycles']:.2f} | "
            f"{fraction(r['qk_busy'])} | {r['mismatches']} |")
    return lines


def traffic_table(tot: dict[str, dict[str, Any]]) -> list[str]:
    p, d = tot["pruned"]["bytes"], tot["dense"]["bytes"]
    lines = ["| class | pruned (bytes) | dense (bytes) | dense / pruned |",
             "|---|---:|---:|---:|"]
    for c in BYTE_CLASSES:
        ratio = f"{d[c] / p[c]:.2f}x" if p[c] and d[c] else "-"
        lines.append(f"| {c} | {p[c]:,} | {d[c]:,} | {ratio} |")
    k_p, k_d = p["K_MSB"] + p["K_LSB"], d["K_MSB"] + d["K_LSB"]
    lines.append(f"| K (MSB + LSB) | {k_p:,} | {k_d:,} | {k_d / k_p:.2f}x |")
    sp, sd = sum(p.values()), sum(d.values())
    lines.append(f"| **total** | {sp:,} | {sd:,} | **{sd / sp:.2f}x** |")
    d16 = sum(tot["pruned"]["bytes_dense16"].values())
    lines.append(f"| total vs dense 16-bit model (`golden.traffic.dense_bytes`) | {sp:,} | "
                 f"{d16:,} | {d16 / sp:.2f}x |")
    return lines


# what a stage's working state means (docs/spatten_top.md, "Pipeline")
STATE_MEANING = {
    ("front", "NEXT"): "waiting for a free key-buffer region (an earlier head's row decision) "
                       "or query slot",
    ("front", "KREQ"): "waiting for the K/Q fetch array to take the head's K plane job (two K "
                       "jobs in flight at most)",
    ("front", "QK"): "waiting for the Q.K array or the key reader to take the next row",
    ("front", "END"): "every item issued, the pipeline draining at the command's end",
    ("front", "LWAIT"): "the K LSB fetch of a requantized head",
    ("front", "QWAIT"): "a query row's fetch (summarization)",
    ("front", "QREQ"): "waiting for the fetch array to take a query row's job",
    ("row", "PASS"): "passed rows into token importance and the local-V top-k (N / LANES beats)",
    ("row", "DROP"): "dropping rows: requantized first passes and the rows issued after them",
    ("back", "KLIST"): "the top-k output into the kept list (the V list streams meanwhile)",
    ("back", "VWAIT"): "the V list walk's last beats, or the V array still busy with two jobs",
    ("output", "PV"): "P.V beats",
    ("write", "OUT"): "the E write and the head-importance beats (beside the next P.V)",
}


def stage_text(stages: dict[str, dict[str, float]], cycles: float) -> list[str]:
    """Which controller stage limits (the busiest) and where each stage spends its time."""
    busy = {st: stage_busy(st, v) for st, v in stages.items()}
    limiting = limiting_stage({st: b / cycles for st, b in busy.items()})
    lines = [f"- **The stage that limits: {limiting}** ({busy[limiting] / cycles:.1%} of CYCLES "
             "busy; section 6; the most downstream stage within "
             f"{SATURATED_GAP:.0%} of the busiest). Occupancy: "
             + ", ".join(f"{st} {b / cycles:.1%}" for st, b in busy.items()) + "."]
    for st, states in stages.items():
        top = list(states.items())[:2]
        parts = [f"{name} {c / cycles:.1%}"
                 + (f" ({STATE_MEANING[(st, name)]})" if (st, name) in STATE_MEANING else "")
                 for name, c in top]
        lines.append(f"  - {st}: " + "; ".join(parts) + ".")
    return lines


def limits_text(tot: dict[str, dict[str, Any]], table: Sequence[dict[str, Any]],
                params: dict[str, int]) -> list[str]:
    """Which bound or block limits each target that is not met (from the measured numbers)."""
    p = tot["pruned"]
    heads = sum(r["heads"] for r in table if r["kind"] == "pruned")
    over = (p["cycles"] - p["mem_bound"]) / heads
    ch = params["CHANNELS"]
    top = ", ".join(f"{name} {cyc / p['cycles']:.0%}"
                    for name, cyc in list(tot["phases"]["pruned"].items())[:5])
    return [
        f"- Ratio ours/bert.cpp at the same {ch} read channels = **{p['ratio_bert_cpp']:.2f}** "
        f"({'met' if p['ratio_bert_cpp'] <= 1 else 'NOT met'}, target <= 1.0; against "
        f"bert.cpp at 16 channels: {p['ratio_bert_cpp16']:.2f}).",
        f"- Roofline efficiency = **{p['efficiency']:.3f}** "
        f"({'met' if p['efficiency'] >= 0.8 else 'NOT met'}, target >= 0.8) against the "
        f"{ch} x 32 B/cycle memory bound ({p['mem_bound']:,.0f} cycles); the compute bound "
        f"({p['compute_bound']:,.0f} cycles) is "
        + ("below it: this workload is memory bound." if p["compute_bound"] < p["mem_bound"]
           else f"above it: at {ch} channels the {params['LANES']}-lane Q.K / P.V arrays, not "
                "memory, bound this workload."),
        *stage_text(tot["stages"]["pruned"], p["cycles"]),
        f"- BUSY_CYCLES (Q.K or P.V beat accepted) is {p['busy'] / p['cycles']:.1%} of CYCLES "
        f"and MEM_STALL_CYCLES {p['mem_stall'] / p['cycles']:.1%}; {over:,.0f} cycles per "
        f"(query, head) above the memory bound on average. Sequencer states (section 6): {top}.",
        "- Small layers suffer most (the fixed per-head cost dominates); large dense layers "
        "come closest to the memory bound.",
    ]


def mem_text(res: dict[str, Any]) -> str:
    """The read memory of a run (``--mem``)."""
    if res.get("mem") == "hdl":
        return ("HDL read memory (tb/run/axi_rd_mem_model.v: one beat per port per cycle, "
                "loaded through a backdoor), cocotbext-axi write RAM")
    return "cocotbext-axi AXI RAM models (Python) on every port"


def report(res: dict[str, Any], table: Sequence[dict[str, Any]],
           tot: dict[str, dict[str, Any]], cpu: dict[str, dict[str, float]],
           icarus: dict[str, Any] | None, plots: Sequence[str], wall: float) -> str:
    p, params = tot["pruned"], res["params"]
    reg = regression_time()
    lines = [
        "# SpAtten system benchmark",
        "",
        f"Generated by `make bench` (`spatten bench`) on {platform.node()} "
        f"({os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"total wall time **{wall:.0f} s** (machine speed probe {speed_probe():.2f} s: "
        "`verif/machine.py`, a fixed Python loop; the shared machine's speed varies).",
        "",
        f"Build: `spatten_top` {params} on {res['sim']} (no coverage). Trace "
        f"`{res['trace']}`, decode steps {res['steps']} (evenly spaced, first and last "
        f"included), all 12 layers each; every (step, layer) is one generation command of 12 "
        f"heads, and its dense twin (N = V = L, 12-bit, no requant / top-k) runs too. Memory: "
        f"{mem_text(res)}, latency {res['latency']} cycles, no jitter, no pauses. Seed "
        f"{res['seed']}. Commands: {res['commands']}, **mismatches vs the golden command "
        f"model: {res['mismatches']}** (E rows, KEEP list, byte/MAC/requant counters, "
        f"KEPT_TOKENS, LIVE_HEADS). Requant rows measured {res['requant_rate']:.3f} of rows "
        f"(trace: {res['requant_rate_trace']:.3f}).",
        "",
        "## 1. Cycles vs the reference behaviour model",
        "",
        "Reference = the official behaviour model `bert.cpp`, re-implemented in "
        "`bench/refmodel.py` (`DRAM + Fill + Drain + TopK` per layer, no overlap): b = "
        "ceil(keys / 8); DRAM = sum over rows of ceil(kT / ch) + ceil(vT / ch), kT = vT = "
        "floor(b x 8 x 64 x bits / 8 / 32) with 6-bit, -1 and > 8 bits as 8 and the KEY count "
        "for values (no value count, requant ignored); Fill = sum of b (one query per decode "
        "row); Drain = 103 + b of the layer's last row; TopK on `if_topk` rows only (b + "
        "quick-select passes floor(m / 16) + 4 on mt19937 scores + ceil(topk / 8)). "
        "Design point 16 channels, 512 multipliers, sizeZE 16.",
        "",
        f"**Overall (pruned, simulated steps): ours {p['cycles']:,} cycles vs bert.cpp "
        f"(16 ch) {p['bert_cpp16_cycles']:,} -> ratio {p['ratio_bert_cpp16']:.2f}** "
        f"(bert.cpp at our {params['CHANNELS']} channels: {p['bert_cpp_cycles']:,} -> "
        f"{p['ratio_bert_cpp']:.2f}). Dense twins: ours {tot['dense']['cycles']:,} vs "
        f"bert.cpp (16 ch) {tot['dense']['bert_cpp16_cycles']:,} -> "
        f"{tot['dense']['ratio_bert_cpp16']:.2f}. bert.cpp terms (16 ch, pruned): "
        + ", ".join(f"{t} {p['bert_cpp16_parts'][t]:,}" for t in TERMS) + ".",
        "",
        *layer_table(table),
        "",
        "Columns: cycles / busy / mem stall = CYCLES, BUSY_CYCLES, MEM_STALL_CYCLES "
        f"registers; mem bound = max(read bytes / {AXI_BYTES * params['CHANNELS']}, E bytes / "
        f"32); fetch bound = read bytes / {AXI_BYTES * params['CHANNELS']} (the fetch array's "
        f"drain); compute bound = max(Q.K MACs, P.V MACs) / {params['LANES'] * params['D_MAX']}; "
        "efficiency = max(mem, compute bound) / cycles; requant heads = measured / trace.",
        "",
        "## 2. Roofline",
        "",
        f"- pruned: memory bound {p['mem_bound']:,.0f}, compute bound "
        f"{p['compute_bound']:,.0f}, achieved {p['cycles']:,} -> **efficiency "
        f"{p['efficiency']:.3f}** (vs fetch bound {p['fetch_efficiency']:.3f})",
        f"- dense: memory bound {tot['dense']['mem_bound']:,.0f}, compute bound "
        f"{tot['dense']['compute_bound']:,.0f}, achieved {tot['dense']['cycles']:,} -> "
        f"efficiency {tot['dense']['efficiency']:.3f} (vs fetch bound "
        f"{tot['dense']['fetch_efficiency']:.3f})",
        f"- MAC utilization (MACS counter / (cycles x {2 * params['LANES'] * params['D_MAX']}"
        f" Q.K + P.V multipliers)): {res['mac_utilization']:.4f}",
        "",
        "## 3. DRAM traffic, pruned vs dense (RTL byte counters, same steps)",
        "",
        *traffic_table(tot),
        "",
        "The paper reports 10.0x less DRAM access on average over 30 benchmarks. Our dense "
        "twin is 12-bit (our datapath), rows packed like the pruned run's; the 16-bit line is the "
        "golden traffic model's dense baseline of the same commands (not simulated).",
        "",
        "## 4. CPU (numpy float32, this machine, same run)",
        "",
        "| workload | CPU time | accelerator at 1 GHz | CPU / accelerator |",
        "|---|---:|---:|---:|",
        *[f"| {k} | {cpu[k]['seconds'] * 1e3:.2f} ms | {tot[k]['cycles'] / CLOCK_HZ * 1e3:.3f} ms"
          f" | {cpu[k]['seconds'] * CLOCK_HZ / tot[k]['cycles']:.1f}x |" for k in cpu],
        "",
        "Same commands (heads, N, V kept, requant re-pass) on random float32 data, best of 5; "
        "numpy single query per head (matrix-vector), local V pruning by argpartition.",
        "",
        "## 5. Simulator speed",
        "",
        f"- Verilator, full system {params}: **{res['sim_speed']:,.0f} simulated cycles/s** "
        f"while commands execute (START..DONE; read memory: {mem_text(res)}); whole "
        f"trace run incl. build, golden model and data: {res['wall_s']:.0f} s, of which "
        f"the cocotb test {res['test_wall_s'] or 0:.0f} s (the rest: Verilator build, when "
        f"not cached, and simulator start)",
    ]
    if icarus is not None:
        lines.append(
            f"- Icarus, small build {icarus['params']}, steps {icarus['steps']}, layers "
            f"{icarus['layers']}: **{icarus['sim_speed']:,.0f} simulated cycles/s** "
            f"({icarus['cycles']:,} cycles, mismatches {icarus['mismatches']}); run incl. "
            f"build {icarus['wall_s']:.0f} s")
    lines.append(
        f"- Full regression (`pytest {' '.join(reg.get('args', []))}`, exit status "
        f"{reg.get('exitstatus')}): {reg['wall_s']:.0f} s wall, {reg.get('when')}"
        + (f" (machine speed probe then {reg['speed_probe_s']:.2f} s)"
           if reg.get("speed_probe_s") else "") if reg else
        "- Full regression wall time: no build/regression_time.json yet (run `make test`; the "
        "root conftest.py records it)")
    lines += ["", "## 6. Per-phase breakdown", "",
              "Cycles in each state of the controller's sequencer (`spatten_ctrl` `st`), "
              "sampled on every state change by the testbench: RUN = the three stages below "
              "at work, TREAD/TSEL/KWRITE = token top-k and KEEP list, HREAD/HSEL = head "
              "top-k, FIN = waiting for the writer (docs/spatten_top.md, Pipeline).", "",
              *phase_table(tot["phases"], tot), "",
              "Occupancy of the controller's concurrent stages (front: Q / K fetch and Q.K "
              "issue; row: requant decision and the importance / top-k feed; back: kept list, "
              "V fetch; output: P.V; write: the E write and head importance, beside the next "
              "P.V): cycles in each working state (a stage's IDLE, waiting for work, left "
              "out).", "",
              *stage_table(tot["stages"], tot),
              "", "## What limits performance", "", *limits_text(tot, table, params), "",
              "## Plots", "", *[f"![{f}]({f})" for f in plots], ""]
    return "\n".join(lines)


# ================================================================ main =========================
def run_icarus(trace: str | None, seed: int, mem: str) -> dict[str, Any]:
    res = run_trace_on_rtl(trace, "icarus", steps=1, seed=seed, progress=False, dense=False,
                           mem=mem)
    res["sim_speed"] = sim_speed(res["records"])
    res["layers"] = sorted({r["command"]["layer"] for r in res["records"]})
    return res


def channel_list(text: str) -> list[int]:
    """``--channels 16,2``: read-port counts of the builds to run (first = the main report)."""
    try:
        chans = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    bad = [c for c in chans if c not in (1, 2, 4, 8, 16)]
    if not chans or bad:
        raise argparse.ArgumentTypeError(f"channel counts must be 1, 2, 4, 8 or 16 (got {text!r})")
    return chans


WORKLOADS = ("gpt2", "bert")


def workload_list(text: str) -> list[str]:
    """``--workloads gpt2,bert``: the workloads to run (GPT-2 trace, BERT summarization)."""
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in names if x not in WORKLOADS]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"workloads must be a comma-separated subset of "
                                         f"{','.join(WORKLOADS)} (got {text!r})")
    return names


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Options shared by ``python -m bench.system_bench`` and ``spatten bench``."""
    ap.add_argument("--trace", help="trace CSV (default: the pruned GPT-2 small trace)")
    ap.add_argument("--steps", type=int, default=3, help="decode steps (evenly spaced)")
    ap.add_argument("--channels", type=channel_list, default=[16, 2],
                    help="read-port counts of the builds, comma-separated (default 16,2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="also write the results (system.json contents) here")
    ap.add_argument("--no-icarus", action="store_true", help="skip the Icarus speed run")
    ap.add_argument("--mem", choices=MEMS, default="hdl",
                    help="read memory of the testbench: the HDL model (tb/run/axi_rd_mem_model.v, "
                         "default) or the cocotbext-axi models (python)")
    ap.add_argument("--quiet", action="store_true", help="simulator output to log files")
    ap.add_argument("--workloads", type=workload_list, default=list(WORKLOADS),
                    help="comma-separated workloads: gpt2 (the trace, every --channels build), "
                         "bert (BERT-base summarization, the first build's channels); default "
                         "gpt2,bert")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.system_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    return run_bench(ap.parse_args(argv))


def bench_build(args: argparse.Namespace, channels: int, dense: bool = True) -> dict[str, Any]:
    """One Verilator build on the trace: records, per-command table, totals, phases (and the
    dense twins of the commands when ``dense``)."""
    res = run_trace_on_rtl(args.trace, "verilator", args.steps, args.seed, not args.quiet,
                           dense=dense, channels=channels, mem=args.mem)
    res["sim_speed"] = sim_speed(res["records"])
    groups = group_layers(load_trace(args.trace).rows)
    table = [analyze(r, groups, res["params"]) for r in res["records"]]
    kinds = ("pruned", "dense") if dense else ("pruned",)
    tot: dict[str, Any] = {k: totals([r for r in table if r["kind"] == k]) for k in kinds}
    tot["latency"] = res["latency"]
    tot["phases"] = {k: phase_cycles(res["records"], k) for k in kinds}
    tot["stages"] = {k: {st: phase_cycles(res["records"], k, st) for st in STAGES} for k in kinds}
    return {"res": res, "table": table, "tot": tot, "kinds": kinds}


def workloads_of(build: dict[str, Any], trace: str) -> list[dict[str, Any]]:
    """The ``workloads`` entries of one build (one per kind: pruned trace, dense twin)."""
    res, tot, params = build["res"], build["tot"], build["res"]["params"]
    name = Path(trace).stem if trace else "gpt2-small"
    out = []
    for kind in build["kinds"]:
        t = tot[kind]
        macs = t["macs"]
        occ = occupancy([r for r in res["records"] if r["command"]["kind"] == kind],
                        params["LANES"])
        out.append({
            "name": f"{name}-{kind}", "kind": kind, "channels": params["CHANNELS"],
            "steps": res["steps"], "cycles": t["cycles"], "bert_cpp_cycles": t["bert_cpp_cycles"],
            "bert_cpp16_cycles": t["bert_cpp16_cycles"], "ratio_bert_cpp": t["ratio_bert_cpp"],
            "mismatches": t["mismatches"], "memory_bound_cycles": t["mem_bound"],
            "compute_bound_cycles": t["compute_bound"], "roofline_efficiency": t["efficiency"],
            "mac_utilization": macs / (t["cycles"] * 2 * params["LANES"] * params["D_MAX"]),
            "phases": tot["phases"][kind], "stages": tot["stages"][kind], "bytes": t["bytes"],
            "qk_busy": occ["qk_busy"], "qk_useful": occ["qk_useful"],
            "stage_busy": occ["stages"], "busiest_stage": occ["busiest"],
            "limiting_stage": occ["limiting"]})
    return out


def summary_lines(builds: Sequence[dict[str, Any]], trace: str) -> list[str]:
    lines = ["## Summary (every build of this run)", "",
             "| workload | channels | cycles | bert.cpp same ch | ours / bert.cpp | bert.cpp 16 ch | "
             "memory bound | roofline eff. | MAC util. | mismatches |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for b in builds:
        for w in workloads_of(b, trace):
            lines.append(
                f"| {w['name']} | {w['channels']} | {w['cycles']:,} | {w['bert_cpp_cycles']:,} | "
                f"**{w['ratio_bert_cpp']:.2f}** | {w['bert_cpp16_cycles']:,} | "
                f"{w['memory_bound_cycles']:,.0f} | {w['roofline_efficiency']:.3f} | "
                f"{w['mac_utilization']:.4f} | {w['mismatches']} |")
    lines += ["", "The official RTL's structural bound on the pruned GPT-2 small trace, steps "
              "0/16/31, 16 channels (from its source, not simulated; "
              "`../shared/spec/REFERENCE_MODEL.md`): >= ~55,000 cycles (serial top-k chain); "
              ">= 223,212 at 2 channels (DRAM).", ""]
    return lines


def secondary_section(build: dict[str, Any]) -> list[str]:
    """Per-layer table and totals of a further build (same trace, other channel count)."""
    res, tot, params = build["res"], build["tot"], build["res"]["params"]
    p = tot["pruned"]
    return [f"## Build with {params['CHANNELS']} read channels", "",
            f"`spatten_top` {params}; commands {res['commands']}, mismatches "
            f"**{res['mismatches']}**; simulator {res['sim_speed']:,.0f} cycles/s.", "",
            f"Pruned trace (no dense twins in this build): ours {p['cycles']:,} vs bert.cpp at "
            f"{params['CHANNELS']} ch {p['bert_cpp_cycles']:,} -> **{p['ratio_bert_cpp']:.2f}**; "
            f"roofline efficiency {p['efficiency']:.3f} against {params['CHANNELS']} x 32 B/cycle "
            f"({p['mem_bound']:,.0f} cycles).", "",
            *layer_table(build["table"]), "",
            *phase_table(tot["phases"], tot), "", *stage_table(tot["stages"], tot), ""]


def bench_bert(args: argparse.Namespace) -> dict[str, Any]:
    """The BERT-base summarization workload (``bench.bert_workload``) on the first build's
    channel count: its result, per-point rows, wall time."""
    t0 = time.perf_counter()
    res = run_bert(args, args.channels[0])
    res["sim_speed"] = sim_speed(res["records"])
    return {"res": res, "rows": bert_rows(res["records"], res["params"]["LANES"]),
            "wall_s": time.perf_counter() - t0}


def bert_section(bert: dict[str, Any]) -> list[str]:
    """Report section of the BERT workload (docs/performance.md, issue 13)."""
    res, rows = bert["res"], bert["rows"]
    last = [r for r in rows if r["n"] == max(BERT_NS)]
    verdict = "; ".join(f"{r['pruning']} **{fraction(r['qk_busy'])}**" for r in last)
    return [
        "## BERT-base summarization (issue 13)", "",
        f"`spatten_top` {res['params']}, {res['sim']}, read memory {res['mem']} (latency "
        f"{res['latency']}). One summarization command per point (N queries x N keys, 12 heads, "
        "D 64; `bench/bert_workload.py`): dense = 12-bit, PRUNE off; pruned = 6 MSB + 4 LSB "
        "bits (threshold 0.05), token keep 0.95 (>= 8), head keep 0.75, value keep 0.5, 1/8 of "
        f"the query rows flat (requantized). Commands {res['commands']}, **mismatches vs the "
        f"golden command model: {res['mismatches']}**; wall time of this workload "
        f"**{bert['wall_s']:.0f} s** (simulator {res['sim_speed']:,.0f} cycles/s).", "",
        *bert_table(rows), "",
        "Q.K busy = cycles the Q.K array accepts a key beat (`qk_beats` probe of "
        "`tb/run/spatten_bench_top.v`: k_valid & k_ready of `u_qk`) / CYCLES; Q.K needed = the "
        "beats the command needs (every row and requant re-pass, ceil(N / 8) beats) / CYCLES "
        "(the rest of the busy beats are dropped passes); front / row / back = the stages' busy "
        "shares (section 6 rules); limiting = the stage that limits (the most downstream stage "
        f"within {SATURATED_GAP:.0%} of the busiest, below).", "",
        f"- Target (issue 13): Q.K array busy >= 0.8 of the command's cycles at N = "
        f"{max(BERT_NS)}: {verdict} -> "
        + ("**met**." if all((r["qk_busy"] or 0) >= 0.8 for r in last) else "**NOT met**."),
        *[line for r in last for line in
          [f"- N = {r['n']}, {r['pruning']}:",
           *["  " + s for s in stage_text(r["states"], r["cycles"])]]],
        ""]


def occupancy_lines(entries: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown: Q.K busy and stage occupancy of every workload (``workloads`` entries)."""
    lines = ["## Occupancy of every workload", "",
             "| workload | channels | cycles | Q.K busy | Q.K needed | front | row | back | output | "
             "write | busiest | limiting stage |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for w in entries:
        st = w["stage_busy"]
        lines.append(f"| {w['name']} | {w['channels']} | {w['cycles']:,} | "
                     f"{fraction(w['qk_busy'])} | {w['qk_useful']:.3f} | {st['front']:.1%} | "
                     f"{st['row']:.1%} | {st['back']:.1%} | {st['output']:.1%} | "
                     f"{st['write']:.1%} | {w['busiest_stage']} | "
                     f"**{w['limiting_stage']}** |")
    return [*lines, "", "Busy share = cycles in a stage's working states (its IDLE and the "
            "front's END left out) / CYCLES, summed over the workload's commands. A stage held "
            "by backpressure stays in its working state (the front in QK while the Q.K array "
            "is stalled), so the stages upstream of the bottleneck look as busy as it: the "
            "limiting stage is the most downstream stage within "
            f"{SATURATED_GAP:.0%} of the busiest (`bench.occupancy.limiting_stage`).", ""]


def bert_workloads(bert: dict[str, Any]) -> list[dict[str, Any]]:
    """``workloads`` entries of the BERT points."""
    ch = bert["res"]["params"]["CHANNELS"]
    return [{"name": r["name"], "kind": f"bert-{r['pruning']}", "channels": ch, "n": r["n"],
             "cycles": r["cycles"], "mismatches": r["mismatches"], "qk_busy": r["qk_busy"],
             "qk_beats": r["qk_beats"], "qk_useful": r["qk_useful"], "stage_busy": r["stages"],
             "busiest_stage": r["busiest"], "limiting_stage": r["limiting"], "requant_rows": r["requant_rows"],
             "kept_tokens": r["kept_tokens"], "bytes": r["bytes"]} for r in bert["rows"]]


def gpt2_report(args: argparse.Namespace, builds: Sequence[dict[str, Any]], wall0: float
                ) -> tuple[str, dict[str, Any]]:
    """Report text and system.json fields of the GPT-2 trace builds (the first = main)."""
    main_b = builds[0]
    res, table, tot = main_b["res"], main_b["table"], main_b["tot"]
    icarus = None if args.no_icarus else run_icarus(args.trace, args.seed, args.mem)
    cpu = {k: {"seconds": sum(cpu_seconds(r["command"], args.seed) for r in res["records"]
                              if r["command"]["kind"] == k)} for k in ("pruned", "dense")}
    plots = plot_all(table, tot, cpu, res["params"])
    text = report(res, table, tot, cpu, icarus, plots, time.perf_counter() - wall0)
    head, _, rest = text.partition("\n## 1.")
    text = "\n".join([head, *summary_lines(builds, args.trace), "## 1." + rest,
                      *[line for b in builds[1:] for line in secondary_section(b)]])
    slim = {k: v for k, v in res.items() if k not in ("records", "per_layer")}
    data = {"verilator": slim, "table": table, "totals": tot, "cpu": cpu,
            "builds": [{"channels": b["res"]["params"]["CHANNELS"], "table": b["table"],
                        "totals": b["tot"]} for b in builds],
            "icarus": {k: v for k, v in icarus.items() if k != "records"} if icarus else None}
    return text, data


def run_bench(args: argparse.Namespace) -> int:
    """The whole benchmark (see the module docstring); 0 when every command matched golden."""
    t0 = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    wanted = getattr(args, "workloads", WORKLOADS)
    # the first build is the main report (with dense twins, for the DRAM comparison); the
    # others give the same-bandwidth comparison of the pruned trace only
    builds = ([bench_build(args, ch, dense=i == 0) for i, ch in enumerate(args.channels)]
              if "gpt2" in wanted else [])
    bert = bench_bert(args) if "bert" in wanted else None
    text, data = (gpt2_report(args, builds, t0) if builds else
                  (f"# SpAtten system benchmark (workloads: {', '.join(wanted)})\n", {}))
    workloads = [w for b in builds for w in workloads_of(b, args.trace)]
    if bert is not None:
        workloads += bert_workloads(bert)
        text += "\n" + "\n".join(bert_section(bert))
        data["bert"] = {"wall_s": bert["wall_s"], "rows": bert["rows"],
                        "run": {k: v for k, v in bert["res"].items()
                                if k not in ("records", "per_layer")}}
    text += "\n" + "\n".join(occupancy_lines(workloads))
    wall = time.perf_counter() - t0
    text += f"\nTotal wall time of this run: {wall:.0f} s.\n"
    (OUT / "report.md").write_text(text)
    out = json.dumps({"workloads": workloads, **data, "wall_s": wall}, indent=1, default=str)
    (OUT / "system.json").write_text(out)
    if args.json:
        Path(args.json).write_text(out)
    for w in workloads:
        ratio = (f", ours/bert.cpp {w['ratio_bert_cpp']:.2f}, efficiency "
                 f"{w['roofline_efficiency']:.3f}" if "ratio_bert_cpp" in w else "")
        print(f"system_bench: {w['name']} at {w['channels']} ch: {w['cycles']:,} cycles{ratio}, "
              f"Q.K busy {fraction(w['qk_busy'])}, limiting {w['limiting_stage']}, "
              f"mismatches {w['mismatches']}")
    print(f"system_bench: {wall:.0f} s; wrote {OUT / 'report.md'}")
    runs = [b["res"] for b in builds] + ([bert["res"]] if bert else [])
    ok = all(r["mismatches"] == 0 and r["complete"] for r in runs) and (
        data.get("icarus") is None or data["icarus"]["mismatches"] == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

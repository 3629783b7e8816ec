"""Occupancy of the accelerator's units over a command (``make bench``, issue 13): the
controller's concurrent stages (cycles in each working state of ``spatten_ctrl``'s front / row
/ back FSMs, sampled by ``tb/run/trace_tb.py``) and the Q.K array (cycles it accepts a key
beat, the ``qk_beats`` probe of ``tb/run/spatten_bench_top.v``), each as a share of the
command's CYCLES, and the stage that limits (:func:`limiting_stage`).

    .venv/bin/python -m bench.occupancy build/bench/bert_verilator_ch16_hdl_records.json [...]

prints it again, per command kind, from the record files a bench run left in build/bench
(no simulation).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from spatten.args import fail, one_line_errors
from verif.tools import ctrl_state_names

# the controller's concurrent stages (tb/run/trace_tb.py STAGE_SIGNALS) -> state-name prefix
STAGES = {"front": "F", "row": "R", "back": "B", "output": "P", "write": "W"}
# working states that are waiting, not work: the front's END (every item issued, the pipeline
# draining at the command's end) does not count towards its stage's busy share
WAITING = {("front", "END")}
# a stage within this of the busiest stage's share counts as saturated (limiting_stage)
SATURATED_GAP = 0.02


def stage_busy(stage: str, states: dict[str, float]) -> float:
    """Cycles ``stage`` works (its IDLE already left out, its waiting states too)."""
    return sum(c for name, c in states.items() if (stage, name) not in WAITING)


def named_states(records: Iterable[dict[str, Any]], stage: str | None = None
                 ) -> dict[str, float]:
    """Cycles per state of the sequencer (or of ``stage``) summed over ``records`` (IDLE,
    i.e. host time between commands or a stage waiting for work, left out), largest first."""
    names = ctrl_state_names(STAGES[stage] if stage else "S")
    total: dict[str, float] = {}
    for rec in records:
        src = rec.get("stages", {}).get(stage, {}) if stage else rec.get("states", {})
        for num, cycles in src.items():
            name = names.get(num, num)
            if name != "IDLE":
                total[name] = total.get(name, 0.0) + cycles
    return dict(sorted(total.items(), key=lambda kv: -kv[1]))


def limiting_stage(shares: dict[str, float]) -> str:
    """The stage that limits a pipeline of stages (``shares``: stage -> busy share, in pipeline
    order front, row, back, output, write): the most downstream stage whose share is within SATURATED_GAP of
    the busiest. A stage held by backpressure from a later one stays in its working state
    (the front in QK while the Q.K array is stalled), so every stage upstream of the
    bottleneck looks as busy as the bottleneck, and the stages after it are starved."""
    top = max(shares.values())
    return [st for st in STAGES if shares[st] >= top - SATURATED_GAP][-1]


def min_qk_beats(rec: dict[str, Any], lanes: int) -> int:
    """Key beats the Q.K array must take for a command: every (query, head) row and every
    requantized row's re-pass, ceil(N / LANES) beats each (dropped passes not counted)."""
    cmd = rec["command"]
    queries = cmd["n"] if cmd.get("mode") == "summarization" else 1
    rows = queries * cmd["heads"] + rec["counters"]["REQUANT_ROWS"]
    return rows * math.ceil(cmd["n"] / lanes)


def occupancy(records: list[dict[str, Any]], lanes: int) -> dict[str, Any]:
    """Busy shares of the Q.K array and of every stage over ``records`` (one command or a
    workload): cycles, qk_beats (None without the probe), qk_busy = qk_beats / CYCLES,
    qk_useful = the minimum beats (:func:`min_qk_beats`) / CYCLES, stage -> busy share, and
    busiest and the limiting stage (:func:`limiting_stage`)."""
    cycles = sum(r["counters"]["CYCLES"] for r in records)
    beats = [r.get("qk_beats") for r in records]
    qk = None if None in beats or not records else sum(beats)
    busy = {st: stage_busy(st, named_states(records, st)) / cycles for st in STAGES}
    return {"cycles": cycles, "qk_beats": qk,
            "qk_busy": None if qk is None else qk / cycles,
            "qk_useful": sum(min_qk_beats(r, lanes) for r in records) / cycles,
            "stages": busy, "busiest": max(busy, key=busy.__getitem__),
            "limiting": limiting_stage(busy)}


LANES = 8  # the bench builds' Q.K lanes (verif.trace_run.PARAMS)


def load_records(path: Path) -> list[dict[str, Any]]:
    """The ``records`` of a bench record file; ValueError (one line) when it is not one."""
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{path} is not JSON") from None
    records = data.get("records") if isinstance(data, dict) else None
    if not records or not all(isinstance(r, dict) and "counters" in r and "command" in r
                              for r in records):
        raise ValueError(f"{path} holds no bench records (a build/bench/*_records.json file)")
    return records


def summary_line(kind: str, occ: dict[str, Any]) -> str:
    qk = "-" if occ["qk_busy"] is None else f"{occ['qk_busy']:.3f}"
    shares = ", ".join(f"{st} {b:.1%}" for st, b in occ["stages"].items())
    return (f"{kind}: {occ['cycles']:,} cycles, Q.K busy {qk} (needed {occ['qk_useful']:.3f}), "
            f"{shares}; limiting {occ['limiting']}")


def main(argv: list[str] | None = None) -> int:
    ap = one_line_errors(argparse.ArgumentParser(prog="bench.occupancy", description=__doc__))
    ap.add_argument("records", nargs="+", type=Path, help="build/bench/*_records.json files")
    args = ap.parse_args(argv)
    try:
        files = [(path, load_records(path)) for path in args.records]
    except ValueError as err:
        return fail(ap.prog, str(err))
    for path, records in files:
        for kind in dict.fromkeys(r["command"]["kind"] for r in records):
            occ = occupancy([r for r in records if r["command"]["kind"] == kind], LANES)
            print(f"{path.name} {summary_line(kind, occ)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

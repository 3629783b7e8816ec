"""Per-cycle timeline of the controller's stages over one command of a bench run: every state
change of the sequencer and of each stage FSM of ``spatten_ctrl`` (front / row / back /
output / write), in cycles from the command's START, and each command's tail (cycles from the
front's last END, every item issued, to FIN). Where :mod:`bench.occupancy` says how busy a
stage was, this says when it waited and for what.

The records carry a timeline only when the run had ``SPATTEN_TIMELINE=1`` in its environment
(``tb/run/trace_tb.py`` then logs every state change; off by default, a long run's records
would grow by ~10 events per item)::

    SPATTEN_TIMELINE=1 make bench
    .venv/bin/python -m bench.timeline build/bench/trace_verilator_ch16_hdl_records.json -c 12

``--split`` divides each command's cycles exactly into four parts (docs/performance.md, "Where
the cycles go"): the start (START to the first item taken by the Q.K array), the Q.K beats
(the record's ``qk_beats``), the front stalls (first item to the front's END, minus the beats
of every item but the last: the array waiting for work) and the time after the last beat.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

from bench.occupancy import STAGES, load_records
from spatten.args import fail, int_range, one_line_errors
from verif.tools import ctrl_state_names

PREFIX = {"seq": "S", **STAGES}  # timeline key -> state-name prefix in spatten_ctrl.v

Event = tuple[float, str, str]  # (cycle from START, stage, state entered)


@functools.cache
def state_names() -> dict[str, dict[str, str]]:
    """Timeline key -> (state number -> name), read from the RTL once per process (not once
    per record: a bench file holds 72)."""
    return {key: ctrl_state_names(prefix) for key, prefix in PREFIX.items()}


def events(rec: dict[str, Any]) -> list[Event]:
    """The state changes of one record, in time order, cycles relative to the sequencer's
    entry into RUN (the command's START); ValueError when the record has no timeline."""
    timeline = rec.get("timeline")
    if not timeline:
        raise ValueError("the records hold no timeline (run with SPATTEN_TIMELINE=1)")
    names = state_names()
    evs = sorted((t, key, names[key].get(str(s), str(s)))
                 for key, lst in timeline.items() for t, s in lst)
    start = next((t for t, key, name in evs if key == "seq" and name == "RUN"), evs[0][0])
    return [(t - start, key, name) for t, key, name in evs]


def tail(evs: list[Event]) -> tuple[float, float] | None:
    """(cycle of the front's last END, cycles from it to FIN), None if either is missing."""
    ends = [t for t, key, name in evs if key == "front" and name == "END"]
    fins = [t for t, key, name in evs if key == "seq" and name == "FIN"]
    return (ends[-1], fins[-1] - ends[-1]) if ends and fins else None


SPLIT = ("start", "qk_beats", "front_stalls", "after_last_beat")


def split(rec: dict[str, Any], evs: list[Event]) -> dict[str, float]:
    """The command's CYCLES as the four parts of SPLIT (they add up to CYCLES). An item is
    taken by the Q.K array when the front leaves QK; every item (a re-pass too) has the same
    qk_beats / items beats. ValueError for a record without an item or without qk_beats."""
    prev = ""
    issues = []
    for t, key, name in evs:
        if key == "front":
            if prev == "QK":
                issues.append(t)
            prev = name
    tl = tail(evs)
    if not issues or tl is None or "qk_beats" not in rec:
        raise ValueError(f"no Q.K item, END or qk_beats in the record of {describe(rec)}")
    beats = rec["qk_beats"]
    last = beats / len(issues)
    end = tl[0]
    return {"start": issues[0], "qk_beats": beats,
            "front_stalls": end - issues[0] - (beats - last),
            "after_last_beat": rec["counters"]["CYCLES"] - end - last}


def describe(rec: dict[str, Any]) -> str:
    c = rec["command"]
    return (f"{c['kind']} step {c['iteration']} layer {c['layer']} N={c['n']} "
            f"heads={c['heads']}: {rec['counters']['CYCLES']} cycles")


def main(argv: list[str] | None = None) -> int:
    ap = one_line_errors(argparse.ArgumentParser(prog="bench.timeline", description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter))
    ap.add_argument("records", type=Path, help="a build/bench/*_records.json file")
    ap.add_argument("-c", "--command", type=int_range(0), default=None,
                    help="print every state change of this command (0-based); default: only "
                         "each command's tail")
    ap.add_argument("-s", "--stages", default=",".join(PREFIX),
                    help=f"stages to print (comma list of {', '.join(PREFIX)})")
    ap.add_argument("--split", action="store_true",
                    help="each command's cycles as start / Q.K beats / front stalls / after "
                         "the last beat, and their sums")
    args = ap.parse_args(argv)
    keep = args.stages.split(",")
    if bad := [s for s in keep if s not in PREFIX]:
        return fail(ap.prog, f"unknown stage {bad[0]!r} (one of {', '.join(PREFIX)})")
    try:
        records = load_records(args.records)
        if args.command is not None and args.command >= len(records):
            raise ValueError(f"command {args.command} out of range: the file holds "
                             f"{len(records)} (0..{len(records) - 1})")
        timelines = [events(r) for r in records]
        parts = [split(r, e) for r, e in zip(records, timelines, strict=True)] if args.split else []
    except ValueError as err:
        return fail(ap.prog, str(err))
    if args.split:
        for i, (rec, part) in enumerate(zip(records, parts, strict=True)):
            print(f"[{i}] {describe(rec)}: " + ", ".join(f"{k} {part[k]:.0f}" for k in SPLIT))
        total = {k: sum(p[k] for p in parts) for k in SPLIT}
        cycles = sum(r["counters"]["CYCLES"] for r in records)
        print(f"all {len(records)} commands, {cycles} cycles: " + ", ".join(
            f"{k} {total[k]:.0f} ({total[k] / cycles:.1%})" for k in SPLIT))
        return 0
    if args.command is not None:
        print(describe(records[args.command]))
        for t, key, name in timelines[args.command]:
            if key in keep:
                print(f"{t:8.0f}  {key:6s} {name}")
        return 0
    for i, (rec, evs) in enumerate(zip(records, timelines, strict=True)):
        tl = tail(evs)
        end = "-" if tl is None else f"front END at {tl[0]:.0f}, tail {tl[1]:.0f} cycles"
        print(f"[{i}] {describe(rec)}; {end}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""bench.timeline: the state-change timeline of a bench record (SPATTEN_TIMELINE=1), on
synthetic records; tests/test_hdl_mem.py checks one a simulation wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import timeline

# spatten_ctrl.v state numbers: sequencer RUN 2 / FIN 23 / IDLE 0; front QK 8 / END 9; row DEC 1
TL = {"seq": [[100.0, 2], [390.0, 23], [395.0, 0]],
      "front": [[101.0, 8], [300.0, 9], [391.0, 0]],
      "row": [[150.0, 1], [151.0, 2]]}


def rec(with_timeline: bool = True) -> dict[str, Any]:
    r: dict[str, Any] = {"command": {"kind": "pruned", "iteration": 16, "layer": 6, "n": 102,
                                     "heads": 12},
                         "counters": {"CYCLES": 295}, "qk_beats": 26}
    if with_timeline:
        r["timeline"] = TL
    return r


def test_events_are_relative_to_start_and_named() -> None:
    evs = timeline.events(rec())
    assert evs[0] == (0.0, "seq", "RUN")
    assert (50.0, "row", "DEC") in evs and (200.0, "front", "END") in evs
    assert [t for t, _, _ in evs] == sorted(t for t, _, _ in evs)
    assert evs[-1] == (295.0, "seq", "IDLE")  # back to IDLE: the command's CYCLES
    assert timeline.tail(evs) == (200.0, 90.0)
    assert timeline.tail([(0.0, "seq", "RUN")]) is None


def test_command_prints_tails_and_one_command(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"records": [rec(), rec()]}))
    assert timeline.main([str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == ("[1] pruned step 16 layer 6 N=102 heads=12: 295 cycles; "
                      "front END at 200, tail 90 cycles")
    assert timeline.main([str(path), "-c", "0", "-s", "row"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ["      50  row    DEC", "      51  row    PASS"]


def test_split_adds_up_to_cycles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # two items of 13 beats: taken at 40 and 90 (front QK -> NEXT), END at 200, CYCLES 295
    r = {**rec(), "timeline": {**TL, "front": [[101.0, 8], [140.0, 2], [141.0, 8], [190.0, 2],
                                               [300.0, 9], [391.0, 0]]}}
    part = timeline.split(r, timeline.events(r))
    assert part == {"start": 40.0, "qk_beats": 26, "front_stalls": 200 - 40 - 13,
                    "after_last_beat": 295 - 200 - 13}
    assert sum(part.values()) == 295
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"records": [r, r]}))
    assert timeline.main([str(path), "--split"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == ("all 2 commands, 590 cycles: start 80 (13.6%), qk_beats 52 (8.8%), "
                       "front_stalls 294 (49.8%), after_last_beat 164 (27.8%)")
    idle = {**rec(), "timeline": {**TL, "front": [[300.0, 9], [391.0, 0]]}}  # no item
    with pytest.raises(ValueError, match="no Q.K item"):
        timeline.split(idle, timeline.events(idle))


@pytest.mark.parametrize(("args", "records", "needle"), [
    (["-c", "2"], [rec()], "command 2 out of range"),
    (["-s", "front,bogus"], [rec()], "unknown stage 'bogus'"),
    ([], [rec(), rec(with_timeline=False)], "no timeline (run with SPATTEN_TIMELINE=1)"),
    (["--split"], [{k: v for k, v in rec().items() if k != "qk_beats"}],
     "no Q.K item, END or qk_beats in the record of pruned step 16 layer 6"),
])
def test_command_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           args: list[str], records: list[dict[str, Any]], needle: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"records": records}))
    assert timeline.main([str(path), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench.timeline: error: ") and needle in err


@pytest.mark.parametrize("value", ["x", "-1"])
def test_command_index_must_be_a_count(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       value: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"records": [rec()]}))
    with pytest.raises(SystemExit) as exc:
        timeline.main([str(path), "-c", value])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "--command" in err

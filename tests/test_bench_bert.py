"""Fast checks of the BERT-base summarization workload of ``make bench`` (issue 13) and of the
occupancy analysis (Q.K array busy, stage busy shares, limiting stage), on the golden command
model (no simulator)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import bert_workload, occupancy, system_bench
from golden.accel import AccelParams
from host.driver import ModelDevice, run_sync
from verif import trace_run
from verif.tools import ctrl_state_names

PARAMS = AccelParams(lanes=8, d_max=64, max_n=1024, h_max=16)


def test_points_and_settings() -> None:
    cmds = bert_workload.bert_commands()
    assert [(c.n, c.kind) for c in cmds] == [(n, k) for n in (128, 384, 512)
                                              for k in ("bert-dense", "bert-pruned")]
    assert all((c.heads, c.d, c.mode, c.queries) == (12, 64, "summarization", c.n) for c in cmds)
    dense, pruned = cmds[-2:]
    assert (dense.msb_bits, dense.lsb_bits, dense.value_keep, dense.token_keep) == (12, 0, 512, 0)
    assert not any(dense.requant) and dense.head_keep == 0
    assert (pruned.msb_bits, pruned.lsb_bits, pruned.threshold) == (6, 4, 0.05)
    assert (pruned.value_keep, pruned.token_keep, pruned.head_keep) == (256, 487, 9)
    assert all(pruned.requant)


def small_points(n: int = 32) -> list[trace_run.TraceCommand]:
    return [bert_workload.bert_command(n, p) for p in ("dense", "pruned")]


def test_summarization_commands_match_golden_and_requant_the_flat_rows() -> None:
    records = run_sync(trace_run.run_commands(ModelDevice(PARAMS), small_points(), seed=2))
    assert [len(r["mismatches"]) for r in records] == [0, 0]
    dense, pruned = (r["counters"] for r in records)
    assert dense["REQUANT_ROWS"] == 0 and dense["KEPT_TOKENS"] == 32
    assert dense["LIVE_HEADS"] == (1 << 12) - 1  # PRUNE off: every head stays
    assert pruned["REQUANT_ROWS"] == 12 * 32 // trace_run.FLAT_EVERY  # exactly the flat rows
    assert pruned["KEPT_TOKENS"] == math.ceil(0.95 * 32)
    assert bin(pruned["LIVE_HEADS"]).count("1") == 9
    assert pruned["BYTES_K_LSB"] > 0 and pruned["BYTES_V_MSB"] < dense["BYTES_V_MSB"]


def test_summarization_mismatch_is_detected() -> None:
    from tests.test_bench_system import CorruptE

    records = run_sync(trace_run.run_commands(CorruptE(PARAMS), small_points(), seed=2))
    assert all(r["mismatches"] for r in records)


def fake(kind: str = "bert-pruned", n: int = 64, cycles: int = 1000, beats: int | None = 600,
         requant: int = 8, mode: str = "summarization") -> dict[str, Any]:
    rec: dict[str, Any] = {
        "command": {"kind": kind, "n": n, "heads": 2, "mode": mode},
        "counters": {"CYCLES": cycles, "REQUANT_ROWS": requant},
        "stages": {"front": {"0": 50.0, "8": 300.0, "9": 400.0},  # IDLE, QK, END
                   "row": {"2": 500.0}, "back": {"1": 200.0, "3": 100.0},
                   "output": {"1": 150.0}, "write": {"1": 100.0}}}  # back: KLIST, VWAIT; output: PV; write: OUT
    if beats is not None:
        rec["qk_beats"] = beats
    return rec


def test_min_qk_beats() -> None:
    # summarization: (64 queries x 2 heads + 8 re-passes) x 64 / 8 beats
    assert occupancy.min_qk_beats(fake(), 8) == (128 + 8) * 8
    # generation: one query per head; ceil(N / LANES) beats per row
    assert occupancy.min_qk_beats(fake(mode="generation", n=65, requant=1), 8) == 3 * 9


def test_occupancy_shares_and_limiting_stage() -> None:
    names = {v: k for k, v in ctrl_state_names("F").items()}
    assert (names["QK"], names["END"]) == ("8", "9")  # the fake's state numbers
    occ = occupancy.occupancy([fake(), fake(cycles=3000, beats=1400)], 8)
    assert occ["cycles"] == 4000 and occ["qk_beats"] == 2000 and occ["qk_busy"] == 0.5
    assert occ["qk_useful"] == pytest.approx(2 * 136 * 8 / 4000)
    # front: QK only (END is waiting, IDLE left out); row 1000; back 600
    assert occ["stages"] == {"front": 600 / 4000, "row": 1000 / 4000, "back": 600 / 4000,
                             "output": 300 / 4000, "write": 200 / 4000}
    assert occ["limiting"] == "row"
    assert occupancy.occupancy([fake(), fake(beats=None)], 8)["qk_busy"] is None


@pytest.mark.parametrize(("shares", "limiting"), [
    ((0.999, 0.993, 0.993, 0.3, 0.2), "back"),  # saturated up to the back: it holds the others
    ((0.998, 0.986, 0.854, 0.3, 0.2), "row"),  # the back starved: the row stage holds the front
    ((0.577, 0.646, 0.769, 0.2, 0.1), "back"),
    ((0.9, 0.5, 0.5, 0.1, 0.1), "front"),
    ((0.9, 0.9, 0.9, 0.9, 0.5), "output"),
    ((0.9, 0.9, 0.9, 0.9, 0.9), "write"),
])
def test_limiting_stage_is_the_last_saturated_one(shares: tuple[float, ...], limiting: str
                                                   ) -> None:
    assert occupancy.limiting_stage(dict(zip(occupancy.STAGES, shares, strict=True))) == limiting


def test_bert_rows_and_report_section() -> None:
    recs = [fake(kind="bert-dense", n=512, beats=900), fake(n=512, beats=700),
            fake(kind="pruned")]  # a trace record: not a BERT point
    for r in recs:
        r["command"].update(heads=12, d=64, value_keep=256, token_keep=487, head_keep=9,
                            msb_bits=6, lsb_bits=4)
        r["counters"].update(KEPT_TOKENS=487, **{f"BYTES_{c}": 64 for c in trace_run.BYTE_CLASSES})
        r.update(mismatches=[], qk_macs=1, pv_macs=1)
    rows = bert_workload.bert_rows(recs, 8)
    assert [(r["name"], r["qk_busy"]) for r in rows] == [("bert-base-n512-dense", 0.9),
                                                         ("bert-base-n512-pruned", 0.7)]
    res = {"params": trace_run.PARAMS["verilator"], "sim": "verilator", "mem": "hdl",
           "latency": 20, "commands": 2, "mismatches": 0, "sim_speed": 1.0}
    text = "\n".join(system_bench.bert_section({"res": res, "rows": rows, "wall_s": 3.0}))
    assert "dense **0.900**; pruned **0.700** -> **NOT met**" in text
    assert "| 512 | dense | 6+4 | 256 | 487 | 8 | 1,000 | **0.900** |" in text
    rows[1]["qk_busy"] = 0.8
    text = "\n".join(system_bench.bert_section({"res": res, "rows": rows, "wall_s": 3.0}))
    assert "-> **met**" in text
    assert "- N = 512, pruned:" in text and "**The stage that limits: row** (50.0% of" in text
    table = "\n".join(system_bench.occupancy_lines(
        system_bench.bert_workloads({"res": res, "rows": rows})))
    assert "| bert-base-n512-pruned | 2 | 1,000 | 0.800 | 393.728 | 30.0% | 50.0% | 30.0% | " \
           "15.0% | 10.0% | row | **row** |" in table


def test_workloads_option() -> None:
    assert system_bench.workload_list("bert") == ["bert"]
    assert system_bench.workload_list("gpt2, bert") == ["gpt2", "bert"]
    for bad in ("", "gpt3", "bert,x"):
        with pytest.raises(argparse.ArgumentTypeError):
            system_bench.workload_list(bad)


def test_occupancy_command_prints_every_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    path = tmp_path / "bert_records.json"
    path.write_text(json.dumps({"records": [fake(kind="bert-dense"), fake(), fake()]}))
    assert occupancy.main([str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "bert_records.json bert-dense: 1,000 cycles, Q.K busy 0.600 (needed 1.088), "
        "front 30.0%, row 50.0%, back 30.0%, output 15.0%, write 10.0%; limiting row",
        "bert_records.json bert-pruned: 2,000 cycles, Q.K busy 0.600 (needed 1.088), "
        "front 30.0%, row 50.0%, back 30.0%, output 15.0%, write 10.0%; limiting row"]


@pytest.mark.parametrize(("content", "needle"), [
    (None, "cannot read"),
    (b"{not json", "is not JSON"),
    (b"\xff\xfe", "is not JSON"),
    (b'{"records": []}', "holds no bench records"),
    (b'{"records": [{"command": {}}]}', "holds no bench records"),
    (b"[1, 2]", "holds no bench records"),
])
def test_occupancy_command_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     content: bytes | None, needle: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_bytes(content)
    assert occupancy.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench.occupancy: error: ") and needle in err

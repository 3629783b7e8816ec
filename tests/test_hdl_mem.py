"""The benchmark's HDL read memory (tb/run/axi_rd_mem_model.v in tb/run/spatten_bench_top.v,
host side verif/hdl_mem.py): the backdoor file format, and a short trace on a small build
checked against the golden command model, with a mutant (one byte corrupted in the HDL memory
only) that the comparison must catch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import timeline
from golden.traces import Trace, TraceRow, write_trace
from verif import hdl_mem, trace_run

SMALL = {"LANES": 4, "D_MAX": 16, "MAX_N": 64, "H_MAX": 4, "CHANNELS": 4}


def test_merge_covers_whole_words() -> None:
    # bytes -> the words holding them; touching or overlapping spans merge; empty ranges drop
    assert hdl_mem.merge([(100, 130), (40, 41), (0, 1), (5, 5)]) == [(0, 2), (3, 5)]
    assert hdl_mem.merge([(0, 32), (96, 97), (31, 33)]) == [(0, 2), (3, 4)]
    assert hdl_mem.merge([]) == []


def test_load_file_round_trips_and_patches() -> None:
    mem = bytes(np.random.default_rng(1).integers(0, 256, 4 * 32, dtype=np.uint8))
    text = hdl_mem.load_text(mem, [(0, 1), (2, 4)], patch={70: 0x0F})
    lines = text.decode().split("\n")
    assert lines[0] == "@0" and lines[2] == "@2" and len(lines[1]) == 64
    assert lines[1] == mem[:32][::-1].hex()  # byte 31 first: $readmemh's MSB-first word
    back = hdl_mem.parse_dump(text.decode())
    want = bytearray(mem[:32] + mem[64:])
    want[70 - 32] ^= 0x0F
    assert back == bytes(want)


def row(head: int, layer: int) -> TraceRow:
    return TraceRow(iteration_id=0, layer_id=layer, head_id=head, embedding_length_D=16.0,
                    sentence_length_L=60, key_fetch_num=40, quant_key_bit=6,
                    quant_query_bit=16, auto_requant_thres=0.05, if_requant=head == 1,
                    auto_requant_incre=4, value_fetch_num=8, quant_value_bit=6,
                    if_accumulate_importance=True, if_rescale_previous_importance=False,
                    if_topk=layer == 1 and head == 2, topk=20 if layer == 1 and head == 2 else -1)


def small_trace(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    write_trace(path, Trace([row(h, layer) for layer in range(2) for h in range(3)]))
    return path


@pytest.mark.long
@pytest.mark.sim
def test_hdl_memory_run_matches_golden_and_a_corrupted_byte_does_not(
        sim: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two layers (and their dense twins; Icarus: one layer) on a 4-channel build with the HDL
    read memory: every command matches golden and the memory read back through the backdoor
    equals the host's. Then the same run with the first Q byte of head 0 flipped in the HDL
    memory only: every command's E differs, and the read-back shows exactly that byte. The
    good run logs its stage timeline (SPATTEN_TIMELINE, bench.timeline): every command ends
    back in IDLE at its CYCLES, its front's END before its FIN."""
    trace = small_trace(tmp_path)
    monkeypatch.setenv("SPATTEN_TIMELINE", "1")
    res = trace_run.run_trace_on_rtl(trace, sim, steps=1, progress=False, mem="hdl",
                                     build_params=SMALL, cxx_opt="-O0")
    monkeypatch.delenv("SPATTEN_TIMELINE")
    assert res["complete"] and res["sim_ok"] and res["mem"] == "hdl"
    assert res["commands"] == (4 if sim == "verilator" else 2)
    assert res["mismatches"] == 0 and res["mirror_errors"] == []
    assert all(r["counters"]["CYCLES"] > 0 for r in res["records"])
    for rec in res["records"]:
        evs = timeline.events(rec)
        assert (0, "seq", "RUN") in evs and evs[-1] == (rec["counters"]["CYCLES"], "seq", "IDLE")
        end, tail = timeline.tail(evs) or (0, 0)
        assert 0 < end and 0 < tail and end + tail < rec["counters"]["CYCLES"]

    q0 = trace_run.BASE  # head 0's Q row: read by every command
    bad = trace_run.run_trace_on_rtl(trace, sim, steps=1, progress=False, mem="hdl",
                                     build_params=SMALL, corrupt=[(q0, 0xFF)], cxx_opt="-O0")
    assert bad["complete"] and not bad["sim_ok"]  # the cocotb test fails on mismatches
    assert bad["mirror_errors"] == [q0]
    for rec in bad["records"]:
        assert any("memory differs" in m for m in rec["mismatches"]), rec["mismatches"]


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.only_sim("verilator")
def test_hdl_memory_cycles_against_the_python_models(sim: str, tmp_path: Path) -> None:
    """Cycle counts of the HDL memory vs the cocotbext-axi models at "latency 20": the Python
    model's first beat of a burst reaching an idle R channel is taken 22 edges after the AR
    handshake (20 ClockCycles, then the idle R source drives RVALID at the next edge, taken at
    the one after), the HDL model's 20 edges after, so the HDL run is faster by about 2 cycles
    per exposed fetch latency; built with 22 cycles it gives the Python model's counts to
    within 1 cycle per command (a burst queued behind a busy R channel follows it back to back
    in the Python model)."""
    trace = small_trace(tmp_path)

    def cycles(mem: str, latency: int) -> list[int]:
        res = trace_run.run_trace_on_rtl(trace, sim, steps=1, progress=False, mem=mem,
                                         build_params=SMALL, latency=latency, cxx_opt="-O0")
        assert res["complete"] and res["mismatches"] == 0
        return [r["counters"]["CYCLES"] for r in res["records"]]

    py, hdl20, hdl22 = cycles("python", 20), cycles("hdl", 20), cycles("hdl", 22)
    assert all(h < p for h, p in zip(hdl20, py, strict=True)), (hdl20, py)
    assert all(abs(h - p) <= 1 for h, p in zip(hdl22, py, strict=True)), (hdl22, py)

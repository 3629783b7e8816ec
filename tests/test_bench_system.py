"""Fast checks of the system benchmark's pieces (no simulator; the bert.cpp reference is in
tests/test_refmodel.py): the trace -> command mapping, the data shaping that makes exactly the
trace's heads requantize, the golden comparison (a wrong device is caught) and the roofline
arithmetic."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import refmodel, system_bench
from golden import traces
from golden.accel import AccelParams, Reg
from golden.traces import TraceRow
from host.driver import ModelDevice, run_sync
from verif import trace_run
from verif.trace_run import TraceCommand

PARAMS = AccelParams(lanes=8, d_max=64, max_n=1024, h_max=16)


def row(head: int = 0, keys: int = 921, values: int = 184, requant: bool = True,
        layer: int = 0, it: int = 1, d: float = 64.0, topk: int = -1) -> TraceRow:
    return TraceRow(iteration_id=it, layer_id=layer, head_id=head, embedding_length_D=d,
                    sentence_length_L=1000, key_fetch_num=keys, quant_key_bit=6,
                    quant_query_bit=16, auto_requant_thres=0.05, if_requant=requant,
                    auto_requant_incre=4, value_fetch_num=values, quant_value_bit=6,
                    if_accumulate_importance=True, if_rescale_previous_importance=False,
                    if_topk=topk > 0, topk=topk)


# ================================================================ trace -> commands ===========
def test_command_of_maps_the_columns() -> None:
    rows = [row(h, keys=102, values=20, requant=h < 2, topk=921 if h == 3 else -1)
            for h in range(4)]
    cmd = trace_run.command_of(rows, "pruned")
    assert (cmd.n, cmd.value_keep, cmd.heads, cmd.d) == (102, 20, 4, 64)
    assert (cmd.msb_bits, cmd.lsb_bits, cmd.threshold) == (6, 4, 0.05)
    assert cmd.requant == (True, True, False, False)
    assert cmd.token_keep == 102  # the next step's top-k (921) is clamped to this layer's N


def test_densify_and_unquantized_bits() -> None:
    dense = traces.densify([row()])[0]
    cmd = trace_run.command_of([dense], "dense")
    assert (cmd.n, cmd.value_keep, cmd.msb_bits, cmd.lsb_bits) == (1000, 1000, 12, 0)
    assert cmd.requant == (False,) and cmd.token_keep == 0 and cmd.threshold == 0.0


def test_select_steps() -> None:
    its = list(range(32))
    assert trace_run.select_steps(its, 3) == [0, 16, 31]
    assert trace_run.select_steps(its, 1) == [31]
    assert trace_run.select_steps(its, None) == its


# ================================================================ golden comparison ==========
def small_commands() -> list[TraceCommand]:
    rows = [row(h, keys=40, values=8, requant=h == 1, layer=layer, d=16.0,
                topk=20 if layer == 1 and h == 2 else -1)
            for layer in range(2) for h in range(3)]
    return trace_run.trace_commands(rows, None, dense=True)


def run_model(dev: ModelDevice) -> list[dict[str, Any]]:
    return run_sync(trace_run.run_commands(dev, small_commands(), seed=3))


def test_model_device_matches_and_requant_follows_the_trace() -> None:
    records = run_model(ModelDevice(PARAMS))
    assert [len(r["mismatches"]) for r in records] == [0] * 4
    for rec in records:
        assert rec["counters"]["REQUANT_ROWS"] == sum(rec["command"]["requant"])
        qk, pv = rec["qk_macs"], rec["pv_macs"]
        assert qk + pv == trace_run.macs_of(rec)
    res = trace_run.summarize(records, trace_run.PARAMS["verilator"])
    assert res["mismatches"] == 0 and res["commands"] == 4
    assert res["requant_rate"] == pytest.approx(1 / 3)
    assert res["dram_bytes_dense"]["V_MSB"] > res["dram_bytes"]["V_MSB"]


class CorruptE(ModelDevice):
    """A device whose E rows come back with one bit flipped."""

    def _ctrl(self, val: int) -> None:
        super()._ctrl(val)
        if self.results and val & 1:
            addr = self.results[-1].writes[0][0]
            self.mem[addr] ^= 0x10


class WrongCounter(ModelDevice):
    """A device whose BYTES_V_MSB counter is one beat high."""

    async def read_reg(self, off: int) -> int:
        val = await super().read_reg(off)
        return val + 32 if off == Reg.BYTES_V_MSB else val


@pytest.mark.parametrize("device", [CorruptE, WrongCounter])
def test_mismatch_is_detected(device: type[ModelDevice]) -> None:
    records = run_model(device(PARAMS))
    assert all(r["mismatches"] for r in records)
    assert trace_run.summarize(records, trace_run.PARAMS["verilator"])["mismatches"] >= 4


# ================================================================ roofline / CPU =============
def fake_record(cycles: int) -> dict[str, Any]:
    counters = {f"BYTES_{c}": 0 for c in trace_run.BYTE_CLASSES}
    counters.update(BYTES_K_MSB=6400, BYTES_E=64, CYCLES=cycles)
    return {"counters": counters, "qk_macs": 51200, "pv_macs": 1024}


def test_roofline_bounds() -> None:
    b = system_bench.bounds(fake_record(200), trace_run.PARAMS["verilator"])
    assert b["mem_bound"] == 6400 / 64  # 2 channels x 32 B per cycle
    assert b["fetch_bound"] == 6400 / 64  # the fetch array drains 2 x 32 B per cycle
    assert b["compute_bound"] == 51200 / 512


def test_cpu_attention_matches_softmax_attention() -> None:
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s, dtype=np.float32) for s in ((2, 8), (2, 5, 8), (2, 5, 8)))
    got = system_bench.cpu_attention(q, k, v, 5, (False, True))
    s = np.einsum("hnd,hd->hn", k, q) / np.sqrt(8)
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert np.allclose(got, np.einsum("hn,hnd->hd", p, v), atol=1e-5)
    pruned = system_bench.cpu_attention(q, k, v, 1, (False, False))
    top = p.argmax(1)
    assert np.allclose(pruned, p[[0, 1], top][:, None] * v[[0, 1], top], atol=1e-5)


def test_trace_command_round_trip() -> None:
    cmd = small_commands()[0]
    from dataclasses import asdict

    assert TraceCommand.from_dict(asdict(cmd)) == cmd
    assert replace(cmd, kind="dense") != cmd


def test_minilm_fallback_trace_runs_on_the_model() -> None:
    """Without the shared workloads folder the bench runs a trace of our own MiniLM run."""
    trace = trace_run.minilm_trace()
    layer = trace_run.smallest_layer(trace.rows)
    cmds = trace_run.trace_commands(trace.rows, 1, [layer], dense=True)
    records = run_sync(trace_run.run_commands(ModelDevice(PARAMS), cmds, seed=1))
    assert len(records) == 2 and not any(r["mismatches"] for r in records)


def test_report_renders_from_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole analysis on model records (cycle counters and state profile filled in)."""
    rows = [row(h, keys=40, values=8, requant=h == 1, layer=layer, d=16.0)
            for layer in range(2) for h in range(3)]
    cmds = trace_run.trace_commands(rows, None, dense=True)
    records = run_sync(trace_run.run_commands(ModelDevice(PARAMS), cmds, seed=3))
    for rec in records:
        rec["counters"]["CYCLES"] = 1000
        rec["states"] = {"0": 7.0, "2": 900.0}  # IDLE, RUN
        rec["stages"] = {"front": {"0": 100.0, "8": 600.0}, "row": {"2": 300.0},
                         "back": {"0": 500.0, "1": 200.0, "3": 50.0},  # KLIST, VWAIT
                         "output": {"1": 100.0}, "write": {"1": 40.0}}  # PV; OUT
    params = trace_run.PARAMS["verilator"]
    res = trace_run.summarize(records, params)
    res.update(sim="verilator", steps=[1], trace="t.csv", seed=3, latency=20, wall_s=1.0,
               test_wall_s=0.5, sim_speed=100.0)
    groups = traces.group_layers(rows)
    table = [system_bench.analyze(r, groups, params) for r in records]
    first = next(r for r in table if r["kind"] == "pruned" and r["layer"] == 0)
    ours_ch = refmodel.BertCppParams(channels=params["CHANNELS"])
    assert first["bert_cpp_parts"] == refmodel.bert_cpp_layer_parts(rows[:3], ours_ch)
    assert first["bert_cpp_cycles"] == first["bert_cpp_parts"]["total"]
    tot = {k: system_bench.totals([r for r in table if r["kind"] == k])
           for k in ("pruned", "dense")}
    tot["latency"] = 20
    tot["phases"] = {k: system_bench.phase_cycles(records, k) for k in ("pruned", "dense")}
    assert list(tot["phases"]["pruned"]) == ["RUN"]  # IDLE left out
    tot["stages"] = {k: {st: system_bench.phase_cycles(records, k, st) for st in system_bench.STAGES}
                     for k in ("pruned", "dense")}
    assert tot["stages"]["pruned"]["back"] == {"KLIST": 400.0, "VWAIT": 100.0}  # IDLE left out
    assert tot["stages"]["pruned"]["output"] == {"PV": 200.0}
    assert tot["stages"]["pruned"]["write"] == {"OUT": 80.0}
    cpu = {k: {"seconds": 1e-3} for k in ("pruned", "dense")}
    monkeypatch.setattr(system_bench, "OUT", tmp_path)
    plots = system_bench.plot_all(table, tot, cpu, params)
    assert all((tmp_path / f).is_file() for f in plots)
    text = system_bench.report(res, table, tot, cpu, None, plots, 2.0)
    assert "NOT met" in text and "| RUN | 1,800 |" in text
    assert "| front | QK | 1,200 |" in text and "| back | (busy) | **500** |" in text


def test_channels_option_parses_and_refuses_bad_counts() -> None:
    import argparse

    assert system_bench.channel_list("16,2") == [16, 2]
    for bad in ("3", "16,x", "", "0", "32"):
        with pytest.raises(argparse.ArgumentTypeError):
            system_bench.channel_list(bad)

"""Official-format traces of generation runs (golden/traces.py generation_trace, from the float
SpattenCache and the fixed-point model; ``spatten eval-lm --trace-out``): they parse with the
project's trace reader and the trace runner of ``spatten bench --trace`` accepts every command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from golden import kvfixed as kf
from golden.accel import AccelModel, AccelParams
from golden.kvcache import CacheConfig, SpattenCache, trace_bits
from golden.traces import generation_trace, read_trace, write_trace
from spatten import cli
from tests.golden.test_kvcache import HP
from tests.golden.test_kvfixed import tokens
from verif.trace_run import PARAMS, check_commands, command_setup, trace_commands

CFG = CacheConfig(
    policy="spatten",
    budget=12,
    start=2,
    recent=3,
    k_bits=6,
    k_lsb=4,
    requant_threshold=0.2,
    v_bits=6,
    value_keep=0.75,
)
STEPS = 30


def verilator_params() -> AccelParams:
    p = PARAMS["verilator"]
    return AccelParams(p["LANES"], p["D_MAX"], p["MAX_N"], p["H_MAX"])


def float_decode() -> SpattenCache:
    cache = SpattenCache(HP, [CacheConfig(), CFG], STEPS)
    cache.trace_row = 1
    for q, k, v in tokens(STEPS, 0):
        for layer in range(HP.n_layers):
            cache.attend(layer, *(np.repeat(x[None], 2, 0) for x in (q, k, v)))
    return cache


def check_accepted(path: Path, n_rows: int) -> None:
    """The trace reads back and ``spatten bench --trace``'s runner takes every command (its
    pre-simulation START checks for the Verilator build); one command runs on the golden
    command model."""
    trace = read_trace(path)
    assert len(trace.rows) == n_rows
    cmds = trace_commands(trace.rows, None)
    check_commands(trace, path, cmds, verilator_params())
    pruned = [c for c in cmds if c.kind == "pruned" and c.token_keep]
    assert pruned, "no command with the policy's top-k"
    layout, writes, regs = command_setup(pruned[-1], seed=1)
    mem = bytearray(layout.end)
    for addr, data in writes:
        mem[addr : addr + len(data)] = data
    res = AccelModel(verilator_params()).run_command(regs, bytes(mem))
    assert res.ok and len(res.keep_tokens) == pruned[-1].token_keep


def test_float_decode_trace_round_trips_and_is_accepted(tmp_path: Path) -> None:
    cache = float_decode()
    trace = generation_trace(cache.trace, HP.head_dim, trace_bits(CFG), "tiny/spatten-12")
    assert len(trace.rows) == STEPS * HP.n_layers * HP.n_heads
    path = tmp_path / "t.csv"
    write_trace(path, trace)
    assert read_trace(path) == trace
    for row in trace.rows:  # the columns say what the decode did
        assert row.sentence_length_L == row.iteration_id + 1
        assert row.key_fetch_num == min(row.sentence_length_L, CFG.budget + 1)
        assert row.value_fetch_num == -(-row.key_fetch_num * 3 // 4)
        assert (row.quant_key_bit, row.auto_requant_incre, row.quant_value_bit) == (6, 4, 6)
        assert row.if_topk == (row.key_fetch_num > CFG.budget and row.head_id == HP.n_heads - 1)
        assert row.topk == (CFG.budget if row.if_topk else -1)
    assert any(r.if_requant for r in trace.rows) and not all(r.if_requant for r in trace.rows)
    check_accepted(path, len(trace.rows))


def test_fixed_decode_trace_matches_float_structure() -> None:
    """The fixed-point model's trace of the same decode: the same live counts and top-k in
    every (step, layer) (its kept sets track the float ones), requant decisions per head
    mostly the same."""
    fl = float_decode().trace
    seq = kf.FixedSequence(HP, CFG, STEPS)
    for q, k, v in tokens(STEPS, 0):
        for layer in range(HP.n_layers):
            seq.step(layer, q, k, v)
    assert [(s.step, s.layer, s.live, s.topk, s.values) for s in seq.trace] == [
        (s.step, s.layer, s.live, s.topk, s.values) for s in fl
    ]
    same = np.mean(
        [
            a == b
            for s, t in zip(seq.trace, fl, strict=True)
            for a, b in zip(s.requant, t.requant, strict=True)
        ]
    )
    assert same >= 0.9, same


def test_eval_lm_trace_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.golden.test_eval_lm import ENGLISH, tiny_argv

    text, out = tmp_path / "t.txt", tmp_path / "lm.csv"
    text.write_text(ENGLISH)
    assert cli.main(tiny_argv(text, 1, 12, "--trace-out", str(out))) == 0
    assert "trace:" in capsys.readouterr().out
    trace = read_trace(out)
    assert trace.config is not None and trace.config.startswith("smollm2-135m/eval-lm/spatten")
    assert {r.iteration_id for r in trace.rows} == set(range(31))
    assert max(r.key_fetch_num for r in trace.rows) == 13 and any(r.if_topk for r in trace.rows)
    check_accepted(out, 31 * 30 * 9)
    args = cli.build_parser().parse_args(["bench", "--trace", str(out), "--steps", "1"])
    assert args.trace == str(out)


def test_eval_lm_trace_out_bad_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["eval-lm", "--context", "64", "--trace-out", str(tmp_path / "none" / "t.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no such directory" in err[0]

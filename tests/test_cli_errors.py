"""Bad input at the ``spatten`` command lines (issue 15): every case ends in one line on
stderr naming the problem and exit status 2, never a traceback, and starts no simulation
(the CLI runs in-process through ``spatten.cli.main``; a refusal of the parser or of the
input checks returns before any simulator is launched).

A setting the parser lets through to the RTL (``spatten run --msb-bits 13``: the BITS fields
hold it, the RTL's BAD_BITS check refuses it) is tested in tests/test_run.py on both
simulators; the trace runs' refusal after a simulation on the model device here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bench import trace_sim
from golden import stsb
from golden.accel import AccelParams
from golden.traces import COLUMNS, Trace, TraceRow, read_trace, write_trace
from host.driver import ModelDevice, run_sync
from spatten.cli import main
from verif import trace_run

ROW = TraceRow(0, 0, 0, 64.0, 40, 24, 6, 16, 0.05, False, 4, 6, 6, True, False, False, -1)
HUGE = replace(ROW, sentence_length_L=5000, key_fetch_num=2000, value_fetch_num=10)


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str], needle: str) -> str:
    """Run ``spatten argv``; assert status 2 and one stderr line holding ``needle``."""
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"spatten {argv[0]}: error: ") or argv[0] not in (
        "eval", "run", "bench"), lines[0]
    assert needle in lines[0], lines[0]
    return lines[0]


# ----------------------------------------------------------------------------- options
@pytest.mark.parametrize(("argv", "needle"), [
    (["eval", "--token-keep", "-1"], "--token-keep: must be in (0, 1]"),
    (["eval", "--token-keep", "5"], "--token-keep: must be in (0, 1]"),
    (["eval", "--token-keep", "0"], "--token-keep: must be in (0, 1]"),
    (["eval", "--token-keep", "nan"], "--token-keep: must be in (0, 1]"),
    (["eval", "--token-keep", "lots"], "not a number"),
    (["eval", "--head-keep", "1.5"], "--head-keep: must be in (0, 1]"),
    (["eval", "--value-keep", "0"], "--value-keep: must be in (0, 1]"),
    (["eval", "--msb-bits", "13"], "--msb-bits: must be in 1..12"),
    (["eval", "--msb-bits", "0"], "--msb-bits: must be in 1..12"),
    (["eval", "--lsb-bits", "-1"], "--lsb-bits: must be in 0..11"),
    (["eval", "--msb-bits", "8", "--lsb-bits", "6"], "exceed the 12-bit datapath"),
    (["eval", "--requant-threshold", "1"], "--requant-threshold: must be in [0, 1)"),
    (["eval", "--requant-threshold", "-0.1"], "--requant-threshold: must be in [0, 1)"),
    (["eval", "--min-tokens", "0"], "--min-tokens: must be >= 1"),
    (["eval", "--prune-start", "-1"], "--prune-start: must be >= 0"),
    (["eval", "--task", "sts-b", "--pairs", "0"], "--pairs: must be >= 1"),
    (["eval", "--task", "sts-b", "--jobs", "0"], "--jobs: must be >= 1"),
    (["run", "--msb-bits", "16"], "--msb-bits: must be in 0..15"),
    (["run", "--lsb-bits", "16"], "--lsb-bits: must be in 0..15"),
    (["run", "--msb-bits", "-1"], "--msb-bits: must be in 0..15"),
    (["run", "--token-keep", "0"], "--token-keep: must be in (0, 1]"),
    (["run", "--requant-threshold", "1.5"], "--requant-threshold: must be in [0, 1)"),
    (["run", "--sentences", "0"], "--sentences: must be >= 1"),
    (["run", "--steps", "0"], "--steps: must be >= 1"),
    (["run", "--seed", "-1"], "--seed: must be in 0..2147483647"),
    (["run", "--sim", "modelsim"], "invalid choice"),
    (["bench", "--steps", "0"], "--steps: must be >= 1"),
    (["bench", "--seed", "x"], "not an integer"),
    (["bench", "--channels", "3"], "channel counts"),
    (["bench", "--mem", "verilog"], "invalid choice"),
    (["bench", "--workloads", "gpt2,t5"], "workloads must be a comma-separated subset"),
    (["bench", "--workloads", ","], "workloads must be a comma-separated subset"),
    (["blocks", "--seed", "-3"], "--seed: must be in 0..2147483647"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_option(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(argv, capsys, needle)


# ----------------------------------------------------------------------------- text files
def _text(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "text.txt"
    if kind == "empty":
        path.write_text("\n   \n")
    elif kind == "binary":
        path.write_bytes(b"caf\xe9 \xff\xfe\n")
    elif kind == "directory":  # unreadable as a file (a mode-000 file is readable by root)
        path.mkdir()
    elif kind == "long":  # 300 words: more tokens than the build's MAX_N 256
        path.write_text("short line\n" + " ".join(["word"] * 300) + "\n")
    return path


@pytest.mark.parametrize("command", ["eval", "run"])
@pytest.mark.parametrize(("kind", "needle"), [
    ("missing", "cannot read --text"),
    ("empty", "is empty"),
    ("binary", "is not UTF-8 text"),
    ("directory", "cannot read --text"),
])
def test_bad_text_file(command: str, kind: str, needle: str, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error([command, "--text", str(_text(tmp_path, kind))], capsys, needle)


def test_run_refuses_a_sentence_longer_than_max_n(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(["run", "--text", str(_text(tmp_path, "long"))], capsys,
                          "line 2: 302 tokens, more than the build's MAX_N 256")
    assert "text.txt" in line


# ----------------------------------------------------------------------------- STS-B data
STSB_TINY = Path(__file__).parent / "golden" / "data" / "stsb_tiny.tsv"  # 7 pairs
STSB_HEADER = "index\tsentence1\tsentence2\tscore\n"
STSB_FILES = {
    "no score column": "index\tsentence1\tsentence2\n0\ta\tb\n",
    "score not a number": STSB_HEADER + "0\ta\tb\thigh\n",
    "short row": STSB_HEADER + "0\ta\tb\t1.0\n1\tc\td\n",
    "header only": STSB_HEADER,
    "long sentence": STSB_HEADER + "0\ta\tb\t1.0\n1\tc\t" + " ".join(["word"] * 300)
    + "\t2.0\n",
}


@pytest.mark.parametrize(("command", "argv", "needle"), [
    ("run", ["--pairs", "0"], "--pairs: must be >= 1"),
    ("run", ["--pairs", "8"], f"--pairs 8: {STSB_TINY} holds only 7 pairs"),
    ("eval", ["--pairs", "8"], f"--pairs 8: {STSB_TINY} holds only 7 pairs"),
    ("run", ["--text", "t.txt"], "--text cannot go with --task sts-b"),
    ("run", ["--trace", "t.csv", "--steps", "2"], "--trace, --steps cannot go with --task sts-b"),
])
def test_bad_sts_b_option(command: str, argv: list[str], needle: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error([command, "--task", "sts-b", "--data", str(STSB_TINY), *argv], capsys, needle)


def test_run_sts_b_options_need_the_task(capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(["run", "--data", str(STSB_TINY), "--pairs", "2"], capsys,
                   "--data, --pairs needs --task sts-b")


@pytest.mark.parametrize(("kind", "needle"), [
    ("missing", "cannot read (FileNotFoundError"),
    ("no score column", "missing column(s) score in the header row"),
    ("score not a number", ":2: score 'high' is not a number"),
    ("short row", ":3: 3 fields, expected 4"),
    ("header only", ": no sentence pairs"),
    ("long sentence", "line 3: 302 tokens, more than the build's MAX_N 256"),
])
def test_bad_sts_b_file_for_run(kind: str, needle: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dev.tsv"
    if kind != "missing":
        path.write_text(STSB_FILES[kind])
    line = one_line_error(["run", "--task", "sts-b", "--data", str(path)], capsys, needle)
    assert str(path) in line


def test_run_sts_b_without_the_default_data(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh clone without ../shared: one line naming the missing file and --data."""
    monkeypatch.setattr(stsb, "DEFAULT_DATA", tmp_path / "absent" / "dev.tsv")
    line = one_line_error(["run", "--task", "sts-b", "--pairs", "2"], capsys, "no STS-B data at")
    assert "absent/dev.tsv" in line and "--data FILE" in line


# ----------------------------------------------------------------------------- traces
def _trace_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return path


def _good_lines() -> list[str]:
    path_rows = [",".join(COLUMNS)]
    cells = [str(v) for v in (0, 0, 0, 64.0, 40, 24, 6, 16, 0.05, False, 4, 6, 6, True, False,
                              False, -1)]
    return [*path_rows, ",".join(cells)]


def _bad_cell(column: str, value: str) -> str:
    header, row = _good_lines()
    cells = row.split(",")
    cells[COLUMNS.index(column)] = value
    return "\n".join([header, ",".join(cells)]) + "\n"


TRACE_CASES = [
    ("", "line 1: empty file, no header"),
    ("\n".join([",".join(COLUMNS[:-1]), _good_lines()[1]]) + "\n",
     "line 1: column topk missing from the header"),
    ("\n".join([",".join(["iteration", *COLUMNS[1:]]), _good_lines()[1]]) + "\n",
     "line 1: column 1: header 'iteration', expected 'iteration_id'"),
    ("\n".join([_good_lines()[0], ",".join(_good_lines()[1].split(",")[:-2])]) + "\n",
     "line 2: column if_topk missing"),
    (_bad_cell("key_fetch_num", "many"), "line 2: column key_fetch_num: 'many' is not an integer"),
    (_bad_cell("auto_requant_thres", "x"), "line 2: column auto_requant_thres: 'x' is not a "
     "number"),
    (_bad_cell("if_requant", "yes"), "line 2: column if_requant: 'yes' is not True/False"),
    (_bad_cell("iteration_id", "first"), "line 2: column iteration_id: 'first' is not an "
     "integer"),
]


@pytest.mark.parametrize("command", ["run", "bench"])
@pytest.mark.parametrize(("text", "needle"), TRACE_CASES)
def test_malformed_trace(command: str, text: str, needle: str, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error([command, "--trace", str(_trace_file(tmp_path, text))], capsys, needle)


@pytest.mark.parametrize("command", ["run", "bench"])
def test_missing_trace(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error([command, "--trace", str(tmp_path / "none.csv")], capsys, "cannot read trace")


@pytest.mark.parametrize("command", ["run", "bench"])
def test_oversized_trace_row_is_refused_before_simulating(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.csv"
    write_trace(path, Trace([HUGE]))
    line = one_line_error([command, "--trace", str(path)], capsys,
                          "line 2 (iteration 0, layer 0): the MAX_N 1024")
    assert "ERROR_CODE 1 BAD_N: N=2000" in line


def test_a_command_the_device_refuses_fails_the_trace_run(tmp_path: Path) -> None:
    """The check after a simulation: the device's refusal (here the model device, MAX_N 64)
    is recorded with its code and fails the run naming the row (it used to count as a
    result: '0 mismatches, complete')."""
    path = tmp_path / "t.csv"
    write_trace(path, Trace([ROW, replace(ROW, layer_id=1, key_fetch_num=100,
                                          sentence_length_L=100)]))
    trace = read_trace(path)
    cmds = trace_run.trace_commands(trace.rows, None, dense=False)
    dev = ModelDevice(AccelParams(lanes=8, max_n=64))
    records = run_sync(trace_run.run_commands(dev, cmds, seed=1))
    assert [r["error"] for r in records] == ["NONE", "BAD_N"]
    assert not any(m.startswith("ERROR_CODE") for r in records for m in r["mismatches"])
    with pytest.raises(trace_run.TraceRunError,
                       match=r"t\.csv line 3 \(iteration 0, layer 1\): the device ended the "
                       r"command with ERROR_CODE 1 BAD_N"):
        trace_run.check_records(trace, path, records)
    trace_run.check_records(trace, path, records[:1])  # an accepted command passes


@pytest.mark.parametrize(("argv", "needle"), [
    (["--layers", "x"], "--layers: not a comma-separated list"),
    (["--layers", "-1"], "--layers: layers must be integers >= 0"),
    (["--steps", "0"], "--steps: must be >= 1"),
    (["--mem", "dpi"], "--mem: invalid choice"),
    (["missing.csv"], "cannot read trace missing.csv"),
])
def test_trace_sim_command_line(argv: list[str], needle: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = trace_sim.main(argv)
    except SystemExit as exc:  # parser refusals exit from argparse
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("bench.trace_sim: error: ") and needle in err, err


@pytest.mark.sim
@pytest.mark.only_sim("icarus")
def test_the_rtl_refusing_a_trace_row_fails_the_run(sim: str, tmp_path: Path) -> None:
    """Without the pre-flight check the oversized row reaches spatten_top (1 row, no dense
    twin, the Icarus bench build: MAX_N 1024): the RTL refuses it with BAD_N and the run fails
    naming the row (it used to report '0 mismatches, complete')."""
    path = tmp_path / "huge.csv"
    write_trace(path, Trace([replace(HUGE, key_fetch_num=1025)]))
    with pytest.raises(trace_run.TraceRunError,
                       match=r"huge\.csv line 2 \(iteration 0, layer 0\): the device ended the "
                       r"command with ERROR_CODE 1 BAD_N"):
        trace_run.run_trace_on_rtl(path, sim, steps=1, progress=False, dense=False,
                                   preflight=False)

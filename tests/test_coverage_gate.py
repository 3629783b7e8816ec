"""The ``make coverage`` gate (verif/coverage_report.py, issue 15) on synthetic coverage data,
no simulation: a Verilator coverage.dat and pyuvm bin exports written by the test into a
temporary build folder, the RTL a temporary rtl/ folder. The gate fails (status 1) on an RTL
block below 95 % line coverage and on a functional bin never hit, passes otherwise; waivers
need a reason and must name a real line / bin (status 2 otherwise); runs of mutated RTL and
testbench wrappers are not gated. The project's own waiver file must resolve against rtl/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from verif import coverage_report
from verif.tools import ROOT

BLOCK = "blk"
LINES = 20  # source lines of the synthetic block, one line point on each


def write_rtl(root: Path) -> Path:
    rtl = root / "rtl"
    rtl.mkdir()
    (rtl / f"{BLOCK}.v").write_text("".join(f"  stmt_{i};\n" for i in range(1, LINES + 1)))
    return rtl


def point(fname: Path, line: int, count: int, kind: str = "line", inst: str = BLOCK) -> str:
    fields = {"f": str(fname), "l": str(line), "n": "3", "t": kind, "page": f"v_{kind}/{BLOCK}",
              "o": "", "h": inst}
    body = "".join(f"\x01{k}\x02{v}" for k, v in fields.items())
    return f"C '{body}' {count}\n"


def write_dat(build: Path, fname: Path, unhit: set[int], variant: str = "default-cov") -> None:
    """One run's coverage.dat: a line point per line of ``fname``, lines in ``unhit`` at 0."""
    folder = build / "sim" / BLOCK / "verilator" / variant
    folder.mkdir(parents=True, exist_ok=True)
    text = "# SystemC::Coverage-3\n" + "".join(
        point(fname, i, 0 if i in unhit else 5) for i in range(1, LINES + 1))
    (folder / "coverage-all.dat").write_text(text)


def write_bins(build: Path, bins: dict[str, int], variant: str = "default") -> None:
    folder = build / "sim" / BLOCK / "icarus" / variant / "fcov"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{BLOCK}.T.cov.json").write_text(json.dumps(
        {"module": BLOCK, "test": "T", "component": "uvm_test_top.env.cov", "bins": bins}))


@pytest.fixture
def area(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(build folder, rtl folder, empty waiver file) with one passing run: 19 of 20 lines (95 %)
    and both bins hit."""
    rtl = write_rtl(tmp_path)
    build = tmp_path / "build"
    write_dat(build, rtl / f"{BLOCK}.v", unhit={7})
    write_bins(build, {"a": 3, "b": 1})
    waivers = tmp_path / "waivers.txt"
    waivers.write_text("# none\n")
    return build, rtl, waivers


def gate(area: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    build, rtl, waivers = area
    code = coverage_report.main(["--build", str(build), "--rtl", str(rtl),
                                 "--waivers", str(waivers)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_passes_at_95_percent_and_every_bin_hit(area: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = gate(area, capsys)
    assert code == 0, out
    assert "coverage: PASS" in out and "FAIL" not in out
    summary = json.loads((area[0] / "coverage" / "coverage.json").read_text())
    assert summary["code"][BLOCK]["line"] == [19, 20] and summary["fails"] == []


def test_fails_on_an_unhit_bin(area: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    write_bins(area[0], {"a": 3, "b": 0})
    code, out, _ = gate(area, capsys)
    assert code == 1
    assert f"coverage: FAIL: {BLOCK}: functional bins never hit: cov.b" in out


def test_fails_on_a_block_below_95_percent(area: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    build, rtl, _ = area
    write_dat(build, rtl / f"{BLOCK}.v", unhit={7, 8})
    code, out, _ = gate(area, capsys)
    assert code == 1
    assert f"coverage: FAIL: {BLOCK}: line coverage 90.0% (18/20) < 95%" in out


def test_a_point_hit_by_any_run_counts(area: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    build, rtl, _ = area
    write_dat(build, rtl / f"{BLOCK}.v", unhit={1, 2, 3, 4, 7}, variant="other-cov")
    write_bins(build, {"a": 0, "b": 0}, variant="other")
    assert gate(area, capsys)[0] == 0


def test_instances_of_a_block_are_merged(area: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    """A line is covered when any instance executed it: a second, idle instance of the block
    (Verilator's ``h``, the instance path, differs) neither adds points nor uncovers them."""
    build, rtl, _ = area
    folder = build / "sim" / "top" / "verilator" / "default-cov"
    folder.mkdir(parents=True)
    (folder / "coverage-all.dat").write_text("".join(
        point(rtl / f"{BLOCK}.v", i, 0, inst="top.u_idle") for i in range(1, LINES + 1)))
    code, out, _ = gate(area, capsys)
    assert code == 0, out
    summary = json.loads((build / "coverage" / "coverage.json").read_text())
    assert summary["code"][BLOCK]["line"] == [19, 20]


def test_waived_line_and_bin_pass(area: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    build, rtl, waivers = area
    write_dat(build, rtl / f"{BLOCK}.v", unhit={8, 9})  # 18/20 = 90 %: fails unwaived
    write_bins(build, {"a": 3, "b": 0})
    waivers.write_text('line blk.v "stmt_8;" -- unreachable: reason one\n'
                       'line blk.v "stmt_9;" -- unreachable: reason two\n'
                       "bin blk cov.b -- needs a setting this build cannot have\n")
    code, out, _ = gate(area, capsys)
    assert code == 0, out
    summary = json.loads((build / "coverage" / "coverage.json").read_text())
    assert summary["code"][BLOCK]["line"] == [18, 18]
    assert summary["code"][BLOCK]["waived"] == [0, 2]


def test_waiving_too_little_still_fails(area: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    build, rtl, waivers = area
    write_dat(build, rtl / f"{BLOCK}.v", unhit={7, 8, 9})
    waivers.write_text('line blk.v "stmt_9;" -- one of the two unhit lines\n')
    code, out, _ = gate(area, capsys)
    assert code == 1 and "line coverage 89.5% (17/19)" in out


@pytest.mark.parametrize("text,needle", [
    ('line blk.v "stmt_8;"\n', "expected 'line <file>"),  # no reason
    ('line blk.v "stmt_8;" --\n', "expected 'line <file>"),  # empty reason
    ("lines blk.v stmt_8; -- x\n", "expected 'line <file>"),
    ('line blk.v "stmt_1" -- x\n', "found on 11 lines"),  # stmt_1, stmt_10 .. stmt_19
    ('line blk.v "no such text" -- x\n', "found on 0 lines"),
    ('line nope.v "stmt_8;" -- x\n', "no file"),
])
def test_bad_waiver_is_a_one_line_error(area: tuple, capsys: pytest.CaptureFixture[str], text: str,
                                        needle: str) -> None:
    area[2].write_text(text)
    code, _, err = gate(area, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


def test_missing_waiver_file_is_an_error(area: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    area[2].unlink()
    code, _, err = gate(area, capsys)
    assert code == 2 and "cannot read waiver file" in err


def test_waiver_of_a_missing_bin_fails(area: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    area[2].write_text("bin blk cov.zzz -- stale\n")
    code, out, _ = gate(area, capsys)
    assert code == 1 and "waived bin blk cov.zzz does not exist" in out


def test_mutant_runs_and_testbench_files_are_not_gated(area: tuple, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    build, rtl, _ = area
    write_dat(build, rtl / f"{BLOCK}.v", unhit=set(range(1, LINES + 1)), variant="mut-x-cov")
    write_bins(build, {"a": 0, "b": 0, "c": 0}, variant="mut-x")
    tb = tmp_path / "tb"
    tb.mkdir()
    wrapper = tb / "blk_tb.v"  # a testbench wrapper: reported, not gated
    wrapper.write_text("".join(f"  stmt_{i};\n" for i in range(1, LINES + 1)))
    write_dat(build, wrapper, unhit=set(range(1, 11)), variant="tb-cov")
    code, out, _ = gate(area, capsys)
    assert code == 0, out
    assert "blk_tb" in out  # in the table


def test_no_data_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "w.txt").write_text("")
    code = coverage_report.main(["--build", str(tmp_path), "--waivers", str(tmp_path / "w.txt")])
    assert code == 1 and "no Verilator coverage data" in capsys.readouterr().err


def test_command_line_exit_status(area: tuple) -> None:
    """``make coverage`` runs ``python -m verif.coverage_report``: its exit status is the gate."""
    build, rtl, waivers = area
    argv = [sys.executable, "-m", "verif.coverage_report", "--build", str(build), "--rtl", str(rtl),
            "--waivers", str(waivers)]
    assert subprocess.run(argv, cwd=ROOT, capture_output=True).returncode == 0
    write_bins(build, {"a": 0, "b": 1})
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 1 and "functional bins never hit: cov.a" in res.stdout


def test_project_waivers_resolve() -> None:
    """Every waiver of verif/coverage_waivers.txt has a reason and names one line of rtl/."""
    waivers = coverage_report.load_waivers(coverage_report.WAIVERS)
    lines = coverage_report.waived_lines(waivers, coverage_report.RTL)
    assert len(lines) == sum(w.kind == "line" for w in waivers)
    assert all(w.reason for w in waivers)

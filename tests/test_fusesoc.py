"""spatten.core (FuseSoC CAPI2): lists every RTL file and spatten_top's parameters, and its lint
target (Verilator -Wall through FuseSoC / edalize) passes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from verif.tools import tool_env

ROOT = Path(__file__).resolve().parent.parent
CORE_NAME = "spatten:accel:spatten_top"
FUSESOC = Path(sys.executable).parent / "fusesoc"


def run_target(cores_root: Path, target: str, build: Path) -> subprocess.CompletedProcess[str]:
    cmd = [str(FUSESOC), "--cores-root", str(cores_root), "run", "--build-root", str(build),
           f"--target={target}", CORE_NAME]
    return subprocess.run(cmd, cwd=cores_root, env=tool_env(), capture_output=True, text=True,
                          timeout=300)


def test_core_lists_the_rtl_and_the_parameters() -> None:
    core = (ROOT / "spatten.core").read_text()
    listed = re.findall(r"^\s+- (rtl/[\w.]+)", core, re.M)
    on_disk = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("rtl/*.v*"))
    assert sorted(listed) == on_disk and len(set(listed)) == len(listed)
    top = (ROOT / "rtl" / "spatten_top.v").read_text()
    rtl_params = dict(re.findall(r"parameter integer (\w+)\s*=\s*(\d+)", top))
    core_params = dict(re.findall(r"^  (\w+):\n    datatype: int\n    default: (\d+)", core, re.M))
    assert core_params == rtl_params


def test_fusesoc_lint_target_passes(tmp_path: Path) -> None:
    res = run_target(ROOT, "lint", tmp_path / "build")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    vc = next((tmp_path / "build").rglob("*.vc")).read_text()
    assert "--lint-only" in vc and "-Wall" in vc and "--top-module spatten_top" in vc


@pytest.mark.slow
def test_fusesoc_lint_target_fails_on_a_warning(tmp_path: Path) -> None:
    """The target is not a no-op: an unused signal in a copy of the RTL fails it."""
    shutil.copy(ROOT / "spatten.core", tmp_path)
    shutil.copytree(ROOT / "rtl", tmp_path / "rtl")
    top = tmp_path / "rtl" / "spatten_top.v"
    top.write_text(top.read_text().replace("endmodule", "  wire lint_bait;\nendmodule"))
    res = run_target(tmp_path, "lint", tmp_path / "build")
    assert res.returncode != 0 and "UNUSED" in res.stdout + res.stderr

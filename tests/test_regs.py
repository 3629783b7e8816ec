"""The CSR map has one source, rtl/spatten_regs.rdl; scripts/gen_regs.py (make regs) generates
docs/registers.md, sw/spatten_regs.h, golden/regs.py and rtl/spatten_regs.vh from it."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from golden import fixed as fx
from golden import regs
from golden.accel import AccelParams

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "scripts" / "gen_regs.py"
RDL = "rtl/spatten_regs.rdl"
OUTPUTS = ("docs/registers.md", "sw/spatten_regs.h", "golden/regs.py", "rtl/spatten_regs.vh")


def gen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(GEN), *args], capture_output=True, text=True,
                          timeout=120)


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("regs_copy", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def c_offsets(header: Path, names: list[str], tmp: Path) -> dict[str, int]:
    """offsetof(spatten_regs_t, NAME) as the C compiler sees the generated header."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("g++")
    if cc is None:
        pytest.skip("no C compiler")
    prints = "".join(f'printf("{n} %zu\\n", offsetof(spatten_regs_t, {n}));' for n in names)
    src = tmp / "offsets.c"
    src.write_text(f'#include <stddef.h>\n#include <stdio.h>\n#include "{header}"\n'
                   f"int main(void) {{ {prints} return 0; }}\n")
    exe = tmp / "offsets"
    subprocess.run([cc, "-x", "c", "-std=c11", "-Wall", "-Werror", str(src), "-o", str(exe)],
                   check=True, timeout=60)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def vh_offsets(text: str) -> dict[str, int]:
    return {m[1]: int(m[2], 16) for m in re.finditer(r"`define SPATTEN_REG_(\w+) 'h(\w+)", text)}


def test_generated_views_are_current(tmp_path: Path) -> None:
    res = gen("--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    stale = [rel for rel in OUTPUTS
             if (tmp_path / rel).read_bytes() != (ROOT / rel).read_bytes()]
    assert not stale, f"stale generated files {stale}: run make regs"


def test_views_agree_with_each_other(tmp_path: Path) -> None:
    """The C struct, the Verilog defines and the Markdown table give the offsets of golden.regs."""
    want = {r.name: int(r) for r in regs.Reg}
    assert c_offsets(ROOT / OUTPUTS[1], list(want), tmp_path) == want
    assert vh_offsets((ROOT / OUTPUTS[3]).read_text()) == want
    doc = (ROOT / OUTPUTS[0]).read_text()
    for name, off in want.items():
        entry = f"{name}[0]" if regs.Reg[name] in regs.ARRAYS else name
        assert re.search(rf"\|\s*0x{off:03X}\|\s*{re.escape(entry)}\s*\|", doc), name


def test_map_matches_the_formats() -> None:
    """Fields that other contracts fix: the score scale widths (golden.fixed), ID "SPAT",
    VERSION round trip, the access classes the CSR block implements."""
    mult, shift = regs.field(regs.Reg.SCORE_SCALE, "MULT"), regs.field(regs.Reg.SCORE_SCALE,
                                                                        "SHIFT")
    assert (mult.lsb, mult.width, shift.lsb, shift.width) == (0, fx.SCORE_MULT_W,
                                                              fx.SCORE_MULT_W, fx.SCORE_SHIFT_W)
    assert regs.field(regs.Reg.ID, "VALUE").reset.to_bytes(4, "big") == b"SPAT"
    p = AccelParams(lanes=16, d_max=32, max_n=256, h_max=32)
    assert AccelParams.from_version(p.version()) == p
    assert regs.Reg.CTRL not in regs.RO_REGS | regs.RW_REGS  # write-only
    assert regs.Reg.STATUS not in regs.RO_REGS | regs.RW_REGS  # RO + W1C
    assert {f.sw for f in regs.FIELDS[regs.Reg.STATUS]} == {"r", "rw1c"}
    assert regs.Ctrl.START == 1 and regs.Status.ERROR == 4


def test_offset_change_reaches_every_view(tmp_path: Path) -> None:
    """Move SCORE_SCALE in a copy of the RDL: docs, C header, Python map and RTL constants all
    follow (and agree), and nothing else moves."""
    (tmp_path / "rtl").mkdir()
    text = (ROOT / RDL).read_text()
    assert text.count("SCORE_SCALE[32] @ 0x100") == 1
    (tmp_path / RDL).write_text(text.replace("SCORE_SCALE[32] @ 0x100", "SCORE_SCALE[32] @ 0x0C0"))
    res = gen("--root", str(tmp_path))
    assert res.returncode == 0, res.stderr
    want = {r.name: int(r) for r in regs.Reg} | {"SCORE_SCALE": 0x0C0}
    new = load_module(tmp_path / OUTPUTS[2])
    assert {r.name: int(r) for r in new.Reg} == want and new.MAP_SIZE == 0x200  # HEAD_SCALE last
    assert vh_offsets((tmp_path / OUTPUTS[3]).read_text()) == want
    assert c_offsets(tmp_path / OUTPUTS[1], list(want), tmp_path) == want
    doc = (tmp_path / OUTPUTS[0]).read_text()
    assert "| 0x0C0| SCORE_SCALE[0] |" in doc and "| 0x100| SCORE_SCALE[0] |" not in doc
    assert "- Size: 0x200" in doc


def test_map_the_csr_block_cannot_implement_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rtl").mkdir()
    text = (ROOT / RDL).read_text()
    (tmp_path / RDL).write_text(text.replace("setting_r N @ 0x01C", "setting_r N @ 0x0B0"))
    res = gen("--root", str(tmp_path), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and not (tmp_path / "out").exists()
    assert res.stderr.startswith("gen_regs: map not implementable") and "N must be at 0x01C" in res.stderr


@pytest.mark.parametrize("content", [None, "addrmap x { reg { field {} f; } r @ 0x0 "])
def test_bad_rdl_is_one_error(tmp_path: Path, content: str | None) -> None:
    if content is not None:
        (tmp_path / "rtl").mkdir()
        (tmp_path / RDL).write_text(content)
    res = gen("--root", str(tmp_path))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("gen_regs: ")

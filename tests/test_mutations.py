"""No test that cannot fail: each mutant is a plausible RTL bug, and its testbench must fail
on it. A mutant that survives means the testbench has a blind spot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from verif.runner import read_results, run
from verif.sim import load_bench
from verif.tools import RTL

# (module, file, original text, replacement, what the bug is)
MUTANTS = [
    ("stream_fifo", "stream_fifo.v", "if (push) mem_q[wr_ptr_q] <= {in_last, in_data};", "",
     "storage write deleted"),
    ("stream_fifo", "stream_fifo.v", "if (pop) rd_ptr_q <=", "if (1'b0) rd_ptr_q <=",
     "read pointer never advances"),
    ("stream_fifo", "stream_fifo.v", "assign full      = (count_q == DEPTH_CNT);",
     "assign full      = (count_q == DEPTH_CNT - 1'b1);", "full one entry early"),
    ("stream_skid", "stream_skid.v", "skid_valid_q <= 1'b1;", "skid_valid_q <= 1'b0;",
     "skid slot dropped"),
    ("stream_skid", "stream_skid.v", "out_last_q <= skid_valid_q ? skid_last_q : in_last;",
     "out_last_q <= in_last;", "last flag of a skidded beat lost"),
]


def make_mutant(tmp: Path, fname: str, old: str, new: str) -> Path:
    rtl = tmp / "rtl"
    shutil.copytree(RTL, rtl)
    text = (rtl / fname).read_text()
    assert text.count(old) == 1, f"mutation anchor not found exactly once in {fname}: {old!r}"
    (rtl / fname).write_text(text.replace(old, new))
    return rtl


@pytest.mark.sim
@pytest.mark.parametrize("module,fname,old,new,bug", MUTANTS, ids=[m[4].replace(" ", "_") for m in MUTANTS])
def test_mutant_is_caught(tmp_path: Path, module: str, fname: str, old: str, new: str,
                          bug: str) -> None:
    bench = load_bench(module)
    rtl = make_mutant(tmp_path, fname, old, new)
    res = run(bench, "icarus", seed=1, rtl_dir=rtl, log_to_file=True,
              variant="mut-" + bug.replace(" ", "_"))
    tests, failed, _ = read_results(res.xml)
    assert tests, f"mutant '{bug}': no results at all (build failure?) see {res.log}"
    assert failed, f"mutant '{bug}' survived: all {len(tests)} tests of {module} passed"

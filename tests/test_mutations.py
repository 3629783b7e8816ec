"""No test that cannot fail: each mutant is a plausible RTL bug, and its testbench must fail
on it. A mutant that survives means the testbench has a blind spot.

Each mutant runs at two seeds: :data:`SEEDS` [0] (the regression's, ``make test``) and [1] (a
second stimulus, ``make regress``), so a kill does not rest on one random stream: a mutant
that only one seed's stimulus reaches is a coverage hole the second seed can expose (issue 15).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from verif.runner import read_results, run
from verif.sim import load_tb_module
from verif.tools import ROOT, RTL
from verif.uvm import FAIL_FAST_ENV


def collect_mutants() -> list[tuple[str, str, str, str, str, str | None]]:
    """Every testbench lists its mutants as MUTANTS = [(file, old, new, bug), ...]; a 5th item
    names the test(s) of the bench that run on the mutant (default: the bench's
    MUTANT_TESTCASES if it has them, else all of them)."""
    found = []
    for folder in sorted((ROOT / "tb").iterdir()):
        if not (folder / f"test_{folder.name}.py").is_file():
            continue
        mod = load_tb_module(folder.name)
        found += [(folder.name, *m[:4], m[4] if len(m) > 4 else None)
                  for m in getattr(mod, "MUTANTS", [])]
    return found


MUTANTS = collect_mutants()
SEEDS = (1, 7)  # fast tier, slow tier


def make_mutant(tmp: Path, fname: str, old: str, new: str) -> Path:
    rtl = tmp / "rtl"
    shutil.copytree(RTL, rtl)
    text = (rtl / fname).read_text()
    assert text.count(old) == 1, f"mutation anchor not found exactly once in {fname}: {old!r}"
    (rtl / fname).write_text(text.replace(old, new))
    return rtl


@pytest.mark.sim
@pytest.mark.parametrize("seed", [SEEDS[0], pytest.param(SEEDS[1], marks=pytest.mark.slow)],
                         ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("module,fname,old,new,bug,testcase", MUTANTS,
                         ids=[f"{m[0]}-{m[4]}".replace(" ", "_") for m in MUTANTS])
def test_mutant_is_caught(tmp_path: Path, module: str, fname: str, old: str, new: str,
                          bug: str, testcase: str | None, seed: int) -> None:
    tb = load_tb_module(module)
    rtl = make_mutant(tmp_path, fname, old, new)
    sim = getattr(tb, "MUTANT_SIM", "icarus")
    # the tests a mutant run takes: its own (a 5th MUTANTS item), else the testbench's
    # MUTANT_TESTCASES (the ones that reach every mutated path), else all of them. Listed
    # tests run one at a time, in order, and the first that fails ends the run: a mutant is
    # caught once any test fails (fail_fast: a test may also stop at its first error).
    listed = testcase or getattr(tb, "MUTANT_TESTCASES", None)
    passed: list[str] = []
    for case in listed.split(",") if listed else [None]:
        res = run(tb.BENCH, sim, seed=seed, rtl_dir=rtl, log_to_file=True, testcase=case,
                  variant="mut-" + bug.replace(" ", "_"), extra_env={FAIL_FAST_ENV: "1"},
                  coverage=False)  # a mutant's coverage is never counted: no instrumentation
        tests, failed, _ = read_results(res.xml)
        assert tests, f"mutant '{bug}': no results at all (build failure?) see {res.log}"
        if failed:
            return
        passed += tests
    pytest.fail(f"mutant '{bug}' survived at seed {seed}: all {len(passed)} tests of "
                f"{module} passed")

"""Build and run one module's cocotb/pyuvm testbench under Icarus or Verilator.

Used by ``make sim`` (through ``python -m verif.sim``) and by the pytest regression: both go
through :func:`run`, so a module behaves the same way from either. Success is read from
cocotb's results XML (at least one test ran, none failed), never from the simulator's exit code.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from verif.tools import BUILD, ROOT, RTL, use_pinned_tools

if TYPE_CHECKING:
    from cocotb_tools.runner import Runner

SIMULATORS = ("icarus", "verilator")


@dataclass(frozen=True)
class Bench:
    """What a testbench needs built: its top level, RTL files (relative to rtl/) and defaults."""

    toplevel: str
    sources: Sequence[str]
    parameters: Mapping[str, int] = field(default_factory=dict)
    test_module: str = ""  # defaults to test_<toplevel>
    tb_dir: Path | None = None  # defaults to tb/<toplevel>
    include_dirs: Sequence[Path] = ()  # `include search path besides rtl/
    verilator_args: Sequence[str] = ()  # extra Verilator build arguments (e.g. a .vlt file)

    @property
    def module(self) -> str:
        return self.test_module or f"test_{self.toplevel}"

    @property
    def folder(self) -> Path:
        return self.tb_dir or ROOT / "tb" / self.toplevel


@dataclass
class Results:
    """Outcome of one simulator run, read from cocotb's results XML."""

    xml: Path
    tests: list[str]
    failed: list[str]
    skipped: list[str]
    seed: int
    log: Path | None
    waves: Path | None

    @property
    def ok(self) -> bool:
        return bool(self.tests) and not self.failed

    def summary(self) -> str:
        passed = len(self.tests) - len(self.failed) - len(self.skipped)
        return f"{passed} passed, {len(self.failed)} failed, {len(self.skipped)} skipped (seed {self.seed})"


def param_tag(parameters: Mapping[str, int]) -> str:
    """Short, stable folder name for a parameter set."""
    if not parameters:
        return "default"
    text = "_".join(f"{k}{v}" for k, v in sorted(parameters.items()))
    if len(text) <= 48:
        return text
    return text[:36] + "_" + hashlib.sha1(text.encode()).hexdigest()[:8]


def coverage_enabled() -> bool:
    """Verilator runs collect code coverage unless SPATTEN_COVERAGE=0 (see ``make coverage``)."""
    return os.environ.get("SPATTEN_COVERAGE", "1") != "0"


def read_results(xml: Path) -> tuple[list[str], list[str], list[str]]:
    """(tests, failed, skipped) names from a cocotb results XML; empty lists if it is missing."""
    if not xml.is_file():
        return [], [], []
    tests, failed, skipped = [], [], []
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = case.get("name", "?")
        tests.append(name)
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        elif case.find("skipped") is not None:
            skipped.append(name)
    return tests, failed, skipped


@contextmanager
def dir_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (a lock file in it) for the ``with`` body; a second
    holder in another process waits."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_folder(bench: Bench, sim: str, parameters: Mapping[str, int] | None = None, *,
                 waves: bool = False, variant: str = "", coverage: bool | None = None) -> Path:
    """The folder :func:`run` builds and runs ``bench`` in (its build.log, sim.log and
    results.xml), for the same arguments."""
    params = {**bench.parameters, **(parameters or {})}
    variant = (variant or param_tag(params)) + ("-waves" if waves else "")
    return BUILD / "sim" / bench.toplevel / sim / (variant + ("-cov" if _cov(sim, coverage) else ""))


def _cov(sim: str, coverage: bool | None) -> bool:
    return sim == "verilator" and (coverage_enabled() if coverage is None else coverage)


def run(
    bench: Bench,
    sim: str,
    parameters: Mapping[str, int] | None = None,
    *,
    seed: int,
    waves: bool = False,
    testcase: str | None = None,
    log_to_file: bool = False,
    extra_env: Mapping[str, str] | None = None,
    rtl_dir: Path = RTL,
    variant: str = "",
    coverage: bool | None = None,
    plusargs: Sequence[str] = (),
) -> Results:
    """Build (incrementally) and run ``bench`` on ``sim`` in its :func:`build_folder`; return
    what the results XML says. ``coverage`` overrides SPATTEN_COVERAGE for this run (Verilator
    only). One run at a time per build folder: two runs of the same variant (pytest workers,
    two ``spatten run`` calls) would rebuild under each other and share the results and logs."""
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; choose one of {', '.join(SIMULATORS)}")
    use_pinned_tools()
    params = {**bench.parameters, **(parameters or {})}
    folder = build_folder(bench, sim, parameters, waves=waves, variant=variant, coverage=coverage)
    from cocotb_tools.runner import get_runner  # after PATH points at the pinned tools

    runner = get_runner(sim)  # one object: test() reads what build() recorded
    with dir_lock(folder):
        _build(runner, bench, sim, params, folder, rtl_dir=rtl_dir, waves=waves,
               cov=_cov(sim, coverage), log_to_file=log_to_file)
        return _test(runner, bench, sim, params, folder, seed=seed, waves=waves,
                     testcase=testcase, log_to_file=log_to_file, extra_env=extra_env,
                     plusargs=plusargs)


def _build(runner: Runner, bench: Bench, sim: str, params: Mapping[str, int], folder: Path, *,
           rtl_dir: Path, waves: bool, cov: bool, log_to_file: bool) -> None:
    # -y: submodules are found in rtl/ by module name, so a Bench lists only its top file.
    build_args = ["-I" + str(rtl_dir), "-y", str(rtl_dir), *(f"-I{d}" for d in bench.include_dirs)]
    if sim == "verilator":
        # Coverage and asserts are cheap at our sizes; --x-assign/initial unique makes a
        # missing reset show up as random values instead of a friendly zero.
        build_args += ["--assert", "--x-assign", "unique", "--x-initial", "unique"]
        if cov:
            build_args += ["--coverage-line", "--coverage-toggle", "--coverage-user"]
        build_args += list(bench.verilator_args)
    runner.build(
        sources=[rtl_dir / s for s in bench.sources],
        hdl_toplevel=bench.toplevel,
        parameters=dict(params),
        build_args=build_args,
        build_dir=folder,
        waves=waves,
        timescale=("1ns", "1ps"),
        log_file=folder / "build.log" if log_to_file else None,
        # cocotb's Icarus runner only checks the listed sources for changes, not the submodules
        # found with -y: always rebuild (seconds). Verilator's make tracks every dependency.
        always=sim == "icarus",
    )


def _test(runner: Runner, bench: Bench, sim: str, params: Mapping[str, int], folder: Path, *,
          seed: int, waves: bool, testcase: str | None, log_to_file: bool,
          extra_env: Mapping[str, str] | None, plusargs: Sequence[str]) -> Results:
    xml = folder / "results.xml"
    # cocotb's runner gives the simulator PYTHONPATH = sys.path (overriding the environment),
    # so the test module's folder and the repository go on sys.path.
    for path in (str(ROOT), str(bench.folder)):
        if path not in sys.path:
            sys.path.insert(0, path)
    env = {"SPATTEN_TEST_DIR": str(folder), "SPATTEN_PARAMS": json.dumps(dict(params)),
           **(extra_env or {})}
    if sim == "verilator":
        # Each run gets its own seed for Verilator's own randomisation of X values.
        sim_plusargs = [f"+verilator+seed+{seed % 2**31 or 1}", "+verilator+rand+reset+2",
                        f"+verilator+coverage+file+coverage-{testcase or 'all'}.dat"]
    else:
        sim_plusargs = []
    log = folder / "sim.log" if log_to_file else None
    try:
        runner.test(
            test_module=bench.module,
            hdl_toplevel=bench.toplevel,
            testcase=testcase,
            seed=seed,
            waves=waves,
            build_dir=folder,
            test_dir=folder,
            results_xml=str(xml),
            extra_env=env,
            plusargs=[*sim_plusargs, *plusargs],
            log_file=log,
        )
    except (SystemExit, RuntimeError):
        pass  # the runner exits on failures under pytest; the XML below is the verdict
    tests, failed, skipped = read_results(xml)
    wave_file = None
    if waves:
        wave_file = folder / ("dump.vcd" if sim == "verilator" else f"{bench.toplevel}.fst")
    return Results(xml, tests, failed, skipped, seed, log, wave_file)


def check(results: Results) -> None:
    """Raise AssertionError unless the run produced results and none failed."""
    where = f"log {results.log}" if results.log else f"results {results.xml}"
    if not results.tests:
        raise AssertionError(f"no test results (simulator crashed or no test ran); see {where}")
    if results.failed:
        tail = ""
        if results.log and results.log.is_file():
            tail = "\n".join(results.log.read_text(errors="replace").splitlines()[-60:])
        raise AssertionError(
            f"{len(results.failed)} failed: {', '.join(results.failed)} "
            f"(seed {results.seed}); see {where}\n{tail}"
        )


def regression_seed(*parts: object) -> int:
    """Deterministic per-case seed for the regression, shifted by SPATTEN_SEED to explore."""
    base = os.environ.get("SPATTEN_SEED", "1")
    digest = hashlib.sha256(("/".join(map(str, (base, *parts)))).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF

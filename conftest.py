"""Shared pytest options: every simulator test runs on both simulators unless --sim narrows it."""

from __future__ import annotations

import pytest

from verif.runner import SIMULATORS, param_tag


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--sim", action="append", choices=SIMULATORS,
                     help="simulator(s) to run (default: all)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "only_sim(name): run this test on one simulator only")
    config.addinivalue_line("markers", "slow_sim(name): on that simulator only in make regress")
    config.addinivalue_line("markers", "long: one of the longest runs of make test (scheduled first)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The ``long`` tests first (stable otherwise): with xdist's worksteal scheduling (make
    test) a worker that runs out of short tests takes over the other's queue, so starting the
    few runs of minutes early keeps both workers busy to the end instead of one long run
    finishing alone."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``sim`` runs on every simulator (or those given with --sim). A testbench whose
    configurations differ per simulator (Icarus is ~80x slower on wide datapaths) defines
    ``SIM_CONFIGS = {"icarus": [params, ...], "verilator": [...]}`` and takes ``sim, params``:
    each simulator then gets only its own configurations (no skipped combinations)."""
    if "sim" not in metafunc.fixturenames:
        return
    sims = metafunc.config.getoption("sim") or list(SIMULATORS)
    only = metafunc.definition.get_closest_marker("only_sim")
    if only:
        sims = [s for s in sims if s in only.args]
    per_sim = getattr(metafunc.module, "SIM_CONFIGS", None)
    explicit = {name.strip() for m in metafunc.definition.iter_markers("parametrize")
                for name in (m.args[0].split(",") if isinstance(m.args[0], str) else m.args[0])}
    if per_sim is not None and "params" in metafunc.fixturenames and "params" not in explicit:
        cases = [(s, p) for s in sims for p in per_sim.get(s, [])]
        ids = [f"{s}-{param_tag(p)}" for s, p in cases]
        metafunc.parametrize(("sim", "params"), cases, ids=ids)
    else:
        slow = metafunc.definition.get_closest_marker("slow_sim")
        metafunc.parametrize("sim", [pytest.param(s, marks=pytest.mark.slow)
                                     if slow and s in slow.args else s for s in sims])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many simulator runs passed/failed on each simulator (and golden tests)."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error"):
        for rep in terminalreporter.stats.get(outcome, []):
            if getattr(rep, "when", "call") != "call" and outcome != "error":
                continue
            nodeid = getattr(rep, "nodeid", "")
            sim = next((s for s in SIMULATORS if f"{s}" in nodeid.split("[")[-1]), None)
            if "test_mutations" in nodeid:
                group = "RTL mutants"
            else:
                group = sim or ("golden model" if "tests/golden" in nodeid else "other")
            bucket = counts.setdefault(group, {"passed": 0, "failed": 0, "error": 0})
            bucket[outcome] += 1
    if not counts:
        return
    terminalreporter.section("runs per simulator")
    for group, c in sorted(counts.items()):
        terminalreporter.write_line(f"{group:>14}: {c['passed']} passed, {c['failed']} failed, "
                                    f"{c['error']} errors")


# ----------------------------------------------------------------------------- regression time
_SESSION_T0: list[float] = []
_PROBE_S: list[float] = []  # verif.machine.speed_probe at the session's start


def pytest_sessionstart(session: pytest.Session) -> None:
    import time

    from verif.machine import speed_probe

    _SESSION_T0.append(time.time())
    if _records_regression(session):  # before the workers load; not for a partial run
        _PROBE_S.append(speed_probe())


def _records_regression(session: pytest.Session) -> bool:
    """True in the xdist controller (or a plain session) of a run that covers every testbench
    (``tb`` given whole, as ``make test`` / ``make regress`` do)."""
    from pathlib import Path

    return (not hasattr(session.config, "workerinput") and not session.config.option.collectonly
            and "tb" in {Path(str(a)).as_posix().rstrip("/") for a in session.config.args})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Record the wall time of a session that ran every testbench (``tb`` given whole, as
    ``make test`` / ``make regress`` do) in build/regression_time.json; ``make bench`` reports
    it. Only the xdist controller writes."""
    import json
    import time
    from pathlib import Path

    args = [str(a) for a in session.config.args]
    if not _records_regression(session) or not _SESSION_T0 or \
            exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        return
    out = Path(__file__).parent / "build" / "regression_time.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"wall_s": time.time() - _SESSION_T0[0], "args": args,
                               "exitstatus": int(exitstatus),
                               "speed_probe_s": _PROBE_S[0] if _PROBE_S else None,
                               "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}))

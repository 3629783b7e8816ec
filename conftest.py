"""Shared pytest options: every simulator test runs on both simulators unless --sim narrows it."""

from __future__ import annotations

import pytest

from verif.runner import SIMULATORS


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--sim", action="append", choices=SIMULATORS,
                     help="simulator(s) to run (default: all)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sim" in metafunc.fixturenames:
        sims = metafunc.config.getoption("sim") or list(SIMULATORS)
        metafunc.parametrize("sim", sims)


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

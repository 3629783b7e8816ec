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

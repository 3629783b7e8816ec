"""Benchmarks are not run by the regression (they are long), but they must at least import and
parse their options, so that a refactoring cannot silently break them."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__))
# library modules of the benchmarks (imported by the commands, no command line of their own)
LIBRARIES = {"bert_workload"}


@pytest.mark.parametrize("name", MODULES)
def test_bench_imports(name: str) -> None:
    mod = importlib.import_module(f"bench.{name}")
    if name not in LIBRARIES:
        assert callable(getattr(mod, "main", None)), f"bench.{name} has no main()"

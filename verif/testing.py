"""pytest side of a testbench: run a Bench on a simulator and fail unless its results say pass."""

from __future__ import annotations

from collections.abc import Mapping

from verif.runner import Bench, check, param_tag, regression_seed, run


def run_bench(bench: Bench, sim: str, parameters: Mapping[str, int] | None = None,
              testcase: str | None = None) -> None:
    seed = regression_seed(bench.toplevel, sim, param_tag(parameters or {}), testcase or "")
    print(f"{bench.toplevel} on {sim} {dict(parameters or {})}: RANDOM_SEED={seed}")
    results = run(bench, sim, parameters, seed=seed, testcase=testcase, log_to_file=True)
    print(results.summary())
    check(results)


def run_sweep(bench: Bench, sim: str, parameters: Mapping[str, int], testcase: str,
              name: str = "sweep") -> None:
    """A long regression (``make regress``): one test class in its own build folder, seeded
    apart from the regular run."""
    seed = regression_seed(bench.toplevel, sim, name)
    print(f"{bench.toplevel} {name} on {sim}: RANDOM_SEED={seed}")
    results = run(bench, sim, parameters, seed=seed, testcase=testcase, log_to_file=True,
                  variant=name)
    print(results.summary())
    check(results)

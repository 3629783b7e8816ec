"""One seed per test: cocotb's RANDOM_SEED seeds Python's random and numpy, and is printed."""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np


def run_seed() -> str:
    """The seed of the whole simulation run (``make sim SEED=<n>`` replays it)."""
    return os.environ.get("COCOTB_RANDOM_SEED", "?")


def seed_text() -> str:
    return f"SEED={run_seed()}"


def seed_all(log_name: str = "seed") -> np.random.Generator:
    """Seed ``random`` and numpy from this test's seed, log it, and return a numpy Generator.

    cocotb derives each test's ``RANDOM_SEED`` from the run's COCOTB_RANDOM_SEED and the test
    name, so replaying the run seed replays every test of the run.
    """
    seed = int(cocotb.RANDOM_SEED)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    cocotb.log.info("%s: test seed %d from run seed %s (replay with %s)", log_name, seed,
                    run_seed(), seed_text())
    return np.random.default_rng(seed)


def params() -> dict[str, int]:
    """The HDL parameters this simulation was built with (set by verif.runner)."""
    import json

    return json.loads(os.environ.get("SPATTEN_PARAMS", "{}"))


def on_verilator() -> bool:
    """True inside a Verilator simulation (a bench may size its stimulus by simulator)."""
    return cocotb.SIM_NAME.lower().startswith("verilator")

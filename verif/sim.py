"""``make sim``: run one module's testbench on one simulator, print the seed and the verdict.

    python -m verif.sim MODULE [--sim icarus|verilator] [--waves] [--seed N] [--test NAME]
                        [-P NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
from types import ModuleType

from verif.runner import SIMULATORS, Bench, run
from verif.tools import ROOT


def load_bench(module: str) -> Bench:
    return load_tb_module(module).BENCH


def load_tb_module(module: str) -> ModuleType:
    """Import tb/<module>/test_<module>.py (once) and return it."""
    name = f"test_{module}"
    if name in sys.modules:
        return sys.modules[name]
    path = ROOT / "tb" / module / f"test_{module}.py"
    if not path.is_file():
        known = sorted(p.name for p in (ROOT / "tb").iterdir() if (p / f"test_{p.name}.py").is_file())
        raise SystemExit(f"no testbench {path.relative_to(ROOT)}; modules: {', '.join(known)}")
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # pyuvm.test() looks its caller up there
    spec.loader.exec_module(mod)
    return mod


def parse_param(text: str) -> tuple[str, int]:
    name, _, value = text.partition("=")
    if not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, int(value, 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make sim", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("module")
    ap.add_argument("--sim", default="icarus", choices=SIMULATORS)
    ap.add_argument("--waves", action="store_true", help="write a waveform (FST on Icarus, VCD on Verilator)")
    ap.add_argument("--seed", type=int, default=None, help="run seed (default: random, printed)")
    ap.add_argument("--test", default=None, help="run only this test class")
    ap.add_argument("-P", "--param", type=parse_param, action="append", default=[],
                    help="HDL parameter override, e.g. -P DEPTH=4")
    args = ap.parse_args(argv)

    bench = load_bench(args.module)
    unknown = [n for n, _ in args.param if n not in bench.parameters]
    if unknown:
        raise SystemExit(f"unknown parameter(s) {unknown} for {args.module}; "
                         f"known: {', '.join(bench.parameters)}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    params = {**bench.parameters, **dict(args.param)}
    print(f"sim: {args.module} on {args.sim}, parameters {params}, SEED={seed}", flush=True)
    res = run(bench, args.sim, params, seed=seed, waves=args.waves, testcase=args.test)
    print(f"sim: {args.module} on {args.sim}: {res.summary()}")
    print(f"sim: results {res.xml}")
    if res.waves:
        state = "written" if res.waves.is_file() else "MISSING"
        print(f"sim: waveform {res.waves} ({state}); open with: gtkwave {res.waves}  (or surfer)")
        if not res.waves.is_file():
            return 1
    if not res.ok:
        print(f"sim: FAILED; replay with: make sim MODULE={args.module} SIM={args.sim} SEED={seed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``spatten blocks`` / ``make blocks``: the golden model and every RTL block at a glance.

1. The golden SpAtten model on a real transformer (all-MiniLM-L6-v2, stdlib English text):
   embedding cosine against the dense float model and DRAM bytes against dense 16-bit, for the
   float and the bit-exact fixed-point model at the default pruning setting.
2. Every RTL block that has a testbench, simulated under Verilator (or ``--sim icarus``) with
   its bit-exact scoreboard: tests passed/failed per block.
A readable report is printed; ``--json OUT`` writes it as JSON. Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from spatten.args import SEED
from verif.runner import SIMULATORS, Results, run
from verif.sim import load_bench
from verif.tools import ROOT


def add_blocks_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("blocks", help="golden MiniLM eval + every RTL block's testbench",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sim", default="verilator", choices=SIMULATORS)
    p.add_argument("--seed", type=SEED, default=None, help="simulation seed (default: random)")
    p.add_argument("--json", metavar="OUT", help="write the report as JSON")
    p.set_defaults(handler=run_blocks_report)
    return p


def rtl_modules() -> list[str]:
    return sorted(p.name for p in (ROOT / "tb").iterdir() if (p / f"test_{p.name}.py").is_file())


def run_blocks(sim: str, seed: int) -> dict[str, Results]:
    from tqdm import tqdm

    results = {}
    for module in tqdm(rtl_modules(), desc=f"RTL on {sim}", unit="block", leave=False):
        results[module] = run(load_bench(module), sim, seed=seed, log_to_file=True)
    return results


def run_blocks_report(args: argparse.Namespace) -> int:
    from golden import eval as ev
    from golden.config import DEFAULT_PRUNE

    start = time.perf_counter()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    sentences = ev.default_sentences()
    golden = {name: ev.evaluate(DEFAULT_PRUNE, sentences, fixed, None)
              for name, fixed in (("float", False), ("fixed", True))}
    blocks = run_blocks(args.sim, seed)
    ok = all(r.ok for r in blocks.values())
    g = golden["fixed"]
    lines = [
        "SpAtten blocks",
        f"  golden model on all-MiniLM-L6-v2, {g['sentences']} sentences / {g['tokens']} tokens "
        f"of stdlib text, setting {ev.setting_label(g['settings'])}",
        *(f"    {name:<6} cosine vs dense float {r['cosine_vs_dense']:.4f} (min "
          f"{r['cosine_min']:.4f}), DRAM {r['dram_bytes']} B vs dense 16-bit "
          f"{r['dram_bytes_dense']} B -> {r['dram_reduction']:.2f}x less"
          for name, r in golden.items()),
        f"  RTL blocks on {args.sim}, SEED={seed}, bit-exact scoreboards:",
        *(f"    {m:<20} {r.summary()}" + ("" if r.ok else f"   FAILED, log {r.log}")
          for m, r in blocks.items()),
        f"  verdict: {'PASS' if ok else 'FAIL'} ({time.perf_counter() - start:.0f} s)",
    ]
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "golden": {k: {f: v[f] for f in ("cosine_vs_dense", "cosine_min", "dram_bytes",
                                               "dram_bytes_dense", "settings")}
                       for k, v in golden.items()},
            "rtl": {m: {"tests": len(r.tests), "failed": r.failed, "seed": seed}
                    for m, r in blocks.items()},
            "pass": ok}, indent=1))
    return 0 if ok else 1

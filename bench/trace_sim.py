"""Command line of the trace runner (``verif.trace_run``): trace-shaped generation commands on
``spatten_top``, each checked against the golden command model.

    .venv/bin/python -m bench.trace_sim [TRACE.csv] [--sim verilator|icarus] [--steps 3]

The mapping of trace rows to commands, the data shaping and the checks are documented in
``verif/trace_run.py``.
"""

from __future__ import annotations

import argparse
import json
import sys

from spatten.args import POSITIVE, SEED, fail, one_line_errors
from verif import trace_run
from verif.trace_run import DEFAULT_TRACE, MEMS, PARAMS, TRACE_ERRORS, run_trace_on_rtl


def layer_list(text: str) -> list[int]:
    """``--layers 0,6``: layer ids >= 0."""
    try:
        layers = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}"
                                         ) from None
    if not layers or min(layers) < 0:
        raise argparse.ArgumentTypeError(f"layers must be integers >= 0: {text!r}")
    return layers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.trace_sim", description=trace_run.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", nargs="?", help=f"trace CSV (default {DEFAULT_TRACE})")
    ap.add_argument("--sim", choices=tuple(PARAMS), default="verilator")
    ap.add_argument("--steps", type=POSITIVE, help="decode steps (evenly spaced)")
    ap.add_argument("--layers", type=layer_list,
                    help="comma-separated layers (default all; Icarus: the smallest)")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense twins")
    ap.add_argument("--seed", type=SEED, default=1)
    ap.add_argument("--channels", type=int, choices=(1, 2, 4, 8, 16),
                    help="read ports of the build (default 2)")
    ap.add_argument("--mem", choices=MEMS, default="hdl",
                    help="read memory: HDL model (fast, default) or cocotbext-axi (python)")
    one_line_errors(ap)
    args = ap.parse_args(argv)
    try:
        res = run_trace_on_rtl(args.trace, args.sim, args.steps, args.seed, True,
                               not args.no_dense, args.layers, channels=args.channels,
                               mem=args.mem)
    except TRACE_ERRORS as err:
        return fail(ap.prog, str(err))
    keys = ("sim", "mem", "steps", "commands", "mismatches", "cycles", "cycles_dense", "dram_bytes",
            "dram_bytes_dense", "mac_utilization", "requant_rate", "wall_s")
    print(json.dumps({k: res[k] for k in keys}, indent=1))
    return 0 if res["mismatches"] == 0 and res["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""``spatten bench``: the system performance benchmark (``bench.system_bench``, issue 8).

Same options as ``python -m bench.system_bench``; writes build/bench/report.md and plots.
The benchmark modules import the simulator tooling, so they are imported only when the
subcommand runs."""

from __future__ import annotations

import argparse


def add_bench_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from bench import system_bench

    p = sub.add_parser(
        "bench",
        help="system benchmark: RTL cycles vs the reference model, roofline, DRAM, CPU",
        description=system_bench.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    system_bench.add_arguments(p)
    p.set_defaults(handler=system_bench.run_bench)
    return p

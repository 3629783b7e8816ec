"""``spatten bench``: the system performance benchmark (``bench.system_bench``, issue 8).

Same options as ``python -m bench.system_bench``; writes build/bench/report.md and plots.
The CLI package never imports ``bench`` (docs/architecture.md, "Who may import whom"): this
sub-command plugs into ``spatten`` through the entry-point group ``spatten.commands``
(pyproject.toml), which ``spatten.cli.build_parser`` reads. The benchmark modules import the
simulator tooling, so they are imported only when the parser is built."""

from __future__ import annotations

import argparse
import sys

from spatten.args import POSITIVE, SEED, BadInput

# Range checks of bench.system_bench.add_arguments' plain-int options (issue 15).
CHECKED_TYPES = {"steps": POSITIVE, "seed": SEED}


def run_bench(args: argparse.Namespace) -> int:
    """``spatten bench``: bench.system_bench.run_bench; a malformed trace or a command the
    build refuses is one line and exit status 2 (from spatten.cli.main)."""
    from bench import system_bench
    from verif.trace_run import TRACE_ERRORS

    try:
        return system_bench.run_bench(args)
    except TRACE_ERRORS as err:
        raise BadInput(str(err)) from None


def add_bench_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from bench import system_bench

    p = sub.add_parser(
        "bench",
        help="system benchmark: RTL cycles vs the reference model, roofline, DRAM, CPU",
        description=system_bench.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    system_bench.add_arguments(p)
    for action in p._actions:
        action.type = CHECKED_TYPES.get(action.dest, action.type)
    p.set_defaults(handler=run_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.cli ARGS``: the same as ``spatten bench ARGS``."""
    from spatten.cli import main as spatten_main

    return spatten_main(["bench", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

"""``spatten`` command line. Subcommands: ``run`` (the main job: MiniLM-L6 with every attention
layer on the RTL), ``eval`` (accuracy/DRAM of the golden models on all-MiniLM-L6-v2),
``blocks`` (golden eval + every RTL block's testbench), ``eval-lm``. Each registers itself in
:data:`COMMANDS`: a function adding the sub-parser and a handler; ``bench`` (the system
benchmark) comes from the ``bench`` package through the entry-point group :data:`PLUGIN_GROUP`.
The sub-command modules never import this one (shared options: ``spatten.options``)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence

from spatten.args import BadInput, fail, one_line_errors
from spatten.options import add_prune_arguments, check_bits, prune_config, read_sentences
from spatten.stsb_cli import STSB_TASK, add_stsb_arguments


# ----------------------------------------------------------------------------- eval
def add_eval_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Options of ``spatten eval`` (pruning defaults = golden.config.DEFAULT_PRUNE)."""
    p = sub.add_parser(
        "eval",
        help="cosine vs dense and DRAM bytes of SpAtten pruning on all-MiniLM-L6-v2",
        description="Evaluate SpAtten pruning on all-MiniLM-L6-v2 sentence embeddings: mean "
        "cosine vs the dense float model and modelled DRAM bytes vs dense 16-bit.",
    )
    p.add_argument("--text", help="text file, one sentence per line (default: stdlib docstrings)")
    add_prune_arguments(p)
    p.add_argument("--fixed-point", action="store_true", help="use the bit-exact fixed model")
    p.add_argument("--sweep", action="store_true", help="also run the default settings sweep")
    p.add_argument("--json", metavar="OUT", help="write results as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="plot cosine vs DRAM reduction")
    add_stsb_arguments(p)
    p.set_defaults(handler=run_eval)
    return p


def _progress(desc: str) -> Callable:
    from tqdm import tqdm

    return lambda items: tqdm(items, desc=desc, file=sys.stderr, leave=False, unit="it")


def _report(result: dict, seconds: float) -> str:
    from golden.eval import setting_label

    by_class = ", ".join(f"{k} {v}" for k, v in result["dram_bytes_by_class"].items())
    return "\n".join(
        [
            f"SpAtten eval ({result['model']} model) on all-MiniLM-L6-v2",
            f"  setting          {setting_label(result['settings'])}",
            f"  text             {result['sentences']} sentences, {result['tokens']} tokens",
            f"  cosine vs dense  mean {result['cosine_vs_dense']:.4f}, "
            f"min {result['cosine_min']:.4f}",
            f"  DRAM bytes       {result['dram_bytes']} vs dense 16-bit "
            f"{result['dram_bytes_dense']} -> {result['dram_reduction']:.3f}x less",
            f"  by class         {by_class}",
            f"  requant rows     {result['requant_fraction']:.3f}",
            f"  live tokens end  {result['live_tokens_at_end']} of {result['tokens']}",
            f"  time             {seconds:.1f} s",
        ]
    )


def run_eval(args: argparse.Namespace) -> int:
    """Handler of ``spatten eval``."""
    from golden import eval as ev

    if args.task == STSB_TASK:
        from spatten.stsb_cli import run_stsb

        return run_stsb(args, prune_config(args), _progress)
    check_bits(args)
    start = time.perf_counter()
    sentences = ([s for _, s in read_sentences(args.text)] if args.text
                 else ev.default_sentences())
    cfg = prune_config(args)
    result = ev.evaluate(cfg, sentences, args.fixed_point, _progress("sentences"))
    payload = {**result, "text": sentences}
    results = [result]
    if args.sweep:
        results = ev.sweep(ev.SWEEP, sentences, False, _progress("sweep float"))
        if args.fixed_point:
            results += ev.sweep(ev.SWEEP, sentences, True, _progress("sweep fixed"))
        payload["sweep"] = results
        print(ev.format_table(results))
        print()
    seconds = time.perf_counter() - start
    payload["seconds"] = seconds
    print(_report(result, seconds))
    if args.json:
        ev.write_json(args.json, payload)
    if args.plot:
        ev.plot(results if args.sweep else [result], args.plot)
    return 0


# ----------------------------------------------------------------------------- entry
def _add_blocks(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from spatten.blocks import add_blocks_parser  # imports the simulator tooling lazily

    return add_blocks_parser(sub)


def _add_run(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from spatten.run import add_run_parser  # imports the simulator tooling lazily

    return add_run_parser(sub)


def _add_eval_lm(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from spatten.eval_lm import add_eval_lm_parser

    return add_eval_lm_parser(sub)


COMMANDS: list[Callable[[argparse._SubParsersAction], argparse.ArgumentParser]] = [
    add_eval_parser,
    _add_run,
    _add_blocks,
    _add_eval_lm,
]
PLUGIN_GROUP = "spatten.commands"  # entry points of other packages' sub-commands (pyproject.toml)


def plugin_commands() -> list[Callable[[argparse._SubParsersAction], argparse.ArgumentParser]]:
    """Sub-commands that packages above the CLI register under :data:`PLUGIN_GROUP` (``bench``:
    ``spatten bench``), by name; the CLI package never imports them (docs/architecture.md)."""
    from importlib.metadata import entry_points

    return [ep.load() for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name)]


def build_parser() -> argparse.ArgumentParser:
    """The ``spatten`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="spatten", description="Open SpAtten accelerator tools")
    one_line_errors(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in [*COMMANDS, *plugin_commands()]:
        one_line_errors(add(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    # The golden models multiply small matrices: one BLAS thread is fastest, and spinning
    # BLAS threads slow everything down on the shared 2-core machines (set before numpy loads).
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # a parser refusal (one line, status 2) or --help (status 0)
        return int(exc.code or 0)
    try:
        return args.handler(args)
    except BadInput as err:  # bad input found after parsing: one line, exit status 2
        return fail(f"spatten {args.command}", str(err))


if __name__ == "__main__":
    sys.exit(main())

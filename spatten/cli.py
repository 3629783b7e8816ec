"""``spatten`` command line. Subcommands: ``run`` (the main job: MiniLM-L6 with every attention
layer on the RTL), ``eval`` (accuracy/DRAM of the golden models on all-MiniLM-L6-v2),
``blocks`` (golden eval + every RTL block's testbench). Each registers itself in
:data:`COMMANDS`: a function adding the sub-parser and a handler."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence

from golden.config import DEFAULT_PRUNE, PruneConfig
from spatten.args import (
    NON_NEGATIVE,
    POSITIVE,
    RATIO,
    THRESHOLD,
    BadInput,
    fail,
    int_range,
    numbered_lines,
    one_line_errors,
    read_text,
)
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


def add_prune_arguments(p: argparse.ArgumentParser, rtl: bool = False) -> None:
    """The pruning-setting options shared by ``eval`` and ``run`` (defaults: DEFAULT_PRUNE).

    Ratios in (0, 1], threshold in [0, 1), counts >= 1. Bits: the golden models (``rtl``
    False) take what the RTL accepts (MSB 1..DATA_W, MSB + LSB <= DATA_W, :func:`check_bits`);
    ``spatten run`` (``rtl``) takes whatever the BITS register fields hold, so a setting the
    RTL refuses (BAD_BITS) reaches the RTL and the report names its ERROR_CODE
    (docs/run.md)."""
    from golden.fixed import DATA_W
    from golden.regs import Reg
    from golden.regs import field as reg_field

    d = DEFAULT_PRUNE
    field_max = {f: (1 << reg_field(Reg.BITS, f).width) - 1 for f in ("MSB", "LSB")}
    msb = int_range(0, field_max["MSB"]) if rtl else int_range(1, DATA_W)
    lsb = int_range(0, field_max["LSB"]) if rtl else int_range(0, DATA_W - 1)
    for what, ratio in (("token", d.token_keep), ("head", d.head_keep), ("value", d.value_keep)):
        p.add_argument(f"--{what}-keep", type=RATIO, default=ratio,
                       help=f"{'local V' if what == 'value' else what} keep ratio, (0, 1]")
    p.add_argument("--msb-bits", type=msb, default=d.msb_bits, help="K/V MSB bits fetched first")
    p.add_argument("--lsb-bits", type=lsb, default=d.lsb_bits, help="K LSB bits on requant")
    p.add_argument("--requant-threshold", type=THRESHOLD, default=d.requant_threshold,
                   help="max-prob threshold, [0, 1)")
    p.add_argument("--prune-start", type=NON_NEGATIVE, default=d.prune_start_layer,
                   help="first pruned layer")
    p.add_argument("--min-tokens", type=POSITIVE, default=d.min_tokens,
                   help="token pruning never keeps fewer tokens than this")
    p.add_argument("--keep-special", action=argparse.BooleanOptionalAction,
                   default=d.keep_special, help="never prune [CLS] and [SEP]")


def check_bits(args: argparse.Namespace) -> None:
    """BadInput unless MSB + LSB fit the datapath (the golden models' limit; the RTL's
    BAD_BITS check)."""
    from golden.fixed import DATA_W

    if args.msb_bits + args.lsb_bits > DATA_W:
        raise BadInput(f"--msb-bits {args.msb_bits} + --lsb-bits {args.lsb_bits} exceed the "
                       f"{DATA_W}-bit datapath")


def read_sentences(path: str | os.PathLike) -> list[tuple[int, str]]:
    """(line number, sentence) of a text file, one sentence per non-blank line; BadInput on
    a missing, unreadable, non-UTF-8 or empty file."""
    return numbered_lines(read_text(path))


def prune_config(args: argparse.Namespace) -> PruneConfig:
    """PruneConfig from the options of :func:`add_prune_arguments`."""
    return PruneConfig(
        token_keep=args.token_keep,
        head_keep=args.head_keep,
        value_keep=args.value_keep,
        msb_bits=args.msb_bits,
        lsb_bits=args.lsb_bits,
        requant_threshold=args.requant_threshold,
        prune_start_layer=args.prune_start,
        min_tokens=args.min_tokens,
        keep_special=args.keep_special,
    )


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


def _add_bench(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from spatten.bench_cli import add_bench_parser  # imports the simulator tooling lazily

    return add_bench_parser(sub)


def _add_eval_lm(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from spatten.eval_lm import add_eval_lm_parser

    return add_eval_lm_parser(sub)


COMMANDS: list[Callable[[argparse._SubParsersAction], argparse.ArgumentParser]] = [
    add_eval_parser,
    _add_run,
    _add_blocks,
    _add_bench,
    _add_eval_lm,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``spatten`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="spatten", description="Open SpAtten accelerator tools")
    one_line_errors(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
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

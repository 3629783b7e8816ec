"""Option groups and input readers shared by the ``spatten`` sub-commands: the pruning setting
(``eval``, ``run``, ``stsb``) and sentence files. The sub-command modules import this one, never
``spatten.cli`` (the entry point that imports them), so the CLI package has no import cycle."""

from __future__ import annotations

import argparse
import os

from golden.config import DEFAULT_PRUNE, PruneConfig
from spatten.args import (
    NON_NEGATIVE,
    POSITIVE,
    RATIO,
    THRESHOLD,
    BadInput,
    int_range,
    numbered_lines,
    read_text,
)


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

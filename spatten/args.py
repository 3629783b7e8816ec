"""Command-line input checks shared by the ``spatten`` sub-commands (issue 15): argparse types
that range-check a value, one-line parser errors, and text files read with a one-line error.

Every bad input ends in one line on stderr (``spatten <cmd>: error: ...``) and exit status 2,
never a traceback."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn


class BadInput(Exception):
    """Bad command-line input: reported on one line, exit status 2."""


def fail(prog: str, message: str) -> int:
    """Print the one-line error of ``prog``; the exit status 2 to return."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def one_line_errors(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``p.error`` print one line (no usage block) and exit with status 2."""

    def error(message: str) -> NoReturn:
        sys.exit(fail(p.prog, message))

    p.error = error  # type: ignore[method-assign]
    return p


def int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """argparse type: an integer in ``lo..hi`` (no upper bound when ``hi`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(
                f"must be >= {lo}: {value}" if hi is None else f"must be in {lo}..{hi}: {value}")
        return value

    return parse


def float_range(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False
                ) -> Callable[[str], float]:
    """argparse type: a finite float in the interval between ``lo`` and ``hi``."""
    span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        low_ok = value > lo if lo_open else value >= lo
        high_ok = value < hi if hi_open else value <= hi
        if not (math.isfinite(value) and low_ok and high_ok):
            raise argparse.ArgumentTypeError(f"must be in {span}: {text}")
        return value

    return parse


RATIO = float_range(0.0, 1.0, lo_open=True)  # keep ratios: (0, 1]
THRESHOLD = float_range(0.0, 1.0, hi_open=True)  # probability thresholds: [0, 1)
POSITIVE = int_range(1)  # counts
NON_NEGATIVE = int_range(0)
SEED = int_range(0, 2**31 - 1)


def read_text(path: str | Path, option: str = "--text") -> str:
    """The UTF-8 text of ``path``; BadInput (one line) when it is missing, unreadable, not
    UTF-8 or has no non-blank character."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(f"{option} {path} is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise BadInput(f"cannot read {option} {path}: {err.strerror or err}") from None
    if not text.strip():
        raise BadInput(f"{option} {path} is empty")
    return text


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, stripped line) of every non-blank line."""
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1) if line.strip()]

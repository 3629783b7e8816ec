"""Rows of numbers as lane-packed stream beats (``data`` + ``keep`` + ``last``).

A row of ``n`` values travels as ``ceil(n / lanes)`` beats; lane ``i`` of a beat sits in bits
``[i*width, (i+1)*width)`` of ``data`` (two's complement for signed values) and bit ``i`` of
``keep`` says whether the lane holds a value (lane packing: ``verif.lanes``). Used by the softmax testbench and reusable by any
block that streams rows LANES per beat (Q·K scores, probabilities, P·V inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from verif.lanes import pack_lanes, unpack_lanes
from verif.stream import Beat


def prefix_keeps(n: int, lanes: int) -> list[int]:
    """Keep masks of a dense row of ``n`` values: all lanes, then a partial last beat."""
    full = (1 << lanes) - 1
    beats = -(-n // lanes)
    keeps = [full] * beats
    if n % lanes:
        keeps[-1] = (1 << (n % lanes)) - 1
    return keeps


def row_to_beats(
    values: Sequence[int],
    lanes: int,
    width: int,
    keeps: Sequence[int] | None = None,
    extra: Beat | None = None,
) -> list[Beat]:
    """Beats carrying ``values`` in the kept lanes (in order); masked lanes hold 0.

    ``keeps`` defaults to :func:`prefix_keeps`; ``extra`` fields are copied into every beat."""
    keeps = list(keeps) if keeps is not None else prefix_keeps(len(values), lanes)
    if sum(bin(k).count("1") for k in keeps) != len(values):
        raise ValueError("keep masks do not hold exactly len(values) lanes")
    it = iter(values)
    beats = []
    for j, k in enumerate(keeps):
        lane_vals = [next(it) if (k >> i) & 1 else 0 for i in range(lanes)]
        beats.append(
            {
                "data": pack_lanes(lane_vals, width),
                "keep": k,
                "last": int(j == len(keeps) - 1),
                **(extra or {}),
            }
        )
    return beats


def beats_to_row(
    beats: Sequence[Beat], lanes: int, width: int, signed: bool = False
) -> tuple[np.ndarray, list[int]]:
    """(kept values in order as int64, keep mask of every beat)."""
    vals: list[int] = []
    keeps = []
    for b in beats:
        k = b["keep"]
        keeps.append(k)
        lane_vals = unpack_lanes(b["data"], lanes, width, signed)
        vals += [v for i, v in enumerate(lane_vals) if (k >> i) & 1]
    return np.asarray(vals, dtype=np.int64), keeps

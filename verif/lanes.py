"""Lane packing, the one helper of every testbench: fixed-width fields (lanes) into the wide
integers a stream beat carries, and back.

Field ``f`` of a beat occupies bits ``[f*width, (f+1)*width)`` (field 0 in the least
significant bits), two's complement kept modulo ``2^width``. That is the bit order of a packed
memory row (docs/memory.md), so a beat is a packed row and ``golden.blocks.pack_rows`` /
``unpack_rows`` do the work: the layout is defined once, in the golden model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from golden import blocks as blk


def pack(values: np.ndarray | Sequence[Sequence[int]], width: int) -> list[int]:
    """``values[n, F]`` (any integers; one row when 1-D) -> n beat integers of F fields."""
    v = np.asarray(values, dtype=np.int64)
    if v.ndim == 1:
        v = v[None, :]
    stride = blk.row_bytes(v.shape[1], width)
    data, _ = blk.pack_rows(v, width, stride)
    return [int.from_bytes(data[i * stride:(i + 1) * stride], "little") for i in range(len(v))]


def unpack(words: Sequence[int], fields: int, width: int, signed: bool = False) -> np.ndarray:
    """Beat integers -> ``[n, fields]`` int64 (sign-extended when ``signed``); bits above the
    last field are ignored."""
    stride = blk.row_bytes(fields, width)
    mask = (1 << (fields * width)) - 1
    data = b"".join((int(w) & mask).to_bytes(stride, "little") for w in words)
    return blk.unpack_rows(data, len(words), fields, width, signed, stride)


def pack_lanes(values: Sequence[int], width: int) -> int:
    """One beat: lane values (lane 0 in the least significant bits) -> one integer."""
    return pack(np.asarray(values, dtype=np.int64).reshape(1, -1), width)[0]


def unpack_lanes(word: int, lanes: int, width: int, signed: bool = False) -> list[int]:
    """Inverse of :func:`pack_lanes`: the ``lanes`` values of one beat."""
    return unpack([word], lanes, width, signed)[0].tolist()

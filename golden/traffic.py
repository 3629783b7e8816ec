"""DRAM traffic model shared by the float reference and the fixed-point model.

Classes of data (the accelerator's byte counters use the same names): Q read, K MSB plane,
K LSB plane (only for heads with a requantized row), V MSB plane (the union of the rows kept by
local value pruning over the head's queries: the value buffer is shared by a head's queries),
V LSB plane (never fetched: V has no progressive step), E written. Read planes are packed
rows moved in whole 32-byte beats, a beat shared by two rows of one fetch job read once
(``golden.blocks.fetch_bytes``); E rows are whole beats. The dense baseline is 16-bit Q, K, V,
E for every head and token, as in the official traces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from golden import fixed as fx
from golden.blocks import fetch_bytes, row_bytes, row_stride
from golden.codes import ByteClass
from golden.config import PruneConfig

BYTE_CLASSES = tuple(c.name for c in ByteClass if c <= ByteClass.E)  # Q .. E, in id order
DENSE_BITS = 16


def zero_bytes() -> dict[str, int]:
    return dict.fromkeys(BYTE_CLASSES, 0)


def add_head_bytes(nbytes: dict[str, int], cfg: PruneConfig, d: int, queries: int, keys: int,
                   lsb_fetched: bool, kept_v: Sequence[np.ndarray] | np.ndarray) -> None:
    """Add one live head's traffic: ``kept_v`` the V rows each query keeps, query by query."""
    nbytes["Q"] += q_bytes(queries, d)
    nbytes["K_MSB"] += fetch_bytes(keys, d, cfg.msb_bits)
    nbytes["K_LSB"] += fetch_bytes(keys if lsb_fetched else 0, d, cfg.lsb_bits)
    nbytes["V_MSB"] += v_bytes(kept_v, d, cfg.msb_bits)
    nbytes["E"] += e_bytes(queries, d)


def q_bytes(queries: int, d: int) -> int:
    """Q bytes of one head: each query's row is its own fetch job (no beat shared)."""
    return fetch_bytes(queries, d, fx.DATA_W, share=False)


def v_bytes(kept_v: Sequence[np.ndarray] | np.ndarray, d: int, bits: int) -> int:
    """V MSB bytes of one head: per query in order, one fetch job of the kept rows the value
    buffer does not hold yet, ascending; the buffer keeps every row fetched for the head."""
    have: set[int] = set()
    total = 0
    for row in kept_v:
        miss = sorted({int(j) for j in row if j >= 0} - have)
        total += fetch_bytes(miss, d, bits)
        have.update(miss)
    return total


def e_bytes(queries: int, d: int) -> int:
    """E bytes of one head: ``queries`` rows of whole beats."""
    return queries * row_stride(d, fx.E_W)


def dense_bytes(n_heads: int, d: int, queries: int, keys: int) -> dict[str, int]:
    """Dense baseline: Q, K, V, E at 16 bits for every head and token (2 D bytes a row)."""
    rows = {"Q": queries, "K": keys, "V": keys, "E": queries}
    return {name: n_heads * r * row_bytes(d, DENSE_BITS) for name, r in rows.items()}

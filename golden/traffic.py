"""DRAM traffic model shared by the float reference and the fixed-point model.

Classes of data (the accelerator's byte counters use the same names): Q read, K MSB plane,
K LSB plane (only for heads with a requantized row), V MSB plane (the union of the rows kept by
local value pruning over the head's queries: the value buffer is shared by a head's queries),
V LSB plane (never fetched: V has no progressive step), E written. Rows are whole 32-byte
beats (``golden.blocks.fetch_bytes``). The dense baseline is 16-bit Q, K, V, E for every head
and token, as in the official traces.
"""

from __future__ import annotations

import numpy as np

from golden import fixed as fx
from golden.blocks import fetch_bytes
from golden.codes import ByteClass
from golden.config import PruneConfig

BYTE_CLASSES = tuple(c.name for c in ByteClass if c <= ByteClass.E)  # Q .. E, in id order
DENSE_BITS = 16


def zero_bytes() -> dict[str, int]:
    return dict.fromkeys(BYTE_CLASSES, 0)


def add_head_bytes(nbytes: dict[str, int], cfg: PruneConfig, d: int, queries: int, keys: int,
                   lsb_fetched: bool, v_rows: np.ndarray | int) -> None:
    """Add one live head's traffic: ``v_rows`` are the distinct V rows fetched (or a count)."""
    nbytes["Q"] += fetch_bytes(queries, d, fx.DATA_W)
    nbytes["K_MSB"] += fetch_bytes(keys, d, cfg.msb_bits)
    nbytes["K_LSB"] += fetch_bytes(keys if lsb_fetched else 0, d, cfg.lsb_bits)
    nbytes["V_MSB"] += fetch_bytes(v_rows, d, cfg.msb_bits)
    nbytes["E"] += fetch_bytes(queries, d, fx.E_W)


def dense_bytes(n_heads: int, d: int, queries: int, keys: int) -> dict[str, int]:
    """Dense baseline: Q, K, V, E at 16 bits for every head and token."""
    rows = {"Q": queries, "K": keys, "V": keys, "E": queries}
    return {name: n_heads * fetch_bytes(r, d, DENSE_BITS) for name, r in rows.items()}

"""Pruning and quantization settings shared by the float reference, the fixed-point model,
the MiniLM evaluation and (later) the accelerator CSRs."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PruneConfig:
    """Settings of one SpAtten run (applied to every layer from ``prune_start_layer`` on).

    Ratios are fractions of the *live* count at that point (tokens live before the layer,
    heads live before the layer, tokens live in the layer for values); the kept count is
    ``max(1, floor(ratio * live))`` unless the ratio is 1.0 (keep all).
    """

    token_keep: float = 1.0  # fraction of live tokens kept before each pruned layer
    head_keep: float = 1.0  # fraction of live heads kept before each pruned layer
    value_keep: float = 1.0  # fraction of live tokens whose V rows each query fetches
    msb_bits: int = 12  # K/V bits fetched first (12 = full precision, no progressive step)
    lsb_bits: int = 0  # extra K bits fetched when the row is not confident
    requant_threshold: float = 0.0  # max probability below this -> fetch LSBs, recompute
    prune_start_layer: int = 0  # first layer whose token/head set is pruned

    @property
    def total_bits(self) -> int:
        return self.msb_bits + self.lsb_bits

    def to_dict(self) -> dict:
        return asdict(self)


DENSE = PruneConfig()


def kept_count(ratio: float, live: int) -> int:
    """Kept count for a keep ``ratio`` of ``live`` items: all when ratio >= 1, else
    ``max(1, floor(ratio * live))``; 0 when nothing is live."""
    if live <= 0:
        return 0
    if ratio >= 1.0:
        return live
    return max(1, int(ratio * live))


# Default SpAtten setting for all-MiniLM-L6-v2 (measured in docs/golden_model.md with
# `spatten eval --sweep`): 8-bit K/V and gentle cascade token pruning of the last two layers;
# 0.9839 mean cosine vs the dense float model (the bar is 0.98) at 1.38x less DRAM.
DEFAULT_PRUNE = PruneConfig(msb_bits=8, token_keep=0.95, prune_start_layer=4)

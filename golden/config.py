"""Pruning and quantization settings shared by the float reference, the fixed-point model,
the MiniLM evaluation and (later) the accelerator CSRs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where used: `spatten` pins the BLAS threads before
    import numpy as np  # numpy loads, and it imports this module first

# Slack of the keep-count rounding: a product ratio * live within this of an integer counts
# as that integer (0.7 * 10 is 7.000000000000001 in binary floating point).
ROUND_SLACK = 1e-9


@dataclass(frozen=True)
class PruneConfig:
    """Settings of one SpAtten run (applied to every layer from ``prune_start_layer`` on).

    Ratios are fractions of the *live* count at that point (tokens live before the layer,
    heads live before the layer, tokens live in the layer for values); the kept count is
    ``ceil(ratio * live)`` (:func:`kept_count`: an item is dropped only when the ratio asks
    for a whole item to go), at least 1. Token pruning never leaves fewer than
    ``min(min_tokens, live)`` tokens (:func:`token_keep_count`). With ``keep_special`` the
    first and last token of a summarization input ([CLS] and [SEP]) are never pruned: when the
    importance top-k misses one, it is appended to the kept list (:func:`with_special`).
    """

    token_keep: float = 1.0  # fraction of live tokens kept before each pruned layer
    head_keep: float = 1.0  # fraction of live heads kept before each pruned layer
    value_keep: float = 1.0  # fraction of live tokens whose V rows each query fetches
    msb_bits: int = 12  # K/V bits fetched first (12 = full precision, no progressive step)
    lsb_bits: int = 0  # extra K bits fetched when the row is not confident
    requant_threshold: float = 0.0  # max probability below this -> fetch LSBs, recompute
    prune_start_layer: int = 0  # first layer whose token/head set is pruned
    min_tokens: int = 1  # token pruning keeps at least min(min_tokens, live) tokens
    keep_special: bool = True  # summarization: [CLS] (first) and [SEP] (last) never pruned

    @property
    def total_bits(self) -> int:
        return self.msb_bits + self.lsb_bits

    def to_dict(self) -> dict:
        return asdict(self)


DENSE = PruneConfig()


def kept_count(ratio: float, live: int, minimum: int = 1) -> int:
    """Kept count for a keep ``ratio`` of ``live`` items: ``ceil(ratio * live)`` (up to
    :data:`ROUND_SLACK`), at least ``min(minimum, live)`` and at least 1, all when ratio >= 1;
    0 when nothing is live.

    Rounding up means an item is dropped only when the ratio asks for a whole one to go
    (``live - kept = floor((1 - ratio) * live)``): 0.95 of 4 tokens keeps all 4, whereas
    ``floor`` dropped one token whatever the ratio.
    """
    if live <= 0:
        return 0
    if ratio >= 1.0:
        return live
    wanted = math.ceil(ratio * live - ROUND_SLACK)
    return min(live, max(1, minimum, wanted))


def token_keep_count(cfg: PruneConfig, live: int) -> int:
    """Tokens the importance top-k keeps of ``live`` (TOKEN_KEEP): ratio and minimum."""
    return kept_count(cfg.token_keep, live, cfg.min_tokens)


def special_positions(cfg: PruneConfig, n: int) -> np.ndarray:
    """Positions of the special tokens of an ``n``-token summarization input that are never
    pruned: [CLS] (0) and [SEP] (n - 1) with ``keep_special``, else none."""
    import numpy as np

    if not cfg.keep_special or n <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.asarray([0, n - 1], dtype=np.int64))


def with_special(selected: np.ndarray, special: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kept list and the new special indexes after a token selection.

    ``selected``: indexes into the live list chosen by the importance top-k (ascending);
    ``special``: indexes of the live special tokens. The special tokens the top-k missed are
    appended (in live-list order), so they stay live. Their importance restarts at 0: this
    is what the accelerator does when the host passes more tokens than it kept (N above
    KEPT_TOKENS appends positions with importance 0), so the rule needs no RTL change.
    Returns (kept list, indexes of the special tokens in it).
    """
    import numpy as np

    selected = np.asarray(selected, dtype=np.int64)
    special = np.asarray(special, dtype=np.int64)
    keep = np.concatenate([selected, special[~np.isin(special, selected)]])
    return keep, np.flatnonzero(np.isin(keep, special))


# Default SpAtten setting for all-MiniLM-L6-v2, chosen by the task metric (docs/golden_model.md,
# `spatten eval --task sts-b --sweep`, golden.stsb.RULE / best_setting): the largest DRAM
# reduction among the settings whose STS-B dev Spearman is within 0.005 of dense and whose
# embedding cosine on real text with one-word lines (golden.eval.short_line_text) is
# min >= 0.95, mean >= 0.98 per sentence; the `best` of docs/stsb_eval.json (tested). 8-bit
# K/V and cascade token pruning of 5 % of the live tokens before layers 3, 4 and 5, never
# below 8 tokens, [CLS] and [SEP] always kept.
DEFAULT_PRUNE = PruneConfig(msb_bits=8, token_keep=0.95, prune_start_layer=3, min_tokens=8)

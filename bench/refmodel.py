"""Cycle formula of the official SpAtten behaviour model, reimplemented for GPT-2 traces.

    .venv/bin/python -m bench.refmodel [TRACE.csv] [--channels 16] [--steps 0,1,31]

The official ``bert.cpp`` (spec REFERENCE_NOTES.md §2.11) costs a layer as
``DRAM + Fill + Drain + TopK`` with no overlap. It was written for BERT (one request = all
queries of a head); the GPT-2 traces have one request per (step, layer, head) with one query,
separate key / value counts (local V pruning) and a per-head requant flag. We need the
reference's cycles on exactly the rows our RTL runs, so this module applies the same formula
per trace row (``ref_row_cycles``) and per layer (``ref_layer_cycles``):

* parallelism ``p = multipliers / D`` keys per cycle (512 / 64 = 8); ``b_k = ceil(keys / p)``,
  ``b_v = ceil(values / p)``;
* DRAM: one 32-byte transaction per cycle per channel, bytes rounded up to whole key lines:
  ``ceil(b_k·p·D·kbits/8/32/ch) + [requant] ceil(b_k·p·D·lsb/8/32/ch) + ceil(b_v·p·D·vbits/8/32/ch)``
  with the trace's bits (6-bit MSB, +4 LSB on requant; ``-1`` = unquantized = the reference
  datapath width, 12 bits, as TestSpAtten's 8 + 4);
* Fill: ``queries · b_k`` per pass over the keys (1 query per row in generation; a requant
  row makes a second pass);
* TopK for local V pruning (when values < keys): the reference top-k latency model
  ``golden.topk.topk_reference_cycles`` at parallelism 16 (fill ceil(n/16), quick-select passes
  ceil(m/16) + 3, final pass, drain), pass sizes from quick-select on seeded random scores
  (the reference's TopKLatencyModel also draws random data);
* per layer: Drain ``(1+1+9) + (7+21+23+29+7+b_k) + 1 + 1 + (1+1+1)`` once (last head), and
  a token top-k (the same latency model, n = keys, k = min(topk, keys)) when a row of the
  layer has ``if_topk``.

bert.cpp rounds 6-bit values up to 8 bits and ignores value counts and requant; we keep the
trace's numbers instead (6-bit keys are fetched as 6-bit fused pairs by the reference RTL),
which makes the reference faster, not slower.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden.topk import quickselect_passes, topk_reference_cycles
from golden.traces import GPT2_PRUNED, UNQUANTIZED, TraceRow, read_trace

AXI_BYTES = 32
DRAIN_FIXED = (1 + 1 + 9) + (7 + 21 + 23 + 29 + 7) + 1 + 1 + (1 + 1 + 1)
FULL_BITS = 12  # reference datapath width (widthQuantValue)


@dataclass(frozen=True)
class RefParams:
    """Design point of the reference (paper: 16 HBM channels, 512 multipliers, top-k P = 16)."""

    channels: int = 16
    multipliers: int = 512
    topk_parallelism: int = 16
    queries: int = 1  # per request: generation traces have one query per row


def bits_of(bits: int) -> int:
    """Trace bit column -> fetched bits (unquantized = the 12-bit datapath)."""
    return FULL_BITS if bits == UNQUANTIZED else int(bits)


def dram_txn(lines: int, keys_per_line: int, d: int, bits: int, channels: int) -> int:
    """Cycles to move ``lines`` key lines at one 32-byte transaction per cycle per channel."""
    nbytes = lines * keys_per_line * d * bits / 8
    return math.ceil(nbytes / AXI_BYTES / channels)


def topk_latency(n: int, k: int, p: int, seed: int) -> int:
    """Reference top-k latency for keeping k of n random scores (0 when nothing is pruned)."""
    if k >= n or k <= 0:
        return 0
    scores = np.random.default_rng(seed).integers(0, 1 << 16, n)
    passes = quickselect_passes(scores, k, p, "middle").pass_sizes
    return topk_reference_cycles(n, k, p, passes)


def row_seed(row: TraceRow, salt: int) -> int:
    return hash((row.iteration_id, row.layer_id, row.head_id, salt)) & 0x7FFFFFFF


def ref_row_parts(row: TraceRow, prm: RefParams, seed: int = 0) -> dict[str, int]:
    """DRAM, Fill and local-V TopK cycles of one request (one row)."""
    d = int(row.embedding_length_D)
    p = max(1, prm.multipliers // d)
    b_k = math.ceil(row.key_fetch_num / p)
    b_v = math.ceil(row.value_fetch_num / p)
    kbits, vbits = bits_of(row.quant_key_bit), bits_of(row.quant_value_bit)
    requant = bool(row.if_requant) and row.auto_requant_incre > 0
    dram = dram_txn(b_k, p, d, kbits, prm.channels) + dram_txn(b_v, p, d, vbits, prm.channels)
    if requant:
        dram += dram_txn(b_k, p, d, row.auto_requant_incre, prm.channels)
    fill = prm.queries * b_k * (2 if requant else 1)
    topk = topk_latency(row.key_fetch_num, row.value_fetch_num, prm.topk_parallelism,
                        row_seed(row, seed))
    return {"dram": dram, "fill": fill, "topk": topk}


def ref_layer_parts(rows: Sequence[TraceRow], prm: RefParams, seed: int = 0) -> dict[str, int]:
    """Cycle parts of one layer (all rows of one step and layer): no overlap, as bert.cpp."""
    parts = {"dram": 0, "fill": 0, "topk": 0, "drain": 0}
    for row in rows:
        for key, val in ref_row_parts(row, prm, seed).items():
            parts[key] += val
    last = rows[-1]
    p = max(1, prm.multipliers // int(last.embedding_length_D))
    parts["drain"] = DRAIN_FIXED + math.ceil(last.key_fetch_num / p)
    for row in rows:
        if row.if_topk:
            k = min(row.topk, row.key_fetch_num)
            parts["topk"] += topk_latency(row.key_fetch_num, k, prm.topk_parallelism,
                                          row_seed(row, seed + 1))
    parts["total"] = sum(parts.values())
    return parts


def ref_layer_cycles(rows: Sequence[TraceRow], prm: RefParams, seed: int = 0) -> int:
    return ref_layer_parts(rows, prm, seed)["total"]


def group_layers(rows: Iterable[TraceRow]) -> dict[tuple[int, int], list[TraceRow]]:
    """Rows grouped by (iteration, layer), in trace order."""
    groups: dict[tuple[int, int], list[TraceRow]] = {}
    for row in rows:
        groups.setdefault((row.iteration_id, row.layer_id), []).append(row)
    return groups


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.refmodel", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", nargs="?",
                    default=str(GPT2_PRUNED))
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--multipliers", type=int, default=512)
    ap.add_argument("--steps", help="comma-separated iterations (default: all)")
    args = ap.parse_args(argv)
    prm = RefParams(channels=args.channels, multipliers=args.multipliers)
    steps = {int(s) for s in args.steps.split(",")} if args.steps else None
    total = 0
    for (it, layer), rows in group_layers(read_trace(Path(args.trace)).rows).items():
        if steps is None or it in steps:
            parts = ref_layer_parts(rows, prm)
            total += parts["total"]
            print(f"step {it:2d} layer {layer:2d}: {parts}")
    print(f"total reference cycles: {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The official SpAtten behaviour model ``bert.cpp``, re-implemented for GPT-2 traces.

    .venv/bin/python -m bench.refmodel [TRACE.csv] [--channels 16] [--multipliers 512]
                                       [--size-ze 16] [--steps 0,16,31] [--dense]

``bert.cpp`` (``spatten_hardware/simulator/src/bert.cpp`` of the official repository, spec
REFERENCE_MODEL.md §1) costs each layer as ``DRAM + Fill + Drain + TopK`` with no overlap.
This module computes exactly what it computes, term by term, on the rows of an
official-format trace:

* row mapping (one bert.cpp profile per trace row): ``key_fetch_num`` is bert.cpp's
  ``key_value_query_fetch_num`` (keys AND values: there is no value count, local V pruning
  is not modelled), ``sentence_length_L`` = 1 (one query per decode row; the trace's L is
  the cache length), ``if_requant`` / ``auto_requant_*`` / the importance flags ignored;
* bit widths (:func:`bert_bits`): 6, anything above 8 and -1 (unquantized: ``std::stoi``
  into a ``size_t``, i.e. huge) become 8;
* parallelism ``p = multipliers // D``; batch ``b = ceil(fetch / p)``;
* DRAM (:func:`dram_cycles`) = sum over the layer's rows of ``ceil(kT / ch) + ceil(vT / ch)``,
  ``kT = floor(b·p·D·kbits / 8 / 32)`` 32-byte transactions (integer division);
* Fill = sum over rows of ``L · b``;
* Drain = once per layer, from its LAST row: ``(1+1+9) + (7+21+23+29+7+b) + 1 + 1 + (1+1+1)``;
* TopK (:func:`topk_cycles`), only on ``if_topk`` rows: ``b`` + the quick-select passes
  ``floor(m / sizeZE) + 3 + 1`` each + ``ceil(topk / p)``, on ``fetch`` random scores drawn
  from ``std::mt19937`` seeded 0, 1, ... per top-k row of the layer
  (``std::uniform_int_distribution<int>`` over [0, INT_MAX]) and pivot indices drawn from
  ``uniform_int_distribution<int>(0, m)`` -- INCLUSIVE, as bert.cpp, with its inverted
  recursion and unsigned ``K``. :class:`MT19937` and :func:`uniform_int` re-implement
  std::mt19937 (init_genrand seeding) and libstdc++'s (GCC 11+) uniform_int_distribution
  (Lemire's nearly-divisionless method, 64-bit product, for a 32-bit generator).

Rows are grouped into layers as bert.cpp does, by consecutive runs of the same layer (here
the same ``(iteration_id, layer_id)``: one bert.cpp input per decode step).

The one thing that cannot be reproduced is bert.cpp's undefined behaviour: when the pivot
index equals ``m`` it reads ``seq[m]``, one past the vector's last element, whatever the heap
holds there. We take that value as below every score (:data:`PAST_END_PIVOT`): heap words
there are mostly zeroed or fresh memory, malloc size fields or pointer halves (all far below
scores uniform in [0, 2^31)), so that pass ends the quick-select (the left part is empty).
Against the unmodified binary on the pruned GPT-2 small trace, steps 0/16/31, 16 channels,
512 multipliers, sizeZE 16 (spec figures; tests/test_refmodel.py): DRAM 54,624, Fill 27,312
and Drain 5,984 exact; TopK 1,588 vs 1,610 (steps 0 and 31 exact, step 16 -22 cycles, in the
one row whose past-the-end read decides the outcome); total 89,508 vs 89,530 (-0.025 %).
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden.traces import GPT2_PRUNED, TraceRow, densify, read_trace

AXI_BYTES = 32  # bert.cpp: one 32-byte transaction per channel per cycle
WIDE_BITS = 8  # bert.cpp's width for 6-bit, > 8-bit and unquantized (-1) vectors
DRAIN_FIXED = (1 + 1 + 9) + (7 + 21 + 23 + 29 + 7) + 1 + 1 + (1 + 1 + 1)  # + b
TOPK_PASS_FIXED = 1 + 1 + 1 + 1  # comparators, zero eliminator, FIFO, stateAfterRun
INT_MAX = 2**31 - 1
PAST_END_PIVOT = -1  # value read at seq[m] (undefined in bert.cpp): below every score
TERMS = ("dram", "fill", "drain", "topk")

_M32 = 0xFFFFFFFF
_SIZE_T = 2**64  # bert.cpp's K is a size_t: it wraps when the wrong side is taken


@dataclass(frozen=True)
class BertCppParams:
    """bert.cpp's arguments (numDRAMChannels, numMultipliers, sizeZE) and the L it is given."""

    channels: int = 16
    multipliers: int = 512
    size_ze: int = 16
    queries: int = 1  # sentence_length_L of every row: one query per decode row


@dataclass(frozen=True)
class Profile:
    """bert.cpp's ``SimProfile`` of one trace row."""

    d: int
    queries: int
    fetch: int
    key_bits: int
    value_bits: int
    topk: bool
    topk_num: int


# ================================================================ std::mt19937 ================
class MT19937:
    """``std::mt19937``: the 32-bit Mersenne Twister (MT19937 of Matsumoto and Nishimura),
    seeded with init_genrand as ``std::mt19937 gen(seed)`` (default seed 5489)."""

    N, M = 624, 397
    MATRIX_A, UPPER, LOWER = 0x9908B0DF, 0x80000000, 0x7FFFFFFF

    def __init__(self, seed: int = 5489) -> None:
        mt = [seed & _M32]
        for i in range(1, self.N):
            mt.append((1812433253 * (mt[-1] ^ (mt[-1] >> 30)) + i) & _M32)
        self.mt = mt
        self.index = self.N

    def _twist(self) -> None:
        mt, n, m = self.mt, self.N, self.M
        for i in range(n):
            y = (mt[i] & self.UPPER) | (mt[(i + 1) % n] & self.LOWER)
            mt[i] = mt[(i + m) % n] ^ (y >> 1) ^ (self.MATRIX_A if y & 1 else 0)
        self.index = 0

    def __call__(self) -> int:
        if self.index >= self.N:
            self._twist()
        y = self.mt[self.index]
        self.index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        return y ^ (y >> 18)


def uniform_int(gen: MT19937, a: int, b: int) -> int:
    """libstdc++'s ``std::uniform_int_distribution<int>(a, b)(gen)`` for a 32-bit generator
    and b - a < 2^32 - 1: Lemire's method, ``product = g() * range`` in 64 bits, rejecting
    while the low 32 bits fall below ``2^32 mod range``; the value is the high 32 bits."""
    erange = b - a + 1
    if not 0 < erange < 2**32:
        raise ValueError(f"uniform_int: range [{a}, {b}] not supported")
    product = gen() * erange
    if product & _M32 < erange:
        threshold = (2**32 - erange) % erange
        while product & _M32 < threshold:
            product = gen() * erange
    return a + (product >> 32)


# ================================================================ one profile =================
def bert_bits(bits: int) -> int:
    """bert.cpp's width rule: 6, anything above 8, and -1 (a huge size_t) become 8."""
    return WIDE_BITS if bits == 6 or bits > WIDE_BITS or bits < 0 else bits


def profile_of(row: TraceRow, prm: BertCppParams) -> Profile:
    return Profile(d=int(row.embedding_length_D), queries=prm.queries, fetch=row.key_fetch_num,
                   key_bits=bert_bits(row.quant_key_bit),
                   value_bits=bert_bits(row.quant_value_bit), topk=row.if_topk,
                   topk_num=row.topk)


def parallelism(prof: Profile, prm: BertCppParams) -> int:
    p = prm.multipliers // prof.d
    if p < 1:
        raise ValueError(f"{prm.multipliers} multipliers < D = {prof.d}")
    return p


def batch(prof: Profile, prm: BertCppParams) -> int:
    return math.ceil(prof.fetch / parallelism(prof, prm))


def transactions(prof: Profile, prm: BertCppParams, bits: int) -> int:
    """32-byte transactions of one vector class (integer division, as bert.cpp)."""
    return batch(prof, prm) * parallelism(prof, prm) * prof.d * bits // 8 // AXI_BYTES


def dram_cycles(prof: Profile, prm: BertCppParams) -> int:
    """Keys then values, each spread over the channels at one transaction per cycle."""
    return sum(math.ceil(transactions(prof, prm, bits) / prm.channels)
               for bits in (prof.key_bits, prof.value_bits))


def fill_cycles(prof: Profile, prm: BertCppParams) -> int:
    return prof.queries * batch(prof, prm)


def drain_cycles(prof: Profile, prm: BertCppParams) -> int:
    return DRAIN_FIXED + batch(prof, prm)


def quickselect_pass_sizes(scores: np.ndarray, k: int, gen: MT19937) -> list[int]:
    """Sizes m of bert.cpp's quick-select passes, its loop as it is: pivot index in [0, m]
    (seq[m] is :data:`PAST_END_PIVOT`), recursion into the left part while it holds fewer
    than K elements, into the right part (K reduced, wrapping like a size_t) otherwise."""
    seq, sizes = scores, []
    while seq.size:
        sizes.append(seq.size)
        idx = uniform_int(gen, 0, seq.size)
        pivot = seq[idx] if idx < seq.size else PAST_END_PIVOT
        left = seq[seq < pivot]
        n_equal = int(np.count_nonzero(seq == pivot))
        if left.size < k:
            if left.size + n_equal >= k:
                break
            seq = left
        else:
            seq = seq[seq > pivot]
            k = (k - left.size - n_equal) % _SIZE_T
    return sizes


def topk_cycles(prof: Profile, prm: BertCppParams, seed: int) -> int:
    """bert.cpp's ``simTopK``: fill ``b``, the quick-select passes, drain ``ceil(topk / p)``."""
    gen = MT19937(seed)
    scores = np.array([uniform_int(gen, 0, INT_MAX) for _ in range(prof.fetch)], dtype=np.int64)
    sizes = quickselect_pass_sizes(scores, prof.topk_num % _SIZE_T, gen)
    passes = sum(m // prm.size_ze + TOPK_PASS_FIXED for m in sizes)
    p = parallelism(prof, prm)
    return batch(prof, prm) + passes + (prof.topk_num + p - 1) // p


# ================================================================ layers, traces ==============
def bert_cpp_layer_parts(rows: Sequence[TraceRow], prm: BertCppParams) -> dict[str, int]:
    """bert.cpp's ``run`` on the rows of one layer: the four terms and their sum."""
    if not rows:
        raise ValueError("bert.cpp: a layer without rows")
    profs = [profile_of(r, prm) for r in rows]
    topk_profs = [p for p in profs if p.topk]
    parts = {
        "dram": sum(dram_cycles(p, prm) for p in profs),
        "fill": sum(fill_cycles(p, prm) for p in profs),
        "drain": drain_cycles(profs[-1], prm),
        "topk": sum(topk_cycles(p, prm, seed) for seed, p in enumerate(topk_profs)),
    }
    parts["total"] = sum(parts.values())
    return parts


def bert_cpp_layers(rows: Iterable[TraceRow]) -> Iterator[list[TraceRow]]:
    """bert.cpp's layers: consecutive rows of the same (iteration, layer), in trace order."""
    for _, group in itertools.groupby(rows, key=lambda r: (r.iteration_id, r.layer_id)):
        yield list(group)


def add_parts(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    total = dict.fromkeys((*TERMS, "total"), 0)
    for part in parts:
        for key in total:
            total[key] += part[key]
    return total


def bert_cpp_cycles(rows: Iterable[TraceRow], channels: int = 16, multipliers: int = 512,
                    size_ze: int = 16) -> dict[str, int]:
    """bert.cpp's cycles on trace rows (any number of steps and layers): the four terms
    summed over the layers, and ``total``. For a dense twin pass its rows
    (``golden.traces.densify``)."""
    prm = BertCppParams(channels=channels, multipliers=multipliers, size_ze=size_ze)
    return add_parts(bert_cpp_layer_parts(layer, prm) for layer in bert_cpp_layers(rows))


# ================================================================ CLI =========================
def parse_steps(text: str | None) -> set[int] | None:
    if text is None:
        return None
    try:
        return {int(s) for s in text.split(",")}
    except ValueError:
        raise ValueError(f"--steps {text!r}: expected comma-separated integers") from None


def selected_rows(path: str, steps: set[int] | None, dense: bool) -> list[TraceRow]:
    rows = [r for r in read_trace(Path(path)).rows if steps is None or r.iteration_id in steps]
    if not rows:
        raise ValueError(f"{path}: no rows" + (f" for steps {sorted(steps)}" if steps else ""))
    if dense:
        rows = densify(rows)
    return rows


def report_lines(rows: Sequence[TraceRow], prm: BertCppParams) -> list[str]:
    """One line per layer (bert.cpp prints ``layer<TAB>cycles``), per step, and the sum."""
    lines, steps = [], {}
    for layer in bert_cpp_layers(rows):
        parts = bert_cpp_layer_parts(layer, prm)
        it = layer[0].iteration_id
        steps.setdefault(it, []).append(parts)
        lines.append(f"step {it:3d} layer {layer[0].layer_id:3d}: {parts}")
    for it, parts in steps.items():
        lines.append(f"step {it:3d}: {add_parts(parts)}")
    lines.append(f"bert.cpp total: {add_parts(p for v in steps.values() for p in v)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.refmodel", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", nargs="?", default=str(GPT2_PRUNED))
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--multipliers", type=int, default=512)
    ap.add_argument("--size-ze", type=int, default=16, help="top-k parallelism (sizeZE)")
    ap.add_argument("--steps", help="comma-separated iterations (default: all)")
    ap.add_argument("--dense", action="store_true", help="the trace's dense twin")
    args = ap.parse_args(argv)
    try:
        if min(args.channels, args.multipliers, args.size_ze) < 1:
            raise ValueError("--channels, --multipliers and --size-ze must be >= 1")
        prm = BertCppParams(args.channels, args.multipliers, args.size_ze)
        rows = selected_rows(args.trace, parse_steps(args.steps), args.dense)
        print("\n".join(report_lines(rows, prm)))
    except (OSError, ValueError) as err:
        print(f"bench.refmodel: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

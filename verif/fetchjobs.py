"""Fetch jobs of the memory-system testbenches (kv_fetcher, kv_fetch_array): a tensor, its
precision, an index list, and the golden rows and bytes the fetcher must deliver for it.

MSB-only jobs read packed rows (``golden.blocks.row_bytes``, optionally a wider stride and a
byte offset of the plane); two-plane jobs whole-beat rows (``pack_planes(aligned=True)``)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from golden import fixed as fx
from golden.blocks import fetch_bytes, pack_planes, pack_rows, row_bytes, row_group, unpack_planes

DW = fx.DATA_W


@dataclass
class Job:
    name: str
    pattern: str
    x12: np.ndarray  # [n, D] int values of the whole tensor
    m: int
    l: int  # noqa: E741 (the spec's name)
    lsb_en: bool
    cls_m: int
    cls_l: int
    idx: list[int]
    mbase: int = 0
    lbase: int = 0
    images: tuple[bytes, bytes, int, int] = (b"", b"", 0, 0)
    err_rows: set[int] = field(default_factory=set)  # rows with a beat in an error range
    # the packet ends with an end marker (in_empty = in_last = 1) after its indexes, as
    # kv_fetch_array sends it: the last row then has no last flag, the marker's beat has it
    end_marker: bool = False

    @property
    def d(self) -> int:
        return self.x12.shape[1]

    @property
    def l_eff(self) -> int:
        return self.l if self.lsb_en else 0

    @property
    def mstride(self) -> int:
        return self.images[2]

    def pack(self, extra_stride: int = 0) -> None:
        """Build the memory image: packed MSB rows (``extra_stride`` bytes between rows) for an
        MSB-only job, whole-beat planes for a two-plane job."""
        if self.lsb_en:
            self.images = pack_planes(self.x12, self.m, self.l, aligned=True)
            return
        data, stride = pack_rows(fx.split_planes(self.x12, self.m, 0)[0], self.m,
                                 row_bytes(self.d, self.m) + extra_stride)
        self.images = (data, b"", stride, 0)

    def row_span(self, j: int) -> tuple[int, int]:
        """Byte range [lo, hi) of MSB row ``j``."""
        lo = self.mbase + j * self.mstride
        return lo, lo + row_bytes(self.d, self.m)

    def golden_bytes(self, lane_of: Callable[[int], int] | None = None) -> dict[int, int]:
        """Bytes per class the index list needs (golden fetch_bytes). ``lane_of`` (fetch array)
        maps a row to its kv_fetcher; each fetcher shares beats only within its own list."""
        want = dict.fromkeys(range(8), 0)
        share = not self.lsb_en
        lists: dict[int, list[int]] = {}
        for j in self.idx:
            lists.setdefault(lane_of(j) if lane_of else 0, []).append(j)
        for idx in lists.values():
            want[self.cls_m] += fetch_bytes(idx, self.d, self.m, self.mstride, self.mbase, share)
            if self.l_eff:
                want[self.cls_l] += fetch_bytes(idx, self.d, self.l_eff, self.images[3],
                                                self.lbase, share=False)
        return want

    def group_start(self, j: int) -> int:
        """Byte address of the first row of row ``j``'s beat-aligned group (fetch array)."""
        p = row_group(self.mstride)
        return self.mbase + (j - j % p) * self.mstride

    def rows_touching(self, lo: int, hi: int) -> set[int]:
        """Rows with a byte in a beat that overlaps [lo, hi) (an error range)."""
        blo, bhi = lo // 32, (hi - 1) // 32
        out = set()
        for j in range(self.x12.shape[0]):
            a, b = self.row_span(j)
            if a // 32 <= bhi and (b - 1) // 32 >= blo:
                out.add(j)
        return out


def pack_values(vals: np.ndarray) -> int:
    out = 0
    for i, v in enumerate(vals.tolist()):
        out |= (int(v) & 0xFFF) << (DW * i)
    return out


def golden_rows(job: Job) -> list[dict]:
    """Expected output beats, from the golden unpacking of the job's memory image."""
    if not job.idx:
        return [{"data": 0, "known_bits": 0, "idx": 0, "empty": 1, "err": 0, "last": 1}]
    msb_b, lsb_b, sm, sl = job.images
    n = job.x12.shape[0]
    msb, lsb = unpack_planes(msb_b, lsb_b, n, job.d, job.m, job.l_eff, (sm, sl))
    if job.l_eff:
        vals = fx.join_planes(msb, lsb, job.m, job.l)
    else:
        vals = fx.join_planes(msb, np.zeros_like(msb), job.m, 0)
    # The golden image must round-trip: unpacked planes == reconstruct of the tensor.
    assert np.array_equal(vals, fx.reconstruct(job.x12, job.m + job.l_eff))
    beats, err = [], 0
    for k, j in enumerate(job.idx):
        err |= int(j in job.err_rows)
        beats.append({"data": pack_values(vals[j]), "known_bits": job.m + job.l_eff, "idx": j,
                      "empty": 0, "err": err, "last": int(k == len(job.idx) - 1)})
    if job.end_marker:
        beats[-1]["last"] = 0
        beats.append({"data": 0, "known_bits": 0, "idx": 0, "empty": 1, "err": err, "last": 1})
    return beats


def make_indexes(pattern: str, n: int, rng: random.Random) -> list[int]:
    if pattern == "empty":
        return []
    if pattern == "single":
        return [rng.randrange(n)]
    if pattern == "sequential":
        start = rng.randrange(n // 4)
        return list(range(start, start + rng.randint(n // 2, n - start)))
    if pattern == "sparse":  # sorted, mostly non-adjacent (token pruning keeps order)
        return sorted(rng.sample(range(n), max(2, n // 6)))
    if pattern == "runs":  # sorted runs of consecutive tokens with gaps
        out, j = [], rng.randrange(4)
        while j < n:
            run = rng.randint(1, 12)
            out += range(j, min(n, j + run))
            j += run + rng.randint(1, 6)
        return out
    if pattern == "random":  # any order, repeats allowed (local-V top-k over queries)
        return [rng.randrange(n) for _ in range(rng.randint(1, n))]
    if pattern == "max_n":
        return list(range(n))
    raise ValueError(pattern)

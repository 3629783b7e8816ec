"""Vector beats: pack rows of fixed-width fields into the wide integers a stream beat carries,
and back, with numpy (no per-field Python loop); plus small pyuvm helpers of the compute-core
benches (item-list sequences, a per-cycle handshake observer with stall/gap bins).

Field ``f`` of a beat occupies bits ``[f*width, (f+1)*width)`` of the beat's integer (field 0
in the least significant bits), two's complement kept modulo ``2^width`` — the layout of every
vector port of the compute core (docs/compute_core.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import gcd

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge
from pyuvm import uvm_component, uvm_sequence

from verif.uvm import CoverageError, StreamItem, export_bins


def _group(width: int) -> int:
    """Fields per byte-aligned group (0 when the group would not fit 64 bits)."""
    g = 8 // gcd(width, 8)
    return g if g * width <= 64 else 0


def pack(values: np.ndarray, width: int) -> list[int]:
    """``values[n, F]`` (any integers) -> n beat integers of F ``width``-bit fields."""
    v = np.asarray(values, dtype=np.int64)
    if v.ndim == 1:
        v = v[None, :]
    n, f = v.shape
    if n == 0:
        return []
    g = _group(width)
    if g:
        gb = g * width // 8  # bytes per group
        ng = -(-f // g)
        u = np.zeros((n, ng * g), dtype=np.uint64)
        u[:, :f] = (v & ((1 << width) - 1)).astype(np.uint64)
        u = u.reshape(n, ng, g)
        comb = np.zeros((n, ng), dtype=np.uint64)
        for j in range(g):
            comb |= u[:, :, j] << np.uint64(j * width)
        raw = comb.astype("<u8").view(np.uint8).reshape(n, ng, 8)[:, :, :gb].tobytes()
        step = ng * gb
    else:
        bits = ((v[..., None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8)
        bits = bits.reshape(n, f * width)
        pad = -(f * width) % 8
        if pad:
            bits = np.concatenate([bits, np.zeros((n, pad), dtype=np.uint8)], axis=1)
        raw = np.packbits(bits, axis=1, bitorder="little").tobytes()
        step = (f * width + pad) // 8
    return [int.from_bytes(raw[i * step:(i + 1) * step], "little") for i in range(n)]


def unpack(words: Sequence[int], fields: int, width: int, signed: bool) -> np.ndarray:
    """Beat integers -> ``[n, fields]`` int64 (sign-extended when ``signed``)."""
    n = len(words)
    g = _group(width)
    if g:
        gb = g * width // 8
        ng = -(-fields // g)
        raw = b"".join(int(w).to_bytes(ng * gb, "little") for w in words)
        b8 = np.zeros((n, ng, 8), dtype=np.uint8)
        b8[:, :, :gb] = np.frombuffer(raw, dtype=np.uint8).reshape(n, ng, gb)
        comb = b8.view("<u8").reshape(n, ng)
        m = np.uint64((1 << width) - 1)
        parts = [(comb >> np.uint64(j * width)) & m for j in range(g)]
        vals = np.stack(parts, axis=-1).reshape(n, ng * g)[:, :fields].astype(np.int64)
    else:
        nbytes = -(-fields * width // 8)
        raw = b"".join(int(w).to_bytes(nbytes, "little") for w in words)
        bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8).reshape(n, nbytes), axis=1,
                             bitorder="little")[:, : fields * width]
        weights = np.left_shift(np.int64(1), np.arange(width, dtype=np.int64))
        vals = (bits.reshape(n, fields, width).astype(np.int64) * weights).sum(axis=-1)
    if signed:
        vals = np.where(vals >= (1 << (width - 1)), vals - (1 << width), vals)
    return vals


def pack_mask(mask: np.ndarray) -> list[int]:
    """Boolean ``mask[n, F]`` -> n integers with bit f set where ``mask[i, f]``."""
    return pack(np.asarray(mask, dtype=np.int64), 1)


def unpack_mask(words: Sequence[int], fields: int) -> np.ndarray:
    return unpack(words, fields, 1, signed=False).astype(bool)


# ============================================================ pyuvm helpers for vector benches

class ItemSequence(uvm_sequence):
    """Sends a prepared list of items, in order."""

    def __init__(self, name: str, items: Sequence[StreamItem]) -> None:
        super().__init__(name)
        self.items = items

    async def body(self) -> None:
        for item in self.items:
            await self.start_item(item)
            await self.finish_item(item)


async def send_all(pairs: Sequence[tuple[object, Sequence[StreamItem]]]) -> None:
    """Run one :class:`ItemSequence` per (sequencer, items) pair concurrently; wait for all."""
    tasks = [cocotb.start_soon(ItemSequence(f"seq{i}", items).start(seqr))
             for i, (seqr, items) in enumerate(pairs)]
    for t in tasks:
        await t


class HandshakeObserver(uvm_component):
    """Per-cycle view of some valid/ready(/last) streams of the DUT.

    Bins per stream prefix ``p``: ``p_stall`` (valid while ready is low: backpressure or a
    DUT stall) and, for streams with ``last``, ``p_gap`` (valid low in the middle of a packet:
    source idle). The test names
    the bins it promises in ``required`` (a miss raises CoverageError). With ``record`` set it
    also keeps, per stream, the cycle of every packet's first and last accepted beat (one shared
    cycle counter, so latencies across streams are exact)."""

    streams: Sequence[tuple[str, bool]] = ()  # (prefix, has_last)
    required: Sequence[str] = ()
    record: bool = False
    enabled: bool = True  # False: no per-cycle work at all (long regressions)

    def build_phase(self) -> None:
        # a stream without last has one-beat packets: no gap inside a packet to count
        self.hits = {f"{p}_{k}": 0 for p, has_last in self.streams
                     for k in (("stall", "gap") if has_last else ("stall",))}
        self.starts: dict[str, list[int]] = {p: [] for p, _ in self.streams}
        self.ends: dict[str, list[int]] = {p: [] for p, _ in self.streams}
        self.cycle = 0

    async def run_phase(self) -> None:
        if not self.enabled:
            return
        dut = cocotb.top
        ports = [(p, getattr(dut, f"{p}_valid"), getattr(dut, f"{p}_ready"),
                  getattr(dut, f"{p}_last") if has_last else None) for p, has_last in self.streams]
        in_pkt = dict.fromkeys(self.starts, False)
        hits, rst = self.hits, dut.rst_n
        while True:
            await RisingEdge(dut.clk)
            self.cycle += 1
            if not rst.value:
                continue
            for p, valid, ready, last in ports:
                v = bool(valid.value)
                if not v:
                    if in_pkt[p]:
                        hits[p + "_gap"] += 1
                    continue
                if not ready.value:
                    hits[p + "_stall"] += 1
                    continue
                if self.record and not in_pkt[p]:
                    self.starts[p].append(self.cycle)
                end = last is None or bool(last.value)
                if end and self.record:
                    self.ends[p].append(self.cycle)
                in_pkt[p] = not end

    def check_phase(self) -> None:
        export_bins(self, self.hits)
        missed = [b for b in self.required if not self.hits.get(b)]
        if missed:
            raise CoverageError(f"handshake bins never hit: {missed}")


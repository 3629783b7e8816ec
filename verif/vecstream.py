"""Small pyuvm helpers of the compute-core benches: item-list sequences, a per-cycle handshake
observer with stall/gap bins. Vector beats (rows of fixed-width fields in one wide integer,
the layout of every vector port of the compute core, docs/compute_core.md) are packed by
``verif.lanes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cocotb
from cocotb.triggers import RisingEdge
from pyuvm import uvm_component, uvm_sequence

from verif.uvm import CoverageError, StreamItem, export_bins


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


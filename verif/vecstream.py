"""Item-list sequences of the pyuvm benches. Vector beats (rows of fixed-width fields in one
wide integer, the layout of every vector port of the compute core, docs/compute_core.md) are
packed by ``verif.lanes``; the per-cycle handshake view is ``verif.observer.StreamObserver``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cocotb
from pyuvm import uvm_sequence

from verif.uvm import StreamItem


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

"""The stream-protocol observer of every testbench: a per-cycle view of some valid/ready(/last)
ports of the DUT (``<prefix>_valid``, ``_ready``, ``_last``, on ``clk`` with ``rst_n``).

Per port (:class:`Port`) it can

* count bins: ``stall`` (valid while ready is low: backpressure or a DUT stall), ``gap``
  (valid low inside a packet: the source idles), ``back_to_back`` (a packet's first beat
  accepted in the cycle right after the previous packet's last beat);
* check that a stalled beat holds still (valid, the ``hold`` fields and last unchanged at the
  next edge);
* record every packet: the cycle of its first and last accepted beat and its beat count (one
  cycle counter for all ports, so latencies across ports are exact).

A port without ``last`` has one-beat packets. Bins the test promises are named in
``required`` (``True``: every bin); a miss raises CoverageError, a protocol error fails the
test. A subclass adds its own per-cycle checks or bins in :meth:`StreamObserver.sample`.
Ready is read only while valid is high (it may depend on inputs that are undriven then).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cocotb
from cocotb.triggers import RisingEdge
from pyuvm import uvm_component

from verif.seeding import seed_text
from verif.uvm import CoverageError, export_bins

BINS = ("stall", "gap", "back_to_back")
MAX_ERRORS = 5


@dataclass(frozen=True)
class Port:
    """One valid/ready port: which bins to count (kind -> bin name, or kinds named
    ``<prefix>_<kind>``), and the fields a stalled beat must hold (None: no hold check)."""

    prefix: str
    last: bool = True
    bins: Sequence[str] | Mapping[str, str] = ("stall", "gap")
    hold: Sequence[str] | None = None

    def bin_names(self) -> dict[str, str]:
        if isinstance(self.bins, Mapping):
            names = dict(self.bins)
        else:
            names = {kind: f"{self.prefix}_{kind}" for kind in self.bins}
        countable = BINS if self.last else ("stall",)  # no packets inside a one-beat packet
        unknown = sorted(set(names) - set(countable))
        if unknown:
            raise ValueError(f"port {self.prefix}: bins {unknown} not countable")
        return names


class _PortState:
    """Handles and per-cycle state of one port."""

    def __init__(self, dut: Any, port: Port) -> None:
        self.port, self.names = port, port.bin_names()

        def sig(name: str) -> Any:
            return getattr(dut, f"{port.prefix}_{name}")

        self.valid, self.ready = sig("valid"), sig("ready")
        self.last_sig = sig("last") if port.last else None
        fields = (*(port.hold or ()), *(("last",) if port.last else ()))
        self.held_sigs = [sig(f) for f in fields] if port.hold is not None else None
        self.reset()

    def reset(self) -> None:
        self.in_packet, self.prev_end, self.held, self.beats = False, False, None, 0

    def snapshot(self, valid: bool) -> tuple[int, ...]:
        return (int(valid), *(int(s.value) for s in self.held_sigs or ()))


class StreamObserver(uvm_component):
    """See the module docstring. Configure ``ports`` (and ``required``) before build_phase."""

    ports: Sequence[Port] = ()
    required: Sequence[str] | bool = ()
    enabled: bool = True  # False: no per-cycle work at all (long regressions)
    hook: Callable[[Any, dict[str, int]], None] | None = None  # extra per-cycle bins

    def build_phase(self) -> None:
        self.hits: dict[str, int] = {n: 0 for p in self.ports for n in p.bin_names().values()}
        self.errors: list[str] = []
        self.starts: dict[str, list[int]] = {p.prefix: [] for p in self.ports}
        self.ends: dict[str, list[int]] = {p.prefix: [] for p in self.ports}
        self.packet_beats: dict[str, list[int]] = {p.prefix: [] for p in self.ports}
        self.cycle = 0

    def packet_spans(self, prefix: str) -> list[tuple[int, int]]:
        """(beats, cycles from the first to the last beat) of every packet on ``prefix``."""
        return [(b, e - s + 1) for s, e, b in zip(self.starts[prefix], self.ends[prefix],
                                                  self.packet_beats[prefix], strict=False)]

    def error(self, text: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"cycle {self.cycle}: {text}")

    def sample(self, dut: Any) -> None:
        """Per-cycle extension point (out of reset, before the ports update): ``hook``."""
        if self.hook is not None:
            self.hook(dut, self.hits)

    async def run_phase(self) -> None:
        if not self.enabled:
            return
        dut = cocotb.top
        self.bind(dut)
        while True:
            await RisingEdge(dut.clk)
            self.observe_cycle(dut)

    def bind(self, dut: Any) -> None:
        """Find the ports' signals on ``dut``."""
        self.state = {p.prefix: _PortState(dut, p) for p in self.ports}

    def observe_cycle(self, dut: Any) -> None:
        """What one rising edge shows (``dut.rst_n`` low: reset, nothing counted)."""
        self.cycle += 1
        if not dut.rst_n.value:
            for st in self.state.values():
                st.reset()
            return
        self.sample(dut)
        for st in self.state.values():
            self._step(st)

    def _count(self, st: _PortState, kind: str) -> None:
        name = st.names.get(kind)
        if name is not None:
            self.hits[name] += 1

    def _step(self, st: _PortState) -> None:
        valid = bool(st.valid.value)
        if st.held is not None and st.snapshot(valid) != st.held:
            self.error(f"stalled {st.port.prefix} beat changed: {st.held} -> "
                       f"{st.snapshot(valid)}")
        st.held = None
        if not valid:
            if st.in_packet:
                self._count(st, "gap")
            st.prev_end = False
            return
        if not st.ready.value:
            self._count(st, "stall")
            if st.held_sigs is not None:
                st.held = st.snapshot(valid)
            st.prev_end = False
            return
        p = st.port.prefix
        if not st.in_packet:
            self.starts[p].append(self.cycle)
            if st.prev_end:
                self._count(st, "back_to_back")
        st.beats += 1
        end = st.last_sig is None or bool(st.last_sig.value)
        if end:
            self.ends[p].append(self.cycle)
            self.packet_beats[p].append(st.beats)
            st.beats = 0
        st.in_packet, st.prev_end = not end, end

    def check_phase(self) -> None:
        export_bins(self, self.hits)
        assert not self.errors, f"protocol: {self.errors[0]} ({seed_text()})"
        required = list(self.hits) if self.required is True else list(self.required or ())
        missed = [b for b in required if not self.hits.get(b)]
        if missed:
            raise CoverageError(f"{self.get_name()}: stream bins never hit: {missed}")

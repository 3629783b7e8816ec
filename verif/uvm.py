"""pyuvm building blocks shared by every testbench.

- :class:`StreamItem` — a packet (list of beats) as a sequence item.
- :class:`StreamAgent` — driver + sequencer + monitor for a source port, or sink + monitor for
  a DUT output (``role="sink"``), configured by a :class:`StreamAgentConfig` in ConfigDB.
- :class:`Scoreboard` — feeds every input packet to a golden function and compares every
  output packet, in order, against what it predicts; fails in ``check_phase`` on any mismatch,
  on predictions never matched, and when nothing was compared.
- :class:`CoverageSubscriber` — named bins (predicates over items); fails the test when a
  promised bin is never hit; exports hit counts as JSON for ``make coverage``.
"""

from __future__ import annotations

import json
import os
import random
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge
from pyuvm import (
    ConfigDB,
    uvm_agent,
    uvm_analysis_port,
    uvm_component,
    uvm_driver,
    uvm_monitor,
    uvm_root,
    uvm_sequence_item,
    uvm_sequencer,
    uvm_subscriber,
    uvm_tlm_analysis_fifo,
)

from verif.seeding import seed_text
from verif.stream import Beat, StreamMonitor, StreamPort, StreamSink, StreamSource

FAIL_FAST_ENV = "SPATTEN_FAIL_FAST"  # set by the mutation runs: a test may stop at its first error


def fail_fast() -> bool:
    """True when a test should end at its first scoreboard error instead of running its whole
    stimulus (the mutation runs only ask whether the DUT fails, not how often)."""
    return os.environ.get(FAIL_FAST_ENV, "") == "1"


def stop_at_first_error(errors: list[str]) -> None:
    """In a mutation run (:func:`fail_fast`), raise ScoreboardError once ``errors`` has one."""
    if errors and fail_fast():
        raise ScoreboardError(f"{len(errors)} mismatches (fail-fast), first: {errors[0]} "
                              f"({seed_text()})")


class ScoreboardError(AssertionError):
    """Raised when the DUT's output differs from the golden model's."""


class CoverageError(AssertionError):
    """Raised when a promised functional coverage bin was never hit."""


class StreamItem(uvm_sequence_item):
    """One packet of beats; ``meta`` carries test-side context (e.g. the job's k)."""

    def __init__(self, name: str = "stream_item", beats: list[Beat] | None = None,
                 meta: dict | None = None) -> None:
        super().__init__(name)
        self.beats: list[Beat] = beats if beats is not None else []
        self.meta: dict = meta if meta is not None else {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StreamItem) and self.beats == other.beats

    def __str__(self) -> str:
        shown = ", ".join(str(b) for b in self.beats[:4])
        more = f", ... ({len(self.beats)} beats)" if len(self.beats) > 4 else ""
        return f"[{shown}{more}]"


@dataclass
class StreamAgentConfig:
    prefix: str
    fields: tuple[str, ...] = ("data",)
    has_last: bool = True
    role: str = "source"  # "source": we drive valid/data; "sink": we drive ready
    idle: float = 0.0  # source: probability of an idle cycle before a beat
    backpressure: float = 0.0  # sink: probability of ready low in a cycle
    blocking: bool = False  # source: item_done only once all its beats are accepted
    clock: str = "clk"
    seed_salt: int = field(default=0)


class StreamDriver(uvm_driver):
    source: StreamSource
    blocking: bool = False

    async def run_phase(self) -> None:
        cocotb.start_soon(self.source.run())
        while True:
            item = await self.seq_item_port.get_next_item()
            self.source.send_nowait(item.beats)
            if self.blocking:
                await self.source.wait_empty()
            self.seq_item_port.item_done()


class StreamMonitorComponent(uvm_monitor):
    """Publishes every packet seen on ``port`` to ``ap`` (with its completion cycle)."""

    port: StreamPort
    clk: Any

    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)

    def start_of_simulation_phase(self) -> None:
        self.mon = StreamMonitor(self.port, self.clk, self._publish, getattr(cocotb.top, "rst_n", None))

    def _publish(self, beats: list[Beat], cycle: int) -> None:
        self.ap.write(StreamItem("mon", beats, {"cycle": cycle}))

    async def run_phase(self) -> None:
        await self.mon.run()


class StreamAgent(uvm_agent):
    def build_phase(self) -> None:
        cfg: StreamAgentConfig = ConfigDB().get(self, "", "cfg")
        self.cfg = cfg
        dut = cocotb.top
        clk = getattr(dut, cfg.clock)
        # crc32, not hash(): str hashes change from process to process and would break replay.
        rng = random.Random(int(cocotb.RANDOM_SEED) * 7919 + cfg.seed_salt + zlib.crc32(cfg.prefix.encode()))
        self.port = StreamPort(dut, cfg.prefix, cfg.fields, cfg.has_last)
        self.monitor = StreamMonitorComponent("monitor", self)
        self.monitor.port, self.monitor.clk = self.port, clk
        if cfg.role == "source":
            self.seqr = uvm_sequencer("seqr", self)
            self.driver = StreamDriver("driver", self)
            self.driver.source = StreamSource(self.port, clk, cfg.idle, rng)
            self.driver.blocking = cfg.blocking
        elif cfg.role == "sink":
            self.sink = StreamSink(self.port, clk, cfg.backpressure, rng)
        else:
            raise ValueError(f"StreamAgentConfig.role must be 'source' or 'sink', not {cfg.role!r}")

    def connect_phase(self) -> None:
        if self.cfg.role == "source":
            self.driver.seq_item_port.connect(self.seqr.seq_item_export)

    async def run_phase(self) -> None:
        if self.cfg.role == "sink":
            cocotb.start_soon(self.sink.run())

    @property
    def ap(self) -> uvm_analysis_port:
        return self.monitor.ap


Model = Callable[[StreamItem], Iterable[StreamItem]]


class Scoreboard(uvm_component):
    """In-order scoreboard: ``model(input_item)`` gives the output items it must produce."""

    model: Model
    max_reports: int = 10

    def build_phase(self) -> None:
        self.inp = uvm_tlm_analysis_fifo("inp", self)
        self.out = uvm_tlm_analysis_fifo("out", self)
        self.expected: deque[StreamItem] = deque()
        self.compared = 0
        self.inputs = 0
        self.errors: list[str] = []

    def _predict(self, item: StreamItem) -> None:
        self.inputs += 1
        self.expected.extend(self.model(item))

    async def run_phase(self) -> None:
        cocotb.start_soon(self._predict_all())
        while True:
            got = await self.out.get()
            if not self.expected:
                self._error(f"unexpected output {got} (no prediction outstanding)")
                continue
            want = self.expected.popleft()
            self.compared += 1
            if want != got:
                self._error(f"output #{self.compared - 1}: expected {want}, got {got}"
                            + _first_difference(want, got))

    async def _predict_all(self) -> None:
        # Inputs are modelled as soon as they are seen: an output packet always completes
        # after the input packet it depends on, so its prediction is ready when it arrives.
        while True:
            self._predict(await self.inp.get())

    def _error(self, text: str) -> None:
        self.errors.append(text)
        if len(self.errors) <= self.max_reports:
            self.logger.error(f"{text} ({seed_text()})")

    def flush(self, reason: str) -> int:
        """Forget outstanding predictions (e.g. data a reset legitimately destroyed)."""
        dropped = len(self.expected)
        while self.inp.can_get():
            _, item = self.inp.try_get()
            dropped += len(list(self.model(item)))
        self.expected.clear()
        self.logger.info(f"flushed {dropped} expected outputs: {reason}")
        return dropped

    @property
    def pending(self) -> int:
        """Predicted outputs not yet seen (an input not yet modelled counts as one)."""
        return len(self.expected) + int(self.inp.can_get())

    def check_phase(self) -> None:
        while self.inp.can_get():
            _, item = self.inp.try_get()
            self._predict(item)
        while self.out.can_get():
            _, item = self.out.try_get()
            self._error(f"unexpected output {item}")
        if self.expected:
            self._error(f"{len(self.expected)} expected outputs never arrived, first {self.expected[0]}")
        if self.compared == 0:
            self._error("nothing was compared")
        self.logger.info(f"compared {self.compared} outputs from {self.inputs} inputs, "
                         f"{len(self.errors)} errors")
        if self.errors:
            raise ScoreboardError(f"{len(self.errors)} scoreboard errors ({seed_text()}); "
                                  f"first: {self.errors[0]}")


def _first_difference(want: StreamItem, got: StreamItem) -> str:
    if len(want.beats) != len(got.beats):
        return f" [length {len(want.beats)} vs {len(got.beats)}]"
    for i, (a, b) in enumerate(zip(want.beats, got.beats, strict=True)):
        if a != b:
            return f" [first difference at beat {i}: {a} vs {b}]"
    return ""


class CoverageSubscriber(uvm_subscriber):
    """Functional coverage over items written to ``analysis_export``.

    ``bins`` maps a bin name to a predicate; every bin must be hit at least once by the end of
    the test (a promised bin never hit fails the test). Hit counts go to
    ``$SPATTEN_TEST_DIR/fcov/<test>.<component>.json`` for the coverage report.
    """

    bins: dict[str, Callable[[StreamItem], bool]]
    required: bool = True

    def build_phase(self) -> None:
        self.hits: dict[str, int] = dict.fromkeys(self.bins, 0)

    def write(self, item: StreamItem) -> None:
        for name, pred in self.bins.items():
            if pred(item):
                self.hits[name] += 1

    def check_phase(self) -> None:
        self._export()
        missed = [name for name, n in self.hits.items() if n == 0]
        self.logger.info(f"coverage {len(self.hits) - len(missed)}/{len(self.hits)} bins hit")
        if missed and self.required:
            raise CoverageError(f"coverage bins never hit: {', '.join(missed)}")

    def _export(self) -> None:
        export_bins(self, self.hits)


def export_bins(component: uvm_component, hits: dict[str, int]) -> Path:
    """Write a component's bin hit counts for ``make coverage`` (verif/coverage_report.py)."""
    folder = Path(os.environ.get("SPATTEN_TEST_DIR", ".")) / "fcov"
    folder.mkdir(parents=True, exist_ok=True)
    module = cocotb.top._name
    test = type(uvm_root().uvm_test_top).__name__
    path = folder / f"{module}.{test}.{component.get_full_name()}.json"
    path.write_text(json.dumps({"module": module, "test": test,
                                "component": component.get_full_name(), "bins": hits}, indent=1))
    return path


async def wait_drained(clk: Any, scoreboard: Scoreboard, sources: Iterable[StreamSource],
                       timeout_cycles: int, settle: int = 10, stall_cycles: int = 2000) -> None:
    """Wait until every source has sent everything and the scoreboard expects nothing more.

    Raises TimeoutError (the DUT hung or lost data) when nothing moved for ``stall_cycles``
    (no beat accepted, no output compared) or after ``timeout_cycles`` in all. In a mutation
    run (:func:`fail_fast`) the scoreboard's first mismatch ends the wait with ScoreboardError:
    the verdict is known, the rest of the stimulus would only cost time.
    """
    srcs = list(sources)
    last_progress, idle = None, 0
    for _ in range(timeout_cycles):
        stop_at_first_error(scoreboard.errors)
        if all(s.idle_now for s in srcs) and scoreboard.pending == 0:
            await ClockCycles(clk, settle)
            if scoreboard.pending == 0:
                return
        progress = (scoreboard.compared, *(s.sent for s in srcs))
        idle = idle + 1 if progress == last_progress else 0
        last_progress = progress
        if idle > stall_cycles:
            raise TimeoutError(f"DUT stalled: nothing moved for {stall_cycles} cycles, "
                               f"{scoreboard.pending} outputs outstanding ({seed_text()})")
        await RisingEdge(clk)
    raise TimeoutError(f"DUT did not drain within {timeout_cycles} cycles: "
                       f"{scoreboard.pending} outputs outstanding ({seed_text()})")

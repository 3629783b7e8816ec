"""pyuvm pieces shared by the importance-accumulator benches (token_importance, head_importance).

Both blocks take one command stream ``in_*`` (a packet = one operation, ``in_op`` selects it)
and answer read-out commands on ``out_*``; their golden models are stateful (the accumulator
array), so the model is an object that updates itself on every command packet in order and
returns the expected read-out packets. Pieces:

- :class:`AnnotatingScoreboard` — a :class:`verif.uvm.Scoreboard` that also publishes every
  modelled command (its ``meta`` filled by the model: saturation, lengths, ...) on ``modelled``
  so a :class:`verif.uvm.CoverageSubscriber` can bin what the model saw.
- :class:`CycleObserver` — the stream observer (``verif.observer``) on in/out: protocol checks
  (a stalled output beat must hold still; optional "this op is never stalled" rule), handshake
  bins (``in_gap``, ``in_stall``, ``out_stall``), output packet spans (for throughput checks)
  and an optional white-box hook.
- :class:`OpTest` — reset, stimulus in batches with a drain and a status check after each.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import cocotb
from cocotb.triggers import FallingEdge, RisingEdge
from pyuvm import ConfigDB, uvm_analysis_port, uvm_env, uvm_test

from golden.codes import ImportanceOp
from verif.observer import Port, StreamObserver
from verif.seeding import params, seed_all, seed_text
from verif.stream import reset, start_clock
from verif.uvm import (
    CoverageError,
    CoverageSubscriber,
    Scoreboard,
    StreamAgent,
    StreamAgentConfig,
    StreamItem,
    wait_drained,
)
from verif.vecstream import ItemSequence

# in_op codes: golden/codes.py (SPATTEN_IMP_OP_* in the RTL)
OP_CLEAR, OP_ACC, OP_READ, OP_COMPACT = (int(ImportanceOp[n]) for n in ("CLEAR", "ACC", "READ",
                                                                        "COMPACT"))


class AnnotatingScoreboard(Scoreboard):
    """Scoreboard that republishes each input item after the model has annotated it."""

    def build_phase(self) -> None:
        super().build_phase()
        self.modelled = uvm_analysis_port("modelled", self)

    def _predict(self, item: StreamItem) -> None:
        super()._predict(item)
        self.modelled.write(item)


class CycleObserver(StreamObserver):
    """The stream observer (``verif.observer``) on ``in_*`` / ``out_*``.

    Bins ``in_stall``, ``in_gap``, ``out_stall``, plus whatever ``hook(dut, hits)`` adds every
    cycle; a stalled output beat (``out_fields`` and last) must hold still; and no beat of an
    op in ``never_stalled`` waits for in_ready (the block's one-beat-per-cycle promise).
    ``spans`` lists (beats, cycles from first to last beat) of every output packet.
    """

    out_fields: Sequence[str] = ()
    never_stalled: Sequence[int] = ()

    def build_phase(self) -> None:
        self.ports = (Port("in"), Port("out", bins=("stall",), hold=tuple(self.out_fields)))
        super().build_phase()

    @property
    def spans(self) -> list[tuple[int, int]]:
        return self.packet_spans("out")

    def sample(self, dut: Any) -> None:
        if self.never_stalled and dut.in_valid.value and not dut.in_ready.value:
            op = int(dut.in_op.value)
            if op in self.never_stalled:
                self.error(f"op {op} stalled")
        super().sample(dut)


class PromisedCoverage(CoverageSubscriber):
    """CoverageSubscriber where only the ``promised`` bins must be hit (the rest are still
    counted and exported)."""

    promised: Sequence[str] = ()

    def check_phase(self) -> None:
        self._export()
        missed = [n for n in self.promised if not self.hits.get(n)]
        self.logger.info(f"coverage {sum(1 for n in self.hits.values() if n)}/{len(self.hits)} "
                         f"bins hit, {len(self.promised) - len(missed)}/{len(self.promised)} promised")
        if missed:
            raise CoverageError(f"coverage bins never hit: {', '.join(sorted(missed))}")


class OpEnv(uvm_env):
    """Command source, read-out sink, annotating scoreboard, coverage over the modelled
    commands, cycle observer; configured by the dict ConfigDB "op_cfg" (set by OpTest)."""

    def build_phase(self) -> None:
        cfg = ConfigDB().get(self, "", "op_cfg")
        self.src = StreamAgent("src", self)
        self.snk = StreamAgent("snk", self)
        self.sb = AnnotatingScoreboard("sb", self)
        self.cov = PromisedCoverage("cov", self)
        self.cov.bins = dict(cfg["bins"])
        self.cov.promised = tuple(cfg["promised"])
        self.obs = CycleObserver("obs", self)
        for knob in ("out_fields", "never_stalled", "required", "hook"):
            setattr(self.obs, knob, cfg[f"obs_{knob}"])

    def connect_phase(self) -> None:
        self.src.ap.connect(self.sb.inp.analysis_export)
        self.snk.ap.connect(self.sb.out.analysis_export)
        self.sb.modelled.connect(self.cov.analysis_export)


class OpTest(uvm_test):
    """Base test: subclasses give fields, the model, bins and the stimulus batches.

    ``batches()`` yields lists of command items; after each batch the test waits until the
    DUT has drained and calls ``check_status()`` (e.g. live count, busy low), then reads every
    entry through the block's debug read port (``dbg_re``, ``debug_index``, ``dbg_score``: the
    CSR importance window of spatten_top) and compares it with ``debug_want()``."""

    idle = 0.2
    backpressure = 0.3
    in_fields: tuple[str, ...] = ()
    out_fields: tuple[str, ...] = ()
    item_bins: dict[str, Callable[[StreamItem], bool]] = {}
    required_item_bins: Sequence[str] | None = None  # None: every bin
    required_cycle_bins: Sequence[str] = ()
    never_stalled: Sequence[int] = ()
    timeout_cycles = 400_000
    debug_index = ""  # index input of the debug read port ("" : the block has none)

    def make_model(self) -> Callable[[StreamItem], list[StreamItem]]:
        raise NotImplementedError

    def batches(self) -> Any:
        raise NotImplementedError

    def hook(self, dut: Any, hits: dict[str, int]) -> None:
        """White-box per-cycle bins (optional)."""

    def check_status(self) -> None:
        """Checks on the status outputs once the DUT has drained (optional)."""

    def debug_want(self) -> list[int]:
        """Every entry the debug read port must return once the DUT has drained."""
        return []

    async def check_debug_port(self) -> None:
        """Read entries 0..len(debug_want())-1, one per cycle (the entry comes the cycle after
        dbg_re), and compare them with the model."""
        dut, want = cocotb.top, self.debug_want()
        index, got = getattr(dut, self.debug_index), []
        for i in range(len(want)):
            dut.dbg_re.value, index.value = 1, i
            await RisingEdge(dut.clk)
            dut.dbg_re.value = 0
            await FallingEdge(dut.clk)
            got.append(int(dut.dbg_score.value))
        bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
        assert not bad, (f"debug read port: {len(bad)} entries wrong, first [{bad[0]}] = "
                         f"{got[bad[0]]:#x}, expected {want[bad[0]]:#x} ({seed_text()})")

    def build_phase(self) -> None:
        self.np_rng = seed_all(type(self).__name__)
        self.rng = random.Random(int(self.np_rng.integers(2**31)))
        self.params = params()
        cdb = ConfigDB()
        cdb.set(None, "*env.src", "cfg", StreamAgentConfig("in", fields=self.in_fields,
                                                           idle=self.idle))
        cdb.set(None, "*env.snk", "cfg", StreamAgentConfig("out", fields=self.out_fields,
                                                           role="sink",
                                                           backpressure=self.backpressure))
        promised = self.item_bins if self.required_item_bins is None else self.required_item_bins
        cdb.set(None, "*env", "op_cfg", {
            "bins": self.item_bins, "promised": tuple(promised),
            "obs_out_fields": self.out_fields, "obs_never_stalled": tuple(self.never_stalled),
            "obs_required": tuple(self.required_cycle_bins), "obs_hook": self.hook})
        self.env = OpEnv("env", self)

    def connect_phase(self) -> None:
        self.model = self.make_model()
        self.env.sb.model = self.model

    async def run_phase(self) -> None:
        self.raise_objection()
        dut = cocotb.top
        dut.rst_n.value = 0
        if self.debug_index:
            dut.dbg_re.value = 0
        start_clock(dut.clk)
        await reset(dut.clk, dut.rst_n)
        for i, batch in enumerate(self.batches()):
            await ItemSequence(f"batch{i}", batch).start(self.env.src.seqr)
            await wait_drained(dut.clk, self.env.sb, [self.env.src.driver.source],
                               timeout_cycles=self.timeout_cycles)
            for _ in range(3):
                await RisingEdge(dut.clk)
            self.check_status()
            if self.debug_index:
                await self.check_debug_port()
        await self.after_drain()
        self.drop_objection()

    async def after_drain(self) -> None:
        """Hook for checks once all traffic has passed."""


def cmd(op: int, beats: list[dict[str, int]], **meta: Any) -> StreamItem:
    """A command packet: ``op`` on every beat, ``last`` on the final one."""
    out = [{**b, "op": op, "last": int(i == len(beats) - 1)} for i, b in enumerate(beats)]
    return StreamItem(f"op{op}", out, dict(meta))

"""cocotb test of the trace runner (``verif.trace_run.run_trace_on_rtl`` builds and runs it).

Reads the job (commands, seed, memory latency, memory model) from SPATTEN_BENCH_JOB, drives
``spatten_top`` through ``verif.axil.AxilDevice`` with a fixed memory latency and no jitter or
pauses (a benchmark, not a stress test), runs every command with
``verif.trace_run.run_commands`` (each checked against the golden command model) and rewrites
SPATTEN_BENCH_OUT after each command, so a long run leaves partial results.

Memory ``"python"``: the DUT is ``spatten_top`` and cocotbext-axi models serve every port.
``"hdl"``: the DUT is ``spatten_bench_top`` (``spatten_top`` + the HDL read memory, latency
built in) and the device is ``verif.hdl_mem.HdlMemDevice``; the job's ``corrupt`` list of
(address, xor) flips bytes of the HDL memory only (the expect-fail test). There each record
also gets ``qk_beats``: the cycles in which the Q.K array accepted a key beat during the
command (the bench top's ``qk_beats`` probe, read once per command).
"""

from __future__ import annotations

import collections
import json
import os
import time
from pathlib import Path
from typing import Any

import cocotb
from cocotb.utils import get_sim_time

from verif.axil import AxilDevice, measuring_device
from verif.hdl_mem import HdlMemDevice
from verif.seeding import params
from verif.trace_run import MEM_SIZE, TraceCommand, run_commands

PERIOD_NS = 10
# the controller's concurrent stages (rtl/spatten_ctrl.v): name -> state register
STAGE_SIGNALS = {"front": "f_st", "row": "r_st", "back": "b_st", "output": "p_st",
                 "write": "w_st"}


def cycles_now() -> float:
    return get_sim_time("ns") / PERIOD_NS


class StateProfile:
    """Cycles spent in each ``spatten_ctrl`` state (per-phase breakdown of a command). Wakes up
    only when the state register changes, so it costs nothing per cycle. With ``SPATTEN_TIMELINE``
    set it also logs every change as (cycle, new state): ``bench.timeline`` prints them."""

    def __init__(self, sig: Any) -> None:
        self.sig, self.cycles = sig, collections.Counter()
        self.state, self.since = int(sig.value), cycles_now()
        self.events: list[tuple[float, int]] = []
        self.log_events = bool(os.environ.get("SPATTEN_TIMELINE"))

    async def run(self) -> None:
        while True:
            await self.sig.value_change
            self._close(int(self.sig.value))

    def _close(self, new_state: int) -> None:
        now = cycles_now()
        if self.log_events and new_state != self.state:
            self.events.append((now, new_state))
        self.cycles[self.state] += now - self.since
        self.state, self.since = new_state, now

    def take(self) -> dict[str, float]:
        """Cycles per state since the last call (keys: state numbers as strings)."""
        self._close(self.state)
        out = {str(k): v for k, v in sorted(self.cycles.items())}
        self.cycles.clear()
        return out

    def take_events(self) -> list[tuple[float, int]]:
        """The state changes since the last call (empty without SPATTEN_TIMELINE)."""
        out, self.events = self.events, []
        return out


@cocotb.test()
async def trace_bench(dut: Any) -> None:
    job = json.loads(Path(os.environ["SPATTEN_BENCH_JOB"]).read_text())
    out = Path(os.environ["SPATTEN_BENCH_OUT"])
    hdl = job.get("mem", "python") == "hdl"
    dev = await measuring_device(dut, params()["CHANNELS"], MEM_SIZE, job["latency"], PERIOD_NS,
                                 HdlMemDevice if hdl else AxilDevice)
    for addr, xor in job.get("corrupt", []):
        assert isinstance(dev, HdlMemDevice), "corrupt needs the HDL memory"
        dev.corrupt(addr, xor)
    cmds = [TraceCommand.from_dict(c) for c in job["commands"]]
    ctrl = (dut.u_top if hdl else dut).u_ctrl
    profile = StateProfile(ctrl.st)
    stages = {name: StateProfile(getattr(ctrl, sig)) for name, sig in STAGE_SIGNALS.items()}
    for prof in (profile, *stages.values()):
        cocotb.start_soon(prof.run())
    t0 = time.perf_counter()
    qk_seen = [int(dut.qk_beats.value)] if hdl else []

    def log(records: list[dict[str, Any]]) -> None:
        rec = records[-1]
        rec["states"] = profile.take()  # this command: CLEAR, host writes (idle), START..DONE
        rec["stages"] = {name: prof.take() for name, prof in stages.items()}
        if profile.log_events:  # bench.timeline's input: "seq" = the sequencer
            rec["timeline"] = {name: prof.take_events()
                               for name, prof in (("seq", profile), *stages.items())}
        if qk_seen:  # key beats since the last command: only this command has any
            now = int(dut.qk_beats.value)
            rec["qk_beats"], qk_seen[0] = now - qk_seen[0], now
        c, k = rec["command"], rec["counters"]
        if job.get("progress", True):
            dut._log.info(f"[{len(records)}/{len(cmds)}] {c['kind']} step {c['iteration']} "
                          f"layer {c['layer']} N={c['n']} vk={c['value_keep']}: "
                          f"{k['CYCLES']} cycles, {len(rec['mismatches'])} mismatches, "
                          f"{rec['execute_wall_s']:.1f} s")
        out.write_text(json.dumps({"records": records,
                                   "test_wall_s": time.perf_counter() - t0}))

    records = await run_commands(dev, cmds, job["seed"], log, cycles_now)
    if isinstance(dev, HdlMemDevice):  # the mirror read back: only corrupted bytes differ
        out.write_text(json.dumps({"records": records, "test_wall_s": time.perf_counter() - t0,
                                   "mirror_errors": await dev.mirror_errors()}))
    bad = [r for r in records if r["mismatches"]]
    assert not bad, f"{len(bad)} commands differ from golden, first: {bad[0]['mismatches'][:3]}"

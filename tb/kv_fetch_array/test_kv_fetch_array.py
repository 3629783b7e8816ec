"""kv_fetch_array: one kv_fetcher per AXI read channel, rows dispatched by interleave granule.

The memory is one image shared by every port (cocotbext-axi ``LatencyAxiRamRead`` per
channel on a common bytearray: every port sees the whole address space, docs/memory.md), with
latency, jitter and random AR/R pauses, random idle on the index input and random
backpressure on the output lanes. Per job the scoreboard checks, against the golden rows
(``verif.fetchjobs.golden_rows``: golden ``pack_planes`` / ``unpack_planes`` /
``join_planes``; rows packed, ceil(D * bits / 8) bytes each):

* the multiset of delivered rows (index, 12-bit values) equals the job's rows exactly;
* every row leaves on the lane of its channel, ``(addr >> LOG2_INTERLEAVE) mod CHANNELS``
  of the first byte of its beat-aligned row group (``blocks.row_group``), and every burst
  starts on its port's own channel (or inside a row group dispatched there);
* ``done`` pulses once, after the last row; byte counters equal golden ``fetch_bytes`` of each
  channel's own list (a beat shared by two rows of one channel is read once).

Range jobs (K, Q: rows first..last generated inside) and list jobs (V: any index order,
repeats) both run; ``ArrayBandwidthTest`` measures a long K stream at latencies 20 and 100.
``ArrayOverlapTest`` issues each next job as soon as ``job_ready`` allows (two in flight when
the shapes match): every row is attributed to its job by ``out_tag`` alone and checked as
above, with one ``done`` per job, in job order.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

import cocotb
import pytest
import pyuvm
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiReadBus
from pyuvm import ConfigDB, uvm_component, uvm_env, uvm_test

from golden.blocks import row_group
from golden.traffic import BYTE_CLASSES
from verif.axi_mem import SLVERR, LatencyAxiRamRead
from verif.fetchjobs import Job, golden_rows, make_indexes
from verif.runner import Bench
from verif.seeding import on_verilator, params, seed_all, seed_text
from verif.stream import reset, start_clock
from verif.testing import run_bench
from verif.uvm import (
    CoverageError,
    ScoreboardError,
    StreamAgent,
    StreamAgentConfig,
    StreamItem,
    export_bins,
)
from verif.vecstream import ItemSequence

TB = Path(__file__).resolve().parent
DEFAULTS = {"CHANNELS": 2, "LOG2_INTERLEAVE": 9, "ROB_BEATS": 64, "LIST_W": 4}
BENCH = Bench("kv_fetch_array_tb", [str(TB / "kv_fetch_array_tb.v"), "kv_fetch_array.v"], DEFAULTS,
              test_module="test_kv_fetch_array", tb_dir=TB)
SIM_CONFIGS = {
    "icarus": [{"CHANNELS": 1, "LOG2_INTERLEAVE": 9, "ROB_BEATS": 64, "LIST_W": 1},
               {"CHANNELS": 4, "LOG2_INTERLEAVE": 6, "ROB_BEATS": 32, "LIST_W": 4}],
    "verilator": [{"CHANNELS": 4, "LOG2_INTERLEAVE": 7, "ROB_BEATS": 64, "LIST_W": 8},
                  {"CHANNELS": 16, "LOG2_INTERLEAVE": 9, "ROB_BEATS": 256, "LIST_W": 8}],
}
PERIOD = 10
MEM_SIZE = 1 << 22
CLS = {name: i for i, name in enumerate(BYTE_CLASSES)}
CNT_W = 48
POISON = 0xA5
DW = 12


class ArrayError(ScoreboardError):
    """A delivered row, lane, counter or done pulse disagrees with the golden job."""


# ================================================================ environment
class SharedMem(uvm_component):
    """One LatencyAxiRamRead per channel on one shared image; bursts checked per port."""

    latency, jitter, ar_pause, r_pause = 20, 10, 0.2, 0.2

    def build_phase(self) -> None:
        self.p = params()
        self.ch, self.gran = self.p["CHANNELS"], 1 << self.p["LOG2_INTERLEAVE"]
        self.rng = random.Random(int(cocotb.RANDOM_SEED) + 29)
        self.next_addr = 0x1000 + 32 * self.rng.randrange(64)
        self.mem = bytearray([POISON]) * MEM_SIZE
        self.group_beats: list[set[int]] = [set() for _ in range(self.ch)]

    def channel_of(self, addr: int) -> int:
        return (addr // self.gran) % self.ch

    def start_of_simulation_phase(self) -> None:
        dut = cocotb.top
        self.rams: list[LatencyAxiRamRead] = []
        for c in range(self.ch):
            logging.getLogger(f"cocotb.{dut._name}.m_axi{c}").setLevel(logging.WARNING)
            ram = LatencyAxiRamRead(AxiReadBus.from_prefix(dut, f"m_axi{c}"), dut.clk, dut.rst_n,
                                    size=MEM_SIZE, mem=self.mem, period_ns=PERIOD,
                                    latency=self.latency, jitter=self.jitter,
                                    rng=random.Random(self.rng.random()),
                                    owns=lambda a, c=c: self.channel_of(a) == c, name=f"ch{c}")
            ram.set_pause(random.Random(self.rng.random()), self.ar_pause, self.r_pause)
            self.rams.append(ram)

    def set_timing(self, latency: int, jitter: int, ar_pause: float, r_pause: float) -> None:
        for ram in self.rams:
            ram.latency, ram.jitter = latency, jitter
            ram.set_pause(random.Random(self.rng.random()), ar_pause, r_pause)

    def load_job(self, job: Job) -> None:
        job.pack()  # packed rows, the plane on a beat boundary (the array's job contract)
        msb_b = job.images[0]
        job.mbase = self.next_addr
        self.next_addr += len(msb_b) + 32 * self.rng.randrange(1, 40)
        if self.next_addr >= MEM_SIZE:  # reuse the space: earlier jobs are done
            job.mbase, self.next_addr = 0x1000, 0x1000 + len(msb_b) + 32
        assert job.mbase + len(msb_b) < MEM_SIZE, "test memory too small for the job"
        self.mem[job.mbase:job.mbase + len(msb_b)] = msb_b
        for j in job.idx:  # a row group is read whole on the channel of its first byte
            lo, hi = job.row_span(j)
            self.group_beats[self.channel_of(job.group_start(j))].update(
                range(lo // 32, (hi - 1) // 32 + 1))

    def check_phase(self) -> None:
        # A burst starts in its port's own granule, or continues the port's previous burst, or
        # starts inside a row of a group dispatched to the port (a row group that crosses a
        # granule boundary is read whole on its first byte's port; its burst may be cut there
        # at MAX_BURST or 4 KiB, and a row of the group may come without its predecessor).
        wrong = []
        for c, ram in enumerate(self.rams):
            ends = {a + 32 * n for _, a, n in ram.bursts}
            wrong += [(ram.name, hex(a)) for a in ram.wrong_channel
                      if a not in ends and a // 32 not in self.group_beats[c]]
        assert not wrong, f"bursts started on another channel's granule: {wrong[:5]} ({seed_text()})"


def lane_int(bits: str, lane: int, width: int) -> int:
    """Field ``lane`` (``width`` bits, lane 0 at the LSBs) of a binary string, MSB first."""
    end = len(bits) - lane * width
    return int(bits[end - width:end], 2)


class LaneMonitor(uvm_component):
    """Drives out_ready (random backpressure) and records every row of every lane, and every
    done pulse, with its cycle."""

    backpressure = 0.2

    def start_of_simulation_phase(self) -> None:
        self.rows: list[tuple[int, int, int, int]] = []  # (lane, idx, data, err)
        self.tags: list[int] = []  # out_tag of each row
        self.row_cycles: list[int] = []
        self.done_cycles: list[int] = []
        self.last_row_cycle = self.first_row_cycle = -1
        self.cycle = 0
        self.ch = params()["CHANNELS"]
        self.rng = random.Random(int(cocotb.RANDOM_SEED) + 31)
        cocotb.start_soon(self.sample())

    async def sample(self) -> None:
        dut, ch, kw = cocotb.top, self.ch, 64 * DW
        dut.out_ready.value = 0
        while True:
            bp = self.backpressure
            dut.out_ready.value = int(not (bp and self.rng.random() < bp))
            await RisingEdge(dut.clk)
            self.cycle += 1
            if not dut.rst_n.value.is_resolvable or not int(dut.rst_n.value):
                continue  # in (or before) reset the outputs are not defined yet
            assert dut.done.value.is_resolvable and dut.out_valid.value.is_resolvable, (
                f"done / out_valid not 0/1 out of reset: {dut.done.value} {dut.out_valid.value}")
            if int(dut.done.value):
                self.done_cycles.append(self.cycle)
            if not int(dut.out_ready.value):
                continue
            valid = int(dut.out_valid.value)
            if not valid:
                continue
            # lanes without a row may hold X (4-state): read only the valid lanes' slices,
            # and an X there is a DUT error (int() raises)
            data, idx, err = (str(dut.out_data.value), str(dut.out_idx.value),
                              str(dut.out_err.value))
            tag = int(dut.out_tag.value)
            for c in range(ch):
                if valid >> c & 1:
                    self.rows.append((c, lane_int(idx, c, 16), lane_int(data, c, kw),
                                      lane_int(err, c, 1)))
                    self.tags.append(tag >> c & 1)
                    self.row_cycles.append(self.cycle)
            if self.first_row_cycle < 0:
                self.first_row_cycle = self.cycle
            self.last_row_cycle = self.cycle


class ArrayEnv(uvm_env):
    def build_phase(self) -> None:
        self.job = StreamAgent("job", self)
        self.src = StreamAgent("src", self)
        self.mem = SharedMem("mem", self)
        self.lanes = LaneMonitor("lanes", self)



JOB_FIELDS = ("base", "stride", "d", "bits", "class", "range", "first", "lastrow")
JOB_BINS = ("range_k", "range_q", "list_sparse", "list_runs", "list_random", "list_single",
            "row_straddles_granule", "rows_share_beats", "lane_idle_in_job", "bits_12",
            "list_beat_with_holes", "range_k_narrow_groups", "range_k_wide_groups")


class ArrayTest(uvm_test):
    """Base: random jobs, each checked when its done pulse has come."""

    idle = 0.2
    hole_rate = 0.15  # list beats: chance that a lane carries no index
    jobs = 12
    n_tokens = 96
    latency, jitter, ar_pause, r_pause, backpressure = 20, 10, 0.2, 0.2, 0.2
    corrupt_job = -1  # >= 0: the model of that job is wrong (the expect-fail test)
    bins_required = True

    def build_phase(self) -> None:
        self.nrng = seed_all(type(self).__name__)
        self.rng = random.Random(int(self.nrng.integers(2**31)))
        self.p = params()
        ConfigDB().set(None, "*env.job", "cfg", StreamAgentConfig("job", fields=JOB_FIELDS, has_last=False))
        ConfigDB().set(None, "*env.src", "cfg", StreamAgentConfig("in", fields=("idx", "vld", "empty"), idle=self.idle))
        SharedMem.latency, SharedMem.jitter = self.latency, self.jitter
        SharedMem.ar_pause, SharedMem.r_pause = self.ar_pause, self.r_pause
        LaneMonitor.backpressure = self.backpressure
        self.env = ArrayEnv("env", self)
        self.errors: list[str] = []
        self.jobs_checked = 0
        # one channel always uses its only lane: "a lane idle during a job" needs two or more;
        # a wide-group range needs a row group wider than a granule: random_job's widest is
        # lcm(88, 32) = 352 bytes, so never at 512-byte granules, rarely at 128 (5 K jobs),
        # most K jobs at 64 (the Icarus 4-channel build)
        unreachable = {"lane_idle_in_job"} if self.p["CHANNELS"] == 1 else set()
        if self.p["LOG2_INTERLEAVE"] >= 7:
            unreachable.add("range_k_wide_groups")
        self.bins = dict.fromkeys((b for b in JOB_BINS if b not in unreachable), 0)

    def random_job(self, k: int) -> Job:
        rng, n = self.rng, self.n_tokens
        kind = ("K", "V", "Q", "V", "K", "V")[k % 6]
        d = rng.choice([64, 64, 32, 16] if kind == "Q" else [64, 64, 32, 16, 8, 1])
        x12 = self.nrng.integers(-2048, 2048, size=(n, d))
        if kind == "Q":
            return Job(f"job{k}_Q", "range", x12, 12, 0, False, CLS["Q"], CLS["K_LSB"],
                       [rng.randrange(n)])
        m = rng.choice([4, 6, 8, 12, rng.randint(1, 12)])
        if kind == "K":
            first = rng.randrange(n // 4)
            return Job(f"job{k}_K", "range", x12, m, 0, False, CLS["K_MSB"], CLS["K_LSB"],
                       list(range(first, rng.randint(first + 1, n))))
        pattern = ("sparse", "runs", "random", "single")[(k // 2) % 4]
        return Job(f"job{k}_V_{pattern}", pattern, x12, m, 0, False, CLS["V_MSB"], CLS["V_LSB"],
                   make_indexes(pattern, n, rng))

    def note_bins(self, job: Job, lanes_used: set[int]) -> None:
        b, stride = self.bins, job.images[2]
        gran = 1 << self.p["LOG2_INTERLEAVE"]
        b["range_k"] += job.pattern == "range" and len(job.idx) > 1
        # a range whose row group fits a granule flags every channel's last run final itself;
        # with wider groups a channel's last run may go unflagged and get the end marker
        wide = row_group(stride) * stride > gran
        b["range_k_narrow_groups"] += job.pattern == "range" and len(job.idx) > 1 and not wide
        if "range_k_wide_groups" in b:
            b["range_k_wide_groups"] += job.pattern == "range" and len(job.idx) > 1 and wide
        b["range_q"] += job.pattern == "range" and job.m == 12 and len(job.idx) == 1
        b["bits_12"] += job.m == 12
        for pat in ("sparse", "runs", "random", "single"):
            b[f"list_{pat}"] += job.pattern == pat
        starts = [job.mbase + j * stride for j in job.idx]
        b["row_straddles_granule"] += any(a // gran != (a + stride - 1) // gran for a in starts)
        b["rows_share_beats"] += row_group(stride) > 1 and len(job.idx) > 1
        if "lane_idle_in_job" in b:
            b["lane_idle_in_job"] += len(lanes_used) < self.p["CHANNELS"]

    def list_beats(self, idx: list[int]) -> list[dict[str, int]]:
        """The index list as LIST_W-lane beats, with random holes (lanes without an index)."""
        w = self.p["LIST_W"]
        if not idx:
            return [{"idx": 0, "vld": 0, "empty": 1, "last": 1}]
        beats: list[dict[str, int]] = []
        k = 0
        while k < len(idx):
            word = vld = 0
            for lane in range(w):
                if k < len(idx) and self.rng.random() >= self.hole_rate:
                    word |= idx[k] << (16 * lane)
                    vld |= 1 << lane
                    k += 1
            beats.append({"idx": word, "vld": vld, "empty": 0, "last": 0})
        beats[-1]["last"] = 1
        self.bins["list_beat_with_holes"] += any(b["vld"] != (1 << w) - 1 for b in beats)
        return beats

    def counters(self) -> list[int]:
        v = int(cocotb.top.cnt_rd_bytes.value)
        return [(v >> (CNT_W * i)) & ((1 << CNT_W) - 1) for i in range(8)]

    async def issue(self, job: Job) -> None:
        """Place the job's rows in memory, send the job beat and (list jobs) its indexes."""
        env = self.env
        env.mem.load_job(job)
        is_range = job.pattern == "range"
        beat = {"base": job.mbase, "stride": job.images[2], "d": job.d, "bits": job.m,
                "class": job.cls_m, "range": int(is_range),
                "first": job.idx[0] if is_range else 0, "lastrow": job.idx[-1] if is_range else 0}
        await ItemSequence("send", [StreamItem("job", [beat])]).start(env.job.seqr)
        if not is_range:
            await ItemSequence("send", [StreamItem("idx", self.list_beats(job.idx))]).start(env.src.seqr)

    def check_bytes(self, jobs: list[Job], delta: dict[int, int], name: str) -> None:
        """The counters moved by exactly the jobs' golden fetch_bytes (summed per class)."""
        want = dict.fromkeys(range(8), 0)
        for job in jobs:
            got = job.golden_bytes(lane_of=lambda j, job=job: self.env.mem.channel_of(job.group_start(j)))
            want = {c: want[c] + got[c] for c in want}
        if delta != want:
            self.errors.append(f"{name}: byte counters {delta}, golden fetch_bytes {want}")

    async def run_job(self, job: Job, k: int = 0) -> int:
        """Issue one job, wait for done, check rows, lanes and counters; returns its cycles."""
        dut, lanes = cocotb.top, self.env.lanes
        before, rows0, done0 = self.counters(), len(lanes.rows), len(lanes.done_cycles)
        t0 = lanes.cycle
        await self.issue(job)
        limit = 200 * (len(job.idx) + 10) + 5000
        while len(lanes.done_cycles) == done0:
            await RisingEdge(dut.clk)
            limit -= 1
            assert limit > 0, f"{job.name}: no done pulse ({seed_text()})"
        for _ in range(3):  # a second done pulse would show here
            await RisingEdge(dut.clk)
        cycles = lanes.done_cycles[done0] - t0
        got = lanes.rows[rows0:]
        self.check_job(job, k, got, len(lanes.done_cycles) - done0, lanes.done_cycles[done0])
        after = self.counters()
        self.check_bytes([job], {c: after[c] - before[c] for c in range(8)}, job.name)
        self.note_bins(job, {lane for lane, *_ in got})
        self.jobs_checked += 1
        return cycles

    def check_job(self, job: Job, k: int, got: list[tuple[int, int, int, int]], dones: int,
                  done_cycle: int) -> None:
        want = [(r["idx"], r["data"]) for r in golden_rows(job) if not r["empty"]]
        if k == self.corrupt_job and want:
            want[0] = (want[0][0], want[0][1] ^ 1)
        if sorted(want) != sorted((i, d) for _, i, d, _ in got):
            missing = sorted(set(want) - {(i, d) for _, i, d, _ in got})[:3]
            self.errors.append(f"{job.name}: rows differ from golden (missing or wrong: "
                               f"{[i for i, _ in missing]}; {len(got)} rows vs {len(want)})")
        lanes_bad = [(lane, i) for lane, i, _, _ in got
                     if lane != self.env.mem.channel_of(job.group_start(i))]
        if lanes_bad:
            self.errors.append(f"{job.name}: rows on the wrong lane (lane, idx): {lanes_bad[:4]}")
        if dones != 1:
            self.errors.append(f"{job.name}: {dones} done pulses")
        if done_cycle >= 0 and self.env.lanes.last_row_cycle > done_cycle:
            self.errors.append(f"{job.name}: a row left after done")
        errs = [i for _, i, _, e in got if e and i not in job.err_rows]
        if errs and not job.err_rows:
            self.errors.append(f"{job.name}: out_err on clean rows {errs[:4]}")

    async def run_phase(self) -> None:
        self.raise_objection()
        dut = cocotb.top
        dut.rst_n.value = 0
        dut.err_clear.value = 0
        start_clock(dut.clk, PERIOD)
        await reset(dut.clk, dut.rst_n)
        await self.body()
        self.drop_objection()

    async def body(self) -> None:
        for k in range(self.jobs):
            await self.run_job(self.random_job(k), k)

    def check_phase(self) -> None:
        assert self.jobs_checked > 0, "no job ran"
        if self.errors:
            raise ArrayError(f"{self.errors[0]} ({len(self.errors)} errors, {seed_text()})")
        export_bins(self, self.bins)
        missed = [b for b, n in self.bins.items() if not n]
        if self.bins_required and missed:
            raise CoverageError(f"job bins never hit: {missed} ({self.bins})")
        self.logger.info(f"{self.jobs_checked} jobs exact (rows, lanes, done, byte counters)")


# ================================================================ tests
@pyuvm.test()
class ArrayRandomTest(ArrayTest):
    """Range and list jobs of every pattern and width, random timing everywhere."""

    jobs = 16


@pyuvm.test()
class ArrayErrorTest(ArrayTest):
    """An SLVERR beat: every row still delivered and done pulses; the bad row flagged, the
    sticky status names its response, channel and class until err_clear; the next job clean."""

    jobs = 0
    bins_required = False

    async def body(self) -> None:
        dut, mem = cocotb.top, self.env.mem
        x12 = self.nrng.integers(-2048, 2048, size=(64, 64))
        job = Job("err_K", "range", x12, 8, 0, False, CLS["K_MSB"], CLS["K_LSB"], list(range(64)))
        mem.load_job(job)
        bad = self.rng.randrange(64)
        lo = job.mbase + bad * job.images[2]
        for ram in mem.rams:
            ram.error_ranges = [(lo, lo + 32, SLVERR)]
        job.err_rows = job.rows_touching(lo, lo + 32)
        mem.next_addr = job.mbase  # run_job places the same image again at the same base
        await self.run_job(job)
        flagged = {i for _, i, _, e in self.env.lanes.rows if e}
        assert bad in flagged, f"row {bad} with an SLVERR beat not flagged ({seed_text()})"
        status = (int(dut.err_valid.value), int(dut.err_resp.value), int(dut.err_channel.value),
                  int(dut.err_class.value))
        want = (1, SLVERR, mem.channel_of(lo), CLS["K_MSB"])
        assert status == want, f"error status {status}, expected {want} ({seed_text()})"
        for ram in mem.rams:
            ram.error_ranges = []
        dut.err_clear.value = 1
        await RisingEdge(dut.clk)
        dut.err_clear.value = 0
        await RisingEdge(dut.clk)
        assert not int(dut.err_valid.value), "err_clear did not clear the sticky status"
        await self.run_job(self.random_job(1), 1)
        assert not int(dut.err_valid.value), "error status set by a clean job"


@pyuvm.test()
class ArrayBandwidthTest(ArrayTest):
    """A long sequential K stream (range job, 8-bit and 4-bit rows), no pauses or
    backpressure, memory latency 20 and 100: beats per cycle into the key buffer against
    CHANNELS x 32 B per cycle. Sustained (first to last row) >= 0.9 of that peak when each
    port's reorder buffer covers the latency (ROB_BEATS >= latency + 24)."""

    jobs = 0
    idle = latency = jitter = ar_pause = r_pause = backpressure = 0
    bins_required = False

    async def body(self) -> None:
        ch, rob = self.p["CHANNELS"], self.p["ROB_BEATS"]
        lanes, results = self.env.lanes, []
        # Icarus: a quarter of the stream (the same logic, ~4x less simulation); the stream
        # stays long against the latency (>= 512 beats per port), so the ratio still holds
        per_port = 16 * 64 // (1 if on_verilator() else 4)
        for latency in (20, 100):
            self.env.mem.set_timing(latency, 0, 0.0, 0.0)
            for m, rows in ((8, per_port * ch), (6, per_port * ch), (4, 2 * per_port * ch)):
                x12 = self.nrng.integers(-2048, 2048, size=(rows, 64))
                job = Job(f"bw_m{m}_lat{latency}", "range", x12, m, 0, False, CLS["K_MSB"],
                          CLS["K_LSB"], list(range(rows)))
                nb0 = sum(len(r.bursts) for r in self.env.mem.rams)
                cycles = await self.run_job(job)
                beats = job.golden_bytes()[CLS["K_MSB"]] // 32
                nbursts = sum(len(r.bursts) for r in self.env.mem.rams) - nb0
                steady = max(1, lanes.last_row_cycle - lanes.first_row_cycle + 1)
                res = {"case": job.name, "channels": ch, "latency": latency, "rob_beats": rob,
                       "beats": beats, "cycles": cycles,
                       "bytes_per_cycle": round(32 * beats / cycles, 1),
                       "of_peak": round(beats / cycles / ch, 3),
                       "sustained_of_peak": round(beats / steady / ch, 3),
                       "mean_burst_beats": round(beats / max(1, nbursts), 1)}
                lanes.first_row_cycle = -1
                results.append(res)
                self.logger.info(f"bandwidth {res}")
        out = Path(os.environ.get("SPATTEN_TEST_DIR", ".")) / "bandwidth.json"
        out.write_text(json.dumps(results, indent=1))
        for r in results:
            if rob >= r["latency"] + 24:
                assert r["sustained_of_peak"] >= 0.9, f"K stream below 0.9 of peak: {r} ({seed_text()})"


@pyuvm.test()
class ArrayOverlapTest(ArrayTest):
    """Jobs in pairs, back to back: the second job is offered as soon as the first is sent.
    One of the same shape (D, bits, class, stride) is taken while the first one's rows are
    still coming (two in flight); one of another shape waits. Rows go to their job by
    out_tag alone and are checked as in the other tests; one done per job, in order; the
    byte counters of a pair equal the sum of its two jobs' golden bytes."""

    jobs = 0
    bins_required = False
    pairs = 12

    def twin(self, job: Job, k: int) -> Job:
        """A job of the same shape on other rows and data (every third pair: another shape)."""
        if k % 3 == 2:
            return self.random_job(k + 1)
        x12 = self.nrng.integers(-2048, 2048, size=(self.n_tokens, job.d))
        pattern = "range" if job.pattern == "range" else ("sparse", "runs", "random")[k % 3]
        idx = (list(range(self.rng.randrange(self.n_tokens // 2), self.n_tokens))
               if pattern == "range" else make_indexes(pattern, self.n_tokens, self.rng))
        return Job(f"{job.name}_twin", pattern, x12, job.m, 0, False, job.cls_m, job.cls_l, idx)

    async def body(self) -> None:
        dut, lanes = cocotb.top, self.env.lanes
        overlapped = 0
        for k in range(self.pairs):
            first = self.random_job(k if k % 4 else 0)  # V lists mostly, K ranges too
            jobs = (first, self.twin(first, k))
            before, rows0, done0 = self.counters(), len(lanes.rows), len(lanes.done_cycles)
            for job in jobs:
                await self.issue(job)
            limit = 200 * (len(jobs[0].idx) + len(jobs[1].idx) + 10) + 5000
            while len(lanes.done_cycles) < done0 + 2:
                await RisingEdge(dut.clk)
                limit -= 1
                assert limit > 0, f"pair {k}: {len(lanes.done_cycles) - done0} of 2 done pulses ({seed_text()})"
            for _ in range(3):  # a third done pulse would show here
                await RisingEdge(dut.clk)
            dones = lanes.done_cycles[done0:]
            rows = list(zip(lanes.rows[rows0:], lanes.tags[rows0:], lanes.row_cycles[rows0:], strict=True))
            if len(dones) != 2:
                self.errors.append(f"pair {k}: {len(dones)} done pulses for 2 jobs")
            for j, job in enumerate(jobs):
                parity = (self.jobs_checked + j) % 2  # the array's job count parity
                mine = [(r, c) for r, t, c in rows if t == parity]
                self.check_job(job, k, [r for r, _ in mine], 1, -1)
                if mine and max(c for _, c in mine) > dones[j]:
                    self.errors.append(f"{job.name}: a row left after its done")
            after = self.counters()
            self.check_bytes(list(jobs), {c: after[c] - before[c] for c in range(8)}, f"pair {k}")
            second = [c for _, t, c in rows if t != self.jobs_checked % 2]
            overlapped += bool(second) and min(second) < dones[0]
            self.jobs_checked += 2
        self.logger.info(f"{overlapped} of {self.pairs} pairs: the second job's first row came "
                         "before the first job's done")
        assert overlapped, f"no pair ever had two jobs in flight ({seed_text()})"


@pyuvm.test(expect_error=ArrayError)
class ArrayBrokenModelTest(ArrayTest):
    """The scoreboard must catch a model that disagrees with the DUT (expect-fail)."""

    jobs = 4
    corrupt_job = 2
    bins_required = False


# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    ("kv_fetch_array.v", "      x = a >> LGB;", "      x = a;",
     "fetch array dispatches rows by beat instead of by interleave granule"),
    ("kv_fetch_array.v", "if (32'(kj) * 32'(sg_q) < 32'(to_bnd)) k_gran = (LGB+1)'(kj + 1);",
     "if (32'(kj) * 32'(sg_q) <= 32'(to_bnd)) k_gran = (LGB+1)'(kj + 1);",
     "fetch array run of a granule takes the first row of the next granule"),
    ("kv_fetch_array.v", "if (gen_ch[ci] && range_q && r_final) flushed_q[ci] <= 1'b1;",
     "if (gen_ch[ci]) flushed_q[ci] <= 1'b1;",
     "fetch array sends no end marker after a run not flagged final so the job never ends"),
    ("kv_fetch_array.v", ": {l_first[gc], l_cnt[gc], 2'b00};", ": {l_first[gc], l_cnt[gc], 2'b10};",
     "fetch array marks every list run final so a channel ends its job at its first run"),
    ("kv_fetch_array.v", "wire                r_final = gran_left < BA_W'(CHANNELS);",
     "wire                r_final = gran_left <= BA_W'(CHANNELS);",
     "fetch array marks a range run final while a later run goes to the same channel"),
    ("kv_fetch_array.v", "ch_of(base_q + (in_idx[lj*IDX_W +: IDX_W] >> lgp_q) * sg_q)",
     "ch_of(base_q + in_idx[lj*IDX_W +: IDX_W] * sg_q)",
     "fetch array list dispatch splits a row group over two channels"),
    ("kv_fetch_array.v", "          l_stop = 1'b1;\n", "          l_stop = l_stop;\n",
     "fetch array list dispatch goes on past a lane that must wait"),
    ("kv_fetch_array.v", "&& lr_idx_q[la] == lr_idx_q[(la > 0) ? la - 1 : 0] + 1'b1) begin",
     ") begin", "fetch array list run takes a lane that does not continue it"),
    ("kv_fetch_array.v", "if (lane_last[ci]) tag_q[ci] <= ~tag_q[ci];",
     "if (lane_last[ci]) tag_q[ci] <= tag_q[ci];",
     "fetch array tags the rows of two jobs in flight alike", "ArrayOverlapTest"),
    ("kv_fetcher.v", "job_active_q & ~job_two_q & in_done_q & job_same;",
     "job_active_q & ~job_two_q & in_done_q;",
     "fetcher takes a second job of another shape while the first's rows are in flight",
     "ArrayOverlapTest"),
    ("kv_fetcher.v", "job_active_q & ~job_two_q & in_done_q & job_same;",
     "job_active_q & ~job_two_q & job_same;",
     "fetcher takes a second job before the first one's indexes are all in", "ArrayOverlapTest"),
]
MUTANT_SIM = "verilator"
# one at a time, the first failure ends the run: a hang mutant then waits out one test, not five
MUTANT_TESTCASES = "ArrayRandomTest,ArrayErrorTest,ArrayBandwidthTest,ArrayOverlapTest"


@pytest.mark.long
@pytest.mark.sim
def test_kv_fetch_array(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)

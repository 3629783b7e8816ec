"""kv_fetcher: live token indexes -> joined 12-bit D-vectors, fetched over CHANNELS AXI4 ports.

One cocotbext-axi AxiRam (read side, verif.axi_mem.LatencyAxiRamRead) per channel, with memory
latency, random latency jitter and random AR/R backpressure. The memory image of every job is
built by golden ``pack_planes`` / ``pack_rows`` (MSB-only jobs: packed rows, sometimes a wider
stride or a plane that starts inside a beat; two-plane jobs: whole-beat rows; verif.fetchjobs)
and written only into the channel that owns each interleave
granule (the other channels hold poison), so a request sent to the wrong channel returns wrong
data. The scoreboard predicts every output packet from the golden ``unpack_planes`` +
``join_planes`` (``reconstruct`` for MSB-only) of that image; after every job the byte
counters must equal golden ``fetch_bytes`` of the job's index list exactly, per class.
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
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiReadBus
from pyuvm import ConfigDB, uvm_component, uvm_env, uvm_test

from golden import fixed as fx
from golden.traffic import BYTE_CLASSES
from verif.axi_mem import DECERR, SLVERR, LatencyAxiRamRead
from verif.fetchjobs import Job, golden_rows, make_indexes
from verif.runner import Bench
from verif.seeding import params, seed_all, seed_text
from verif.stream import reset, start_clock
from verif.testing import run_bench
from verif.uvm import (
    CoverageError,
    CoverageSubscriber,
    Scoreboard,
    ScoreboardError,
    StreamAgent,
    StreamAgentConfig,
    StreamItem,
    export_bins,
    wait_drained,
)
from verif.vecstream import ItemSequence

TB = Path(__file__).resolve().parent


DEFAULTS = {"CHANNELS": 2, "OUTSTANDING": 8, "ID_W": 3, "MAX_BURST": 16, "LOG2_INTERLEAVE": 9,
            "ROB_BEATS": 128}
BENCH = Bench("kv_fetcher_tb", [str(TB / "kv_fetcher_tb.v"), "kv_fetcher.v"], DEFAULTS,
              test_module="test_kv_fetcher", tb_dir=TB)
CONFIGS = [
    {"CHANNELS": 1, "OUTSTANDING": 16, "ID_W": 4, "MAX_BURST": 16, "LOG2_INTERLEAVE": 12, "ROB_BEATS": 128},
    {"CHANNELS": 4, "OUTSTANDING": 2, "ID_W": 1, "MAX_BURST": 256, "LOG2_INTERLEAVE": 12, "ROB_BEATS": 256},
    {"CHANNELS": 16, "OUTSTANDING": 4, "ID_W": 2, "MAX_BURST": 8, "LOG2_INTERLEAVE": 8, "ROB_BEATS": 128},
]
PERIOD = 10
MEM_SIZE = 1 << 21
CLS = {name: i for i, name in enumerate(BYTE_CLASSES)}  # Q 0, K_MSB 1, K_LSB 2, V_MSB 3, V_LSB 4, E 5
CNT_W = 48
POISON = 0xA5


def job_model(item: StreamItem) -> list[StreamItem]:
    return [StreamItem("expected", golden_rows(item.meta["job"]))]


def broken_model(item: StreamItem) -> list[StreamItem]:
    """Deliberately wrong: the third job's first value is off by one LSB."""
    broken_model.calls = getattr(broken_model, "calls", 0) + 1
    beats = golden_rows(item.meta["job"])
    if broken_model.calls == 3:
        beats[0] = {**beats[0], "data": beats[0]["data"] ^ 1}
    return [StreamItem("expected", beats)]


JOB_BINS = {
    "pattern_sequential": lambda it: it.meta["job"].pattern == "sequential",
    "pattern_sparse": lambda it: it.meta["job"].pattern == "sparse",
    "pattern_runs": lambda it: it.meta["job"].pattern == "runs",
    "pattern_random": lambda it: it.meta["job"].pattern == "random",
    "pattern_empty": lambda it: it.meta["job"].pattern == "empty",
    "pattern_single": lambda it: it.meta["job"].pattern == "single",
    "end_marker_after_rows": lambda it: it.meta["job"].end_marker,
    "mode_msb_only": lambda it: not it.meta["job"].lsb_en and it.meta["job"].m < 12,
    "mode_msb_lsb": lambda it: it.meta["job"].l_eff > 0,
    "mode_q_12bit": lambda it: it.meta["job"].m == 12,
    "row_3_beats": lambda it: -(-it.meta["job"].d * (it.meta["job"].m + it.meta["job"].l_eff) // 256) >= 3,
    "d_small": lambda it: it.meta["job"].d < 64,
}


# ================================================================ environment
class MemSystem(uvm_component):
    """One LatencyAxiRamRead per channel; builds job images; burst coverage and checks."""

    latency = 20
    jitter = 10
    ar_pause = 0.2
    r_pause = 0.2

    def build_phase(self) -> None:
        self.p = params()
        self.ch = self.p["CHANNELS"]
        self.gran = 1 << self.p["LOG2_INTERLEAVE"]
        self.rng = random.Random(int(cocotb.RANDOM_SEED) + 17)
        self.next_addr = 0x1000 + 32 * self.rng.randrange(64)

    def channel_of(self, addr: int) -> int:
        return (addr // self.gran) % self.ch if self.ch > 1 else 0

    def start_of_simulation_phase(self) -> None:
        dut = cocotb.top
        self.rams: list[LatencyAxiRamRead] = []
        for c in range(self.ch):
            logging.getLogger(f"cocotb.{dut._name}.m{c:02d}_axi").setLevel(logging.WARNING)
            bus = AxiReadBus.from_prefix(dut, f"m{c:02d}_axi")
            ram = LatencyAxiRamRead(bus, dut.clk, dut.rst_n, size=MEM_SIZE, period_ns=PERIOD,
                                    latency=self.latency, jitter=self.jitter,
                                    rng=random.Random(self.rng.random()),
                                    owns=lambda a, c=c: self.channel_of(a) == c, name=f"ch{c}")
            ram.write(0, bytes([POISON]) * MEM_SIZE)
            ram.set_pause(random.Random(self.rng.random()), self.ar_pause, self.r_pause)
            self.rams.append(ram)

    def alloc(self, nbytes: int) -> int:
        """A fresh, beat-aligned (not page-aligned) region."""
        base = self.next_addr
        self.next_addr += nbytes + 32 * self.rng.randrange(1, 40)
        assert self.next_addr < MEM_SIZE, "test memory exhausted"
        return base

    def place(self, base: int, data: bytes) -> None:
        """Write ``data`` at ``base``: each interleave granule only into its channel."""
        a, end = base, base + len(data)
        while a < end:
            nxt = min(end, (a // self.gran + 1) * self.gran)
            self.rams[self.channel_of(a)].write(a, data[a - base:nxt - base])
            a = nxt

    def load_job(self, job: Job) -> None:
        # MSB-only jobs: packed rows, now and then with a wider stride or a plane that does
        # not start on a beat (any byte address is legal there)
        packed = not job.lsb_en
        job.pack(self.rng.choice([0, 0, 0, 1, 7, 16, 33]) if packed else 0)
        msb_b, lsb_b = job.images[0], job.images[1]
        job.mbase = self.alloc(len(msb_b) + 32) + (self.rng.choice([0, 0, 8, 17, 31]) if packed else 0)
        self.place(job.mbase, msb_b)
        job.lbase = self.alloc(len(lsb_b)) if lsb_b else self.alloc(32)
        if lsb_b:
            self.place(job.lbase, lsb_b)

    def set_errors(self, ranges: list[tuple[int, int, int]]) -> None:
        for ram in self.rams:
            ram.error_ranges = list(ranges)

    def burst_bins(self) -> dict[str, int]:
        maxb = self.p["MAX_BURST"]
        starts = {(c, a) for c, ram in enumerate(self.rams) for _, a, _ in ram.bursts}
        hits = {"burst_len_1": 0, "burst_len_mid": 0, "burst_len_max": 0, "burst_split_4k": 0,
                "all_channels_used": 0}
        for c, ram in enumerate(self.rams):
            for _, a, n in ram.bursts:
                end = a + 32 * n
                hits["burst_len_1"] += n == 1
                hits["burst_len_mid"] += 1 < n < min(maxb, 128)
                hits["burst_len_max"] += n == min(maxb, 128)
                # cut at a 4 KiB boundary and continued by the next burst
                nxt_ch = self.channel_of(end) if end % self.gran == 0 else c
                hits["burst_split_4k"] += end % 4096 == 0 and (nxt_ch, end) in starts
        hits["all_channels_used"] = int(all(ram.bursts for ram in self.rams))
        return hits

    def check_phase(self) -> None:
        wrong = [(ram.name, hex(a)) for ram in self.rams for a in ram.wrong_channel]
        assert not wrong, f"bursts sent to the wrong channel: {wrong[:5]} ({seed_text()})"


class BurstCoverage(uvm_component):
    """Burst length bins from what the memories saw; fails when a promised bin is unhit."""

    required: tuple[str, ...] = ()

    def check_phase(self) -> None:
        hits = self.mem.burst_bins()
        export_bins(self, hits)
        self.logger.info(f"burst bins {hits}")
        missed = [b for b in self.required if not hits[b]]
        if missed:
            raise CoverageError(f"burst bins never hit: {missed} ({hits})")


class FetchEnv(uvm_env):
    def build_phase(self) -> None:
        self.job = StreamAgent("job", self)
        self.src = StreamAgent("src", self)
        self.snk = StreamAgent("snk", self)
        self.sb = Scoreboard("sb", self)
        self.mem = MemSystem("mem", self)
        self.jobcov = CoverageSubscriber("jobcov", self)
        self.jobcov.bins = dict(JOB_BINS)
        self.burstcov = BurstCoverage("burstcov", self)
        self.burstcov.mem = self.mem

    def connect_phase(self) -> None:
        self.snk.ap.connect(self.sb.out.analysis_export)



JOB_FIELDS = ("msb_base", "lsb_base", "msb_stride", "lsb_stride", "d", "msb_bits", "lsb_bits",
              "lsb_en", "class_msb", "class_lsb")
OUT_FIELDS = ("data", "known_bits", "idx", "empty", "err")


class FetchTest(uvm_test):
    """Base: a list of random jobs; counters checked after each job. Override the knobs."""

    idle = 0.2
    backpressure = 0.2
    jobs = 10
    n_tokens = 48
    patterns = ("sequential", "sparse", "runs", "random", "empty", "single")
    model = staticmethod(job_model)
    latency, jitter, ar_pause, r_pause = 20, 10, 0.2, 0.2
    job_bins_required = True
    burst_bins_required: tuple[str, ...] = ()

    def build_phase(self) -> None:
        self.nrng = seed_all(type(self).__name__)
        self.rng = random.Random(int(self.nrng.integers(2**31)))
        self.p = params()
        ConfigDB().set(None, "*env.job", "cfg", StreamAgentConfig("job", fields=JOB_FIELDS, has_last=False))
        ConfigDB().set(None, "*env.src", "cfg", StreamAgentConfig("in", fields=("idx", "empty"), idle=self.idle))
        ConfigDB().set(None, "*env.snk", "cfg", StreamAgentConfig("out", fields=OUT_FIELDS, role="sink",
                                                                  backpressure=self.backpressure))
        MemSystem.latency, MemSystem.jitter = self.latency, self.jitter
        MemSystem.ar_pause, MemSystem.r_pause = self.ar_pause, self.r_pause
        self.env = FetchEnv("env", self)
        self.counter_errors: list[str] = []
        self.jobs_checked = 0

    def connect_phase(self) -> None:
        self.env.sb.model = self.model
        self.env.jobcov.required = self.job_bins_required
        self.env.burstcov.required = self.burst_bins_required

    # ---------------------------------------------------------------- job construction
    def random_job(self, k: int, pattern: str | None = None) -> Job:
        rng = self.rng
        pattern = pattern or self.patterns[k % len(self.patterns)]
        kind = ("K", "V", "Q", "K", "V")[k % 5]
        d = rng.choice([64, 64, 32, 16, 8, 1]) if kind != "Q" else 64
        n = self.n_tokens
        x12 = self.nrng.integers(-2048, 2048, size=(n, d))
        if kind == "Q":
            m, l, lsb_en, cm, cl = 12, 0, False, CLS["Q"], CLS["K_LSB"]  # noqa: E741
        else:
            m = rng.randint(1, 11)
            l = rng.randint(0, 12 - m)  # noqa: E741
            lsb_en = bool(k % 2)
            cm, cl = (CLS["K_MSB"], CLS["K_LSB"]) if kind == "K" else (CLS["V_MSB"], CLS["V_LSB"])
        idx = make_indexes(pattern, n, rng)
        # a third of the lists end with kv_fetch_array's end marker instead of a last index
        return Job(f"job{k}_{kind}_{pattern}", pattern, x12, m, l, lsb_en, cm, cl, idx,
                   end_marker=bool(idx) and rng.random() < 1 / 3)

    def job_item(self, job: Job) -> StreamItem:
        _, _, sm, sl = job.images
        beat = {"msb_base": job.mbase, "lsb_base": job.lbase, "msb_stride": sm,
                "lsb_stride": sl, "d": job.d, "msb_bits": job.m, "lsb_bits": job.l,
                "lsb_en": int(job.lsb_en), "class_msb": job.cls_m, "class_lsb": job.cls_l}
        return StreamItem("job", [beat], {"job": job})

    @staticmethod
    def index_item(job: Job) -> StreamItem:
        if not job.idx:
            return StreamItem("idx", [{"idx": 0, "empty": 1, "last": 1}])
        last = len(job.idx) - 1 + job.end_marker
        marker = [{"idx": 0, "empty": 1, "last": 1}] if job.end_marker else []
        return StreamItem("idx", [{"idx": j, "empty": 0, "last": int(i == last)}
                                  for i, j in enumerate(job.idx)] + marker)

    # ---------------------------------------------------------------- running
    def counters(self) -> list[int]:
        v = int(cocotb.top.cnt_rd_bytes.value)
        return [(v >> (CNT_W * i)) & ((1 << CNT_W) - 1) for i in range(8)]

    async def run_job(self, job: Job) -> int:
        """Issue one job, wait for its packet, check the byte counters; returns its cycles."""
        dut, env = cocotb.top, self.env
        if not job.images[0]:
            env.mem.load_job(job)
        before = self.counters()
        item = self.job_item(job)
        env.sb.inp.analysis_export.write(item)
        env.jobcov.write(item)
        t0 = get_sim_time("ns")
        await ItemSequence("send", [item]).start(env.job.seqr)
        await ItemSequence("send", [self.index_item(job)]).start(env.src.seqr)
        await wait_drained(dut.clk, env.sb, [env.job.driver.source, env.src.driver.source],
                           timeout_cycles=200 * (len(job.idx) + 10) + 5000)
        while int(dut.busy.value):
            await RisingEdge(dut.clk)
        cycles = round((get_sim_time("ns") - t0) / PERIOD)
        after = self.counters()
        got = {c: after[c] - before[c] for c in range(8)}
        want = job.golden_bytes()
        if got != want:
            self.counter_errors.append(f"{job.name}: byte counters {got}, golden fetch_bytes {want}")
        self.jobs_checked += 1
        return cycles

    async def start(self) -> None:
        dut = cocotb.top
        dut.rst_n.value = 0
        dut.err_clear.value = 0
        start_clock(dut.clk, PERIOD)
        await reset(dut.clk, dut.rst_n)

    async def run_phase(self) -> None:
        self.raise_objection()
        await self.start()
        await self.body()
        self.drop_objection()

    async def body(self) -> None:
        for k in range(self.jobs):
            await self.run_job(self.random_job(k))

    def check_phase(self) -> None:
        assert self.jobs_checked > 0, "no job ran"
        assert not self.counter_errors, f"{self.counter_errors[0]} ({seed_text()})"
        self.logger.info(f"byte counters exact (golden fetch_bytes) for {self.jobs_checked} jobs")


# ================================================================ tests
@pyuvm.test()
class FetchRandomTest(FetchTest):
    """Every index pattern and precision mode; random latency, jitter, AR/R pauses, idle
    input, output backpressure; bursts of length 1, mid, max and cut at 4 KiB."""

    jobs = 14
    burst_bins_required = ("burst_len_1", "burst_len_mid", "burst_split_4k", "all_channels_used")

    async def body(self) -> None:
        for k in range(self.jobs):
            await self.run_job(self.random_job(k))
        # A long sequential MSB-only fetch from a slow memory: runs pile up in the ROB while
        # every tag waits, so bursts reach MAX_BURST (or the 4 KiB page, 128 beats).
        for r in self.env.mem.rams:
            r.latency, r.jitter = 150, 0
        x12 = self.nrng.integers(-2048, 2048, size=(600, 64))
        await self.run_job(Job("long_seq", "sequential", x12, 8, 4, False, CLS["K_MSB"],
                               CLS["K_LSB"], list(range(600))))

    def check_phase(self) -> None:
        super().check_phase()
        hits = self.env.mem.burst_bins()
        if not hits["burst_len_max"]:
            raise CoverageError(f"burst bin burst_len_max never hit ({hits})")


@pyuvm.test()
class FetchMaxNTest(FetchTest):
    """One list of MAX_N = 4096 indexes (every token of a 4096-token head), MSB-only 4 bits
    (one beat per row), then MSB+LSB 6+4 on a random half."""

    idle, backpressure, ar_pause, r_pause, jitter = 0.0, 0.1, 0.05, 0.05, 4
    job_bins_required = False

    async def body(self) -> None:
        x12 = self.nrng.integers(-2048, 2048, size=(fx.MAX_N, 64))
        await self.run_job(Job("max_n", "max_n", x12, 4, 4, False, CLS["V_MSB"], CLS["V_LSB"],
                               list(range(fx.MAX_N))))
        half = sorted(self.rng.sample(range(1024), 512))
        await self.run_job(Job("half", "sparse", x12[:1024], 6, 4, True, CLS["K_MSB"], CLS["K_LSB"], half))


@pyuvm.test()
class FetchErrorTest(FetchTest):
    """SLVERR and DECERR read responses: the packet still ends with last, error rows and the
    rest of the packet flagged, sticky status (first error's resp/channel/class) until
    err_clear, byte counters still exact, the next job clean."""

    jobs = 0
    job_bins_required = False

    async def body(self) -> None:
        dut, mem = cocotb.top, self.env.mem
        for resp, lsb in ((SLVERR, False), (DECERR, True)):
            job = self.random_job(0, "sequential")
            job.m, job.l, job.lsb_en = 6, 4, lsb
            mem.load_job(job)
            bad = job.idx[len(job.idx) // 2]
            # poison one row of the plane under test
            if lsb:  # whole-beat rows: exactly the bad row
                lo = job.lbase + bad * job.images[3]
                hi = lo + job.images[3]
                job.err_rows = {bad}
            else:  # packed rows: every row with a byte in one of the bad row's beats
                lo, hi = job.row_span(bad)
                lo -= lo % 32  # the memory answers per beat: every beat the row touches
                job.err_rows = job.rows_touching(lo, hi)
            mem.set_errors([(lo, hi, resp)])
            await self.run_job(job)
            ch = mem.channel_of(lo)
            status = (int(dut.err_valid.value), int(dut.err_resp.value), int(dut.err_channel.value),
                      int(dut.err_class.value))
            want = (1, resp, ch, job.cls_l if lsb else job.cls_m)
            assert status == want, f"error status {status}, expected {want} ({seed_text()})"
            mem.set_errors([])
            dut.err_clear.value = 1
            await RisingEdge(dut.clk)
            dut.err_clear.value = 0
            await RisingEdge(dut.clk)
            assert not int(dut.err_valid.value), "err_clear did not clear the sticky status"
            await self.run_job(self.random_job(1, "runs"))
            assert not int(dut.err_valid.value), "error status set by a clean job"


class _BandwidthBase(FetchTest):
    idle = backpressure = ar_pause = r_pause = 0.0
    jitter = 0
    latency = 40
    job_bins_required = False


@pyuvm.test()
class FetchBandwidthTest(_BandwidthBase):
    """Sequential and sparse MSB-only fetch, no backpressure, memory latency 40 cycles:
    bytes per cycle vs the AXI peak (32 B/cycle per channel). With one channel, sequential
    must sustain >= 90 % of the AXI peak (= the fetcher's output bound, docs/memory.md)."""

    async def body(self) -> None:
        p = self.p
        results = []
        x12 = self.nrng.integers(-2048, 2048, size=(2048, 64))
        cases = [("sequential_m4", 4, list(range(2048))), ("sequential_m8", 8, list(range(1024))),
                 ("sequential_m6_packed", 6, list(range(1024))),
                 ("sparse_m8_1of4", 8, sorted(self.rng.sample(range(2048), 512))),
                 ("sparse_m4_1of4", 4, sorted(self.rng.sample(range(2048), 512)))]
        for name, m, idx in cases:
            job = Job(name, name, x12, m, 0, False, CLS["K_MSB"], CLS["K_LSB"], idx)
            cycles = await self.run_job(job)
            nbytes = job.golden_bytes()[CLS["K_MSB"]]
            bpc = nbytes / cycles
            res = {"case": name, "channels": p["CHANNELS"], "latency": self.latency,
                   "bytes": nbytes, "cycles": cycles, "bytes_per_cycle": round(bpc, 2),
                   "of_axi_peak": round(bpc / (32 * p["CHANNELS"]), 3),
                   "of_port_bound": round(bpc / 32, 3),
                   "stall_cycles": int(cocotb.top.cnt_stall.value)}
            results.append(res)
            self.logger.info(f"bandwidth {res}")
        out = Path(os.environ.get("SPATTEN_TEST_DIR", ".")) / "bandwidth.json"
        out.write_text(json.dumps(results, indent=1))
        # One channel: >= 90 % of the AXI peak. Several channels share the one-beat-per-cycle
        # drain (docs/memory.md): a regression guard at 70 % of that bound.
        floor = 0.90 if p["CHANNELS"] == 1 else 0.70
        for r in results:
            if r["case"].startswith("sequential"):
                assert r["of_port_bound"] >= floor, f"sequential fetch too slow: {r} ({seed_text()})"


@pyuvm.test(expect_error=ScoreboardError)
class FetchBrokenModelTest(FetchTest):
    """The scoreboard must catch a model that disagrees with the DUT (expect-fail)."""

    jobs = 4
    patterns = ("sequential", "sparse", "runs", "single")
    model = staticmethod(broken_model)
    job_bins_required = False


# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    ("kv_fetcher.v", "(r_row_end ? ROB_AW'(r_skip2) : {ROB_AW{1'b0}})", "{ROB_AW{1'b0}}",
     "fetcher ROB write ignores the other plane beats"),
    ("kv_fetcher.v", "cnt_q[r_plane ? cls_l_q : cls_m_q] <= cnt_q[r_plane ? cls_l_q : cls_m_q]",
     "cnt_q[cls_m_q] <= cnt_q[cls_m_q]", "fetcher LSB bytes counted in the MSB class"),
    ("kv_fetcher.v", "wire [8:0]  sp_len = (sp_len_a < sp_to_bnd) ? sp_len_a : sp_to_bnd;",
     "wire [8:0]  sp_len = sp_len_a;", "fetcher bursts not cut at 4 KiB or interleave boundaries"),
    ("kv_fetcher.v", "wire            in_sh  = packed_q & prev_v_q & (in_fb == prev_lb_q);",
     "wire            in_sh  = 1'b0;", "fetcher reads a shared beat twice"),
    ("kv_fetcher.v", "wire [4*AXI_DATA_W-1:0] row_al = row_beats[0 +: 4*AXI_DATA_W] >> {ri_off, 3'd0};",
     "wire [4*AXI_DATA_W-1:0] row_al = row_beats[0 +: 4*AXI_DATA_W];",
     "fetcher ignores the byte offset of a packed row"),
    ("kv_fetcher.v", "      carry_q     <= head_beat;\n", "      carry_q     <= asm_q[0];\n",
     "fetcher carry register keeps the wrong beat"),
]
MUTANT_SIM = "verilator"


@pytest.mark.long
@pytest.mark.sim
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: f"CH{p['CHANNELS']}")
def test_kv_fetcher(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)

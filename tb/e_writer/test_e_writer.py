"""e_writer: E rows (D x 16 bit, golden pack_rows layout) and raw score beats written over
AXI4 into a cocotbext-axi AxiRam (verif.axi_mem.ErrAxiRamWrite) with random AW/W/B
backpressure. After each job the memory is read back and compared by the scoreboard with the
golden image (gaps between rows included: they must keep the poison); the write byte counters
must equal golden fetch_bytes exactly; no burst longer than MAX_BURST; SLVERR/DECERR responses
end the job cleanly with done_err and a sticky status. The bandwidth test measures W beats per
cycle and the burst lengths of long runs of contiguous rows."""

from __future__ import annotations

import json
import logging
import os
import random
from collections import Counter
from pathlib import Path

import cocotb
import numpy as np
import pytest
import pyuvm
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiWriteBus
from pyuvm import ConfigDB, uvm_env, uvm_test

from golden import fixed as fx
from golden.blocks import pack_rows, row_stride
from golden.traffic import BYTE_CLASSES, e_bytes
from verif.axi_mem import DECERR, SLVERR, ErrAxiRamWrite
from verif.runner import Bench
from verif.seeding import params, seed_all, seed_text
from verif.stream import reset, start_clock
from verif.testing import run_bench
from verif.uvm import (
    CoverageSubscriber,
    Scoreboard,
    ScoreboardError,
    StreamAgent,
    StreamAgentConfig,
    StreamItem,
)
from verif.vecstream import ItemSequence

BENCH = Bench("e_writer", ["e_writer.v"], {"OUTSTANDING": 4, "MAX_BURST": 16, "FIFO_BEATS": 32, "RUNS": 4})
# spatten_top's build, and a small buffer and run queue with one burst in flight.
CONFIGS = [{"OUTSTANDING": 4, "MAX_BURST": 16, "FIFO_BEATS": 32, "RUNS": 4},
           {"OUTSTANDING": 1, "MAX_BURST": 8, "FIFO_BEATS": 16, "RUNS": 2}]
CLS_E = BYTE_CLASSES.index("E")
CLS_IMP = 6  # importance scores / live lists (not a golden traffic class)
CNT_W = 48
MEM_SIZE = 1 << 20
POISON = 0x5A


class WJob:
    def __init__(self, name: str, raw: bool, d: int, rows: dict[int, np.ndarray] | list[bytes],
                 cls: int) -> None:
        self.name, self.raw, self.d, self.rows, self.cls = name, raw, d, rows, cls
        self.base = 0
        self.stride = self.row_bytes = row_stride(d, fx.E_W)  # stride > row_bytes: gaps
        self.err_beats: set[int] = set()  # beat addresses answered with an error
        self.bursts: list[int] = []  # AWLEN + 1 of the job's bursts, once it has run

    def locations(self) -> list[tuple[int, int]]:
        """(address, bytes) of every row written and the gap after it up to the next stride."""
        if self.raw:
            return [(self.base + 32 * k, 32) for k in range(len(self.rows))]
        return [(self.base + j * self.stride, self.stride) for j in self.rows]

    def golden_bytes(self) -> int:
        if self.raw:
            return 32 * len(self.rows)
        return e_bytes(len(self.rows), self.d)


def expected_image(job: WJob) -> list[dict]:
    """Golden memory content of every written row (pack_rows, 16 bits); a beat the memory
    refused (error response) keeps the poison."""
    beats = []
    for n, (addr, size) in enumerate(job.locations()):
        if job.raw:
            data = job.rows[n]
        else:
            j = list(job.rows)[n]
            data, _ = pack_rows(job.rows[j][None, :], fx.E_W, row_stride(job.d, fx.E_W))
            data += bytes([POISON]) * (size - len(data))  # the gap is never written
        for a in job.err_beats:  # a beat answered with an error is not written
            if addr <= a < addr + size:
                off = a - addr
                data = data[:off] + bytes([POISON]) * 32 + data[off + 32:]
        beats.append({"data": int.from_bytes(data, "little"), "addr": addr, "last": 0})
    beats[-1]["last"] = 1
    return beats


def model(item: StreamItem) -> list[StreamItem]:
    return [StreamItem("expected", expected_image(item.meta["job"]))]


def broken_model(item: StreamItem) -> list[StreamItem]:
    broken_model.calls = getattr(broken_model, "calls", 0) + 1
    beats = expected_image(item.meta["job"])
    if broken_model.calls == 2:
        beats[-1] = {**beats[-1], "data": beats[-1]["data"] ^ (1 << 7)}
    return [StreamItem("expected", beats)]


BINS = {
    "mode_e_rows": lambda it: not it.meta["job"].raw,
    "mode_raw_scores": lambda it: it.meta["job"].raw,
    "d_64": lambda it: it.meta["job"].d == 64,
    "d_small": lambda it: it.meta["job"].d < 64,
    "row_crosses_4k": lambda it: any(a // 4096 != (a + s - 1) // 4096 for a, s in it.meta["job"].locations()),
    "single_row": lambda it: len(it.meta["job"].rows) == 1,
    "rows_contiguous": lambda it: contiguous_pairs(it.meta["job"]) > 0,
    "rows_with_gaps": lambda it: it.meta["job"].stride > it.meta["job"].row_bytes,
}


def contiguous_pairs(job: WJob) -> int:
    """Rows whose first beat follows the previous row's last beat (the writer may merge them)."""
    if job.raw:
        return len(job.rows) - 1
    idx = list(job.rows)
    return sum(b == a + 1 for a, b in zip(idx, idx[1:], strict=False)) * (job.stride == job.row_bytes)


class WEnv(uvm_env):
    def build_phase(self) -> None:
        self.job = StreamAgent("job", self)
        self.src = StreamAgent("src", self)
        self.sb = Scoreboard("sb", self)
        self.cov = CoverageSubscriber("cov", self)
        self.cov.bins = dict(BINS)



class WriterTest(uvm_test):
    idle = 0.2
    aw_pause, w_pause, b_pause = 0.2, 0.2, 0.2
    latency = 6
    jobs = 10
    model = staticmethod(model)
    cov_required = True

    def build_phase(self) -> None:
        self.nrng = seed_all(type(self).__name__)
        self.rng = random.Random(int(self.nrng.integers(2**31)))
        ConfigDB().set(None, "*env.job", "cfg",
                       StreamAgentConfig("job", fields=("base", "stride", "d", "raw", "class"), has_last=False))
        ConfigDB().set(None, "*env.src", "cfg", StreamAgentConfig("in", fields=("data", "idx"), idle=self.idle))
        self.env = WEnv("env", self)
        self.errors: list[str] = []
        self.checked = 0
        self.merged = 0  # E jobs with a burst longer than one row
        self.next_addr = 0x1000 + 32 * self.rng.randrange(100)

    def connect_phase(self) -> None:
        self.env.sb.model = self.model
        self.env.cov.required = self.cov_required

    def alloc(self, nbytes: int) -> int:
        base = self.next_addr
        self.next_addr += nbytes + 32 * self.rng.randrange(1, 40)
        assert self.next_addr < MEM_SIZE
        return base

    def random_job(self, k: int) -> WJob:
        rng = self.rng
        if k % 3 == 2:
            beats = [bytes(rng.getrandbits(8) for _ in range(32)) for _ in range(rng.randint(1, 24))]
            job = WJob(f"raw{k}", True, 16, beats, CLS_IMP)
            job.base = self.alloc(32 * len(beats))
            return job
        d = rng.choice([64, 64, 32, 16, 8, 1])
        n = rng.randint(1, 40)
        count = 1 if k % 5 == 0 else rng.randint(1, n)
        idx = rng.sample(range(n), count)  # any order, no repeats
        if k % 4 == 3:  # consecutive rows: one run the writer merges (across 4 KiB below)
            idx = list(range(n - count, n))
        elif rng.random() < 0.5:  # ascending: runs of consecutive rows the writer may merge
            idx.sort()
        e = self.nrng.integers(fx.E_MIN, fx.E_MAX + 1, size=(n, d))
        job = WJob(f"e{k}", False, d, {j: e[j] for j in idx}, CLS_E)
        if k % 4 == 1 or rng.random() < 0.15:  # consecutive rows not contiguous in memory
            job.stride += 32 * rng.randint(1, 2)
        job.base = self.alloc(n * job.stride)
        if k % 4 == 3:  # place the first row (and, ascending, a merged burst) across 4 KiB
            job.d = d = 64
            job.stride = job.row_bytes = row_stride(d, fx.E_W)
            job.rows = {j: self.nrng.integers(fx.E_MIN, fx.E_MAX + 1, size=d) for j in idx}
            page = (self.alloc(n * job.stride + 4096) // 4096 + 1) * 4096
            job.base = page - 32 * self.rng.randint(1, 3) - idx[0] * job.stride
            self.next_addr = max(self.next_addr, job.base + n * job.stride + 32)
        return job

    def counters(self) -> list[int]:
        v = int(cocotb.top.cnt_wr_bytes.value)
        return [(v >> (CNT_W * i)) & ((1 << CNT_W) - 1) for i in range(8)]

    async def run_job(self, job: WJob) -> None:
        dut, env = cocotb.top, self.env
        before = self.counters()
        first_burst = len(self.mem.bursts)
        item = StreamItem("job", [{"base": job.base, "stride": job.stride, "d": job.d,
                                   "raw": int(job.raw), "class": job.cls}], {"job": job})
        env.sb.inp.analysis_export.write(item)
        env.cov.write(item)
        width = len(dut.in_data)
        if job.raw:
            beats = [{"data": int.from_bytes(b, "little") | (self.rng.getrandbits(width - 256) << 256),
                      "idx": self.rng.getrandbits(8)} for b in job.rows]
        else:
            beats = []
            for j, vals in job.rows.items():
                data = 0
                for i, v in enumerate(vals.tolist()):
                    data |= (int(v) & 0xFFFF) << (16 * i)
                data |= self.rng.getrandbits(width) & ~((1 << (16 * job.d)) - 1)  # junk above D
                beats.append({"data": data, "idx": j})
        for i, b in enumerate(beats):
            b["last"] = int(i == len(beats) - 1)
        await ItemSequence("send", [item]).start(env.job.seqr)
        await ItemSequence("send", [StreamItem("rows", beats)]).start(env.src.seqr)
        for _ in range(200 * len(beats) + 2000):
            await RisingEdge(dut.clk)
            if int(dut.done.value):
                break
        else:
            raise TimeoutError(f"{job.name}: no done ({seed_text()})")
        want_err = int(bool(job.err_beats))
        if int(dut.done_err.value) != want_err:
            self.errors.append(f"{job.name}: done_err {int(dut.done_err.value)}, expected {want_err}")
        got = [{"data": int.from_bytes(self.mem.read(a, s), "little"), "addr": a, "last": 0}
               for a, s in job.locations()]
        got[-1]["last"] = 1
        env.sb.out.analysis_export.write(StreamItem("mem", got))
        delta = self.counters()[job.cls] - before[job.cls]
        if delta != job.golden_bytes():
            self.errors.append(f"{job.name}: counter {delta} bytes, golden e_bytes {job.golden_bytes()}")
        job.bursts = [n for _, n in self.mem.bursts[first_burst:]]
        if max(job.bursts) > params()["MAX_BURST"]:
            self.errors.append(f"{job.name}: a burst of {max(job.bursts)} beats > MAX_BURST")
        self.merged += not job.raw and max(job.bursts) > job.row_bytes // 32
        self.checked += 1

    async def run_phase(self) -> None:
        self.raise_objection()
        dut = cocotb.top
        dut.rst_n.value = 0
        dut.err_clear.value = 0
        start_clock(dut.clk)
        logging.getLogger(f"cocotb.{dut._name}.m_axi").setLevel(logging.WARNING)
        self.mem = ErrAxiRamWrite(AxiWriteBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst_n,
                                  size=MEM_SIZE, latency=self.latency)
        self.mem.write(0, bytes([POISON]) * MEM_SIZE)
        self.mem.set_pause(random.Random(self.rng.random()), self.aw_pause, self.w_pause, self.b_pause)
        await reset(dut.clk, dut.rst_n)
        await self.body()
        self.drop_objection()

    async def body(self) -> None:
        for k in range(self.jobs):
            await self.run_job(self.random_job(k))

    def check_phase(self) -> None:
        assert self.checked, "no job ran"
        assert not self.errors, f"{self.errors[0]} ({seed_text()})"
        self.logger.info(f"memory image and byte counters exact for {self.checked} jobs")


@pyuvm.test()
class WriterRandomTest(WriterTest):
    """E rows of every D in any row order, raw score beats, rows crossing 4 KiB; random
    idle input and AW/W/B backpressure; write latency."""

    jobs = 16

    def check_phase(self) -> None:
        super().check_phase()
        assert self.merged, f"no E job had rows merged into one burst ({seed_text()})"


@pyuvm.test()
class WriterErrorTest(WriterTest):
    """SLVERR then DECERR write responses: done with done_err, sticky status (first error's
    response and class) until err_clear; counters exact; the next job clean."""

    jobs = 0
    cov_required = False

    async def body(self) -> None:
        dut = cocotb.top
        for resp in (SLVERR, DECERR):
            job = self.random_job(1)
            addr, _ = job.locations()[-1]
            self.mem.error_ranges = [(addr, addr + 32, resp)]
            job.err_beats = {addr}
            await self.run_job(job)
            status = (int(dut.err_valid.value), int(dut.err_resp.value), int(dut.err_class.value))
            assert status == (1, resp, CLS_E), f"error status {status} ({seed_text()})"
            self.mem.error_ranges = []
            dut.err_clear.value = 1
            await RisingEdge(dut.clk)
            dut.err_clear.value = 0
            await RisingEdge(dut.clk)
            assert not int(dut.err_valid.value), "err_clear did not clear the status"
            await self.run_job(self.random_job(2))
            assert not int(dut.err_valid.value), "error status set by a clean job"


class _Handshakes:
    """Counts handshakes per rising edge: W beats, the cycle of the first row accepted, of the
    first AW handshake and of the last W beat."""

    def __init__(self, dut: object) -> None:
        self.dut = dut
        self.cycle, self.beats = 0, 0
        self.first_aw: int | None = None
        self.first_in: int | None = None
        self.last_w = 0
        cocotb.start_soon(self.run())

    async def run(self) -> None:
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            self.cycle += 1
            if self.first_in is None and int(dut.in_valid.value) and int(dut.in_ready.value):
                self.first_in = self.cycle
            if self.first_aw is None and int(dut.m_axi_awvalid.value) and int(dut.m_axi_awready.value):
                self.first_aw = self.cycle
            if int(dut.m_axi_wvalid.value) and int(dut.m_axi_wready.value):
                self.beats += 1
                self.last_w = self.cycle

    def restart(self) -> None:
        self.beats, self.first_aw, self.first_in = 0, None, None


@pyuvm.test()
class WriterBandwidthTest(WriterTest):
    """No backpressure, long runs of contiguous rows: 256 E rows of 64 values (4 beats,
    consecutive indexes, stride = row bytes, crossing 4 KiB 8 times) and 512 raw beats. W beats
    per cycle from the first AW to the last W >= 0.95 (OUTSTANDING >= 2); bursts merged up to
    MAX_BURST (FIFO_BEATS >= 2 * MAX_BURST). Results (with the burst-length histogram) in
    bandwidth.json."""

    idle = aw_pause = w_pause = b_pause = 0.0
    latency = 0
    jobs = 0
    cov_required = False

    async def body(self) -> None:
        n, max_burst = 256, params()["MAX_BURST"]
        e = self.nrng.integers(fx.E_MIN, fx.E_MAX + 1, size=(n, 64))
        rows = WJob("e_rows_d64", False, 64, {j: e[j] for j in range(n)}, CLS_E)
        raw = WJob("raw_beats", True, 16, [self.rng.randbytes(32) for _ in range(512)], CLS_IMP)
        hs = _Handshakes(cocotb.top)
        results = []
        for job in (rows, raw):
            job.base = self.alloc(job.golden_bytes())
            hs.restart()
            await self.run_job(job)
            frac = hs.beats / (hs.last_w - hs.first_aw + 1)
            hist = Counter(job.bursts)
            res = {"case": job.name, "outstanding": params()["OUTSTANDING"], "max_burst": max_burst,
                   "beats": hs.beats, "cycles": hs.last_w - hs.first_aw + 1, "of_w_peak": round(frac, 3),
                   "cycles_from_first_row": hs.last_w - hs.first_in + 1,
                   "bursts": len(job.bursts), "mean_burst": round(hs.beats / len(job.bursts), 2),
                   "burst_lengths": {str(k): hist[k] for k in sorted(hist)}}
            results.append(res)
            self.logger.info(f"bandwidth {res}")
            if hs.beats != job.golden_bytes() // 32:
                self.errors.append(f"{job.name}: {hs.beats} W beats, expected {job.golden_bytes() // 32}")
            # Contiguous rows buffered ahead of the W channel are merged up to MAX_BURST (the
            # buffer holds a burst in flight and the next one: FIFO_BEATS >= 2 * MAX_BURST).
            if params()["FIFO_BEATS"] >= 2 * max_burst and max(job.bursts) != max_burst:
                self.errors.append(f"{job.name}: longest burst {max(job.bursts)} beats, not MAX_BURST {max_burst}")
            # One burst in flight waits for every response: no bound claimed.
            if params()["OUTSTANDING"] >= 2 and frac < 0.95:
                self.errors.append(f"{job.name}: {frac:.3f} of the W peak < 0.95")
        out = Path(os.environ.get("SPATTEN_TEST_DIR", ".")) / "bandwidth.json"
        out.write_text(json.dumps(results, indent=1))


@pyuvm.test(expect_error=ScoreboardError)
class WriterBrokenModelTest(WriterTest):
    """The scoreboard must catch a model that disagrees with the memory (expect-fail)."""

    jobs = 4
    model = staticmethod(broken_model)
    cov_required = False


MUTANTS = [
    ("e_writer.v", "if (raw_q ? (fi < 16) : (fi < 32'(d_q))) in_masked", "if (1'b1) in_masked",
     "writer fields beyond D not zeroed"),
    ("e_writer.v", "cap    = (to4k < 9'(MAX_BURST)) ? to4k : 9'(MAX_BURST);", "cap    = 9'(MAX_BURST);",
     "writer bursts not cut at 4 KiB"),
    ("e_writer.v", "cap    = (to4k < 9'(MAX_BURST)) ? to4k : 9'(MAX_BURST);", "cap    = to4k;",
     "writer bursts not cut at MAX_BURST"),
    ("e_writer.v", "if (w_fire) cnt_q[cls_q] <= cnt_q[cls_q] + CNT_W'(32);",
     "if (issue) cnt_q[cls_q] <= cnt_q[cls_q] + CNT_W'(32);", "writer bytes counted per burst"),
    ("e_writer.v", "(run_cnt != {RP_W{1'b0}}) & (in_addr == tail_end_q)", "(run_cnt != {RP_W{1'b0}})",
     "writer merges rows that are not contiguous"),
    ("e_writer.v", "wire       extend  = (run_cnt", "wire       extend  = 1'b0 & (run_cnt",
     "writer never merges rows"),
    ("e_writer.v", "& ~(can_grow & hold);", "& 1'b1;", "writer issues every row at once without waiting"),
    ("e_writer.v", "| (grow_now & room);", ";", "writer cuts a burst while the next row comes"),
    ("e_writer.v", "run_len_q[rlast_i] <= PT_W'(h_len - blen) + PT_W'(rb);",
     "run_len_q[rlast_i] <= run_len_q[rlast_i] + PT_W'(rb);",
     "writer run grown while issued loses the issued beats"),
]


@pytest.mark.sim
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: f"OS{p['OUTSTANDING']}")
def test_e_writer(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)


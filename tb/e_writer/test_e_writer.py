"""e_writer: E rows (D x 16 bit, golden pack_rows layout) and raw score beats written over
AXI4 into a cocotbext-axi AxiRam (verif.axi_mem.ErrAxiRamWrite) with random AW/W/B
backpressure. After each job the memory is read back and compared by the scoreboard with the
golden image; the write byte counters must equal golden fetch_bytes exactly; SLVERR/DECERR
responses end the job cleanly with done_err and a sticky status."""

from __future__ import annotations

import logging
import random

import cocotb
import numpy as np
import pytest
import pyuvm
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiWriteBus
from pyuvm import ConfigDB, uvm_env, uvm_sequence, uvm_test

from golden import fixed as fx
from golden.blocks import fetch_bytes, pack_rows, row_stride
from golden.traffic import BYTE_CLASSES
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

BENCH = Bench("e_writer", ["e_writer.v"], {"OUTSTANDING": 4})
CONFIGS = [{"OUTSTANDING": 4}, {"OUTSTANDING": 1}]
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
        self.stride = row_stride(d, fx.E_W)
        self.err_beats: set[int] = set()  # beat addresses answered with an error

    def locations(self) -> list[tuple[int, int]]:
        """(address, bytes) of every row written."""
        if self.raw:
            return [(self.base + 32 * k, 32) for k in range(len(self.rows))]
        return [(self.base + j * self.stride, self.stride) for j in self.rows]

    def golden_bytes(self) -> int:
        if self.raw:
            return 32 * len(self.rows)
        return fetch_bytes(list(self.rows), self.d, fx.E_W)


def expected_image(job: WJob) -> list[dict]:
    """Golden memory content of every written row (pack_rows, 16 bits); a beat the memory
    refused (error response) keeps the poison."""
    beats = []
    for n, (addr, size) in enumerate(job.locations()):
        if job.raw:
            data = job.rows[n]
        else:
            j = list(job.rows)[n]
            data, _ = pack_rows(job.rows[j][None, :], fx.E_W)
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
}


class WEnv(uvm_env):
    def build_phase(self) -> None:
        self.job = StreamAgent("job", self)
        self.src = StreamAgent("src", self)
        self.sb = Scoreboard("sb", self)
        self.cov = CoverageSubscriber("cov", self)
        self.cov.bins = dict(BINS)


class _Send(uvm_sequence):
    def __init__(self, items: list[StreamItem]) -> None:
        super().__init__("send")
        self.items = items

    async def body(self) -> None:
        for it in self.items:
            await self.start_item(it)
            await self.finish_item(it)


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
        e = self.nrng.integers(fx.E_MIN, fx.E_MAX + 1, size=(n, d))
        job = WJob(f"e{k}", False, d, {j: e[j] for j in idx}, CLS_E)
        job.base = self.alloc(n * job.stride)
        if k % 4 == 3:  # place the first row across a 4 KiB boundary
            job.d = d = 64
            job.stride = row_stride(d, fx.E_W)
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
        await _Send([item]).start(env.job.seqr)
        await _Send([StreamItem("rows", beats)]).start(env.src.seqr)
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
            self.errors.append(f"{job.name}: counter {delta} bytes, golden fetch_bytes {job.golden_bytes()}")
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


@pyuvm.test()
class WriterThroughputTest(WriterTest):
    """No backpressure: 64-value E rows (4 beats) at >= 3/4 of the W channel's peak
    (OUTSTANDING >= 2)."""

    idle = aw_pause = w_pause = b_pause = 0.0
    latency = 0
    jobs = 0
    cov_required = False

    async def body(self) -> None:
        n = 64
        e = self.nrng.integers(fx.E_MIN, fx.E_MAX + 1, size=(n, 64))
        job = WJob("tput", False, 64, {j: e[j] for j in range(n)}, CLS_E)
        job.base = self.alloc(n * job.stride)
        t0 = cocotb.utils.get_sim_time("ns")
        await self.run_job(job)
        cycles = (cocotb.utils.get_sim_time("ns") - t0) / 10
        frac = 4 * n / cycles
        self.logger.info(f"writer: {4 * n} beats in {cycles:.0f} cycles = {frac:.2f} of W peak")
        # With one burst awaiting its response, every row waits for the previous B.
        if params()["OUTSTANDING"] >= 2:
            assert frac >= 0.75, f"writer throughput {frac:.2f} < 0.75 ({seed_text()})"


@pyuvm.test(expect_error=ScoreboardError)
class WriterBrokenModelTest(WriterTest):
    """The scoreboard must catch a model that disagrees with the memory (expect-fail)."""

    jobs = 4
    model = staticmethod(broken_model)
    cov_required = False


MUTANTS = [
    ("e_writer.v", "if (raw_q ? (fi < 16) : (fi < 32'(d_q))) in_masked", "if (1'b1) in_masked",
     "writer fields beyond D not zeroed"),
    ("e_writer.v", "wire [8:0] plen = ({6'd0, row_left_q} < to4k) ? {6'd0, row_left_q} : to4k;",
     "wire [8:0] plen = {6'd0, row_left_q};", "writer rows not split at 4 KiB"),
    ("e_writer.v", "if (w_fire) cnt_q[cls_q] <= cnt_q[cls_q] + CNT_W'(32);",
     "if (start_piece) cnt_q[cls_q] <= cnt_q[cls_q] + CNT_W'(32);", "writer bytes counted per burst"),
]


@pytest.mark.sim
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: f"OS{p['OUTSTANDING']}")
def test_e_writer(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)


"""spatten_csr: the AXI4-Lite register block of spatten_top (docs/csr.md).

A cycle-level register model (:class:`CsrModel`, built from ``golden.accel``: ``Reg`` offsets,
``RO_REGS``, ``AccelParams.version``, ``Command.from_regs`` + ``check_command`` for the START
rules) is the scoreboard. :class:`CsrMonitor` samples every AXI-Lite channel and the
controller-side ports on every rising edge, replays the handshakes into the model and checks:
every R beat (data + response) and B response, AXI hold rules (B/R held until accepted), the
cmd_start / cmd_clear / cmd_abort pulses, irq and the two scale read ports every cycle, every
cfg_* output after each write and every 8th cycle. Stimulus comes from cocotbext-axi's ``AxiLiteMaster`` (with random pauses
on all five channels) or from :class:`RawAxil`, which drives the raw signals (any wstrb, AW
and W in either order / apart, B and R backpressure). :class:`CtrlStub` plays the controller
(busy after cmd_start, counter events, DONE or AXI-error end, LIVE_HEADS / KEPT_TOKENS).
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Iterator

import cocotb
import pytest
import pyuvm
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster
from pyuvm import uvm_component, uvm_env, uvm_test

from golden.accel import (
    ID_VALUE,
    RO_REGS,
    AccelParams,
    Command,
    CommandError,
    Ctrl,
    ErrorCode,
    Reg,
    Status,
    check_command,
    head_scale_reg,
    heads_of,
    score_scale_reg,
)
from golden.regs import ARRAYS, STORED_MASK, ImpAddr
from host.driver import Layout
from verif.runner import Bench
from verif.seeding import params, seed_all, seed_text
from verif.stream import reset, start_clock
from verif.testing import run_bench
from verif.uvm import CoverageError, ScoreboardError, export_bins

DEFAULTS = {"ADDR_W": 12, "LANES": 8, "D_MAX": 64, "MAX_N": 1024, "H_MAX": 16,
            "MACS_ADD_W": 32, "BYTES_ADD_W": 16}
BENCH = Bench("spatten_csr", ["spatten_csr.v"], DEFAULTS)
CONFIGS = [DEFAULTS,
           {**DEFAULTS, "ADDR_W": 9, "LANES": 16, "D_MAX": 32, "MAX_N": 256, "H_MAX": 32,
            "BYTES_ADD_W": 20}]

OKAY, SLVERR = 0, 2
MASK32 = 0xFFFFFFFF
COUNTER_REGS = [r for r in Reg if Reg.CYCLES <= r <= Reg.MEM_STALL_CYCLES]
BYTE_REGS = [Reg.BYTES_Q, Reg.BYTES_K_MSB, Reg.BYTES_K_LSB, Reg.BYTES_V_MSB, Reg.BYTES_E]
REFUSE_BINS = {ErrorCode.BAD_N: "refused_bad_n", ErrorCode.BAD_D: "refused_bad_d",
               ErrorCode.BAD_HEADS: "refused_bad_heads", ErrorCode.K_GT_LIVE: "refused_k_gt_live",
               ErrorCode.MISALIGNED: "refused_misaligned", ErrorCode.BAD_BITS: "refused_bad_bits",
               ErrorCode.START_BUSY: "refused_start_busy", ErrorCode.BAD_LAYOUT: "refused_bad_layout"}
BUS_BINS = ("write_rw", "write_partial_strb", "write_ro_ignored", "write_unmapped_slverr",
            "read_unmapped_slverr", "read_ctrl_zero", "score_scale_rw", "head_scale_rw", "aw_before_w",
            "w_before_aw", "aw_w_same_cycle", "b_backpressure", "r_backpressure",
            "read_write_same_cycle", "w1c_done", "w1c_error", "imp_read_token", "imp_read_head",
            "imp_read_out_of_range")
BAD_KINDS = ("n0", "n_big", "n_small", "d", "heads0", "heads_big", "vk", "tk", "hk", "align",
             "msb", "bits_sum", "stride", "e_overlap", "keep_overlap")
CMD_BINS = ("start_accepted", "clear_with_start", "irq_raised", "error_pulse_axi", "abort_pulse",
            "status_busy_read", "macs_hi_nonzero", "counters_cleared_by_start",
            "w1c_done", "w1c_error", "imp_read_busy_slverr", *REFUSE_BINS.values())


def cfg() -> dict[str, int]:
    return {**DEFAULTS, **params()}


def clog2(x: int) -> int:
    return (x - 1).bit_length()


def strb_mask(strb: int) -> int:
    return sum(0xFF << (8 * b) for b in range(4) if strb >> b & 1)


TABLES = (Reg.SCORE_SCALE, Reg.HEAD_SCALE)  # per-head arrays, entries 0..H_MAX-1 mapped


def table_regs(h_max: int) -> list[int]:
    """Offsets of the mapped entries of SCORE_SCALE and HEAD_SCALE."""
    return [f(h) for f in (score_scale_reg, head_scale_reg) for h in range(h_max)]


def imp_entry(head: bool, index: int) -> int:
    """What CtrlStub answers on the importance debug ports for an entry (distinct values)."""
    if head:
        return ((index + 1) * 0xC2B2AE3D27) & ((1 << 40) - 1)
    return (index * 0x9E3779B1 + 0x5A5A) & MASK32


def table_of(off: int) -> Reg | None:
    """The per-head array ``off`` lies in (mapped or not), else None."""
    return next((r for r in TABLES if r <= off < r + 4 * ARRAYS[r][0]), None)


# ================================================================ register model =============
class CsrModel:
    """What spatten_csr holds and answers, advanced one rising edge at a time by
    :meth:`edge` with the sampled signals. ``broken`` selects a deliberate model bug."""

    def __init__(self, p: dict[str, int], broken: str = "") -> None:
        self.p, self.broken = p, broken
        self.accel = AccelParams(p["LANES"], p["D_MAX"], p["MAX_N"], p["H_MAX"])
        self.scale_regs = table_regs(p["H_MAX"])
        self.rw = [r for r in Reg if r not in RO_REGS and r not in (Reg.CTRL, Reg.STATUS)
                   and table_of(r) is None] + self.scale_regs
        self.mapped = {int(r) for r in Reg if table_of(r) is None} | set(self.scale_regs)
        self.nw, self.dw = clog2(p["MAX_N"]) + 1, clog2(p["D_MAX"]) + 1
        self.hw = clog2(p["H_MAX"]) + 1
        self.errors: list[str] = []
        self.hits: dict[str, int] = dict.fromkeys(sorted({*BUS_BINS, *CMD_BINS}), 0)
        self.reads_checked = 0
        self.reset()

    def reset(self) -> None:
        self.regs = dict.fromkeys((int(r) for r in self.rw), 0)
        self.cnt = dict.fromkeys((int(r) for r in COUNTER_REGS), 0)
        self.done = self.error = False
        self.error_code = 0
        self.pulse = {"start": 0, "clear": 0, "abort": 0}  # the DUT's pulse outputs this cycle
        self.aw: deque[tuple[int, int]] = deque()  # (word offset, edge)
        self.w: deque[tuple[int, int, int]] = deque()  # (data, strb, edge)
        self.rd: deque[tuple[int, int]] = deque()  # expected (rdata, rresp)
        self.bresp: deque[int] = deque()
        self.prev: dict[str, int] | None = None
        self.edge_no = 0
        self.wrote = False  # a write took effect on the last edge
        self.imp_hi = 0  # IMP_DATA_HI
        self.imp_adv: int | None = None  # an IMP_DATA read's high word, taken at the next edge
        self.imp_rd = (0, 0, 0)  # expected (imp_tok_rd, imp_head_rd, imp_index) this cycle

    def err(self, text: str) -> None:
        self.errors.append(f"edge {self.edge_no}: {text}")

    def hit(self, name: str) -> None:
        self.hits[name] += 1

    # ------------------------------------------------------------------ register semantics
    def mask(self, off: int) -> int:
        return STORED_MASK[table_of(off) or Reg(off)]

    def read(self, off: int, s: dict[str, int]) -> tuple[int, int]:
        if off not in self.mapped:
            return 0, SLVERR
        fixed = {Reg.ID: ID_VALUE, Reg.VERSION: self.accel.version(), Reg.CTRL: 0,
                 Reg.STATUS: (s["busy"] | s["done_pulse"] | s["error_pulse"])
                 | self.done << 1 | self.error << 2,
                 Reg.ERROR_CODE: self.error_code, Reg.LIVE_HEADS: s["live_heads"],
                 Reg.KEPT_TOKENS: s["kept_tokens"], Reg.IMP_DATA_HI: self.imp_hi}
        if off == Reg.IMP_DATA:
            return self.imp_read(s)
        if off in fixed:
            return fixed[Reg(off)], OKAY
        if off in self.cnt:
            return self.cnt[off], OKAY
        return self.regs[off], OKAY

    def imp_read(self, s: dict[str, int]) -> tuple[int, int]:
        """IMP_DATA: SLVERR while busy; else the entry at IMP_ADDR (0 out of range), its high
        word and INDEX + 1 taken at the next edge."""
        if s["busy"] or self.pulse["start"]:
            self.hit("imp_read_busy_slverr")
            return 0, SLVERR
        addr = self.regs[Reg.IMP_ADDR]
        head, index = bool(addr & ImpAddr.HEAD), addr & ImpAddr.INDEX
        in_range = index < (self.p["H_MAX"] if head else self.p["MAX_N"])
        self.hit(("imp_read_head" if head else "imp_read_token") if in_range
                 else "imp_read_out_of_range")
        value = imp_entry(head, index) if in_range else 0
        self.imp_rd = (int(in_range and not head), int(in_range and head), index)
        self.imp_adv = value >> 32
        return value & MASK32, OKAY

    def start_code(self, s: dict[str, int], clear: bool) -> int:
        """golden check_command on the registers as they are (code 6 first when busy)."""
        if s["busy"] or self.pulse["start"]:
            return ErrorCode.START_BUSY
        live_mask = (1 << self.p["H_MAX"]) - 1 if clear else s["live_heads"]
        kept = 0 if clear else s["kept_tokens"]
        cmd = Command.from_regs(self.regs)
        live = len(heads_of(live_mask, cmd.heads)) if cmd.heads <= self.p["H_MAX"] else 0
        try:
            check_command(cmd, self.accel, kept, live)
        except CommandError as e:
            return int(e.code)
        return 0

    def write(self, off: int, data: int, strb: int, s: dict[str, int]) -> dict[str, int]:
        """Apply one write; returns the CTRL/STATUS effects of this edge."""
        fx = {"start_req": 0, "start_ok": 0, "code": 0, "clear": 0, "abort": 0, "w1c": 0}
        if off not in self.mapped:
            self.bresp.append(SLVERR)
            self.hit("write_unmapped_slverr")
            return fx
        self.bresp.append(OKAY)
        bm = MASK32 if self.broken == "ignore_wstrb" else strb_mask(strb)
        if off == Reg.CTRL:
            if strb & 1:
                fx["clear"], fx["abort"] = data >> 1 & 1, data >> 2 & 1
                if data & Ctrl.START:
                    fx["start_req"] = 1
                    fx["code"] = self.start_code(s, bool(fx["clear"]))
                    fx["start_ok"] = int(fx["code"] == 0)
        elif off == Reg.STATUS:
            if strb & 1:
                fx["w1c"] = data & (Status.DONE | Status.ERROR)
        elif off in RO_REGS:
            self.hit("write_ro_ignored")
        else:
            old = self.regs[off]
            self.regs[off] = ((old & ~bm) | (data & bm)) & self.mask(off)
            table = table_of(off)
            self.hit(f"{table.name.lower()}_rw" if table is not None else "write_rw")
            if strb not in (0, 0xF):
                self.hit("write_partial_strb")
        return fx

    # ------------------------------------------------------------------ one rising edge
    def edge(self, s: dict[str, int]) -> None:
        self.edge_no += 1
        if not s["rst_n"]:
            self.reset()
            return
        self.check_outputs(s, "cfg_n" in s)
        self.check_axi(s)
        self.wrote = False
        if self.imp_adv is not None:  # the IMP_DATA read of the last edge completes
            self.imp_hi, self.imp_adv = self.imp_adv, None
            a = self.regs[Reg.IMP_ADDR]
            self.regs[Reg.IMP_ADDR] = (a & ImpAddr.HEAD) | ((a & ImpAddr.INDEX) + 1) & ImpAddr.INDEX
        self.imp_rd = (0, 0, 0)
        # ---- this edge's events, all computed from the state before the edge
        if s["arvalid"] and s["arready"]:
            off = s["araddr"] & ~3
            self.rd.append(self.read(off, s))
            if off not in self.mapped:
                self.hit("read_unmapped_slverr")
            if off == Reg.CTRL:
                self.hit("read_ctrl_zero")
            if off == Reg.STATUS and s["busy"]:
                self.hit("status_busy_read")
        got_rd = (s["imp_tok_rd"], s["imp_head_rd"])
        if got_rd != self.imp_rd[:2] or (any(got_rd) and s["imp_index"] != self.imp_rd[2]):
            self.err(f"importance read port (tok_rd, head_rd, index) = "
                     f"({got_rd[0]}, {got_rd[1]}, {s['imp_index']}), expected {self.imp_rd}")
        if s["awvalid"] and s["awready"]:
            self.aw.append((s["awaddr"] & ~3, self.edge_no))
        if s["wvalid"] and s["wready"]:
            self.w.append((s["wdata"], s["wstrb"], self.edge_no))
        fx = {"start_req": 0, "start_ok": 0, "code": 0, "clear": 0, "abort": 0, "w1c": 0}
        if self.aw and self.w:
            (off, t_aw), (data, strb, t_w) = self.aw.popleft(), self.w.popleft()
            self.hit("aw_before_w" if t_aw < t_w else "w_before_aw" if t_w < t_aw
                     else "aw_w_same_cycle")
            if s["arvalid"] and s["arready"]:
                self.hit("read_write_same_cycle")
            fx = self.write(off, data, strb, s)
            self.wrote = True
        self.status_and_counters(s, fx)

    def status_and_counters(self, s: dict[str, int], fx: dict[str, int]) -> None:
        w1c_done, w1c_err = bool(fx["w1c"] & Status.DONE), bool(fx["w1c"] & Status.ERROR)
        if self.broken == "w1c_sets":
            w1c_done = w1c_err = False
        if w1c_done and self.done:
            self.hit("w1c_done")
        if w1c_err and self.error:
            self.hit("w1c_error")
        refused = fx["start_req"] and not fx["start_ok"]
        self.done = (self.done and not w1c_done) or bool(s["done_pulse"])
        self.error = (self.error and not w1c_err) or bool(s["error_pulse"]) or bool(refused)
        if s["error_pulse"]:
            self.error_code = s["error_code"]
            self.hit("error_pulse_axi")
        elif fx["start_req"]:
            self.error_code = fx["code"]
        if refused:
            self.hit(REFUSE_BINS[ErrorCode(fx["code"])])
        if fx["start_ok"]:
            self.hit("start_accepted")
            if fx["clear"]:
                self.hit("clear_with_start")
            if any(self.cnt.values()):
                self.hit("counters_cleared_by_start")
        if fx["abort"]:
            self.hit("abort_pulse")
        self.pulse = {"start": fx["start_ok"], "clear": fx["clear"], "abort": fx["abort"]}
        if fx["start_ok"]:
            self.cnt = dict.fromkeys(self.cnt, 0)
            return
        c = self.cnt
        c[Reg.CYCLES] = (c[Reg.CYCLES] + s["busy"]) & MASK32
        c[Reg.BUSY_CYCLES] = (c[Reg.BUSY_CYCLES] + s["cnt_busy_inc"]) & MASK32
        c[Reg.REQUANT_ROWS] = (c[Reg.REQUANT_ROWS] + s["cnt_requant_inc"]) & MASK32
        c[Reg.MEM_STALL_CYCLES] = (c[Reg.MEM_STALL_CYCLES] + s["cnt_stall_inc"]) & MASK32
        macs = ((c[Reg.MACS_HI] << 32 | c[Reg.MACS_LO]) + s["cnt_macs_add"]) & (2**64 - 1)
        c[Reg.MACS_LO], c[Reg.MACS_HI] = macs & MASK32, macs >> 32
        if c[Reg.MACS_HI]:
            self.hit("macs_hi_nonzero")
        bw = self.p["BYTES_ADD_W"]
        for i, r in enumerate(BYTE_REGS):
            c[r] = (c[r] + (s["cnt_bytes_add"] >> (bw * i) & ((1 << bw) - 1))) & MASK32

    # ------------------------------------------------------------------ output checks
    def check_outputs(self, s: dict[str, int], cfg_outputs: bool) -> None:
        """Pulses, irq and the scale port every cycle; the cfg_* outputs after every write and
        every 8th cycle (they change only on writes)."""
        for name in ("start", "clear", "abort"):
            if s[f"cmd_{name}"] != self.pulse[name]:
                self.err(f"cmd_{name} {s[f'cmd_{name}']}, expected {self.pulse[name]}")
        irq = int(bool(self.regs[Reg.IRQ_EN] & 1) and (self.done or self.error))
        if s["irq"] != irq:
            self.err(f"irq {s['irq']}, expected {irq}")
        if irq:
            self.hit("irq_raised")
        h_max = self.p["H_MAX"]
        sc = self.regs[score_scale_reg(s["scale_head"])] if s["scale_head"] < h_max else 0
        hs = self.regs[head_scale_reg(s["hscale_head"])] if s["hscale_head"] < h_max else 0
        for name, val in (("scale_mult", sc & 0xFFFF), ("scale_shift", sc >> 16 & 0x3F),
                          ("hscale", hs)):
            if s[name] != val:
                self.err(f"{name} = 0x{s[name]:x}, expected 0x{val:x}")
        if not cfg_outputs:
            return
        r, nw, hw = self.regs, (1 << self.nw) - 1, (1 << self.hw) - 1
        want = {"cfg_mode": r[Reg.MODE] & 1, "cfg_n": r[Reg.N] & nw,
                "cfg_d": r[Reg.D] & ((1 << self.dw) - 1), "cfg_heads": r[Reg.HEADS] & hw,
                "cfg_prune_en": r[Reg.PRUNE] & 1, "cfg_token_keep": r[Reg.TOKEN_KEEP] & nw,
                "cfg_head_keep": r[Reg.HEAD_KEEP] & hw, "cfg_value_keep": r[Reg.VALUE_KEEP] & nw,
                "cfg_msb_bits": r[Reg.BITS] & 0xF, "cfg_lsb_bits": r[Reg.BITS] >> 4 & 0xF,
                "cfg_requant_thr": r[Reg.REQUANT_THR] & 0xFFFF, "cfg_q_base": r[Reg.Q_BASE],
                "cfg_k_msb_base": r[Reg.K_MSB_BASE], "cfg_k_lsb_base": r[Reg.K_LSB_BASE],
                "cfg_v_msb_base": r[Reg.V_MSB_BASE], "cfg_e_base": r[Reg.E_BASE],
                "cfg_keep_base": r[Reg.KEEP_BASE], "cfg_head_stride": r[Reg.HEAD_STRIDE]}
        for name, val in want.items():
            if s[name] != val:
                self.err(f"{name} = 0x{s[name]:x}, expected 0x{val:x}")

    def check_axi(self, s: dict[str, int]) -> None:
        prev = self.prev
        self.prev = s
        if prev is not None:  # B and R are held, unchanged, until accepted
            if prev["bvalid"] and not prev["bready"]:
                self.hit("b_backpressure")
                if not s["bvalid"] or s["bresp"] != prev["bresp"]:
                    self.err("B dropped or changed before bready")
            if prev["rvalid"] and not prev["rready"]:
                self.hit("r_backpressure")
                if not s["rvalid"] or (s["rdata"], s["rresp"]) != (prev["rdata"], prev["rresp"]):
                    self.err("R dropped or changed before rready")
        if s["rvalid"] and s["rready"]:
            if not self.rd:
                self.err("R beat without a read request")
            else:
                want = self.rd.popleft()
                self.reads_checked += 1
                if (s["rdata"], s["rresp"]) != want:
                    self.err(f"read data/resp (0x{s['rdata']:08x}, {s['rresp']}), "
                             f"expected (0x{want[0]:08x}, {want[1]})")
        if s["bvalid"] and s["bready"]:
            if not self.bresp:
                self.err("B response without a completed write")
            else:
                want_b = self.bresp.popleft()
                if s["bresp"] != want_b:
                    self.err(f"bresp {s['bresp']}, expected {want_b}")


SAMPLED = ("rst_n", "busy", "done_pulse", "error_pulse", "error_code", "live_heads",
           "kept_tokens", "cnt_busy_inc", "cnt_stall_inc", "cnt_requant_inc", "cnt_macs_add",
           "cnt_bytes_add", "scale_head", "cmd_start", "cmd_clear", "cmd_abort", "irq",
           "scale_mult", "scale_shift", "hscale_head", "hscale", "imp_tok_rd", "imp_head_rd",
           "imp_index")
CFG_SAMPLED = ("cfg_mode", "cfg_n", "cfg_d", "cfg_heads", "cfg_prune_en",
           "cfg_token_keep", "cfg_head_keep", "cfg_value_keep", "cfg_msb_bits", "cfg_lsb_bits",
           "cfg_requant_thr", "cfg_q_base", "cfg_k_msb_base", "cfg_k_lsb_base", "cfg_v_msb_base",
           "cfg_e_base", "cfg_keep_base", "cfg_head_stride")
AXI_SAMPLED = ("awvalid", "awready", "awaddr", "wvalid", "wready", "wdata", "wstrb", "bvalid",
               "bready", "bresp", "arvalid", "arready", "araddr", "rvalid", "rready", "rdata",
               "rresp")


def _int(sig: object) -> int:
    v = sig.value  # type: ignore[attr-defined]
    return int(v) if v.is_resolvable else -1


class CsrMonitor(uvm_component):
    """Samples the DUT every rising edge into :class:`CsrModel`; the scoreboard + coverage."""

    def build_phase(self) -> None:
        test = uvm_root_test()
        self.model = CsrModel(cfg(), getattr(test, "broken", ""))
        self.required: tuple[str, ...] = getattr(test, "bins_required", ())

    async def run_phase(self) -> None:
        dut = cocotb.top
        sigs = [(n, getattr(dut, n)) for n in SAMPLED]
        sigs += [(n, getattr(dut, f"s_axil_{n}")) for n in AXI_SAMPLED]
        cfg_sigs = [(n, getattr(dut, n)) for n in CFG_SAMPLED]
        data = ("rdata", "rresp", "bresp", "awaddr", "araddr", "wdata", "wstrb")
        m = self.model
        while True:
            await RisingEdge(dut.clk)
            # cfg_* change only on writes: sampled after every write and every 8th edge
            full = m.wrote or (m.edge_no + 1) % 8 == 0
            s = {n: _int(h) for n, h in (sigs + cfg_sigs if full else sigs)}
            if s["rst_n"] == 1 and any(v < 0 for n, v in s.items() if n not in data):
                m.err(f"X/Z on {[n for n, v in s.items() if v < 0 and n not in data]}")
            if s["rst_n"] != 1:
                s["rst_n"] = 0
            m.edge(s)

    def check_phase(self) -> None:
        m = self.model
        export_bins(self, m.hits)
        for e in m.errors[:10]:
            self.logger.error(f"{e} ({seed_text()})")
        self.logger.info(f"{m.reads_checked} reads checked, {len(m.errors)} errors")
        if m.errors:
            raise ScoreboardError(f"{len(m.errors)} CSR mismatches ({seed_text()}); first: "
                                  f"{m.errors[0]}")
        if m.reads_checked == 0:
            raise ScoreboardError("no read was checked")
        if m.rd or m.bresp:
            raise ScoreboardError(f"{len(m.rd)} reads / {len(m.bresp)} writes never answered")
        missed = [b for b in self.required if not m.hits[b]]
        self.logger.info(f"coverage {len(self.required) - len(missed)}/{len(self.required)} "
                         "required bins hit")
        if missed:
            raise CoverageError(f"coverage bins never hit: {', '.join(missed)} ({seed_text()})")


def uvm_root_test() -> uvm_test:
    return pyuvm.uvm_root().uvm_test_top


# ================================================================ controller stand-in =========
class CtrlStub(uvm_component):
    """Plays the controller: busy from the cycle after cmd_start for a random time with
    random counter events, then done_pulse (or error_pulse 7/8); CLEAR -> all heads live, no
    token; a finished command leaves a random non-empty live subset below HEADS and 1..N
    kept tokens. ``spont`` adds rare done/error pulses while idle. Random scale_head and
    hscale_head."""

    def build_phase(self) -> None:
        self.p = cfg()
        test = uvm_root_test()
        self.spont: float = getattr(test, "spont", 0.0)
        self.rng = random.Random(int(cocotb.RANDOM_SEED) * 31 + 7)

    def drive_idle(self) -> None:
        dut = cocotb.top
        for n in ("busy", "done_pulse", "error_pulse", "error_code", "cnt_busy_inc",
                  "cnt_stall_inc", "cnt_requant_inc", "cnt_macs_add", "cnt_bytes_add"):
            getattr(dut, n).value = 0

    async def run_phase(self) -> None:
        dut, rng, p = cocotb.top, self.rng, self.p
        all_heads = (1 << p["H_MAX"]) - 1
        live, kept, left, n_cmd, heads_cmd = all_heads, 0, 0, 1, 1
        started = 0  # every 4th command (from the 3rd) ends with an AXI error
        dut.live_heads.value, dut.kept_tokens.value, dut.scale_head.value = live, kept, 0
        dut.hscale_head.value = 0
        dut.imp_tok_score.value, dut.imp_head_score.value = 0, 0
        self.drive_idle()
        mw, bw = p["MACS_ADD_W"], p["BYTES_ADD_W"]
        while True:
            await RisingEdge(dut.clk)
            dut.scale_head.value = rng.randrange(p["H_MAX"])
            dut.hscale_head.value = rng.randrange(p["H_MAX"])
            # the importance blocks: the entry asked for in the last cycle, now (else junk)
            tok_rd, head_rd = _int(dut.imp_tok_rd) == 1, _int(dut.imp_head_rd) == 1
            index = max(_int(dut.imp_index), 0)  # X before the first reset
            dut.imp_tok_score.value = imp_entry(False, index) if tok_rd else rng.getrandbits(32)
            dut.imp_head_score.value = imp_entry(True, index) if head_rd else rng.getrandbits(40)
            if not dut.rst_n.value:
                live, kept, left = all_heads, 0, 0
                self.drive_idle()
                dut.live_heads.value, dut.kept_tokens.value = live, kept
                continue
            self.drive_idle()
            if int(dut.cmd_clear.value):
                live, kept = all_heads, 0
            if left:
                left = 1 if int(dut.cmd_abort.value) else left
                left -= 1
                if left == 0:
                    if started % 4 != 3:
                        dut.done_pulse.value = 1
                        below = [h for h in range(min(heads_cmd, p["H_MAX"])) if live >> h & 1]
                        if below:
                            keep = rng.sample(below, rng.randint(1, len(below)))
                            live = sum(1 << h for h in keep)
                        kept = rng.randint(1, n_cmd)
                    else:
                        dut.error_pulse.value = 1
                        dut.error_code.value = rng.choice([ErrorCode.AXI_READ, ErrorCode.AXI_WRITE])
                else:
                    self.busy_cycle(rng, mw, bw)
            elif int(dut.cmd_start.value):
                left = rng.randint(3, 40)
                started += 1
                n_cmd = max(1, int(dut.cfg_n.value))
                heads_cmd = int(dut.cfg_heads.value)
                self.busy_cycle(rng, mw, bw)
            elif rng.random() < self.spont:
                if rng.random() < 0.5:
                    dut.done_pulse.value = 1
                else:
                    dut.error_pulse.value = 1
                    dut.error_code.value = rng.choice([ErrorCode.AXI_READ, ErrorCode.AXI_WRITE])
            dut.live_heads.value, dut.kept_tokens.value = live, kept

    @staticmethod
    def busy_cycle(rng: random.Random, mw: int, bw: int) -> None:
        dut = cocotb.top
        dut.busy.value = 1
        dut.cnt_busy_inc.value = int(rng.random() < 0.7)
        dut.cnt_stall_inc.value = int(rng.random() < 0.3)
        dut.cnt_requant_inc.value = int(rng.random() < 0.1)
        dut.cnt_macs_add.value = rng.choice([0, rng.getrandbits(mw), (1 << mw) - 1])
        add = 0
        for i in range(5):
            v = rng.choice([0, 32, 32 * rng.randint(1, 8), rng.getrandbits(bw)])
            add |= min(v, (1 << bw) - 1) << (bw * i)
        dut.cnt_bytes_add.value = add


# ================================================================ bus drivers =================
def pauses(rng: random.Random, prob: float) -> Iterator[bool]:
    while True:
        yield rng.random() < prob


class AxilBus:
    """cocotbext-axi AxiLiteMaster (contiguous wstrb only) with random channel pauses."""

    contiguous_only = True

    def __init__(self, rng: random.Random, pause: float) -> None:
        dut = cocotb.top
        self.m = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst_n,
                               reset_active_level=False)
        logging.getLogger(f"cocotb.{dut._name}.s_axil").setLevel(logging.WARNING)
        if pause:
            w, r = self.m.write_if, self.m.read_if
            for ch in (w.aw_channel, w.w_channel, w.b_channel, r.ar_channel, r.r_channel):
                ch.set_pause_generator(pauses(random.Random(rng.random()), pause))

    async def write(self, off: int, data: int, strb: int = 0xF) -> int:
        lanes = [b for b in range(4) if strb >> b & 1]
        lo, hi = lanes[0], lanes[-1] + 1
        assert hi - lo == len(lanes), "AxiLiteMaster needs a contiguous wstrb"
        resp = await self.m.write(off + lo, (data & MASK32).to_bytes(4, "little")[lo:hi])
        return int(resp.resp)

    async def read(self, off: int) -> tuple[int, int]:
        resp = await self.m.read(off, 4)
        return int.from_bytes(resp.data, "little"), int(resp.resp)


class RawAxil:
    """AXI-Lite master on the raw signals: any wstrb (including 0), AW and W in either order
    and apart, random awprot/arprot and low address bits, B/R backpressure."""

    contiguous_only = False

    def __init__(self, rng: random.Random) -> None:
        self.dut, self.rng = cocotb.top, rng
        for n in ("awvalid", "wvalid", "bready", "arvalid", "rready", "awaddr", "wdata", "wstrb",
                  "araddr", "awprot", "arprot"):
            getattr(self.dut, f"s_axil_{n}").value = 0
        self.wlock, self.rlock = cocotb.triggers.Lock(), cocotb.triggers.Lock()

    def delay(self) -> int:
        return self.rng.choice([0, 0, 0, 1, 2, 5])

    async def _send(self, valid: str, ready: str, fields: dict[str, int], wait: int) -> None:
        dut = self.dut
        if wait:
            await ClockCycles(dut.clk, wait)
        for n, v in fields.items():
            getattr(dut, f"s_axil_{n}").value = v
        getattr(dut, f"s_axil_{valid}").value = 1
        while True:
            await RisingEdge(dut.clk)
            if int(getattr(dut, f"s_axil_{ready}").value):
                break
        getattr(dut, f"s_axil_{valid}").value = 0

    async def _recv(self, valid: str, ready: str, out: str, resp: str) -> tuple[int, int]:
        dut, rng = self.dut, self.rng
        early = rng.random() < 0.3  # ready before valid
        rdy = getattr(dut, f"s_axil_{ready}")
        rdy.value = int(early)
        while True:
            await RisingEdge(dut.clk)
            if int(getattr(dut, f"s_axil_{valid}").value):
                if early:
                    break
                hold = rng.choice([0, 0, 1, 3])
                if hold:
                    await ClockCycles(dut.clk, hold)
                rdy.value = 1
                await RisingEdge(dut.clk)
                break
        got = (int(getattr(dut, f"s_axil_{out}").value) if out else 0,
               int(getattr(dut, f"s_axil_{resp}").value))
        rdy.value = 0
        return got

    async def write(self, off: int, data: int, strb: int = 0xF) -> int:
        async with self.wlock:
            rng = self.rng
            addr = off | rng.randrange(4)
            aw = cocotb.start_soon(self._send("awvalid", "awready",
                                              {"awaddr": addr, "awprot": rng.randrange(8)},
                                              self.delay()))
            w = cocotb.start_soon(self._send("wvalid", "wready",
                                             {"wdata": data & MASK32, "wstrb": strb},
                                             self.delay()))
            await aw
            await w
            _, resp = await self._recv("bvalid", "bready", "", "bresp")
            return resp

    async def read(self, off: int) -> tuple[int, int]:
        async with self.rlock:
            await self._send("arvalid", "arready",
                             {"araddr": off | self.rng.randrange(4),
                              "arprot": self.rng.randrange(8)}, self.delay())
            return await self._recv("rvalid", "rready", "rdata", "rresp")


# ================================================================ tests =======================
class CsrEnv(uvm_env):
    def build_phase(self) -> None:
        self.mon = CsrMonitor("mon", self)
        self.stub = CtrlStub("stub", self)


class CsrTest(uvm_test):
    """Base: clock, reset, the bus, a sweep of every register's reset value, then ``body``."""

    raw = False
    pause = 0.2
    accesses = 300
    spont = 0.02
    broken = ""
    bins_required: tuple[str, ...] = BUS_BINS

    def build_phase(self) -> None:
        self.env = CsrEnv("env", self)

    async def run_phase(self) -> None:
        self.raise_objection()
        dut = cocotb.top
        self.rng = random.Random(int(cocotb.RANDOM_SEED))
        seed_all()
        self.p = cfg()
        dut.rst_n.value = 0
        start_clock(dut.clk)
        self.bus = RawAxil(self.rng) if self.raw else AxilBus(self.rng, self.pause)
        await reset(dut.clk, dut.rst_n)
        await self.reset_sweep()
        await self.body()
        await ClockCycles(dut.clk, 5)
        self.drop_objection()

    # ------------------------------------------------------------------ helpers
    def offsets(self) -> dict[str, list[int]]:
        h_max, top = self.p["H_MAX"], 1 << self.p["ADDR_W"]
        rw = [int(r) for r in Reg if r not in RO_REGS and r not in (Reg.CTRL, Reg.STATUS)
              and table_of(r) is None]
        mapped = {int(r) for r in Reg if table_of(r) is None} | set(table_regs(h_max))
        # the map's holes, SCORE_SCALE / HEAD_SCALE [h >= H_MAX], above the map
        words = [*range(0, min(top, 0x400), 4), top - 4]
        return {"rw": rw, "scale": table_regs(h_max), "ro": [int(r) for r in RO_REGS],
                "unmapped": sorted({a for a in words if a not in mapped})}

    async def reset_sweep(self) -> None:
        o = self.offsets()
        for off in [*o["rw"], *o["scale"], *o["ro"], Reg.CTRL, Reg.STATUS, *o["unmapped"][:3]]:
            await self.bus.read(off)

    def random_strb(self) -> int:
        if self.rng.random() < 0.5:
            return 0xF
        if self.bus.contiguous_only:
            lo = self.rng.randrange(4)
            return ((1 << self.rng.randint(1, 4 - lo)) - 1) << lo
        return self.rng.randrange(16)

    async def random_access(self) -> None:
        rng, o = self.rng, self.offsets()
        kind = rng.choices(["rw", "scale", "ro", "ctrl", "status", "unmapped", "imp"],
                           [40, 15, 10, 8, 12, 15, 10])[0]
        if kind == "imp":  # the importance window: an address (mostly in range), then reads
            index = rng.choice([0, rng.randrange(self.p["H_MAX"]), rng.getrandbits(16),
                                rng.randrange(self.p["H_MAX"] + 2),
                                rng.randrange(self.p["MAX_N"] + 2)])
            strb = 0xF if rng.random() < 0.7 else self.random_strb()
            await self.bus.write(Reg.IMP_ADDR, rng.choice([0, ImpAddr.HEAD]) | index, strb)
            for _ in range(rng.randint(1, 3)):
                await self.bus.read(rng.choice([Reg.IMP_DATA, Reg.IMP_DATA, Reg.IMP_DATA_HI]))
            return
        off = {"ctrl": Reg.CTRL, "status": Reg.STATUS}.get(kind) or rng.choice(o[kind])
        if rng.random() < 0.5:
            data = rng.getrandbits(32)
            if kind == "ctrl":  # mostly CLEAR / ABORT: a random config rarely passes anyway
                data = rng.choice([data, Ctrl.CLEAR, Ctrl.ABORT, Ctrl.START])
            if kind == "status":
                data = rng.choice([data, Status.DONE, Status.ERROR])
            await self.bus.write(off, data, self.random_strb())
        else:
            await self.bus.read(off)

    async def body(self) -> None:
        """Reads and writes in parallel (two streams) on random registers."""
        async def stream(n: int) -> None:
            for _ in range(n):
                await self.random_access()

        a = cocotb.start_soon(stream(self.accesses // 2))
        b = cocotb.start_soon(stream(self.accesses - self.accesses // 2))
        await a
        await b


@pyuvm.test()
class CsrAxilRegTest(CsrTest):
    """AxiLiteMaster with random pauses on AW/W/B/AR/R: reset values, random reads/writes
    with contiguous wstrb, RO writes ignored, unmapped SLVERR, W1C of STATUS."""


@pyuvm.test()
class CsrRawBusTest(CsrTest):
    """Raw AXI-Lite: any wstrb, AW before/after/with W, B/R backpressure, ready before valid."""

    raw = True
    bins_required = BUS_BINS


class CommandTest(CsrTest):
    """Layer commands: program the command CSRs (mostly a valid command, else one bad field),
    START (sometimes with CLEAR, sometimes START again while busy), poll STATUS, W1C it, read
    ERROR_CODE, LIVE_HEADS, KEPT_TOKENS and the counters."""

    commands = 30
    all_bad = True  # every BAD_KINDS setting once, the rest valid commands
    spont = 0.0
    bins_required = CMD_BINS

    def command_regs(self, bad: str | None) -> dict[int, int]:
        rng, p = self.rng, self.p
        d = 1 << rng.randint(0, clog2(p["D_MAX"]))
        # valid unless `bad`: N >= the live tokens, a live head below HEADS
        n = rng.randint(max(1, self.kept), max(self.kept, min(p["MAX_N"], 300)))
        lowest = (self.live & -self.live).bit_length()  # lowest live head + 1
        heads = rng.randint(max(1, lowest), p["H_MAX"])
        msb = rng.randint(1, 12)
        regs = {Reg.MODE: rng.randrange(2), Reg.N: n, Reg.D: d, Reg.HEADS: heads,
                Reg.PRUNE: rng.randrange(2), Reg.TOKEN_KEEP: rng.randint(1, n),
                Reg.HEAD_KEEP: 1, Reg.VALUE_KEEP: rng.randint(1, n),
                Reg.BITS: msb | rng.randint(0, 12 - msb) << 4, Reg.REQUANT_THR: rng.getrandbits(16),
                Reg.IRQ_EN: rng.randrange(2)}
        # the host's layout (per-head blocks, then KEEP): the layout rule holds (code 11)
        nq = 1 if regs[Reg.MODE] else n
        regs.update(Layout(rng.getrandbits(26) << 5, heads, nq, n, d, msb,
                           regs[Reg.BITS] >> 4).regs())
        if bad is None and rng.random() < 0.3:  # near the rule's edges: golden decides
            r = rng.choice([Reg.Q_BASE, Reg.K_MSB_BASE, Reg.K_LSB_BASE, Reg.V_MSB_BASE,
                            Reg.E_BASE, Reg.KEEP_BASE, Reg.HEAD_STRIDE])
            regs[r] = max(0, regs[r] + 32 * rng.randint(-4, 4))
        for h in range(min(heads, p["H_MAX"])):
            regs[score_scale_reg(h)] = rng.getrandbits(22)
            regs[head_scale_reg(h)] = rng.getrandbits(22)
        big = 1 << rng.randint(0, 31)
        if bad == "n0":
            regs[Reg.N] = 0
        elif bad == "n_big":
            regs[Reg.N] = p["MAX_N"] + rng.choice([1, big])
        elif bad == "n_small":
            regs[Reg.N] = rng.randrange(self.kept) if self.kept else 0
        elif bad == "d":
            regs[Reg.D] = rng.choice([0, 3, p["D_MAX"] * 2, 3 << rng.randint(0, 29)])
        elif bad == "heads0":
            regs[Reg.HEADS] = 0
        elif bad == "heads_big":
            regs[Reg.HEADS] = p["H_MAX"] + rng.choice([1, big])
        elif bad == "vk":
            regs[Reg.VALUE_KEEP] = rng.choice([0, n + 1, n + big])
        elif bad == "tk":
            regs[Reg.PRUNE], regs[Reg.TOKEN_KEEP] = 1, rng.choice([0, n + 1])
        elif bad == "hk":
            regs[Reg.PRUNE], regs[Reg.HEAD_KEEP] = 1, rng.choice([0, p["H_MAX"] + 1,
                                                                  p["H_MAX"] + big])
        elif bad == "align":
            r = rng.choice([Reg.Q_BASE, Reg.K_MSB_BASE, Reg.K_LSB_BASE, Reg.V_MSB_BASE,
                            Reg.E_BASE, Reg.KEEP_BASE, Reg.HEAD_STRIDE])
            regs[r] |= rng.randint(1, 31)
        elif bad == "msb":
            regs[Reg.BITS] = rng.choice([0, 13, 15]) | rng.randrange(16) << 4
        elif bad == "bits_sum":
            regs[Reg.BITS] = msb | (13 - msb + rng.randint(0, 2)) << 4
        elif bad == "stride":  # a head's block does not fit in HEAD_STRIDE (0 included)
            regs[Reg.HEADS] = max(2, heads)
            regs[Reg.HEAD_STRIDE] = rng.choice([0, 32, regs[Reg.HEAD_STRIDE] - 32])
        elif bad == "e_overlap":  # E rows over a region read
            regs[Reg.E_BASE] = regs[rng.choice([Reg.Q_BASE, Reg.K_MSB_BASE, Reg.V_MSB_BASE])]
        elif bad == "keep_overlap":  # the KEEP list inside a head's block
            regs[Reg.PRUNE] = 1
            regs[Reg.KEEP_BASE] = regs[Reg.Q_BASE] + 32 * rng.randrange(heads)
        return regs

    async def run_command(self, bad: str | None, k: int) -> None:
        """``k``: index among the valid commands (CLEAR+START, START again, ABORT by it)."""
        rng, bus, dut = self.rng, self.bus, cocotb.top
        self.kept, self.live = int(dut.kept_tokens.value), int(dut.live_heads.value)
        if rng.random() < 0.15:
            await bus.write(Reg.CTRL, Ctrl.CLEAR)
            self.kept, self.live = 0, (1 << self.p["H_MAX"]) - 1
        regs = self.command_regs(bad)
        items = list(regs.items())
        rng.shuffle(items)
        for off, val in items:
            await bus.write(off, val)
        ctrl = Ctrl.START | (Ctrl.CLEAR if k % 5 == 1 else 0)
        await bus.write(Reg.CTRL, ctrl)
        if k % 4 == 0:  # START again at once: still busy (or refused first: bad code)
            await bus.write(Reg.CTRL, Ctrl.START)
        if k % 6 == 3:
            await bus.write(Reg.CTRL, Ctrl.ABORT)
        if k % 3 == 2:  # the importance window while busy (or, refused / done: idle)
            await bus.read(Reg.IMP_DATA)
        for _ in range(200):
            status, _ = await bus.read(Reg.STATUS)
            if status & (Status.DONE | Status.ERROR):
                break
        else:
            raise TimeoutError(f"no DONE/ERROR ({seed_text()})")
        await bus.read(Reg.ERROR_CODE)
        if rng.random() < 0.5:
            await ClockCycles(dut.clk, rng.randint(0, 30))  # catch a late DONE after an error
        status, _ = await bus.read(Reg.STATUS)
        for off in (Reg.LIVE_HEADS, Reg.KEPT_TOKENS, *COUNTER_REGS):
            await bus.read(off)
        await bus.write(Reg.STATUS, rng.choice([Status.DONE | Status.ERROR, status, 0xFFFFFFFF]))
        for _ in range(200):  # the next command starts idle (no masking by code 6)
            status, _ = await bus.read(Reg.STATUS)
            if not status & Status.BUSY:
                break

    async def body(self) -> None:
        self.kept, self.live = 0, (1 << self.p["H_MAX"]) - 1
        plan: list[str | None] = [*BAD_KINDS] if self.all_bad else []
        plan += [None] * (self.commands - len(plan))
        self.rng.shuffle(plan)
        valid = 0
        for bad in plan:
            await self.run_command(bad, valid if bad is None else -1)
            valid += bad is None


@pyuvm.test()
class CsrCommandTest(CommandTest):
    pass


@pyuvm.test()
class CsrCommandRawTest(CommandTest):
    """The command flow through the raw driver (reads and writes never overlap here)."""

    raw = True
    commands = 8
    all_bad = False
    bins_required = ("start_accepted", "w1c_done", "status_busy_read")


@pyuvm.test(expect_error=ScoreboardError)
class CsrBrokenModelTest(CsrTest):
    """The scoreboard must catch a model that ignores wstrb (expect-fail)."""

    accesses = 120
    broken = "ignore_wstrb"
    bins_required = ()


# Plausible RTL bugs this testbench must catch (tests/test_mutations.py): (file, old, new, bug)
MUTANTS = [
    ("spatten_csr.v", "assign hscale = hscale_q[hscale_head];",
     "assign hscale = HSCALE_W'(scale_q[hscale_head]);", "csr HEAD_SCALE port reads SCORE_SCALE"),
    ("spatten_csr.v", "merge[b*8 +: 8] = strb[b] ? data[b*8 +: 8] : old[b*8 +: 8];",
     "merge[b*8 +: 8] = data[b*8 +: 8];", "csr wstrb ignored"),
    ("spatten_csr.v",
     "done_q  <= (done_q & ~(wr_status & wr_data[`SPATTEN_FIELD_STATUS_DONE])) | done_pulse;",
     "done_q  <= done_q | (wr_status & wr_data[`SPATTEN_FIELD_STATUS_DONE]) | done_pulse;",
     "csr W1C sets DONE"),
    ("spatten_csr.v", "if (busy_eff)        start_code = E_START_BUSY;",
     "if (1'b0)            start_code = E_START_BUSY;", "csr START while busy accepted"),
    ("spatten_csr.v", "if (!rst_n || start_ok) begin", "if (!rst_n) begin",
     "csr counters not cleared by START"),
    ("spatten_csr.v", "busy | done_pulse | error_pulse};", "busy};",
     "csr STATUS reads idle-not-done in the cycle DONE is set"),
]


@pytest.mark.sim
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: f"H{p['H_MAX']}_A{p['ADDR_W']}")
def test_spatten_csr(sim: str, params: dict) -> None:
    run_bench(BENCH, sim, params)

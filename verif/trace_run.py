"""Workload traces (official CSV format) as generation commands on ``spatten_top``: the trace
runner library of ``spatten run --trace``, ``bench.system_bench`` and its command line
``python -m bench.trace_sim``.

A trace row is one (decode step, layer, head) request; the rows of one (step, layer) become
ONE generation command (MODE = 1, one query per head, all heads in the command, HEAD_STRIDE
layout). The mapping (:func:`command_of`), written down because our datapath is not the
reference's:

* N = ``key_fetch_num`` (the keys left after cascade token pruning), VALUE_KEEP =
  ``value_fetch_num``, HEADS = rows of the layer, D = ``embedding_length_D``;
* BITS: MSB = ``quant_key_bit`` (6), LSB = ``auto_requant_incre`` (4); ``-1`` (unquantized)
  = 12 MSB bits, no LSB (our datapath is 12 bits; the trace's 16-bit query is our 12-bit Q).
  V is fetched with the K MSB bits (the trace has quant_value_bit = quant_key_bit);
* REQUANT_THR = ``auto_requant_thres`` (0.05). Requant is decided by the data, so the data
  are shaped per head: a head with ``if_requant`` gets a query of tiny random values (flat
  probabilities, max ~ 1/N < 0.05 -> LSB fetch and re-pass); every other head gets a query
  = 3 x one of its keys (one dominant probability, no requant). K and V: N(0, 1), seeded;
* PRUNE = ``if_topk`` of any row, TOKEN_KEEP = min(topk, N) (the trace's end-of-step top-k
  921 is over the next step's cache, larger than this layer's N), HEAD_KEEP = HEADS;
* every command starts after CTRL.CLEAR (each is an independent layer: the cascade is already
  in the trace's counts).

The dense version of a trace (``golden.traces.densify``) is the same rows with key_fetch_num =
value_fetch_num = sentence_length_L, unquantized, no requant, no top-k.

Summarization commands (``mode = "summarization"``, the BERT-shaped workload of
``bench.bert_workload``) use the same record: N queries against N keys per head, HEADS heads,
HEAD_KEEP = ``head_keep`` (0: HEADS). Their data: K, V ~ N(0, 1); query row i = PEAK_GAIN x a
random key of its head (one dominant probability), except, in a head with ``requant``, every
FLAT_EVERY-th row (i % FLAT_EVERY == 0), which gets tiny values (flat probabilities -> LSB
fetch and re-pass when the command has LSB bits). :func:`run_commands_on_rtl` runs any such
list of commands.

Decode steps are subsampled (:func:`select_steps`): ``steps`` iterations evenly spaced over
the trace, always including the first and the last.

:func:`run_commands` runs commands on any :class:`host.driver.Device` and checks every
command against the golden command model (``golden.accel.AccelModel``): E rows and KEEP list
in memory, byte / MAC / requant counters, KEPT_TOKENS, LIVE_HEADS; differences are counted as
``mismatches``. Under cocotb the device is the RTL (``tb/run/trace_tb.py``); without a
simulator it is :class:`host.driver.ModelDevice` (the unit tests).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from golden.accel import (
    AccelModel,
    AccelParams,
    Command,
    CommandError,
    CommandResult,
    Ctrl,
    ErrorCode,
    Mode,
    Reg,
    check_command,
)
from golden.blocks import prob_threshold
from golden.config import PruneConfig
from golden.fixed import DATA_W
from golden.traces import (
    GPT2_PRUNED,
    UNQUANTIZED,
    Trace,
    TraceFormatError,
    TraceRow,
    densify,
    group_layers,
    read_trace,
)
from host.driver import (
    Counts,
    Device,
    LayerImage,
    Layout,
    build_image,
    command_regs,
    execute,
    probe,
)
from verif.tools import BUILD, ROOT

DEFAULT_TRACE = GPT2_PRUNED
BASE = 0x1000
MEM_SIZE = 1 << 22
FLAT_SCALE = 0.01  # query scale of a head that must requantize (flat probabilities)
PEAK_GAIN = 3.0  # query = PEAK_GAIN x one key: one dominant probability
FLAT_EVERY = 8  # summarization: every 8th query row of a requant head is flat (1/8 = 0.125)
MODES = {"generation": Mode.GENERATION, "summarization": Mode.SUMMARIZATION}
DEFAULT_STEPS = {"verilator": 3, "icarus": 1}
PARAMS = {  # icarus: fewer lanes (simulation speed), same D / N range
    "verilator": {"LANES": 8, "D_MAX": 64, "MAX_N": 1024, "H_MAX": 16, "CHANNELS": 2},
    "icarus": {"LANES": 4, "D_MAX": 64, "MAX_N": 1024, "H_MAX": 16, "CHANNELS": 2},
}
MEM_LATENCY = 20  # cycles from AR to the first R beat of the AXI RAM model, no jitter/pauses
MEMS = ("hdl", "python")  # read memory of the run: HDL model (verif/hdl_mem.py) or cocotbext-axi
COUNTERS = ("CYCLES", "BUSY_CYCLES", "MEM_STALL_CYCLES", "MACS_LO", "MACS_HI", "BYTES_Q",
            "BYTES_K_MSB", "BYTES_K_LSB", "BYTES_V_MSB", "BYTES_E", "REQUANT_ROWS",
            "KEPT_TOKENS", "LIVE_HEADS")
CHECKED = tuple(c for c in COUNTERS if c not in ("CYCLES", "BUSY_CYCLES", "MEM_STALL_CYCLES"))
BYTE_CLASSES = ("Q", "K_MSB", "K_LSB", "V_MSB", "E")


class TraceRunError(Exception):
    """A trace command the device refuses (or refused, or that failed): the message names the
    trace row and the ERROR_CODE. The run fails (exit status 2 from the command lines)."""


TRACE_ERRORS = (TraceFormatError, TraceRunError)  # what the command lines report on one line
Namer = Callable[[dict[str, Any]], str]  # a command (as a dict) -> the text naming it in errors


# ================================================================ trace -> commands ============
@dataclass(frozen=True)
class TraceCommand:
    """One generation command = the rows of one (step, layer) of a trace."""

    kind: str  # "pruned" (the trace as given) or "dense"
    iteration: int
    layer: int
    heads: int
    d: int
    n: int
    value_keep: int
    msb_bits: int
    lsb_bits: int
    threshold: float
    requant: tuple[bool, ...]  # per head: the trace says this head re-fetched LSBs
    token_keep: int  # 0: no token top-k (PRUNE off)
    mode: str = "generation"  # or "summarization": N queries per head (MODES)
    head_keep: int = 0  # HEAD_KEEP when PRUNE; 0: every head

    @property
    def queries(self) -> int:
        return self.n if self.mode == "summarization" else 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceCommand:
        return cls(**{**data, "requant": tuple(data["requant"])})


def map_bits(row: TraceRow) -> tuple[int, int, float]:
    """(MSB bits, LSB bits, threshold) of our 12-bit datapath for a row's bit columns."""
    msb = DATA_W if row.quant_key_bit == UNQUANTIZED else min(int(row.quant_key_bit), DATA_W)
    lsb = max(0, min(int(row.auto_requant_incre), DATA_W - msb))
    threshold = float(row.auto_requant_thres) if lsb > 0 else 0.0
    return msb, lsb, threshold


def command_of(rows: Sequence[TraceRow], kind: str) -> TraceCommand:
    """The command of the rows of one (step, layer) (see the module docstring)."""
    first = rows[0]
    msb, lsb, threshold = map_bits(first)
    n = int(first.key_fetch_num)
    topks = [min(int(r.topk), n) for r in rows if r.if_topk]
    return TraceCommand(kind=kind, iteration=first.iteration_id, layer=first.layer_id,
                        heads=len(rows), d=int(first.embedding_length_D), n=n,
                        value_keep=min(int(first.value_fetch_num), n), msb_bits=msb,
                        lsb_bits=lsb, threshold=threshold,
                        requant=tuple(bool(r.if_requant) and lsb > 0 for r in rows),
                        token_keep=topks[-1] if topks else 0)


def select_steps(iterations: Sequence[int], steps: int | None) -> list[int]:
    """``steps`` decode steps evenly spaced over the trace (first and last included; one
    step = the last)."""
    its = sorted(set(iterations))
    if steps is None or steps >= len(its):
        return its
    if steps <= 1:  # one step: the last (steady-state pruning, the cache at its longest)
        return its[-1:]
    idx = np.linspace(0, len(its) - 1, max(1, steps)).round().astype(int)
    return [its[i] for i in sorted(set(idx.tolist()))]


def smallest_layer(rows: Sequence[TraceRow]) -> int:
    """The layer with the fewest keys (the first such): Icarus runs only that one."""
    return min(rows, key=lambda r: (r.key_fetch_num, r.layer_id)).layer_id


def trace_commands(rows: Sequence[TraceRow], steps: int | None,
                   layers: Sequence[int] | None = None, dense: bool = True
                   ) -> list[TraceCommand]:
    """Commands of the selected steps (and layers): the pruned ones, then their dense twins."""
    keep = set(select_steps([r.iteration_id for r in rows], steps))
    groups = [g for (it, layer), g in group_layers(rows).items()
              if it in keep and (layers is None or layer in layers)]
    cmds = [command_of(g, "pruned") for g in groups]
    if dense:
        cmds += [command_of(densify(g), "dense") for g in groups]
    return cmds


def minilm_trace() -> Trace:
    """Fallback workload when the shared traces are absent: our own MiniLM run as a trace."""
    from golden import minilm, traces
    from golden.config import DEFAULT_PRUNE
    from golden.reference import FloatSpatten

    text = "The median is the middle value of the sorted data, not the mean of the values."
    enc = minilm.encode(text, FloatSpatten(DEFAULT_PRUNE, quantize=True))
    return traces.trace_from_results([enc.layers], DEFAULT_PRUNE, config="minilm")


def load_trace(path: str | Path | None) -> Trace:
    """The trace at ``path``; default the pruned GPT-2 small trace, else a MiniLM trace."""
    if path is not None:
        return read_trace(path)
    return read_trace(DEFAULT_TRACE) if DEFAULT_TRACE.is_file() else minilm_trace()


# ================================================================ command data =================
def command_tensors(cmd: TraceCommand, seed: int) -> tuple[np.ndarray, ...]:
    """Float q [H, queries, D], k, v [H, N, D], shaped so that exactly the trace's heads
    requantize (summarization: the flat rows of the ``requant`` heads, :func:`flat_rows`)."""
    rng = np.random.default_rng([seed, cmd.iteration, cmd.layer, cmd.n])
    k = rng.normal(0.0, 1.0, (cmd.heads, cmd.n, cmd.d))
    v = rng.normal(0.0, 1.0, (cmd.heads, cmd.n, cmd.d))
    if cmd.mode == "summarization":
        return summarization_queries(cmd, k, rng), k, v
    q = np.empty((cmd.heads, 1, cmd.d))
    for h in range(cmd.heads):
        if cmd.requant[h]:
            q[h, 0] = FLAT_SCALE * rng.normal(0.0, 1.0, cmd.d)
        else:
            q[h, 0] = PEAK_GAIN * k[h, rng.integers(cmd.n)]
    return q, k, v


def flat_rows(cmd: TraceCommand, h: int) -> np.ndarray:
    """Query rows of head ``h`` of a summarization command that get flat probabilities."""
    rows = np.arange(cmd.queries)
    return rows[rows % FLAT_EVERY == 0] if cmd.requant[h] else rows[:0]


def summarization_queries(cmd: TraceCommand, k: np.ndarray, rng: np.random.Generator
                          ) -> np.ndarray:
    """q [H, N, D]: row i = PEAK_GAIN x a random key of the head, the flat rows tiny."""
    q = np.empty((cmd.heads, cmd.queries, cmd.d))
    for h in range(cmd.heads):
        q[h] = PEAK_GAIN * k[h, rng.integers(cmd.n, size=cmd.queries)]
        flat = flat_rows(cmd, h)
        q[h, flat] = FLAT_SCALE * rng.normal(0.0, 1.0, (len(flat), cmd.d))
    return q


def layout_of(cmd: TraceCommand, base: int = BASE) -> Layout:
    return Layout(base, cmd.heads, cmd.queries, cmd.n, cmd.d, cmd.msb_bits, cmd.lsb_bits)


def command_csrs(cmd: TraceCommand, layout: Layout, image: LayerImage) -> dict[int, int]:
    """CSR values of a command (SCORE_SCALE, HEAD_SCALE of the heads in ``image``)."""
    cfg = PruneConfig(msb_bits=cmd.msb_bits, lsb_bits=cmd.lsb_bits,
                      requant_threshold=cmd.threshold)
    counts = Counts(prune=cmd.token_keep > 0, token_keep=cmd.token_keep or cmd.n,
                    head_keep=cmd.head_keep or cmd.heads, value_keep=cmd.value_keep)
    regs = command_regs(layout, cfg, counts, MODES[cmd.mode], image)
    assert regs[Reg.REQUANT_THR] == prob_threshold(cmd.threshold)
    return regs


def command_setup(cmd: TraceCommand, seed: int, base: int = BASE
                  ) -> tuple[Layout, list[tuple[int, bytes]], dict[int, int]]:
    """Memory layout, memory writes and CSR values of a command."""
    layout = layout_of(cmd, base)
    image = build_image(layout, *command_tensors(cmd, seed), np.arange(cmd.heads))
    return layout, image.writes, command_csrs(cmd, layout, image)


# ================================================================ refused commands =============
def row_name(trace: Trace, path: object, iteration: int, layer: int, kind: str) -> str:
    """The trace row of a command: file line (when known), iteration and layer."""
    row = next((r for r in trace.rows if r.iteration_id == iteration and r.layer_id == layer),
               None)
    line = trace.line_of(row) if row is not None else None
    where = f"{path} line {line}" if line is not None else f"{path}"
    twin = ", its dense twin" if kind == "dense" else ""
    return f"{where} (iteration {iteration}, layer {layer}{twin})"


def refusal(cmd: TraceCommand, params: AccelParams) -> CommandError | None:
    """The START check the device applies to ``cmd`` right after CLEAR (golden model), or
    None when it takes the command."""
    regs = command_csrs(cmd, layout_of(cmd), LayerImage.empty())
    try:
        check_command(Command.from_regs(regs), params, 0, min(cmd.heads, params.h_max))
    except CommandError as err:
        return err
    return None


def trace_namer(trace: Trace, path: object) -> Namer:
    """Names a command of ``trace`` by its trace row (:func:`row_name`)."""
    return lambda c: row_name(trace, path, c["iteration"], c["layer"], c["kind"])


def check_commands(trace: Trace, path: object, cmds: Sequence[TraceCommand],
                   params: AccelParams) -> None:
    """TraceRunError, before any simulation, for the first command the build refuses."""
    preflight_commands(cmds, params, trace_namer(trace, path))


def preflight_commands(cmds: Sequence[TraceCommand], params: AccelParams, name: Namer) -> None:
    """:func:`check_commands` for any commands (``name``: the text naming a command dict)."""
    for cmd in cmds:
        err = refusal(cmd, params)
        if err is not None:
            raise TraceRunError(f"{name(asdict(cmd))}: "
                                f"the {params_text(params)} build refuses the command: "
                                f"ERROR_CODE {int(err.code)} {err}")


def params_text(params: AccelParams) -> str:
    return f"MAX_N {params.max_n} D_MAX {params.d_max} H_MAX {params.h_max}"


def check_records(trace: Trace, path: object, records: Sequence[dict[str, Any]]) -> None:
    """TraceRunError for the first command the device refused or failed (ERROR_CODE != 0):
    a refused command is not a result."""
    check_errors(records, trace_namer(trace, path))


def check_errors(records: Sequence[dict[str, Any]], name: Namer) -> None:
    """:func:`check_records` for any commands (``name``: the text naming a command dict)."""
    for rec in records:
        if rec.get("error", "NONE") != "NONE":
            raise TraceRunError(f"{name(rec['command'])}: the device ended the command with "
                                f"ERROR_CODE {int(ErrorCode[rec['error']])} {rec['error']}")


# ================================================================ golden comparison ============
def golden_counters(res: CommandResult) -> dict[str, int]:
    return {name: int(res.regs.get(int(Reg[name]), 0)) for name in CHECKED}


def split_macs(res: CommandResult, cmd: TraceCommand) -> tuple[int, int]:
    """(Q.K MACs, P.V MACs) of a golden result (requantized rows count the Q.K pass twice)."""
    qk = sum((len(hr.e) + int(hr.requant.sum())) * cmd.n * cmd.d for hr in res.heads.values())
    pv = sum(hr.kept_v.size * cmd.d for hr in res.heads.values())
    return qk, pv


async def compare(dev: Device, res: CommandResult, got: dict[str, int]) -> list[str]:
    """Differences between the device after a command and the golden result."""
    errs = [f"{addr:#x}+{len(data)}: memory differs" for addr, data in res.writes
            if await dev.read_mem(addr, len(data)) != data]
    want = golden_counters(res)
    errs += [f"{name}: got {got[name]}, want {want[name]}" for name in CHECKED
             if got[name] != want[name]]
    return errs


async def read_counters(dev: Device) -> dict[str, int]:
    return {name: await dev.read_reg(Reg[name]) for name in COUNTERS}


async def run_one(dev: Device, cmd: TraceCommand, params: AccelParams, seed: int,
                  clock: Any = time.perf_counter) -> dict[str, Any]:
    """CLEAR, write, run and check one command; its record (counters, golden, mismatches).

    ``clock`` returns the time base of ``sim_time`` (cycles under cocotb)."""
    await dev.write_reg(Reg.CTRL, Ctrl.CLEAR)
    layout, writes, regs = command_setup(cmd, seed)
    for addr, data in writes:
        await dev.write_mem(addr, data)
    golden = AccelModel(params).run_command(regs, await dev.read_mem(0, layout.end))
    wall0, sim0 = time.perf_counter(), clock()
    try:
        await execute(dev, regs)
        code = ErrorCode.NONE
    except CommandError as err:  # recorded; check_records fails the run on it
        code = err.code
    wall, sim_time = time.perf_counter() - wall0, clock() - sim0
    got = await read_counters(dev)
    qk, pv = split_macs(golden, cmd)
    errs = [] if code == golden.error else [f"ERROR_CODE: got {code.name}, want "
                                            f"{golden.error.name}"]
    return {"command": asdict(cmd), "error": code.name, "counters": got,
            "golden": golden_counters(golden),
            "mismatches": errs + await compare(dev, golden, got), "qk_macs": qk,
            "pv_macs": pv, "execute_wall_s": wall, "execute_sim_time": sim_time}


async def run_commands(dev: Device, cmds: Sequence[TraceCommand], seed: int,
                       log: Any = None, clock: Any = time.perf_counter
                       ) -> list[dict[str, Any]]:
    """Run every command on ``dev``; ``log(record)`` after each (progress, partial results)."""
    params = await probe(dev)
    records = []
    for cmd in cmds:
        records.append(await run_one(dev, cmd, params, seed, clock))
        if log is not None:
            log(records)
    return records


# ================================================================ summary ======================
def record_bytes(rec: dict[str, Any]) -> dict[str, int]:
    return {c: rec["counters"][f"BYTES_{c}"] for c in BYTE_CLASSES}


def sum_bytes(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    total = dict.fromkeys(BYTE_CLASSES, 0)
    for rec in records:
        for c, v in record_bytes(rec).items():
            total[c] += v
    return total


def macs_of(rec: dict[str, Any]) -> int:
    return rec["counters"]["MACS_LO"] | rec["counters"]["MACS_HI"] << 32


def summarize(records: Sequence[dict[str, Any]], params: dict[str, int]) -> dict[str, Any]:
    """The result dict of :func:`run_trace_on_rtl` from the per-command records."""
    pruned = [r for r in records if r["command"]["kind"] == "pruned"]
    dense = [r for r in records if r["command"]["kind"] == "dense"]
    cycles = sum(r["counters"]["CYCLES"] for r in pruned)
    peak = 2 * params["LANES"] * params["D_MAX"]  # Q.K + P.V multipliers
    rows = sum(r["command"]["heads"] for r in pruned)
    return {
        "mismatches": sum(len(r["mismatches"]) for r in records),
        "commands": len(records),
        "cycles": cycles,
        "cycles_dense": sum(r["counters"]["CYCLES"] for r in dense),
        "dram_bytes": sum_bytes(pruned),
        "dram_bytes_dense": sum_bytes(dense),
        "macs": sum(macs_of(r) for r in pruned),
        "mac_utilization": sum(macs_of(r) for r in pruned) / (cycles * peak) if cycles else 0.0,
        "requant_rate": sum(r["counters"]["REQUANT_ROWS"] for r in pruned) / rows if rows else 0.0,
        "requant_rate_trace": sum(sum(r["command"]["requant"]) for r in pruned) / rows
        if rows else 0.0,
        "per_layer": [{**r["command"], **r["counters"], "qk_macs": r["qk_macs"],
                       "pv_macs": r["pv_macs"], "mismatches": len(r["mismatches"])}
                      for r in records],
        "params": params,
        "records": list(records),
    }


# ================================================================ simulator run ================
TB_DIR = ROOT / "tb" / "run"  # trace_tb.py, the cocotb test module


def testbench(mem: str, latency: int, folder: Path, cxx_opt: str | None
              ) -> tuple[Any, dict[str, int], list[str], str]:
    """(Bench, extra HDL parameters, plusargs, build-folder suffix) of the ``mem`` testbench:
    ``spatten_top`` with the Python models, or the benchmark top with the HDL memory (its
    latency built in, backdoor files in ``folder``)."""
    from verif import hdl_mem
    from verif.runner import Bench

    if mem == "python":
        return (Bench("spatten_top", ["spatten_top.v"], {}, test_module="trace_tb",
                      tb_dir=TB_DIR), {}, [], "")
    cxx = cxx_opt or hdl_mem.CXX_OPT
    folder.mkdir(parents=True, exist_ok=True)
    bench = Bench(hdl_mem.TOPLEVEL, [str(TB_DIR / f) for f in hdl_mem.SOURCES], {},
                  test_module="trace_tb", tb_dir=TB_DIR, include_dirs=(TB_DIR,),
                  verilator_args=(*hdl_mem.VERILATOR_ARGS, "-CFLAGS", cxx))
    return bench, {"MEM_LATENCY": latency}, hdl_mem.plusargs(folder), cxx


def run_trace_on_rtl(trace_path: str | Path | None, sim: str = "verilator",
                     steps: int | None = None, seed: int = 1, progress: bool = True,
                     dense: bool = True, layers: Sequence[int] | None = None,
                     latency: int = MEM_LATENCY, channels: int | None = None,
                     preflight: bool = True, mem: str = "python",
                     build_params: dict[str, int] | None = None,
                     corrupt: Sequence[tuple[int, int]] = (), cxx_opt: str | None = None
                     ) -> dict[str, Any]:
    """Run trace-shaped generation commands on ``spatten_top`` (Verilator or Icarus) and check
    them against the golden command model; see the module docstring for the mapping.

    ``steps`` decode steps (default 3 on Verilator, 1 on Icarus, evenly spaced); ``layers``
    restricts the layers (default all on Verilator, the smallest one on Icarus: layer 6,
    N = 102, in the GPT-2 trace); ``dense`` also runs
    the dense twin of every command (for ``dram_bytes_dense``); ``channels`` sets the build's
    read ports (default PARAMS[sim]). TraceRunError for a command the build refuses: before
    simulating (``preflight``, the golden START checks) and after (an ERROR_CODE the device
    reported; ``preflight=False`` leaves the refusal to the RTL).

    ``mem``: ``"python"`` = cocotbext-axi read memories on ``spatten_top``; ``"hdl"`` = the
    benchmark top ``spatten_bench_top`` with the HDL read memory (fixed latency, one beat per
    port per cycle; ``verif.hdl_mem``), much faster at many channels. ``build_params``
    overrides PARAMS[sim]; ``corrupt`` (address, xor) pairs flip bytes of the HDL memory only
    (a mutant: the run must then report mismatches); ``cxx_opt``: C++ optimisation flag of the
    HDL-memory Verilator build (default ``hdl_mem.CXX_OPT``; a short test builds faster with
    ``-O0``)."""
    if mem not in MEMS:
        raise ValueError(f"mem must be one of {MEMS} (got {mem!r})")
    steps = DEFAULT_STEPS[sim] if steps is None else steps
    trace = load_trace(trace_path)
    if layers is None and sim == "icarus":
        layers = (smallest_layer(trace.rows),)
    cmds = trace_commands(trace.rows, steps, layers, dense)
    summary = run_commands_on_rtl(
        cmds, trace_namer(trace, trace_path or DEFAULT_TRACE), sim, seed, progress, latency,
        channels, preflight, mem, build_params, corrupt, cxx_opt)
    summary.update(steps=sorted({c.iteration for c in cmds}),
                   trace=str(trace_path or DEFAULT_TRACE))
    return summary


def run_commands_on_rtl(cmds: Sequence[TraceCommand], name: Namer, sim: str = "verilator",
                        seed: int = 1, progress: bool = True, latency: int = MEM_LATENCY,
                        channels: int | None = None, preflight: bool = True,
                        mem: str = "python", build_params: dict[str, int] | None = None,
                        corrupt: Sequence[tuple[int, int]] = (), cxx_opt: str | None = None,
                        job_name: str = "trace") -> dict[str, Any]:
    """Run ``cmds`` (trace-shaped or summarization) on the RTL, each checked against the golden
    command model; the arguments as :func:`run_trace_on_rtl`'s, ``name`` names a command in
    errors, ``job_name`` prefixes the job and record files in build/bench."""
    from verif.runner import param_tag, run

    if mem not in MEMS:
        raise ValueError(f"mem must be one of {MEMS} (got {mem!r})")
    build = {**PARAMS[sim], **(build_params or {}), **({"CHANNELS": channels} if channels else {})}
    if preflight:
        check = AccelParams(build["LANES"], build["D_MAX"], build["MAX_N"], build["H_MAX"])
        preflight_commands(cmds, check, name)
    out_dir = BUILD / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{sim}_ch{build['CHANNELS']}_{mem}"
    job = out_dir / f"{job_name}_{tag}_job.json"
    out = out_dir / f"{job_name}_{tag}_records.json"
    job.write_text(json.dumps({"commands": [asdict(c) for c in cmds], "seed": seed,
                               "latency": latency, "progress": progress, "mem": mem,
                               "corrupt": [list(c) for c in corrupt]}))
    out.unlink(missing_ok=True)
    bench, hdl_params, plusargs, suffix = testbench(mem, latency, out_dir / tag, cxx_opt)
    wall0 = time.perf_counter()
    # a plain Verilator build: the bench measures, it does not cover
    params = {**build, **hdl_params}
    res = run(bench, sim, params, seed=seed, log_to_file=not progress,
              variant=f"bench_{param_tag(params)}{suffix}", coverage=False,
              plusargs=plusargs,
              extra_env={"SPATTEN_BENCH_JOB": str(job), "SPATTEN_BENCH_OUT": str(out)})
    wall = time.perf_counter() - wall0
    if not out.is_file():
        raise RuntimeError(f"trace simulation produced no records ({res.summary()}); "
                           f"see {res.log or res.xml}")
    data = json.loads(out.read_text())
    check_errors(data["records"], name)
    summary = summarize(data["records"], build)
    summary.update(sim=sim, wall_s=wall, sim_ok=res.ok, seed=seed, latency=latency, mem=mem,
                   complete=len(data["records"]) == len(cmds),
                   test_wall_s=data.get("test_wall_s"),
                   mirror_errors=data.get("mirror_errors"))
    return summary

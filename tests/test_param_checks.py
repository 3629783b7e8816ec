"""Every elaboration-time parameter check of rtl/ fires on an illegal parameter (issue 15.7).

The checks are read from the RTL itself: each ``if (...) begin : g_<label>`` block holding a
``SPATTEN_ELAB_FATAL`` (rtl/spatten_check.vh). :data:`CASES` gives, per (module, label), the
illegal parameter sets that must trip it; each is elaborated on both simulators (Icarus
``iverilog -g2012`` + ``vvp``, where the check is an ``initial $fatal``; the pinned Verilator
``--lint-only``, where ``$fatal`` runs at elaboration; ``--sim`` narrows) and must fail with that check's message.
A test fails when a check has no case (a new check must come with one), and every module
elaborates with its default parameters (so a failure is the check, not a broken file).

Fast tier: the first illegal set of every check; ``-m slow`` adds the rest of the matrix
(below the range, above it, not a power of two, ...).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from verif.tools import ROOT, tool_env

RTL = ROOT / "rtl"
# ``begin : g_label`` followed by the check and its format string (its text up to the first %)
_CHECK = re.compile(r"begin\s*:\s*(g_\w+)\s*\n\s*`SPATTEN_ELAB_FATAL\(1,\s*\"([^\"]*)\"")

# Checks no parameter value can reach, with the reason (not a case the test can build).
UNREACHABLE = {
    ("pv_array", "g_bad_acc"): "TW = PV_PROD_W + log2(LANES) <= 28 + 6 < PV_ACC_W 40 for every "
    "LANES g_bad_lanes accepts; it guards a change of the fixed-point header",
}



class Early(dict):
    """An illegal parameter set that Icarus refuses with its own elaboration error (a zero or
    negative width, a zero replication) before its time-0 ``initial $fatal`` can run: on
    Icarus the elaboration must fail, the check's message cannot appear; Verilator, whose
    ``$fatal`` runs during elaboration, must still name the check."""

    sims: tuple[str, ...] = ("icarus",)


class EarlyBoth(Early):
    """An illegal set that both simulators refuse with an elaboration error elsewhere in the
    module before the check: topk_engine's ``RW'(ROWS - 1)`` cast is zero-wide when MAX_N = P
    (ROWS 1), and it is elaborated before the MAX_N check, also inside spatten_top (rtl/topk_*
    is left to its owner)."""

    sims = ("icarus", "verilator")


# (module, label) -> illegal parameter sets, the first one in the fast tier (one Icarus can
# reach, where there is one).
CASES: dict[tuple[str, str], list[dict[str, int]]] = {
    ("adder_tree", "g_bad_n"): [{"N": 3}, {"N": 0}, {"N": 8192}],
    ("adder_tree", "g_bad_w"): [Early({"IN_W": 0})],
    ("e_writer", "g_bad_aw"): [{"ADDR_W": 31}, {"ADDR_W": 65}],
    ("e_writer", "g_bad_id"): [{"ID_W": 9}, Early({"ID_W": 0})],
    ("e_writer", "g_bad_os"): [{"OUTSTANDING": 256}, Early({"OUTSTANDING": 0})],
    ("e_writer", "g_bad_d"): [{"D_MAX": 24}, {"D_MAX": 8}, {"D_MAX": 80}],
    ("e_writer", "g_bad_idx"): [{"STRIDE_W": 33}, {"IDX_W": 0}, {"IDX_W": 33},
                                Early({"STRIDE_W": 5})],
    ("e_writer", "g_bad_cnt"): [{"CNT_W": 7}, {"CNT_W": 65}],
    ("e_writer", "g_bad_fifo"): [{"FIFO_BEATS": 24}, {"FIFO_BEATS": 4, "MAX_BURST": 4},
                                 {"FIFO_BEATS": 512}],
    ("e_writer", "g_bad_burst"): [{"MAX_BURST": 33}, {"MAX_BURST": 0}],
    ("e_writer", "g_bad_runs"): [{"RUNS": 3}, {"RUNS": 32}, Early({"RUNS": 1})],
    ("head_importance", "g_bad_h_max"): [{"H_MAX": 257}, Early({"H_MAX": 1})],
    ("head_importance", "g_bad_lanes"): [{"LANES": 65}, Early({"LANES": 1})],
    ("head_importance", "g_bad_acc_w"): [{"ACC_W": 18}, {"ACC_W": 64}],
    ("kv_fetch_array", "g_bad_ch"): [{"CHANNELS": 3}, {"CHANNELS": 32}, Early({"CHANNELS": 0})],
    ("kv_fetch_array", "g_bad_il"): [{"LOG2_INTERLEAVE": 10}, Early({"LOG2_INTERLEAVE": 5})],
    ("kv_fetch_array", "g_bad_rq"): [{"RUNQ": 1}, {"RUNQ": 65}],
    ("kv_fetch_array", "g_bad_lw"): [{"LIST_W": 17}, Early({"LIST_W": 0})],
    ("kv_fetch_array", "g_bad_w"): [{"STRIDE_W": 33}, {"IDX_W": 33}, Early({"STRIDE_W": 5}),
                                    Early({"IDX_W": 0})],
    ("kv_fetcher", "g_bad_ch"): [{"CHANNELS": 3}, {"CHANNELS": 32}, Early({"CHANNELS": 0})],
    ("kv_fetcher", "g_bad_aw"): [{"ADDR_W": 31}, {"ADDR_W": 65}],
    ("kv_fetcher", "g_bad_dw"): [{"AXI_DATA_W": 128}],
    ("kv_fetcher", "g_bad_os"): [{"OUTSTANDING": 9}, {"ID_W": 9}, Early({"OUTSTANDING": 0})],
    ("kv_fetcher", "g_bad_mb"): [{"MAX_BURST": 0}, {"MAX_BURST": 257}],
    ("kv_fetcher", "g_bad_il"): [{"LOG2_INTERLEAVE": 13}, Early({"LOG2_INTERLEAVE": 4})],
    ("kv_fetcher", "g_bad_rob"): [{"ROB_BEATS": 24}, {"ROB_BEATS": 4}, {"ROB_BEATS": 2048}],
    ("kv_fetcher", "g_bad_idx"): [{"IDX_W": 33}, {"STRIDE_W": 33}, Early({"IDX_W": 0}),
                                  Early({"STRIDE_W": 5})],
    ("kv_fetcher", "g_bad_d"): [{"D_MAX": 65}, Early({"D_MAX": 0})],
    ("kv_fetcher", "g_bad_cnt"): [{"CNT_W": 7}, {"CNT_W": 65}],
    ("kv_fifo", "g_bad_width"): [{"WIDTH": 0}],
    ("kv_fifo", "g_bad_depth"): [{"DEPTH": 3}, Early({"DEPTH": 1})],
    ("kv_policy", "g_bad_p"): [{"P": 6, "MAX_N": 1026}, {"P": 2}, {"P": 64}],
    ("kv_policy", "g_bad_max_n"): [{"MAX_N": 1000}, {"MAX_N": 16}],
    ("kv_policy", "g_bad_pos_w"): [{"POS_W": 8}, {"POS_W": 33}, {"POS_W": 1}],
    ("kv_policy", "g_bad_imp_w"): [{"IMP_W": 64}, Early({"IMP_W": 0})],
    ("kv_unpack", "g_bad_d"): [{"D_MAX": 65}, Early({"D_MAX": 0})],
    ("kv_unpack", "g_bad_row"): [{"ROW_W": 767}],
    ("pv_array", "g_bad_lanes"): [{"LANES": 3}, {"LANES": 128}, Early({"LANES": 0})],
    ("pv_array", "g_bad_d"): [{"D": 48}, {"D": 0}, {"D": 128}],
    ("qk_array", "g_bad_lanes"): [{"LANES": 3}, {"LANES": 0}, {"LANES": 128}],
    ("qk_array", "g_bad_d"): [{"D": 48, "QW": 16}, {"D": 128, "QW": 128},
                              Early({"D": 0, "QW": 1})],
    ("qk_array", "g_bad_qw"): [{"QW": 3}, {"QW": 0}, Early({"QW": 128})],
    ("requant_decision", "g_bad_tag"): [{"TAG_W": 0}],
    ("softmax", "g_bad_lanes"): [{"LANES": 65}, Early({"LANES": 0})],
    ("softmax", "g_bad_max_n"): [{"MAX_N": 8192}, {"MAX_N": 0}],
    ("softmax", "g_bad_nbuf"): [{"NBUF": 1}, {"NBUF": 9}],
    ("softmax", "g_bad_steps"): [{"RECIP_STEPS": 24}, Early({"RECIP_STEPS": 0})],
    ("spatten_csr", "g_bad_addr_w"): [{"ADDR_W": 8}, {"ADDR_W": 33}],
    ("spatten_csr", "g_bad_lanes"): [{"LANES": 3}, {"LANES": 256}],
    ("spatten_csr", "g_bad_d_max"): [{"D_MAX": 48}, {"D_MAX": 128}],
    ("spatten_csr", "g_bad_max_n"): [{"MAX_N": 384}, {"MAX_N": 1}, {"MAX_N": 8192}],
    ("spatten_csr", "g_bad_h_max"): [{"H_MAX": 33}, Early({"H_MAX": 0})],
    ("spatten_csr", "g_bad_macs_w"): [{"MACS_ADD_W": 0}, {"MACS_ADD_W": 33}],
    ("spatten_csr", "g_bad_bytes_w"): [{"BYTES_ADD_W": 33}, Early({"BYTES_ADD_W": 0})],
    ("spatten_csr", "g_bad_derived"): [{"NW": 5}, {"DW": 2}, {"HW": 1}, {"HIDX_W": 7}],
    ("spatten_kbuf", "g_bad"): [{"MAX_N": 12}, {"MAX_N": 4}],
    ("spatten_kbuf", "g_bad_wp"): [{"WR_PORTS": 0}, {"WR_PORTS": 33}],
    ("spatten_kbuf", "g_bad_rg"): [{"REGIONS": 3}, {"REGIONS": 8}],
    ("spatten_ctrl", "g_bad_qs"): [{"QS": 8, "H_MAX": 16}, {"QS": 2}, {"QS": 12}, {"QS": 64}],
    ("spatten_ctrl", "g_bad_kreg"): [{"KREG": 3}, {"KREG": 8}],
    ("spatten_ctrl", "g_bad_topk_p"): [{"TOPK_P": 4}, {"TOPK_P": 12}, {"TOPK_P": 64}],
    ("spatten_ctrl", "g_bad_spec_rows"): [{"SPEC_ROWS": 0}, {"SPEC_ROWS": 17}],
    ("spatten_ctrl", "g_bad_qb_w"): [Early({"QB_W": 0}), {"QB_W": 17}],
    ("spatten_vbuf", "g_bad_regions"): [{"REGIONS": 3}, {"REGIONS": 0}],
    ("spatten_vbuf", "g_bad_max_n"): [{"MAX_N": 12}, Early({"MAX_N": 1})],
    ("spatten_vbuf", "g_bad_rgw"): [{"REGIONS": 4, "RGW": 1}],
    ("spatten_axi_rd_mux", "g_bad_ch"): [{"CHANNELS": 17}, {"CHANNELS": 0}],
    ("spatten_axi_rd_mux", "g_bad_id"): [{"ID_W": 8}, {"ID_W": 0}],
    ("spatten_top", "g_bad"): [{"LANES": 12}, {"LANES": 2}, {"D_MAX": 8, "LANES": 4},
                               {"LANES": 32, "D_MAX": 16}, {"MAX_N": 384}, {"MAX_N": 8192},
                               {"H_MAX": 33}, EarlyBoth({"MAX_N": 8}), Early({"H_MAX": 1})],
    ("spatten_top", "g_bad_ch"): [{"CHANNELS": 3}, {"CHANNELS": 32}, Early({"CHANNELS": 0})],
    ("spatten_top", "g_bad_rob"): [{"FETCH_ROB": 24}, {"FETCH_ROB": 4}, {"FETCH_ROB": 2048}],
    ("spatten_top", "g_bad_topk_p"): [{"TOPK_P": 4}, {"TOPK_P": 12}, {"TOPK_P": 64},
                                      EarlyBoth({"TOPK_P": 32, "MAX_N": 32, "LANES": 4,
                                                 "D_MAX": 16})],
    ("stream_fifo", "g_bad_width"): [{"WIDTH": 0}],
    ("stream_fifo", "g_bad_depth"): [{"DEPTH": 1}],
    ("stream_skid", "g_bad_width"): [{"WIDTH": 0}],
    ("stream_upsize", "g_bad_r"): [{"R": 65}, {"R": 0}],
    ("stream_upsize", "g_bad_w"): [Early({"W": 0}), Early({"K": 0})],
    ("token_importance", "g_bad_lanes"): [{"LANES": 3}, {"LANES": 128}, Early({"LANES": 1})],
    ("token_importance", "g_bad_max_n"): [{"MAX_N": 20}, {"MAX_N": 131072}, Early({"MAX_N": 8})],
    ("token_importance", "g_bad_acc_w"): [{"ACC_W": 49}, Early({"ACC_W": 15})],
    ("topk_cand_buf", "g_bad_p"): [{"P": 0}],
    ("topk_cand_buf", "g_bad_rows"): [Early({"ROWS": 1})],
    ("topk_cand_buf", "g_bad_w"): [Early({"W": 0})],
    ("topk_compact", "g_bad_p"): [{"P": 6}, {"P": 2}, {"P": 64}],
    ("topk_rank_sel", "g_bad_p"): [{"P": 6}, {"P": 2}, {"P": 64}],
    ("topk_rank_sel", "g_bad_w"): [Early({"W": 0})],
    ("topk_compact", "g_bad_w"): [Early({"W": 0})],
    ("topk_engine", "g_bad_p"): [{"P": 6, "MAX_N": 1026}, {"P": 2}, {"P": 64}],
    ("topk_engine", "g_bad_max_n"): [{"MAX_N": 1000}, EarlyBoth({"MAX_N": 16})],
    ("topk_engine", "g_bad_score_w"): [{"SCORE_W": 65}, Early({"SCORE_W": 0})],
    ("topk_engine", "g_bad_index_w"): [Early({"INDEX_W": 0})],
    ("topk_zero_elim", "g_bad_p"): [{"P": 6}, {"P": 2}, {"P": 64}],
    ("topk_zero_elim", "g_bad_dw"): [Early({"DW": 0})],
}


@cache
def rtl_checks() -> dict[tuple[str, str], str]:
    """(module, label) -> the check's message up to its first format directive."""
    checks = {}
    for path in sorted(RTL.glob("*.v")):
        for label, fmt in _CHECK.findall(path.read_text()):
            checks[(path.stem, label)] = fmt.split("%")[0].strip()
    return checks


def elaborate(sim: str, module: str, params: dict[str, int], work: Path,
              rtl: Path = RTL) -> tuple[int, str]:
    """Elaborate ``module`` of ``rtl`` with ``params`` overridden; (exit status, output)."""
    src = str(rtl / f"{module}.v")
    if sim == "icarus":
        out = work / f"{module}.vvp"
        cmd = ["iverilog", "-g2012", f"-I{rtl}", "-y", str(rtl), "-s", module, "-o", str(out),
               *(f"-P{module}.{k}={v}" for k, v in params.items()), src]
        comp = subprocess.run(cmd, capture_output=True, text=True, env=tool_env(), timeout=120)
        if comp.returncode != 0:
            return comp.returncode, comp.stdout + comp.stderr
        # the Icarus check is an initial $fatal: it fires at time 0 of the simulation
        run = subprocess.run(["vvp", "-n", str(out)], capture_output=True, text=True,
                             timeout=120)
        return run.returncode, comp.stdout + comp.stderr + run.stdout + run.stderr
    cmd = ["verilator", "--lint-only", "-Wno-lint", "-Wno-style", f"-I{rtl}", "-y", str(rtl),
           "--top-module", module, *(f"-G{k}={v}" for k, v in params.items()), src]
    res = subprocess.run(cmd, capture_output=True, text=True, env=tool_env(), timeout=120)
    return res.returncode, res.stdout + res.stderr


def _cases(slow: bool) -> list[object]:
    out = []
    for (module, label), sets in CASES.items():
        for params in sets[1:] if slow else sets[:1]:
            tag = ",".join(f"{k}={v}" for k, v in params.items())
            marks = [pytest.mark.slow] if slow else []
            out.append(pytest.param(module, label, params, marks=marks,
                                    id=f"{module}-{label}-{tag}"))
    return out


def test_every_check_has_a_case() -> None:
    checks = set(rtl_checks())
    assert checks, "no SPATTEN_ELAB_FATAL check found in rtl/"
    missing = checks - set(CASES) - set(UNREACHABLE)
    assert not missing, f"parameter checks without an illegal-parameter case: {sorted(missing)}"
    stale = (set(CASES) | set(UNREACHABLE)) - checks
    assert not stale, f"cases of checks that are not in rtl/: {sorted(stale)}"


@pytest.mark.parametrize("module", sorted({m for m, _ in CASES}))
def test_defaults_elaborate(sim: str, module: str, tmp_path: Path) -> None:
    rc, out = elaborate(sim, module, {}, tmp_path)
    assert rc == 0 and "FATAL" not in out.upper(), out


def _check_fires(sim: str, module: str, label: str, params: dict[str, int], work: Path,
                 rtl: Path = RTL) -> None:
    message = rtl_checks()[(module, label)]
    rc, out = elaborate(sim, module, params, work, rtl)
    assert rc != 0, f"{module} {params} elaborated on {sim}:\n{out}"
    if isinstance(params, Early) and sim in params.sims:
        assert "error" in out.lower() or "assert" in out.lower(), out
        return
    assert message in out, f"{module} {params} on {sim}: no {message!r} in\n{out}"


@pytest.mark.parametrize(("module", "label", "params"), _cases(slow=False))
def test_check_fires(sim: str, module: str, label: str, params: dict[str, int],
                     tmp_path: Path) -> None:
    _check_fires(sim, module, label, params, tmp_path)


@pytest.mark.parametrize(("module", "label", "params"), _cases(slow=True))
def test_check_fires_full_matrix(sim: str, module: str, label: str, params: dict[str, int],
                                 tmp_path: Path) -> None:
    _check_fires(sim, module, label, params, tmp_path)


# The four checks a held-out mutation run found untested (issue 15): each mutated so that it
# never fires must make this test fail.
SURVIVORS = [("spatten_csr", "g_bad_derived"), ("e_writer", "g_bad_d"), ("qk_array", "g_bad_qw"),
             ("topk_cand_buf", "g_bad_p")]


@pytest.mark.parametrize(("module", "label"), SURVIVORS, ids=[f"{m}-{lab}" for m, lab in SURVIVORS])
def test_a_disabled_check_is_caught(sim: str, module: str, label: str, tmp_path: Path) -> None:
    rtl = tmp_path / "rtl"
    shutil.copytree(RTL, rtl)
    src = rtl / f"{module}.v"
    text = src.read_text()
    begin = re.search(r"\)\s*begin\s*:\s*" + label + r"\b", text)
    assert begin, f"{label} not found in {src.name}"
    cond = text.rindex("if (", 0, begin.start())
    text = text[:cond] + "if (1'b0" + text[begin.start():]  # the check can never fire
    src.write_text(text)
    with pytest.raises(AssertionError, match="elaborated on"):
        _check_fires(sim, module, label, CASES[(module, label)][0], tmp_path, rtl)

"""cocotb test module of ``spatten run`` (spatten/run.py launches it on ``spatten_top``; it
lives with the other cocotb test modules, tb/run/, and imports no CLI code).

The job (JSON file named by SPATTEN_JOB) lists sentences and a pruning setting. For each
sentence the numpy MiniLM-L6 forward runs in a ``cocotb.task.bridge`` thread with every
attention layer executed by the RTL (``verif.axil.encode_in_sim``: host library builds the
memory image, programs the CSRs over AXI4-Lite, waits for the done interrupt, reads E, the KEEP
list and the counters back). The same sentence then runs through the bit-exact golden model
(``golden.system.FixedSpatten``) and every layer is compared: each E element, the kept-token
list and the live-head list. Results (per sentence, per layer, and both embeddings: the RTL
run's and the golden model's, computed in this process since numpy in another may round the
last bit differently, e.g. with another BLAS thread count) go to the JSON file named by
SPATTEN_RESULT; one progress line per finished layer is appended to SPATTEN_PROGRESS. The test
fails when anything mismatches, so the results XML agrees with the report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.handle import HierarchyObject

from golden import minilm
from golden.accel import Command as AccelCommand
from golden.accel import CommandError, Ctrl, Mode, Reg, check_command
from golden.config import PruneConfig
from golden.system import FixedSpatten, LayerResult
from host.driver import (
    Device,
    LayerImage,
    Layout,
    command_counts,
    command_regs,
    execute,
    probe,
)
from verif.axil import encode_in_sim, measuring_device
from verif.seeding import params


def layer_mismatches(rtl: LayerResult, gold: LayerResult) -> dict[str, int]:
    """Elements of E, kept-token and live-head entries where the RTL differs from the model."""

    def list_diff(a: np.ndarray, b: np.ndarray) -> int:
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return max(a.size, b.size)
        return int(np.count_nonzero(a != b))

    return {"e": list_diff(rtl.extra["e_int"], gold.extra["e_int"]),
            "keep_tokens": list_diff(rtl.keep_tokens, gold.keep_tokens),
            "keep_heads": list_diff(rtl.keep_heads, gold.keep_heads)}


def layer_record(rtl: LayerResult, gold: LayerResult) -> dict:
    """What the report needs of one layer command."""
    return {"tokens": int(rtl.extra["layout"].n), "kept_tokens": len(rtl.keep_tokens),
            "live_heads": len(rtl.extra["live_heads"]), "kept_heads": len(rtl.keep_heads),
            "rows": rtl.rows, "requant_rows": rtl.requant_rows, "macs": int(rtl.extra["macs"]),
            "cycles": int(rtl.extra["cycles"]), "busy_cycles": int(rtl.extra["busy_cycles"]),
            "bytes": {k: int(v) for k, v in rtl.bytes.items()},
            "bytes_dense": {k: int(v) for k, v in rtl.bytes_dense.items()},
            "mismatches": layer_mismatches(rtl, gold)}


def progress(path: str | None, **fields: object) -> None:
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(fields) + "\n")


def first_command(cfg: PruneConfig, text: str) -> dict[int, int]:
    """CSRs of the first layer command of ``text`` (MiniLM shapes), without SCORE_SCALE / HEAD_SCALE: what
    the START checks see. No memory image: a refused command reads no memory."""
    n = len(minilm.tokenize(text))
    layout = Layout(0, minilm.N_HEADS, n, n, minilm.D_HEAD, cfg.msb_bits, cfg.lsb_bits)
    counts = command_counts(cfg, 0, n, minilm.N_HEADS)
    return command_regs(layout, cfg, counts, Mode.SUMMARIZATION, LayerImage.empty())


async def probe_refusal(dev: Device, cfg: PruneConfig, text: str) -> dict | None:
    """When the golden model refuses the setting (a START check, e.g. BAD_BITS), START the
    first command on the RTL and return both ERROR_CODEs (the host cannot build a memory
    image for a setting the datapath cannot hold; the START checks need none). None when
    the golden model takes the setting."""
    regs = first_command(cfg, text)
    try:
        check_command(AccelCommand.from_regs(regs), await probe(dev), 0, minilm.N_HEADS)
        return None
    except CommandError as err:
        golden, detail = err.code, str(err)
    await dev.write_reg(Reg.CTRL, Ctrl.CLEAR)
    try:
        await execute(dev, regs)
        code = 0
        rtl = "NONE (accepted)"
    except CommandError as err:
        code, rtl = int(err.code), err.code.name
    return {"code": code, "rtl": rtl, "golden": golden.name, "detail": detail}


@cocotb.test()
async def run_job(dut: HierarchyObject) -> None:
    """Every sentence of the job through MiniLM with the RTL as attention; compare; report.
    A setting the golden model refuses is only STARTed once: both ERROR_CODEs reported."""
    job = json.loads(Path(os.environ["SPATTEN_JOB"]).read_text())
    cfg = PruneConfig(**job["config"])
    dev = await measuring_device(dut, params()["CHANNELS"], 1 << 22, job["latency"])
    refusal = await probe_refusal(dev, cfg, job["sentences"][0])
    if refusal is not None:
        Path(os.environ["SPATTEN_RESULT"]).write_text(json.dumps({"refused": refusal}))
        assert refusal["rtl"] == refusal["golden"], f"RTL ERROR_CODE differs: {refusal}"
        return
    sentences = []
    for i, text in enumerate(job["sentences"]):
        rtl = await encode_in_sim(text, dev, cfg)
        gold = minilm.encode(text, FixedSpatten(cfg))
        layers = [layer_record(r, g) for r, g in zip(rtl.layers, gold.layers, strict=True)]
        sentences.append({"text": text, "tokens": rtl.n_tokens,
                          "embedding": [float(x) for x in rtl.embedding],
                          "embedding_golden": [float(x) for x in gold.embedding],
                          "layers": layers})
        progress(os.environ.get("SPATTEN_PROGRESS"), sentence=i, layers=len(layers))
    Path(os.environ["SPATTEN_RESULT"]).write_text(json.dumps({"sentences": sentences}))
    bad = sum(sum(lay["mismatches"].values()) for s in sentences for lay in s["layers"])
    assert bad == 0, f"{bad} RTL-vs-golden mismatches (details in {os.environ['SPATTEN_RESULT']})"

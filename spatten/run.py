"""``spatten run`` / ``make demo``: the main job — MiniLM-L6 with the RTL computing attention.

Every attention layer of all-MiniLM-L6-v2 runs on ``spatten_top`` (Verilator by default,
``--sim icarus`` also works) while the host runs the rest of the model in numpy layer by layer
and follows the live token list (tb/run/sim_main.py, launched through verif.runner). Each layer
is compared with the bit-exact golden model; the report gives the mismatches (must be 0), the
embedding cosine against the dense float model, cycles, MAC utilisation, DRAM bytes against
dense 16-bit, requant rate and the tokens / heads kept per layer.

``--task sts-b`` instead runs the sentence pairs of an STS-B file and reports the Spearman of
the RTL run next to the golden model's on the same pairs (spatten/stsb_run.py).

``--trace FILE`` instead runs an official-format trace CSV in generation mode with data shaped
by the trace (verif/trace_run.py). Exit status: 0 when the RTL matched the golden model.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from golden.config import PruneConfig
from golden.traffic import BYTE_CLASSES
from spatten.args import POSITIVE, SEED, BadInput
from spatten.stsb_cli import STSB_TASK, add_stsb_data_arguments

DEFAULT_TEXT = Path(__file__).parent / "data" / "default_text.txt"

# The build `spatten run` simulates: MiniLM's D = 32 and 12 heads, 256 tokens (its maximum),
# two read channels, 8 lanes (8 x 32 Q.K and 8 x 32 P.V multipliers).
RUN_PARAMS = {"LANES": 8, "D_MAX": 32, "MAX_N": 256, "H_MAX": 12, "CHANNELS": 2}
# Dense 16-bit baseline classes (golden.traffic.dense_bytes) and the classes of ours in each.
DENSE_CLASSES = {"Q": ("Q",), "K": ("K_MSB", "K_LSB"), "V": ("V_MSB", "V_LSB"), "E": ("E",)}
MEM_LATENCY = 20  # cycles from AR to the first R beat of the memory model
VARIANT = "run"  # its build folder: build/sim/spatten_top/<sim>/run


def add_run_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from spatten.options import add_prune_arguments
    from verif.runner import SIMULATORS

    p = sub.add_parser("run", help="main job: MiniLM-L6 with every attention layer on the RTL",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sim", default="verilator", choices=SIMULATORS)
    p.add_argument("--text", metavar="FILE",
                   help="your own text, one sentence (model input) per line "
                   "(default: spatten/data/default_text.txt)")
    p.add_argument("--sentences", type=POSITIVE, default=None, metavar="N",
                   help="only the first N sentences")
    p.add_argument("--trace", metavar="FILE",
                   help="run an official-format trace CSV in generation mode instead")
    p.add_argument("--steps", type=POSITIVE, default=None,
                   help="--trace: decode steps to simulate (default: verif/trace_run.py's)")
    add_prune_arguments(p, rtl=True)
    add_stsb_data_arguments(p, "text: the --text sentences (default); sts-b: the pairs of an "
                            "STS-B file, Spearman of the RTL run vs the golden model's "
                            "(spatten/stsb_run.py)")
    p.add_argument("--seed", type=SEED, default=None, help="simulation seed (default: random)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    p.set_defaults(handler=run_main)
    return p


# ================================================================ simulation ===================
def token_count(text: str) -> int:
    """Tokens of ``text`` with [CLS] and [SEP], not truncated (the model truncates at
    minilm.MAX_TOKENS: a longer sentence is refused rather than cut)."""
    return len(_untruncated_tokenizer().encode(text).ids)


@lru_cache(maxsize=1)
def _untruncated_tokenizer() -> Any:
    from tokenizers import Tokenizer

    from golden import minilm

    tok = Tokenizer.from_str(minilm.load_tokenizer().to_str())
    tok.no_truncation()
    return tok


def check_sentences(lines: list[tuple[int, str]], path: object) -> list[str]:
    """The sentences of (line number, text) pairs; BadInput (one line) for an input the build
    cannot take: none at all, or a sentence of more tokens than the build's MAX_N (the RTL
    would refuse it with BAD_N) or than MiniLM takes (it would be cut)."""
    from golden import minilm

    if not lines:
        raise BadInput(f"no sentences in {path}")
    limit = min(RUN_PARAMS["MAX_N"], minilm.MAX_TOKENS)
    for number, text in lines:
        n = token_count(text)
        if n > limit:
            raise BadInput(f"{path} line {number}: {n} tokens, more than the build's MAX_N "
                           f"{RUN_PARAMS['MAX_N']} (MiniLM takes {minilm.MAX_TOKENS})")
    return [text for _, text in lines]


def simulate(sentences: list[str], cfg: PruneConfig, sim: str, seed: int,
             on_progress: Callable[[int], None]) -> tuple[dict, object]:
    """Run sim_main on spatten_top; returns (result JSON, verif.runner.Results). Two runs on
    the same simulator take turns (their job files and build folder are shared)."""
    from verif.runner import dir_lock
    from verif.tools import BUILD

    out = BUILD / "run" / sim
    with dir_lock(out):
        return _simulate_locked(out, sentences, cfg, sim, seed, on_progress)


def _simulate_locked(out: Path, sentences: list[str], cfg: PruneConfig, sim: str, seed: int,
                     on_progress: Callable[[int], None]) -> tuple[dict, object]:
    from verif.runner import Bench, build_folder, run
    from verif.tools import ROOT

    job, result, prog = out / "job.json", out / "result.json", out / "progress.jsonl"
    job.write_text(json.dumps({"sentences": sentences, "config": cfg.to_dict(),
                               "latency": MEM_LATENCY}))
    for f in (result, prog):
        f.unlink(missing_ok=True)
    bench = Bench("spatten_top", ["spatten_top.v"], RUN_PARAMS, test_module="sim_main",
                  tb_dir=ROOT / "tb" / "run")
    env = {"SPATTEN_JOB": str(job), "SPATTEN_RESULT": str(result), "SPATTEN_PROGRESS": str(prog)}
    box: dict = {}

    def work() -> None:  # the simulation runs beside the progress bar
        try:
            box["res"] = run(bench, sim, seed=seed, log_to_file=True, extra_env=env,
                             variant=VARIANT, coverage=False)
        except Exception as err:  # a build failure: reported below as one line
            box["err"] = err

    worker = threading.Thread(target=work)
    worker.start()
    done = 0
    while worker.is_alive():
        worker.join(0.5)
        lines = prog.read_text().splitlines() if prog.is_file() else []
        if len(lines) > done:
            on_progress(len(lines) - done)
            done = len(lines)
    if "err" in box:
        log = build_folder(bench, sim, variant=VARIANT, coverage=False) / "build.log"
        raise SystemExit(f"spatten run: the {sim} build failed ({box['err']}); log {log}")
    if not result.is_file():
        raise SystemExit(f"spatten run: the simulation wrote no result; log {box['res'].log}")
    return json.loads(result.read_text()), box["res"]


# ================================================================ report =======================
def summarize(raw: dict, cfg: PruneConfig) -> dict:
    """Totals of a run: mismatches, cosine vs dense, cycles, MACs, bytes, per-layer table."""
    import numpy as np

    from golden import minilm
    from golden.eval import dense_embedding

    sentences = raw["sentences"]
    layers = [lay for s in sentences for lay in s["layers"]]
    total = {k: sum(lay["bytes"].get(k, 0) for lay in layers) for k in BYTE_CLASSES}
    dense = {k: sum(lay["bytes_dense"].get(k, 0) for lay in layers) for k in DENSE_CLASSES}
    cycles = sum(lay["cycles"] for lay in layers)
    macs = sum(lay["macs"] for lay in layers)
    multipliers = 2 * RUN_PARAMS["LANES"] * RUN_PARAMS["D_MAX"]  # Q.K + P.V arrays
    cosines = [minilm.cosine(np.array(s["embedding"]), dense_embedding(s["text"]))
               for s in sentences]
    n_layers = len(sentences[0]["layers"])
    # tokens, rows, cycles, MACs: summed over sentences; heads: mean per command
    def layer_total(i: int, field: str) -> float | int:
        summed = sum(s["layers"][i][field] for s in sentences)
        return summed / len(sentences) if "heads" in field else int(summed)

    per_layer = [{f: layer_total(i, f) for f in ("tokens", "kept_tokens", "live_heads",
                                                 "kept_heads", "rows", "requant_rows",
                                                 "cycles", "macs")} for i in range(n_layers)]
    return {
        "mismatches": int(sum(sum(lay["mismatches"].values()) for lay in layers)),
        "mismatches_by_kind": {k: int(sum(lay["mismatches"][k] for lay in layers))
                               for k in layers[0]["mismatches"]},
        "cosine_vs_dense": float(np.mean(cosines)),
        "cosine_min": float(np.min(cosines)),
        "cycles": int(cycles),
        "macs": int(macs),
        "multipliers": multipliers,
        "mac_utilization": macs / (cycles * multipliers) if cycles else 0.0,
        "dram_bytes": int(sum(total.values())),
        "dram_bytes_dense": int(sum(dense.values())),
        "dram_bytes_by_class": total,
        "dram_bytes_dense_by_class": dense,
        "requant_rate": sum(lay["requant_rows"] for lay in layers) / sum(lay["rows"] for lay in layers),
        "sentences": len(sentences),
        "tokens": int(sum(s["tokens"] for s in sentences)),
        "commands": len(layers),
        "per_layer": per_layer,
        "settings": cfg.to_dict(),
        "build": RUN_PARAMS,
    }


def format_report(r: dict, sim: str, seed: int, seconds: float) -> str:
    verdict = "PASS" if r["mismatches"] == 0 else "FAIL"
    return "\n".join(["SpAtten run: all-MiniLM-L6-v2, every attention layer on the RTL",
                      *report_lines(r, sim, seed), f"  verdict: {verdict} ({seconds:.0f} s)"])


def report_lines(r: dict, sim: str, seed: int) -> list[str]:
    """The body of the report of a run (:func:`summarize`): simulator, text, setting,
    mismatches, cosine, cycles, MACs, DRAM bytes, requant rate, per-layer table."""
    from golden.eval import setting_label

    ratio = r["dram_bytes_dense"] / r["dram_bytes"] if r["dram_bytes"] else float("inf")
    ours = r["dram_bytes_by_class"]
    by_class = ", ".join(
        f"{name} {sum(ours[c] for c in parts)}/{r['dram_bytes_dense_by_class'][name]}"
        for name, parts in DENSE_CLASSES.items())
    build = " ".join(f"{k}={v}" for k, v in r["build"].items())
    table = [f"    {'layer':>5} {'tokens':>7} {'kept':>6} {'heads':>6} {'kept':>5} "
             f"{'requant':>8} {'cycles':>9} {'MAC util':>9}"]
    for i, lay in enumerate(r["per_layer"]):
        util = lay["macs"] / (lay["cycles"] * r["multipliers"]) if lay["cycles"] else 0.0
        table.append(f"    {i:>5} {lay['tokens']:>7} {lay['kept_tokens']:>6} "
                     f"{lay['live_heads']:>6.1f} {lay['kept_heads']:>5.1f} "
                     f"{lay['requant_rows'] / lay['rows']:>8.3f} {lay['cycles']:>9} {util:>9.3f}")
    return [
        f"  simulator        {sim}, SEED={seed}, spatten_top {build}",
        f"  text             {r['sentences']} sentences, {r['tokens']} tokens, "
        f"{r['commands']} layer commands",
        f"  setting          {setting_label(r['settings'])}",
        f"  RTL vs golden    {r['mismatches']} mismatches "
        f"({', '.join(f'{k} {v}' for k, v in r['mismatches_by_kind'].items())})",
        f"  cosine vs dense  mean {r['cosine_vs_dense']:.4f}, min {r['cosine_min']:.4f} "
        "(embedding against the dense float model)",
        f"  cycles           {r['cycles']} (sum over commands, busy)",
        f"  MAC utilisation  {r['mac_utilization']:.3f} ({r['macs']} MACs on "
        f"{r['multipliers']} multipliers)",
        f"  DRAM bytes       {r['dram_bytes']} vs dense 16-bit {r['dram_bytes_dense']} -> "
        f"{ratio:.2f}x less",
        f"  by class         {by_class} (ours/dense)",
        f"  requant rate     {r['requant_rate']:.3f} of query rows",
        "  per layer (tokens and cycles summed over sentences, heads per command):",
        *table,
    ]


def run_main(args: argparse.Namespace) -> int:
    """Handler of ``spatten run``."""
    from tqdm import tqdm

    start = time.perf_counter()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    check_task_options(args)
    if args.trace:
        return run_trace(args, seed, start)
    from spatten.options import prune_config, read_sentences

    if args.task == STSB_TASK:
        return run_stsb(args, seed, start)
    cfg = prune_config(args)
    path = args.text or DEFAULT_TEXT
    sentences = check_sentences(read_sentences(path)[:args.sentences], path)
    # the bar only on a terminal: a log (or a refusal's one-line error) stays free of it
    with tqdm(total=len(sentences), desc=f"MiniLM on {args.sim} (build, then sentences)",
              unit="sentence", disable=None) as bar:
        raw, res = simulate(sentences, cfg, args.sim, seed, bar.update)
    if "refused" in raw:
        return refused(raw["refused"], res.ok)
    report = summarize(raw, cfg)
    report["sim_ok"] = res.ok
    print(format_report(report, args.sim, seed, time.perf_counter() - start))
    if args.json:
        Path(args.json).write_text(json.dumps({**report, "seed": seed, "sim": args.sim,
                                               "text": sentences}, indent=1))
    return 0 if report["mismatches"] == 0 and res.ok else 1


def run_stsb(args: argparse.Namespace, seed: int, start: float) -> int:
    """``--task sts-b``: the distinct sentences of the pairs through the RTL, then Spearman /
    Pearson of the RTL, golden and dense embeddings on the pairs (spatten/stsb_run.py)."""
    import numpy as np

    from golden import stsb
    from golden.eval import write_json
    from spatten.options import prune_config
    from spatten.stsb_cli import load_pairs
    from spatten.stsb_run import compare, format_stsb_report, passed, sentence_progress

    cfg = prune_config(args)
    path, pairs = load_pairs(args)
    sentences = check_sentences(pairs.numbered_sentences(), path)
    with sentence_progress(len(sentences), args.sim) as on_progress:
        raw, res = simulate(sentences, cfg, args.sim, seed, on_progress)
    if "refused" in raw:
        return refused(raw["refused"], res.ok)
    rtl, golden = ({s["text"]: np.asarray(s[key]) for s in raw["sentences"]}
                   for key in ("embedding", "embedding_golden"))
    r = {**summarize(raw, cfg), "sim_ok": res.ok,
         **compare(pairs, rtl, golden, stsb.dense_result(pairs))}
    body = report_lines(r, args.sim, seed)
    print(format_stsb_report(r, path, body, time.perf_counter() - start))
    if args.json:
        write_json(args.json, {**r, "task": STSB_TASK, "data": path, "seed": seed,
                               "sim": args.sim})
    return 0 if passed(r) else 1


def check_task_options(args: argparse.Namespace) -> None:
    """BadInput when options of the other task are given: ``--text``, ``--sentences``,
    ``--trace``, ``--steps`` with ``--task sts-b``; ``--data``, ``--pairs`` without it."""
    given = {f"--{name}": getattr(args, name) is not None
             for name in ("text", "sentences", "trace", "steps", "data", "pairs")}
    other = (("--text", "--sentences", "--trace", "--steps") if args.task == STSB_TASK
             else ("--data", "--pairs"))
    clash = [name for name in other if given[name]]
    if clash:
        needs = "cannot go with" if args.task == STSB_TASK else "needs"
        raise BadInput(f"{', '.join(clash)} {needs} --task {STSB_TASK}")


def refused(r: dict, sim_ok: bool) -> int:
    """A setting the RTL refused at START (tb/run/sim_main.py :: probe_refusal): one line
    naming the RTL's ERROR_CODE and the golden model's; status 2 when they agree (the input
    was bad), 1 when they differ (the RTL is wrong)."""
    from spatten.args import fail

    agree = r["rtl"] == r["golden"] and sim_ok
    verdict = "as the golden model" if agree else f"golden model: {r['golden']} (MISMATCH)"
    fail("spatten run", f"the device refused the setting: ERROR_CODE {r['code']} "
         f"({r['rtl']}), {verdict}; {r['detail']}")
    return 2 if agree else 1


def format_trace_report(r: dict, args: argparse.Namespace, seed: int, seconds: float) -> str:
    """Report of ``--trace`` (bytes per class: RTL counters, pruned vs the dense twin)."""
    ours, dense = r["dram_bytes"], r["dram_bytes_dense"]
    total, total_dense = sum(ours.values()), sum(dense.values())
    by_class = ", ".join(f"{k} {ours[k]}/{dense[k]}" for k in ours if ours[k] or dense[k])
    return "\n".join([
        f"SpAtten run: trace {r['trace']} in generation mode on {args.sim}, SEED={seed}",
        f"  decode steps     {r['steps']} (subsampled, see verif/trace_run.py), "
        f"{r['commands']} commands (pruned + dense twins)",
        f"  RTL vs golden    {r['mismatches']} mismatches (golden command model)",
        f"  cycles           {r['cycles']} pruned, {r['cycles_dense']} dense twin",
        f"  MAC utilisation  {r['mac_utilization']:.3f}",
        f"  DRAM bytes       {total} vs dense twin {total_dense} -> "
        f"{total_dense / total if total else float('inf'):.2f}x less",
        f"  by class         {by_class} (pruned/dense)",
        f"  requant rate     {r['requant_rate']:.3f} (trace: {r['requant_rate_trace']:.3f})",
        f"  verdict: {'PASS' if r['mismatches'] == 0 and r['complete'] else 'FAIL'} "
        f"({seconds:.0f} s)",
    ])


def run_trace(args: argparse.Namespace, seed: int, start: float) -> int:
    """``--trace``: trace-shaped generation commands on the RTL (verif/trace_run.py)."""
    from verif.trace_run import TRACE_ERRORS, run_trace_on_rtl

    try:
        r = run_trace_on_rtl(args.trace, sim=args.sim, steps=args.steps, seed=seed)
    except TRACE_ERRORS as err:  # a malformed trace or a refused command: one line, status 2
        raise BadInput(str(err)) from None
    print(format_trace_report(r, args, seed, time.perf_counter() - start))
    if args.json:
        keep = {k: v for k, v in r.items() if k != "records"}
        Path(args.json).write_text(json.dumps({**keep, "seed": seed, "sim": args.sim},
                                              indent=1, default=str))
    return 0 if r["mismatches"] == 0 and r["complete"] else 1

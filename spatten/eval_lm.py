"""``spatten eval-lm``: perplexity of SmolLM2-135M under SpAtten-LLM KV-cache pruning (and
sinks+recent at equal budgets) against K/V DRAM bytes per decoded token (golden model only).
See docs/llm.md."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from golden import lm_eval as le
from golden.eval import write_json
from golden.kvcache import FLOAT_BITS, CacheConfig, trace_bits
from golden.traces import GenStep, generation_trace, write_trace
from spatten.args import NON_NEGATIVE, POSITIVE, RATIO, THRESHOLD, BadInput, read_text

PROG = "spatten eval-lm"


def _budget_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"budgets must be integers >= 1: {text!r}")
    return values


def add_eval_lm_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Options of ``spatten eval-lm`` (defaults: golden.lm_eval)."""
    p = sub.add_parser(
        "eval-lm",
        help="perplexity vs K/V traffic of SpAtten-LLM cache pruning on SmolLM2-135M",
        description="Decode SmolLM2-135M token by token on a text and compare the perplexity "
        "of the dense KV cache, SpAtten-LLM (sinks + recent + most important tokens) and "
        "sinks+recent (StreamingLLM) at equal budgets, with K/V DRAM bytes per decoded token "
        "against dense 16-bit. The options after --budget set the documented default run.",
    )
    q = le.DEFAULT_QUANT
    p.add_argument(
        "--text",
        help="text file (default: WikiText-2 test if present, else "
        "Python standard-library docstrings)",
    )
    p.add_argument(
        "--context",
        type=POSITIVE,
        default=le.DEFAULT_CONTEXT,
        help="tokens per window (the second half is scored)",
    )
    p.add_argument(
        "--windows",
        type=POSITIVE,
        default=le.DEFAULT_WINDOWS,
        help="consecutive windows from the start of the text",
    )
    p.add_argument(
        "--budgets",
        type=_budget_list,
        default=None,
        help="comma-separated cache budgets of the policy sweep (default: "
        f"{'/'.join(str(int(f * 8)) for f in le.DEFAULT_SWEEP_FRACTIONS)} eighths "
        "of the context)",
    )
    p.add_argument("--start", type=NON_NEGATIVE, default=4, help="sink tokens always kept")
    p.add_argument(
        "--recent",
        type=NON_NEGATIVE,
        default=None,
        help="newest tokens always kept (default: half of budget - start)",
    )
    p.add_argument(
        "--budget",
        type=NON_NEGATIVE,
        default=None,
        help="default run's budget, 0 = no token pruning (default: "
        f"{le.DEFAULT_BUDGET_FRACTION:g} x context)",
    )
    p.add_argument(
        "--k-bits",
        type=int,
        default=q["k_bits"],
        help=f"K MSB bits of the 12-bit integers ({FLOAT_BITS} = float)",
    )
    p.add_argument("--k-lsb", type=NON_NEGATIVE, default=q["k_lsb"], help="K LSB bits on requant")
    p.add_argument(
        "--requant-threshold",
        type=THRESHOLD,
        default=q["requant_threshold"],
        help="fetch the K LSBs when a head's max probability is below this",
    )
    p.add_argument(
        "--v-bits",
        type=int,
        default=q["v_bits"],
        help=f"V bits of the 12-bit integers ({FLOAT_BITS} = float)",
    )
    p.add_argument("--value-keep", type=RATIO, default=1.0, help="local V pruning keep ratio")
    p.add_argument(
        "--smooth", action="store_true", help="default run with host-side K/V channel smoothing"
    )
    p.add_argument(
        "--fixed",
        action="store_true",
        help="also decode the default run with the bit-exact fixed-point model (slow: "
        "~0.1 s per token and window on top)",
    )
    p.add_argument("--json", metavar="OUT", help="write results as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="plot perplexity vs K/V reduction")
    p.add_argument(
        "--trace-out",
        metavar="FILE.csv",
        help="write the default run's first window as an official-format trace "
        "(every decode step, layer and query head; for spatten bench --trace)",
    )
    p.set_defaults(handler=run_eval_lm)
    return p


def _read_text(path: str | None) -> tuple[str, str]:
    if path is None:
        return le.default_text()
    return read_text(path), path


def _configs(args: argparse.Namespace) -> tuple[CacheConfig, list[CacheConfig], list[CacheConfig]]:
    """(default, sweep, all settings) from the options; BadInput on an impossible setting."""
    ctx = args.context
    budgets = args.budgets or tuple(int(ctx * f) for f in le.DEFAULT_SWEEP_FRACTIONS)
    default_budget = int(ctx * le.DEFAULT_BUDGET_FRACTION) if args.budget is None else args.budget
    for b in (*budgets, default_budget):
        if b >= ctx:
            raise BadInput(f"budget {b} must be below the context {ctx}")
    quant = {
        "k_bits": args.k_bits,
        "k_lsb": args.k_lsb,
        "requant_threshold": args.requant_threshold,
        "v_bits": args.v_bits,
        "value_keep": args.value_keep,
        "smooth": args.smooth,
    }
    try:
        default = CacheConfig(
            policy="spatten" if default_budget else "dense",
            budget=default_budget,
            start=args.start,
            recent=args.recent,
            **quant,
        )
        sweep = le.sweep_configs(budgets, args.start, args.recent)
        quant_only = CacheConfig(**quant)
    except ValueError as err:
        raise BadInput(str(err)) from None
    return default, sweep, le.all_configs(default, [quant_only, *sweep])


def _progress(total: int) -> le.Progress:
    from tqdm import tqdm

    def bar(items: Iterable[int]) -> Iterable[int]:
        return tqdm(items, total=total, desc="decode steps", file=sys.stderr, leave=False)

    return bar


def run_eval_lm(args: argparse.Namespace) -> int:
    """Handler of ``spatten eval-lm`` (BadInput: one line, status 2, from spatten.cli.main)."""
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from golden import smollm

    started = time.perf_counter()
    if args.context < 16 or args.context > smollm.hyper().context:
        raise BadInput(f"--context {args.context} not in 16..{smollm.hyper().context}")
    default, sweep, configs = _configs(args)
    if args.trace_out and not Path(args.trace_out).resolve().parent.is_dir():
        raise BadInput(f"--trace-out {args.trace_out}: no such directory")
    text, source = _read_text(args.text)
    try:
        wins = le.windows(smollm.tokenize(text), args.context, args.windows)
    except ValueError as err:
        raise BadInput(str(err)) from None
    print(
        f"{PROG}: {len(configs)} settings x {args.windows} windows of {args.context} tokens "
        f"({source})",
        file=sys.stderr,
    )
    results = le.evaluate(
        configs, wins, _progress(args.context - 1), trace_config=default if args.trace_out else None
    )
    if args.fixed:
        results += le.evaluate([default], wins, _progress(args.context - 1), fixed=True)
    dense = results[0]
    seconds = time.perf_counter() - started
    print(
        f"SmolLM2-135M, {source}: {args.windows} windows x {args.context} tokens, "
        f"positions {args.context // 2}..{args.context - 1} scored"
    )
    print(le.table(results, dense.perplexity))
    best = next(r for r in results if r.config == default)
    print(
        f"default: {le.label(default)} -> perplexity {best.perplexity:.3f} "
        f"({100 * (best.perplexity / dense.perplexity - 1):+.2f} % vs dense), "
        f"K/V {best.kv_reduction:.2f}x less than dense 16-bit; {seconds:.0f} s"
    )
    if args.json:
        write_json(
            args.json,
            {
                "model": "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to float32)",
                "text": source,
                "context": args.context,
                "windows": args.windows,
                "scored_tokens": args.windows * (args.context - args.context // 2),
                "dense": {
                    "perplexity": dense.perplexity,
                    "kv_bytes_per_token": dense.kv_bytes_dense,
                },
                "runs": [r.to_dict() for r in results[1:]],
                "default": best.to_dict(),
                **({"default_fixed": results[-1].to_dict()} if args.fixed else {}),
                "sweep_budgets": sorted({c.budget for c in sweep}),
                "seconds": seconds,
            },
        )
    if args.plot:
        le.plot(results, dense.perplexity, default, args.plot)
    if args.trace_out:
        _write_trace(args.trace_out, best.trace, default)
    return 0


def _write_trace(path: str, steps: list[GenStep], cfg: CacheConfig) -> None:
    from golden import smollm

    trace = generation_trace(steps, smollm.hyper().head_dim, trace_bits(cfg), trace_name(cfg))
    try:
        write_trace(path, trace)
    except OSError as err:
        raise BadInput(f"--trace-out {path}: {err.strerror or err}") from None
    print(f"trace: {len(trace.rows)} rows ({len(steps)} layer steps) -> {path}")


def trace_name(cfg: CacheConfig) -> str:
    """The trailing config line of a trace (no commas: it is one CSV cell)."""
    return "smollm2-135m/eval-lm/" + le.label(cfg).replace(", ", "/").replace(" ", "-")

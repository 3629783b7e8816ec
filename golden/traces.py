"""SpAtten workload traces: the CSV format of the official repository (spec SPATTEN.md §3).

One row per (decode step ``iteration_id``, ``layer_id``, ``head_id``); the file may end with
one non-numeric row holding the training config path (``configs/...yml,,,,...``), which is kept
as :attr:`Trace.config`. :func:`read_trace` and :func:`write_trace` round-trip the official files
byte for byte.

:func:`trace_from_results` turns our own golden runs (``LayerResult`` lists of the float or
fixed-point model) into rows of the same format, so performance tools read both alike. For a
summarization run (e.g. one MiniLM sentence) there is one iteration, and a row stands for all
the queries of a head; for generation runs every decode step is an iteration.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from golden import fixed as fx
from golden.blocks import row_bytes
from golden.config import PruneConfig, kept_count
from golden.system import LayerResult
from golden.traffic import DENSE_BITS

# The official GPT-2 traces, when present: ../shared/workloads beside the repository (or
# SPATTEN_WORKLOADS). Never required: tools fall back to a trace of our own MiniLM run.
WORKLOADS = Path(os.environ.get("SPATTEN_WORKLOADS",
                                Path(__file__).resolve().parents[2] / "shared" / "workloads"))
GPT2_PRUNED = WORKLOADS / "summary-gpt2-small-wikitext2-per8.csv"

UNQUANTIZED = -1  # bit columns: -1 = full 16-bit, no quantization (official convention)
QUERY_BITS = fx.DATA_W  # our Q operands


@dataclass(frozen=True)
class TraceRow:
    """One request of the trace: one query (or query block) of one head of one layer."""

    iteration_id: int
    layer_id: int
    head_id: int
    embedding_length_D: float  # official column names kept as they are
    sentence_length_L: int
    key_fetch_num: int
    quant_key_bit: int
    quant_query_bit: int
    auto_requant_thres: float
    if_requant: bool
    auto_requant_incre: int
    value_fetch_num: int
    quant_value_bit: int
    if_accumulate_importance: bool
    if_rescale_previous_importance: bool
    if_topk: bool
    topk: int


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TraceRow))
_TYPES = {f.name: f.type for f in fields(TraceRow)}


@dataclass
class Trace:
    """Rows of a trace file plus its trailing config line (None when absent); ``lines``: the
    file line of each row (empty for a trace not read from a file)."""

    rows: list[TraceRow] = field(default_factory=list)
    config: str | None = None
    lines: list[int] = field(default_factory=list, compare=False)

    def line_of(self, row: TraceRow) -> int | None:
        """File line of ``row`` (the first equal one), None when unknown."""
        for r, line in zip(self.rows, self.lines, strict=False):
            if r == row:
                return line
        return None


class TraceFormatError(ValueError):
    """A trace file that cannot be read: the message names the file, line and column."""


_KINDS = {"bool": "True/False", "float": "a number", "int": "an integer"}


def _parse(name: str, text: str) -> int | float | bool:
    kind = _TYPES[name]
    if kind == "bool":
        if text not in ("True", "False"):
            raise ValueError(f"column {name}: {text!r} is not True/False")
        return text == "True"
    try:
        value: float = float(text) if kind == "float" else int(text)
    except ValueError:
        raise ValueError(f"column {name}: {text!r} is not {_KINDS[kind]}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"column {name}: {text!r} is not a finite number")
    return value


def _format(value: int | float | bool) -> str:
    if isinstance(value, bool | int):
        return str(value)
    return str(int(value)) if value == UNQUANTIZED else repr(float(value))


def parse_row(cells: Sequence[str]) -> TraceRow:
    """A TraceRow from the 17 cells of a CSV line (ValueError naming the column)."""
    if len(cells) < len(COLUMNS):
        raise ValueError(f"column {COLUMNS[len(cells)]} missing ({len(cells)} of "
                         f"{len(COLUMNS)} cells)")
    if len(cells) > len(COLUMNS):
        raise ValueError(f"{len(cells)} cells, the header has {len(COLUMNS)} columns")
    return TraceRow(*(_parse(name, text) for name, text in zip(COLUMNS, cells, strict=True)))


def _check_header(header: Sequence[str]) -> None:
    for i, name in enumerate(COLUMNS):
        got = header[i] if i < len(header) else None
        if got != name:
            raise ValueError(f"column {i + 1}: header {got!r}, expected {name!r}"
                             if got is not None else f"column {name} missing from the header")
    if len(header) > len(COLUMNS):
        raise ValueError(f"column {len(COLUMNS) + 1}: unexpected header {header[len(COLUMNS)]!r}")


def read_trace(path: str | Path) -> Trace:
    """Read an official-format trace CSV; :class:`TraceFormatError` (one line naming the file,
    line and column) when it is missing, unreadable, empty or malformed."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return _read_rows(csv.reader(f), path)
    except UnicodeDecodeError as err:
        raise TraceFormatError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise TraceFormatError(f"cannot read trace {path}: {err.strerror or err}") from None


def _read_rows(reader: Iterable[list[str]], path: str | Path) -> Trace:
    trace = Trace()
    line = 0
    try:
        header = next(iter(reader), None)
        line = 1
        if header is None:
            raise ValueError("empty file, no header")
        _check_header(header)
        for line, cells in enumerate(reader, 2):
            if not cells:
                continue
            if trace.config is None and not cells[0].lstrip("-").isdigit() and \
                    not any(c.strip() for c in cells[1:]):  # trailing config-name row
                trace.config = cells[0]
                continue
            trace.rows.append(parse_row(cells))
            trace.lines.append(line)
    except ValueError as err:
        raise TraceFormatError(f"{path} line {line}: {err}") from None
    if not trace.rows:
        raise TraceFormatError(f"{path}: no trace rows")
    return trace


def write_trace(path: str | Path, trace: Trace) -> None:
    """Write a trace in the official CSV format (config line last, when present)."""
    lines = [",".join(COLUMNS)]
    lines += [",".join(_format(v) for v in astuple(row)) for row in trace.rows]
    if trace.config is not None:
        lines.append(trace.config + "," * (len(COLUMNS) - 1))
    Path(path).write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- our runs
def _head_requant(result: LayerResult, head: int) -> bool:
    requant = result.extra.get("requant")
    return bool(np.any(requant[head])) if requant is not None else result.requant_rows > 0


def layer_rows(
    result: LayerResult, cfg: PruneConfig, iteration: int, layer: int, last_layer: bool
) -> list[TraceRow]:
    """Trace rows (one per live head) of one LayerResult of a golden run."""
    n_heads, _, d = result.out.shape
    n_live = len(result.extra["live_positions"])
    n_full = result.bytes_dense["K"] // (n_heads * row_bytes(d, DENSE_BITS))
    heads = np.asarray(result.extra["live_heads"])
    quantized = cfg.msb_bits
    requant_on = cfg.lsb_bits > 0 and cfg.msb_bits < fx.DATA_W
    topk_issued = len(result.keep_tokens) < n_live
    rows = []
    for i, head in enumerate(heads):
        last_head = i == len(heads) - 1
        rows.append(
            TraceRow(
                iteration_id=iteration,
                layer_id=layer,
                head_id=int(head),
                embedding_length_D=float(d),
                sentence_length_L=n_full,
                key_fetch_num=n_live,
                quant_key_bit=quantized,
                quant_query_bit=QUERY_BITS,
                auto_requant_thres=cfg.requant_threshold if requant_on else UNQUANTIZED,
                if_requant=_head_requant(result, int(head)),
                auto_requant_incre=cfg.lsb_bits if requant_on else UNQUANTIZED,
                value_fetch_num=kept_count(cfg.value_keep, n_live),
                quant_value_bit=quantized,
                if_accumulate_importance=not last_layer,
                if_rescale_previous_importance=False,
                if_topk=topk_issued and last_head,
                topk=len(result.keep_tokens) if topk_issued and last_head else UNQUANTIZED,
            )
        )
    return rows


def trace_from_results(
    results: Sequence[Sequence[LayerResult]], cfg: PruneConfig, config: str | None = None
) -> Trace:
    """Trace of a golden run: ``results[iteration][layer]`` LayerResults of one model."""
    trace = Trace(config=config)
    for iteration, layers in enumerate(results):
        for layer, result in enumerate(layers):
            last = iteration == len(results) - 1 and layer == len(layers) - 1
            trace.rows += layer_rows(result, cfg, iteration, layer, last)
    return trace


def fetch_summary(trace: Trace) -> dict[str, float]:
    """Whole-trace ratios: keys and values fetched per cached token, share of requant rows."""
    total_len = sum(r.sentence_length_L for r in trace.rows)
    n = len(trace.rows)
    return {
        "rows": n,
        "keys_per_token": sum(r.key_fetch_num for r in trace.rows) / total_len if n else 0.0,
        "values_per_token": sum(r.value_fetch_num for r in trace.rows) / total_len if n else 0.0,
        "requant_fraction": sum(r.if_requant for r in trace.rows) / n if n else 0.0,
    }


def group_layers(rows: Iterable[TraceRow]) -> dict[tuple[int, int], list[TraceRow]]:
    """Rows grouped by (iteration, layer), in trace order."""
    groups: dict[tuple[int, int], list[TraceRow]] = {}
    for row in rows:
        groups.setdefault((row.iteration_id, row.layer_id), []).append(row)
    return groups


def densify(rows: Iterable[TraceRow]) -> list[TraceRow]:
    """The dense version of trace rows: every cached token, unquantized, nothing pruned."""
    return [replace(r, key_fetch_num=r.sentence_length_L, value_fetch_num=r.sentence_length_L,
                    quant_key_bit=UNQUANTIZED, quant_value_bit=UNQUANTIZED, if_requant=False,
                    auto_requant_incre=UNQUANTIZED, auto_requant_thres=float(UNQUANTIZED),
                    if_topk=False, topk=UNQUANTIZED) for r in rows]


# ----------------------------------------------------------------------------- generation
@dataclass(frozen=True)
class GenStep:
    """One (decode step, layer) of a generation run (golden.kvcache / golden.kvfixed), what
    its trace rows need: ``cached`` positions so far (the new one included), ``live`` keys
    fetched, per query head the requant decision and the V rows used, ``topk`` the tokens the
    cache policy kept when it evicted this step (0: no eviction)."""

    step: int
    layer: int
    cached: int
    live: int
    requant: tuple[bool, ...]
    values: tuple[int, ...]
    topk: int = 0


@dataclass(frozen=True)
class GenBits:
    """Bit columns of a generation trace; ``None`` = unquantized (written as -1)."""

    k_bits: int | None
    k_lsb: int
    threshold: float
    v_bits: int | None
    importance: bool  # the policy accumulates token importance


def _bits(value: int | None) -> int:
    return UNQUANTIZED if value is None else value


def generation_rows(step: GenStep, d: int, bits: GenBits) -> list[TraceRow]:
    """Rows (one per query head) of one (decode step, layer): the official columns with
    iteration = the new token's position, sentence length = cached positions, keys fetched =
    live tokens (a KV head's rows serve its whole GQA group), the top-k on the last head."""
    requant_on = bits.k_lsb > 0 and bits.k_bits is not None
    last = len(step.requant) - 1
    return [
        TraceRow(
            iteration_id=step.step,
            layer_id=step.layer,
            head_id=h,
            embedding_length_D=float(d),
            sentence_length_L=step.cached,
            key_fetch_num=step.live,
            quant_key_bit=_bits(bits.k_bits),
            quant_query_bit=QUERY_BITS if bits.k_bits is not None else UNQUANTIZED,
            auto_requant_thres=bits.threshold if requant_on else UNQUANTIZED,
            if_requant=bool(step.requant[h]) and requant_on,
            auto_requant_incre=bits.k_lsb if requant_on else UNQUANTIZED,
            value_fetch_num=int(step.values[h]),
            quant_value_bit=_bits(bits.v_bits),
            if_accumulate_importance=bits.importance,
            if_rescale_previous_importance=False,
            if_topk=bool(step.topk) and h == last,
            topk=step.topk if step.topk and h == last else UNQUANTIZED,
        )
        for h in range(len(step.requant))
    ]


def generation_trace(steps: Iterable[GenStep], d: int, bits: GenBits,
                     config: str | None = None) -> Trace:
    """Trace of a generation run, rows ordered by step, layer, head."""
    trace = Trace(config=config)
    for step in steps:
        trace.rows += generation_rows(step, d, bits)
    return trace

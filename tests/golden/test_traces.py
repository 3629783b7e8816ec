"""Trace CSV reader/writer (golden/traces.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from golden import minilm, traces
from golden.config import PruneConfig
from golden.reference import FloatSpatten

DATA = Path(__file__).parent / "data"
WORKLOADS = traces.WORKLOADS
needs_workloads = pytest.mark.skipif(not WORKLOADS.is_dir(), reason="no shared workloads folder")


def test_fixture_round_trip(tmp_path: Path) -> None:
    src = DATA / "tiny_trace.csv"
    trace = traces.read_trace(src)
    assert len(trace.rows) == 5
    assert trace.config == "configs/tiny/hand_written_fixture.yml"
    row = trace.rows[2]
    assert (row.layer_id, row.key_fetch_num, row.quant_key_bit, row.if_requant) == (1, 32, 6, True)
    assert row.auto_requant_thres == 0.05 and row.embedding_length_D == 64.0
    assert trace.rows[1].if_topk and trace.rows[1].topk == 32
    out = tmp_path / "out.csv"
    traces.write_trace(out, trace)
    assert out.read_text() == src.read_text()


def test_bad_rows_rejected() -> None:
    with pytest.raises(ValueError):
        traces.parse_row(["0"] * 5)
    cells = (DATA / "tiny_trace.csv").read_text().splitlines()[1].split(",")
    cells[9] = "maybe"
    with pytest.raises(ValueError):
        traces.parse_row(cells)


@needs_workloads
def test_official_small_csv(tmp_path: Path) -> None:
    src = WORKLOADS / "small.csv"
    trace = traces.read_trace(src)
    assert len(trace.rows) == 1
    row = trace.rows[0]
    assert (row.sentence_length_L, row.key_fetch_num, row.quant_key_bit) == (993, 993, -1)
    traces.write_trace(tmp_path / "small.csv", trace)
    assert (tmp_path / "small.csv").read_bytes() == src.read_bytes()


@needs_workloads
def test_official_pruned_trace_summary() -> None:
    trace = traces.read_trace(WORKLOADS / "summary-gpt2-small-wikitext2-per8.csv")
    summary = traces.fetch_summary(trace)
    assert summary["rows"] == 32 * 12 * 12
    assert summary["keys_per_token"] == pytest.approx(0.276, abs=5e-4)
    assert summary["values_per_token"] == pytest.approx(0.055, abs=5e-4)
    assert summary["requant_fraction"] == pytest.approx(323 / 4608)


def test_trace_from_minilm_run(tmp_path: Path) -> None:
    cfg = PruneConfig(
        msb_bits=6,
        lsb_bits=4,
        requant_threshold=0.2,
        token_keep=0.8,
        value_keep=0.5,
        prune_start_layer=2,
    )
    enc = minilm.encode(
        "The median is the middle value of the sorted data.", FloatSpatten(cfg, quantize=True)
    )
    trace = traces.trace_from_results([enc.layers], cfg, config="minilm-test")
    assert len(trace.rows) == minilm.N_LAYERS * minilm.N_HEADS
    first, last = trace.rows[0], trace.rows[-1]
    assert first.sentence_length_L == first.key_fetch_num == enc.n_tokens
    assert last.key_fetch_num == len(enc.live_positions)
    assert first.value_fetch_num == math.ceil(0.5 * enc.n_tokens)
    assert sum(r.if_requant for r in trace.rows) > 0
    assert [r.topk for r in trace.rows if r.if_topk] == [
        len(res.keep_tokens) for res in enc.layers[1:]
    ]
    traces.write_trace(tmp_path / "m.csv", trace)
    assert traces.read_trace(tmp_path / "m.csv") == trace


def test_trace_from_generation_run() -> None:
    cfg = PruneConfig(token_keep=0.75, prune_start_layer=1)
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 12, 8)) for _ in range(3))
    model = FloatSpatten(cfg)
    steps = [[model.generate_step(q[:, n - 1], k[:, :n], v[:, :n])] for n in range(8, 12)]
    trace = traces.trace_from_results(steps, cfg)
    assert [r.iteration_id for r in trace.rows] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert [r.sentence_length_L for r in trace.rows[::2]] == [8, 9, 10, 11]
    assert trace.rows[0].key_fetch_num == 8 and trace.rows[2].key_fetch_num == 7  # 6 + new

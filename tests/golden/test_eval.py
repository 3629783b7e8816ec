"""Accuracy / DRAM evaluation on all-MiniLM-L6-v2 (golden/eval.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from golden import eval as ev
from golden import minilm
from golden.config import DEFAULT_PRUNE, DENSE


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return ev.default_sentences()


def test_default_sentences_are_deterministic_real_text(sentences: list[str]) -> None:
    assert len(sentences) == ev.DEFAULT_COUNT
    assert sentences == ev.default_sentences()
    assert len(set(sentences)) == len(sentences)
    for s in sentences:
        assert ev.MIN_TOKENS <= len(minilm.tokenize(s)) <= ev.MAX_TOKENS


@pytest.mark.parametrize(("fixed_point", "bar"), [(False, 0.9999), (True, 0.999)])
def test_no_pruning_matches_dense(sentences: list[str], fixed_point: bool, bar: float) -> None:
    result = ev.evaluate(DENSE, sentences, fixed_point)
    assert result["cosine_min"] >= bar
    assert result["dram_bytes"] <= result["dram_bytes_dense"]


@pytest.mark.parametrize("fixed_point", [False, True])
def test_default_setting_keeps_cosine(sentences: list[str], fixed_point: bool) -> None:
    result = ev.evaluate(DEFAULT_PRUNE, sentences, fixed_point)
    assert result["cosine_vs_dense"] >= 0.98
    assert result["dram_reduction"] > 1.35
    assert result["tokens"] == sum(len(minilm.tokenize(s)) for s in sentences)
    assert result["live_tokens_at_end"] < result["tokens"]


def test_sweep_table_json_and_plot(sentences: list[str], tmp_path: Path) -> None:
    results = ev.sweep(ev.SWEEP[:3], sentences[:4])
    assert [r["settings"] for r in results] == [c.to_dict() for c in ev.SWEEP[:3]]
    table = ev.format_table(results)
    assert "dense" in table and "msb=8" in table
    ev.write_json(tmp_path / "r.json", results)
    assert json.loads((tmp_path / "r.json").read_text())[0]["cosine_vs_dense"] > 0.9999
    ev.plot(results, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_setting_label_and_overrides() -> None:
    assert ev.setting_label(DENSE.to_dict()) == "dense"
    cfg = ev.with_overrides(DENSE, msb_bits=8, token_keep=None)
    assert cfg.msb_bits == 8 and cfg.token_keep == 1.0
    assert ev.setting_label(cfg.to_dict()) == "msb=8"

"""``spatten`` command line (spatten/cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from golden.config import DEFAULT_PRUNE
from spatten import cli


def test_eval_defaults_are_default_prune() -> None:
    args = cli.build_parser().parse_args(["eval"])
    assert cli.prune_config(args) == DEFAULT_PRUNE
    assert not args.fixed_point and not args.sweep


def test_command_required() -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args([])


def test_eval_writes_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "text.txt"
    text.write_text(
        "Return a new sorted list from the items in iterable.\n\n"
        "The median is the middle value of the sorted data.\n"
    )
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    argv = [
        "eval",
        "--text",
        str(text),
        "--token-keep",
        "0.9",
        "--msb-bits",
        "8",
        "--json",
        str(out),
        "--plot",
        str(png),
    ]
    assert cli.main(argv) == 0
    report = capsys.readouterr().out
    assert "cosine vs dense" in report and "DRAM bytes" in report
    result = json.loads(out.read_text())
    for key in (
        "cosine_vs_dense",
        "dram_bytes",
        "dram_bytes_dense",
        "sentences",
        "tokens",
        "settings",
    ):
        assert key in result
    assert result["sentences"] == 2 and len(result["text"]) == 2
    assert result["settings"]["token_keep"] == 0.9 and result["settings"]["msb_bits"] == 8
    assert 0.5 < result["cosine_vs_dense"] <= 1.0
    assert png.read_bytes()[:4] == b"\x89PNG"

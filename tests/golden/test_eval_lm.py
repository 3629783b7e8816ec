"""``spatten eval-lm`` (spatten/eval_lm.py, golden/lm_eval.py): bad input and a tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from golden import lm_eval, smollm
from spatten import cli

ENGLISH = (
    "The committee met on Tuesday to discuss the new budget for the library. Several members "
    "argued that more money should be spent on books for children, while others wanted to "
    "repair the roof first. After a long debate, they agreed to do both over two years. "
) * 3


@pytest.fixture()
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text(ENGLISH)
    return path


def tiny_argv(text: Path, windows: int, budget: int, *extra: str) -> list[str]:
    """``spatten eval-lm`` on ``text``, context 32, sweep budget 8, the default's ``budget``."""
    return ["eval-lm", "--text", str(text), "--context", "32", "--windows", str(windows),
            "--budgets", "8", "--budget", str(budget), *extra]  # fmt: skip


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], needle: str) -> None:
    try:
        code = cli.main(["eval-lm", *argv])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("spatten eval-lm: error:"), err
    assert needle in err[0]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--context", "abc"], "not an integer"),
        (["--context", "0"], "must be >= 1"),
        (["--windows", "-2"], "must be >= 1"),
        (["--context", "8"], "not in 16.."),
        (["--context", "100000"], "not in 16.."),
        (["--budgets", "4,x"], "comma-separated"),
        (["--start", "-1"], "must be >= 0"),
        (["--value-keep", "half"], "not a number"),
        (["--context", "64", "--budgets", "64"], "below the context"),
        (["--context", "64", "--budget", "70"], "below the context"),
        (["--context", "64", "--budgets", "8", "--start", "4", "--recent", "4"], "must exceed"),
        (["--context", "64", "--budgets", "8", "--recent", "0"], "recent must be >= 1"),
        (["--context", "64", "--k-bits", "13"], "k_bits 13"),
        (["--context", "64", "--k-bits", "8", "--k-lsb", "6"], "k_lsb"),
        (["--context", "64", "--value-keep", "0"], "--value-keep: must be in (0, 1]"),
    ],
)
def test_bad_options(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(argv, capsys, needle)


def test_missing_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["--context", "64", "--text", str(tmp_path / "none.txt")], capsys, "cannot read")


def test_empty_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    _fails(["--context", "64", "--text", str(empty)], capsys, "is empty")


def test_binary_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x80" * 10)
    _fails(["--context", "64", "--text", str(binary)], capsys, "not UTF-8")


def test_text_too_short(text_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["--text", str(text_file), "--context", "512", "--windows", "2"], capsys, "tokens")


def test_default_text_without_wikitext(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh clone without ../shared: the stdlib docstrings cover the default run."""
    monkeypatch.setattr(lm_eval, "WIKITEXT", Path("/nonexistent/test.txt"))
    text, source = lm_eval.default_text()
    assert "standard-library" in source
    need = lm_eval.DEFAULT_CONTEXT * lm_eval.DEFAULT_WINDOWS
    assert (
        len(
            lm_eval.windows(smollm.tokenize(text), lm_eval.DEFAULT_CONTEXT, lm_eval.DEFAULT_WINDOWS)
        )
        == lm_eval.DEFAULT_WINDOWS
    )
    assert len(smollm.tokenize(text)) >= need


def test_smooth_option_sets_the_default() -> None:
    from spatten.eval_lm import _configs

    args = cli.build_parser().parse_args(
        ["eval-lm", "--context", "64", "--budget", "16", "--smooth"]
    )
    default, _, configs = _configs(args)
    assert default.smooth and sum(c.smooth for c in configs) == 2  # default + its quant-only


def test_tiny_run_writes_json_and_plot(
    text_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    argv = tiny_argv(text_file, 2, 12, "--json", str(out), "--plot", str(png))
    assert cli.main(argv) == 0
    assert "default:" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["dense"]["perplexity"] > 1.0
    policies = {(r["policy"], r["budget"]) for r in result["runs"]}
    assert policies == {("spatten", 8), ("sinks_recent", 8), ("spatten", 12), ("dense", 0)}
    for r in result["runs"]:
        assert r["perplexity"] > 1.0 and r["kv_reduction"] >= 1.0
    d = result["default"]
    assert (d["policy"], d["budget"]) == ("spatten", 12)
    assert d["config"]["k_bits"] == lm_eval.DEFAULT_QUANT["k_bits"]
    assert d["kv_reduction"] > 2.0  # budget 12 of a 17..31-token cache, 6+4 bit K, 6-bit V
    assert png.stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.skipif(not lm_eval.WIKITEXT.is_file(), reason="WikiText-2 (../shared/data) absent")
def test_wikitext_dense_perplexity_and_policies() -> None:
    """4 windows of 512 WikiText-2 tokens, positions 256-511 (the issue's setting, whose separate
    implementation measured dense ~19.8; ours measured 18.5): dense below 20, and SpAtten-LLM
    below sinks+recent at budget 128 (measured 17.1 vs 19.1 on the first 2 windows)."""
    from golden.kvcache import DENSE_CACHE

    text, _ = lm_eval.default_text()
    wins = lm_eval.windows(smollm.tokenize(text), 512, 4)
    configs = [DENSE_CACHE, *lm_eval.sweep_configs([128], 4, None)]
    dense, spatten, sinks = lm_eval.evaluate(configs, wins)
    assert dense.perplexity < 20.0
    assert dense.perplexity < spatten.perplexity < sinks.perplexity
    assert spatten.kv_reduction == sinks.kv_reduction > 2.5


@pytest.mark.slow
def test_tiny_run_fixed_point(
    text_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--fixed decodes the default run again with the bit-exact model (golden.kvfixed): the
    fixed-point perplexity tracks the float one (16 scored tokens, K 6+4 / V 6 without
    pruning: measured 10.427 vs 10.260, +1.6 %)."""
    out = tmp_path / "r.json"
    argv = tiny_argv(text_file, 1, 0, "--fixed", "--json", str(out))
    assert cli.main(argv) == 0
    assert "[fixed]" in capsys.readouterr().out
    result = json.loads(out.read_text())
    fl, fi = result["default"], result["default_fixed"]
    assert (fl["model"], fi["model"]) == ("float", "fixed")
    assert fl["config"] == fi["config"]
    assert abs(fi["perplexity"] / fl["perplexity"] - 1) < 0.05
    assert fi["kv_reduction"] > 1.5 and fi["occupancy_per_layer"] == fl["occupancy_per_layer"]

"""STS-B evaluation (golden/stsb.py) and ``spatten eval --task sts-b`` on a tiny fixture."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from golden import eval as ev
from golden import stsb
from golden.config import DEFAULT_PRUNE, DENSE, PruneConfig
from spatten import cli

TINY = Path(__file__).parent / "data" / "stsb_tiny.tsv"
STSB_EVAL = Path(__file__).parents[2] / "docs" / "stsb_eval.json"
HEADER = "index\tsentence1\tsentence2\tscore\n"


# ----------------------------------------------------------------------------- statistics
def test_rankdata_averages_ties() -> None:
    assert stsb.rankdata([10, 20, 20, 30]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert stsb.rankdata([3.0, 1.0, 2.0]).tolist() == [3.0, 1.0, 2.0]
    assert stsb.rankdata([5, 5, 5]).tolist() == [2.0, 2.0, 2.0]
    assert stsb.rankdata([2, 1, 2, 1, 3]).tolist() == [3.5, 1.5, 3.5, 1.5, 5.0]


def test_spearman_hand_example() -> None:
    # ranks x 1..5, ranks y 1, 2, 3.5, 5, 3.5: deviations (-2,-1,0,1,2), (-2,-1,.5,2,.5)
    # -> covariance 8, variances 10 and 9.5 -> 8 / sqrt(95)
    rho = stsb.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])
    assert rho == pytest.approx(8 / math.sqrt(95), abs=1e-15)
    assert stsb.spearman([1, 2, 3], [10, 200, 3000]) == pytest.approx(1.0)  # monotone
    assert stsb.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_pearson() -> None:
    assert stsb.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert stsb.pearson([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert math.isnan(stsb.pearson([1, 1, 1], [1, 2, 3]))


def synthetic(spearman: float, dram: float, text: float = 0.99, text_min: float = 0.96) -> dict:
    """A synthetic sweep result: Spearman, DRAM reduction, real-text cosine mean and min."""
    return {"spearman": spearman, "dram_reduction": dram, "real_text_cosine": text,
            "real_text_cosine_min": text_min}


def test_best_setting_needs_both_bars() -> None:
    results = [synthetic(0.80, 1.0), synthetic(0.796, 2.0),
               synthetic(0.799, 3.0, text_min=0.94),  # more DRAM saved, fails the text minimum
               synthetic(0.799, 3.5, text=0.979),  # ... fails the text mean
               synthetic(0.794, 5.0),  # ... fails Spearman
               synthetic(0.799, 1.5)]
    assert stsb.best_setting(results, 0.80) is results[1]
    assert stsb.best_setting(results[2:5], 0.80) is None  # none qualifies
    assert stsb.best_setting(results, 0.90) is None
    assert stsb.best_setting([{"spearman": 0.8, "dram_reduction": 2.0}], 0.8) is None  # unmeasured
    edge = synthetic(0.80 - stsb.TOLERANCE, 4.0, ev.REAL_TEXT_MEAN, ev.REAL_TEXT_MIN)
    assert stsb.best_setting([*results, edge], 0.80) is edge  # the bars are inclusive
    assert "real-text" in stsb.RULE and str(stsb.TOLERANCE) in stsb.RULE


def test_default_is_the_recorded_best() -> None:
    """DEFAULT_PRUNE is the `best` of the committed full sweep, which passes both bars."""
    recorded = json.loads(STSB_EVAL.read_text())
    best, dense = recorded["best"], recorded["dense"]["spearman"]
    assert best is not None and best["settings"] == DEFAULT_PRUNE.to_dict()
    assert recorded["default"]["settings"] == DEFAULT_PRUNE.to_dict()
    assert recorded["pairs"] == 1500 and recorded["rule"] == stsb.RULE
    assert best["spearman"] >= dense - stsb.TOLERANCE
    assert best["real_text_cosine_min"] >= ev.REAL_TEXT_MIN
    assert best["real_text_cosine"] >= ev.REAL_TEXT_MEAN
    assert stsb.best_setting(recorded["sweep"], dense) == best
    assert all(r["dram_reduction"] <= best["dram_reduction"]
               for r in recorded["sweep"] if stsb.passes(r, dense))


# ----------------------------------------------------------------------------- data
def test_read_pairs_of_the_fixture() -> None:
    pairs = stsb.read_pairs(TINY)
    assert len(pairs) == 7
    assert pairs.first[3] == 'Stocks fell sharply on "Monday".'  # quotes are text
    assert pairs.scores.tolist() == [4.8, 4.2, 0.4, 3.6, 0.8, 4.0, 0.2]
    assert len(pairs.sentences()) == 13  # one sentence appears twice
    assert pairs.lines == tuple(range(2, 9))  # file lines, after the header
    numbered = pairs.numbered_sentences()
    assert [s for _, s in numbered] == pairs.sentences()
    assert numbered[0] == (2, "A man is playing a guitar.")  # first seen on line 2, again on 8
    assert numbered[-1] == (8, "A chef is cooking pasta in a kitchen.")
    assert len(stsb.read_pairs(TINY, limit=2)) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("index\tsentence1\tscore\n0\ta\t1.0\n", "missing column(s) sentence2"),
        ("", "missing column(s) sentence1, sentence2, score"),
        (HEADER + "0\ta\tb\tsimilar\n", "score 'similar' is not a number"),
        (HEADER + "0\ta\tb\tnan\n", "not a finite number"),
        (HEADER + "0\ta\tb\n", "3 fields, expected 4"),
        (HEADER, "no sentence pairs"),
    ],
)
def test_bad_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "dev.tsv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(stsb.DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        stsb.read_pairs(path)


# ----------------------------------------------------------------------------- evaluation
def test_dense_quantized_12_bit_matches_dense_spearman() -> None:
    pairs = stsb.read_pairs(TINY)
    dense = stsb.dense_result(pairs)
    same = stsb.evaluate(DENSE, pairs)
    assert same["spearman"] == pytest.approx(dense["spearman"], abs=1e-9)
    assert same["cosine_min"] > 0.9999
    assert dense["spearman"] > 0.8  # the fixture's pairs are easy
    pruned = stsb.evaluate(PruneConfig(msb_bits=2, token_keep=0.3, prune_start_layer=1), pairs)
    assert pruned["cosine_vs_dense"] < 0.99 and pruned["dram_reduction"] > 2  # can differ


# ----------------------------------------------------------------------------- CLI
def test_cli_sts_b_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stsb, "SWEEP", (DENSE, DEFAULT_PRUNE, PruneConfig(msb_bits=4)))
    # the CLI's plumbing, not the bar: 8 of the short lines (the whole text, 117 lines in
    # the fixed-point model per setting, is test_keep_rule's)
    lines = ev.short_line_text()[:8]
    monkeypatch.setattr(ev, "short_line_text", lambda: lines)
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    argv = ["eval", "--task", "sts-b", "--data", str(TINY), "--pairs", "5", "--sweep",
            "--fixed-point", "--json", str(out), "--plot", str(png)]
    assert cli.main(argv) == 0
    report = capsys.readouterr().out
    assert "Spearman" in report and "published: 0.8203" in report
    assert f"best ({stsb.RULE}): " in report and "real text with short lines" in report
    result = json.loads(out.read_text())
    assert result["rule"] == stsb.RULE
    assert all(0 < r["real_text_cosine_min"] <= r["real_text_cosine"] <= 1 + 1e-9
               for r in result["sweep"])
    assert result["pairs"] == 5
    assert set(result["dense"]) >= {"spearman", "pearson"}
    assert set(result["default"]) >= {"spearman", "pearson", "dram_reduction", "settings"}
    assert result["default"]["settings"] == DEFAULT_PRUNE.to_dict()
    assert result["default_fixed"]["model"] == "fixed"
    # the sweep starts with the setting asked for (here DEFAULT_PRUNE), evaluated once
    assert [r["settings"] for r in result["sweep"]] == [c.to_dict() for c in stsb.SWEEP[1:2]
                                                        + stsb.SWEEP[:1] + stsb.SWEEP[2:]]
    assert result["sweep"][0] == result["default"]
    assert result["sweep"][1]["dram_reduction"] < result["sweep"][2]["dram_reduction"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_prune_options_reach_the_setting() -> None:
    args = cli.build_parser().parse_args(["eval", "--task", "sts-b", "--min-tokens", "6",
                                          "--no-keep-special"])
    cfg = cli.prune_config(args)
    assert cfg.min_tokens == 6 and not cfg.keep_special
    assert cli.prune_config(cli.build_parser().parse_args(["eval"])) == DEFAULT_PRUNE


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (None, [], "cannot read"),
        ("index\tsentence1\tscore\n0\ta\t1.0\n", [], "missing column"),
        (HEADER + "0\ta\tb\thigh\n", [], "is not a number"),
        (HEADER + "0\ta\tb\t1\n", ["--pairs", "0"], "argument --pairs: must be >= 1"),
        (HEADER + "0\ta\tb\t1\n", ["--jobs", "0"], "argument --jobs: must be >= 1"),
    ],
)
def test_cli_bad_input_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       content: str | None, extra: list[str],
                                       message: str) -> None:
    path = tmp_path / "dev.tsv"
    if content is not None:
        path.write_text(content)
    assert cli.main(["eval", "--task", "sts-b", "--data", str(path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("spatten eval: ")


def test_cli_without_shared_data(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stsb, "DEFAULT_DATA", tmp_path / "absent" / "dev.tsv")
    assert cli.main(["eval", "--task", "sts-b"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no STS-B data" in err and "--data" in err and "\n" not in err


def test_published_figure_is_documented() -> None:
    assert 0.8 < stsb.PUBLISHED["spearman"] < 0.85 and "STSBenchmark" in stsb.PUBLISHED["source"]
    assert np.isfinite(stsb.TOLERANCE)


def test_cli_module_does_not_load_numpy() -> None:
    """``spatten`` pins BLAS to one thread before numpy loads (spinning BLAS threads made the
    STS-B eval ~50x slower on the shared machine); importing the CLI must not load numpy."""
    import subprocess
    import sys

    code = "import sys, spatten.cli; sys.exit('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

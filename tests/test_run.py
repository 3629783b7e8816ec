"""``spatten run``, the main job: MiniLM-L6 with every attention layer on spatten_top.

The end-to-end test runs one sentence on each simulator and reads the JSON report (the same
code path as ``make demo``); the checker test shows the RTL-vs-golden comparison counts every
kind of difference, so a run reporting 0 mismatches has really been compared.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from golden import minilm, stsb
from golden.config import DEFAULT_PRUNE
from golden.system import FixedSpatten
from golden.traces import Trace, TraceRow, write_trace
from spatten.cli import main
from spatten.stsb_run import compare, passed
from tb.run.sim_main import layer_mismatches

STSB_TINY = Path(__file__).parent / "golden" / "data" / "stsb_tiny.tsv"
# prunes the fixture's short sentences (DEFAULT_PRUNE never prunes inputs under 20 tokens)
STSB_PRUNE = ["--token-keep", "0.7", "--prune-start", "1", "--min-tokens", "4"]
# 25 tokens: the default setting prunes it (its keep ratio drops a token only from 20 tokens on)
TEXT = ("The old lighthouse keeper climbed the spiral stairs every evening to light the lamp "
        "before the fishing boats returned to the harbour.")


def test_comparison_counts_every_difference() -> None:
    layers = minilm.encode(TEXT, FixedSpatten(DEFAULT_PRUNE)).layers
    pruned = next(lay for lay in layers if len(lay.keep_tokens) < lay.extra["e_int"].shape[1])
    assert layer_mismatches(pruned, pruned) == {"e": 0, "keep_tokens": 0, "keep_heads": 0}
    e_int = pruned.extra["e_int"].copy()
    e_int[3, 2, 5] += 1
    e_int[0, 0, 0] -= 1
    broken = replace(pruned, extra={**pruned.extra, "e_int": e_int},
                     keep_tokens=np.append(pruned.keep_tokens[:-1], pruned.keep_tokens[-1] + 1),
                     keep_heads=pruned.keep_heads[1:])
    got = layer_mismatches(broken, pruned)
    assert got["e"] == 2 and got["keep_tokens"] == 1 and got["keep_heads"] > 0


# the whole sentence on Icarus takes ~3 minutes: make regress (make test runs the CLI on Icarus
# in the refused-setting and trace tests)
@pytest.mark.long
@pytest.mark.slow_sim("icarus")
def test_spatten_run_one_sentence(sim: str, tmp_path: Path) -> None:
    text, out = tmp_path / "text.txt", tmp_path / "r.json"
    text.write_text(TEXT + "\n")
    rc = main(["run", "--sim", sim, "--text", str(text), "--seed", "3", "--json", str(out)])
    r = json.loads(out.read_text())
    assert rc == 0 and r["sim_ok"]
    assert r["mismatches"] == 0 and r["commands"] == minilm.N_LAYERS
    assert r["cosine_vs_dense"] >= 0.97
    assert r["cycles"] > 0 and 0 < r["mac_utilization"] <= 1
    assert r["dram_bytes_dense"] > r["dram_bytes"] > 0
    assert [lay["kept_tokens"] for lay in r["per_layer"]][-1] < len(minilm.tokenize(TEXT))


def test_spatten_run_build_failure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    """A simulator build that fails (here: made to) ends the run with one line naming the
    build log, not a traceback from the simulation thread."""
    import verif.runner

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("Command failed with return code: 2")

    monkeypatch.setattr(verif.runner, "run", broken)
    text = tmp_path / "text.txt"
    text.write_text("A short sentence.\n")
    with pytest.raises(SystemExit) as exc:
        main(["run", "--sim", "icarus", "--text", str(text)])
    msg = str(exc.value)
    assert "icarus build failed" in msg and "build.log" in msg and "\n" not in msg


def test_spatten_run_refuses_empty_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    text = tmp_path / "empty.txt"
    text.write_text("\n  \n")
    assert main(["run", "--text", str(text)]) == 2
    assert "is empty" in capsys.readouterr().err


@pytest.mark.long
@pytest.mark.parametrize("bits", [["--msb-bits", "13"], ["--msb-bits", "8", "--lsb-bits", "6"]])
def test_spatten_run_refused_setting_reaches_the_rtl(sim: str, bits: list[str], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A BITS setting the register holds but the RTL refuses is STARTed on the RTL (no memory
    image is needed to be refused): one line naming its ERROR_CODE, the golden model's
    agreeing, exit status 2 (docs/run.md)."""
    text = tmp_path / "text.txt"
    text.write_text("A short sentence.\n")
    assert main(["run", "--sim", sim, "--text", str(text), "--seed", "5", *bits]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    err = lines[0]
    assert "Traceback" not in err
    assert err.startswith("spatten run: error: the device refused the setting: ERROR_CODE 9 "
                          "(BAD_BITS), as the golden model"), err


def tiny_trace(path: Path) -> None:
    """One decode step, one layer, two heads: 24 of 40 keys live, head 0 requantizes, the
    step ends with a top-k keeping 20."""
    rows = [TraceRow(0, 0, h, 64.0, 40, 24, 6, 16, 0.05, h == 0, 4, 6, 6, True, False,
                     h == 1, 20 if h == 1 else -1) for h in range(2)]
    write_trace(path, Trace(rows))


@pytest.mark.only_sim("icarus")
def test_spatten_run_trace(sim: str, tmp_path: Path) -> None:
    trace, out = tmp_path / "trace.csv", tmp_path / "t.json"
    tiny_trace(trace)
    rc = main(["run", "--sim", sim, "--trace", str(trace), "--seed", "2", "--json", str(out)])
    r = json.loads(out.read_text())
    assert rc == 0 and r["complete"] and r["mismatches"] == 0
    assert r["commands"] == 2  # the pruned command and its dense twin
    assert r["requant_rate"] == r["requant_rate_trace"] == 0.5
    assert sum(r["dram_bytes_dense"].values()) > sum(r["dram_bytes"].values()) > 0


def test_sts_b_comparison_flags_an_embedding_that_differs() -> None:
    """The check behind 'Spearman of the RTL run equals the golden run's': one RTL embedding
    that differs in one element by 1e-9 is counted, changes a correlation and fails the run."""
    pairs = stsb.read_pairs(STSB_TINY)
    golden = {s: minilm.encode(s, FixedSpatten(DEFAULT_PRUNE)).embedding
              for s in pairs.sentences()}
    dense = stsb.dense_result(pairs)
    same = compare(pairs, dict(golden), golden, dense)
    assert same["correlations_equal"] and same["embeddings_differing"] == 0
    assert same["spearman_rtl"] == same["spearman_golden"] and same["pairs"] == 7
    assert passed({**same, "mismatches": 0, "sim_ok": True})
    assert not passed({**same, "mismatches": 1, "sim_ok": True})
    off = dict(golden)
    first = pairs.first[3]
    off[first] = off[first].copy()
    off[first][0] += 1e-9
    got = compare(pairs, off, golden, dense)
    assert got["embeddings_differing"] == 1
    assert got["pearson_rtl"] != got["pearson_golden"] and not got["correlations_equal"]
    assert not passed({**got, "mismatches": 0, "sim_ok": True})


@pytest.mark.only_sim("verilator")
def test_spatten_run_sts_b(sim: str, tmp_path: Path) -> None:
    """3 pairs of the fixture (6 sentences) through the RTL with a setting that prunes them:
    0 mismatches, and the correlations of the RTL run are the golden model's exactly."""
    out = tmp_path / "s.json"
    rc = main(["run", "--task", "sts-b", "--data", str(STSB_TINY), "--pairs", "3", "--sim", sim,
               "--seed", "4", *STSB_PRUNE, "--json", str(out)])
    r = json.loads(out.read_text())
    assert rc == 0 and r["sim_ok"] and r["mismatches"] == 0
    assert r["pairs"] == 3 and r["sentences"] == 6 and r["commands"] == 6 * minilm.N_LAYERS
    assert r["spearman_rtl"] == r["spearman_golden"] and r["pearson_rtl"] == r["pearson_golden"]
    assert r["embeddings_differing"] == 0 and r["correlations_equal"]
    assert r["per_layer"][-1]["kept_tokens"] < r["per_layer"][0]["tokens"]  # pruned on the RTL
    dense = stsb.dense_result(stsb.read_pairs(STSB_TINY, 3))
    assert r["spearman_dense"] == dense["spearman"] and r["pearson_dense"] == dense["pearson"]

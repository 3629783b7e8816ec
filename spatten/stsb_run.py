"""``spatten run --task sts-b``: STS-B sentence pairs with every attention layer on the RTL.

Every distinct sentence of the first ``--pairs`` pairs of a GLUE STS-B dev-format file goes
through the same run as ``spatten run`` (spatten/run.py :: run_stsb, simulate: MiniLM-L6 on
``spatten_top``; in the simulator each layer command is compared with the bit-exact golden
model, ``golden.system.FixedSpatten``, on the same sentence, and both embeddings are
recorded). The host then computes the task metric with the STS-B code of ``spatten eval
--task sts-b`` (golden/stsb.py) three times on the same pairs: Spearman and Pearson of the
embedding cosine of each pair vs its gold score for the RTL run's embeddings, for the golden
fixed-point model's and for the dense float model's (context). With 0 mismatches the RTL
embeddings are the golden model's bit for bit, so the two correlations must be equal: the
run fails (exit status 1) when they are not, as on any mismatch.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from golden.stsb import Pairs

LINE_EVERY = 30.0  # seconds between progress lines when stderr is not a terminal


@contextmanager
def sentence_progress(total: int, sim: str) -> Iterator[Callable[[int], None]]:
    """``on_progress`` of :func:`spatten.run.simulate`: a bar on a terminal, otherwise one
    line on stderr at most every LINE_EVERY seconds and when the last sentence is done."""
    from tqdm import tqdm

    with tqdm(total=total, desc=f"STS-B on {sim} (build, then sentences)", unit="sentence",
              disable=None) as bar:
        if not bar.disable:
            yield bar.update
            return
        t0 = time.perf_counter()
        state = {"done": 0, "printed": t0}

        def step(n: int) -> None:
            state["done"] += n
            now = time.perf_counter()
            if now - state["printed"] >= LINE_EVERY or state["done"] == total:
                state["printed"] = now
                print(f"spatten run: {state['done']}/{total} sentences through the RTL "
                      f"({now - t0:.0f} s)", file=sys.stderr, flush=True)

        yield step


def compare(pairs: Pairs, rtl: dict[str, np.ndarray], golden: dict[str, np.ndarray],
            dense: dict[str, float]) -> dict:
    """The STS-B figures of a run: correlations of the RTL, golden and dense embeddings
    (each a dict sentence -> embedding; ``dense`` the correlations already computed), the
    per-pair cosines and how many RTL embeddings differ from the golden model's."""
    import numpy as np

    from golden import stsb

    ours, gold = stsb.correlations(pairs, rtl), stsb.correlations(pairs, golden)
    sentences = pairs.sentences()
    return {
        "pairs": len(pairs),
        "spearman_rtl": ours["spearman"], "spearman_golden": gold["spearman"],
        "spearman_dense": dense["spearman"],
        "pearson_rtl": ours["pearson"], "pearson_golden": gold["pearson"],
        "pearson_dense": dense["pearson"],
        "correlations_equal": bool(np.array_equal(list(ours.values()), list(gold.values()),
                                                  equal_nan=True)),
        "embeddings_differing": sum(not np.array_equal(rtl[s], golden[s]) for s in sentences),
        "scores": pairs.scores.tolist(),
        "cosines_rtl": stsb.pair_cosines(pairs, rtl).tolist(),
        "cosines_golden": stsb.pair_cosines(pairs, golden).tolist(),
    }


def passed(r: dict) -> bool:
    """0 mismatches, the simulation passed and the RTL's correlations are the golden's."""
    return r["mismatches"] == 0 and r["sim_ok"] and r["correlations_equal"]


def format_stsb_report(r: dict, path: str, body: list[str], seconds: float) -> str:
    """The report: ``body`` (spatten.run.report_lines of the run), then the STS-B figures."""
    same = "equal" if r["correlations_equal"] else "DIFFERENT"
    rows = [("RTL", "rtl"), ("golden fixed", "golden"), ("dense float", "dense")]
    return "\n".join([
        "SpAtten run: STS-B pairs through all-MiniLM-L6-v2, every attention layer on the RTL",
        f"  data             {r['pairs']} pairs of {path}",
        *body,
        f"  STS-B            embedding cosine vs gold score on the {r['pairs']} pairs:",
        *(f"    {name:<14} Spearman {r[f'spearman_{key}']:.4f}, Pearson "
          f"{r[f'pearson_{key}']:.4f}" for name, key in rows),
        f"  RTL vs golden    correlations {same}; {r['sentences'] - r['embeddings_differing']} "
        f"of {r['sentences']} embeddings identical bit for bit",
        f"  verdict: {'PASS' if passed(r) else 'FAIL'} ({seconds:.0f} s)",
    ])

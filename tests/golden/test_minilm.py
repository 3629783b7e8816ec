"""numpy all-MiniLM-L6-v2 forward pass (golden/minilm.py)."""

from __future__ import annotations

import math

import numpy as np

from golden import minilm
from golden.config import PruneConfig
from golden.reference import FloatSpatten


def test_erf_matches_math_erf() -> None:
    x = np.linspace(-8.0, 8.0, 20001)
    exact = np.array([math.erf(t) for t in x])
    assert np.max(np.abs(minilm.erf(x) - exact)) < 1.3e-7


def test_model_files_found() -> None:
    folder = minilm.model_dir()
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()


def test_tokenizer_does_not_pad() -> None:
    ids = minilm.tokenize("Hello world.")
    assert len(ids) == 5  # [CLS] hello world . [SEP]
    assert ids[0] == 101 and ids[-1] == 102


def test_paraphrase_closer_than_unrelated() -> None:
    a = minilm.encode("A man is playing a guitar on the stage.")
    b = minilm.encode("Someone performs music with a guitar in front of an audience.")
    c = minilm.encode("The stock market fell sharply after the interest rate announcement.")
    assert abs(np.linalg.norm(a.embedding) - 1.0) < 1e-12
    near, far = minilm.cosine(a.embedding, b.embedding), minilm.cosine(a.embedding, c.embedding)
    assert near > 0.5 and far < 0.2 and near > far + 0.4


def test_live_tokens_follow_pruning() -> None:
    text = "Heap queues keep the smallest item at the front of the list."
    enc = minilm.encode(text, FloatSpatten(PruneConfig(token_keep=0.8, prune_start_layer=2)))
    assert len(enc.layers) == minilm.N_LAYERS
    n = enc.n_tokens
    assert len(enc.layers[1].extra["live_positions"]) == n  # layers 0 and 1 unpruned
    assert len(enc.live_positions) < n
    assert list(enc.live_positions) == list(enc.layers[-1].extra["live_positions"])
    assert set(enc.live_positions) <= set(range(n))

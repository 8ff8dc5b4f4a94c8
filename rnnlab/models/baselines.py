"""Feed-forward baselines that see no order, or only local order, for the "order is the point" comparison.

* :class:`SignalMLP`: the flattened raw signal into an MLP; it has no notion of time or of neighbouring steps.
* :class:`BagOfFrames`: every step (frame) through the same MLP, averaged and maxed over the steps; blind
  to order, for time series of any length.
* :class:`BagOfCharacters`: how often each character occurs; blind to order.
* :class:`CharNgramModel`: averaged embeddings of hashed character 1..n-grams (fastText-style);
  it sees order only within ``n`` characters.

The character models take ``x (B, T)`` token ids with PAD 0 and ``lengths (B,)`` and, like the
recurrent models, ignore everything at and after each sequence's length.  Shapes: ``B`` batch,
``T`` steps, ``F`` features per step, ``V`` vocabulary size, ``K`` classes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab.models.pooling import max_over_time, mean_over_time
from rnnlab.nn.sequence import length_mask


def mlp(input_size: int, hidden_size: int, num_layers: int, output_size: int, dropout: float = 0.0) -> nn.Sequential:
    """``num_layers`` hidden layers of ``Linear -> ReLU -> Dropout``, then a linear output layer."""
    layers: list[nn.Module] = []
    for k in range(num_layers):
        layers += [nn.Linear(input_size if k == 0 else hidden_size, hidden_size), nn.ReLU(), nn.Dropout(dropout)]
    layers.append(nn.Linear(hidden_size if num_layers else input_size, output_size))
    return nn.Sequential(*layers)


class SignalMLP(nn.Module):
    """An MLP on the flattened signal: ``x (B, T, F)`` -> ``(B, T*F)`` -> logits ``(B, K)``.

    ``input_size`` is ``T * F`` (fixed-length signals, e.g. 40 for MNIST-1D); ``num_layers`` hidden
    layers of ``hidden_size`` units with ReLU and ``dropout``.  ``lengths`` is accepted for a common
    interface with the sequence models and not used.
    """

    def __init__(self, input_size: int, num_classes: int, hidden_size: int = 256, num_layers: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.input_size = input_size
        self.net = mlp(input_size, hidden_size, num_layers, num_classes, dropout)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        flat = x.flatten(1)  # (B, T*F)
        if flat.shape[1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input must flatten to input_size={self.input_size} "
                             f"values per sequence (steps * features), got shape {tuple(x.shape)}")
        return self.net(flat)


class BagOfFrames(nn.Module):
    """Each step's features through one MLP, the mean and the maximum over each sequence's real steps, then a
    linear layer: ``x (B, T, F)``, ``lengths (B,)`` -> logits ``(B, K)``.

    Any permutation of a sequence's real steps gives exactly the same logits: it knows which frames occur,
    not in which order.
    """

    def __init__(self, input_size: int, num_classes: int, hidden_size: int = 128, num_layers: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.frames = mlp(input_size, hidden_size, num_layers - 1, hidden_size, dropout)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(2 * hidden_size, num_classes))

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        mask = length_mask(lengths.to(x.device), x.shape[1])
        frames = self.frames(x)  # (B, T, H)
        return self.head(torch.cat([mean_over_time(frames, mask), max_over_time(frames, mask)], dim=-1))


def character_counts(x: Tensor, lengths: Tensor, vocab_size: int, dtype: torch.dtype) -> Tensor:
    """``(B, V)``: how often each id occurs among each sequence's real steps; PAD (id 0) is never counted."""
    real = length_mask(lengths.to(x.device), x.shape[1]) & (x != 0)
    counts = torch.zeros(x.shape[0], vocab_size, dtype=dtype, device=x.device)
    return counts.scatter_add(1, x, real.to(dtype))


class BagOfCharacters(nn.Module):
    """Character counts -> MLP (one hidden layer): ``x (B, T)``, ``lengths (B,)`` -> logits ``(B, K)``.

    Any permutation of a sequence's real steps gives exactly the same logits.
    """

    def __init__(self, vocab_size: int, num_classes: int, hidden_size: int = 128) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.net = mlp(vocab_size, hidden_size, 1, num_classes)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        dtype = self.net[0].weight.dtype
        return self.net(character_counts(x, lengths, self.vocab_size, dtype))


_PRIME = 2**31 - 1  # hashes stay below 2**31, so ``h * _BASE + id`` fits in int64
_BASE = 1_000_003


def hashed_ngrams(x: Tensor, lengths: Tensor, n: int, buckets: int, boundary: int) -> tuple[Tensor, Tensor]:
    """Bucket ids of every 1..n-gram of each sequence, with ``boundary`` marking its start and end.

    A k-gram ``c_1..c_k`` hashes to ``((...((k * P + c_1) * P + c_2)...) * P + c_k) mod M mod buckets``
    (a polynomial hash, the same on every run and machine, unlike Python's ``hash``).

    Returns ``ids (B, G)`` and ``valid (B, G)`` (false for n-grams that reach into padding).
    """
    batch, steps = x.shape
    lengths = lengths.to(x.device)
    # <boundary> c_1 .. c_len <boundary>, then padding
    framed = torch.cat([x.new_full((batch, 1), boundary), x, x.new_zeros(batch, 1)], dim=1)  # (B, T+2)
    framed[torch.arange(batch, device=x.device), lengths + 1] = boundary
    framed_lengths = lengths + 2
    ids, valid = [], []
    for k in range(1, n + 1):
        starts = steps + 2 - k + 1  # windows that fit in T+2 steps
        if starts <= 0:
            break
        h = torch.full((batch, starts), k, dtype=torch.int64, device=x.device)
        for j in range(k):
            h = (h * _BASE + framed[:, j:j + starts]) % _PRIME
        ids.append(h % buckets)
        valid.append(torch.arange(starts, device=x.device) + k <= framed_lengths[:, None])
    return torch.cat(ids, dim=1), torch.cat(valid, dim=1)


class CharNgramModel(nn.Module):
    """fastText-style: the mean embedding of a sequence's hashed character 1..n-grams -> linear.

    ``x (B, T)``, ``lengths (B,)`` -> logits ``(B, K)``.  The sequence is framed by a boundary
    marker, so prefixes and suffixes are n-grams of their own.  ``buckets`` rows are shared by all
    n-grams through the hash; one extra row is the (excluded) padding.
    """

    def __init__(self, vocab_size: int, num_classes: int, n: int = 3, buckets: int = 2**16,
                 embedding_size: int = 64) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"{type(self).__name__}: n must be at least 1, got {n!r}")
        self.vocab_size, self.n, self.buckets = vocab_size, n, buckets
        self.embedding = nn.EmbeddingBag(buckets + 1, embedding_size, mode="mean", padding_idx=buckets)
        self.head = nn.Linear(embedding_size, num_classes)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        ids, valid = hashed_ngrams(x, lengths, self.n, self.buckets, boundary=self.vocab_size)
        bag = self.embedding(ids.masked_fill(~valid, self.buckets))  # (B, E), mean over the valid n-grams
        return self.head(bag)

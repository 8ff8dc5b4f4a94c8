"""Many-to-one: read a whole sequence, emit one label.

    x --(embedding)--> recurrent encoder --> outputs (B, T, D*H), h_n
      --> pooling over the real steps --> summary --(dropout, linear)--> logits (B, K)

Shapes: ``B`` batch, ``T`` time steps, ``F`` input features, ``E`` embedding size, ``H`` hidden
size, ``D`` directions (2 if bidirectional), ``K`` classes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab.models.cells import recurrent_layer
from rnnlab.models.encoder import top_layer_state
from rnnlab.models.export import ExportPart
from rnnlab.models.pooling import AttentionPooling, max_over_time, mean_over_time
from rnnlab.nn.sequence import length_mask

POOLINGS = ("last", "mean", "max", "meanmax", "attention")


class SequenceClassifier(nn.Module):
    """A recurrent encoder, a summary of the sequence, and a linear head.

    Args:
        num_classes: ``K``.
        input_size: ``F``, for float signals ``x (B, T, F)``.
        vocab_size: for token ids ``x (B, T)`` (PAD id 0), embedded by an
            ``nn.Embedding(vocab_size, embedding_size, padding_idx=0)``.  Give either ``input_size`` or
            this and ``embedding_size``, not both.
        embedding_size: the width of those embeddings.
        cell: a name in :data:`rnnlab.models.CELLS` (``"rnn"``, ``"lstm"``, ``"gru"``).
        hidden_size: ``H``, of the recurrent encoder (per direction).
        num_layers: stacked layers of the recurrent encoder.
        bidirectional: whether the encoder reads both directions (``D = 2``).
        dropout: between recurrent layers and on the summary, in training mode.
        pooling: how the outputs become one vector, over each sequence's real steps only:

            * ``"last"``: the top layer's final state, ``(B, D*H)``: the forward direction's at the
              last real step, the backward direction's at step 0;
            * ``"mean"`` / ``"max"``: the average / feature-wise maximum of the outputs, ``(B, D*H)``;
            * ``"meanmax"``: both concatenated, ``(B, 2*D*H)``;
            * ``"attention"``: a learned softmax-weighted average, ``(B, D*H)``
              (:class:`~rnnlab.models.pooling.AttentionPooling`).
        merge_mode: how a bidirectional encoder joins its directions (``"concat"``; ``"sum"``, ``"mul"``,
            ``"ave"``: ``H`` features in place of ``D*H`` above, the final states merged the same way).

    Forward: ``model(x, lengths) -> logits (B, K)`` with ``lengths (B,)`` integers in ``1..T``.
    Padding (steps at and after ``lengths``) does not change the logits.
    """

    def __init__(self, num_classes: int, *, input_size: int | None = None, vocab_size: int | None = None,
                 embedding_size: int | None = None, cell: str = "gru", hidden_size: int = 128, num_layers: int = 2,
                 bidirectional: bool = True, dropout: float = 0.0, pooling: str = "meanmax",
                 merge_mode: str = "concat") -> None:
        super().__init__()
        name = type(self).__name__
        if pooling not in POOLINGS:
            raise ValueError(f"{name}: pooling must be one of {POOLINGS}, got {pooling!r}")
        if (input_size is None) == (vocab_size is None):
            raise ValueError(f"{name}: give exactly one of input_size (float signals) or vocab_size and "
                             f"embedding_size (token ids), got input_size={input_size!r}, vocab_size={vocab_size!r}")
        if vocab_size is not None and embedding_size is None:
            raise ValueError(f"{name}: embedding_size is needed with vocab_size")
        if input_size is not None and embedding_size is not None:
            raise ValueError(f"{name}: embedding_size goes with vocab_size (token ids), not with input_size")
        self.pooling = pooling
        self.embedding = None if vocab_size is None else nn.Embedding(vocab_size, embedding_size, padding_idx=0)
        self.encoder = recurrent_layer(cell, input_size if input_size is not None else embedding_size, hidden_size,
                                       num_layers, bidirectional, dropout if num_layers > 1 else 0.0,
                                       merge_mode=merge_mode)
        size = self.encoder.output_size
        self.attention = AttentionPooling(size) if pooling == "attention" else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * size if pooling == "meanmax" else size, num_classes)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """``x (B, T, F)`` floats or ``(B, T)`` token ids, ``lengths (B,)`` -> logits ``(B, K)``."""
        self._check_input(x)
        inputs = x if self.embedding is None else self.embedding(x)  # (B, T, F or E)
        outputs, h_n = self.encoder(inputs, lengths=lengths)  # (B, T, D*H), padding zero
        summary = self.summarise(outputs, h_n, length_mask(lengths.to(x.device), x.shape[1]))
        return self.head(self.dropout(summary))

    def summarise(self, outputs: Tensor, h_n, mask: Tensor) -> Tensor:
        """The pooled summary of ``outputs (B, T, D*H)`` over ``mask (B, T)``: ``(B, D*H)`` (``2*D*H`` for meanmax)."""
        if self.pooling == "last":
            return top_layer_state(h_n, self.encoder.num_directions, self.encoder.merge_mode)
        if self.pooling == "mean":
            return mean_over_time(outputs, mask)
        if self.pooling == "max":
            return max_over_time(outputs, mask)
        if self.pooling == "meanmax":
            return torch.cat([mean_over_time(outputs, mask), max_over_time(outputs, mask)], dim=-1)
        return self.attention(outputs, mask)

    def export_parts(self) -> list[ExportPart]:
        """One graph (:mod:`rnnlab.models.export`): ``x`` (``(B, T)`` ids or ``(B, T, F)`` floats) and
        ``lengths (B,)`` -> ``logits (B, K)``, batch and steps varying."""
        steps, lengths = 5, torch.tensor([5, 3])
        x = (torch.randn(2, steps, self.encoder.input_size) if self.embedding is None
             else torch.randint(1, self.embedding.num_embeddings, (2, steps)))
        dims = {"x": {0: "batch", 1: "steps"}, "lengths": {0: "batch"}}
        return [ExportPart("model", self, {"x": x, "lengths": lengths}, dims, ("logits",))]

    def _check_input(self, x: Tensor) -> None:
        name = type(self).__name__
        if self.embedding is None and (x.dim() != 3 or not x.is_floating_point()):
            raise ValueError(f"{name}: expected float signals (batch, steps, input_size), "
                             f"got {x.dim()}-D {x.dtype} of shape {tuple(x.shape)}")
        if self.embedding is not None and (x.dim() != 2 or x.is_floating_point()):
            raise ValueError(f"{name}: expected token ids (batch, steps) as integers, "
                             f"got {x.dim()}-D {x.dtype} of shape {tuple(x.shape)}")

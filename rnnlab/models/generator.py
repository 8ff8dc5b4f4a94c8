"""One-to-many: a sequence from a single input (generate a word of a given language).

The condition, a class id or any vector, is embedded once; it sets the initial state of every layer
and is given again at every step with the previous token, so the network cannot forget it::

    condition (B,) ids or (B, F) --embedding / linear--> c (B, C)
    h_0 (per layer and state tensor) = tanh(W_init c)
    x_t = [embed(y_{t-1}) ; c]                 y_0 = START
    outputs = stacked rnnlab layer over x      (B, T, H)
    log p(y_t | y_<t, condition) = log_softmax(W_o outputs_t)

Training runs the whole reference at once (teacher forcing, one fused call of the layer); generation
runs one step per token, carrying the layer's state (:meth:`ConditionalGenerator.step`).

Shapes: ``B`` batch, ``T`` steps, ``C`` condition embedding size, ``E`` token embedding size, ``H``
hidden size, ``L`` layers, ``V`` vocabulary (id 0 = PAD).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnlab.models.cells import recurrent_layer
from rnnlab.models.export import ExportPart, step_parts

PAD = 0


class GeneratorState(NamedTuple):
    """What generation carries: the layer's state (``h_n``, batch in dimension 1, or a tuple of them)
    and the condition ``c (B, C)``."""

    layer: Tensor | tuple[Tensor, ...]
    condition: Tensor


class ConditionalGenerator(nn.Module):
    """A conditional recurrent language model over tokens.

    Args:
        vocab_size: ``V`` (id 0 = PAD).
        num_conditions: for class conditions: their number (embedded by a table); or
        condition_size: for vector conditions ``(B, F)``: ``F`` (embedded by a linear map).  Give one.
        condition_embedding_size: ``C``.
        embedding_size: ``E``, of the previous token.
        cell: a name in :data:`rnnlab.models.CELLS`, for the (unidirectional) recurrent layer.
        hidden_size: ``H``, of the recurrent layer.
        num_layers: stacked layers of the recurrent layer.
        dropout: on the embedded inputs, between the layers and on the outputs, in training mode.

    Forward (teacher forcing): ``model(condition, previous (B, T), lengths (B,))`` -> logits ``(B, T, V)``,
    ``previous`` being START followed by the reference without its last token.
    """

    def __init__(self, vocab_size: int, *, num_conditions: int | None = None, condition_size: int | None = None,
                 condition_embedding_size: int = 32, embedding_size: int = 32, cell: str = "gru",
                 hidden_size: int = 256, num_layers: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        if (num_conditions is None) == (condition_size is None):
            raise ValueError(f"{type(self).__name__}: give exactly one of num_conditions (class conditions) or "
                             f"condition_size (vector conditions)")
        self.condition_embedding = (nn.Embedding(num_conditions, condition_embedding_size) if num_conditions
                                    else nn.Linear(condition_size, condition_embedding_size))
        self.token_embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=PAD)
        self.layer = recurrent_layer(cell, embedding_size + condition_embedding_size, hidden_size, num_layers,
                                     dropout=dropout if num_layers > 1 else 0.0)
        self.state_tensors = len(self.layer.state_sizes)  # 2 for an LSTM (h, c), else 1
        self.initial = nn.Linear(condition_embedding_size, num_layers * hidden_size * self.state_tensors)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, vocab_size)

    def start(self, condition: Tensor) -> GeneratorState:
        """The state before the first token: ``condition (B,)`` ids or ``(B, F)`` vectors."""
        c = self.condition_embedding(condition)  # (B, C)
        layers, hidden = self.layer.num_layers, self.layer.hidden_size
        h0 = torch.tanh(self.initial(c)).view(c.shape[0], self.state_tensors, layers, hidden).permute(1, 2, 0, 3)
        state = tuple(h.contiguous() for h in h0)  # each (L, B, H)
        return GeneratorState(state[0] if self.state_tensors == 1 else state, c)

    def run(self, previous: Tensor, state: GeneratorState,
            lengths: Tensor | None = None) -> tuple[Tensor, GeneratorState]:
        """Logits ``(B, T, V)`` for the tokens after ``previous (B, T)``, and the state after them."""
        steps = previous.shape[1]
        x = torch.cat([self.token_embedding(previous),
                       state.condition.unsqueeze(1).expand(-1, steps, -1)], dim=-1)  # (B, T, E + C)
        outputs, h_n = self.layer(self.dropout(x), state.layer, lengths=lengths)  # (B, T, H)
        return self.output(self.dropout(outputs)), state._replace(layer=h_n)

    def forward(self, condition: Tensor, previous: Tensor, lengths: Tensor) -> Tensor:
        return self.run(previous, self.start(condition), lengths)[0]

    def step(self, tokens: Tensor, state: GeneratorState) -> tuple[Tensor, GeneratorState]:
        """The step function of :mod:`rnnlab.models.decoding`: ``tokens (B,)`` -> log-probabilities ``(B, V)``."""
        logits, state = self.run(tokens.unsqueeze(1), state)
        return logits[:, 0].float().log_softmax(-1), state

    def export_parts(self) -> list[ExportPart]:
        """Two graphs (:mod:`rnnlab.models.export`): ``"start"``, ``condition`` (``(B,)`` ids or ``(B, F)``)
        -> the state as flat tensors (the layer's ``(L, B, H)`` each, then ``c (B, C)``); ``"step"``, the
        previous ``tokens (B,)`` and that state -> ``log_probs (B, V)`` and the new state."""
        embedding = self.condition_embedding
        condition = (torch.randint(0, embedding.num_embeddings, (2,)) if isinstance(embedding, nn.Embedding)
                     else torch.randn(2, embedding.in_features))
        return step_parts(self, self.start, {"condition": condition}, {"condition": {0: "batch"}}, self.step,
                          lambda s: {1 if s.dim() == 3 else 0: "batch"})

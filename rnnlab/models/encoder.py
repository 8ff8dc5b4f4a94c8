"""The shared pieces of the task models: a recurrent encoder chosen by name, and the mask of real steps.

Every task model reads its sequence with one of rnnlab's own layers (never torch.nn's), built by
:func:`recurrent_layer` from a cell name.  :data:`CELLS` maps the names to layer factories, so a
new cell becomes available to every model by adding one entry.

Shapes: ``B`` batch, ``T`` time steps.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import Tensor

from rnnlab.layers import GRU, LSTM, RNN, MinGRU, MinLSTM, Recurrent

def identity_rnn(input_size: int, hidden_size: int, num_layers: int = 1, **options) -> RNN:
    """A relu RNN initialised as Le et al. 2015 (IRNN): recurrent weights the identity, biases zero,
    input weights ~ N(0, 0.001^2), so the state is carried unchanged until training says otherwise."""
    layer = RNN(input_size, hidden_size, num_layers, nonlinearity="relu", **options)
    with torch.no_grad():
        for name, weight in layer.named_parameters():
            if name.startswith("weight_hh"):
                weight.copy_(torch.eye(hidden_size))
            elif name.startswith("weight_ih"):
                weight.normal_(0.0, 1e-3)
            else:
                weight.zero_()
    return layer


def lstm_forget_bias_one(input_size: int, hidden_size: int, num_layers: int = 1, **options) -> LSTM:
    """An LSTM whose forget-gate bias starts at 1 (Gers et al. 2000; Jozefowicz et al. 2015), so the
    memory is kept by default at the start of training."""
    layer = LSTM(input_size, hidden_size, num_layers, **options)
    with torch.no_grad():
        for name, bias in layer.named_parameters():
            if name.startswith("bias_ih"):  # gate order i, f, g, o; bias_hh stays as initialised
                bias[hidden_size:2 * hidden_size] = 1.0 - getattr(layer, name.replace("bias_ih", "bias_hh"))[
                    hidden_size:2 * hidden_size]
    return layer


CELLS: dict[str, Callable[..., Recurrent]] = {
    "rnn": partial(RNN, nonlinearity="tanh"),
    "irnn": identity_rnn,
    "lstm": LSTM,
    "lstm-fb1": lstm_forget_bias_one,
    "gru": GRU,
    "mingru": MinGRU,
    "minlstm": MinLSTM,
}
"""Cell name -> layer factory, called as ``factory(input_size, hidden_size, num_layers, *, batch_first,
dropout, bidirectional)`` (the signature of :class:`~rnnlab.Recurrent` with its cell bound, and of
:class:`~rnnlab.RNN`, :class:`~rnnlab.LSTM`, :class:`~rnnlab.GRU`, :class:`~rnnlab.MinGRU` and
:class:`~rnnlab.MinLSTM`)."""


def recurrent_layer(cell: str, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                    dropout: float = 0.0, batch_first: bool = True) -> Recurrent:
    """The rnnlab layer for ``cell`` (a key of :data:`CELLS`): stacked ``num_layers`` deep, ``dropout``
    between layers, input and output ``(B, T, features)`` unless ``batch_first=False``.

    Raises:
        ValueError: ``cell`` is not a known name; the message lists the known ones.
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    return CELLS[cell](input_size, hidden_size, num_layers, batch_first=batch_first, dropout=dropout,
                       bidirectional=bidirectional)


def top_layer_state(h_n: Tensor | tuple[Tensor, ...], num_directions: int) -> Tensor:
    """The top layer's final output state, directions concatenated: ``h_n`` as a layer returns it
    (``(L * D, B, H)``, or a tuple whose first tensor is that, for an LSTM) -> ``(B, D * H)``.

    With ``lengths``, the forward direction's state is each sequence's at its last real step and the
    backward direction's at step 0: the ends of what each direction read.
    """
    h = h_n if isinstance(h_n, Tensor) else h_n[0]
    top = h[-num_directions:]  # (D, B, H), forward first
    return top.transpose(0, 1).reshape(h.shape[1], -1)


def length_mask(lengths: Tensor, steps: int) -> Tensor:
    """``(B, T)`` bool, true on each sequence's real steps ``t < lengths[b]``."""
    return torch.arange(steps, device=lengths.device) < lengths[:, None]

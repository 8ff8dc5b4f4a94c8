"""The cell registry: every cell name a model, a task or a command accepts, declared once.

Every task model reads its sequence with one of rnnlab's own layers (never torch.nn's), built by
:func:`recurrent_layer` from a cell name; an encoder-decoder's step-by-step decoder takes the cell
of the same name (:func:`decoder_cell`).  :data:`CELLS` maps each name to a :class:`CellRecipe`
that knows both, so a new cell becomes available to every model, to ``rnnlab train --cell`` and
to ``rnnlab memory --cells`` by adding one entry.  A name without a decoder cell is refused by the
encoder-decoder, never replaced by another cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from rnnlab.nn.cell import Cell
from rnnlab.nn.cells import GRUCell, LayerNormLSTMCell, LSTMCell, RNNCell
from rnnlab.nn.layers import GRU, LSTM, RNN, MinGRU, MinLSTM, Recurrent
from rnnlab.nn.long_memory import IndRNNCell, JANETCell, OrthogonalCell, chrono_init_
from rnnlab.nn.variants import LayerNormGRUCell, MGUCell, PeepholeLSTMCell

DEFAULT_TIMESCALE = 100
"""The longest time scale (in steps) a cell initialised for one (lstm-chrono, janet, indrnn) is built
for when the caller does not know its sequences' length; the memory grid passes each task's."""


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


def lstm_chrono(input_size: int, hidden_size: int, num_layers: int = 1, *, timescale: int = DEFAULT_TIMESCALE,
                **options) -> LSTM:
    """An LSTM with chrono initialisation up to ``timescale`` steps (Tallec & Ollivier 2018):
    :func:`~rnnlab.nn.long_memory.chrono_init_`."""
    return chrono_init_(LSTM(input_size, hidden_size, num_layers, **options), t_max=timescale)


def janet(input_size: int, hidden_size: int, num_layers: int = 1, *, timescale: int = DEFAULT_TIMESCALE,
          **options) -> Recurrent:
    """JANET layers (:class:`~rnnlab.nn.long_memory.JANETCell`), chrono-initialised up to ``timescale`` steps."""
    return Recurrent(JANETCell, input_size, hidden_size, num_layers, t_max=timescale, **options)


def indrnn(input_size: int, hidden_size: int, num_layers: int = 1, *, timescale: int = DEFAULT_TIMESCALE,
           **options) -> Recurrent:
    """IndRNN layers (:class:`~rnnlab.nn.long_memory.IndRNNCell`) as Li et al. 2018 build them for a
    sequence of ``timescale`` steps: every ``|u| <= 2^(1/timescale)``, and the last layer's ``u`` drawn
    from ``U(2^(-1/timescale), 2^(1/timescale))``, so that it holds its memory over the whole sequence
    from the start (the lower layers' from ``U(0, 2^(1/timescale))``)."""
    bound = 2.0 ** (1.0 / timescale)
    layer = Recurrent(IndRNNCell, input_size, hidden_size, num_layers, max_abs=bound, **options)
    with torch.no_grad():
        for name, weight in layer.named_parameters():
            if name.startswith(f"weight_hh_l{num_layers - 1}"):
                weight.uniform_(1.0 / bound, bound)
    return layer


def orthogonal_rnn(input_size: int, hidden_size: int, num_layers: int = 1, *, timescale: int | None = None,
                   **options) -> Recurrent:
    """Orthogonal RNN layers (:class:`~rnnlab.nn.long_memory.OrthogonalCell`); ``timescale`` is unused."""
    return Recurrent(OrthogonalCell, input_size, hidden_size, num_layers, **options)


@dataclass(frozen=True)
class CellRecipe:
    """How a cell name becomes a layer, and the cell a step-by-step decoder runs.

    Called as ``recipe(input_size, hidden_size, num_layers, *, batch_first, dropout, bidirectional)``
    (the signature of :class:`~rnnlab.Recurrent` with its cell bound), it builds the layer.
    ``decoder``: the cell class an encoder-decoder steps with for this name (``None``: the cell has
    no decoder here, e.g. the parallel-scan cells, whose point is not stepping).
    ``takes_timescale``: whether the layer takes ``timescale``, the longest dependency (in steps) its
    initialisation is made for; given to it when known (the memory grid's ``T``).
    """

    layer: Callable[..., Recurrent]
    decoder: type[Cell] | None = None
    takes_timescale: bool = False

    def __call__(self, input_size: int, hidden_size: int, num_layers: int = 1, *, timescale: int | None = None,
                 **options) -> Recurrent:
        if self.takes_timescale and timescale is not None:
            options["timescale"] = timescale
        return self.layer(input_size, hidden_size, num_layers, **options)


CELLS: dict[str, Callable[..., Recurrent]] = {
    "rnn": CellRecipe(partial(RNN, nonlinearity="tanh"), decoder=RNNCell),
    "irnn": CellRecipe(identity_rnn),
    "lstm": CellRecipe(LSTM, decoder=LSTMCell),
    "lstm-fb1": CellRecipe(lstm_forget_bias_one, decoder=LSTMCell),
    "gru": CellRecipe(GRU, decoder=GRUCell),
    "mingru": CellRecipe(MinGRU),
    "minlstm": CellRecipe(MinLSTM),
    "lstm-chrono": CellRecipe(lstm_chrono, takes_timescale=True),  # its decoder would lose the initialisation
    "janet": CellRecipe(janet, takes_timescale=True),
    "indrnn": CellRecipe(indrnn, takes_timescale=True),
    "orthogonal": CellRecipe(orthogonal_rnn),
    "lstm-peephole": CellRecipe(partial(Recurrent, PeepholeLSTMCell)),
    "lstm-ln": CellRecipe(partial(Recurrent, LayerNormLSTMCell)),
    "gru-ln": CellRecipe(partial(Recurrent, LayerNormGRUCell)),
    "mgu": CellRecipe(partial(Recurrent, MGUCell)),
}
"""Cell name -> :class:`CellRecipe` (or any layer factory with the same signature)."""


REGULARISERS = ("recurrent_dropout", "zoneout", "weight_drop")
"""The options a cell spec may set after the name (see :func:`parse_cell`)."""


def parse_cell(spec: str) -> tuple[str, dict[str, float]]:
    """A cell spec -> its name in :data:`CELLS` and its regularisers: ``"lstm"`` -> ``("lstm", {})``,
    ``"gru:zoneout=0.1:weight_drop=0.2"`` -> ``("gru", {"zoneout": 0.1, "weight_drop": 0.2})`` (any of
    :data:`REGULARISERS`, each a probability in [0, 1)).

    Raises:
        ValueError: an unknown name or option, or a value that is not a probability; the message says which.
    """
    name, *options = spec.split(":")
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; choose from {sorted(CELLS)}")
    regularisers: dict[str, float] = {}
    for option in options:
        key, _, value = option.partition("=")
        if key not in REGULARISERS:
            raise ValueError(f"cell {spec!r}: unknown option {key!r}; a cell takes {', '.join(REGULARISERS)} "
                             "(as lstm:zoneout=0.1)")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"cell {spec!r}: {key} must be a number, got {value!r}") from None
        if not 0 <= number < 1:
            raise ValueError(f"cell {spec!r}: {key} must be a probability in [0, 1), got {value}")
        regularisers[key] = number
    return name, regularisers


def recurrent_layer(cell: str, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                    dropout: float = 0.0, batch_first: bool = True, timescale: int | None = None,
                    merge_mode: str = "concat") -> Recurrent:
    """The rnnlab layer for ``cell`` (a key of :data:`CELLS`, or a spec with regularisers as
    ``"lstm:zoneout=0.1"``: :func:`parse_cell`): stacked ``num_layers`` deep, ``dropout`` between layers,
    input and output ``(B, T, features)`` unless ``batch_first=False``; a cell initialised for a time
    scale (lstm-chrono, janet, indrnn) is made for ``timescale`` steps (default :data:`DEFAULT_TIMESCALE`);
    a bidirectional layer's directions joined by ``merge_mode`` (:class:`~rnnlab.nn.layers.Recurrent`).

    Raises:
        ValueError: ``cell`` is not a known name or a valid spec; the message lists the known names.
    """
    name, regularisers = parse_cell(cell)
    recipe = CELLS[name]
    options = {"timescale": timescale} if isinstance(recipe, CellRecipe) else {}
    if merge_mode != "concat":
        options["merge_mode"] = merge_mode
    layer = recipe(input_size, hidden_size, num_layers, batch_first=batch_first, dropout=dropout,
                   bidirectional=bidirectional, **options)
    return layer.regularise(**regularisers) if regularisers else layer


def has_recurrent_matrices(cell: str) -> bool:
    """Whether ``cell``'s layer (a key of :data:`CELLS`) has recurrent weights for ``weight_drop`` to drop
    (:attr:`~rnnlab.nn.layers.Recurrent.has_recurrent_matrices`)."""
    return recurrent_layer(cell, 1, 1).has_recurrent_matrices


def regularise_layers(model: nn.Module, **options: float) -> nn.Module:
    """Set recurrent regularisers (``recurrent_dropout``, ``zoneout``, ``weight_drop``; see
    :class:`~rnnlab.nn.layers.Recurrent`) on every rnnlab recurrent layer in ``model``; returns ``model``.

    Raises:
        ValueError: a value is not a probability in [0, 1), or ``weight_drop`` meets a cell without
            recurrent matrices.
    """
    for module in model.modules():
        if isinstance(module, Recurrent):
            module.regularise(**options)
    return model


def decoder_cell(cell: str) -> type[Cell]:
    """The cell class a step-by-step decoder runs for ``cell`` (a key of :data:`CELLS`).

    Raises:
        ValueError: ``cell`` is unknown or has no decoder cell; the message lists the names that have one.
    """
    decoder = getattr(CELLS.get(cell), "decoder", None)
    if decoder is None:
        raise ValueError(f"cell {cell!r} has no step-by-step decoder cell; an encoder-decoder takes one of "
                         f"{', '.join(decoder_names())}")
    return decoder


def decoder_names() -> list[str]:
    """The cell names an encoder-decoder takes, in :data:`CELLS`' order."""
    return [name for name, recipe in CELLS.items() if getattr(recipe, "decoder", None) is not None]

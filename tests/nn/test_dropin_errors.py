"""The errors of rnnlab's drop-in layers and cells are torch.nn's, side by side: the same call raises
an exception of the type torch.nn raises (or succeeds where torch.nn succeeds), with rnnlab's message."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.nn.cell import DtypeError, ShapeError

LAYERS = [(nn.RNN, rnnlab.RNN), (nn.LSTM, rnnlab.LSTM), (nn.GRU, rnnlab.GRU)]
CELLS = [(nn.RNNCell, rnnlab.RNNCell), (nn.LSTMCell, rnnlab.LSTMCell), (nn.GRUCell, rnnlab.GRUCell)]


def _outcome(build):
    """``None`` when the call succeeds, else the exception it raised."""
    try:
        build()
    except Exception as error:  # noqa: BLE001 (the point is to compare whatever is raised)
        return error
    return None


def _same_kind(reference, ours) -> None:
    theirs, mine = _outcome(reference), _outcome(ours)
    if theirs is None:
        assert mine is None, f"torch.nn accepts it, rnnlab raised {mine!r}"
    else:
        assert isinstance(mine, type(theirs)), f"torch.nn raised {type(theirs).__name__}, rnnlab {mine!r}"


@pytest.mark.parametrize("pair", LAYERS, ids=lambda p: p[1].__name__)
@pytest.mark.parametrize("args, kwargs", [
    ((3, 4), {"bias": 0}), ((3, 4), {"bias": "True"}), ((3, 4), {"batch_first": 1}),
    ((3.0, 4), {}), (("10", 4), {}), ((3, 4.0), {}), ((3, 0), {}), ((3, 4), {"num_layers": 2.0}),
    ((3, 4), {"num_layers": 0}), ((3, 4), {"dropout": "0.1"}), ((3, 4), {"dropout": 1.5}),
    ((3, 4), {"proj_size": 2}), ((3, 4), {"proj_size": 4}), ((3, 4), {"bidirectional": 1}),
])
def test_a_layer_constructor_refuses_what_torch_refuses_with_the_same_type(pair, args, kwargs):
    reference, ours = pair
    _same_kind(lambda: reference(*args, **kwargs), lambda: ours(*args, **kwargs))


@pytest.mark.parametrize("pair", CELLS, ids=lambda p: p[1].__name__)
@pytest.mark.parametrize("args", [(3.0, 4), ("10", 4), (3, 0), (0, 4)])
def test_a_cell_constructor_behaves_as_torch(pair, args):
    reference, ours = pair
    _same_kind(lambda: reference(*args), lambda: ours(*args))


def test_a_cell_of_zero_units_gives_an_empty_output_as_torch():
    torch.manual_seed(0)
    for reference, ours in CELLS:
        theirs, mine = reference(3, 0)(torch.randn(2, 3)), ours(3, 0)(torch.randn(2, 3))
        theirs, mine = (out[0] if isinstance(out, tuple) else out for out in (theirs, mine))
        assert mine.shape == theirs.shape == (2, 0)


def _state(layer, batch=2, dtype=torch.float32):
    h = torch.zeros(1, batch, 4, dtype=dtype)
    return (h, h.clone()) if isinstance(layer, (nn.LSTM, rnnlab.LSTM)) else h


@pytest.mark.parametrize("pair", LAYERS, ids=lambda p: p[1].__name__)
@pytest.mark.parametrize("call", ["4-D input", "features", "hx shape", "input dtype", "hx dtype"])
def test_a_bad_call_raises_the_type_torch_raises(pair, call):
    reference, ours = (cls(3, 4) for cls in pair)
    arguments = {
        "4-D input": lambda layer: layer(torch.randn(2, 2, 2, 3)),
        "features": lambda layer: layer(torch.randn(5, 2, 2)),
        "hx shape": lambda layer: layer(torch.randn(5, 2, 3), _state(layer, batch=3)),
        "input dtype": lambda layer: layer(torch.randn(5, 2, 3, dtype=torch.float64)),
        "hx dtype": lambda layer: layer(torch.randn(5, 2, 3), _state(layer, dtype=torch.float64)),
    }[call]
    _same_kind(lambda: arguments(reference), lambda: arguments(ours))


@pytest.mark.parametrize("pair", CELLS, ids=lambda p: p[1].__name__)
@pytest.mark.parametrize("call", ["3-D input", "features", "hx batch", "input dtype"])
def test_a_bad_cell_call_raises_the_type_torch_raises(pair, call):
    reference, ours = (cls(3, 4) for cls in pair)

    def state(cell, batch):
        h = torch.zeros(batch, 4)
        return (h, h.clone()) if isinstance(cell, (nn.LSTMCell, rnnlab.LSTMCell)) else h

    arguments = {
        "3-D input": lambda cell: cell(torch.randn(2, 2, 3)),
        "features": lambda cell: cell(torch.randn(2, 2)),
        "hx batch": lambda cell: cell(torch.randn(2, 3), state(cell, 3)),
        "input dtype": lambda cell: cell(torch.randn(2, 3, dtype=torch.float64)),
    }[call]
    _same_kind(lambda: arguments(reference), lambda: arguments(ours))


def test_the_errors_are_both_kinds_and_keep_rnnlabs_message():
    layer = rnnlab.LSTM(3, 4)
    with pytest.raises(ShapeError, match=r"LSTM: input must have input_size=3 features") as raised:
        layer(torch.randn(5, 2, 2))
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, RuntimeError)
    with pytest.raises(DtypeError, match=r"LSTM: input has dtype torch.float64") as raised:
        layer(torch.randn(5, 2, 3, dtype=torch.float64))
    assert all(isinstance(raised.value, kind) for kind in (TypeError, ValueError, RuntimeError))
    with pytest.raises(TypeError, match=r"GRU: bias must be a bool \(True or False\), got int 0"):
        rnnlab.GRU(3, 4, bias=0)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        rnnlab.RNN(3, 4, proj_size=2)

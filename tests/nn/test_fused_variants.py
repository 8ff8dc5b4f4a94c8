"""The fused sequences of the gated variants (rnnlab.nn.fused: the peephole LSTM's and the layer-norm GRU's, through
the compiled kernels): gradcheck of each hand-written backward, and each layer against the same cell stepped
through autograd; the cases that step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.nn.fused import layer_norm_gru_sequence, peephole_lstm_sequence
from tests.helpers import assert_close, fused_and_stepped, needs_compiled_kernels, recorded_calls

pytestmark = needs_compiled_kernels()
T, B, I, H = 6, 3, 4, 5
CELLS = {"peephole LSTM": rnnlab.PeepholeLSTMCell, "layer-norm GRU": rnnlab.LayerNormGRUCell}


def _inputs(*shapes):
    return [torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in shapes]


def test_gradcheck_peephole_lstm_of_every_input_and_the_peepholes():
    torch.manual_seed(0)
    inputs = _inputs((4, 2, 4 * H), (2, H), (2, H), (4 * H, H), (H,), (H,), (H,))
    assert torch.autograd.gradcheck(peephole_lstm_sequence, inputs)


def test_gradcheck_layer_norm_gru_of_every_input_and_the_layer_norm():
    torch.manual_seed(0)
    norm = nn.LayerNorm(3 * H, dtype=torch.float64)
    inputs = _inputs((4, 2, 3 * H), (2, H), (3 * H, H), (3 * H,), (3 * H,))
    del norm.weight, norm.bias  # plain attributes during the check

    def sequence(x, h0, weight, gamma, beta):
        norm.weight, norm.bias = gamma, beta
        return layer_norm_gru_sequence(x, h0, weight, norm)

    assert torch.autograd.gradcheck(sequence, inputs)


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("batch, hidden", [(B, H), (48, 64)])  # the second: the rows split over two threads
def test_fused_equals_stepped_with_lengths_two_layers_and_both_directions(monkeypatch, name, batch, hidden):
    results, calls = fused_and_stepped(monkeypatch, CELLS[name], T, batch, I, hidden, seed=1)
    assert_close(results[0], results[1], f"fused vs stepped {name}")
    assert len(calls) == 4 and all(call is not None for call in calls)  # every layer and direction fused


def test_with_zero_peepholes_it_is_torch_nns_lstm():
    torch.manual_seed(2)
    reference = torch.nn.LSTM(I, H, dtype=torch.float64)
    layer = rnnlab.Recurrent(rnnlab.PeepholeLSTMCell, I, H, engine="unrolled", dtype=torch.float64)
    state = {**reference.state_dict(), **{f"weight_c{k}_l0": torch.zeros(H, dtype=torch.float64) for k in "ifo"}}
    layer.load_state_dict(state)
    x = torch.randn(T, B, I, dtype=torch.float64)
    torch.testing.assert_close(layer(x)[0], reference(x)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_regularisers_traces_and_other_dtypes_step(monkeypatch, name):
    torch.manual_seed(3)
    calls = recorded_calls(monkeypatch, CELLS[name], "fused_steps")
    x = torch.randn(T, B, I, dtype=torch.float64)
    for options in ({"zoneout": 0.2}, {"recurrent_dropout": 0.3}):
        rnnlab.Recurrent(CELLS[name], I, H, engine="unrolled", dtype=torch.float64, **options).train()(x)
    layer = rnnlab.Recurrent(CELLS[name], I, H, engine="unrolled", dtype=torch.float64)
    layer.trace(x)
    assert calls == [None, None]  # asked with a regulariser, and declined; a trace steps without asking
    layer.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert calls == [None, None, None]  # asked, and declined: the kernels take float32 and float64

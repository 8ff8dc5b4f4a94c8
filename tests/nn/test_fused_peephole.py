"""The fused peephole LSTM (rnnlab.nn.fused.peephole_lstm_sequence, through the compiled kernels): gradcheck of
its hand-written backward, and the layer against the same cell stepped through autograd; the cases that step."""

from __future__ import annotations

import sys

import pytest
import torch

import rnnlab
from rnnlab.nn.fused import peephole_lstm_sequence
from tests.helpers import assert_close, needs_compiled_kernels, recorded_calls

pytestmark = needs_compiled_kernels()
unroll_module = sys.modules["rnnlab.nn.unroll"]
T, B, I, H = 6, 3, 4, 5


@pytest.fixture
def fused_calls(monkeypatch):
    """The fused sequences the peephole cell ran (each its outputs, or None where it stepped)."""
    return recorded_calls(monkeypatch, rnnlab.PeepholeLSTMCell, "fused_steps")


def test_gradcheck_of_every_input_and_the_peepholes():
    torch.manual_seed(0)
    inputs = [torch.randn(*shape, dtype=torch.float64, requires_grad=True)
              for shape in ((4, 2, 4 * H), (2, H), (2, H), (4 * H, H), (H,), (H,), (H,))]
    assert torch.autograd.gradcheck(peephole_lstm_sequence, inputs)


@pytest.mark.parametrize("batch, hidden", [(B, H), (48, 64)])  # the second: the rows split over two threads
def test_fused_equals_stepped_with_lengths_two_layers_and_both_directions(fused_calls, monkeypatch, batch, hidden):
    torch.manual_seed(1)
    layer = rnnlab.Recurrent(rnnlab.PeepholeLSTMCell, I, hidden, num_layers=2, bidirectional=True,
                             engine="unrolled", dtype=torch.float64)
    with torch.no_grad():  # peepholes large enough that their gradients matter
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    x = torch.randn(T, batch, I, dtype=torch.float64, requires_grad=True)
    hx = tuple(torch.randn(4, batch, hidden, dtype=torch.float64, requires_grad=True) for _ in range(2))
    lengths = torch.randint(1, T + 1, (batch,))
    lengths[0] = T
    results = []
    for fuse in (True, False):
        monkeypatch.setattr(unroll_module, "_may_fuse", lambda x, fuse=fuse: fuse)
        out, (h_n, c_n) = layer(x, hx, lengths=lengths)
        loss = out.sin().sum() + (h_n * 1.5).cos().sum() + c_n.square().sum()
        results.append([out, h_n, c_n, *torch.autograd.grad(loss, [x, *hx, *layer.parameters()])])
    assert_close(results[0], results[1], "fused vs stepped peephole LSTM")
    assert len(fused_calls) == 4 and all(call is not None for call in fused_calls)


def test_with_zero_peepholes_it_is_torch_nns_lstm():
    torch.manual_seed(2)
    reference = torch.nn.LSTM(I, H, dtype=torch.float64)
    layer = rnnlab.Recurrent(rnnlab.PeepholeLSTMCell, I, H, engine="unrolled", dtype=torch.float64)
    state = {**reference.state_dict(), **{f"weight_c{k}_l0": torch.zeros(H, dtype=torch.float64) for k in "ifo"}}
    layer.load_state_dict(state)
    x = torch.randn(T, B, I, dtype=torch.float64)
    torch.testing.assert_close(layer(x)[0], reference(x)[0], rtol=0, atol=1e-12)


def test_regularisers_and_traces_step(fused_calls):
    torch.manual_seed(3)
    x = torch.randn(T, B, I, dtype=torch.float64)
    for options in ({"zoneout": 0.2}, {"recurrent_dropout": 0.3}):
        rnnlab.Recurrent(rnnlab.PeepholeLSTMCell, I, H, engine="unrolled", dtype=torch.float64, **options).train()(x)
    rnnlab.Recurrent(rnnlab.PeepholeLSTMCell, I, H, engine="unrolled", dtype=torch.float64).trace(x)
    assert fused_calls == [None, None]  # asked with a regulariser, and declined; a trace steps without asking

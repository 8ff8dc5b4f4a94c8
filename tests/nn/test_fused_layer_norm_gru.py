"""The fused layer-norm GRU (rnnlab.nn.fused.layer_norm_gru_sequence, through the compiled kernels): gradcheck of
its hand-written backward, and the layer against the same cell stepped through autograd; the cases that step."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.nn.fused import layer_norm_gru_sequence
from tests.helpers import assert_close, needs_compiled_kernels, recorded_calls

pytestmark = needs_compiled_kernels()
unroll_module = sys.modules["rnnlab.nn.unroll"]
T, B, I, H = 6, 3, 4, 5


@pytest.fixture
def fused_calls(monkeypatch):
    """The fused sequences the layer-norm GRU ran (each its outputs, or None where it stepped)."""
    return recorded_calls(monkeypatch, rnnlab.LayerNormGRUCell, "fused_steps")


def test_gradcheck_of_every_input_and_the_layer_norm():
    torch.manual_seed(0)
    norm = nn.LayerNorm(3 * H, dtype=torch.float64)
    x, h0, weight, gamma, beta = (torch.randn(*shape, dtype=torch.float64, requires_grad=True)
                                  for shape in ((4, 2, 3 * H), (2, H), (3 * H, H), (3 * H,), (3 * H,)))
    del norm.weight, norm.bias  # plain attributes during the check

    def sequence(x, h0, weight, gamma, beta):
        norm.weight, norm.bias = gamma, beta
        return layer_norm_gru_sequence(x, h0, weight, norm)

    assert torch.autograd.gradcheck(sequence, (x, h0, weight, gamma, beta))


@pytest.mark.parametrize("batch, hidden", [(B, H), (48, 64)])  # the second: the rows split over two threads
def test_fused_equals_stepped_with_lengths_two_layers_and_both_directions(fused_calls, monkeypatch, batch, hidden):
    torch.manual_seed(1)
    layer = rnnlab.Recurrent(rnnlab.LayerNormGRUCell, I, hidden, num_layers=2, bidirectional=True,
                             engine="unrolled", dtype=torch.float64)
    with torch.no_grad():  # the layer norms away from identity, so that their gradients matter
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    x = torch.randn(T, batch, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, batch, hidden, dtype=torch.float64, requires_grad=True)
    lengths = torch.randint(1, T + 1, (batch,))
    lengths[0] = T
    results = []
    for fuse in (True, False):
        monkeypatch.setattr(unroll_module, "_may_fuse", lambda x, fuse=fuse: fuse)
        out, h_n = layer(x, h0, lengths=lengths)
        loss = out.sin().sum() + (h_n * 1.5).cos().sum()
        results.append([out, h_n, *torch.autograd.grad(loss, [x, h0, *layer.parameters()])])
    assert_close(results[0], results[1], "fused vs stepped layer-norm GRU")
    assert len(fused_calls) == 4 and all(call is not None for call in fused_calls)


def test_regularisers_traces_and_other_dtypes_step(fused_calls):
    torch.manual_seed(2)
    x = torch.randn(T, B, I, dtype=torch.float64)
    for options in ({"zoneout": 0.2}, {"recurrent_dropout": 0.3}):
        rnnlab.Recurrent(rnnlab.LayerNormGRUCell, I, H, engine="unrolled", dtype=torch.float64, **options).train()(x)
    layer = rnnlab.Recurrent(rnnlab.LayerNormGRUCell, I, H, engine="unrolled", dtype=torch.float64)
    layer.trace(x)
    assert fused_calls == [None, None]  # asked with a regulariser, and declined; a trace steps without asking
    layer.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert fused_calls[-1] is None  # the kernels take float32 and float64

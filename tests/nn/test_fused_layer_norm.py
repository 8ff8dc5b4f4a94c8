"""The fused layer-norm LSTM (rnnlab.nn.fused.layer_norm_lstm_sequence, through the compiled kernels): gradcheck
of its hand-written backward, and the layer against the same cell stepped through autograd; the cases that step."""

from __future__ import annotations

import copy as copy_module
import sys

import pytest
import torch

import rnnlab
import rnnlab.nn.cells as cells_module
import rnnlab.nn.fused as fused_module
from rnnlab.nn.fused import layer_norm_lstm_sequence
from tests.helpers import assert_close, needs_compiled_kernels, recorded_calls

pytestmark = needs_compiled_kernels()
unroll_module = sys.modules["rnnlab.nn.unroll"]
T, B, I, H = 6, 3, 4, 5


@pytest.fixture
def fused_calls(monkeypatch):
    """The fused sequences the layer-norm cell ran (each its outputs, or None where it stepped)."""
    return recorded_calls(monkeypatch, cells_module, "layer_norm_lstm_sequence")


def _randomised_cell(input_size: int = I, hidden_size: int = H, **kwargs) -> rnnlab.LayerNormLSTMCell:
    """A float64 cell whose layer norms are not at identity, so that their gradients matter."""
    cell = rnnlab.LayerNormLSTMCell(input_size, hidden_size, **{"dtype": torch.float64, **kwargs})
    with torch.no_grad():
        for parameter in cell.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return cell


def test_gradcheck_of_every_input_and_the_layer_norms():
    torch.manual_seed(0)
    cell = _randomised_cell()
    norms = cell.ln_ih, cell.ln_hh, cell.ln_c
    x = torch.randn(4, 2, 4 * H, dtype=torch.float64, requires_grad=True)
    h0, c0 = (torch.randn(2, H, dtype=torch.float64, requires_grad=True) for _ in range(2))
    parameters = [cell.weight_hh, cell.bias, *(p for norm in norms for p in (norm.weight, norm.bias))]

    def sequence(x, h0, c0, weight, bias, *affine):
        for k, norm in enumerate(norms):
            norm.weight, norm.bias = affine[2 * k], affine[2 * k + 1]
        return layer_norm_lstm_sequence(x, h0, c0, weight, bias, *norms)

    inputs = [x, h0, c0, *(p.detach().clone().requires_grad_() for p in parameters)]
    for norm in norms:  # plain attributes during the check
        del norm.weight, norm.bias
    assert torch.autograd.gradcheck(sequence, inputs)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_equals_the_stepped_cell_with_lengths_and_initial_state(fused_calls, monkeypatch, bidirectional):
    torch.manual_seed(1)
    layer = rnnlab.Recurrent(_randomised_cell, I, H, num_layers=2, bidirectional=bidirectional, engine="unrolled")
    directions = 2 if bidirectional else 1
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    hx = tuple(torch.randn(2 * directions, B, H, dtype=torch.float64, requires_grad=True) for _ in range(2))
    lengths = torch.tensor([T, 2, 4])
    results = []
    for fuse in (True, False):
        monkeypatch.setattr(unroll_module, "_may_fuse", lambda x, fuse=fuse: fuse)
        out, (h_n, c_n) = layer(x, hx, lengths=lengths)
        loss = out.sin().sum() + (h_n * 1.5).cos().sum() + c_n.square().sum()
        results.append([out, h_n, c_n, *torch.autograd.grad(loss, [x, *hx, *layer.parameters()])])
    assert_close(results[0], results[1], "fused vs stepped layer-norm LSTM")
    assert len(fused_calls) == 2 * directions and all(call is not None for call in fused_calls)


def test_float32_fused_is_as_close_to_float64_as_stepped_with_the_onednn_product(monkeypatch):
    # B * 4H * H >= 2**21: the recurrent products run through oneDNN with the weight packed (where available).
    # The layer norms divide by standard deviations of the recurrent product; float32 rounding differs between
    # the two paths by a few ulps that those divisions enlarge, so each is held to the float64 result instead.
    torch.manual_seed(2)
    layer = rnnlab.Recurrent(rnnlab.LayerNormLSTMCell, 16, 128, engine="unrolled")
    x = torch.randn(20, 32, 16)
    results = {}
    for name, fuse, dtype in (("fused", True, torch.float32), ("stepped", False, torch.float32),
                              ("float64", False, torch.float64)):
        monkeypatch.setattr(unroll_module, "_may_fuse", lambda x, fuse=fuse: fuse)
        copy, x_copy = copy_module.deepcopy(layer).to(dtype), x.to(dtype).requires_grad_()
        out, (h_n, c_n) = copy(x_copy)
        grads = torch.autograd.grad(out.sin().sum() + c_n.sum(), [x_copy, *copy.parameters()])
        results[name] = [out, h_n, c_n, *grads]
    for name in ("fused", "stepped"):
        for got, exact in zip(results[name], results["float64"]):
            assert (got.double() - exact).abs().max() <= 2e-5 * exact.abs().max(), name


def test_regularisers_traces_and_other_dtypes_step(fused_calls):
    torch.manual_seed(3)
    x = torch.randn(T, B, I, dtype=torch.float64)
    for options in ({"zoneout": 0.2}, {"recurrent_dropout": 0.3}):
        layer = rnnlab.Recurrent(rnnlab.LayerNormLSTMCell, I, H, engine="unrolled", dtype=torch.float64, **options)
        layer.train()(x)
    layer = rnnlab.Recurrent(rnnlab.LayerNormLSTMCell, I, H, engine="unrolled", dtype=torch.float64)
    layer.trace(x)
    assert fused_calls == []  # the cell steps with a regulariser, and under a trace
    layer.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert fused_calls == [None]  # asked, and declined: the kernels take float32 and float64


def test_without_the_compiled_kernels_the_cell_steps(fused_calls, monkeypatch):
    monkeypatch.setattr(fused_module, "compiled_kernels", lambda: None)
    layer = rnnlab.Recurrent(rnnlab.LayerNormLSTMCell, I, H, engine="unrolled", dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, _ = layer(x)
    assert fused_calls == [None] and out.shape == (T, B, H)

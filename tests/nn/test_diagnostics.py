"""Diagnostics on hand-checkable cases, the memory tasks, the grid and the report."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.models import SequenceTagger
from rnnlab.nn.diagnostics import gate_statistics, gradient_flow, jacobian_norms, recording

T, B, H = 12, 3, 4


class LinearCell(rnnlab.Cell):
    """h_t = W h_{t-1} + x_t: every Jacobian is W."""

    def __init__(self, input_size: int, hidden_size: int, weight: torch.Tensor) -> None:
        super().__init__()
        self.input_size, self.state_sizes = input_size, (hidden_size,)
        self.weight = nn.Parameter(weight)

    def step(self, x, state):
        return (x + state[0] @ self.weight.T,), ()


def _scaled_rotation(rho: float) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(H, H, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    return rho * q


@pytest.mark.parametrize("rho", [0.5, 1.0, 1.3])
def test_gradient_flow_of_a_linear_rnn_follows_its_spectral_radius(rho):
    """With W = rho Q (Q orthogonal) and a loss on the last state only, dL/dh_t = (W^T)^(T-1-t) dL/dh_T,
    so ||dL/dh_t|| = rho^(T-1-t) ||dL/dh_T|| exactly."""
    layer = rnnlab.Recurrent(lambda i, h: LinearCell(i, h, _scaled_rotation(rho)), H, H, batch_first=True)
    x = torch.randn(B, T, H, dtype=torch.float64)
    target = torch.randn(B, H, dtype=torch.float64)
    (flow,) = gradient_flow(layer, lambda: (layer(x)[0][:, -1] * target).sum())
    expected = torch.tensor([rho ** (T - 1 - t) for t in range(T)], dtype=torch.float64)
    assert torch.allclose(flow.ratio, expected, rtol=1e-10, atol=0)
    assert flow.norms[-1].item() == pytest.approx(target.norm().item(), rel=1e-12)


@pytest.mark.parametrize("rho", [0.5, 1.3])
def test_jacobian_norms_of_a_linear_rnn_are_its_spectral_radius_and_powers(rho):
    cell = LinearCell(H, H, _scaled_rotation(rho))
    norms = jacobian_norms(cell, torch.randn(T, B, H, dtype=torch.float64))
    assert torch.allclose(norms.step, torch.full((T, B), rho, dtype=torch.float64), rtol=1e-10)
    powers = torch.tensor([rho ** (t + 1) for t in range(T)], dtype=torch.float64)[:, None].expand(T, B)
    assert torch.allclose(norms.product, powers, rtol=1e-9)


def test_zero_recurrent_weights_let_no_gradient_reach_back():
    layer = rnnlab.RNN(3, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        layer.weight_hh_l0.zero_()
    x = torch.randn(B, T, 3, dtype=torch.float64)
    (flow,) = gradient_flow(layer, lambda: layer(x)[0][:, -1].sum())
    assert flow.norms[-1] > 0 and flow.norms[:-1].eq(0).all()
    assert jacobian_norms(layer.cells()[0], x.transpose(0, 1)).step.eq(0).all()


def test_an_lstm_whose_forget_gate_is_one_keeps_its_memory_and_gradient():
    """f = 1, i = 0, no recurrent weights: c_t = c_0 for ever, so dh_T/dc_0 does not decay with T and the
    running Jacobian product keeps norm >= 1; the trace shows the forget gate saturated at every step."""
    layer = rnnlab.LSTM(3, H, dtype=torch.float64)
    with torch.no_grad():
        layer.weight_hh_l0.zero_()
        layer.bias_ih_l0.zero_(), layer.bias_hh_l0.zero_()
        layer.bias_ih_l0[H:2 * H] = 50.0  # forget gate = 1 to double precision
        layer.bias_ih_l0[:H] = -50.0  # input gate = 0
    x = torch.randn(T, 1, 3, dtype=torch.float64)
    c0 = torch.randn(1, 1, H, dtype=torch.float64, requires_grad=True)
    h0 = torch.zeros(1, 1, H, dtype=torch.float64)
    gradients = []
    for steps in (1, T):
        output, _ = layer(x[:steps], (h0, c0))
        (grad,) = torch.autograd.grad(output[-1].sum(), c0)
        gradients.append(grad)
        o = torch.sigmoid(x[steps - 1] @ layer.weight_ih_l0[3 * H:].T)
        assert torch.allclose(grad[0], o * (1 - torch.tanh(c0[0]) ** 2), rtol=1e-12)
    assert gradients[1].abs().min() > 0
    norms = jacobian_norms(layer.cells()[0], x, (h0[0], c0[0].detach()))
    assert (norms.product >= 1 - 1e-12).all()
    _, _, (trace,) = layer.trace(x)
    stats = gate_statistics(trace)
    assert stats["f"].saturated_high.eq(1).all() and stats["i"].saturated_low.eq(1).all()


def test_recording_finds_every_layer_and_direction_of_a_task_model():
    model = SequenceTagger(20, 10, 5, word_embedding_size=6, char_embedding_size=4, char_hidden_size=5,
                           hidden_size=7).eval()
    words = torch.randint(2, 20, (2, 6))
    chars = torch.randint(1, 10, (2, 6, 3))
    lengths = torch.tensor([6, 4])
    with recording(model) as records:
        model(words, chars, lengths)
    names = [r.name for r in records]
    assert names == ["char_encoder.layer/l0", "char_encoder.layer/l0_reverse", "encoder/l0", "encoder/l0_reverse",
                     "encoder/l1", "encoder/l1_reverse"]
    assert records[4].inputs.shape == (6, 2, 14)  # the first layer's outputs, both directions
    flows = gradient_flow(model, lambda: model(words, chars, lengths).logsumexp(-1)[:, 0].sum())
    assert len(flows) == 6 and all(torch.isfinite(f.norms).all() for f in flows)
    assert model.encoder._recorder is None  # recording ends with the block
    with pytest.raises(ValueError, match="no rnnlab recurrent layer"):
        with recording(nn.Linear(2, 2)):
            pass

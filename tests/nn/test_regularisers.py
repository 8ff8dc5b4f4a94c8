"""Weight-drop (DropConnect on the recurrent matrices, on the native kernel) and zoneout: off, they are
the plain layer exactly; in evaluation, the identity and the expectation; in training, what they say."""

from __future__ import annotations

import pytest
import torch

import rnnlab
import rnnlab.nn.layers as layers
from tests.helpers import twin_layers


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_at_zero_both_are_the_plain_layer_exactly(kind):
    reference, _ = twin_layers(kind, 3, 5, num_layers=2, bidirectional=True)
    ours = rnnlab.RNN if kind == "rnn_tanh" else getattr(rnnlab, kind.upper())
    torch.manual_seed(7)
    ours = ours(3, 5, num_layers=2, bidirectional=True, dtype=torch.float64, weight_drop=0.0, zoneout=0.0)
    x = torch.randn(7, 2, 3, dtype=torch.float64)
    (expected, _), (got, _) = reference(x), ours(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)
    grads = [torch.autograd.grad(out.sin().sum(), list(m.parameters())) for out, m in
             ((expected, reference), (got, ours))]
    for theirs, mine in zip(*grads):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_in_evaluation_weight_drop_is_the_identity(kind):
    reference, _ = twin_layers(kind, 3, 5)
    torch.manual_seed(7)
    ours = getattr(rnnlab, kind.upper())(3, 5, dtype=torch.float64, weight_drop=0.5).eval()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], reference(x)[0], rtol=0, atol=1e-10)


def test_weight_drop_hands_the_native_kernel_the_dropped_matrix_and_the_gradient_reaches_the_raw_one(monkeypatch):
    torch.manual_seed(0)
    lstm = rnnlab.LSTM(3, 64, dtype=torch.float64, weight_drop=0.25)
    seen = []
    kernel = layers._NATIVE_KERNELS["LSTM"]
    monkeypatch.setitem(layers._NATIVE_KERNELS, "LSTM", lambda x, hx, weights, *rest: seen.append(weights) or
                        kernel(x, hx, weights, *rest))
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    out, _ = lstm(x)
    (weights,) = seen
    names = lstm._flat_weights_names
    dropped, raw = weights[names.index("weight_hh_l0")], lstm.weight_hh_l0
    kept = dropped != 0
    assert abs(1 - kept.double().mean().item() - 0.25) < 0.02  # 16,384 draws: 5 sigma is 0.017
    torch.testing.assert_close(dropped[kept], raw[kept] / 0.75, rtol=0, atol=1e-12)
    assert weights[names.index("weight_ih_l0")] is lstm.weight_ih_l0  # the input weights are not dropped
    out.sum().backward()
    assert torch.all(raw.grad[~kept] == 0) and torch.count_nonzero(raw.grad[kept]) > 0.9 * kept.sum()
    again, _ = lstm(x)  # a fresh mask per call
    assert not torch.equal(seen[1][names.index("weight_hh_l0")] != 0, kept)

    reference = torch.nn.LSTM(3, 64, dtype=torch.float64)  # the output is the plain LSTM's with that matrix
    with torch.no_grad():
        for name, value in zip(names, weights):
            getattr(reference, name).copy_(value)
    torch.testing.assert_close(out, reference(x)[0], rtol=0, atol=1e-10)


def test_zoneout_keeps_each_unit_with_its_probability_in_training():
    torch.manual_seed(0)
    layer = rnnlab.GRU(4, 64, zoneout=0.3)
    out, _ = layer(torch.randn(50, 32, 4))
    held = (out[1:] == out[:-1]).double().mean().item()  # 100,352 draws: 5 sigma is 0.0072
    assert abs(held - 0.3) < 0.0072
    torch.manual_seed(1)
    lstm = rnnlab.LSTM(4, 64, zoneout=0.3)
    _, _, traces = lstm.trace(torch.randn(50, 32, 4))
    cells = traces[0].states[1]
    assert abs((cells[1:] == cells[:-1]).double().mean().item() - 0.3) < 0.0072  # the memory cell too


def test_zoneout_in_evaluation_is_the_expectation_step_by_step():
    torch.manual_seed(0)
    layer = rnnlab.LSTM(3, 5, zoneout=0.4, dtype=torch.float64).eval()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    out, (h_n, c_n) = layer(x)
    cell = layer.cells()[0]
    h = c = torch.zeros(2, 5, dtype=torch.float64)
    for t in range(6):
        (h_new, c_new), _ = cell.step(cell.project_input(x[t]), (h, c))
        h, c = 0.4 * h + 0.6 * h_new, 0.4 * c + 0.6 * c_new
        torch.testing.assert_close(out[t], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_n[0], c, rtol=0, atol=1e-12)


def test_bad_values_are_refused_by_name():
    with pytest.raises(ValueError, match=r"LSTM: weight_drop must be a probability in \[0, 1\), got 1.5"):
        rnnlab.LSTM(3, 4, weight_drop=1.5)
    with pytest.raises(ValueError, match=r"GRU: zoneout must be a probability in \[0, 1\), got -0.1"):
        rnnlab.GRU(3, 4, zoneout=-0.1)
    with pytest.raises(ValueError, match="weight_drop=0.2 drops recurrent weights .* MinLSTMCell has none"):
        rnnlab.MinLSTM(3, 4, weight_drop=0.2)

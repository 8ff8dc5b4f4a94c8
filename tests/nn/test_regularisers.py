"""Recurrent dropout, zoneout and weight-drop (DropConnect on the recurrent matrices, on the native kernel):
off, they are the plain layer exactly; in evaluation, the identity (recurrent dropout, weight-drop) and the
expectation (zoneout); in training, what they say."""

from __future__ import annotations

import copy
import io

import pytest
import torch

import rnnlab
import rnnlab.nn.layers as layers
from tests.helpers import twin_layers


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_at_zero_all_three_are_the_plain_layer_exactly(kind):
    reference, _ = twin_layers(kind, 3, 5, num_layers=2, bidirectional=True)
    ours = rnnlab.RNN if kind == "rnn_tanh" else getattr(rnnlab, kind.upper())
    torch.manual_seed(7)
    ours = ours(3, 5, num_layers=2, bidirectional=True, dtype=torch.float64, weight_drop=0.0, zoneout=0.0,
                recurrent_dropout=0.0)
    x = torch.randn(7, 2, 3, dtype=torch.float64)
    (expected, _), (got, _) = reference(x), ours(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)
    grads = [torch.autograd.grad(out.sin().sum(), list(m.parameters())) for out, m in
             ((expected, reference), (got, ours))]
    for theirs, mine in zip(*grads):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-10)


@pytest.mark.parametrize("option", ["weight_drop", "recurrent_dropout"])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_in_evaluation_weight_drop_and_recurrent_dropout_are_the_identity(kind, option):
    reference, _ = twin_layers(kind, 3, 5, num_layers=2, bidirectional=True)
    torch.manual_seed(7)
    ours = rnnlab.RNN if kind == "rnn_tanh" else getattr(rnnlab, kind.upper())
    ours = ours(3, 5, num_layers=2, bidirectional=True, dtype=torch.float64, **{option: 0.5}).eval()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 3])
    torch.testing.assert_close(ours(x)[0], reference(x)[0], rtol=0, atol=1e-10)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths)
    torch.testing.assert_close(ours(packed)[0].data, reference(packed)[0].data, rtol=0, atol=1e-10)


def test_recurrent_dropout_draws_one_mask_per_sequence_the_same_at_every_step():
    # A relu RNN with W_hh = I and no input: h_t = relu(h_{t-1} * m) = m^t from h_0 = 1, so a unit dropped at
    # any step stays 0 and a kept one grows as (1 / (1 - p))^t only if the mask is the same at every step.
    torch.manual_seed(0)
    layer = rnnlab.RNN(2, 32, nonlinearity="relu", bias=False, dtype=torch.float64, recurrent_dropout=0.25)
    with torch.no_grad():
        layer.weight_ih_l0.zero_()
        layer.weight_hh_l0.copy_(torch.eye(32))
    out, _ = layer(torch.zeros(6, 64, 2, dtype=torch.float64), torch.ones(1, 64, 32, dtype=torch.float64))
    kept = out[0] != 0
    for t in range(6):
        torch.testing.assert_close(out[t], kept.double() * (1 / 0.75) ** (t + 1), rtol=1e-12, atol=0)
    assert abs(1 - kept.double().mean().item() - 0.25) < 0.048  # 2,048 draws: 5 sigma is 0.048
    assert len({tuple(row.tolist()) for row in kept}) > 60  # the 64 sequences draw their own masks
    again, _ = layer(torch.zeros(6, 64, 2, dtype=torch.float64), torch.ones(1, 64, 32, dtype=torch.float64))
    assert not torch.equal(again[0] != 0, kept)  # and a fresh draw per call


def test_recurrent_dropout_of_a_gru_drops_only_what_enters_the_recurrent_matrix():
    torch.manual_seed(3)
    gru = rnnlab.GRU(3, 8, dtype=torch.float64, recurrent_dropout=0.5)
    x, h0 = torch.randn(5, 4, 3, dtype=torch.float64), torch.randn(1, 4, 8, dtype=torch.float64)
    torch.manual_seed(11)
    out, h_n = gru(x, h0)
    torch.manual_seed(11)  # the same draw: one mask (B, H) for the layer's one direction
    mask = torch.nn.functional.dropout(torch.ones(4, 8, dtype=torch.float64), 0.5, training=True)
    w_ih, w_hh, b_ih, b_hh = gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
    h = h0[0]
    for t in range(5):  # Gal & Ghahramani's GRU: W_h* (h * m) inside the gates, the plain h carried
        gi, gh = x[t] @ w_ih.T + b_ih, (h * mask) @ w_hh.T + b_hh
        r = torch.sigmoid(gi[:, :8] + gh[:, :8])
        z = torch.sigmoid(gi[:, 8:16] + gh[:, 8:16])
        n = torch.tanh(gi[:, 16:] + r * gh[:, 16:])
        h = (1 - z) * n + z * h
        torch.testing.assert_close(out[t], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n[0], h, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_recurrent_dropout_never_drops_the_memory_a_cell_carries(kind):
    # Gates pinned so that the memory is carried unchanged (GRU z = 1; LSTM f = 1, i = 0): dropping the
    # recurrent input must leave it exactly as it was.
    layer = getattr(rnnlab, kind.upper())(3, 16, dtype=torch.float64, recurrent_dropout=0.5)
    hidden = 16
    with torch.no_grad():
        layer.bias_ih_l0.zero_()
        block = slice(hidden, 2 * hidden)  # GRU z / LSTM f
        layer.bias_ih_l0[block] = 1e3
        if kind == "lstm":
            layer.bias_ih_l0[:hidden] = -1e3  # i = 0
    x = torch.randn(7, 5, 3, dtype=torch.float64)
    if kind == "gru":
        h0 = torch.randn(1, 5, hidden, dtype=torch.float64)
        _, h_n = layer(x, h0)
        torch.testing.assert_close(h_n, h0, rtol=0, atol=1e-12)
    else:
        h0, c0 = torch.randn(1, 5, hidden, dtype=torch.float64), torch.randn(1, 5, hidden, dtype=torch.float64)
        _, (_, c_n) = layer(x, (h0, c0))
        torch.testing.assert_close(c_n, c0, rtol=0, atol=1e-12)


def test_recurrent_dropout_trains_through_the_unrolled_engine_and_evaluates_on_the_native_one(monkeypatch):
    calls, real = [], layers.unroll
    monkeypatch.setattr(layers, "unroll", lambda *a, **k: calls.append(k) or real(*a, **k))
    lstm = rnnlab.LSTM(3, 4, recurrent_dropout=0.3)
    lstm(torch.randn(5, 2, 3))
    assert calls and calls[0]["recurrent_dropout"] == 0.3 and calls[0]["training"]
    calls.clear()
    lstm.eval()(torch.randn(5, 2, 3))
    assert not calls


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
    with pytest.raises(ValueError, match="recurrent_dropout=0.2 drops h_.t-1. where it enters the recurrent matrices, "
                                         "and MinGRUCell has none"):
        rnnlab.MinGRU(3, 4, recurrent_dropout=0.2)
    for bad in (1.0, "0.1", True, float("nan")):
        with pytest.raises(ValueError, match=r"RNN: recurrent_dropout must be a probability in \[0, 1\)"):
            rnnlab.RNN(3, 4, recurrent_dropout=bad)
    layer = rnnlab.GRU(3, 4)
    with pytest.raises(ValueError, match=r"GRU: zoneout must be a probability"):
        layer.regularise(zoneout=1.0)
    assert layer.regularise(recurrent_dropout=0.2).recurrent_dropout == 0.2 and layer.zoneout == 0.0


def test_a_layer_copies_and_pickles_after_a_weight_drop_training_step():
    # the training step bound the cells to the dropped matrix, a tensor of the graph (no deepcopy of its own)
    torch.manual_seed(0)
    layer = rnnlab.Recurrent(rnnlab.GRUCell, 3, 8, engine="unrolled", weight_drop=0.3).train()
    layer(torch.randn(5, 2, 3))[0].sum().backward()
    twin = copy.deepcopy(layer).eval()
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False).eval()
    x = torch.randn(4, 3, 3)
    expected = layer.eval()(x)[0]
    assert torch.equal(twin(x)[0], expected) and torch.equal(loaded(x)[0], expected)

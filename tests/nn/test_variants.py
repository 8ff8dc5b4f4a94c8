"""The gated variants (peephole LSTM, layer-norm GRU, MGU): each step against its equations written out by
hand, the peephole LSTM against torch.nn's LSTM with its peepholes at zero, and each through the layer
(both directions, lengths, gradcheck, recurrent dropout that never drops the carried memory)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.models import recurrent_layer
from tests.helpers import assert_close

B, I, H = 3, 4, 5
VARIANTS = {"peephole": rnnlab.PeepholeLSTMCell, "ln-gru": rnnlab.LayerNormGRUCell, "mgu": rnnlab.MGUCell}


def _randomised(cell: rnnlab.Cell) -> rnnlab.Cell:
    with torch.no_grad():
        for p in cell.parameters():
            p.normal_()
    return cell


def _ln(v, norm):
    mean, var = v.mean(-1, keepdim=True), v.var(-1, unbiased=False, keepdim=True)
    return (v - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def test_peephole_lstm_step_follows_its_equations():
    torch.manual_seed(0)
    cell = _randomised(rnnlab.PeepholeLSTMCell(I, H, dtype=torch.float64))
    x, h, c = (torch.randn(B, n, dtype=torch.float64) for n in (I, H, H))
    pre = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    i, f, g, o = pre.chunk(4, dim=1)
    i, f = torch.sigmoid(i + cell.weight_ci * c), torch.sigmoid(f + cell.weight_cf * c)
    c_expected = f * c + i * torch.tanh(g)
    h_expected = torch.sigmoid(o + cell.weight_co * c_expected) * torch.tanh(c_expected)
    assert_close(list(cell(x, (h, c))), [h_expected, c_expected], "peephole step")


def test_peephole_lstm_without_its_peepholes_is_torch_nn_lstm_outputs_and_gradients():
    torch.manual_seed(1)
    reference = nn.LSTM(I, H, num_layers=2, bidirectional=True, dtype=torch.float64)
    ours = rnnlab.Recurrent(rnnlab.PeepholeLSTMCell, I, H, num_layers=2, bidirectional=True, dtype=torch.float64)
    with torch.no_grad():
        for name, p in ours.named_parameters():
            p.copy_(getattr(reference, name) if hasattr(reference, name) else torch.zeros_like(p))
    x = torch.randn(6, B, I, dtype=torch.float64)
    packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor([6, 2, 4]), enforce_sorted=False)
    (expected, (h, c)), (got, (h2, c2)) = reference(packed), ours(packed)
    assert_close([got.data, h2, c2], [expected.data, h, c], "outputs")
    grads = [torch.autograd.grad(out.data.sin().sum(), [getattr(m, n) for n, _ in reference.named_parameters()])
             for out, m in ((expected, reference), (got, ours))]
    assert_close(grads[1], grads[0], "gradients")


def test_peephole_lstm_draws_torch_nn_lstm_cells_initial_weights_from_the_same_seed():
    torch.manual_seed(5)
    reference = nn.LSTMCell(I, H)
    torch.manual_seed(5)
    ours = rnnlab.PeepholeLSTMCell(I, H)
    for name, p in reference.named_parameters():
        assert torch.equal(getattr(ours, name), p)
    bound = H ** -0.5
    assert all(p.abs().max() <= bound for p in (ours.weight_ci, ours.weight_cf, ours.weight_co))


def test_layer_norm_gru_step_follows_its_equations():
    torch.manual_seed(2)
    cell = _randomised(rnnlab.LayerNormGRUCell(I, H, dtype=torch.float64))
    x, h = torch.randn(B, I, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    a = _ln(x @ cell.weight_ih.T, cell.ln_ih) + cell.bias
    u = _ln(h @ cell.weight_hh.T, cell.ln_hh)
    r, z = torch.sigmoid(a[:, :H] + u[:, :H]), torch.sigmoid(a[:, H:2 * H] + u[:, H:2 * H])
    n = torch.tanh(a[:, 2 * H:] + r * u[:, 2 * H:])
    assert_close(cell(x, h), (1 - z) * n + z * h, "layer-norm GRU step")


def test_mgu_step_follows_its_equations():
    torch.manual_seed(3)
    cell = _randomised(rnnlab.MGUCell(I, H, dtype=torch.float64))
    x, h = torch.randn(B, I, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    gi, w_hf, w_hn = x @ cell.weight_ih.T + cell.bias_ih, cell.weight_hh[:H], cell.weight_hh[H:]
    f = torch.sigmoid(gi[:, :H] + h @ w_hf.T + cell.bias_hh[:H])
    n = torch.tanh(gi[:, H:] + (f * h) @ w_hn.T + cell.bias_hh[H:])
    assert_close(cell(x, h), (1 - f) * h + f * n, "MGU step")
    assert sum(p.numel() for p in rnnlab.MGUCell(I, H).parameters()) * 3 == \
        sum(p.numel() for p in nn.GRUCell(I, H).parameters()) * 2


@pytest.mark.parametrize("name", VARIANTS)
def test_each_variant_stacks_runs_both_directions_and_takes_lengths(name):
    torch.manual_seed(4)
    layer = rnnlab.Recurrent(VARIANTS[name], I, H, num_layers=2, bidirectional=True, batch_first=True,
                             dtype=torch.float64)
    x, lengths = torch.randn(B, 6, I, dtype=torch.float64), torch.tensor([6, 2, 4])
    out, h_n = layer(x, lengths=lengths)
    assert out.shape == (B, 6, 2 * H)
    h_n = h_n if isinstance(h_n, torch.Tensor) else h_n[0]
    for b in range(B):  # each sequence alone, cut to its length, as in the padded batch
        alone, h_alone = layer(x[b : b + 1, : lengths[b]])
        h_alone = h_alone if isinstance(h_alone, torch.Tensor) else h_alone[0]
        assert_close([alone[0], h_alone[:, 0]], [out[b, : lengths[b]], h_n[:, b]], f"sequence {b}")
    assert torch.all(out[1, 2:] == 0)
    _, _, traces = layer.trace(x, lengths=lengths)
    assert set(traces[0].gates) == set(VARIANTS[name].gate_names)
    single = rnnlab.Recurrent(VARIANTS[name], I, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda inp: single(inp, lengths=torch.tensor([3, 1]))[0],
                                    torch.randn(3, 2, I, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("name", ["ln-gru", "mgu"])
def test_recurrent_dropout_never_drops_what_a_variant_carries(name):
    layer = rnnlab.Recurrent(VARIANTS[name], I, 16, dtype=torch.float64, recurrent_dropout=0.5)
    with torch.no_grad():  # pin the gates that carry the state: the GRU's z = 1, the MGU's f = 0
        if name == "ln-gru":
            layer.bias_l0[16:32] = 1e3
        else:
            layer.bias_ih_l0[:16] = -1e3
    h0 = torch.randn(1, 5, 16, dtype=torch.float64)
    _, h_n = layer(torch.randn(7, 5, I, dtype=torch.float64), h0)
    torch.testing.assert_close(h_n, h0, rtol=0, atol=1e-12)


def test_variants_are_cells_of_the_registry_and_refuse_bad_sizes():
    for name, cell in (("lstm-peephole", rnnlab.PeepholeLSTMCell), ("gru-ln", rnnlab.LayerNormGRUCell),
                       ("mgu", rnnlab.MGUCell), ("lstm-ln", rnnlab.LayerNormLSTMCell)):
        layer = recurrent_layer(name, I, H, 2, bidirectional=True)
        assert isinstance(layer.cells()[0], cell)
        out, _ = layer(torch.randn(B, 6, I))
        assert out.shape == (B, 6, 2 * H)
    with pytest.raises(ValueError, match="MGUCell: hidden_size must be positive, got 0"):
        rnnlab.MGUCell(3, 0)
    with pytest.raises(TypeError, match="PeepholeLSTMCell: input_size must be an int, got float 3.0"):
        rnnlab.PeepholeLSTMCell(3.0, 4)

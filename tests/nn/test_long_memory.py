"""The cells built for long memory: each step against its equations, each initialisation against its
paper, the orthogonal matrix kept orthogonal, and its gradient kept whole through time."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import rnnlab
from rnnlab.models import recurrent_layer
from rnnlab.nn.diagnostics import gradient_flow
from rnnlab.nn.long_memory import chrono_biases, henaff_skew_, modrelu, skew

TOLERANCE = 1e-12


def _inputs(batch=3, features=4, steps=6):
    return torch.randn(steps, batch, features, dtype=torch.float64)


def test_janet_step_is_its_equation():
    cell = rnnlab.JANETCell(4, 5, t_max=50, beta=1.0, dtype=torch.float64)
    x, h = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    w_s, w_c = cell.weight_ih.split(5)
    u_s, u_c = cell.weight_hh.split(5)
    b_s, b_c = cell.bias.split(5)
    s = x @ w_s.T + h @ u_s.T + b_s
    candidate = torch.tanh(x @ w_c.T + h @ u_c.T + b_c)
    expected = torch.sigmoid(s) * h + (1 - torch.sigmoid(s - 1.0)) * candidate
    torch.testing.assert_close(cell(x, h), expected, rtol=0, atol=TOLERANCE)


def test_janet_is_chrono_initialised_with_orthogonal_recurrent_weights():
    cell = rnnlab.JANETCell(4, 200, t_max=400, dtype=torch.float64)
    forget, candidate = cell.bias.detach().split(200)
    assert forget.min() >= 0 and forget.max() <= math.log(399) and candidate.abs().max() == 0
    assert forget.max() > math.log(399) - 0.1 and forget.min() < 3.0  # spread over the whole range
    for block in cell.weight_hh.detach().split(200):
        torch.testing.assert_close(block.T @ block, torch.eye(200, dtype=torch.float64), rtol=0, atol=1e-10)


def test_chrono_init_sets_forget_biases_in_range_and_input_biases_to_their_negatives():
    layer = rnnlab.chrono_init_(rnnlab.LSTM(3, 64, num_layers=2, dtype=torch.float64), t_max=1000)
    for k in (0, 1):
        b_ih, b_hh = getattr(layer, f"bias_ih_l{k}").detach(), getattr(layer, f"bias_hh_l{k}").detach()
        forget = (b_ih + b_hh)[64:128]
        assert 0 <= forget.min() and forget.max() <= math.log(999)
        torch.testing.assert_close((b_ih + b_hh)[:64], -forget, rtol=0, atol=0)
        assert b_hh[:128].abs().max() == 0
    # log U[1, T-1]: the median of u is T/2, so half the units keep memory longer than T/2 steps
    many = chrono_biases(100_000, 1000, torch.Generator().manual_seed(0))
    assert abs(many.exp().median().item() - 500) < 10
    with pytest.raises(ValueError, match="t_max > 2"):
        chrono_biases(4, 2)


def test_indrnn_step_is_its_equation_and_the_bound_holds_in_the_forward_pass():
    cell = rnnlab.IndRNNCell(4, 5, max_abs=1.01, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_hh.copy_(torch.tensor([0.5, -2.0, 1.5, 1.0, -0.2], dtype=torch.float64))
    x, h = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    bounded = torch.tensor([0.5, -1.01, 1.01, 1.0, -0.2], dtype=torch.float64)
    expected = torch.relu(x @ cell.weight_ih.T + cell.bias_ih + bounded * h)
    torch.testing.assert_close(cell(x, h), expected, rtol=0, atol=TOLERANCE)


def test_indrnn_is_initialised_as_the_paper():
    layer = recurrent_layer("indrnn", 2, 4096, num_layers=2, timescale=1000)
    u, w = layer.weight_hh_l0.detach(), layer.weight_ih_l0.detach()
    bound = 2 ** (1 / 1000)
    assert layer.cells()[0].max_abs == pytest.approx(bound)
    assert 0 <= u.min() and u.max() <= bound and abs(u.mean().item() - bound / 2) < 0.02
    assert abs(w.std().item() - 1e-3) < 5e-5 and layer.bias_ih_l0.detach().abs().max() == 0
    last = layer.weight_hh_l1.detach()  # the last layer keeps its memory over the sequence from the start
    assert last.min() >= 1 / bound and last.max() <= bound and last.std() > 0


def test_orthogonal_matrix_is_henaff_at_first_and_stays_orthogonal_under_training():
    torch.manual_seed(0)
    layer = recurrent_layer("orthogonal", 3, 16).double()
    cell = layer.cells()[0]
    generator = layer.log_weight_hh_l0.detach().clone()
    assert torch.count_nonzero(generator) == 8  # one angle per pair of units, on the superdiagonal
    assert torch.all(generator.diagonal(1)[1::2] == 0) and generator.diagonal(1).abs().max() <= math.pi
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.5)  # large steps move A far
    for _ in range(20):
        out, _ = layer(torch.randn(4, 10, 3, dtype=torch.float64))
        optimizer.zero_grad()
        out.pow(2).mean().backward()
        optimizer.step()
    weight = layer.cells()[0].weight_hh.detach()
    assert (layer.log_weight_hh_l0.detach() - generator).abs().max() > 0.1
    torch.testing.assert_close(weight.T @ weight, torch.eye(16, dtype=torch.float64), rtol=0, atol=1e-12)
    assert cell is layer.cells()[0]


def test_orthogonal_matrix_stays_orthogonal_in_float32_to_1e_6():
    layer = recurrent_layer("orthogonal", 3, 128)
    optimizer = torch.optim.RMSprop(layer.parameters(), lr=1e-2)
    for _ in range(10):
        out, _ = layer(torch.randn(8, 20, 3))
        optimizer.zero_grad()
        out.sum().backward()
        optimizer.step()
    weight = layer.cells()[0].weight_hh.detach().double()  # the float32 matrix, checked exactly
    assert weight.dtype == torch.float64 and layer.weight_ih_l0.dtype == torch.float32
    assert (weight.T @ weight - torch.eye(128, dtype=torch.float64)).abs().max() < 1e-6


def test_orthogonal_step_is_modrelu_of_the_orthogonal_recurrence():
    cell = rnnlab.OrthogonalCell(4, 6, dtype=torch.float64)
    x, h = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64)
    weight = torch.linalg.matrix_exp(skew(cell.log_weight_hh))
    z = x @ cell.weight_ih.T + cell.bias_ih + h @ weight.T
    torch.testing.assert_close(cell(x, h), torch.sign(z) * torch.relu(z.abs() + cell.bias), rtol=0, atol=TOLERANCE)
    torch.testing.assert_close(modrelu(torch.tensor([-2.0, -0.5, 0.5, 3.0]), torch.tensor(-1.0)),
                               torch.tensor([-1.0, 0.0, 0.0, 2.0]))


def test_the_orthogonal_cell_keeps_the_gradient_norm_at_every_step():
    # With the modReLU bias at 0 the cell is linear, h_t = W h_(t-1) + V x_t, so dL/dh_t = (W^T)^(T-t) dL/dh_T:
    # an orthogonal W keeps its norm exactly, however many steps back.
    layer = recurrent_layer("orthogonal", 3, 10, batch_first=False).double()
    with torch.no_grad():
        layer.bias_l0.zero_()
    x = torch.randn(200, 1, 3, dtype=torch.float64)
    direction = torch.randn(10, dtype=torch.float64)
    (flow,) = gradient_flow(layer, lambda: layer(x)[0][-1, 0] @ direction)
    torch.testing.assert_close(flow.norms, torch.full((200,), direction.norm().item(), dtype=torch.float64),
                               rtol=1e-10, atol=0)
    plain = rnnlab.RNN(3, 10, dtype=torch.float64)  # a tanh RNN's gradient fades instead
    (fading,) = gradient_flow(plain, lambda: plain(x)[0][-1, 0] @ direction)
    assert fading.norms[0] < 1e-3 * fading.norms[-1]


def test_henaff_skew_rotates_pairs_of_units():
    generator = henaff_skew_(torch.empty(5, 5), torch.Generator().manual_seed(1))
    weight = torch.linalg.matrix_exp(skew(generator))
    angle = generator[0, 1]
    torch.testing.assert_close(weight[:2, :2], torch.tensor([[angle.cos(), angle.sin()],
                                                             [-angle.sin(), angle.cos()]]), rtol=0, atol=1e-6)
    assert weight[4, 4] == 1 and weight[4, :4].abs().max() == 0  # an odd unit out is left alone


@pytest.mark.parametrize("name", ["lstm-chrono", "janet", "indrnn", "orthogonal"])
def test_each_long_memory_cell_stacks_runs_both_directions_and_honours_lengths(name):
    layer = recurrent_layer(name, 4, 5, num_layers=2, bidirectional=True, batch_first=False, timescale=50).double()
    x = _inputs(batch=3, steps=7)
    lengths = torch.tensor([7, 4, 2])
    out, _ = layer(x, lengths=lengths)
    assert out.shape == (7, 3, 10) and torch.all(out[4:, 1] == 0) and torch.all(out[2:, 2] == 0)
    alone, _ = layer(x[:4, 1:2])  # a sequence padded in the batch equals the sequence alone
    torch.testing.assert_close(out[:4, 1:2], alone, rtol=0, atol=1e-10)
    trace = layer.trace(x, lengths=lengths)[2]
    assert len(trace) == 4


def test_bad_sizes_and_bounds_are_refused_by_name():
    with pytest.raises(ValueError, match="max_abs must be positive"):
        rnnlab.IndRNNCell(2, 3, max_abs=0.0)
    for cls in (rnnlab.JANETCell, rnnlab.IndRNNCell, rnnlab.OrthogonalCell):
        with pytest.raises(ValueError, match=f"{cls.__name__}: input_size and hidden_size must be positive"):
            cls(2, 0)


def test_an_indrnn_weight_past_its_bound_still_learns_and_training_projects_it_back():
    cell = rnnlab.IndRNNCell(2, 3, max_abs=1.0, dtype=torch.float64)
    with torch.no_grad():
        cell.weight_hh.copy_(torch.tensor([1.5, 3.0, 0.5], dtype=torch.float64))
    h = torch.ones(4, 3, dtype=torch.float64)  # every pre-activation positive: relu passes it
    cell(torch.zeros(4, 2, dtype=torch.float64), h).sum().backward()
    assert torch.all(cell.weight_hh.grad != 0)  # straight through the clip: the gradient is h's
    cell.constrain_()
    assert cell.weight_hh.tolist() == [1.0, 1.0, 0.5]

    from rnnlab.training import TrainingStep
    layer = recurrent_layer("indrnn", 2, 8, num_layers=2, timescale=10)
    step = TrainingStep(layer, torch.optim.SGD(layer.parameters(), lr=100.0))
    step(lambda: -layer(torch.rand(4, 10, 2))[0].sum())  # pushes every u far up
    bound = 2 ** (1 / 10)
    for name in ("weight_hh_l0", "weight_hh_l1"):
        assert getattr(layer, name).abs().max() <= bound


def test_an_orthogonal_cell_copies_after_training_and_a_lone_step_uses_the_updated_matrix():
    import copy

    layer = recurrent_layer("orthogonal", 3, 6).double()
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    layer(torch.randn(2, 5, 3, dtype=torch.float64))[0].sum().backward()
    twin = copy.deepcopy(layer)  # the cached matrix, part of the last graph, is not copied
    optimizer.step()
    cell = layer.cells()[0]
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 6, dtype=torch.float64)
    expected = modrelu(x @ cell.weight_ih.T + cell.bias_ih + h @ torch.linalg.matrix_exp(
        skew(cell.log_weight_hh)).T, cell.bias)
    torch.testing.assert_close(cell.step(cell.project_input(x)[None][0], (h,))[0][0], expected, rtol=0, atol=1e-12)
    with torch.no_grad():
        lone = cell.step(F.linear(x, cell.weight_ih, cell.bias_ih), (h,))[0][0]  # no project_input first
    torch.testing.assert_close(lone, expected.detach(), rtol=0, atol=1e-12)
    assert twin(torch.randn(2, 5, 3, dtype=torch.float64))[0].shape == (2, 5, 6)
    single = layer.float().cells()[0]
    assert single(torch.randn(2, 3)).dtype == torch.float32  # a new dtype: the matrix is recomputed


def test_chrono_init_refuses_a_layer_it_cannot_initialise():
    with pytest.raises(ValueError, match="needs an LSTM with biases, got LSTM without biases"):
        rnnlab.chrono_init_(rnnlab.LSTM(2, 3, bias=False), 10)
    with pytest.raises(ValueError, match="needs an LSTM with biases, got GRU"):
        rnnlab.chrono_init_(rnnlab.GRU(2, 3), 10)

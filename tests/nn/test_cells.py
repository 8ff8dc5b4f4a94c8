"""rnnlab's cell modules are drop-in replacements for torch.nn's, and the cell protocol works for new cells."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import rnnlab
from tests.helpers import assert_close

I, H, B = 4, 5, 3

CELLS = {
    "rnn_tanh": (nn.RNNCell, rnnlab.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNNCell, rnnlab.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTMCell, rnnlab.LSTMCell, {}),
    "gru": (nn.GRUCell, rnnlab.GRUCell, {}),
}


def _twins(kind: str, bias: bool = True):
    ref_cls, our_cls, extra = CELLS[kind]
    torch.manual_seed(3)
    reference = ref_cls(I, H, bias=bias, dtype=torch.float64, **extra)
    torch.manual_seed(3)
    ours = our_cls(I, H, bias=bias, dtype=torch.float64, **extra)
    return reference, ours


def _as_list(result):
    return list(result) if isinstance(result, tuple) else [result]


@pytest.mark.parametrize("kind,bias,batched,given_state",
                         list(itertools.product(CELLS, (True, False), (True, False), (True, False))))
def test_cell_step_matches_torch_nn_values_and_gradients(kind, bias, batched, given_state):
    reference, ours = _twins(kind, bias)
    shape = (B,) if batched else ()
    n_state = 2 if kind == "lstm" else 1
    x0 = torch.randn(*shape, I, dtype=torch.float64)
    h0 = [torch.randn(*shape, H, dtype=torch.float64) for _ in range(n_state)] if given_state else None
    outputs, grads = [], []
    for module in (reference, ours):
        x = x0.clone().requires_grad_(True)
        hx = [h.clone().requires_grad_(True) for h in h0] if h0 is not None else None
        result = _as_list(module(x, (hx[0] if n_state == 1 else tuple(hx)) if hx is not None else None))
        weights = torch.Generator().manual_seed(1)
        loss = sum((r * torch.randn(r.shape, generator=weights, dtype=r.dtype)).sum() for r in result)
        grads.append(torch.autograd.grad(loss, [x, *(hx or []), *module.parameters()]))
        outputs.append(result)
    assert outputs[1][0].shape == (*shape, H)
    assert_close(outputs[1], outputs[0], "outputs")
    assert_close(grads[1], grads[0], "gradients")


@pytest.mark.parametrize("kind", CELLS)
def test_stepping_a_cell_by_hand_over_a_sequence_gives_torch_nn_numbers(kind):
    reference, ours = _twins(kind)
    xs = torch.randn(7, B, I, dtype=torch.float64)
    states = []
    for module in (reference, ours):
        hx = None
        for x in xs:
            hx = module(x, hx)
        states.append(_as_list(hx))
    assert_close(states[1], states[0], "final state")


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_seeded_cell_initialisation_is_bit_identical(kind, dtype):
    ref_cls, our_cls, extra = CELLS[kind]
    torch.manual_seed(5)
    reference = ref_cls(I, H, dtype=dtype, **extra)
    after_reference = torch.rand(1)
    torch.manual_seed(5)
    ours = our_cls(I, H, dtype=dtype, **extra)
    assert torch.equal(torch.rand(1), after_reference)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in reference.named_parameters()]
    for (name, a), (_, b) in zip(ours.named_parameters(), reference.named_parameters()):
        assert torch.equal(a, b), name
    assert repr(ours) == repr(reference)
    ours.load_state_dict(reference.state_dict())
    reference.load_state_dict(ours.state_dict())


def test_lstm_cell_projection_matches_a_one_step_torch_nn_lstm():
    torch.manual_seed(2)
    reference = nn.LSTM(I, H, proj_size=2, dtype=torch.float64)
    cell = rnnlab.LSTMCell(I, H, proj_size=2, dtype=torch.float64)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in reference.state_dict().items()})
    x = torch.randn(1, B, I, dtype=torch.float64)
    h0, c0 = torch.randn(1, B, 2, dtype=torch.float64), torch.randn(1, B, H, dtype=torch.float64)
    _, (h_n, c_n) = reference(x, (h0, c0))
    h, c = cell(x[0], (h0[0], c0[0]))
    assert_close([h, c], [h_n[0], c_n[0]], "projected step")


def test_layer_norm_lstm_cell_follows_its_equations():
    cell = rnnlab.LayerNormLSTMCell(I, H, dtype=torch.float64)
    with torch.no_grad():
        for p in cell.parameters():
            p.normal_()
    x, h, c = (torch.randn(B, n, dtype=torch.float64) for n in (I, H, H))

    def ln(v, norm):
        mean, var = v.mean(-1, keepdim=True), v.var(-1, unbiased=False, keepdim=True)
        return (v - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias

    pre = ln(x @ cell.weight_ih.T, cell.ln_ih) + ln(h @ cell.weight_hh.T, cell.ln_hh) + cell.bias
    i, f, g, o = pre.chunk(4, dim=1)
    c_expected = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_expected = torch.sigmoid(o) * torch.tanh(ln(c_expected, cell.ln_c))
    h_new, c_new = cell(x, (h, c))
    assert_close([h_new, c_new], [h_expected, c_expected], "layer-norm LSTM step")


class MinimalGatedCell(rnnlab.Cell):
    """A new cell in a few lines: h_t = (1 - z) h_{t-1} + z tanh(W x_t + U h_{t-1}), z from x_t."""

    gate_names = ("z",)

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.state_sizes = input_size, (hidden_size,)
        self.linear_x = nn.Linear(input_size, 2 * hidden_size, dtype=torch.float64)
        self.weight_hh = nn.Parameter(torch.randn(hidden_size, hidden_size, dtype=torch.float64) * 0.3)

    def project_input(self, x):
        return self.linear_x(x)

    def step(self, x, state):
        (h,) = state
        candidate_in, gate_in = x.chunk(2, dim=-1)
        z = torch.sigmoid(gate_in)
        h = (1 - z) * h + z * torch.tanh(candidate_in + h @ self.weight_hh.T)
        return (h,), (z,)


def test_a_custom_cell_gets_stacking_bidirectional_lengths_and_traces_for_free():
    layer = rnnlab.Recurrent(MinimalGatedCell, I, H, num_layers=2, bidirectional=True, batch_first=True)
    assert "linear_x_weight_l1_reverse" in dict(layer.named_parameters())
    x = torch.randn(B, 6, I, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    out, h_n = layer(x, lengths=lengths)
    assert out.shape == (B, 6, 2 * H) and h_n.shape == (4, B, H)
    assert torch.all(out[1, 2:] == 0)
    # each sequence alone, cut to its length, gives the same result as the padded batch
    for b in range(B):
        alone, h_alone = layer(x[b : b + 1, : lengths[b]])
        assert_close([alone[0], h_alone[:, 0]], [out[b, : lengths[b]], h_n[:, b]], f"sequence {b}")
    _, _, traces = layer.trace(x, lengths=lengths)
    assert traces[0].gates["z"].shape == (6, B, H)
    single = rnnlab.Recurrent(MinimalGatedCell, I, H)
    assert torch.autograd.gradcheck(lambda inp: single(inp, lengths=torch.tensor([3, 1]))[0],
                                    torch.randn(3, 2, I, dtype=torch.float64, requires_grad=True))


def test_layer_norm_lstm_layer_stacks_and_runs_bidirectionally():
    layer = rnnlab.Recurrent(rnnlab.LayerNormLSTMCell, I, H, num_layers=2, bidirectional=True, dropout=0.2,
                             dtype=torch.float64)
    x = torch.randn(7, B, I, dtype=torch.float64)
    layer.eval()
    out, (h_n, c_n) = layer(x)
    assert out.shape == (7, B, 2 * H) and h_n.shape == c_n.shape == (4, B, H)
    # the reverse direction of the first layer is the forward cell run over the flipped sequence
    reverse_cell = layer.cells()[1]
    h, c = reverse_cell.initial_state(B, x)
    for x_t in x.flip(0):
        h, c = reverse_cell(x_t, (h, c))
    assert_close([h, c], [h_n[1], c_n[1]], "reverse direction")
    layer.train()
    assert not torch.equal(layer(x)[0], layer(x)[0])


class ScaledCell(rnnlab.Cell):
    """A cell with a buffer: h_t = tanh(x_t + scale * h_{t-1} U)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.state_sizes = input_size, (hidden_size,)
        self.linear = nn.Linear(input_size, hidden_size)
        self.register_buffer("scale", torch.tensor(0.5))
        self.weight_hh = nn.Parameter(torch.randn(hidden_size, hidden_size) * 0.3)

    def project_input(self, x):
        return self.linear(x)

    def step(self, x, state):
        (h,) = state
        return (torch.tanh(x + self.scale * h @ self.weight_hh.T),), ()


def test_a_custom_cells_buffers_follow_the_layer():
    layer = rnnlab.Recurrent(ScaledCell, I, H, num_layers=2)
    assert set(dict(layer.named_buffers())) == {"scale_l0", "scale_l1"}
    assert "scale_l1" in layer.state_dict()
    layer.to(torch.float64)
    x = torch.randn(4, B, I, dtype=torch.float64)
    out, _ = layer(x)
    layer.scale_l0.fill_(0.0)
    layer.scale_l1.fill_(0.0)
    cell = layer.cells()[0]
    assert cell.scale.dtype == torch.float64 and float(cell.scale) == 0.0
    assert not torch.equal(layer(x)[0], out)

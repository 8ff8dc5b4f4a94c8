"""The fused LSTM sequence (rnnlab.nn.fused): its hand-written backward against autograd through the stepped
cell and against torch.nn's LSTM, gradcheck, float32 at scale (the kernels' panel product and oneDNN's), and the
cases that step one step at a time; every test twice, through the compiled kernels (rnnlab.nn.kernels) and through
the Python loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnlab
import rnnlab.nn.cells as cells_module
import rnnlab.nn.fused as fused_module
from rnnlab.bench.layers import SteppedLSTMCell
from rnnlab.nn.fused import lstm_sequence
from rnnlab.nn.kernels import compiled_kernels
from tests.helpers import assert_close

T, B, I, H = 6, 3, 4, 5


@pytest.fixture(autouse=True, params=["compiled", "python"])
def kernels(request, monkeypatch):
    """Each test through the compiled kernels (skipped where they cannot be built) and through Python."""
    if request.param == "compiled" and compiled_kernels() is None:
        pytest.skip("the compiled kernels could not be built here (no C++ compiler, or RNNLAB_KERNELS=0)")
    if request.param == "python":
        monkeypatch.setattr(fused_module, "compiled_kernels", lambda: None)
    return request.param


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts the calls of the fused sequence made by the LSTM cell."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[0].shape)
        return lstm_sequence(*args, **kwargs)

    monkeypatch.setattr(cells_module, "lstm_sequence", counted)
    return calls


def _twins(dtype=torch.float64, **kwargs):
    torch.manual_seed(0)
    fused = rnnlab.Recurrent(rnnlab.LSTMCell, I, H, engine="unrolled", dtype=dtype, **kwargs)
    stepped = rnnlab.Recurrent(SteppedLSTMCell, I, H, engine="unrolled", dtype=dtype, **kwargs)
    stepped.load_state_dict(fused.state_dict())
    return fused, stepped


def test_gradcheck_of_every_input_and_both_outputs():
    torch.manual_seed(1)
    x = torch.randn(4, 2, 4 * 3, dtype=torch.float64, requires_grad=True)
    h0, c0 = (torch.randn(2, 3, dtype=torch.float64, requires_grad=True) for _ in range(2))
    weight = torch.randn(4 * 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lstm_sequence, (x, h0, c0, weight))


def test_one_step_sequence_gradcheck():
    torch.manual_seed(2)
    shapes = ((1, 3, 8), (3, 2), (3, 2), (8, 2))
    inputs = [torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in shapes]
    assert torch.autograd.gradcheck(lstm_sequence, inputs)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_equals_torch_nn_lstm_with_lengths_and_initial_state(fused_calls, bidirectional):
    torch.manual_seed(3)
    reference = nn.LSTM(I, H, num_layers=2, bidirectional=bidirectional, dtype=torch.float64)
    ours = rnnlab.LSTM(I, H, num_layers=2, bidirectional=bidirectional, engine="unrolled", dtype=torch.float64)
    ours.load_state_dict(reference.state_dict())
    directions = 2 if bidirectional else 1
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    hx = tuple(torch.randn(2 * directions, B, H, dtype=torch.float64, requires_grad=True) for _ in range(2))
    lengths = torch.tensor([T, 2, 4])
    results = []
    for module in (reference, ours):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, (h_n, c_n) = module(packed, hx)
        loss = out.data.sin().sum() + (h_n * 1.5).cos().sum() + c_n.square().sum()
        results.append([out.data, h_n, c_n, *torch.autograd.grad(loss, [x, *hx, *module.parameters()])])
    assert_close(results[1], results[0], "fused LSTM vs torch.nn")
    assert len(fused_calls) == 2 * directions  # every layer and direction ran fused


@pytest.mark.parametrize("hidden", [128, 512])
def test_fused_equals_the_stepped_cell_in_float32_at_scale(hidden):
    # B * 4H * H >= 2**21: the recurrent products run in the kernels' panels (H=128, a weight of 256 KiB, where the
    # CPU has AVX-512) or through oneDNN with the weight packed (H=512, 4 MiB; where available)
    torch.manual_seed(4)
    fused = rnnlab.Recurrent(rnnlab.LSTMCell, 16, hidden, engine="unrolled")
    stepped = rnnlab.Recurrent(SteppedLSTMCell, 16, hidden, engine="unrolled")
    stepped.load_state_dict(fused.state_dict())
    x = torch.randn(20, 32, 16, requires_grad=True)
    results = []
    for module in (fused, stepped):
        out, (h_n, c_n) = module(x)
        grads = torch.autograd.grad(out.sin().sum() + c_n.sum(), [x, *module.parameters()])
        results.append([out, h_n, c_n, *grads])
    for got, expected in zip(*results):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_without_gradients_and_with_a_retained_graph(fused_calls):
    fused, stepped = _twins()
    x = torch.randn(T, B, I, dtype=torch.float64)
    with torch.no_grad():
        assert_close(list(fused(x)[1]), list(stepped(x)[1]), "no-grad final state")
    out, _ = fused(x.requires_grad_())
    first = torch.autograd.grad(out.sum(), x, retain_graph=True)[0]
    second = torch.autograd.grad(out.sum(), x)[0]
    assert_close(second, first, "a second backward through the retained graph")
    assert len(fused_calls) == 2


def test_gradcheck_with_recurrent_dropout_and_zoneout():
    torch.manual_seed(6)
    inputs = [torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in ((5, 3, 8), (3, 2), (3, 2),
                                                                                         (8, 2))]
    mask = (torch.rand(3, 2) < 0.7).double() / 0.7
    held = [torch.rand(5, 3, 2) < 0.3 for _ in range(2)]
    for options in ({"mask": mask}, {"zoneout": held}, {"mask": mask, "zoneout": 0.2}):
        assert torch.autograd.gradcheck(lambda *a: lstm_sequence(*a, **options), inputs), options


@pytest.mark.parametrize("training", [True, False])
def test_zoneout_and_recurrent_dropout_fused_equal_stepped_from_the_same_seed(fused_calls, training):
    fused, stepped = _twins(num_layers=2, bidirectional=True, zoneout=0.2, recurrent_dropout=0.3)
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([T, 2, 4])
    results = []
    for module in (fused, stepped):
        module.train(training)
        torch.manual_seed(7)  # the same masks for both
        out, (h_n, c_n) = module(x, lengths=lengths)
        loss = out.sin().sum() + h_n.cos().sum() + c_n.square().sum()
        results.append([out, h_n, c_n, *torch.autograd.grad(loss, [x, *module.parameters()])])
    assert_close(results[0], results[1], "fused vs stepped with regularisers")
    assert len(fused_calls) == 4


def test_traces_and_autocast_step_one_step_at_a_time(fused_calls):
    plain, _ = _twins()
    x = torch.randn(T, B, I, dtype=torch.float64)
    plain.trace(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _twins(dtype=torch.float32)[0](x.float())
    assert fused_calls == []
    plain(x)
    assert len(fused_calls) == 1


def test_trace_agrees_with_the_fused_forward():
    fused, _ = _twins()
    x = torch.randn(T, B, I, dtype=torch.float64)
    lengths = torch.tensor([T, 1, 3])
    out, (h_n, c_n) = fused(x, lengths=lengths)
    traced_out, (traced_h, traced_c), _ = fused.trace(x, lengths=lengths)
    assert_close([out, h_n, c_n], [traced_out, traced_h, traced_c], "fused vs traced")


def test_a_projected_lstm_steps_one_step_at_a_time(fused_calls):
    torch.manual_seed(5)
    reference = nn.LSTM(I, H, proj_size=2, dtype=torch.float64)
    ours = rnnlab.LSTM(I, H, proj_size=2, engine="unrolled", dtype=torch.float64)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(T, B, I, dtype=torch.float64)
    assert_close(ours(x)[0], reference(x)[0], "projected LSTM")
    assert fused_calls == []

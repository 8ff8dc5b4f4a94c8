"""The parallel linear scan and the minGRU/minLSTM layers built on it: scan engine == unrolled engine."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnlab
from rnnlab import MinGRU, MinGRUCell, MinLSTM, MinLSTMCell, linear_scan
from tests.helpers import assert_close, run_and_grad

T, B, I, H = 7, 3, 4, 5
LENGTHS = torch.tensor([4, 7, 1])
METHODS = ("sequential", "chunked")


def _reference_scan(a, b, h0, lengths=None, reverse=False):
    """The recurrence written out one step at a time, with each sequence's own order and end."""
    steps = a.shape[0]
    h = torch.zeros_like(b)
    for k in range(a.shape[1]):
        n = steps if lengths is None else int(lengths[k])
        order = list(range(n))[::-1] if reverse else list(range(n))
        state = h0[k]
        for t in order:
            state = a[t, k] * state + b[t, k]
            h[t, k] = state
        h[n:, k] = state
    return h


def _ab(steps=T, low=0.0, high=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = (low + (high - low) * torch.rand(steps, B, H, generator=g, dtype=torch.float64)).requires_grad_()
    b = torch.randn(steps, B, H, generator=g, dtype=torch.float64).requires_grad_()
    h0 = torch.randn(B, H, generator=g, dtype=torch.float64).requires_grad_()
    return a, b, h0


# ------------------------------------------------------------------------- the scan itself
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, LENGTHS])
@pytest.mark.parametrize("steps", [1, 2, 7, 16, 17])
def test_scan_equals_the_recurrence_step_by_step(method, reverse, lengths, steps):
    a, b, h0 = _ab(steps)
    if lengths is not None:
        lengths = lengths.clamp(max=steps)
    got = linear_scan(a, b, h0, lengths=lengths, reverse=reverse, method=method)
    assert_close([got], [_reference_scan(a, b, h0, lengths, reverse)], "states")


@pytest.mark.parametrize("method", METHODS)
def test_scan_batch_first_and_default_zero_state(method):
    a, b, _ = _ab()
    got = linear_scan(a.transpose(0, 1), b.transpose(0, 1), batch_first=True, method=method)
    assert_close([got.transpose(0, 1)], [_reference_scan(a, b, torch.zeros(B, H, dtype=torch.float64))], "states")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, LENGTHS])
def test_scan_gradcheck_and_gradgradcheck(method, reverse, lengths):
    a, b, h0 = _ab()

    def scan(a, b, h0):
        return linear_scan(a, b, h0, lengths=lengths, reverse=reverse, method=method)

    assert torch.autograd.gradcheck(scan, (a, b, h0))
    assert torch.autograd.gradgradcheck(scan, (a, b, h0))


@pytest.mark.parametrize("method", METHODS)
def test_scan_gradients_equal_autograd_through_the_loop(method):
    a, b, h0 = _ab(steps=33)
    weights = torch.randn(33, B, H, dtype=torch.float64)
    expected = torch.autograd.grad((_reference_scan(a, b, h0, LENGTHS, True) * weights).sum(), (a, b, h0))
    got = torch.autograd.grad((linear_scan(a, b, h0, lengths=LENGTHS, reverse=True, method=method) * weights).sum(),
                              (a, b, h0))
    assert_close(list(got), list(expected), "gradients")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("a_value", [1e-3, 1 - 1e-6])
def test_scan_is_stable_over_ten_thousand_steps(method, dtype, a_value):
    """Products of a over 10,000 steps underflow (a near 0) or are not far from 1 (a near 1); either
    way h_t must follow the recurrence, and so must the gradients flowing back through all steps."""
    steps = 10_000
    g = torch.Generator().manual_seed(3)
    a = torch.full((steps, 2, 3), a_value, dtype=dtype)
    b = torch.randn(steps, 2, 3, generator=g, dtype=dtype)
    h0 = torch.ones(2, 3, dtype=dtype)
    a.requires_grad_(), b.requires_grad_()
    h = linear_scan(a, b, h0, method=method)
    # reference in float64 from the same (rounded) values; in float32 each step adds one rounding
    # error, so the bound is T * eps relative to the largest value
    a64, b64 = a.detach().double(), b.detach().double()
    expected = _reference_scan(a64, b64, h0.double())
    bound = 1e-10 if dtype == torch.float64 else steps * torch.finfo(dtype).eps
    assert torch.isfinite(h).all()
    assert (h.double() - expected).abs().max().item() <= bound * max(1.0, expected.abs().max().item())
    grad_b, = torch.autograd.grad(h[-1].sum(), b)
    powers = a64[0, 0, 0] ** torch.arange(steps - 1, -1, -1, dtype=torch.float64)  # dh_{T-1}/db_s = a^(T-1-s)
    assert torch.isfinite(grad_b).all()
    assert (grad_b.double() - powers[:, None, None]).abs().max().item() <= bound


def test_scan_rejects_mismatched_inputs():
    a, b, h0 = _ab()
    with pytest.raises(ValueError, match="same shape"):
        linear_scan(a, b[:-1])
    with pytest.raises(ValueError, match="h0 must have shape"):
        linear_scan(a, b, h0[:1])
    with pytest.raises(ValueError, match="method must be one of"):
        linear_scan(a, b, method="magic")
    with pytest.raises(ValueError, match="lengths"):
        linear_scan(a, b, lengths=torch.tensor([8, 1, 1]))


# ------------------------------------------------------------------------------ the cells
@pytest.mark.parametrize("cell_class", [MinGRUCell, MinLSTMCell])
def test_minimal_cells_follow_their_equations(cell_class):
    cell = cell_class(I, H, dtype=torch.float64)
    x = torch.randn(B, I, dtype=torch.float64)
    h = torch.randn(B, H, dtype=torch.float64)
    projected = x @ cell.weight_ih.t() + cell.bias_ih
    if cell_class is MinGRUCell:
        z, candidate = torch.sigmoid(projected[:, :H]), projected[:, H:]
        expected = (1 - z) * h + z * candidate
    else:
        f, i, candidate = torch.sigmoid(projected[:, :H]), torch.sigmoid(projected[:, H:2 * H]), projected[:, 2 * H:]
        expected = f / (f + i) * h + i / (f + i) * candidate
    assert_close([cell(x, h)], [expected], "h")
    assert_close([cell(x[0], h[0])], [expected[0]], "unbatched h")  # torch.nn's cell signature, unbatched


@pytest.mark.parametrize("cell_class", [MinGRUCell, MinLSTMCell])
def test_minimal_cell_without_bias_and_its_parameters(cell_class):
    cell = cell_class(I, H, bias=False)
    assert cell.bias_ih is None and [n for n, _ in cell.named_parameters()] == ["weight_ih"]
    assert cell.weight_ih.shape == (cell_class.blocks * H, I)
    bound = 1 / math.sqrt(H)
    assert cell.weight_ih.abs().max() <= bound


# ----------------------------------------------------------------------------- the layers
GRID = list(itertools.product(
    (MinGRU, MinLSTM),
    (1, 2, 3),             # num_layers
    (False, True),         # bidirectional
    (False, True),         # batch_first
    (True, False),         # bias
))


def _twins(layer_class, **options):
    torch.manual_seed(11)
    scan = layer_class(I, H, engine="scan", dtype=torch.float64, **options)
    unrolled = copy.deepcopy(scan)
    unrolled.engine = "unrolled"
    return scan, unrolled


def _inputs(batch_first: bool, form: str):
    def make():
        shape = (B, T, I) if batch_first else (T, B, I)
        x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5), requires_grad=True)
        if form == "packed":
            return x, pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
        return x, x
    return make


@pytest.mark.parametrize("layer_class,num_layers,bidirectional,batch_first,bias", GRID)
@pytest.mark.parametrize("form,given_state", [("padded", False), ("padded", True), ("packed", True)])
def test_scan_engine_equals_unrolled_outputs_states_and_gradients(layer_class, num_layers, bidirectional, batch_first,
                                                                  bias, form, given_state):
    scan, unrolled = _twins(layer_class, num_layers=num_layers, bidirectional=bidirectional,
                            batch_first=batch_first, bias=bias)
    layers = num_layers * (2 if bidirectional else 1)
    hx = [torch.randn(layers, B, H, dtype=torch.float64)] if given_state else None
    make = _inputs(batch_first, form)
    expected, expected_grads = run_and_grad(unrolled, make, hx)
    actual, actual_grads = run_and_grad(scan, make, hx)
    assert_close(actual, expected, "outputs")
    assert_close(actual_grads, expected_grads, "gradients")


@pytest.mark.parametrize("layer_class", [MinGRU, MinLSTM])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lengths_equal_packing_and_padding_is_zero(layer_class, bidirectional):
    scan, _ = _twins(layer_class, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, h_n = scan(x, lengths=LENGTHS)
    packed_out, packed_h = scan(pack_padded_sequence(x, LENGTHS, enforce_sorted=False))
    padded = torch.nn.utils.rnn.pad_packed_sequence(packed_out, total_length=T)[0]
    assert_close([out, h_n], [padded, packed_h], "lengths vs packed")
    for k, n in enumerate(LENGTHS.tolist()):  # each sequence alone gives the same
        alone, alone_h = scan(x[:n, k:k + 1])
        assert_close([out[:n, k:k + 1], h_n[:, k:k + 1]], [alone, alone_h], f"sequence {k}")
        assert out[n:, k].eq(0).all()


@pytest.mark.parametrize("layer_class", [MinGRU, MinLSTM])
def test_unbatched_input_and_step_by_step_generation(layer_class):
    """Feeding one step at a time, carrying h, gives the whole-sequence result: O(1) work per step."""
    scan, _ = _twins(layer_class, num_layers=2)
    x = torch.randn(T, I, dtype=torch.float64)
    out, h_n = scan(x)
    assert out.shape == (T, H) and h_n.shape == (2, H)
    h, steps = None, []
    for t in range(T):
        y, h = scan(x[t:t + 1], h)
        steps.append(y)
    assert_close([torch.cat(steps), h], [out, h_n], "stepped")


def test_layer_gradcheck_through_the_scan_engine():
    layer = MinLSTM(3, 2, num_layers=2, bidirectional=True, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([5, 3])
    assert torch.autograd.gradcheck(lambda x, *p: layer(x, lengths=lengths)[0], (x, *layer.parameters()))


def test_minimal_layers_engines_repr_and_state_dict():
    layer = MinGRU(I, H, num_layers=2, bidirectional=True, batch_first=True)
    assert layer.engine == "auto" and layer.scannable and layer.native_mode is None
    assert repr(layer) == "MinGRU(4, 5, num_layers=2, batch_first=True, bidirectional=True)"
    assert list(layer.state_dict()) == ["weight_ih_l0", "bias_ih_l0", "weight_ih_l0_reverse", "bias_ih_l0_reverse",
                                        "weight_ih_l1", "bias_ih_l1", "weight_ih_l1_reverse", "bias_ih_l1_reverse"]
    assert layer.weight_ih_l1.shape == (2 * H, 2 * H)
    assert MinLSTM(I, H).weight_ih_l0.shape == (3 * H, I)
    with pytest.raises(ValueError, match="engine='native' needs a standard cell"):
        MinGRU(I, H, engine="native")
    with pytest.raises(ValueError, match="engine='scan' needs a cell whose step is linear"):
        rnnlab.GRU(I, H, engine="scan")
    with pytest.raises(ValueError, match="input_size=4"):
        layer(torch.randn(2, 3, 5))


def test_traces_unroll_the_minimal_cells():
    layer = MinLSTM(I, H, num_layers=2, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, _, traces = layer.trace(x)
    assert_close([out], [layer(x)[0]], "trace vs scan")
    assert len(traces) == 2 and set(traces[0].gates) == {"f", "i"}
    f, i = traces[0].gates["f"], traces[0].gates["i"]
    assert torch.allclose(f + i, torch.ones_like(f))  # normalised gates

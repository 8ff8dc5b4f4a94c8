"""The fused sequences of the long-memory cells (IndRNN, JANET, the orthogonal RNN), through the compiled
kernels: gradcheck of each hand-written backward, and each layer against the same cell stepped through autograd."""

from __future__ import annotations

import sys

import pytest
import torch

import rnnlab
from rnnlab.nn.fused import indrnn_sequence, janet_sequence, modrelu_sequence
from rnnlab.nn.long_memory import IndRNNCell, JANETCell, OrthogonalCell
from tests.helpers import assert_close, fused_and_stepped, needs_compiled_kernels

pytestmark = needs_compiled_kernels()
unroll_module = sys.modules["rnnlab.nn.unroll"]
T, B, I, H = 6, 3, 4, 5
CELLS = {"indrnn": IndRNNCell, "janet": JANETCell, "orthogonal": OrthogonalCell}


def _inputs(*shapes):
    return [torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in shapes]


def test_gradcheck_indrnn():
    torch.manual_seed(0)
    x, h0, u = _inputs((T, B, H), (B, H), (H,))
    assert torch.autograd.gradcheck(indrnn_sequence, (x, h0, u))


def test_gradcheck_janet():
    torch.manual_seed(1)
    inputs = _inputs((T, B, 2 * H), (B, H), (2 * H, H))
    assert torch.autograd.gradcheck(lambda *a: janet_sequence(*a, beta=1.0), inputs)


def test_gradcheck_modrelu():
    torch.manual_seed(2)
    inputs = _inputs((T, B, H), (B, H), (H, H), (H,))
    assert torch.autograd.gradcheck(modrelu_sequence, inputs)


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("batch, hidden", [(B, H), (48, 64)])  # the second: the rows split over two threads
def test_fused_equals_stepped_with_lengths_two_layers_and_both_directions(monkeypatch, name, batch, hidden):
    results, calls = fused_and_stepped(monkeypatch, CELLS[name], T, batch, I, hidden, seed=3)
    assert_close(results[0], results[1], f"fused vs stepped {name}")
    assert len(calls) == 4 and all(call is not None for call in calls)  # every layer and direction fused


@pytest.mark.parametrize("name", sorted(CELLS))
def test_with_a_regulariser_the_cell_steps(name):
    cell = CELLS[name](I, H, dtype=torch.float64)
    projected = cell.project_input(torch.randn(T, B, I, dtype=torch.float64))
    state = cell.initial_state(B, projected)
    assert cell.fused_steps(projected, state) is not None
    assert cell.fused_steps(projected, state, mask=torch.ones(B, H, dtype=torch.float64)) is None
    assert cell.fused_steps(projected, state, zoneout=0.2) is None


@pytest.mark.parametrize("name", sorted(CELLS))
def test_a_nan_passes_on_as_in_the_stepped_cell(monkeypatch, name):
    # a diverged model must show NaN, never zeros (relu and modReLU of NaN are NaN in torch)
    torch.manual_seed(4)
    layer = rnnlab.Recurrent(CELLS[name], I, H, engine="unrolled")
    x = torch.randn(T, B, I)
    x[2, 1, 0] = float("nan")
    outputs = []
    for fuse in (True, False):
        monkeypatch.setattr(unroll_module, "_may_fuse", lambda x, fuse=fuse: fuse)
        outputs.append(layer(x)[0])
    assert torch.equal(outputs[0].isnan(), outputs[1].isnan()) and outputs[0].isnan().any()

"""The convolutional LSTM: its step against the equations with explicit convolutions, shapes in both
layouts and directions, lengths, gradcheck, clear errors, and a moving pattern it learns to predict."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnnlab
from rnnlab.data import moving_squares
from rnnlab.nn.cell import ShapeError
from tests.helpers import assert_close

B, C, K, Y, X = 3, 2, 4, 5, 6


def test_cell_step_follows_the_equations_with_same_padded_convolutions():
    torch.manual_seed(0)
    cell = rnnlab.ConvLSTMCell(C, K, kernel_size=(3, 5), dtype=torch.float64)
    x, h, c = (torch.randn(B, n, Y, X, dtype=torch.float64) for n in (C, K, K))
    pre = F.conv2d(F.pad(x, (2, 2, 1, 1)), cell.weight_ih, cell.bias) + F.conv2d(F.pad(h, (2, 2, 1, 1)),
                                                                                 cell.weight_hh)
    i, f, g, o = pre.chunk(4, dim=1)
    c_expected = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_expected = torch.sigmoid(o) * torch.tanh(c_expected)
    assert_close(list(cell(x, (h, c))), [h_expected, c_expected], "ConvLSTM step")
    assert cell.weight_ih.shape == (4 * K, C, 3, 5) and cell.weight_hh.shape == (4 * K, K, 3, 5)


@pytest.mark.parametrize("batch_first", [False, True])
def test_layer_shapes_in_both_layouts_stacked_and_bidirectional(batch_first):
    layer = rnnlab.ConvLSTM2d(C, K, 3, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = torch.randn(B, 7, C, Y, X) if batch_first else torch.randn(7, B, C, Y, X)
    out, (h_n, c_n) = layer(x)
    assert out.shape == ((B, 7, 2 * K, Y, X) if batch_first else (7, B, 2 * K, Y, X))
    assert h_n.shape == c_n.shape == (4, B, K, Y, X)
    assert layer.cells[2].weight_ih.shape[1] == 2 * K  # the second layer reads both directions


def test_lengths_reverse_direction_and_traces():
    torch.manual_seed(1)
    layer = rnnlab.ConvLSTM2d(C, K, 3, bidirectional=True, dtype=torch.float64)
    x, lengths = torch.randn(6, B, C, Y, X, dtype=torch.float64), torch.tensor([6, 2, 4])
    out, (h_n, c_n) = layer(x, lengths=lengths)
    assert torch.all(out[2:, 1] == 0)
    for b in range(B):  # each clip alone, cut to its length, as in the padded batch
        alone, (h_alone, _) = layer(x[: lengths[b], b : b + 1])
        assert_close([alone[:, 0], h_alone[:, 0]], [out[: lengths[b], b], h_n[:, b]], f"clip {b}")
    reverse, state = layer.cells[1], None  # the reverse direction is the cell run over the flipped clip
    for frame in x[:6, 0:1].flip(0):
        state = reverse(frame, state)
    assert_close(list(state), [h_n[1, 0:1], c_n[1, 0:1]], "reverse direction")
    _, _, traces = layer.trace(x, lengths=lengths)
    assert len(traces) == 2 and traces[0].gates["f"].shape == (6, B, K, Y, X)


def test_gradcheck_through_time_with_lengths():
    torch.manual_seed(2)
    layer = rnnlab.ConvLSTM2d(1, 2, 3, dtype=torch.float64)
    x = torch.randn(3, 2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: layer(inp, lengths=torch.tensor([3, 2]))[0], x)


def test_bad_input_and_arguments_are_refused_by_name():
    layer = rnnlab.ConvLSTM2d(C, K, 3)
    with pytest.raises(ShapeError, match=r"ConvLSTM2d: input must be 5-D \(seq_len, batch, channels, height, "
                                          r"width\), got 3-D"):
        layer(torch.randn(7, B, C))
    with pytest.raises(RuntimeError, match="in_channels=2 channels"):  # a ShapeError is both kinds
        layer(torch.randn(7, B, 3, Y, X))
    with pytest.raises(ShapeError, match=r"h_0 must have shape \(1, 3, 4, 5, 6\)"):
        layer(torch.randn(7, B, C, Y, X), (torch.zeros(1, B, K, 5, 5), torch.zeros(1, B, K, 5, 5)))
    with pytest.raises(ValueError, match=r"kernel_size must be a positive int or a pair of them, got 0"):
        rnnlab.ConvLSTM2d(C, K, 0)
    with pytest.raises(ValueError, match=r"zoneout must be a probability in \[0, 1\), got 1.0"):
        rnnlab.ConvLSTM2d(C, K, 3, zoneout=1.0)
    with pytest.raises(ShapeError, match="ConvLSTMCell: input must be 4-D"):
        rnnlab.ConvLSTMCell(C, K)(torch.randn(B, C, Y))


def test_it_learns_to_predict_the_next_frame_of_a_moving_square():
    # The square's direction shows only in two frames, so predicting frame t+1 needs the memory of frame t-1:
    # copying the last frame (persistence) is wrong wherever the square moved.
    torch.manual_seed(0)
    data = torch.Generator().manual_seed(0)
    layer, head = rnnlab.ConvLSTM2d(1, 12, 3), nn.Conv2d(12, 1, 1)
    optimizer = torch.optim.Adam([*layer.parameters(), *head.parameters()], lr=2e-2)
    for _ in range(200):
        clips = moving_squares(16, generator=data)
        out, _ = layer(clips[:-1])
        loss = F.binary_cross_entropy_with_logits(head(out.flatten(0, 1)).view_as(clips[1:]), clips[1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test = moving_squares(64, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        out, _ = layer(test[:-1])
        predicted = torch.sigmoid(head(out.flatten(0, 1))).view_as(test[1:])
    persistence = F.mse_loss(test[2:-1], test[3:]).item()  # from the third frame on, the direction is known
    assert F.mse_loss(predicted[2:], test[3:]).item() < 0.25 * persistence

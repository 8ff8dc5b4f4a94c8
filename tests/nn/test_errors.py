"""Bad input gets a ValueError/TypeError whose message names the argument, the expected and the received."""

from __future__ import annotations

import pytest
import torch

import rnnlab

T, B, I, H = 5, 3, 4, 6


@pytest.fixture(params=["native", "unrolled"])
def lstm(request):
    return rnnlab.LSTM(I, H, num_layers=2, engine=request.param)


def test_wrong_rank_names_the_expected_layouts(lstm):
    with pytest.raises(ValueError, match=r"input must be 3-D \(seq_len, batch, input_size\).*got 4-D.*\(1, 5, 3, 4\)"):
        lstm(torch.randn(1, T, B, I))
    with pytest.raises(ValueError, match=r"got 1-D"):
        lstm(torch.randn(I))


def test_wrong_feature_size_names_input_size_and_the_shape(lstm):
    with pytest.raises(ValueError, match=r"input must have input_size=4 features.*got shape \(5, 3, 7\)"):
        lstm(torch.randn(T, B, 7))


def test_initial_state_of_wrong_shape_names_the_expected_shape(lstm):
    h0, c0 = torch.zeros(2, B, H), torch.zeros(2, B, H)
    with pytest.raises(ValueError, match=r"hx\[0\] must have shape \(2, 3, 6\).*got \(1, 3, 6\)"):
        lstm(torch.randn(T, B, I), (h0[:1], c0))
    with pytest.raises(ValueError, match=r"hx\[1\] must have shape \(2, 3, 6\).*got \(2, 2, 6\)"):
        lstm(torch.randn(T, B, I), (h0, c0[:, :2]))
    with pytest.raises(TypeError, match=r"hx must be a tuple of 2 tensors, got a Tensor of shape \(2, 3, 6\)"):
        lstm(torch.randn(T, B, I), h0)
    gru = rnnlab.GRU(I, H)
    with pytest.raises(ValueError, match=r"hx must have shape \(1, 6\).*got \(1, 3, 6\)"):
        gru(torch.randn(T, I), torch.zeros(1, B, H))  # unbatched input, batched state


@pytest.mark.parametrize("lengths,message", [
    ([6, 2, 1], r"lengths: a length of 6 is longer than the sequence \(5 steps\)"),
    ([0, 2, 1], r"lengths: every length must be at least 1, got 0"),
    ([-1, 2, 1], r"lengths: every length must be at least 1, got -1"),
    ([2, 1], r"lengths: expected shape \(3,\) .*got \(2,\)"),
])
def test_bad_lengths_are_named(lstm, lengths, message):
    with pytest.raises(ValueError, match=message):
        lstm(torch.randn(T, B, I), lengths=torch.tensor(lengths))


def test_float_lengths_are_a_type_error(lstm):
    with pytest.raises(TypeError, match=r"lengths: expected integers, got dtype torch.float32"):
        lstm(torch.randn(T, B, I), lengths=torch.tensor([1.0, 2.0, 3.0]))


def test_unroll_checks_lengths_too():
    cell = rnnlab.GRUCell(I, H)
    with pytest.raises(ValueError, match="longer than the sequence"):
        rnnlab.unroll(cell, torch.randn(T, B, I), lengths=torch.tensor([9, 1, 1]))


def test_mismatched_dtypes_are_named(lstm):
    with pytest.raises(TypeError, match=r"input has dtype torch.float64, expected torch.float32"):
        lstm(torch.randn(T, B, I, dtype=torch.float64))
    h0 = torch.zeros(2, B, H, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"hx\[0\] has dtype torch.float64 on cpu, expected torch.float32 on cpu"):
        lstm(torch.randn(T, B, I), (h0, h0.float()))


def test_mismatched_devices_are_named(lstm):
    with pytest.raises(TypeError, match=r"input is on device meta, expected cpu"):
        lstm(torch.randn(T, B, I, device="meta"))
    h0 = torch.zeros(2, B, H)
    with pytest.raises(TypeError, match=r"hx\[1\] has dtype torch.float32 on meta, expected torch.float32 on cpu"):
        lstm(torch.randn(T, B, I), (h0, h0.to("meta")))


def test_non_tensor_input_is_a_type_error(lstm):
    with pytest.raises(TypeError, match="input must be a Tensor or PackedSequence, got list"):
        lstm([[1.0] * I])


def test_cell_errors_name_the_argument():
    cell = rnnlab.LSTMCell(I, H)
    with pytest.raises(ValueError, match=r"LSTMCell: input must be 2-D \(batch, input_size\) or 1-D.*got 3-D"):
        cell(torch.randn(1, B, I))
    with pytest.raises(ValueError, match=r"input must have input_size=4 features.*got shape \(3, 5\)"):
        cell(torch.randn(B, 5))
    with pytest.raises(ValueError, match=r"hx\[1\] must have shape \(3, 6\), got \(2, 6\)"):
        cell(torch.randn(B, I), (torch.zeros(B, H), torch.zeros(2, H)))
    with pytest.raises(TypeError, match=r"input has dtype torch.float64, expected torch.float32"):
        cell(torch.randn(B, I, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"hx has dtype torch.float64 on cpu, expected torch.float32"):
        rnnlab.GRUCell(I, H)(torch.randn(B, I), torch.zeros(B, H, dtype=torch.float64))


@pytest.mark.parametrize("kwargs,message", [
    ({"hidden_size": 0}, "hidden_size must be a positive integer, got 0"),
    ({"num_layers": 0}, "num_layers must be a positive integer, got 0"),
    ({"dropout": 1.5}, r"dropout must be a number in \[0, 1\], got 1.5"),
    ({"proj_size": 6}, "proj_size must be 0 or between 1 and hidden_size-1=5, got 6"),
])
def test_bad_constructor_arguments_are_named(kwargs, message):
    options = {"input_size": I, "hidden_size": H, **kwargs}
    with pytest.raises(ValueError, match=message):
        rnnlab.LSTM(**options)


def test_bad_nonlinearity_is_named():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        rnnlab.RNN(I, H, nonlinearity="sigmoid")


def test_lengths_with_packed_input_is_refused(lstm):
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(T, B, I), torch.tensor([5, 3, 2]))
    with pytest.raises(ValueError, match="lengths cannot be given with a PackedSequence"):
        lstm(packed, lengths=torch.tensor([5, 3, 2]))

"""rnnlab.nn.dropout: the drop rate, the scale, independence between elements, gradients, seeding, and the
cases handed to torch's dropout."""
import math

import pytest
import torch

from rnnlab.nn.dropout import LEVELS, Dropout, dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_the_drop_rate_is_p_and_pairs_cut_from_one_word_are_independent(p):
    torch.manual_seed(0)
    n = 1_000_000
    keep = keep_mask((n,), p)
    dropped = 1.0 - keep.double().mean().item()
    rate = round(p * LEVELS) / LEVELS
    assert abs(rate - p) <= 2 ** -16
    sd = math.sqrt(rate * (1 - rate) / n)
    assert abs(dropped - rate) < 5 * sd
    # the two halves of each 32-bit word: both dropped with probability rate ** 2
    pairs = (~keep).view(-1, 2)
    both = pairs.all(-1).double().mean().item()
    assert abs(both - rate ** 2) < 5 * math.sqrt(rate ** 2 * (1 - rate ** 2) / (n // 2))
    # neighbouring words as well
    across = (~keep[1:-1]).view(-1, 2).all(-1).double().mean().item()
    assert abs(across - rate ** 2) < 5 * math.sqrt(rate ** 2 * (1 - rate ** 2) / (n // 2 - 1))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_kept_elements_are_scaled_to_keep_the_expectation_and_dropped_ones_are_zero(dtype):
    torch.manual_seed(1)
    x = torch.rand(7, 5, 33, dtype=torch.float64).add_(0.5).to(dtype)  # no zeros of its own
    y = dropout(x, 0.3)
    assert y.shape == x.shape and y.dtype == dtype
    kept = y != 0
    assert 0 < kept.sum() < x.numel()
    scale = LEVELS / (LEVELS - round(0.3 * LEVELS))
    assert torch.equal(y[kept], x[kept] * scale)  # the scale applied as torch applies a Python number


def test_the_mask_repeats_with_the_seed_and_the_gradient_is_the_mask_times_the_scale():
    x = torch.randn(4, 9, 6, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(3)
    y = dropout(x, 0.25)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.25), y)
    upstream = torch.randn_like(y)
    y.backward(upstream)
    scale = LEVELS / (LEVELS - round(0.25 * LEVELS))
    assert torch.equal(x.grad, upstream * (y != 0) * scale)
    assert torch.autograd.gradcheck(lambda t: (torch.manual_seed(3), dropout(t, 0.25))[1], (x,))


def test_odd_sizes_and_empty_tensors():
    torch.manual_seed(0)
    assert keep_mask((3, 1, 5), 0.5).shape == (3, 1, 5)
    assert dropout(torch.ones(0, 4), 0.5).shape == (0, 4)
    assert dropout(torch.ones(1), 0.5).shape == (1,)


def test_eval_mode_p_zero_and_p_one():
    x = torch.randn(3, 4)
    assert dropout(x, 0.4, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    module = Dropout(0.4).eval()
    assert module(x) is x
    assert not torch.equal(module.train()(torch.ones(100, 100)), torch.ones(100, 100))
    assert repr(module) == "Dropout(p=0.4)"


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_a_probability_outside_zero_to_one_is_refused(p):
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\]"):
        Dropout(p)
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\]"):
        dropout(torch.ones(3), p)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_it_is_torch_dropout():
    x = torch.ones(1000, 100, device="cuda")
    torch.manual_seed(0)
    ours = dropout(x, 0.2)
    torch.manual_seed(0)
    assert torch.equal(ours, torch.nn.functional.dropout(x, 0.2, training=True))

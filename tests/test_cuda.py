"""On a GPU: the unrolled engine matches cuDNN. Skipped, with the reason, where no GPU is present."""

from __future__ import annotations

import pytest
import torch

from conftest import KINDS, assert_close, run_and_grad, state_shapes, twin_layers

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none is available")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_unrolled_on_cuda_matches_cudnn_in_float64(kind, bidirectional):
    _, native = twin_layers(kind, 4, 6, "native", num_layers=2, bidirectional=bidirectional)
    _, unrolled = twin_layers(kind, 4, 6, "unrolled", num_layers=2, bidirectional=bidirectional)
    native, unrolled = native.cuda(), unrolled.cuda()
    hx = [torch.randn(s, dtype=torch.float64, device="cuda") for s in state_shapes(native, 3)]

    def make():
        generator = torch.Generator().manual_seed(5)
        x = torch.randn(5, 3, 4, dtype=torch.float64, generator=generator).cuda().requires_grad_(True)
        return x, x

    torch.manual_seed(0)
    expected, expected_grads = run_and_grad(native, make, hx)
    torch.manual_seed(0)
    actual, actual_grads = run_and_grad(unrolled, make, hx)
    assert_close([a.cpu() for a in actual], [e.cpu() for e in expected], "outputs")
    assert_close([g.cpu() for g in actual_grads], [g.cpu() for g in expected_grads], "gradients")

"""On a GPU: the unrolled engine matches cuDNN. Skipped, with the reason, where no GPU is present."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import KINDS, assert_close, run_and_grad, state_shapes, twin_layers

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


@pytest.mark.parametrize("layer_class", ["MinGRU", "MinLSTM"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_scan_engine_on_cuda_matches_the_cpu_in_float64(layer_class, bidirectional):
    import copy

    import rnnlab

    torch.manual_seed(0)
    cpu = getattr(rnnlab, layer_class)(4, 6, num_layers=2, bidirectional=bidirectional, dtype=torch.float64)
    gpu = copy.deepcopy(cpu).cuda()
    x = torch.randn(9, 3, 4, dtype=torch.float64)
    lengths = torch.tensor([9, 4, 1])
    results = []
    for layer, device in ((cpu, "cpu"), (gpu, "cuda")):
        leaf = x.to(device).requires_grad_(True)
        out, h_n = layer(leaf, lengths=lengths.to(device))
        grads = torch.autograd.grad(out.pow(2).sum() + h_n.sum(), [leaf, *layer.parameters()])
        results.append([t.cpu() for t in (out, h_n, *grads)])
    assert_close(results[1], results[0], "cuda vs cpu")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_linear_scan_on_cuda_in_low_precision(dtype):
    from rnnlab.nn.scan import linear_scan

    a = torch.rand(300, 4, 8, device="cuda")
    b = torch.randn(300, 4, 8, device="cuda")
    expected = linear_scan(a.double().cpu(), b.double().cpu(), method="sequential")
    got = linear_scan(a.to(dtype), b.to(dtype))
    tolerance = 1e-4 if dtype == torch.float32 else 5e-2
    assert (got.double().cpu() - expected).abs().max().item() <= tolerance * max(1.0, expected.abs().max().item())

"""torch.compile runs models holding rnnlab's layers on the fused kernels, with eager's outputs and gradients."""

from __future__ import annotations

import pytest
import torch

import rnnlab


class LastStep(torch.nn.Module):
    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer, self.head = layer, torch.nn.Linear(16, 3)

    def forward(self, x):
        out, _ = self.layer(x)
        return self.head(out[:, -1])


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_a_compiled_model_runs_the_native_kernel_with_eagers_outputs_and_gradients(kind):
    # Inductor cannot lower oneDNN's recurrent kernel ("expected Tensor() for op: aten.mkldnn_rnn_layer"):
    # the kernel call runs eagerly inside the compiled model, as torch.nn's layers do.
    import torch._inductor.config

    torch.manual_seed(0)
    model = LastStep(getattr(rnnlab, kind)(5, 16, num_layers=2, batch_first=True))
    compiled = torch.compile(model)
    x = torch.randn(4, 7, 5)
    with torch._inductor.config.patch(compile_threads=1):  # no pool of compile workers left running
        expected, got = model(x), compiled(x)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
        grads = [torch.autograd.grad(y.square().sum(), list(model.parameters())) for y in (expected, got)]
        for theirs, ours in zip(*grads):
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
        assert compiled(torch.randn(2, 11, 5)).shape == (2, 3)  # another length and batch

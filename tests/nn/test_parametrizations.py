"""Parametrisations on rnnlab's layers give what they give on torch.nn's: weight norm, spectral norm,
an orthogonal recurrent matrix, the old ``weight_norm`` hook and a custom parametrisation, on every
engine, outputs and gradients in float64."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations, parametrize

import rnnlab


class Doubled(nn.Module):
    def forward(self, weight):
        return 2 * weight


PARAMETRIZE = {
    "weight_norm": lambda m: parametrizations.weight_norm(m, "weight_hh_l0"),
    "spectral_norm": lambda m: parametrizations.spectral_norm(m, "weight_hh_l0"),
    "orthogonal": lambda m: parametrizations.orthogonal(m, "weight_hh_l0"),
    "custom": lambda m: parametrize.register_parametrization(m, "weight_ih_l0", Doubled()),
    "weight_norm (hook)": lambda m: nn.utils.weight_norm(m, "weight_hh_l0"),
}


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
@pytest.mark.parametrize("engine", ["native", "unrolled"])
@pytest.mark.parametrize("how, kind", [(how, kind) for how in PARAMETRIZE for kind in ("RNN", "GRU", "LSTM")
                                       if how != "orthogonal" or kind == "RNN"])  # a square weight_hh
def test_a_parametrised_layer_equals_torch_nn_with_the_same_parametrisation(how, kind, engine):
    layers = []
    for module in (getattr(nn, kind), getattr(rnnlab, kind)):
        torch.manual_seed(1)
        layer = module(3, 4, num_layers=2, dtype=torch.float64)
        torch.manual_seed(2)  # spectral_norm draws its power-iteration vector here
        PARAMETRIZE[how](layer)
        layers.append(layer)
    reference, ours = layers
    ours.engine = engine
    if how == "spectral_norm":
        # In training, every read of the weight runs one more power iteration: torch.nn reads it more
        # often per call than rnnlab, so compare with the iteration's vectors fixed, as in evaluation.
        reference.eval(), ours.eval()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    expected, got = reference(x)[0], ours(x)[0]
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)
    names = [name for name, _ in reference.named_parameters()]
    assert names == [name for name, _ in ours.named_parameters()]
    grads = [torch.autograd.grad(out.sin().sum(), list(layer.parameters())) for out, layer in
             ((expected, reference), (got, ours))]
    for theirs, mine in zip(*grads):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-10)

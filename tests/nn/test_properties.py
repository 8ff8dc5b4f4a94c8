"""Property-based parity: random sizes, lengths and options never crash and always match torch.nn."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence

from tests.helpers import KINDS, assert_close, run_and_grad, state_shapes, twin_layers


@st.composite
def layer_cases(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    hidden = draw(st.integers(4, 9))
    options = {
        "num_layers": draw(st.integers(1, 3)),
        "bidirectional": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
    }
    steps, batch, features = draw(st.integers(1, 7)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    form = draw(st.sampled_from(["padded", "packed", "unbatched"]))
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    return kind, hidden, options, steps, batch, features, form, lengths, draw(st.booleans()), draw(st.integers(0, 99))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer_cases(), st.sampled_from(["native", "unrolled"]))
def test_random_layers_match_torch_nn(case, engine):
    kind, hidden, options, steps, batch, features, form, lengths, given_state, seed = case
    reference, ours = twin_layers(kind, features, hidden, engine, **options)
    unbatched = form == "unbatched"
    hx = None
    if given_state:
        generator = torch.Generator().manual_seed(seed)
        hx = [torch.randn(s, dtype=torch.float64, generator=generator)
              for s in state_shapes(reference, None if unbatched else batch)]

    def make():
        generator = torch.Generator().manual_seed(seed + 1)
        if unbatched:
            shape = (steps, features)
        else:
            shape = (batch, steps, features) if options["batch_first"] else (steps, batch, features)
        x = torch.randn(shape, dtype=torch.float64, generator=generator, requires_grad=True)
        if form == "packed":
            return x, pack_padded_sequence(x, torch.tensor(lengths), batch_first=options["batch_first"],
                                           enforce_sorted=False)
        return x, x

    expected, expected_grads = run_and_grad(reference, make, hx, seed=seed)
    actual, actual_grads = run_and_grad(ours, make, hx, seed=seed)
    assert_close(actual, expected, "outputs")
    assert_close(actual_grads, expected_grads, "gradients")

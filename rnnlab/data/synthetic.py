"""Generated sequence tasks with known answers, for examples and memory benchmarks."""

from __future__ import annotations

import torch
from torch import Tensor

ADDING_BASELINE_MSE = 1 / 6
"""MSE of always predicting the mean sum (1.0): the variance of the sum of two U(0, 1) values."""


def adding_problem(n: int, steps: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015).

    Each sequence has two channels: a value drawn from U(0, 1) and a marker that is 1 at exactly
    two positions, one in the first half and one in the second, 0 elsewhere.  The target is the sum
    of the two marked values, so a model must remember the first one across about ``steps / 2`` steps.

    Returns ``x (n, steps, 2)`` and ``y (n,)``, float32.
    """
    if steps < 2:
        raise ValueError(f"steps: the adding problem needs at least 2 steps, got {steps}")
    values = torch.rand(n, steps, generator=generator)
    half = steps // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, steps, (n,), generator=generator)
    markers = torch.zeros(n, steps)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]
    return torch.stack([values, markers], dim=-1), y

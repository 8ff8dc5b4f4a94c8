"""Generated sequence tasks with known answers, for examples and memory benchmarks."""

from __future__ import annotations

import math

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


COPY_SYMBOLS, COPY_LENGTH = 8, 10
COPY_BLANK, COPY_DELIMITER = 0, COPY_SYMBOLS + 1
COPY_VOCABULARY = COPY_SYMBOLS + 2
"""Copy memory tokens: 0 blank, 1..8 symbols, 9 the delimiter."""


def copy_baseline(delay: int) -> float:
    """Cross-entropy per step of the best memoryless guess: blanks where they are certain, then
    uniform over the 8 symbols for the 10 recalled steps: ``10 ln 8 / (T + 20)``."""
    return COPY_LENGTH * math.log(COPY_SYMBOLS) / (delay + 2 * COPY_LENGTH)


def copy_memory(n: int, delay: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """The copy memory task (Arjovsky et al. 2016): ``T + 20`` steps of tokens.

    Input: 10 symbols drawn from 1..8, then ``delay - 1`` blanks, the delimiter 9, and 10 blanks.
    Target: blanks for the first ``delay + 10`` steps, then the 10 symbols in order.  A model must
    hold the symbols across ``delay`` steps; the memoryless baseline is :func:`copy_baseline`.

    Returns ``x (n, T + 20)`` and ``y (n, T + 20)``, int64 token ids.
    """
    if delay < 1:
        raise ValueError(f"delay: the copy task needs a delay of at least 1, got {delay}")
    steps = delay + 2 * COPY_LENGTH
    symbols = torch.randint(1, COPY_SYMBOLS + 1, (n, COPY_LENGTH), generator=generator)
    x = torch.full((n, steps), COPY_BLANK, dtype=torch.long)
    y = torch.full((n, steps), COPY_BLANK, dtype=torch.long)
    x[:, :COPY_LENGTH] = symbols
    x[:, delay + COPY_LENGTH - 1] = COPY_DELIMITER
    y[:, -COPY_LENGTH:] = symbols
    return x, y


def moving_squares(n: int, steps: int = 8, size: int = 6, generator: torch.Generator | None = None) -> Tensor:
    """``n`` clips of ``steps`` frames ``(T, n, 1, size, size)``: a 2x2 square of ones on zeros, moving one
    pixel per frame in one of four directions (drawn per clip) and wrapping around the edges.

    The next frame follows from the last two, so a model that sees the frames so far can predict the next
    one exactly from the third on; copying the last frame (persistence) cannot, as the square has moved.
    """
    frames = torch.zeros(steps, n, 1, size, size)
    start = torch.randint(0, size, (n, 2), generator=generator)
    directions = torch.tensor([[0, 1], [1, 0], [0, -1], [-1, 0]])
    moves = directions[torch.randint(0, 4, (n,), generator=generator)]
    clips = torch.arange(n)
    for t in range(steps):
        corner = start + t * moves
        for dy in (0, 1):
            for dx in (0, 1):
                frames[t, clips, 0, (corner[:, 0] + dy) % size, (corner[:, 1] + dx) % size] = 1.0
    return frames

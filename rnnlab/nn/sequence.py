"""Sequence helpers shared by every engine: masks of real and padded steps, lengths, reversal.

Shapes: ``T`` time steps, ``B`` batch.  Imports nothing of rnnlab.
"""

from __future__ import annotations

import torch
from torch import Tensor


def padding_mask(lengths: Tensor, steps: int) -> Tensor:
    """``(T, B)`` bool, time-major: true on each sequence's padded steps ``t >= lengths[b]``."""
    return torch.arange(steps, device=lengths.device)[:, None] >= lengths


def check_lengths(lengths, batch: int, steps: int, device: torch.device) -> Tensor | None:
    """Validate per-sequence lengths: ``(B,)`` integers in ``1..T``; returned as a tensor on ``device``."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths: expected integers, got dtype {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"lengths: expected shape ({batch},) (one per sequence in the batch), "
                         f"got {tuple(lengths.shape)}")
    if batch and int(lengths.min()) < 1:
        raise ValueError(f"lengths: every length must be at least 1, got {int(lengths.min())}")
    if batch and int(lengths.max()) > steps:
        raise ValueError(f"lengths: a length of {int(lengths.max())} is longer than the sequence ({steps} steps)")
    return lengths.to(device)


def reverse_in_time(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x (T, B, ...)`` within its own length; padding stays at the end."""
    if lengths is None:
        return x.flip(0)
    steps = x.shape[0]
    t = torch.arange(steps, device=x.device)[:, None]
    index = torch.where(t < lengths, lengths - 1 - t, t)  # (T, B)
    return x.gather(0, index.view(steps, -1, *([1] * (x.dim() - 2))).expand_as(x))


def length_mask(lengths: Tensor, steps: int) -> Tensor:
    """``(B, T)`` bool, true on each sequence's real steps ``t < lengths[b]``."""
    return torch.arange(steps, device=lengths.device) < lengths[:, None]

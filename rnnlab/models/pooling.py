"""Summarising a padded sequence of outputs in one vector, over its real steps only.

Every function takes the recurrent layer's ``outputs (B, T, H)`` and a ``mask (B, T)`` (true on
real steps; every sequence has at least one) and returns ``(B, H)``; padding never contributes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def mean_over_time(outputs: Tensor, mask: Tensor) -> Tensor:
    """The average of the real steps' outputs: ``sum_t m_t h_t / sum_t m_t``."""
    m = mask.unsqueeze(-1).to(outputs.dtype)
    return (outputs * m).sum(1) / m.sum(1)


def max_over_time(outputs: Tensor, mask: Tensor) -> Tensor:
    """The feature-wise maximum over the real steps (padding is ``-inf`` there, so it never wins)."""
    return outputs.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)


class AttentionPooling(nn.Module):
    r"""Learned attention over time: a score per step, softmax over the real steps, weighted sum.

    .. math::
        s_t = w^\top h_t + b, \quad \alpha = \mathrm{softmax}_{t:\,m_t}(s), \quad y = \sum_t \alpha_t h_t

    Shapes: ``outputs (B, T, H)``, ``mask (B, T)`` -> ``(B, H)``; ``w (H,)``, ``b`` a scalar.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.score = nn.Linear(size, 1)

    def forward(self, outputs: Tensor, mask: Tensor) -> Tensor:
        s = self.score(outputs).squeeze(-1).masked_fill(~mask, float("-inf"))  # (B, T)
        alpha = torch.softmax(s, dim=1)  # exactly zero on padding
        return torch.einsum("bt,bth->bh", alpha, outputs)

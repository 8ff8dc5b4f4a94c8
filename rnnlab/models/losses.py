"""Loss and accuracy of per-step predictions over padded sequences, counting real steps only.

Shapes: ``B`` sequences, ``T`` steps, ``K`` classes; ``lengths (B,)`` integers in ``1..T``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from rnnlab.nn.sequence import length_mask


def masked_cross_entropy(logits: Tensor, targets: Tensor, lengths: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy over all real steps of the batch: ``logits (B, T, K)``, ``targets (B, T)`` -> scalar.

    Every real step weighs the same, so a long sequence counts more than a short one.
    """
    mask = length_mask(lengths.to(logits.device), logits.shape[1])
    return F.cross_entropy(logits[mask], targets[mask], label_smoothing=label_smoothing)

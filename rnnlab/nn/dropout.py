"""Dropout whose mask costs a quarter of torch's on CPU.

torch's CPU dropout draws each element's keep/drop with its own call of the random generator
(``bernoulli_``: about 9 ms per million elements on a 2-core machine, a fifth of a G2P training
step). :func:`dropout` cuts two elements' masks from each 32-bit word of the same generator, 15
bits each: the element is dropped when its 15 bits, read as an integer ``u`` in ``[0, 2**15)``,
fall below ``t = round(p * 2**15)``, so it drops with probability ``t / 2**15`` (``p`` to within
``2**-16``: 0.1 drops with probability 0.100006) and the kept elements are scaled by
``2**15 / (2**15 - t)``, which keeps the expected output equal to the input. The generator is the
default one, so ``torch.manual_seed`` makes a run repeat. On other devices (CUDA's dropout is
already fused and cheap) and for ``p`` within ``2**-16`` of 0 or 1 it is :func:`torch.nn.functional.dropout`.

The recurrent layers (:mod:`rnnlab.nn.layers`) keep torch's dropout between their layers: they are
drop-ins for ``torch.nn``, masks included.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BITS = 15
LEVELS = 2 ** BITS


def check_probability(p: float) -> None:
    """Refuse a dropout probability outside ``[0, 1]``."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")


def keep_mask(shape: torch.Size | tuple[int, ...], p: float) -> torch.Tensor:
    """A boolean mask of ``shape``: True (keep) with probability ``1 - round(p * 2**15) / 2**15``,
    independently per element, drawn from the default CPU generator (``(n + 1) // 2`` words)."""
    n = math.prod(shape)
    words = torch.empty((n + 1) // 2, dtype=torch.int32).random_()  # 31 random bits each: [0, 2**31)
    fifteen_bits = words.view(torch.int16)[:n] & (LEVELS - 1)  # each half word's low 15 bits
    return fifteen_bits.view(shape) >= round(p * LEVELS)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``x`` (any shape) with each element zeroed with probability ``p`` (to within ``2**-16``) and the
    rest scaled to keep the expectation, in training; ``x`` itself otherwise."""
    check_probability(p)
    if not training or p == 0:
        return x
    dropped = round(p * LEVELS)
    if x.device.type != "cpu" or dropped in (0, LEVELS):
        return F.dropout(x, p, training=True)
    return x.mul(keep_mask(x.shape, p)).mul_(LEVELS / (LEVELS - dropped))


class Dropout(nn.Module):
    """:func:`dropout` as a module, in place of ``torch.nn.Dropout(p)``: active in training mode."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        check_probability(p)
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"

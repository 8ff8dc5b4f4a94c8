"""MNIST-1D (Greydanus 2020): ten classes of 1-D signals of 40 steps, generated on the spot.

The ``mnist1d`` package's ``make_dataset`` with its default arguments
(``mnist1d.data.get_dataset_args()``: 5000 signals, seed 42) generates the standard data set,
the same numbers as its published pickle, without downloading anything.  Its own split gives
4000 training and 1000 test signals; a validation slice is held out of the training signals.
With ``shuffle_seq`` every signal's steps are permuted by one fixed permutation, which keeps the
values and destroys the order (the test that a model uses order).
"""

from __future__ import annotations

import functools
import random

import numpy as np
import torch

from rnnlab.data.containers import SignalData, Splits
from rnnlab.errors import DataError

CLASSES = [str(digit) for digit in range(10)]


def load_mnist1d(shuffle_seq: bool = False, validation_size: int = 500, seed: int = 0) -> Splits:
    """MNIST-1D as ``Splits`` of :class:`SignalData` with ``x`` float32 ``(N, 40, 1)``.

    Train and validation share the generator's 4000 training signals: ``validation_size`` of them,
    chosen by a permutation seeded with ``seed``, are the validation set (in their original order),
    the rest are train.  Test is the generator's 1000 test signals.  The tensors are fresh copies
    on every call; the generation itself (about 2 s) is done once per process.
    """
    data = _generate(shuffle_seq)
    train_size = len(data["y"])
    if not 0 <= validation_size < train_size:
        raise DataError(f"validation_size must be in 0..{train_size - 1}, got {validation_size}")
    held_out = torch.randperm(train_size, generator=torch.Generator().manual_seed(seed))[:validation_size]
    is_validation = torch.zeros(train_size, dtype=torch.bool)
    is_validation[held_out] = True
    x, y = _tensors(data["x"], data["y"])
    return Splits(
        train=SignalData(x[~is_validation], y[~is_validation], list(CLASSES)),
        validation=SignalData(x[is_validation], y[is_validation], list(CLASSES)),
        test=SignalData(*_tensors(data["x_test"], data["y_test"]), list(CLASSES)),
    )


def _tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``x (N, T)`` -> float32 ``(N, T, 1)``; ``y (N,)`` -> int64, both new tensors."""
    return torch.tensor(x, dtype=torch.float32).unsqueeze(-1), torch.tensor(y, dtype=torch.long)


@functools.lru_cache(maxsize=2)
def _generate(shuffle_seq: bool) -> dict[str, np.ndarray]:
    """``make_dataset``'s dictionary for the default arguments, leaving the global RNGs as they were."""
    from mnist1d.data import get_dataset_args, make_dataset  # imported here: it takes about a second

    args = get_dataset_args()
    args.shuffle_seq = shuffle_seq
    # make_dataset reseeds numpy's and Python's global generators; a data loader must not.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {key: data[key] for key in ("x", "y", "x_test", "y_test")}

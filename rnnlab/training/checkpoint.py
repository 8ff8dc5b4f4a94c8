"""Checkpoints: written atomically, read without executing code.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and
dictionaries saved with ``torch.save``; it is read back with
``torch.load(weights_only=True)``, which refuses anything that would run code.
Every file is first written to a temporary name in the same folder and then
renamed over the target, so a crash or Ctrl-C never leaves a half-written file
and never destroys the previous version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rnnlab.errors import CheckpointError
from rnnlab.files import atomic_write


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, executing no code from it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # torch raises several types for corrupt or foreign files
        raise CheckpointError(f"{path}: not a readable rnnlab checkpoint ({type(error).__name__})") from None



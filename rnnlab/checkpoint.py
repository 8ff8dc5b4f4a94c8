"""Checkpoints and run-directory files: written atomically, read without executing code.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and
dictionaries saved with ``torch.save``; it is read back with
``torch.load(weights_only=True)``, which refuses anything that would run code.
Every file is first written to a temporary name in the same folder and then
renamed over the target, so a crash or Ctrl-C never leaves a half-written file
and never destroys the previous version.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch


class CheckpointError(ValueError):
    """A checkpoint or run directory that cannot be used (missing, unreadable, or for another model)."""


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as indented JSON, atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(value, indent=2) + "\n"))


def read_json(path: Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable ({error})") from None


def keep_jsonl(path: Path, keep: Callable[[dict[str, Any]], bool]) -> None:
    """Rewrite a JSON-lines log atomically with only the records ``keep`` accepts (nothing if it is absent)."""
    if not path.exists():
        return
    records = [json.loads(line) for line in path.read_text().splitlines() if line]
    kept = "".join(json.dumps(r) + "\n" for r in records if keep(r))
    atomic_write(path, lambda tmp: tmp.write_text(kept))


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line (the metrics log grows by whole lines only)."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")

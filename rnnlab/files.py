"""Files a run writes: atomic writes, JSON and JSON lines, run-directory names, never overwriting a run.

Every file is first written to a temporary name in the same folder and then renamed over the
target, so a crash or Ctrl-C never leaves a half-written file and never destroys the previous
version.  Imports nothing of rnnlab but its errors.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnlab.errors import CheckpointError


def timestamped(prefix: str, parent: Path = Path("runs")) -> Path:
    """A new directory name under ``parent``: ``PREFIX-YYYYMMDD-HHMMSS``."""
    return Path(parent) / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def refuse_existing(directory: Path, hint: str) -> None:
    """Refuse a directory that already holds files (nothing saved is ever overwritten); ``hint`` says what
    to do instead."""
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise CheckpointError(f"{directory}: already holds files; {hint}")


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

"""Files a run writes: atomic writes, JSON and JSON lines, run-directory names, never overwriting a run.

Every file is first written to a temporary name in the same folder and then renamed over the
target, so a crash or Ctrl-C never leaves a half-written file and never destroys the previous
version; it gets the mode the umask gives any new file (run directories are shared between the
machines of a multi-machine run).  JSON is always valid JSON: a non-finite number is written as
``null``.  Imports nothing of rnnlab but its errors.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnlab.errors import CheckpointError, DataError

TEMPORARY = ".*.tmp"
"""The names :func:`atomic_write` writes to before renaming (left behind only by a killed process)."""


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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600, made what open() would have given
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_temporary(directory: Path) -> list[Path]:
    """Delete the temporary files a killed writer left in ``directory``; returns their paths."""
    leftovers = sorted(Path(directory).glob(TEMPORARY))
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, infinity) replaced by ``None``, so JSON stays valid."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def to_json(value: Any, indent: int | None = None) -> str:
    """Strict JSON text of ``value`` (non-finite numbers as ``null``)."""
    return json.dumps(finite(value), indent=indent, allow_nan=False)


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as indented JSON, atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(to_json(value, indent=2) + "\n"))


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
    kept = "".join(to_json(r) + "\n" for r in records if keep(r))
    atomic_write(path, lambda tmp: tmp.write_text(kept))


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line (the metrics log grows by whole lines only)."""
    with open(path, "a") as f:
        f.write(to_json(record) + "\n")


def fingerprint(path: Path) -> dict[str, Any]:
    """What identifies a data file: its absolute path, size in bytes and SHA-256 (read in 1 MiB blocks).
    Refuses a missing file, a directory, and anything that is not a regular file (``/dev/zero``)."""
    path = Path(path).absolute()
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a data file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file (a device, pipe or socket cannot be a data set)")
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    except OSError as error:
        raise DataError(f"{path}: unreadable ({error.strerror})") from None
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}

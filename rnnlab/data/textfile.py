"""Reading a text file the way every loader here does: UTF-8, line by line, errors as DataError."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rnnlab.data.limits import MAX_LINE_BYTES
from rnnlab.errors import DataError


def read_lines(path: Path | str, max_line_bytes: int = MAX_LINE_BYTES) -> list[str]:
    """The lines of a UTF-8 text file, without their line endings (``\\n`` or ``\\r\\n``).

    A leading byte-order mark is dropped.  Lines are read with a bounded length, so a file without
    line breaks (or ``/dev/zero``) is refused after ``max_line_bytes`` (default
    :data:`~rnnlab.data.limits.MAX_LINE_BYTES`) bytes instead of filling memory.  Raises
    :class:`DataError` naming the file when it is missing,
    a directory or unreadable, and the file and line when a line is too long or not valid UTF-8.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            return [_decode(path, number, line)
                    for number, line in enumerate(_raw_lines(path, file, max_line_bytes), start=1)]
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None


def _raw_lines(path: Path, file, max_line_bytes: int):
    """The lines of the open binary ``file`` without ``\\n``, each at most ``max_line_bytes`` long."""
    number = 0
    while line := file.readline(max_line_bytes + 1):
        number += 1
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            raise DataError(f"{path}:{number}: line longer than {max_line_bytes:,} bytes "
                            f"(is this a text file of the task's format?)")
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        yield line.removesuffix(b"\n")


def _decode(path: Path, number: int, line: bytes) -> str:
    try:
        return line.decode("utf-8").removesuffix("\r")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}:{number}: not valid UTF-8 ({error.reason} at byte {error.start} "
                        f"of the line)") from None


def refuse_header(path: Path, number: int, first: list[str], others: Counter) -> None:
    """Refuse a first line (line ``number``) that looks like a column header: none of its symbols
    (``first``: its label, or its phonemes) occurs on another line, while the other lines share
    theirs (``others`` counts the symbols of every other line)."""
    if not any(symbol in others for symbol in first) and others.total() > len(others):
        raise DataError(f"{path}:{number}: the first line looks like a header: {' '.join(first)!r} occurs on "
                        f"no other line; remove it (if it is an item, its class needs more than one example)")

"""Reading a text file the way every loader here does: UTF-8, line by line, errors as DataError."""

from __future__ import annotations

from pathlib import Path

from rnnlab.errors import DataError


def read_lines(path: Path | str) -> list[str]:
    """The lines of a UTF-8 text file, without their line endings (``\\n`` or ``\\r\\n``).

    A leading byte-order mark is dropped.  Raises :class:`DataError` naming the file when it is
    missing or unreadable, and the file and line when a line is not valid UTF-8.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line does not start another
    text = []
    for number, line in enumerate(lines, start=1):
        try:
            text.append(line.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError as error:
            raise DataError(f"{path}:{number}: not valid UTF-8 ({error.reason} at byte {error.start} "
                            f"of the line)") from None
    return text

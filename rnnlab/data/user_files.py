"""Users' own data files: signals in ``.npz`` archives, labelled texts in TSV files.

Every problem is a :class:`DataError` that names the file and, where there is one, the line or
array, so a bad file is fixed from the message alone.  (CoNLL-U files: :mod:`rnnlab.data.conllu_files`.)
"""

from __future__ import annotations

import lzma
import math
import tokenize
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.containers import SignalData, TextData
from rnnlab.data.limits import MAX_STEPS, MAX_TEXT_CHARS, check_length
from rnnlab.data.textfile import read_lines, refuse_header
from rnnlab.errors import DataError


def read_npz(path: Path | str, labels_required: bool = True) -> SignalData:
    """Signals from an ``.npz`` archive with arrays ``x`` and ``y`` (``y`` may be absent when
    ``labels_required`` is false, as for prediction: the signals then all get label ``"?"``).

    ``x`` is numeric, ``(N, T)`` (one feature per step) or ``(N, T, F)``, finite within float32's
    range, with at most :data:`~rnnlab.data.limits.MAX_STEPS` steps, and becomes float32 ``(N, T, F)``.
    Arrays are read without unpickling anything (an object array is refused) and without reserving
    memory for more data than the archive holds.

    ``y`` is ``(N,)``: the classes are the labels present, in sorted order (integer labels ``0, 1,
    100000`` are three classes named ``"0", "1", "100000"``; string labels are named by themselves),
    so ids differ between files with different labels: to combine files, map through the class
    names (as a trained task does), not the ids.
    """
    path = Path(path)
    x, y = _arrays(path, labels_required)
    signals = check_signals(f"{path}: array 'x'", x)
    if y is None:
        y = np.array(["?"] * len(x))
    if y.ndim != 1:
        raise DataError(f"{path}: array 'y' must be (N,), got shape {y.shape}")
    if len(x) != len(y):
        raise DataError(f"{path}: arrays 'x' {x.shape} and 'y' {y.shape} disagree on N (the first dimension)")
    labels, classes = _labels(path, y)
    return SignalData(signals, labels, classes)


def check_signals(where: str, x: np.ndarray) -> torch.Tensor:
    """``x`` ``(N, T)`` or ``(N, T, F)`` as float32 ``(N, T, F)``, after the checks every signal passes
    (in a file or given to predict): numeric, not empty, finite within float32's range, at most
    ``MAX_STEPS`` steps.  ``where`` names the array in the message (``"data.npz: array 'x'"``)."""
    if x.ndim not in (2, 3):
        raise DataError(f"{where} must be (N, T) or (N, T, F), got shape {x.shape}")
    if x.size == 0:
        raise DataError(f"{where} is empty, shape {x.shape}")
    if x.dtype.kind not in "iuf":  # signed, unsigned, float: not bool, complex, strings
        raise DataError(f"{where} must be numeric (integer or float), got dtype {x.dtype}")
    if not (finite := np.isfinite(x)).all():
        raise DataError(f"{where} {x.shape} contains NaN or infinite values" + _first_sequence(~finite))
    if x.dtype.kind == "f" and x.dtype.itemsize > 4 and (beyond := np.abs(x) > FLOAT32_MAX).any():
        raise DataError(f"{where} {x.shape} has values beyond float32's range (±{FLOAT32_MAX:.1e}); scale them"
                        + _first_sequence(beyond))
    check_length(where, "every sequence", x.shape[1], MAX_STEPS, "steps")
    signals = torch.from_numpy(x.astype(np.float32))  # native byte order, from any integer or float width
    return signals.unsqueeze(-1) if x.ndim == 2 else signals


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _first_sequence(bad: np.ndarray) -> str:
    """`` (first in sequence K)``: the first sequence with a ``bad`` value, when there are several."""
    first = int(np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1))[0])
    return f" (first in sequence {first})" if len(bad) > 1 else ""


ZIP_MAGIC = b"PK\x03\x04"
NPY_MAGIC = b"\x93NUMPY"


def _arrays(path: Path, labels_required: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays ``x`` and ``y`` (``None`` if absent and not required), read without unpickling anything."""
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a file")
    try:
        with path.open("rb") as file:
            magic = file.read(len(NPY_MAGIC))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
    if magic.startswith(NPY_MAGIC):
        raise DataError(f"{path}: a single array, not an .npz archive (save with np.savez(path, x=..., y=...))")
    if not magic.startswith(ZIP_MAGIC):
        raise DataError(f"{path}: not an .npz archive (an .npz file is a zip archive of arrays; "
                        f"save one with np.savez(path, x=..., y=...))")
    try:
        archive = zipfile.ZipFile(path)
    except READ_ERRORS as error:  # a damaged archive
        raise DataError(f"{path}: cannot read as .npz ({error})") from None
    with archive:
        members = {member.removesuffix(".npy"): member for member in archive.namelist()}
        needed = ("x", "y") if labels_required else ("x",)
        missing = [name for name in needed if name not in members]
        if missing:
            raise DataError(f"{path}: no array {' or '.join(map(repr, missing))} "
                            f"(arrays: {', '.join(members) or 'none'})")
        y = _array(path, archive, members["y"], "y") if "y" in members else None
        return _array(path, archive, members["x"], "x"), y


READ_ERRORS = (OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error,
               lzma.LZMAError)
"""What reading a damaged zip archive or .npy header raises (``RuntimeError``: an encrypted member,
``NotImplementedError``: an unknown compression method, ``zlib.error``/``LZMAError``: damaged data)."""
NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
CHUNK_BYTES = 1 << 20


def _array(path: Path, archive: zipfile.ZipFile, member: str, name: str) -> np.ndarray:
    """Array ``name``, the archive's ``member``: a .npy array of plain values (one of Python objects is
    refused, never unpickled), read in chunks, so that a header announcing more data than the member
    holds is refused without reserving memory for it."""
    where = f"{path}: array {name!r}"
    try:
        with archive.open(member) as file:
            start = file.read(len(NPY_MAGIC) + 2)
            if not start.startswith(NPY_MAGIC):
                raise DataError(f"{where} is not a .npy array (save the archive with np.savez(path, x=..., y=...))")
            version = tuple(start[len(NPY_MAGIC):])
            if version not in NPY_HEADERS:
                raise DataError(f"{where} cannot be read (.npy format version {version} is not supported)")
            shape, fortran_order, dtype = NPY_HEADERS[version](file)
            if dtype.hasobject:
                raise DataError(f"{where} cannot be read (Object arrays are not loaded: unpickling them could "
                                f"run code; save numbers or strings)")
            if dtype.itemsize == 0:
                raise DataError(f"{where} cannot be read (its values have no size, dtype {dtype})")
            count = math.prod(shape)
            data = _read_up_to(file, count * dtype.itemsize)
        if len(data) < count * dtype.itemsize:
            raise DataError(f"{where} cannot be read (its header announces shape {shape} of {dtype}, "
                            f"{count * dtype.itemsize:,} bytes, but the archive holds only {len(data):,})")
        array = np.frombuffer(data, dtype, count)  # a shape numpy cannot make, (0, 10**12, 10**12): ValueError
        return array.reshape(shape[::-1]).transpose() if fortran_order else array.reshape(shape)
    except DataError:
        raise
    except READ_ERRORS as error:  # in one line: some of numpy's messages run over several
        raise DataError(f"{where} cannot be read ({' '.join(str(error).split())})") from None
    except tokenize.TokenError as error:  # numpy's header parser, on an unclosed header such as "{"
        raise DataError(f"{where} cannot be read (its .npy header cannot be parsed: {error.args[0]})") from None


def _read_up_to(file, size: int) -> bytearray:
    """At most ``size`` bytes of ``file``, read in chunks: memory grows with the bytes read, not with ``size``."""
    data = bytearray()
    while len(data) < size and (chunk := file.read(min(size - len(data), CHUNK_BYTES))):
        data += chunk
    return data


def _labels(path: Path, y: np.ndarray) -> tuple[torch.Tensor, list[str]]:
    """Class ids int64 ``(N,)`` and the names of the classes present, for integer or string labels ``y``."""
    if y.dtype.kind in "iu":
        if len(y) and y.min() < 0:
            raise DataError(f"{path}: array 'y' has negative label {int(y.min())}; integer labels must be 0 or more")
    elif y.dtype.kind not in "US":
        raise DataError(f"{path}: array 'y' must hold integer or string labels, got dtype {y.dtype}")
    values, ids = np.unique(y, return_inverse=True)  # sorted: by value for integers
    return torch.tensor(ids.reshape(-1), dtype=torch.long), [str(v) for v in values]


def read_tsv(path: Path | str) -> TextData:
    """Labelled texts from a UTF-8 file of ``text<TAB>label`` lines.

    Every line has exactly two tab-separated columns; both are stripped of surrounding white space.
    Blank lines are skipped.  A line without a tab or with more than one, an empty text or label,
    a text over :data:`~rnnlab.data.limits.MAX_TEXT_CHARS` characters, and a first line that looks
    like a header (its label occurs on no other line, while other labels repeat) are each a
    :class:`DataError` naming the file and line.
    """
    path = Path(path)
    texts, labels, first = [], [], 0
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) == 1:
            raise DataError(f"{path}:{number}: expected text<TAB>label, found no tab")
        if len(columns) > 2:
            raise DataError(f"{path}:{number}: expected text<TAB>label (2 columns), found {len(columns)} columns; "
                            f"remove the extra tabs")
        text, label = columns[0].strip(), columns[1].strip()
        if not label:
            raise DataError(f"{path}:{number}: empty label")
        if not text:
            raise DataError(f"{path}:{number}: empty text")
        check_length(f"{path}:{number}", "the text", len(text), MAX_TEXT_CHARS, "characters")
        texts.append(text)
        labels.append(label)
        first = first or number
    if not texts:
        raise DataError(f"{path}: no text<TAB>label lines (the file is empty)")
    refuse_header(path, first, [labels[0]], Counter(labels[1:]))
    return TextData(texts, labels)

"""Users' own data files: signals in ``.npz`` archives, labelled texts in TSV files.

Every problem is a :class:`DataError` that names the file and, where there is one, the line or
array, so a bad file is fixed from the message alone.  (CoNLL-U files: :mod:`rnnlab.data.conllu_files`.)
"""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.containers import SignalData, TextData
from rnnlab.data.limits import MAX_TEXT_CHARS, check_length
from rnnlab.data.textfile import read_lines, refuse_header
from rnnlab.errors import DataError


def read_npz(path: Path | str, labels_required: bool = True) -> SignalData:
    """Signals from an ``.npz`` archive with arrays ``x`` and ``y`` (``y`` may be absent when
    ``labels_required`` is false, as for prediction: the signals then all get label ``"?"``).

    ``x`` is numeric, ``(N, T)`` (one feature per step) or ``(N, T, F)``, finite, and becomes
    float32 ``(N, T, F)``.  ``y`` is ``(N,)``: integer labels ``0 .. K-1`` keep their values and are
    named ``"0" .. "K-1"`` (``K`` = the largest label + 1, so files missing a class still agree on
    ids); string labels get ids in sorted order.  To combine files with string labels, map through
    the class names (e.g. a task's class list), not the ids.
    """
    path = Path(path)
    x, y = _arrays(path, labels_required)
    if y is None:
        y = np.array(["?"] * len(x))
    if x.ndim not in (2, 3):
        raise DataError(f"{path}: array 'x' must be (N, T) or (N, T, F), got shape {x.shape}")
    if y.ndim != 1:
        raise DataError(f"{path}: array 'y' must be (N,), got shape {y.shape}")
    if len(x) != len(y):
        raise DataError(f"{path}: arrays 'x' {x.shape} and 'y' {y.shape} disagree on N (the first dimension)")
    if x.size == 0:
        raise DataError(f"{path}: array 'x' is empty, shape {x.shape}")
    if x.dtype.kind not in "iuf":  # signed, unsigned, float: not bool, complex, strings
        raise DataError(f"{path}: array 'x' must be numeric (integer or float), got dtype {x.dtype}")
    if not np.isfinite(x).all():
        first = int(np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0])
        raise DataError(f"{path}: array 'x' {x.shape} contains NaN or infinite values (first in sequence {first})")
    labels, classes = _labels(path, y)
    signals = torch.tensor(x, dtype=torch.float32)
    return SignalData(signals.unsqueeze(-1) if x.ndim == 2 else signals, labels, classes)


def _arrays(path: Path, labels_required: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays ``x`` and ``y`` (``None`` if absent and not required), read without unpickling anything."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # a foreign or damaged file
        raise DataError(f"{path}: cannot read as .npz ({error})") from None
    if isinstance(archive, np.ndarray):
        raise DataError(f"{path}: a single array, not an .npz archive (save with np.savez(path, x=..., y=...))")
    with archive:
        needed = ("x", "y") if labels_required else ("x",)
        missing = [name for name in needed if name not in archive.files]
        if missing:
            raise DataError(f"{path}: no array {' or '.join(map(repr, missing))} "
                            f"(arrays: {', '.join(archive.files) or 'none'})")
        y = _array(path, archive, "y") if "y" in archive.files else None
        return _array(path, archive, "x"), y


def _array(path: Path, archive: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    try:
        return archive[name]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # object arrays are a ValueError
        raise DataError(f"{path}: array {name!r} cannot be read ({error})") from None


def _labels(path: Path, y: np.ndarray) -> tuple[torch.Tensor, list[str]]:
    """Class ids int64 ``(N,)`` and class names for integer or string labels ``y``."""
    if y.dtype.kind in "iu":
        if y.min() < 0:
            raise DataError(f"{path}: array 'y' has negative label {int(y.min())}; integer labels must be 0..K-1")
        return torch.tensor(y, dtype=torch.long), [str(k) for k in range(int(y.max()) + 1)]
    if y.dtype.kind in "US":
        names = y.astype(str)
        classes, ids = np.unique(names, return_inverse=True)
        return torch.tensor(ids, dtype=torch.long), [str(c) for c in classes]
    raise DataError(f"{path}: array 'y' must hold integer or string labels, got dtype {y.dtype}")


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

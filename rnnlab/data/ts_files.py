"""The ``.ts`` format of the UEA/UCR time-series classification archive (sktime, aeon), read by rnnlab.

A ``.ts`` file holds ``#`` comments, ``@`` header lines, then after ``@data`` one case per line: its
channels separated by ``:``, the values of a channel by ``,``, and (with ``@classLabel true``) the class
label last::

    @problemName JapaneseVowels
    @univariate false
    @dimensions 12
    @equalLength false
    @classLabel true 1 2 3 4 5 6 7 8 9
    @data
    1.86,1.89,1.93:-0.20,-0.19,-0.18: ... :1

Univariate and multivariate, equal and unequal lengths, string or numeric labels.  Missing values
(``?`` or ``NaN``) are treated as the archive's own tools do: at the end of a case they are padding (the
case is that much shorter); inside it they are filled by linear interpolation within the channel
(before the first value, after the last: the nearest value).  A channel with no value at all, channels
of one case with different lengths, ``@timeStamps true`` (values as ``(time,value)`` pairs) and
anything malformed are refused with the file and line.

Shapes: ``N`` cases, ``T`` the longest case's steps, ``F`` channels.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.containers import SignalData, Splits
from rnnlab.data.limits import MAX_STEPS, check_length
from rnnlab.data.subsets import split_items
from rnnlab.data.textfile import read_lines
from rnnlab.data.user_files import FLOAT32_MAX
from rnnlab.errors import DataError

MAX_TS_LINE_BYTES = 256 << 20
"""Bytes per line of a ``.ts`` file: one case holds every value of every channel (256 MiB)."""
MISSING = ("?", "nan", "NaN", "NAN")
BOOLEAN_HEADERS = ("timestamps", "missing", "univariate", "equallength", "classlabel", "targetlabel")


JAPANESE_VOWELS_ENV = "RNNLAB_JAPANESE_VOWELS"
JAPANESE_VOWELS_FILES = {"train": "JapaneseVowels_TRAIN.ts", "test": "JapaneseVowels_TEST.ts"}


def default_japanese_vowels_root() -> Path:
    """``$RNNLAB_JAPANESE_VOWELS`` if set, else ``shared/data/japanese-vowels`` beside the repository root."""
    if os.environ.get(JAPANESE_VOWELS_ENV):
        return Path(os.environ[JAPANESE_VOWELS_ENV])
    repository = Path(__file__).resolve().parents[2]  # the folder that holds the rnnlab package
    return repository.parent / "shared" / "data" / "japanese-vowels"


def load_japanese_vowels(root: Path | str | None = None, shuffle_frames: bool = False) -> Splits:
    """Japanese Vowels (Kudo et al. 1999; UCI, CC BY 4.0): which of 9 speakers uttered /ae/, from 12 LPC
    cepstrum channels per frame, 7-29 frames, as ``Splits`` of :class:`SignalData` with lengths.  The
    official split: 270 training and 370 test utterances; the validation split is 3 utterances per speaker
    held out of the training part (seeded, the same every time).  ``shuffle_frames``: each utterance's
    frames in a random order of its own (:func:`shuffled_frames`), for the "order is the point" comparison."""
    root = Path(root) if root is not None else default_japanese_vowels_root()
    if not root.is_dir():
        raise DataError(f"{root}: Japanese Vowels not found (pass root= or set ${JAPANESE_VOWELS_ENV} to the "
                        f"folder that holds {JAPANESE_VOWELS_FILES['train']})")
    train, test = (read_ts(root / name) for name in JAPANESE_VOWELS_FILES.values())
    train, validation = split_items(train, [0.9, 0.1], seed=0)
    splits = Splits(train, validation, test)
    return Splits(*(shuffled_frames(part, seed) for seed, part in enumerate(splits))) if shuffle_frames else splits


def shuffled_frames(data: SignalData, seed: int = 0) -> SignalData:
    """``data`` with each sequence's real steps in a random order of its own (seeded: the same every time),
    padding left at the end: what a model can learn from the frames alone, without their order."""
    generator = torch.Generator().manual_seed(seed)
    x = data.x.clone()
    for k, n in enumerate(data.steps().tolist()):
        x[k, :n] = x[k, torch.randperm(n, generator=generator)]
    return SignalData(x, data.y, data.classes, data.lengths)


def read_ts(path: Path | str, labels_required: bool = True) -> SignalData:
    """The cases of a ``.ts`` file as :class:`SignalData`: ``x`` float32 ``(N, T, F)`` zero-padded after each
    case's own length, ``lengths (N,)``, ``y`` class ids into ``classes`` (the ``@classLabel`` list's order,
    else the labels present, sorted).  Without ``@classLabel true`` (unlabelled cases, as for prediction)
    ``labels_required`` must be false, and every case gets the label ``"?"``.

    Raises:
        DataError: naming the file and line of the first problem.
    """
    path = Path(path)
    lines = read_lines(path, max_line_bytes=MAX_TS_LINE_BYTES)
    header, first_data = _header(path, lines)
    labelled = header.get("classlabel", False)
    declared = header.get("classlabel_values", [])
    if header.get("targetlabel"):
        raise DataError(f"{path}: @targetLabel true: a regression data set; rnnlab's ts-classify needs class "
                        "labels (@classLabel true)")
    if header.get("timestamps"):
        raise DataError(f"{path}: @timeStamps true: values given as (time,value) pairs are not supported; "
                        "write the values alone, one per step")
    if labels_required and not labelled:
        raise DataError(f"{path}: no class labels (@classLabel true with the list of labels is needed to train "
                        "or evaluate)")
    cases, labels, numbers = [], [], []
    for number, line in enumerate(lines[first_data:], start=first_data + 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split(":")
        if labelled:
            if len(fields) < 2:
                raise DataError(f"{path}:{number}: expected channels and a class label separated by ':', "
                                f"got {_preview(text)}")
            label = fields.pop().strip()
            if declared and label not in declared:
                raise DataError(f"{path}:{number}: class label {label!r} is not among those @classLabel declares "
                                f"({' '.join(declared)})")
            labels.append(label)
        cases.append(_case(path, number, fields, header))
        numbers.append(number)
    if not cases:
        raise DataError(f"{path}: no cases after @data")
    channels = {case.shape[1] for case in cases}
    if len(channels) > 1:
        first = next(n for n, case in zip(numbers, cases) if case.shape[1] != cases[0].shape[1])
        raise DataError(f"{path}:{first}: {cases[numbers.index(first)].shape[1]} channels, where line "
                        f"{numbers[0]} has {cases[0].shape[1]}")
    if header.get("equallength") and len({len(case) for case in cases}) > 1:
        first = next(n for n, case in zip(numbers, cases) if len(case) != len(cases[0]))
        raise DataError(f"{path}:{first}: @equalLength true, but this case has {len(cases[numbers.index(first)])} "
                        f"steps and line {numbers[0]}'s {len(cases[0])}")
    lengths = torch.tensor([len(case) for case in cases], dtype=torch.long)
    x = torch.zeros(len(cases), int(lengths.max()), cases[0].shape[1])
    for k, case in enumerate(cases):
        x[k, : len(case)] = torch.from_numpy(case)
    if not labelled:
        labels = ["?"] * len(cases)
    classes = declared if declared else sorted(set(labels))
    index = {name: k for k, name in enumerate(classes)}
    y = torch.tensor([index[label] for label in labels], dtype=torch.long)
    return SignalData(x, y, list(classes), lengths)


def _header(path: Path, lines: list[str]) -> tuple[dict, int]:
    """The ``@`` header as a dict (lower-case keys; booleans parsed) and the index of the first data line."""
    header: dict = {}
    for index, line in enumerate(lines):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if not text.startswith("@"):
            raise DataError(f"{path}:{index + 1}: expected a '@' header line or '@data' before the cases, got "
                            f"{_preview(text)} (is this a .ts file?)")
        key, *values = text[1:].split()
        key = key.lower()
        if key == "data":
            return header, index + 1
        if key in BOOLEAN_HEADERS:
            if not values or values[0].lower() not in ("true", "false"):
                raise DataError(f"{path}:{index + 1}: @{key} must be followed by true or false, got {_preview(text)}")
            header[key] = values[0].lower() == "true"
            if key == "classlabel":
                header["classlabel_values"] = values[1:]
                if header[key] and not values[1:]:
                    raise DataError(f"{path}:{index + 1}: @classLabel true must list the class labels")
                if len(set(values[1:])) != len(values[1:]):
                    raise DataError(f"{path}:{index + 1}: @classLabel lists a label twice")
        elif key in ("dimensions", "serieslength"):
            if len(values) != 1 or not values[0].isdigit() or int(values[0]) < 1:
                raise DataError(f"{path}:{index + 1}: @{key} must be a positive whole number, got {_preview(text)}")
            header[key] = int(values[0])
        # @problemName and headers of later versions carry nothing rnnlab needs
    raise DataError(f"{path}: no @data line: not a .ts file, or its header is cut short")


def _case(path: Path, number: int, fields: list[str], header: dict) -> np.ndarray:
    """One case's channels as float32 ``(steps, channels)``, missing values filled or trimmed (see the
    module docstring)."""
    where = f"{path}:{number}"
    if "dimensions" in header and len(fields) != header["dimensions"]:
        raise DataError(f"{where}: {len(fields)} channel(s), where @dimensions says {header['dimensions']}")
    if header.get("univariate") and len(fields) != 1:
        raise DataError(f"{where}: {len(fields)} channels in a file that says @univariate true")
    columns = []
    for channel, text in enumerate(fields, start=1):
        values = text.split(",")
        check_length(where, f"channel {channel}", len(values), MAX_STEPS, "steps")
        try:
            columns.append(np.array([math.nan if v.strip() in MISSING else float(v) for v in values],
                                    dtype=np.float64))
        except ValueError:
            bad = next(v for v in values if v.strip() not in MISSING and not _is_number(v))
            raise DataError(f"{where}: channel {channel}: {bad.strip()[:40]!r} is not a number (missing "
                            "values are '?' or 'NaN')") from None
    lengths = {len(column) for column in columns}
    if len(lengths) > 1:
        raise DataError(f"{where}: its channels have different lengths ({', '.join(map(str, sorted(lengths)))} "
                        "values); the channels of one case must be equally long")
    case = np.stack(columns, axis=1)  # (steps, channels)
    if np.isinf(case).any() or (np.abs(case[np.isfinite(case)]) > FLOAT32_MAX).any():
        raise DataError(f"{where}: infinite values or values beyond float32's range (±{FLOAT32_MAX:.1e})")
    present = ~np.isnan(case)
    if not present.any(axis=0).all():
        channel = int(np.flatnonzero(~present.any(axis=0))[0]) + 1
        raise DataError(f"{where}: channel {channel} has no value at all, only missing ones")
    end = int(np.flatnonzero(present.any(axis=1))[-1]) + 1  # trailing steps missing everywhere: padding
    return _interpolated(case[:end]).astype(np.float32)


def _interpolated(case: np.ndarray) -> np.ndarray:
    """``case (steps, channels)`` with each channel's NaNs filled linearly between its values (the nearest
    value before the first and after the last)."""
    steps = np.arange(len(case))
    for channel in range(case.shape[1]):
        column = case[:, channel]
        missing = np.isnan(column)
        if missing.any():
            column[missing] = np.interp(steps[missing], steps[~missing], column[~missing])
    return case


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _preview(text: str) -> str:
    return repr(text[:60] + ("..." if len(text) > 60 else ""))

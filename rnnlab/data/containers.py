"""The plain containers every loader returns, and the one error they raise.

A data set is a :class:`SignalData` (float sequences with one class each), a :class:`TextData`
(strings with one label each) or a :class:`TaggedData` (token sequences with one tag per token);
a loader returns three of them as :class:`Splits`.  Nothing here knows about models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from rnnlab.errors import DataError


@dataclass
class SignalData:
    """Sequences of feature vectors, one class per sequence.

    Attributes:
        x: float32 ``(N, T, F)``: ``N`` sequences of ``T`` steps with ``F`` features each.
        y: int64 ``(N,)``: class ids, indices into ``classes``.
        classes: the class names; ``classes[k]`` is the name of class id ``k``.
        lengths: int64 ``(N,)``, each sequence's own number of steps (its steps after are zero padding),
            or ``None``: every sequence has all ``T`` steps.
    """

    x: torch.Tensor
    y: torch.Tensor
    classes: list[str]
    lengths: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.x.dim() != 3 or self.y.dim() != 1 or len(self.x) != len(self.y):
            raise DataError(f"SignalData needs x (N, T, F) and y (N,), got x {tuple(self.x.shape)} "
                            f"and y {tuple(self.y.shape)}")
        if self.lengths is not None and (self.lengths.shape != self.y.shape or (len(self.y) and (
                int(self.lengths.min()) < 1 or int(self.lengths.max()) > self.x.shape[1]))):
            raise DataError(f"SignalData needs lengths (N,) in 1..T={self.x.shape[1]}")

    def __len__(self) -> int:
        return len(self.y)

    def steps(self) -> torch.Tensor:
        """Each sequence's own number of steps ``(N,)``: ``lengths``, or ``T`` for every one."""
        return self.lengths if self.lengths is not None else torch.full((len(self),), self.x.shape[1])


@dataclass
class TextData:
    """Strings with one label each: ``labels[i]`` is the label of ``texts[i]``."""

    texts: list[str]
    labels: list[str]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise DataError(f"TextData needs one label per text, got {len(self.texts)} texts "
                            f"and {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class TaggedData:
    """Token sequences with one tag per token: ``tags[i][j]`` is the tag of ``sentences[i][j]``;
    ``second_tags``, where the data has them, a second tag of every token (CoNLL-U: its XPOS)."""

    sentences: list[list[str]]
    tags: list[list[str]]
    second_tags: list[list[str]] | None = None

    def __post_init__(self) -> None:
        for tags in (self.tags, self.second_tags):
            if tags is not None and (len(self.sentences) != len(tags) or any(
                    len(s) != len(t) for s, t in zip(self.sentences, tags))):
                raise DataError("TaggedData needs one tag sequence per sentence and one tag per token")

    def __len__(self) -> int:
        return len(self.sentences)


Dataset = SignalData | TextData | TaggedData


class Splits(NamedTuple):
    """A data set in three parts; all three are of the same container type."""

    train: Dataset
    validation: Dataset
    test: Dataset

"""Holding out parts of a data set: seeded random subsets of any data container."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rnnlab.data.containers import SignalData, TaggedData, TextData
from rnnlab.data.pronunciations import Transcriptions


def split_items(data, fractions: Sequence[float], seed: int) -> list:
    """Split a data container into parts of the given fractions, by a seeded permutation."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
    bounds, total = [0], 0.0
    for fraction in fractions:
        total += fraction
        bounds.append(round(total * len(data)))
    return [subset(data, order[a:b]) for a, b in zip(bounds, bounds[1:])]


def subset(data, indices: Sequence[int]):
    """The items of a data container at ``indices``, as a container of the same type."""
    if isinstance(data, SignalData):
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return SignalData(data.x[index], data.y[index], data.classes)
    if isinstance(data, TextData):
        return TextData([data.texts[i] for i in indices], [data.labels[i] for i in indices])
    if isinstance(data, Transcriptions):
        return Transcriptions([data.sources[i] for i in indices], [data.targets[i] for i in indices])
    return TaggedData([data.sentences[i] for i in indices], [data.tags[i] for i in indices])

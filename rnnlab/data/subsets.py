"""Holding out parts of a data set: seeded random subsets of any data container, stratified by
label where items have one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

from rnnlab.data.containers import SignalData, TaggedData, TextData
from rnnlab.data.pronunciations import Transcriptions


def split_items(data, fractions: Sequence[float], seed: int) -> list:
    """Split a data container into parts of the given fractions, by a seeded permutation.

    Labelled data (:class:`SignalData`, :class:`TextData`) is split class by class, so every part
    holds each class in about the data set's proportion, and a class too rare to share (one item,
    or two of a 0.8/0.1/0.1 split) stays whole in the first part, which a model trains on.
    Within a part, items keep the permutation's order.
    """
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
    labels = item_labels(data)
    groups: dict[object, list[int]] = defaultdict(list)
    for index in order:
        groups[None if labels is None else labels[index]].append(index)
    part_of = {}
    for members in groups.values():
        bounds, total = [0], 0.0
        for fraction in fractions:
            total += fraction
            bounds.append(round(total * len(members)))
        for part, (a, b) in enumerate(zip(bounds, bounds[1:])):
            part_of.update((index, part) for index in members[a:b])
    return [subset(data, [i for i in order if part_of.get(i) == part]) for part in range(len(fractions))]


def item_labels(data) -> list | None:
    """The one label of each item of a labelled container, or ``None`` for sequence-labelled data."""
    if isinstance(data, SignalData):
        return data.y.tolist()
    if isinstance(data, TextData):
        return list(data.labels)
    return None


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

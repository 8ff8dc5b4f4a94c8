"""Holding out parts of a data set: seeded random subsets of any data container, stratified by
label where items have one."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rnnlab.data.containers import SignalData, TaggedData, TextData
from rnnlab.data.pronunciations import Transcriptions

RARE = 2
"""A class with at most this many items is too rare to share: it stays whole in the first part."""


def split_items(data, fractions: Sequence[float], seed: int) -> list:
    """Split a data container into parts of the given fractions, by a seeded permutation.

    The parts' sizes are the fractions of the whole data set.  Labelled data (:class:`SignalData`,
    :class:`TextData`) is split class by class: each later part takes about its fraction of every
    class (the rounding spread over the classes by largest remainder, so that many small classes
    still fill every part), a class too rare to share (:data:`RARE` items or fewer) stays whole in
    the first part, which a model trains on, and every class keeps at least one item there.
    Within a part, items keep the permutation's order.
    """
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
    labels = item_labels(data)
    groups: dict[object, list[int]] = {}
    for index in order:  # classes in the order the permutation first meets them
        groups.setdefault(None if labels is None else labels[index], []).append(index)
    sizes = [len(members) for members in groups.values()]
    counts = _held_out_counts(sizes, fractions, shared=labels is None)
    part_of = {}
    for members, held_out in zip(groups.values(), counts):
        start = 0
        for part, count in enumerate(held_out, start=1):
            part_of.update((index, part) for index in members[start:start + count])
            start += count
    return [subset(data, [i for i in order if part_of.get(i, 0) == part]) for part in range(len(fractions))]


def _held_out_counts(sizes: list[int], fractions: Sequence[float], shared: bool) -> list[list[int]]:
    """For each class of ``sizes`` items, how many go to each part after the first.

    Each later part gets ``round(fraction * total)`` items in all (the first part the rest): every
    class its fraction's whole number, then one more each to the classes with the largest
    remainders, while a class keeps at least one item for the first part.  With ``shared`` (one
    group, unlabelled data) the part sizes are simply rounded."""
    total = sum(sizes)
    bounds, cumulative = [0], 0.0
    for fraction in fractions:
        cumulative += fraction
        bounds.append(round(cumulative * total))
    targets = [b - a for a, b in zip(bounds[1:], bounds[2:])]
    if shared:
        return [targets]
    free = [0 if size <= RARE else size - 1 for size in sizes]  # what a class can give up
    counts = [[0] * len(targets) for _ in sizes]
    for part, (fraction, target) in enumerate(zip(fractions[1:], targets)):
        quotas = [fraction * size if free[c] else 0.0 for c, size in enumerate(sizes)]
        for c, quota in enumerate(quotas):
            counts[c][part] = min(int(quota), free[c])
            free[c] -= counts[c][part]
        missing = target - sum(counts[c][part] for c in range(len(sizes)))
        by_remainder = sorted(range(len(sizes)), key=lambda c: -(quotas[c] - int(quotas[c])))
        for c in by_remainder:
            if missing <= 0:
                break
            if free[c] > 0 and quotas[c] > 0:
                counts[c][part] += 1
                free[c] -= 1
                missing -= 1
    return counts


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
        lengths = None if data.lengths is None else data.lengths[index]
        return SignalData(data.x[index], data.y[index], data.classes, lengths)
    if isinstance(data, TextData):
        return TextData([data.texts[i] for i in indices], [data.labels[i] for i in indices])
    if isinstance(data, Transcriptions):
        return Transcriptions([data.sources[i] for i in indices], [data.targets[i] for i in indices])
    second = None if data.second_tags is None else [data.second_tags[i] for i in indices]
    return TaggedData([data.sentences[i] for i in indices], [data.tags[i] for i in indices], second)

"""Deterministic train/validation/test splits by a stable hash of each example's key.

Python's built-in ``hash`` of a string changes from process to process, so a split made with it
would differ between runs; a BLAKE2 digest of the key (and the seed) does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def stable_hash(key: str, seed: int = 0) -> int:
    """A 64-bit hash of ``key`` that is the same in every process, on every machine."""
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def split_by_hash(keys: Sequence[str], fractions: tuple[float, float, float],
                  seed: int = 0) -> tuple[list[int], list[int], list[int]]:
    """Indices of ``keys`` for train, validation and test.

    The keys are ordered by :func:`stable_hash` and the order is cut at the cumulative
    ``fractions`` (e.g. ``(0.8, 0.1, 0.1)``), so the sizes are exact and each part is a
    pseudo-random sample that depends only on the keys and the seed.  The keys should be
    distinct (a repeated key could fall on both sides of a cut).  Each part lists its indices in
    hash order, which mixes any grouping of the input.
    """
    order = sorted(range(len(keys)), key=lambda i: (stable_hash(keys[i], seed), keys[i]))
    n_train = round(fractions[0] * len(keys))
    n_validation = round(fractions[1] * len(keys))
    return order[:n_train], order[n_train:n_train + n_validation], order[n_train + n_validation:]

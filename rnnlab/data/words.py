"""Which language is a word from: the most frequent words of twelve Latin-script languages.

The words come from ``wordfreq`` (its word lists ship inside the package; nothing is downloaded).
The choices, so that every word has exactly one correct label and the task is about spelling:

- Languages (:data:`DEFAULT_LANGUAGES`): English, German, Dutch, Swedish (Germanic); French,
  Spanish, Italian, Portuguese (Romance); Polish (Slavic); Turkish (Turkic); Indonesian
  (Austronesian); Finnish (Uralic), all written in the Latin alphabet.
- Candidates: each language's ``3 * words_per_language`` most frequent words
  (``wordfreq.top_n_list``, whose lists are already case-folded: German "ß" appears as "ss"),
  lower-cased, keeping only words made entirely of Latin letters (accents included; no digits,
  apostrophes, hyphens or other scripts), without repeats.
- Ambiguous words, those among the candidates of two or more of the chosen languages (such as
  "de", "in", "film", "hotel"), are dropped from all of them; :func:`ambiguous_words` returns
  them.  With the defaults 8,599 words are dropped; Portuguese, Spanish and English lose the most.
- Balance: each language keeps its ``words_per_language`` most frequent remaining words
  (default 3000: 36,000 words in all, 28,800 of them to train on, so that an epoch stays short).
- Split: within each language, the words are ordered by a stable hash of word and seed and cut
  80/10/10, so every split has the same number of words of every language (2400/300/300 with the
  defaults) and no word is in two splits.  Each split lists its words in a seeded pseudo-random
  order, languages mixed.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter

from rnnlab.data.containers import Splits, TextData
from rnnlab.data.splitting import split_by_hash, stable_hash
from rnnlab.errors import DataError

DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "de", "nl", "sv", "fr", "es", "it", "pt", "pl", "tr", "id", "fi")
WORDS_PER_LANGUAGE = 3000
FRACTIONS = (0.8, 0.1, 0.1)


def load_word_language(languages: tuple[str, ...] = DEFAULT_LANGUAGES, words_per_language: int = WORDS_PER_LANGUAGE,
                       seed: int = 0) -> Splits:
    """Words labelled with their language (wordfreq code, e.g. ``"en"``), as ``Splits`` of :class:`TextData`."""
    words = _words_by_language(tuple(languages), words_per_language)
    parts: list[list[tuple[str, str]]] = [[], [], []]
    for language, chosen in words.items():
        for part, indices in zip(parts, split_by_hash(chosen, FRACTIONS, seed)):
            part.extend((chosen[i], language) for i in indices)
    splits = []
    for part in parts:
        # A second hash, not the one that cut the split: each language's share of a split is a
        # different band of that hash, so ordering by it would group languages.
        part.sort(key=lambda pair: (stable_hash("order\x00" + pair[0], seed), pair[0]))
        splits.append(TextData(texts=[w for w, _ in part], labels=[lang for _, lang in part]))
    return Splits(*splits)


def ambiguous_words(languages: tuple[str, ...] = DEFAULT_LANGUAGES,
                    words_per_language: int = WORDS_PER_LANGUAGE) -> frozenset[str]:
    """The candidate words shared by two or more of ``languages``, dropped by :func:`load_word_language`."""
    return _candidates(tuple(languages), words_per_language)[1]


def is_latin_word(word: str) -> bool:
    """True when every character of ``word`` is a letter of the Latin script (accented ones included)."""
    return word != "" and all(ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN ") for ch in word)


@functools.lru_cache(maxsize=4)
def _candidates(languages: tuple[str, ...], words_per_language: int) -> tuple[dict[str, list[str]], frozenset[str]]:
    """Each language's candidate words in frequency order, and the set of ambiguous ones."""
    import wordfreq  # imported here: only this loader needs it

    if len(set(languages)) < 2 or len(set(languages)) != len(languages):
        raise DataError(f"languages: need at least two distinct languages, got {languages}")
    if words_per_language < 10:
        raise DataError(f"words_per_language must be at least 10, got {words_per_language}")
    available = wordfreq.available_languages()
    unknown = [lang for lang in languages if lang not in available]
    if unknown:
        raise DataError(f"languages: wordfreq has no word list for {unknown}; it has {sorted(available)}")
    candidates = {}
    for language in languages:
        words = (w.lower() for w in wordfreq.top_n_list(language, 3 * words_per_language))
        candidates[language] = list(dict.fromkeys(w for w in words if is_latin_word(w)))
    counts = Counter(w for words in candidates.values() for w in words)
    return candidates, frozenset(w for w, n in counts.items() if n > 1)


def _words_by_language(languages: tuple[str, ...], words_per_language: int) -> dict[str, list[str]]:
    """The ``words_per_language`` most frequent unambiguous words of each language."""
    candidates, ambiguous = _candidates(languages, words_per_language)
    chosen = {}
    for language, words in candidates.items():
        kept = [w for w in words if w not in ambiguous][:words_per_language]
        if len(kept) < words_per_language:
            raise DataError(f"language {language!r}: only {len(kept)} unambiguous Latin-script words among its "
                            f"{3 * words_per_language} most frequent, {words_per_language} wanted")
        chosen[language] = kept
    return chosen

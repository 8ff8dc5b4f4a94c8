"""How long one item of a user's file may be: limits far above any real data set, so that a
runaway input (a file without line breaks, ``/dev/zero``, a 10,000-letter "word") is refused with
a message naming it instead of exhausting memory or time.

Every reader and :func:`rnnlab.training.predict` check the same limits, through :func:`check_length`.
"""

from __future__ import annotations

from rnnlab.errors import DataError

MAX_LINE_BYTES = 1 << 20
"""Bytes per line of a text file (TSV, lexicon, CoNLL-U, predict's --file): 1 MiB."""
MAX_TEXT_CHARS = 10_000
"""Characters per text of a ``text<TAB>label`` TSV (classification, generation)."""
MAX_WORD_CHARS = 1_000
"""Letters per word of a pronunciation lexicon (G2P) and characters per CoNLL-U word form."""
MAX_PHONEMES = 1_000
"""Phonemes per pronunciation of a lexicon."""
MAX_SENTENCE_TOKENS = 1_000
"""Words per sentence of a CoNLL-U file (or of a sentence given to predict)."""
MAX_STEPS = 100_000
"""Time steps per signal of an ``.npz`` file (or of a signal given to predict)."""


def check_length(where: str, what: str, length: int, limit: int, unit: str) -> None:
    """Refuse an item of ``length`` units above ``limit``: ``where`` names it (``file:line``, ``item 3``)."""
    if length > limit:
        raise DataError(f"{where}: {what} has {length:,} {unit}, more than the limit of {limit:,}; "
                        f"shorten or split it")

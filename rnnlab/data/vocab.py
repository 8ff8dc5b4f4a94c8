"""Vocabularies: tokens (strings) to integer ids and back.

:class:`Vocabulary` is for model inputs (words, characters, phonemes): id 0 is padding
(``"<pad>"``), id 1 stands for every token it has not seen (``"<unk>"``), and the rest follow by
frequency.  Encoding never fails.  (Targets are the tasks' lists of class names, in which an unseen
label is refused by name.)

It saves as a small JSON-serialisable dictionary (``to_dict``) to be stored beside a checkpoint,
and load back from it (``from_dict``) with the same ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from rnnlab.errors import DataError


class Vocabulary:
    """Input tokens to ids, with ``PAD = 0`` (``"<pad>"``) and ``UNK = 1`` (``"<unk>"``).

    Built from an iterable of tokens (flatten sentences first: ``Vocabulary(t for s in sents for t in s)``).
    Tokens seen at least ``min_count`` times get ids 2, 3, ... in order of decreasing count,
    ties in order of first appearance, so the same input always gives the same ids.  The
    literal strings ``"<pad>"`` and ``"<unk>"`` in the input are the reserved tokens, not new ones.
    """

    PAD = 0
    UNK = 1
    PAD_TOKEN = "<pad>"
    UNK_TOKEN = "<unk>"
    SPECIALS = (PAD_TOKEN, UNK_TOKEN)

    def __init__(self, tokens: Iterable[str] = (), min_count: int = 1) -> None:
        if min_count < 1:
            raise DataError(f"min_count must be at least 1, got {min_count}")
        counts = Counter(tokens)
        kept = [t for t, c in counts.most_common() if c >= min_count and t not in self.SPECIALS]
        self._set_tokens([*self.SPECIALS, *kept])

    def _set_tokens(self, tokens: list[str]) -> None:
        self._tokens = tokens
        self._ids = {t: i for i, t in enumerate(tokens)}

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """The id of each token; tokens not in the vocabulary get ``UNK``."""
        return [self._ids.get(t, self.UNK) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The token of each id (``PAD`` decodes to ``"<pad>"``); accepts ints or a 1-D tensor."""
        return [self._token(int(i)) for i in ids]

    def _token(self, i: int) -> str:
        if not 0 <= i < len(self._tokens):
            raise DataError(f"id {i} is outside the vocabulary (0..{len(self._tokens) - 1})")
        return self._tokens[i]

    @property
    def tokens(self) -> list[str]:
        """All tokens, in id order (a copy)."""
        return list(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._tokens == self._tokens

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} tokens)"

    START_TOKEN = "<s>"
    END_TOKEN = "</s>"

    @classmethod
    def with_sequence_marks(cls, tokens: Iterable[str]) -> Vocabulary:
        """A vocabulary for what a decoder emits: the reserved ids, then ``"<s>"`` (2, the token before the
        first) and ``"</s>"`` (3, ends a sequence), then ``tokens`` in the order given (repeats dropped)."""
        vocabulary = cls.__new__(cls)
        marks = (*cls.SPECIALS, cls.START_TOKEN, cls.END_TOKEN)
        vocabulary._set_tokens([*marks, *(t for t in dict.fromkeys(tokens) if t not in marks)])
        return vocabulary

    def to_dict(self) -> dict[str, Any]:
        """``{"tokens": [...]}`` in id order, reserved tokens included; JSON-serialisable."""
        return {"tokens": list(self._tokens)}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Vocabulary:
        """The vocabulary saved by :meth:`to_dict`, with the same ids."""
        tokens = _token_list(state, "tokens", cls.__name__)
        if tokens[:2] != list(cls.SPECIALS):
            raise DataError(f"{cls.__name__}.from_dict: tokens must start with {list(cls.SPECIALS)}, "
                            f"got {tokens[:2]}")
        vocabulary = cls.__new__(cls)
        vocabulary._set_tokens(tokens)
        return vocabulary


def _token_list(state: dict[str, Any], key: str, owner: str) -> list[str]:
    """``state[key]`` checked to be a list of distinct strings."""
    tokens = state.get(key) if isinstance(state, dict) else None
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise DataError(f"{owner}.from_dict: expected {{{key!r}: [strings]}}, got {state!r:.80}")
    if len(set(tokens)) != len(tokens):
        raise DataError(f"{owner}.from_dict: {key!r} has repeated entries")
    return tokens

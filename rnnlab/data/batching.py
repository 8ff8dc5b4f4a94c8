"""Batches: padding variable-length sequences into rectangles, and drawing index batches.

Padding goes at the end of each sequence; the returned lengths say where the real steps stop,
which is what rnnlab's layers (``lengths=``) and ``pack_padded_sequence`` need.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from rnnlab.errors import DataError


def pad(sequences: Sequence[Sequence[int]] | Sequence[Tensor], value: int = 0) -> tuple[Tensor, Tensor]:
    """Pad ``B`` sequences to the longest one's length ``T``.

    Lists of ids give ``padded`` int64 ``(B, T)``; tensors of shape ``(T_i, *)`` give
    ``(B, T, *)`` in their own dtype.  Returns ``(padded, lengths)`` with ``lengths`` int64
    ``(B,)``; position ``t >= lengths[b]`` of row ``b`` holds ``value``.
    """
    if len(sequences) == 0:
        raise DataError("pad: no sequences to pad")
    tensors = [s if isinstance(s, Tensor) else torch.tensor(s, dtype=torch.long) for s in sequences]
    lengths = torch.tensor([len(t) for t in tensors], dtype=torch.long)
    return pad_sequence(tensors, batch_first=True, padding_value=value), lengths


def teacher_forcing(sequences: Sequence[Sequence[int]], start: int, end: int) -> tuple[Tensor, Tensor, Tensor]:
    """The decoder's inputs and targets for ``B`` token sequences: ``previous`` ``(B, T)`` is ``start``
    followed by each sequence, ``next`` ``(B, T)`` each sequence followed by ``end``, padded with 0 to
    ``T`` = the longest length + 1; ``lengths (B,)`` counts the real steps (each sequence's length + 1)."""
    previous, _ = pad([[start, *s] for s in sequences])
    next_tokens, lengths = pad([[*s, end] for s in sequences])
    return previous, next_tokens, lengths


def pad_chars(sentences_char_ids: Sequence[Sequence[Sequence[int]]], value: int = 0) -> tuple[Tensor, Tensor]:
    """Pad the character ids of each word of each sentence.

    ``sentences_char_ids[b][t]`` is the list of character ids of word ``t`` of sentence ``b``.
    Returns ``chars`` int64 ``(B, T, C)`` (``T`` words in the longest sentence, ``C`` characters
    in the longest word, at least 1) and ``word_lengths`` int64 ``(B, T)``.

    A padding word (``t`` past a sentence's end) has length 0 and is all ``value``.  Every real
    word must have at least one character, so ``word_lengths > 0`` is exactly the mask of real
    words; a consumer that runs a character encoder over every position may use
    ``word_lengths.clamp(min=1)``, which reads one padding character for each padding word
    (there is always room: ``C >= 1``).
    """
    if len(sentences_char_ids) == 0:
        raise DataError("pad_chars: no sentences to pad")
    for b, sentence in enumerate(sentences_char_ids):
        for t, word in enumerate(sentence):
            if len(word) == 0:
                raise DataError(f"pad_chars: word {t} of sentence {b} has no characters")
    batch = len(sentences_char_ids)
    words = max(len(sentence) for sentence in sentences_char_ids)
    width = max([1, *(len(word) for sentence in sentences_char_ids for word in sentence)])
    # Pad in Python and build each tensor in one call: far faster than filling word by word.
    padded = [[[*word, *[value] * (width - len(word))] for word in sentence]
              + [[value] * width] * (words - len(sentence)) for sentence in sentences_char_ids]
    lengths = [[len(word) for word in sentence] + [0] * (words - len(sentence)) for sentence in sentences_char_ids]
    chars = torch.tensor(padded, dtype=torch.long).reshape(batch, words, width)
    word_lengths = torch.tensor(lengths, dtype=torch.long).reshape(batch, words)
    return chars, word_lengths

"""Many-to-many, synchronous: one label per step (a tag per word).

    word -> [word embedding ; character encoding] --(dropout)--> stacked bidirectional encoder
         --(dropout)--> linear -> logits per step

The character encoding is the final forward and backward states of a bidirectional recurrent layer
over the word's characters, so a word outside the vocabulary (or replaced by UNK with word dropout)
is still represented by its spelling.

Shapes: ``B`` sentences, ``T`` words, ``C`` characters per word, ``N`` real words in the batch,
``Ew``/``Ec`` word/character embedding sizes, ``Hc`` character hidden size, ``H`` hidden size,
``D`` directions, ``K`` tags.  Word and character PAD id is 0, word UNK id is 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnlab.models.cells import recurrent_layer
from rnnlab.models.encoder import top_layer_state
from rnnlab.models.export import ExportPart

PAD, UNK = 0, 1


class CharEncoder(nn.Module):
    """Each word's characters -> the final states of a bidirectional recurrent layer, ``(2 * Hc)``.

    Forward: ``chars (..., C)`` (PAD 0 after each word's characters) -> ``(..., 2 * Hc)``.  Only words
    with at least one character are run through the layer (gathered into one flat batch and
    scattered back); a word with none, as a padding word, gets zeros.
    """

    def __init__(self, char_vocab_size: int, char_embedding_size: int, char_hidden_size: int, cell: str) -> None:
        super().__init__()
        self.embedding = nn.Embedding(char_vocab_size, char_embedding_size, padding_idx=PAD)
        self.layer = recurrent_layer(cell, char_embedding_size, char_hidden_size, 1, bidirectional=True)
        self.output_size = 2 * char_hidden_size

    def forward(self, chars: Tensor) -> Tensor:
        flat = chars.reshape(-1, chars.shape[-1])  # (B*T, C)
        lengths = (flat != PAD).sum(-1)  # (B*T,)
        if torch.compiler.is_exporting():  # a graph of fixed shapes: every word runs, those without characters zeroed
            _, h_n = self.layer(self.embedding(flat), lengths=lengths.clamp(min=1))
            return top_layer_state(h_n, 2).masked_fill((lengths == 0).unsqueeze(-1), 0.0) \
                .view(*chars.shape[:-1], self.output_size)
        index = lengths.nonzero().squeeze(-1)  # (N,) the words that have characters
        encoded = self.embedding.weight.new_zeros(flat.shape[0], self.output_size)
        if index.numel():
            _, h_n = self.layer(self.embedding(flat[index]), lengths=lengths[index])
            encoded = encoded.index_copy(0, index, top_layer_state(h_n, 2))  # (B*T, 2*Hc)
        return encoded.view(*chars.shape[:-1], self.output_size)


class SequenceTagger(nn.Module):
    """Word and character embeddings, a stacked recurrent encoder, and a tag classifier per step.

    Args:
        word_vocab_size: words known (id 0 = PAD, id 1 = UNK).
        char_vocab_size: characters known (id 0 = PAD).
        num_tags: ``K``.
        word_embedding_size: ``Ew``.
        char_embedding_size: ``Ec``.
        char_hidden_size: ``Hc``, the character encoder's size per direction.
        cell: a name in :data:`rnnlab.models.CELLS`, for both the character and the word encoder.
        hidden_size: ``H``, of the word-level encoder (per direction).
        num_layers: stacked layers of the word-level encoder.
        bidirectional: whether the word-level encoder reads both directions.
        dropout: on the embeddings, between recurrent layers and on the encoder's output, in training.
        word_dropout: ``alpha``: in training, each real word id is replaced by UNK, so that the model
            learns to tag from the characters alone, with probability ``alpha`` for every word, or, given
            ``word_counts``, ``alpha / (alpha + count)`` (Kiperwasser & Goldberg 2016): rare words, which
            resemble the unseen ones, are dropped often and frequent ones almost never.
        word_counts: ``(V,)`` how often each word id occurs in the training data (PAD and UNK: anything).
        merge_mode: how the bidirectional word-level encoder joins its directions (``"concat"``: ``2H``
            features; ``"sum"``, ``"mul"``, ``"ave"``: ``H``).
        num_second_tags: ``K2``: a second classifier on the same encoder's steps, for a second tag set
            learned beside the first (as a treebank's XPOS beside its UPOS; 0: none).  It trains the encoder
            through its loss; ``forward(..., second=True)`` gives both sets' logits, the plain forward pass
            (predictions, export) the first tags' alone.

    Forward: ``model(words (B, T), chars (B, T, C), lengths (B,)) -> logits (B, T, K)``.  Logits at
    padding steps are meaningless, and padding does not change those of real steps.
    """

    def __init__(self, word_vocab_size: int, char_vocab_size: int, num_tags: int, *, word_embedding_size: int = 100,
                 char_embedding_size: int = 32, char_hidden_size: int = 64, cell: str = "lstm",
                 hidden_size: int = 200, num_layers: int = 2, bidirectional: bool = True, dropout: float = 0.33,
                 word_dropout: float = 0.0, word_counts: Sequence[int] | Tensor | None = None,
                 merge_mode: str = "concat", num_second_tags: int = 0) -> None:
        super().__init__()
        if not 0 <= word_dropout <= 1:
            raise ValueError(f"{type(self).__name__}: word_dropout must be in [0, 1], got {word_dropout!r}")
        self.word_dropout = word_dropout
        self.register_buffer("drop_probability", word_drop_probability(word_vocab_size, word_dropout, word_counts))
        self.word_embedding = nn.Embedding(word_vocab_size, word_embedding_size, padding_idx=PAD)
        self.char_encoder = CharEncoder(char_vocab_size, char_embedding_size, char_hidden_size, cell)
        self.encoder = recurrent_layer(cell, word_embedding_size + self.char_encoder.output_size, hidden_size,
                                       num_layers, bidirectional, dropout if num_layers > 1 else 0.0,
                                       merge_mode=merge_mode)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.output_size, num_tags)
        self.second_head = nn.Linear(self.encoder.output_size, num_second_tags) if num_second_tags else None

    def forward(self, words: Tensor, chars: Tensor, lengths: Tensor,
                second: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """``words (B, T)``, ``chars (B, T, C)``, ``lengths (B,)`` -> logits ``(B, T, K)``; with ``second``,
        ``(logits (B, T, K), second logits (B, T, K2))``."""
        words = self.drop_words(words)
        embedded = torch.cat([self.word_embedding(words), self.char_encoder(chars)], dim=-1)  # (B, T, Ew + 2*Hc)
        outputs, _ = self.encoder(self.dropout(embedded), lengths=lengths)  # (B, T, D*H)
        features = self.dropout(outputs)
        if not second:
            return self.head(features)
        if self.second_head is None:
            raise ValueError(f"{type(self).__name__} was built without a second tag set (num_second_tags=0)")
        return self.head(features), self.second_head(features)

    def export_parts(self) -> list[ExportPart]:
        """One graph (:mod:`rnnlab.models.export`): ``words (B, T)``, ``chars (B, T, C)``, ``lengths (B,)`` ->
        ``logits (B, T, K)``, batch, steps and characters varying."""
        words = torch.randint(2, self.word_embedding.num_embeddings, (2, 4))
        chars = torch.randint(1, self.char_encoder.embedding.num_embeddings, (2, 4, 3))
        words[1, 3], chars[1, 3] = PAD, PAD  # the second sentence is padded: a word without characters
        chars[0, 0, 2] = PAD
        inputs = {"words": words, "chars": chars, "lengths": torch.tensor([4, 3])}
        dims = {"words": {0: "batch", 1: "steps"}, "chars": {0: "batch", 1: "steps", 2: "chars"},
                "lengths": {0: "batch"}}
        return [ExportPart("model", self, inputs, dims, ("logits",))]

    def drop_words(self, words: Tensor) -> Tensor:
        """In training, ``words (B, T)`` with each id replaced by UNK with its ``drop_probability``."""
        if not self.training or self.word_dropout == 0:
            return words
        drop = torch.rand(words.shape, device=words.device) < self.drop_probability[words]
        return words.masked_fill(drop, UNK)


def word_drop_probability(vocab_size: int, alpha: float, counts: Sequence[int] | Tensor | None) -> Tensor:
    """``(V,)``: the probability of replacing each word id by UNK in training: 0 for PAD and UNK,
    otherwise ``alpha``, or ``alpha / (alpha + count)`` given the training ``counts (V,)``."""
    if counts is None:
        probability = torch.full((vocab_size,), float(alpha))
    else:
        counts = torch.as_tensor(counts, dtype=torch.float32)
        if counts.shape != (vocab_size,):
            raise ValueError(f"word_counts must have one count per word id ({vocab_size}), "
                             f"got shape {tuple(counts.shape)}")
        if (counts[2:] < 0).any():
            raise ValueError("word_counts must not be negative")
        probability = alpha / (alpha + counts.clamp(min=0)) if alpha > 0 else torch.zeros(vocab_size)
    probability[[PAD, UNK]] = 0.0
    return probability

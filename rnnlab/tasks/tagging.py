"""Many-to-many synchronous: a tag for every token of a sentence (words plus their characters)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnlab.data import DataError, TaggedData, Vocabulary, pad, pad_chars, read_conllu
from rnnlab.models import SequenceTagger, masked_cross_entropy
from rnnlab.nn.sequence import length_mask
from rnnlab.tasks.base import Task


class TaggingTask(Task):
    """Tag every token with a :class:`~rnnlab.models.SequenceTagger` (words plus their characters)."""

    kind, read_file = "tagging", staticmethod(read_conllu)

    def learn(self, train: TaggedData) -> dict:
        counts = Counter(w.lower() for sentence in train.sentences for w in sentence)  # ids in first-seen order
        words = Vocabulary(list(counts))
        second = self.config.second_tag_weight and train.second_tags is not None
        return {"words": words.to_dict(), "word_counts": [counts.get(w, 0) for w in words.tokens],
                "chars": Vocabulary(ch for sentence in train.sentences for w in sentence for ch in w).to_dict(),
                "tags": sorted({t for tags in train.tags for t in tags}),
                "second_tags": sorted({t for tags in train.second_tags for t in tags}) if second else []}

    def load_state(self, state: dict) -> None:
        self.words = Vocabulary.from_dict(state["words"])
        self.word_counts = state.get("word_counts")
        self.chars = Vocabulary.from_dict(state["chars"])
        self.tags = list(state["tags"])
        self.second_tags = list(state.get("second_tags", []))  # runs trained before there was a second tag set

    def state(self) -> dict:
        return {"words": self.words.to_dict(), "word_counts": self.word_counts, "chars": self.chars.to_dict(),
                "tags": self.tags, "second_tags": self.second_tags}

    def label_names(self) -> list[str]:
        return self.tags

    @staticmethod
    def labels_of(data: TaggedData) -> set[str]:
        return {t for tags in data.tags for t in tags}

    @staticmethod
    def lengths_of(data: TaggedData, i: int) -> int:
        return len(data.sentences[i])

    def build_model(self) -> nn.Module:
        c = self.config
        return SequenceTagger(len(self.words), len(self.chars), len(self.tags), cell=c.cell, hidden_size=c.hidden_size,
                              num_layers=c.num_layers, bidirectional=c.bidirectional, merge_mode=c.merge_mode,
                              dropout=c.dropout, word_dropout=c.word_dropout or 0.0, word_counts=self.word_counts,
                              num_second_tags=len(self.second_tags))

    def encode(self, sentences: Sequence[Sequence[str]], device: torch.device) -> dict:
        empty = [k for k, s in enumerate(sentences) if not s]
        if empty:
            raise DataError(f"empty sentence at item {empty[0] + 1}")
        words, lengths = pad([self.words.encode([w.lower() for w in s]) for s in sentences])
        chars, _ = pad_chars([[self.chars.encode(list(w)) for w in s] for s in sentences])
        return {"words": words.to(device), "chars": chars.to(device), "lengths": lengths}

    def collate(self, data: TaggedData, indices: list[int], device: torch.device) -> dict:
        batch = self.encode([data.sentences[i] for i in indices], device)
        index = {t: k for k, t in enumerate(self.tags)}
        batch["y"] = pad([[index[t] for t in data.tags[i]] for i in indices])[0].to(device)
        if self.second_tags and data.second_tags is not None:  # unseen ones count as the first (never wins)
            second = {t: k for k, t in enumerate(self.second_tags)}
            batch["y_second"] = pad([[second.get(t, 0) for t in data.second_tags[i]] for i in indices])[0].to(device)
        return batch

    def logits(self, model: nn.Module, batch: dict) -> Tensor:
        return model(batch["words"], batch["chars"], batch["lengths"])

    def loss(self, model: nn.Module, batch: dict) -> tuple[Tensor, int]:
        """Cross-entropy of the tags over every real token; with a second tag set, plus its cross-entropy
        times ``second_tag_weight`` (in training; validation measures the first tags' loss alone)."""
        smoothing, lengths = self.config.label_smoothing or 0.0, batch["lengths"]
        if "y_second" not in batch or not model.training:
            return masked_cross_entropy(self.logits(model, batch), batch["y"], lengths, smoothing), int(lengths.sum())
        logits, second_logits = model(batch["words"], batch["chars"], lengths, second=True)
        loss = masked_cross_entropy(logits, batch["y"], lengths, smoothing)
        second = masked_cross_entropy(second_logits, batch["y_second"], lengths, smoothing)
        return loss + self.config.second_tag_weight * second, int(lengths.sum())

    def predictions_and_targets(self, model: nn.Module, batch: dict) -> tuple[Tensor, Tensor]:
        predicted = self.logits(model, batch).argmax(-1)
        mask = length_mask(batch["lengths"], predicted.shape[1]).to(predicted.device)
        return predicted[mask], batch["y"][mask]

    @torch.no_grad()
    def tag(self, model: nn.Module, sentences: Sequence[Sequence[str]], device: torch.device,
            batch_size: int = 64) -> list[list[str]]:
        """The most probable tag of every token of every sentence."""
        model.eval()
        tagged = []
        for start in range(0, len(sentences), batch_size):
            chunk = sentences[start:start + batch_size]
            predicted = self.logits(model, self.encode(chunk, device)).argmax(-1).tolist()
            tagged += [[self.tags[k] for k in row[:len(sentence)]] for row, sentence in zip(predicted, chunk)]
        return tagged

"""Many-to-one tasks: one label per sequence, from float signals or from the characters of a string."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnlab.data import DataError, SignalData, TextData, Vocabulary, pad, read_npz, read_tsv
from rnnlab.models import BagOfCharacters, CharNgramModel, SequenceClassifier, SignalMLP
from rnnlab.tasks.base import ClassifierTask


class SignalTask(ClassifierTask):
    """Classify float signals ``(T, F)`` with a :class:`~rnnlab.models.SequenceClassifier`."""

    kind, read_file, models = "signal", staticmethod(read_npz), ("recurrent", "mlp")

    def learn(self, train: SignalData) -> dict:
        return {"classes": list(train.classes), "input_size": int(train.x.shape[-1]), "steps": int(train.x.shape[1])}

    def load_state(self, state: dict) -> None:
        self.classes, self.input_size, self.steps = state["classes"], state["input_size"], state["steps"]

    def state(self) -> dict:
        return {"classes": self.classes, "input_size": self.input_size, "steps": self.steps}

    def build_model(self) -> nn.Module:
        c = self.config
        if c.model == "mlp":
            return SignalMLP(self.steps * self.input_size, len(self.classes))
        return SequenceClassifier(len(self.classes), input_size=self.input_size, cell=c.cell,
                                  hidden_size=c.hidden_size, num_layers=c.num_layers,
                                  bidirectional=c.bidirectional, dropout=c.dropout, pooling=c.pooling)

    def inputs(self, items: Sequence[Tensor], device: torch.device) -> dict:
        """Signals ``(T, F)`` each, all of one length."""
        x = torch.stack([torch.as_tensor(item, dtype=torch.float32).reshape(item.shape[0], -1) for item in items])
        if x.shape[-1] != self.input_size:
            raise DataError(f"signals have {x.shape[-1]} features per step; the model was trained on "
                            f"{self.input_size}")
        return {"x": x.to(device), "lengths": torch.full((len(items),), x.shape[1], dtype=torch.long)}

    def collate(self, data: SignalData, indices: list[int], device: torch.device) -> dict:
        index = torch.as_tensor(indices, dtype=torch.long)
        return {**self.inputs(data.x[index], device), "y": self._targets(data, index).to(device)}

    @staticmethod
    def labels_of(data: SignalData) -> set[str]:
        return {data.classes[int(k)] for k in data.y.unique()}

    def _targets(self, data: SignalData, index: Tensor) -> Tensor:
        if list(data.classes) == self.classes:
            return data.y[index]
        return torch.tensor([self.classes.index(data.classes[int(k)]) for k in data.y[index]], dtype=torch.long)


class TextTask(ClassifierTask):
    """Classify strings by their characters with a :class:`~rnnlab.models.SequenceClassifier`."""

    kind, read_file, models = "text", staticmethod(read_tsv), ("recurrent", "bag-of-chars", "char-ngram")

    def learn(self, train: TextData) -> dict:
        return {"chars": Vocabulary(ch for text in train.texts for ch in text).to_dict(),
                "classes": sorted(set(train.labels))}

    def load_state(self, state: dict) -> None:
        self.chars = Vocabulary.from_dict(state["chars"])
        self.classes = list(state["classes"])

    def state(self) -> dict:
        return {"chars": self.chars.to_dict(), "classes": self.classes}

    def build_model(self) -> nn.Module:
        c = self.config
        if c.model == "bag-of-chars":
            return BagOfCharacters(len(self.chars), len(self.classes))
        if c.model == "char-ngram":
            return CharNgramModel(len(self.chars), len(self.classes))
        return SequenceClassifier(len(self.classes), vocab_size=len(self.chars), embedding_size=32, cell=c.cell,
                                  hidden_size=c.hidden_size, num_layers=c.num_layers,
                                  bidirectional=c.bidirectional, dropout=c.dropout, pooling=c.pooling)

    @staticmethod
    def labels_of(data: TextData) -> set[str]:
        return set(data.labels)

    @staticmethod
    def lengths_of(data: TextData, i: int) -> int:
        return len(data.texts[i])

    def inputs(self, texts: Sequence[str], device: torch.device) -> dict:
        """Strings, as padded character ids; characters never seen in training map to the unknown id."""
        empty = [k for k, t in enumerate(texts) if not t]
        if empty:
            raise DataError(f"empty text at item {empty[0] + 1}")
        ids, lengths = pad([self.chars.encode(list(t)) for t in texts])
        return {"x": ids.to(device), "lengths": lengths}

    def collate(self, data: TextData, indices: list[int], device: torch.device) -> dict:
        batch = self.inputs([data.texts[i] for i in indices], device)
        labels = [data.labels[i] for i in indices]
        batch["y"] = torch.tensor([self.classes.index(label) for label in labels], dtype=torch.long, device=device)
        return batch

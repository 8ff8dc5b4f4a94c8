"""Many-to-one tasks: one label per sequence, from float signals (of one length, or time series of any
length and channels) or from the characters of a string."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnlab.data import DataError, SignalData, TextData, Vocabulary, pad, read_npz, read_ts, read_tsv
from rnnlab.models import BagOfCharacters, BagOfFrames, CharNgramModel, SequenceClassifier, SignalMLP
from rnnlab.nn.sequence import length_mask
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
                                  bidirectional=c.bidirectional, dropout=c.dropout, pooling=c.pooling,
                                  merge_mode=c.merge_mode)

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


class SeriesTask(SignalTask):
    """Classify time series of any length and number of channels (the UEA/UCR archive's ``.ts`` files) with a
    :class:`~rnnlab.models.SequenceClassifier` over each series' own steps.

    Each channel is standardised, ``(x - mean) / std``, by the training split's statistics over its real
    steps (never the validation or test data's); they are part of the task's state, saved in the run, so
    evaluation and prediction standardise new series the same way.
    """

    kind, read_file, models = "series", staticmethod(read_ts), ("recurrent", "bag-of-frames")

    def learn(self, train: SignalData) -> dict:
        steps = train.steps()
        real = torch.cat([train.x[k, : int(n)] for k, n in enumerate(steps)]).double()  # (steps in all, F)
        std = real.std(dim=0, correction=0)
        return {"classes": list(train.classes), "input_size": int(train.x.shape[-1]), "steps": int(steps.max()),
                "mean": real.mean(dim=0).tolist(), "std": torch.where(std > 0, std, 1.0).tolist()}

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.mean, self.std = torch.tensor(state["mean"]), torch.tensor(state["std"])

    def state(self) -> dict:
        return {**super().state(), "mean": self.mean.tolist(), "std": self.std.tolist()}

    @staticmethod
    def lengths_of(data: SignalData, i: int) -> int:
        return int(data.steps()[i])

    def build_model(self) -> nn.Module:
        if self.config.model == "bag-of-frames":
            return BagOfFrames(self.input_size, len(self.classes))
        return super().build_model()

    def inputs(self, items: Sequence[Tensor], device: torch.device) -> dict:
        """Series ``(T_i, F)`` each, of any lengths: standardised and zero-padded."""
        series = [torch.as_tensor(item, dtype=torch.float32).reshape(len(item), -1) for item in items]
        channels = {s.shape[-1] for s in series} - {self.input_size}
        if channels:
            raise DataError(f"series have {channels.pop()} channels; the model was trained on {self.input_size}")
        x, lengths = pad([(s - self.mean) / self.std for s in series])
        return {"x": x.to(device), "lengths": lengths}

    def loss(self, model: nn.Module, batch: dict) -> tuple[Tensor, int]:
        """The classifier's loss, on series jittered by ``--input-noise`` in training (padding stays zero)."""
        noise = self.config.input_noise or 0.0
        if noise and model.training:
            real = length_mask(batch["lengths"].to(batch["x"].device), batch["x"].shape[1]).unsqueeze(-1)
            batch = {**batch, "x": batch["x"] + noise * torch.randn_like(batch["x"]) * real}
        return super().loss(model, batch)

    def collate(self, data: SignalData, indices: list[int], device: torch.device) -> dict:
        steps = data.steps()
        index = torch.as_tensor(indices, dtype=torch.long)
        batch = self.inputs([data.x[i, : int(steps[i])] for i in indices], device)
        return {**batch, "y": self._targets(data, index).to(device)}


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
                                  bidirectional=c.bidirectional, dropout=c.dropout, pooling=c.pooling,
                                  merge_mode=c.merge_mode)

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

"""Tasks: what connects a data set to a model, a loss and a metric.

Five kinds, one class each:

* :class:`SignalTask`: many-to-one over float signals ``(N, T, F)`` (MNIST-1D, ``.npz`` files).
* :class:`TextTask`: many-to-one over the characters of a string (word -> language, TSV files).
* :class:`TaggingTask`: many-to-many synchronous, a tag per token (stress, UPOS, CoNLL-U files).
* :class:`~rnnlab.transcription.TranscriptionTask`: many-to-many asynchronous (G2P, lexicon files).
* :class:`~rnnlab.generation.GenerationTask`: one-to-many (language -> word, TSV files).

A task learns its vocabularies and labels from the training split; :meth:`Task.state`
returns them as plain data, saved with every checkpoint, so a trained run can be
evaluated and used for prediction without the training data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from rnnlab.config import TrainConfig
from rnnlab.distributed import World, all_sum, shard
from rnnlab.data import (DataError, SignalData, Splits, TaggedData, TextData, Transcriptions, Vocabulary, load_g2p,
                         load_mnist1d, load_stress, load_ud_ewt, load_word_language, pad, pad_chars, read_conllu,
                         read_lexicon, read_npz, read_tsv)
from rnnlab.models import (BagOfCharacters, CharNgramModel, SequenceClassifier, SequenceTagger, SignalMLP,
                           masked_cross_entropy)
from rnnlab.models.encoder import length_mask

EMBEDDED = {"mnist1d": load_mnist1d, "mnist1d-shuffled": partial(load_mnist1d, shuffle_seq=True),
            "word-language": load_word_language, "word-generation": load_word_language, "stress": load_stress, "upos": load_ud_ewt,
            "g2p": load_g2p, "g2p-stress": partial(load_g2p, stress=True)}
READERS = {"signal": read_npz, "text": read_tsv, "tagging": read_conllu, "transcription": read_lexicon,
           "generation": read_tsv}


def make_task(config: TrainConfig, state: dict | None = None, load_data: bool = True) -> "Task":
    """The task ``config`` names, with its data loaded (unless ``load_data`` is false) and its
    vocabularies learned from the training split or restored from ``state``."""
    if config.kind == "transcription":
        from rnnlab.transcription import TranscriptionTask as cls
    elif config.kind == "generation":
        from rnnlab.generation import GenerationTask as cls
    else:
        cls = {"signal": SignalTask, "text": TextTask, "tagging": TaggingTask}[config.kind]
    splits = load_splits(config) if load_data else None
    return cls(config, splits, state)


def load_splits(config: TrainConfig) -> Splits:
    """The embedded data set of the task, or the user's files (validation and test held out of ``data``
    by a seeded split when not given)."""
    if config.data is None:
        return EMBEDDED[config.task]()
    read = READERS[config.kind]
    train = read(config.data)
    validation = read(config.validation_data) if config.validation_data else None
    test = read(config.test_data) if config.test_data else None
    if validation is None or test is None:
        parts = split_items(train, [0.8, 0.1, 0.1], config.seed)
        train = parts[0]
        validation = parts[1] if validation is None else validation
        test = parts[2] if test is None else test
    for name, part in (("training", train), ("validation", validation), ("test", test)):
        if len(part) == 0:
            raise DataError(f"{config.data}: the {name} split is empty (too few items to hold one out)")
    if isinstance(train, Transcriptions):
        train = train.pairs()  # one training item per (word, pronunciation)
    return Splits(train, validation, test)


def split_items(data, fractions: Sequence[float], seed: int) -> list:
    """Split a data container into parts of the given fractions, by a seeded permutation."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
    bounds, total = [0], 0.0
    for fraction in fractions:
        total += fraction
        bounds.append(round(total * len(data)))
    return [subset(data, order[a:b]) for a, b in zip(bounds, bounds[1:])]


def subset(data, indices: Sequence[int]):
    """The items of a data container at ``indices``, as a container of the same type."""
    if isinstance(data, SignalData):
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return SignalData(data.x[index], data.y[index], data.classes)
    if isinstance(data, TextData):
        return TextData([data.texts[i] for i in indices], [data.labels[i] for i in indices])
    if isinstance(data, Transcriptions):
        return Transcriptions([data.sources[i] for i in indices], [data.targets[i] for i in indices])
    return TaggedData([data.sentences[i] for i in indices], [data.tags[i] for i in indices])


POOL = 50  # batches sorted by length together


class Task:
    """The interface the training loop uses; see the module docstring."""

    metric = "accuracy"
    """The key of :meth:`evaluate`'s report that selects the best epoch."""
    lower_is_better = False

    def __init__(self, config: TrainConfig, splits: Splits | None, state: dict | None) -> None:
        self.config, self.splits = config, splits
        if state is None:
            if splits is None:
                raise ValueError("a task needs either its data or a saved state")
            state = self.learn(splits.train)
        self.load_state(state)

    def learn(self, train) -> dict:
        """Vocabularies and labels from the training split, as plain data."""
        raise NotImplementedError

    def load_state(self, state: dict) -> None:
        raise NotImplementedError

    def state(self) -> dict:
        raise NotImplementedError

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def batches(self, data, batch_size: int, order: Tensor | None, device: torch.device,
                world: World = World(), even: bool = False) -> Iterator[dict]:
        """Batches of ``data`` in ``order`` (all items in their order when ``None``).

        For variable-length items, each pool of ``POOL`` batches in the order is sorted by length
        before it is cut into batches, so a batch holds items of similar length and little
        padding; the batches of a pool are then taken in a shuffled order, a function of ``order``.

        On several processes (``world``), each batch is a global one and this process gets its shard;
        with ``even`` (training), a final batch too small to give every process an item is skipped by all.
        """
        indices = torch.arange(len(data)) if order is None else order
        for pool in indices.split(batch_size * POOL):
            if self.lengths_of is not None:
                lengths = torch.tensor([self.lengths_of(data, i) for i in pool.tolist()])
                pool = pool[lengths.argsort(stable=True)]
            chunks = pool.split(batch_size)
            if order is not None and self.lengths_of is not None:
                shuffle = torch.randperm(len(chunks), generator=torch.Generator().manual_seed(int(pool.sum())))
                chunks = [chunks[k] for k in shuffle.tolist()]
            for chunk in chunks:
                if world.distributed:
                    if len(chunk) < world.size and even:
                        continue
                    chunk = shard(chunk, world)
                    if not len(chunk):
                        continue
                yield self.collate(data, chunk.tolist(), device)

    lengths_of = None
    """``lengths_of(data, i)``: the length of item ``i``, for tasks whose items vary in length."""

    def collate(self, data, indices: list[int], device: torch.device) -> dict:
        raise NotImplementedError

    def logits(self, model: nn.Module, batch: dict) -> Tensor:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: dict) -> tuple[Tensor, int]:
        """Mean cross-entropy of the batch and the number of predictions it averages."""
        logits = self.logits(model, batch)
        loss = F.cross_entropy(logits, batch["y"], label_smoothing=self.config.label_smoothing or 0.0)
        return loss, int(batch["y"].numel())

    def label_names(self) -> list[str]:
        raise NotImplementedError

    def labels_of(self, data) -> set[str]:
        """Every label (or tag) that occurs in ``data``."""
        raise NotImplementedError

    def check_labels(self, data, what: str) -> None:
        """Refuse ``data`` whose labels include one the model never saw in training."""
        unknown = sorted(self.labels_of(data) - set(self.label_names()))
        if unknown:
            raise DataError(f"{what}: labels never seen in training: {', '.join(unknown[:5])}"
                            f"{' ...' if len(unknown) > 5 else ''}")

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data, batch_size: int, device: torch.device,
                 progress_bar: bool = False, world: World = World()) -> dict[str, Any]:
        """Accuracy, and precision/recall/F1 per label, over ``data`` (on several processes, each
        counts its shards and the counts are summed: every item is counted once)."""
        self.check_labels(data, "evaluation data")
        model.eval()
        dtype = next(model.parameters()).dtype
        names = self.label_names()
        confusion = torch.zeros(len(names), len(names), dtype=torch.long)
        for batch in tqdm(self.batches(data, batch_size, None, device, world), desc="evaluate", unit="batch",
                          total=-(-len(data) // batch_size), disable=not progress_bar, leave=False):
            predicted, target = self.predictions_and_targets(model, cast_batch(batch, dtype))
            confusion += torch.bincount(target * len(names) + predicted,
                                        minlength=len(names) ** 2).view(len(names), len(names)).cpu()
        return confusion_report(all_sum(confusion, world), names)

    def validate(self, model: nn.Module, data, batch_size: int, device: torch.device, progress_bar: bool = False,
                 world: World = World()) -> dict[str, Any]:
        """The per-epoch check of the training loop; :meth:`evaluate` unless a task makes it cheaper."""
        return self.evaluate(model, data, batch_size, device, progress_bar, world)

    def describe(self, report: dict[str, Any]) -> str:
        """A one-line summary of an :meth:`evaluate` report."""
        return f"accuracy {report['accuracy']:.4f} ({report['correct']}/{report['total']})"

    def predictions_and_targets(self, model: nn.Module, batch: dict) -> tuple[Tensor, Tensor]:
        return self.logits(model, batch).argmax(-1), batch["y"]


class ClassifierTask(Task):
    """A many-to-one task: one label per sequence."""

    classes: list[str]

    def label_names(self) -> list[str]:
        return self.classes

    def logits(self, model: nn.Module, batch: dict) -> Tensor:
        return model(batch["x"], batch["lengths"])

    def inputs(self, items: Sequence, device: torch.device) -> dict:
        """A batch of model inputs from raw items (strings or signals)."""
        raise NotImplementedError

    @torch.no_grad()
    def top_k(self, model: nn.Module, items: Sequence, k: int, device: torch.device,
              batch_size: int = 256) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable labels of each item with their probabilities."""
        model.eval()
        results = []
        for start in range(0, len(items), batch_size):
            probabilities = self.logits(model, self.inputs(items[start:start + batch_size], device)).softmax(-1)
            values, indices = probabilities.topk(min(k, len(self.classes)), dim=-1)
            results += [[(self.classes[i], v) for i, v in zip(row_i.tolist(), row_v.tolist())]
                        for row_i, row_v in zip(indices, values)]
        return results


def cast_batch(batch: dict, dtype: torch.dtype) -> dict:
    """The batch with its floating-point tensors in ``dtype`` (token ids and lengths stay integers)."""
    if dtype == torch.float32:
        return batch
    return {k: v.to(dtype) if isinstance(v, Tensor) and v.is_floating_point() else v for k, v in batch.items()}


def confusion_report(confusion: Tensor, names: list[str]) -> dict[str, Any]:
    """Accuracy and per-label precision, recall, F1 and support from a confusion matrix (rows: truth)."""
    total = int(confusion.sum())
    correct = int(confusion.diag().sum())
    per_label = {}
    for k, name in enumerate(names):
        tp, truth, predicted = int(confusion[k, k]), int(confusion[k].sum()), int(confusion[:, k].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / truth if truth else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[name] = {"precision": precision, "recall": recall, "f1": f1, "support": truth}
    return {"accuracy": correct / total if total else 0.0, "correct": correct, "total": total,
            "per_label": per_label}


class SignalTask(ClassifierTask):
    """Classify float signals ``(T, F)`` with a :class:`~rnnlab.models.SequenceClassifier`."""

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

    def labels_of(self, data: SignalData) -> set[str]:
        return {data.classes[int(k)] for k in data.y.unique()}

    def _targets(self, data: SignalData, index: Tensor) -> Tensor:
        if list(data.classes) == self.classes:
            return data.y[index]
        return torch.tensor([self.classes.index(data.classes[int(k)]) for k in data.y[index]], dtype=torch.long)


class TextTask(ClassifierTask):
    """Classify strings by their characters with a :class:`~rnnlab.models.SequenceClassifier`."""

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

    def labels_of(self, data: TextData) -> set[str]:
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


class TaggingTask(Task):
    """Tag every token with a :class:`~rnnlab.models.SequenceTagger` (words plus their characters)."""

    def learn(self, train: TaggedData) -> dict:
        counts = Counter(w.lower() for sentence in train.sentences for w in sentence)  # ids in first-seen order
        words = Vocabulary(list(counts))
        return {"words": words.to_dict(), "word_counts": [counts.get(w, 0) for w in words.tokens],
                "chars": Vocabulary(ch for sentence in train.sentences for w in sentence for ch in w).to_dict(),
                "tags": sorted({t for tags in train.tags for t in tags})}

    def load_state(self, state: dict) -> None:
        self.words = Vocabulary.from_dict(state["words"])
        self.word_counts = state.get("word_counts")
        self.chars = Vocabulary.from_dict(state["chars"])
        self.tags = list(state["tags"])

    def state(self) -> dict:
        return {"words": self.words.to_dict(), "word_counts": self.word_counts, "chars": self.chars.to_dict(),
                "tags": self.tags}

    def label_names(self) -> list[str]:
        return self.tags

    def labels_of(self, data: TaggedData) -> set[str]:
        return {t for tags in data.tags for t in tags}

    @staticmethod
    def lengths_of(data: TaggedData, i: int) -> int:
        return len(data.sentences[i])

    def build_model(self) -> nn.Module:
        c = self.config
        return SequenceTagger(len(self.words), len(self.chars), len(self.tags), cell=c.cell, hidden_size=c.hidden_size, num_layers=c.num_layers,
                              dropout=c.dropout, word_dropout=c.word_dropout or 0.0, word_counts=self.word_counts)

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
        return batch

    def logits(self, model: nn.Module, batch: dict) -> Tensor:
        return model(batch["words"], batch["chars"], batch["lengths"])

    def loss(self, model: nn.Module, batch: dict) -> tuple[Tensor, int]:
        logits = self.logits(model, batch)
        return masked_cross_entropy(logits, batch["y"], batch["lengths"]), int(batch["lengths"].sum())

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

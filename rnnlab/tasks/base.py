"""The Task base: what connects a data set to a model, a loss and a metric.

A task learns its vocabularies and labels from the training split; :meth:`Task.state` returns them
as plain data, saved with every checkpoint, so a trained run can be evaluated and used for
prediction without the training data.  One module per task family subclasses :class:`Task`:

* :class:`~rnnlab.tasks.classification.SignalTask`: many-to-one over float signals ``(N, T, F)``.
* :class:`~rnnlab.tasks.classification.TextTask`: many-to-one over the characters of a string.
* :class:`~rnnlab.tasks.tagging.TaggingTask`: many-to-many synchronous, a tag per token.
* :class:`~rnnlab.tasks.transcription.TranscriptionTask`: many-to-many asynchronous (G2P).
* :class:`~rnnlab.tasks.generation.GenerationTask`: one-to-many (language -> word).

A family declares what the registry and the configuration need of it: ``kind`` (its name),
``read_file`` (the reader of a user's file), ``models`` (the model names it builds), whether it
is an ``encoder_decoder``, reads only the past (``causal``) or is conditioned on the labels rather
than predicting them (``predicts_labels``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from rnnlab.data import DataError, Splits
from rnnlab.data.sharding import World, all_sum, shard
from rnnlab.errors import ConfigError
from rnnlab.models import regularise_layers

if TYPE_CHECKING:
    from rnnlab.tasks.config import TrainConfig


POOL = 50  # batches sorted by length together


class Task:
    """The interface the training loop uses; see the module docstring."""

    kind: str = ""
    """The family's name (``signal``, ``text``, ``tagging``, ``transcription``, ``generation``)."""
    read_file: Callable[[Path], Any]
    """Reads a user's file of this family's format into its data container (a static method)."""
    models: tuple[str, ...] = ("recurrent",)
    """The model names (``--model``) the family builds: the recurrent model first, then baselines."""
    encoder_decoder = False
    """Whether the model is an encoder-decoder (the ``--ctc-weight``, ``--reverse-decoder-*`` options apply)."""
    causal = False
    """Whether the model may read only the past of its sequence (no ``--bidirectional``)."""
    predicts_labels = True
    """Whether the model predicts the data's labels (so training data with one label teaches nothing);
    a generator is conditioned on them instead."""

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

    @classmethod
    def read(cls, config: TrainConfig, path: Path):
        """A user's file for a run of ``config`` (``rnnlab evaluate --data``): :attr:`read_file`'s container."""
        return cls.read_file(path)

    def learn(self, train) -> dict:
        """Vocabularies and labels from the training split, as plain data."""
        raise NotImplementedError

    def load_state(self, state: dict) -> None:
        raise NotImplementedError

    def state(self) -> dict:
        raise NotImplementedError

    def build_model(self) -> nn.Module:
        """The task's model, as its family builds it from the configuration."""
        raise NotImplementedError

    def create_model(self) -> nn.Module:
        """:meth:`build_model` with the configuration's recurrent regularisers (``--recurrent-dropout``,
        ``--zoneout``, ``--weight-drop``) set on every rnnlab recurrent layer of the model."""
        c = self.config
        try:
            return regularise_layers(self.build_model(), recurrent_dropout=c.recurrent_dropout, zoneout=c.zoneout,
                                     weight_drop=c.weight_drop)
        except ValueError as error:
            raise ConfigError(f"--cell {c.cell}: {error}") from None

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

    @staticmethod
    def labels_of(data) -> set[str]:
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
                          total=-(-len(data) // batch_size), disable=None if progress_bar else True, leave=False):
            predicted, target = self.predictions_and_targets(model, cast_batch(batch, dtype))
            confusion += torch.bincount(target * len(names) + predicted,
                                        minlength=len(names) ** 2).view(len(names), len(names)).cpu()
        return confusion_report(all_sum(confusion, world), names)

    def validate(self, model: nn.Module, data, batch_size: int, device: torch.device, progress_bar: bool = False,
                 world: World = World()) -> dict[str, Any]:
        """The per-epoch check of the training loop; :meth:`evaluate` unless a task makes it cheaper."""
        return self.evaluate(model, data, batch_size, device, progress_bar, world)

    def plot(self, model: nn.Module, data, path: Path, device: torch.device) -> Path | None:
        """Draw what an evaluation on ``data`` shows at ``path`` (a PNG), for tasks that have a picture of it."""
        return None

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



"""The task registry: every task name, declared once, with its family, data set and recipe.

A task name (``rnnlab train --task NAME``) maps to a :class:`TaskSpec`: the :class:`~rnnlab.tasks.base.Task`
family that connects the data to a model, a loss and a metric; the loader of the embedded data
set; and the task's defaults, the recipe behind the published numbers (options a user leaves out
take them).  The configuration's choices, the file reader for ``--data``, the model names a task
accepts and the task object itself all come from this one table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.data import (
    DataError,
    SignalData,
    Splits,
    TaggedData,
    TextData,
    Transcriptions,
    load_electricity,
    load_g2p,
    load_japanese_vowels,
    load_mnist1d,
    load_stress,
    load_taylor,
    load_ud_ewt,
    load_word_language,
)
from rnnlab.data.subsets import split_items
from rnnlab.tasks.base import Task
from rnnlab.tasks.classification import SeriesTask, SignalTask, TextTask
from rnnlab.tasks.forecasting import ForecastTask
from rnnlab.tasks.generation import GenerationTask
from rnnlab.tasks.tagging import TaggingTask
from rnnlab.tasks.transcription import TranscriptionTask

if TYPE_CHECKING:
    from rnnlab.tasks.config import TrainConfig


@dataclass(frozen=True)
class TaskSpec:
    """One task: its ``family`` (a :class:`Task` subclass), the ``load`` function of its embedded data
    set (``None``: the task has none, and trains on the user's ``--data``): its :class:`Splits`, or for a
    forecasting task the one series it holds out windows of; and its ``defaults`` (option name -> value)."""

    family: type[Task]
    load: Callable[[], Any] | None
    defaults: dict[str, Any] = field(default_factory=dict)


_SIGNAL = dict(cell="gru", hidden_size=128, num_layers=2, bidirectional=True, dropout=0.0, pooling="meanmax",
               epochs=60, batch_size=128, lr=5e-3, weight_decay=1e-2, label_smoothing=0.1, weight_drop=0.2)
_SERIES = dict(cell="gru-ln", hidden_size=128, num_layers=2, bidirectional=True, dropout=0.2, pooling="meanmax",
               epochs=100, batch_size=32, lr=3e-3, weight_decay=1e-2, label_smoothing=0.1, input_noise=0.2)
_FORECAST = dict(cell="gru", hidden_size=32, num_layers=1, bidirectional=False, dropout=0.3, pooling="last",
                 epochs=10, batch_size=64, lr=3e-3, weight_decay=1e-2, label_smoothing=0.0, distribution="student-t")
_HALF_HOURLY = dict(_FORECAST, horizon=48, season="48,336")
_G2P = dict(cell="lstm", hidden_size=256, num_layers=2, bidirectional=True, dropout=0.1, pooling="last",
            epochs=12, batch_size=128, lr=2e-3, warmup=0.1, weight_decay=0.0, label_smoothing=0.1,
            attention="multiplicative", beam_width=5, precision="bf16", reverse_decoder_size=256,
            decoder_layers=2, reverse_decoder_layers=2)

TASKS: dict[str, TaskSpec] = {
    # many-to-one over float signals (.npz files with --data)
    "mnist1d": TaskSpec(SignalTask, load_mnist1d, _SIGNAL),
    # the same, every signal's steps shuffled by one fixed permutation
    "mnist1d-shuffled": TaskSpec(SignalTask, partial(load_mnist1d, shuffle_seq=True), _SIGNAL),
    # many-to-one over time series of any length (.ts files of the UEA/UCR archive with --data)
    "japanese-vowels": TaskSpec(SeriesTask, load_japanese_vowels, _SERIES),
    # the same, each utterance's frames in a random order of its own
    "japanese-vowels-shuffled": TaskSpec(SeriesTask, partial(load_japanese_vowels, shuffle_frames=True), _SERIES),
    "ts-classify": TaskSpec(SeriesTask, None, _SERIES),
    # many-to-one over characters (TSV files with --data)
    "word-language": TaskSpec(TextTask, load_word_language, dict(
        cell="gru", hidden_size=128, num_layers=2, bidirectional=True, dropout=0.2, pooling="meanmax", epochs=12,
        batch_size=128, lr=3e-3, weight_decay=1e-2, label_smoothing=0.0)),
    # one-to-many: language -> a word of it (TSV word<TAB>language with --data)
    "word-generation": TaskSpec(GenerationTask, load_word_language, dict(
        cell="gru", hidden_size=256, num_layers=2, bidirectional=False, dropout=0.2, pooling="last", epochs=20,
        batch_size=64, lr=3e-3, weight_decay=1e-2, label_smoothing=0.0)),
    # many-to-many synchronous (CoNLL-U files with --data)
    "stress": TaskSpec(TaggingTask, load_stress, dict(
        cell="lstm", hidden_size=64, num_layers=2, bidirectional=True, dropout=0.1, pooling="last", epochs=6,
        batch_size=64, lr=3e-3, weight_decay=0.0, label_smoothing=0.0, word_dropout=0.25)),
    "upos": TaskSpec(TaggingTask, load_ud_ewt, dict(
        cell="lstm", hidden_size=200, num_layers=2, bidirectional=True, dropout=0.33, pooling="last", epochs=18,
        batch_size=32, lr=2e-3, weight_decay=0.0, label_smoothing=0.1, word_dropout=0.25, second_tag_weight=0.5)),
    # many-to-many asynchronous: spelling -> phonemes (CMUdict), stress marks removed
    "g2p": TaskSpec(TranscriptionTask, load_g2p, _G2P),
    # the same, phonemes with their stress marks (AH0, AE1, ...)
    "g2p-stress": TaskSpec(TranscriptionTask, partial(load_g2p, stress=True), _G2P),
    # forecasting: the next day of half-hourly electricity demand from each midnight of the test weeks
    "electricity": TaskSpec(ForecastTask, load_electricity, dict(
        _HALF_HOURLY, target="demand_gw", covariates="workday,temperature_c", time_column="time",
        validation_steps=4 * 336, test_steps=8 * 336, epochs=6, context=336)),
    "taylor": TaskSpec(ForecastTask, load_taylor, dict(
        _HALF_HOURLY, target="value", time_column="date", validation_steps=2 * 336, test_steps=4 * 336)),
    # your own series: a CSV file with --data, --target, --horizon and --season
    "forecast": TaskSpec(ForecastTask, None, _FORECAST),
}
"""Task name -> :class:`TaskSpec`."""

MODEL_NAMES: tuple[str, ...] = tuple(dict.fromkeys(m for spec in TASKS.values() for m in spec.family.models))
"""Every model name some task builds (``recurrent`` and the order-blind baselines)."""


def family(task: str) -> type[Task]:
    """The :class:`Task` subclass of the task named ``task``."""
    return TASKS[task].family


def make_task(config: TrainConfig, state: dict | None = None, load_data: bool = True) -> Task:
    """The task ``config`` names, with its data loaded (unless ``load_data`` is false) and its
    vocabularies learned from the training split or restored from ``state``."""
    splits = load_splits(config) if load_data else None
    return family(config.task)(config, splits, state)


def read_file(config: TrainConfig, path: Path):
    """A user's file in the format of ``config``'s task, read into the task's data container."""
    return family(config.task).read(config, path)


SINGLE_LABEL = {SignalData: "item has the class", TextData: "item has the label", TaggedData: "token has the tag"}
"""What a data set of one label is, per container, in :func:`refuse_single_class`'s message."""


def refuse_single_class(config: TrainConfig, train) -> None:
    """Raise :class:`DataError` when every training item (or token) has the same label, for a task
    whose model predicts the labels: it would learn nothing and still score accuracy 1.0."""
    task, what = family(config.task), SINGLE_LABEL.get(type(train))
    if what is None or not task.predicts_labels:
        return
    labels = task.labels_of(train)
    if len(labels) == 1:
        raise DataError(f"{config.data}: every training {what} {next(iter(labels))!r}; "
                        "a model needs at least two to learn anything")


def load_splits(config: TrainConfig) -> Splits:
    """The embedded data set of the task, or the user's files: what is not given of validation and
    test is held out of ``data`` by a seeded split stratified by label (80/10/10 when neither is
    given, 90/10 when one is).  Training data with a single class or tag is refused."""
    task = family(config.task)
    if task.kind == "forecast":  # one series, its last stretches held out
        series = TASKS[config.task].load() if config.data is None else task.read_series(config, config.data)
        return task.split(config, series)
    if config.data is None:
        return TASKS[config.task].load()
    train = read_file(config, config.data)
    validation = read_file(config, config.validation_data) if config.validation_data else None
    test = read_file(config, config.test_data) if config.test_data else None
    if validation is None and test is None:
        train, validation, test = split_items(train, [0.8, 0.1, 0.1], config.seed)
    elif validation is None:
        train, validation = split_items(train, [0.9, 0.1], config.seed)
    elif test is None:
        train, test = split_items(train, [0.9, 0.1], config.seed)
    for name, part in (("training", train), ("validation", validation), ("test", test)):
        if len(part) == 0:
            raise DataError(f"{config.data}: the {name} split is empty (too few items to hold one out)")
    refuse_single_class(config, train)
    if isinstance(train, Transcriptions):
        train = train.pairs()  # one training item per (word, pronunciation)
    return Splits(train, validation, test)

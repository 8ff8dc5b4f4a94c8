"""Run directories: what a trained run holds, and loading it back.

A run lives in its own directory::

    config.json          the resolved configuration (data files by absolute path)
    data.json            each data file's absolute path, size and SHA-256, as trained on
    task.json            what the task learned from the training data (vocabularies, labels)
    metrics.jsonl        one line per epoch: train loss, validation metric, learning rate, time
    grad_norms.jsonl     the global gradient norm of every update, one line per epoch
    last.pt, best.pt     checkpoints (atomic; loaded with weights_only=True)
    learning_curve.png   train loss and validation metric per epoch
    test_metrics.json    the best model's metric on the test split

:func:`load_run` gives back a run's configuration, task and trained model (the moving average of
the weights where the run kept one); :func:`load_ensemble` several G2P runs decoding as one.
:func:`check_data` refuses data files that changed since the run was trained on them, so a resumed
run never trains on a new split and a run is never evaluated on a different file of the same name.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab.errors import CheckpointError, ConfigError, DataError
from rnnlab.files import fingerprint, read_json
from rnnlab.models import Ensemble
from rnnlab.tasks import Task, TrainConfig, make_task
from rnnlab.training.checkpoint import load_checkpoint

CHECKPOINT_FORMAT = 1

MODEL_OPTIONS = ("task", "model", "cell", "hidden_size", "num_layers", "bidirectional", "pooling", "attention",
                 "input_feeding")
"""The options that shape the model: a checkpoint written with other values does not fit."""


def evaluated_weights(checkpoint: dict) -> dict:
    """The weights a checkpoint is evaluated with: the moving average where the run kept one (``--ema``)."""
    if "averaged" not in checkpoint:
        return checkpoint["model"]
    return {k.removeprefix("module."): v for k, v in checkpoint["averaged"].items() if k.startswith("module.")}


def check_checkpoint(checkpoint: dict, config: TrainConfig, path: Path) -> None:
    """Refuse a checkpoint that is not ours or was written for another model than ``config`` describes."""
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an rnnlab training checkpoint")
    saved = checkpoint.get("config", {})
    differ = [f"{k} {saved.get(k)!r} vs {getattr(config, k)!r}" for k in MODEL_OPTIONS
              if k in saved and saved[k] != getattr(config, k)]
    if differ:
        raise CheckpointError(f"{path}: written for another model than config.json describes "
                              f"({'; '.join(differ)})")


DATA_OPTIONS = ("data", "validation_data", "test_data")
"""The options naming data files; a run records what each held (``data.json``)."""


def with_absolute_paths(config: TrainConfig) -> TrainConfig:
    """``config`` with its data files named by absolute path, so the run finds them from any folder."""
    return dataclasses.replace(config, **{name: getattr(config, name).absolute() for name in DATA_OPTIONS
                                          if getattr(config, name) is not None})


def data_fingerprints(config: TrainConfig) -> dict[str, dict[str, Any]]:
    """Each data file of ``config``'s fingerprint (:func:`rnnlab.files.fingerprint`), by option name."""
    return {name: fingerprint(getattr(config, name)) for name in DATA_OPTIONS if getattr(config, name) is not None}


def check_data(run_dir: Path, config: TrainConfig) -> dict[str, dict[str, Any]]:
    """Refuse to use a run's data files if one changed since the run was trained on it (runs written before
    ``data.json`` existed are not checked); returns their fingerprints (:func:`data_fingerprints`)."""
    fingerprints = data_fingerprints(config)
    path = Path(run_dir) / "data.json"
    saved = read_json(path) if path.exists() else {name: now for name, now in fingerprints.items()}
    for name, now in fingerprints.items():
        was = saved.get(name)
        if was is None or (was["bytes"], was["sha256"]) != (now["bytes"], now["sha256"]):
            what = (f"{was['bytes']} bytes, SHA-256 {was['sha256'][:12]}" if was else "no such file")
            raise DataError(f"{now['path']}: not the data run {run_dir} was trained on (--{name.replace('_', '-')} "
                            f"then: {what}; now: {now['bytes']} bytes, SHA-256 {now['sha256'][:12]}); restore it, "
                            "or train a new run on the new data")
    return fingerprints


def run_config(run_dir: Path) -> TrainConfig:
    """A run directory's saved configuration (refused with one clear line if the directory is missing)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run directory")
    return TrainConfig.from_dict(read_json(run_dir / "config.json"))


def load_run(run_dir: Path, which: str = "best", device: str = "auto") -> tuple[TrainConfig, Task, nn.Module]:
    """The configuration, task and trained model of a run directory (``which``: "best" or "last"), on
    ``device`` (cpu, cuda, or auto: cuda when available), wherever the run was trained; the configuration's
    ``device`` says which."""
    run_dir = Path(run_dir)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    config = dataclasses.replace(run_config(run_dir), device=device)
    checkpoint = load_checkpoint(run_dir / f"{which}.pt")
    check_checkpoint(checkpoint, config, run_dir / f"{which}.pt")
    task = make_task(config, state=checkpoint["task"], load_data=False)
    model = task.create_model()
    try:
        model.load_state_dict(evaluated_weights(checkpoint))
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{run_dir / f'{which}.pt'}: does not fit the model its config describes "
                              f"({first})") from None
    model.eval()
    return config, task, model.to(config.torch_device())


def load_ensemble(run_dirs: list[Path], device: str = "auto") -> tuple[TrainConfig, Task, nn.Module]:
    """The first run's configuration and task, and a model decoding with every run's G2P model as one
    (:class:`~rnnlab.models.Ensemble`: the mean of their probabilities); one run gives its own model."""
    config, task, model = load_run(run_dirs[0], device=device)
    if len(run_dirs) == 1:
        return config, task, model
    if not task.encoder_decoder:
        raise CheckpointError(f"--ensemble: decoding several runs as one works for G2P runs; {run_dirs[0]} is "
                              f"a {config.task} run")
    models = [model]
    for other in run_dirs[1:]:
        other_config, other_task, other_model = load_run(other, device=device)
        if other_config.task != config.task or other_task.state() != task.state():
            raise CheckpointError(f"--ensemble: {other} is not a {config.task} run with the letters and phonemes "
                                  f"of {run_dirs[0]} (its task: {other_config.task})")
        models.append(other_model)
    return config, task, Ensemble(models).eval()

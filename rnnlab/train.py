"""The training loop: optimiser, schedule, clipping, early stopping, checkpoints, resume.

A run lives in its own directory::

    config.json          the resolved configuration
    task.json            what the task learned from the training data (vocabularies, labels)
    metrics.jsonl        one line per epoch: train loss, validation metric, learning rate, time
    last.pt, best.pt     checkpoints (atomic; loaded with weights_only=True)
    learning_curve.png   train loss and validation metric per epoch
    test_metrics.json    the best model's metric on the test split

Determinism: the data order of epoch ``e`` is a permutation drawn from a generator
seeded by ``(seed, e)``, and the global random state (dropout) is saved in every
checkpoint, so a resumed run, even one stopped mid-epoch by Ctrl-C, continues
exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from rnnlab import distributed
from rnnlab.checkpoint import (CheckpointError, append_jsonl, keep_jsonl, load_checkpoint, read_json,
                               save_checkpoint, write_json)
from rnnlab.config import TrainConfig
from rnnlab.tasks import Task, cast_batch, make_task

CHECKPOINT_FORMAT = 1


@dataclasses.dataclass
class Progress:
    """Where a run stands; saved in every checkpoint."""

    epoch: int = 0  # epochs fully done
    batch: int = 0  # batches done within the current epoch
    loss_sum: float = 0.0  # training loss summed over the current epoch's batches so far
    loss_count: int = 0
    best_metric: float = -math.inf
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    grad_norms: list[float] = dataclasses.field(default_factory=list)  # this epoch's, before clipping


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of ``n`` training items in ``epoch``: a function of the seed and the epoch only."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def train(config: TrainConfig, resume: Path | None = None, *, progress_bar: bool = True) -> dict[str, Any]:
    """Train (or continue training) a model as ``config`` says; return the run's summary.

    Under ``torchrun`` every process runs this with the same arguments: each trains on its shard of
    every global batch through ``DistributedDataParallel``; rank 0 alone writes and prints.
    """
    start = time.perf_counter()
    if resume is not None:
        run_dir = Path(resume)
        if not run_dir.is_dir():
            raise CheckpointError(f"{run_dir}: no such run directory")
        # resolved(): an option newer than the run takes its default, the value the run was trained with
        config = TrainConfig.from_dict(read_json(run_dir / "config.json")).resolved()
        checkpoint = load_checkpoint(run_dir / "last.pt")
        _check_checkpoint(checkpoint, config, run_dir / "last.pt")
    else:
        config = config.resolved()
        run_dir = config.run_directory()
        _refuse_existing_run(run_dir)
        checkpoint = None

    world = distributed.join(config.torch_device())
    try:
        return _train(config, run_dir, checkpoint, world, start, progress_bar and world.main)
    finally:
        distributed.leave(world)


def _train(config: TrainConfig, run_dir: Path, checkpoint: dict | None, world: distributed.World, start: float,
           progress_bar: bool) -> dict[str, Any]:
    say = print if world.main else _silent
    torch.manual_seed(config.seed)
    device = distributed.device_of(config.torch_device(), world)
    dtype = torch.float64 if config.precision == "fp64" else torch.float32
    task = make_task(config, state=checkpoint["task"] if checkpoint else None)
    task.check_labels(task.splits.validation, "validation data")
    task.check_labels(task.splits.test, "test data")
    model = task.build_model().to(device=device, dtype=dtype)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  fused=device.type in ("cpu", "cuda"))  # one kernel for all parameters
    steps_per_epoch = math.ceil(len(task.splits.train) / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    # A warm-up shorter than two steps has nothing to rise over (and one of exactly one step would
    # divide by zero in OneCycleLR): the rate then starts at its peak.
    warmup = config.warmup if config.warmup * total_steps >= 2 else 0.0
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, pct_start=warmup,
                                                   total_steps=total_steps)
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True) \
        if config.ema else None
    evaluated = averaged.module if averaged is not None else model  # the weights validated, kept and tested
    mixed = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)
    if mixed is torch.bfloat16 and device.type == "cpu" and not native_cpu_bf16():
        say("warning: --precision bf16 on a CPU without native bfloat16 (AVX512-BF16 or AMX) is emulated and may be "
            "slower than --precision fp32")
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    state = Progress()
    distributed.barrier(world)  # every process has checked the run directory before rank 0 writes to it
    if checkpoint is None:
        if world.main:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_json(run_dir / "config.json", config.to_dict())
            write_json(run_dir / "task.json", task.state())
        say(f"rnnlab train: {config.task} -> {run_dir}" + (f" on {world.size} processes" if world.distributed else "")
            + f"\n{config.describe()}\n{model}")
    else:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        schedule.load_state_dict(checkpoint["schedule"])
        if "scaler" in checkpoint:
            scaler.load_state_dict(checkpoint["scaler"])
        if averaged is not None:
            averaged.load_state_dict(checkpoint["averaged"])
        state = Progress(**checkpoint["progress"])
        torch.set_rng_state(checkpoint["rng"])
        if world.main:  # a run stopped after logging an epoch but before its checkpoint logs it again
            for log in ("metrics.jsonl", "grad_norms.jsonl"):
                keep_jsonl(run_dir / log, lambda record: record["epoch"] <= state.epoch)
        say(f"rnnlab train: resuming {run_dir} at epoch {state.epoch + 1}, batch {state.batch}")
    learner = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None) \
        if world.distributed else model

    def snapshot(path: Path) -> None:
        if world.main:
            save_checkpoint(path, {
                "format": CHECKPOINT_FORMAT, "config": config.to_dict(), "task": task.state(),
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "scaler": scaler.state_dict(), "progress": dataclasses.asdict(state), "rng": torch.get_rng_state(),
                **({"averaged": averaged.state_dict()} if averaged is not None else {}),
            })
        distributed.barrier(world)

    with _GracefulInterrupt() as interrupt:
        while state.epoch < config.epochs:
            epoch_start = time.perf_counter()
            order = epoch_order(len(task.splits.train), config.seed, state.epoch)
            model.train()
            bar = tqdm(total=steps_per_epoch, initial=state.batch, desc=f"epoch {state.epoch + 1}/{config.epochs}",
                       unit="batch", disable=not progress_bar, leave=False)
            for index, batch in enumerate(task.batches(task.splits.train, config.batch_size, order, device, world,
                                                       even=True)):
                if index < state.batch:
                    continue  # resumed mid-epoch: these batches were already trained on
                with torch.autocast(device.type, dtype=mixed or torch.bfloat16, enabled=mixed is not None):
                    loss, count = task.loss(learner, cast_batch(batch, dtype))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()  # DDP averages the gradients over the processes here
                scaler.unscale_(optimizer)
                norm = nn.utils.clip_grad_norm_(model.parameters(), config.clip if config.clip > 0 else math.inf)
                state.grad_norms.append(float(norm))  # the global norm before clipping
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                if averaged is not None:
                    averaged.update_parameters(model)
                state.loss_sum += loss.item() * count
                state.loss_count += count
                state.batch = index + 1
                bar.set_postfix(loss=f"{loss.item():.4f}")
                bar.update()
                if _anyone(interrupt.requested, world):
                    bar.close()
                    snapshot(run_dir / "last.pt")
                    say(f"\ninterrupted: saved {run_dir / 'last.pt'}; continue with: rnnlab train --resume {run_dir}")
                    raise KeyboardInterrupt
            bar.close()
            metric = task.validate(evaluated, task.splits.validation, config.batch_size, device,
                                   progress_bar=progress_bar, world=world)[task.metric]
            loss_sum, loss_count = distributed.all_sum(torch.tensor([state.loss_sum, state.loss_count],
                                                                    dtype=torch.float64), world).tolist()
            norms = sorted(state.grad_norms) or [math.nan]
            record = {"epoch": state.epoch + 1, "train_loss": loss_sum / max(loss_count, 1),
                      f"validation_{task.metric}": metric, "lr": schedule.get_last_lr()[0],
                      "grad_norm_median": norms[len(norms) // 2], "grad_norm_max": norms[-1],
                      "clipped_fraction": sum(n > config.clip for n in norms) / len(norms) if config.clip > 0 else 0.0,
                      "seconds": time.perf_counter() - epoch_start}
            if world.main:
                append_jsonl(run_dir / "grad_norms.jsonl", {"epoch": state.epoch + 1, "grad_norms": state.grad_norms})
            state.epoch, state.batch, state.loss_sum, state.loss_count = state.epoch + 1, 0, 0.0, 0
            state.grad_norms = []
            score = -metric if task.lower_is_better else metric
            improved = score >= state.best_metric  # on a tie, the later (longer-trained) model
            if improved:
                state.best_metric, state.best_epoch, state.epochs_without_improvement = score, state.epoch, 0
            else:
                state.epochs_without_improvement += 1
            if world.main:
                append_jsonl(run_dir / "metrics.jsonl", record)
            say(f"epoch {state.epoch:3d}  train loss {record['train_loss']:.4f}  "
                f"validation {task.metric} {metric:.4f}{'  (best)' if improved else ''}  "
                f"{record['seconds']:.1f} s")
            if improved:
                snapshot(run_dir / "best.pt")
            snapshot(run_dir / "last.pt")
            if config.patience and state.epochs_without_improvement >= config.patience:
                say(f"early stop: no improvement for {config.patience} epochs")
                break

    evaluated.load_state_dict(evaluated_weights(load_checkpoint(run_dir / "best.pt")))
    test = task.evaluate(evaluated, task.splits.test, config.batch_size, device, progress_bar=progress_bar, world=world)
    best_metric = -state.best_metric if task.lower_is_better else state.best_metric
    summary = {"run_dir": str(run_dir), "task": config.task, "best_epoch": state.best_epoch,
               f"validation_{task.metric}": best_metric, f"test_{task.metric}": test[task.metric],
               "seconds": time.perf_counter() - start}
    if world.main:
        write_json(run_dir / "test_metrics.json", {"epoch": state.best_epoch, **test})
        plot_learning_curve(run_dir)
    say(f"test {task.describe(test)} (best epoch {state.best_epoch}) in {summary['seconds']:.0f} s; "
        f"run written to {run_dir}")
    distributed.barrier(world)  # no process leaves the group while another still uses it
    return summary


def evaluated_weights(checkpoint: dict) -> dict:
    """The weights a checkpoint is evaluated with: the moving average where the run kept one (``--ema``)."""
    if "averaged" not in checkpoint:
        return checkpoint["model"]
    return {k.removeprefix("module."): v for k, v in checkpoint["averaged"].items() if k.startswith("module.")}


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (AVX512-BF16 or AMX)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def _silent(*args, **kwargs) -> None:
    """``print`` for the processes other than rank 0."""


def _anyone(flag: bool, world: distributed.World) -> bool:
    """Whether ``flag`` is set in any process, so that all of them stop at the same update."""
    if not world.distributed:
        return flag
    return bool(distributed.all_sum(torch.tensor([float(flag)]), world).item())


def load_run(run_dir: Path, which: str = "best") -> tuple[TrainConfig, Task, nn.Module]:
    """The configuration, task and trained model of a run directory (``which``: "best" or "last")."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run directory")
    config = TrainConfig.from_dict(read_json(run_dir / "config.json"))
    checkpoint = load_checkpoint(run_dir / f"{which}.pt")
    _check_checkpoint(checkpoint, config, run_dir / f"{which}.pt")
    task = make_task(config, state=checkpoint["task"], load_data=False)
    model = task.build_model()
    try:
        model.load_state_dict(evaluated_weights(checkpoint))
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{run_dir / f'{which}.pt'}: does not fit the model its config describes ({first})")
    model.eval()
    return config, task, model.to(config.torch_device())


def load_ensemble(run_dirs: list[Path]) -> tuple[TrainConfig, Task, nn.Module]:
    """The first run's configuration and task, and a model decoding with every run's G2P model as one
    (:class:`~rnnlab.models.Ensemble`: the mean of their probabilities); one run gives its own model."""
    from rnnlab.models import Ensemble

    config, task, model = load_run(run_dirs[0])
    if len(run_dirs) == 1:
        return config, task, model
    if config.kind != "transcription":
        raise CheckpointError(f"--ensemble: decoding several runs as one works for G2P runs; {run_dirs[0]} is "
                              f"a {config.task} run")
    models = [model]
    for other in run_dirs[1:]:
        other_config, other_task, other_model = load_run(other)
        if other_config.task != config.task or other_task.state() != task.state():
            raise CheckpointError(f"--ensemble: {other} is not a {config.task} run with the letters and phonemes "
                                  f"of {run_dirs[0]} (its task: {other_config.task})")
        models.append(other_model)
    return config, task, Ensemble(models).eval()


def plot_learning_curve(run_dir: Path) -> Path:
    """``learning_curve.png``: train loss and the validation metric per epoch, from ``metrics.jsonl``."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    epochs = [r["epoch"] for r in records]
    fig, loss_axis = plt.subplots(figsize=(6, 3.5))
    loss_axis.plot(epochs, [r["train_loss"] for r in records], color="tab:blue", label="train loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("train loss", color="tab:blue")
    metric = next((k for k in (records[0] if records else {}) if k.startswith("validation_")), "validation_accuracy")
    metric_axis = loss_axis.twinx()
    metric_axis.plot(epochs, [r.get(metric) for r in records], color="tab:orange")
    metric_axis.set_ylabel(metric.replace("_", " "), color="tab:orange")
    fig.tight_layout()
    path = run_dir / "learning_curve.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class _GracefulInterrupt:
    """The first Ctrl-C asks the loop to stop after the current batch (and save); a second one stops at once."""

    def __enter__(self) -> "_GracefulInterrupt":
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _refuse_existing_run(run_dir: Path) -> None:
    """Refuse to train into a directory that already holds files: nothing saved is ever overwritten."""
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise CheckpointError(f"{run_dir}: already holds files; continue it with --resume {run_dir} "
                              "or choose another --run-dir")


MODEL_OPTIONS = ("task", "model", "cell", "hidden_size", "num_layers", "bidirectional", "pooling", "attention",
                 "input_feeding")


def _check_checkpoint(checkpoint: dict, config: TrainConfig, path: Path) -> None:
    """Refuse a checkpoint that is not ours or was written for another model than ``config`` describes."""
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an rnnlab training checkpoint")
    saved = checkpoint.get("config", {})
    differ = [f"{k} {saved.get(k)!r} vs {getattr(config, k)!r}" for k in MODEL_OPTIONS
              if k in saved and saved[k] != getattr(config, k)]
    if differ:
        raise CheckpointError(f"{path}: written for another model than config.json describes "
                              f"({'; '.join(differ)})")

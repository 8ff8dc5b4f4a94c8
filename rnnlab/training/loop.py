"""The training loop: set-up, resume, one epoch, validate-and-save; early stopping; Ctrl-C and SIGTERM;
divergence.

``train`` writes a run directory (:mod:`rnnlab.training.runs`).  Each update is one
:class:`~rnnlab.training.step.TrainingStep` (autocast, clipping, AdamW with a one-cycle schedule,
the moving average of the weights).

Determinism: the data order of epoch ``e`` is a permutation drawn from a generator
seeded by ``(seed, e)``, and the global random state (dropout) is saved in every
checkpoint, so a resumed run, even one stopped mid-epoch by Ctrl-C, continues
exactly as the uninterrupted run would have.

Divergence: an update whose gradient norm is not finite (a NaN or infinite loss) is skipped, as
AMP's gradient scaler does; after ``--max-skipped-steps`` of them in a row the run stops with an
error and a non-zero exit, leaving its last finite checkpoints as they were.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from rnnlab.errors import ConfigError, DivergenceError
from rnnlab.files import append_jsonl, keep_jsonl, refuse_existing, remove_temporary, write_json
from rnnlab.nn.layers import native_cpu_bf16
from rnnlab.report.figures import plot_learning_curve
from rnnlab.tasks import Task, TrainConfig, make_task
from rnnlab.tasks.base import cast_batch
from rnnlab.training import distributed
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.runs import (
    CHECKPOINT_FORMAT,
    check_checkpoint,
    check_data,
    data_fingerprints,
    evaluated_weights,
    run_config,
    with_absolute_paths,
)
from rnnlab.training.step import MIXED, TrainingStep


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
    skipped_in_a_row: int = 0  # updates skipped for a non-finite gradient since the last one taken
    skipped_steps: int = 0  # this epoch's


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of ``n`` training items in ``epoch``: a function of the seed and the epoch only."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def train(config: TrainConfig, resume: Path | None = None, *, progress_bar: bool = True,
          quiet: bool = False) -> dict[str, Any]:
    """Train (or continue training) a model as ``config`` says; return the run's summary.

    ``resume``: a run directory to continue with its saved options (``config`` must then be left at its
    defaults); a run stopped before its first checkpoint starts again from its saved options.
    ``progress_bar``: show progress bars (on a terminal only); ``quiet``: print only the final line.

    Under ``torchrun`` every process runs this with the same arguments: each trains on its shard of
    every global batch through ``DistributedDataParallel``; rank 0 alone writes and prints.
    """
    start = time.perf_counter()
    if resume is not None:
        given = [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(config)
                 if getattr(config, f.name) != f.default]
        if given:
            raise ConfigError(f"--resume continues {resume} with the options it was started with; "
                              f"{', '.join(given)} cannot change them (start a new run to train with other options)")
        run_dir = Path(resume)
        # resolved(): an option newer than the run takes its default, the value the run was trained with
        config = run_config(run_dir).resolved(saved=True)
        data_files = check_data(run_dir, config)
        if _before_first_checkpoint(run_dir):
            checkpoint = None  # killed before its first checkpoint: start it again from its saved options
        else:
            checkpoint = load_checkpoint(run_dir / "last.pt")
            check_checkpoint(checkpoint, config, run_dir / "last.pt")
    else:
        config = with_absolute_paths(config.resolved())  # resolved() refuses a --run-dir that is a file
        run_dir = config.run_directory()
        refuse_existing(run_dir, f"continue it with --resume {run_dir} or choose another --run-dir")
        data_files = data_fingerprints(config)  # before reading them: a device or a directory is refused
        checkpoint = None

    world = distributed.join(config.torch_device())
    try:
        run = _Run(config, run_dir, world, progress_bar and world.main, checkpoint, data_files, quiet)
        if checkpoint is None:
            run.begin()
        else:
            run.resume(checkpoint)
        with _GracefulInterrupt() as interrupt:
            while run.state.epoch < config.epochs:
                run.train_epoch(interrupt)
                if run.validate_and_save():
                    break
        return run.finish(start)
    finally:
        distributed.leave(world)


class _Run:
    """One run in progress: its task, model, training step and :class:`Progress`."""

    def __init__(self, config: TrainConfig, run_dir: Path, world: distributed.World, progress_bar: bool,
                 checkpoint: dict | None, data_files: dict[str, Any], quiet: bool = False) -> None:
        self.config, self.run_dir, self.world, self.progress_bar = config, run_dir, world, progress_bar
        self.data_files = data_files  # written to data.json by begin()
        self.tell: Callable[..., None] = print if world.main else _silent  # the final line
        self.say: Callable[..., None] = _silent if quiet else self.tell
        torch.manual_seed(config.seed)
        self.device = device = distributed.device_of(config.torch_device(), world)
        self.dtype = torch.float64 if config.precision == "fp64" else torch.float32
        self.task: Task = make_task(config, state=checkpoint["task"] if checkpoint else None)
        self.task.check_labels(self.task.splits.validation, "validation data")
        self.task.check_labels(self.task.splits.test, "test data")
        self.model = model = self.task.create_model().to(device=device, dtype=self.dtype)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                      fused=device.type in ("cpu", "cuda"))  # one kernel for all parameters
        self.steps_per_epoch = math.ceil(len(self.task.splits.train) / config.batch_size)
        total_steps = config.epochs * self.steps_per_epoch
        # A warm-up shorter than two steps has nothing to rise over (and one of exactly one step would
        # divide by zero in OneCycleLR): the rate then starts at its peak.
        warmup = config.warmup if config.warmup * total_steps >= 2 else 0.0
        self.schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, pct_start=warmup,
                                                            total_steps=total_steps)
        self.step = TrainingStep(model, optimizer, self.schedule, clip=config.clip, precision=config.precision,
                                 ema=config.ema, device_type=device.type)
        if MIXED.get(config.precision) is torch.bfloat16 and device.type == "cpu" and not native_cpu_bf16():
            self.say("warning: --precision bf16 on a CPU without native bfloat16 (AVX512-BF16 or AMX) is emulated "
                     "and can be several times slower than --precision fp32 (the recurrent kernels run in float32)")
        self.state = Progress()
        self.learner: nn.Module = model  # wrapped in DDP once the weights are set (begin or resume)
        distributed.barrier(world)  # every process has checked the run directory before rank 0 writes to it

    def begin(self) -> None:
        """A new run (or one stopped before its first checkpoint): write its configuration, its data files'
        fingerprints and what the task learned."""
        if self.world.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            remove_temporary(self.run_dir)
            for log in ("metrics.jsonl", "grad_norms.jsonl"):
                (self.run_dir / log).unlink(missing_ok=True)
            write_json(self.run_dir / "config.json", self.config.to_dict())
            write_json(self.run_dir / "data.json", self.data_files)
            write_json(self.run_dir / "task.json", self.task.state())
        self.say(f"rnnlab train: {self.config.task} -> {self.run_dir}"
                 + (f" on {self.world.size} processes" if self.world.distributed else "")
                 + f"\n{self.config.describe()}\n{self.model}")
        self._wrap()

    def resume(self, checkpoint: dict) -> None:
        """Continue from ``checkpoint``: weights, optimizer, schedule, scaler, average, progress and random state."""
        self.model.load_state_dict(checkpoint["model"])
        self.step.load_state_dict(checkpoint)
        self.state = Progress(**checkpoint["progress"])
        torch.set_rng_state(checkpoint["rng"])
        if self.world.main:  # a run stopped after logging an epoch but before its checkpoint logs it again
            remove_temporary(self.run_dir)
            for log in ("metrics.jsonl", "grad_norms.jsonl"):
                keep_jsonl(self.run_dir / log, lambda record: record["epoch"] <= self.state.epoch)
        self.say(f"rnnlab train: resuming {self.run_dir} at epoch {self.state.epoch + 1}, batch {self.state.batch}")
        self._wrap()

    def _wrap(self) -> None:
        """On several processes, train through ``DistributedDataParallel`` (it averages the gradients); with
        ``--compile``, through ``torch.compile`` (the weights stay the model's: checkpoints are unchanged)."""
        if self.world.distributed:
            device = self.device
            self.learner = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device] if device.type == "cuda" else None)
        if self.config.compile:
            self.learner = torch.compile(self.learner)

    def snapshot(self, path: Path) -> None:
        if self.world.main:
            save_checkpoint(path, {
                "format": CHECKPOINT_FORMAT, "config": self.config.to_dict(), "task": self.task.state(),
                "model": self.model.state_dict(), **self.step.state_dict(),
                "progress": dataclasses.asdict(self.state), "rng": torch.get_rng_state(),
            })
        distributed.barrier(self.world)

    def train_epoch(self, interrupt: _GracefulInterrupt) -> None:
        """The rest of the current epoch, from the batch it stands at; on Ctrl-C, save and stop."""
        config, state, task = self.config, self.state, self.task
        self.epoch_start = time.perf_counter()
        order = epoch_order(len(task.splits.train), config.seed, state.epoch)
        self.model.train()
        bar = tqdm(total=self.steps_per_epoch, initial=state.batch, desc=f"epoch {state.epoch + 1}/{config.epochs}",
                   unit="batch", disable=None if self.progress_bar else True, leave=False)  # None: terminals only
        for index, batch in enumerate(task.batches(task.splits.train, config.batch_size, order, self.device,
                                                   self.world, even=True)):
            if index < state.batch:
                continue  # resumed mid-epoch: these batches were already trained on
            (loss, count), norm = self.step(lambda: task.loss(self.learner, cast_batch(batch, self.dtype)))
            if math.isfinite(norm):  # the same in every process: the gradients are all-reduced
                state.grad_norms.append(norm)  # the global norm before clipping
                state.loss_sum += loss.item() * count
                state.loss_count += count
                state.skipped_in_a_row = 0
            else:  # the step skipped this update
                state.skipped_steps += 1
                state.skipped_in_a_row += 1
                if state.skipped_in_a_row > config.max_skipped_steps:
                    bar.close()
                    raise DivergenceError(
                        f"training diverged: {state.skipped_in_a_row} updates in a row had a non-finite loss or "
                        f"gradient (epoch {state.epoch + 1}, batch {index + 1}); "
                        + (f"{self.run_dir}'s checkpoints are those of epoch {state.epoch}, the last finite one; "
                           if state.epoch else "no checkpoint was saved; ")
                        + f"train a new run with a lower --lr (now {config.lr:g}) or --clip")
            state.batch = index + 1
            bar.set_postfix(loss=f"{loss.item():.4f}")
            bar.update()
            if _anyone(interrupt.requested, self.world):
                bar.close()
                self.snapshot(self.run_dir / "last.pt")
                self.tell(f"\ninterrupted: saved {self.run_dir / 'last.pt'}; continue with: "
                         f"rnnlab train --resume {self.run_dir}")
                raise KeyboardInterrupt
        bar.close()

    def validate_and_save(self) -> bool:
        """Validate the epoch just trained, log it, keep the best checkpoint; whether to stop early."""
        config, state, task = self.config, self.state, self.task
        metric = task.validate(self.step.evaluated, task.splits.validation, config.batch_size, self.device,
                               progress_bar=self.progress_bar, world=self.world)[task.metric]
        loss_sum, loss_count = distributed.all_sum(torch.tensor([state.loss_sum, state.loss_count],
                                                                dtype=torch.float64), self.world).tolist()
        norms = sorted(state.grad_norms) or [math.nan]
        record = {"epoch": state.epoch + 1, "train_loss": loss_sum / max(loss_count, 1),
                  f"validation_{task.metric}": metric, "lr": self.schedule.get_last_lr()[0],
                  "grad_norm_median": norms[len(norms) // 2], "grad_norm_max": norms[-1],
                  "clipped_fraction": sum(n > config.clip for n in norms) / len(norms) if config.clip > 0 else 0.0,
                  **({"skipped_steps": state.skipped_steps} if state.skipped_steps else {}),
                  "seconds": time.perf_counter() - self.epoch_start}
        if self.world.main:
            append_jsonl(self.run_dir / "grad_norms.jsonl", {"epoch": state.epoch + 1, "grad_norms": state.grad_norms})
        state.epoch, state.batch, state.loss_sum, state.loss_count = state.epoch + 1, 0, 0.0, 0
        state.grad_norms, state.skipped_steps = [], 0
        score = -metric if task.lower_is_better else metric
        improved = score >= state.best_metric  # on a tie, the later (longer-trained) model
        if improved:
            state.best_metric, state.best_epoch, state.epochs_without_improvement = score, state.epoch, 0
        else:
            state.epochs_without_improvement += 1
        if self.world.main:
            append_jsonl(self.run_dir / "metrics.jsonl", record)
        self.say(f"epoch {state.epoch:3d}  train loss {record['train_loss']:.4f}  "
                 f"validation {task.metric} {metric:.4f}{'  (best)' if improved else ''}  "
                 f"{record['seconds']:.1f} s")
        if improved:
            self.snapshot(self.run_dir / "best.pt")
        self.snapshot(self.run_dir / "last.pt")
        if config.patience and state.epochs_without_improvement >= config.patience:
            self.say(f"early stop: no improvement for {config.patience} epochs")
            return True
        return False

    def finish(self, start: float) -> dict[str, Any]:
        """Test the best checkpoint, write the test metrics and the learning curve; the run's summary."""
        config, state, task = self.config, self.state, self.task
        evaluated = self.step.evaluated
        best = load_checkpoint(self.run_dir / "best.pt")
        evaluated.load_state_dict(evaluated_weights(best))
        task.load_state(best["task"])  # what the task learned with those weights (a forecaster's calibration)
        test = task.evaluate(evaluated, task.splits.test, config.batch_size, self.device,
                             progress_bar=self.progress_bar, world=self.world)
        best_metric = -state.best_metric if task.lower_is_better else state.best_metric
        summary = {"run_dir": str(self.run_dir), "task": config.task, "best_epoch": state.best_epoch,
                   f"validation_{task.metric}": best_metric, f"test_{task.metric}": test[task.metric],
                   "seconds": time.perf_counter() - start}
        if self.world.main:
            write_json(self.run_dir / "test_metrics.json", {"epoch": state.best_epoch, **test})
            write_json(self.run_dir / "task.json", task.state())  # as the best epoch left it
            task.plot(evaluated, task.splits.test, self.run_dir / "test_metrics.png", self.device)
            plot_learning_curve(self.run_dir / "metrics.jsonl", self.run_dir / "learning_curve.png")
        self.tell(f"test {task.describe(test)} (best epoch {state.best_epoch}) in {summary['seconds']:.0f} s; "
                 f"run written to {self.run_dir}")
        distributed.barrier(self.world)  # no process leaves the group while another still uses it
        return summary


def _before_first_checkpoint(run_dir: Path) -> bool:
    """Whether a run directory holds a run stopped before it saved anything but its configuration."""
    metrics = run_dir / "metrics.jsonl"
    return (not (run_dir / "last.pt").exists() and not (run_dir / "best.pt").exists()
            and not (metrics.exists() and metrics.stat().st_size))


def _silent(*args, **kwargs) -> None:
    """``print`` for the processes other than rank 0."""


def _anyone(flag: bool, world: distributed.World) -> bool:
    """Whether ``flag`` is set in any process, so that all of them stop at the same update."""
    if not world.distributed:
        return flag
    return bool(distributed.all_sum(torch.tensor([float(flag)]), world).item())


class _GracefulInterrupt:
    """The first Ctrl-C (or SIGTERM, as a scheduler or ``kill`` sends) asks the loop to stop after the current
    batch (and save); a second one stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> _GracefulInterrupt:
        self.requested = False
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

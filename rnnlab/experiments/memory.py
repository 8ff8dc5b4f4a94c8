"""Memory over long sequences: which cells carry information across how many steps.

Two synthetic tasks whose answer lies far back in time, each with a memoryless baseline:

* **adding** (Hochreiter & Schmidhuber 1997; the form of Le et al. 2015): (value, marker) pairs,
  the target the sum of the two marked values; baseline MSE 1/6 (always predict the mean).
* **copy** (Arjovsky et al. 2016): 10 symbols, ``T`` blanks, reproduce the symbols; baseline
  cross-entropy ``10 ln 8 / (T + 20)``.

:func:`train_memory` trains one cell on one task and length with a fixed budget of updates, each on a
fresh batch, and records the learning curve, the global gradient norm of every update (before
clipping) and, a few times during training, the gradient flow ``||dLoss/dh_t||`` over time.  A run
*solves* its task when the test metric falls below ``SOLVED_FRACTION`` of the baseline.

:func:`run_grid` runs cells x tasks x lengths (and shuffled MNIST-1D) in parallel processes, writes
``memory.json``, the plots and ``report.html`` (:mod:`rnnlab.report`).  ``rnnlab memory`` is its command.

Shapes: ``B`` batch, ``T`` time steps, ``H`` hidden features.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.data.synthetic import (
    ADDING_BASELINE_MSE,
    COPY_LENGTH,
    COPY_VOCABULARY,
    adding_problem,
    copy_baseline,
    copy_memory,
)
from rnnlab.errors import ConfigError
from rnnlab.files import refuse_existing, timestamped
from rnnlab.models import CELLS, recurrent_layer
from rnnlab.nn.diagnostics import gate_statistics, gradient_flow, recording
from rnnlab.report.figures import write_memory_plots
from rnnlab.report.html import write_report
from rnnlab.report.tables import memory_table
from rnnlab.tasks import TrainConfig
from rnnlab.training import TrainingStep, train

SOLVED_FRACTION = 0.1
"""A run solves its task when the test metric is below this share of the memoryless baseline
(adding: MSE < 0.0167; copy: cross-entropy per step < a tenth of ``10 ln 8 / (T + 20)``)."""

TASKS = ("adding", "copy")
GRID_CELLS = ("rnn", "irnn", "lstm", "lstm-fb1", "gru", "mingru", "minlstm")
GRID_LENGTHS = {"adding": (50, 100, 200, 400, 1000), "copy": (10, 50, 100, 200, 500)}
QUICK_LENGTHS = {"adding": (50, 100), "copy": (10, 50)}
UPDATES, QUICK_UPDATES = 1500, 150
MNIST_EPOCHS, QUICK_MNIST_EPOCHS = 10, 1


class LastStepRegressor(nn.Module):
    """Many-to-one: a recurrent layer reads ``x (B, T, F)``; a linear head maps its output at the last step
    to ``(B,)``."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        self.layer = recurrent_layer(cell, input_size, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.layer(x)
        return self.head(output[:, -1]).squeeze(-1)


class StepClassifier(nn.Module):
    """Many-to-many: tokens ``(B, T)`` one-hot into a recurrent layer, and a linear head per step -> ``(B, T, V)``."""

    def __init__(self, cell: str, vocabulary: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        self.vocabulary = vocabulary
        self.layer = recurrent_layer(cell, vocabulary, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, vocabulary)

    def forward(self, tokens: Tensor) -> Tensor:
        output, _ = self.layer(F.one_hot(tokens, self.vocabulary).float())
        return self.head(output)


@dataclass
class MemoryResult:
    """One training run of :func:`train_memory`.

    ``metric``: test MSE (adding) or cross-entropy per step (copy); ``baseline``: the memoryless one;
    ``solved_at``: the first update whose running train metric was under the threshold (``None``:
    never); ``curve``: the running train metric every ``log_every`` updates; ``grad_norms``: the
    global gradient norm of every update before clipping; ``flow_steps`` and ``flow``: at those
    updates, ``||dLoss/dh_t||`` for every ``t`` (a list of ``T`` floats each); ``gates``: after
    training, per gate, the share of values above 0.95 at each step.
    """

    task: str
    cell: str
    length: int
    metric: float
    baseline: float
    solved: bool
    solved_at: int | None
    seconds: float
    updates: int
    curve: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    flow_steps: list[int] = field(default_factory=list)
    flow: list[list[float]] = field(default_factory=list)
    gates: dict[str, list[float]] = field(default_factory=dict)
    recall_accuracy: float | None = None


def make_batch(task: str, n: int, length: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """A batch of ``task`` at ``length`` (the adding problem's ``T``, the copy task's delay)."""
    if task == "adding":
        return adding_problem(n, length, generator)
    if task == "copy":
        return copy_memory(n, length, generator)
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def baseline(task: str, length: int) -> float:
    return ADDING_BASELINE_MSE if task == "adding" else copy_baseline(length)


def build_model(task: str, cell: str, hidden_size: int) -> nn.Module:
    return LastStepRegressor(cell, 2, hidden_size) if task == "adding" else StepClassifier(cell, COPY_VOCABULARY,
                                                                                        hidden_size)


def task_loss(task: str, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    if task == "adding":
        return F.mse_loss(model(x), y)
    return F.cross_entropy(model(x).flatten(0, 1), y.flatten())


def train_memory(task: str, cell: str, length: int, updates: int = UPDATES, batch_size: int = 64,
                 hidden_size: int = 64, lr: float = 1e-2, clip: float = 1.0, seed: int = 0, log_every: int = 25,
                 flow_points: int = 8, test_size: int = 1000) -> MemoryResult:
    """Train ``cell`` on ``task`` at ``length`` for ``updates`` Adam updates (one-cycle schedule, gradient-norm
    clipping at ``clip``), each on a fresh batch; return a :class:`MemoryResult`."""
    torch.manual_seed(seed)
    data = torch.Generator().manual_seed(seed + 1)
    test_x, test_y = make_batch(task, test_size, length, torch.Generator().manual_seed(seed + 2))
    probe_x, probe_y = make_batch(task, 32, length, torch.Generator().manual_seed(seed + 3))
    model = build_model(task, cell, hidden_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=updates)
    step = TrainingStep(model, optimizer, schedule, clip=clip)
    base = baseline(task, length)
    result = MemoryResult(task, cell, length, math.nan, base, False, None, 0.0, updates)
    flow_at = {round(k * updates / max(1, flow_points - 1)) for k in range(flow_points)}
    running: list[float] = []
    start = time.perf_counter()
    for update in range(updates + 1):
        if update in flow_at:  # the gradient flow on a fixed batch, before this update
            flows = gradient_flow(model, lambda: task_loss(task, model, probe_x, probe_y))
            result.flow_steps.append(update)
            result.flow.append(flows[0].norms.tolist())
        if update == updates:
            break
        x, y = make_batch(task, batch_size, length, data)
        loss, norm = step(lambda: task_loss(task, model, x, y))
        result.grad_norms.append(norm)
        running.append(loss.item())
        if (update + 1) % log_every == 0:
            result.curve.append(sum(running) / len(running))
            if result.solved_at is None and result.curve[-1] < SOLVED_FRACTION * base:
                result.solved_at = update + 1
            running = []
    model.eval()
    with torch.no_grad():
        result.metric = task_loss(task, model, test_x, test_y).item()
        if task == "copy":
            predicted = model(test_x)[:, -COPY_LENGTH:].argmax(-1)
            result.recall_accuracy = (predicted == test_y[:, -COPY_LENGTH:]).double().mean().item()
        with recording(model) as records:
            model(probe_x)
    result.gates = {name: stats.saturated_high.tolist() for name, stats in gate_statistics(records[0].trace).items()}
    result.solved = result.metric < SOLVED_FRACTION * base
    result.seconds = time.perf_counter() - start
    return result


# ----------------------------------------------------------------------------- the grid
def _run_job(job: dict) -> dict:
    """One job of the grid, in a worker process with one thread."""
    torch.set_num_threads(1)
    if job["task"] == "mnist1d-shuffled":
        start = time.perf_counter()
        summary = train(TrainConfig(task="mnist1d-shuffled", cell=job["cell"], epochs=job["epochs"], seed=job["seed"],
                                    run_dir=Path(job["run_dir"])), progress_bar=False)
        return {"task": "mnist1d-shuffled", "cell": job["cell"], "length": 40, "metric": summary["test_accuracy"],
                "baseline": 0.1, "solved": None, "solved_at": None, "seconds": time.perf_counter() - start,
                "updates": None}
    result = train_memory(job["task"], job["cell"], job["length"], updates=job["updates"], seed=job["seed"])
    return dataclasses.asdict(result)


def _json_safe(row: dict) -> dict:
    """``row`` with NaN (a run whose loss diverged) as ``None``, so the file is standard JSON."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def grid_jobs(cells: tuple[str, ...], quick: bool, updates: int | None, seed: int, out_dir: Path,
              mnist: bool = True) -> list[dict]:
    """The jobs of the grid: every cell x task x length, then shuffled MNIST-1D per trainable cell, longest first."""
    lengths = QUICK_LENGTHS if quick else GRID_LENGTHS
    updates = updates or (QUICK_UPDATES if quick else UPDATES)
    jobs = [{"task": task, "cell": cell, "length": length, "updates": updates, "seed": seed}
            for task in TASKS for length in lengths[task] for cell in cells]
    jobs.sort(key=lambda j: -j["length"])  # the longest first, so the two workers finish together
    if mnist:
        jobs += [{"task": "mnist1d-shuffled", "cell": cell, "epochs": QUICK_MNIST_EPOCHS if quick else MNIST_EPOCHS,
                  "seed": seed, "run_dir": str(out_dir / f"mnist1d-shuffled-{cell}")} for cell in cells]
    return jobs


def run_grid(out_dir: Path | None = None, cells: tuple[str, ...] = GRID_CELLS, quick: bool = False,
             updates: int | None = None, workers: int | None = None, seed: int = 0, mnist: bool = True) -> list[dict]:
    """Run the memory grid, print its table, and write ``memory.json``, the plots and ``report.html`` to ``out_dir``."""
    unknown = [c for c in cells if c not in CELLS]
    if unknown:
        raise ConfigError(f"--cells: unknown cell {unknown[0]!r}; choose from {sorted(CELLS)}")
    if updates is not None and updates < 1:
        raise ConfigError(f"--updates must be at least 1, got {updates}")
    out_dir = Path(out_dir) if out_dir is not None else timestamped("memory")
    refuse_existing(out_dir, "choose a new --out-dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = grid_jobs(tuple(cells), quick, updates, seed, out_dir, mnist)
    workers = workers or min(2, os.cpu_count() or 1)
    start = time.perf_counter()
    print(f"rnnlab memory: {len(jobs)} runs on {workers} worker process(es) -> {out_dir}", flush=True)
    rows = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for row in pool.map(_run_job, jobs):
            rows.append(row)
            print(f"  {row['task']:16s} {row['cell']:8s} T={row['length']:<5d} "
                  f"{'accuracy' if row['task'] == 'mnist1d-shuffled' else 'metric'} {row['metric']:.4f} "
                  f"({row['seconds']:.0f} s)", flush=True)
    elapsed = time.perf_counter() - start
    (out_dir / "memory.json").write_text(json.dumps({"rows": [_json_safe(r) for r in rows], "seconds": elapsed,
                                                     "quick": quick, "solved_fraction": SOLVED_FRACTION}) + "\n")
    print("\n" + memory_table(rows))
    plots = write_memory_plots(rows, out_dir)
    report = write_report([out_dir], out_dir / "report.html")
    print(f"\n{len(rows)} runs in {elapsed / 60:.1f} min; written: {out_dir / 'memory.json'}, "
          f"{', '.join(p.name for p in plots)}, {report}")
    return rows

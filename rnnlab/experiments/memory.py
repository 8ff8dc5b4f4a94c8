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
from rnnlab.files import atomic_write, read_json, refuse_existing, timestamped, to_json
from rnnlab.models import CELLS, recurrent_layer
from rnnlab.models.cells import parse_cell
from rnnlab.nn.diagnostics import gate_statistics, gradient_flow, jacobian_norms, recording
from rnnlab.report.figures import write_memory_plots
from rnnlab.report.html import write_report
from rnnlab.report.tables import format_metric, memory_table
from rnnlab.tasks import TrainConfig
from rnnlab.training import TrainingStep, train

SOLVED_FRACTION = 0.1
"""A run solves its task when the test metric is below this share of the memoryless baseline
(adding: MSE < 0.0167; copy: cross-entropy per step < a tenth of ``10 ln 8 / (T + 20)``)."""
HALF_FRACTION = 0.6
"""Between this share of the baseline and :data:`SOLVED_FRACTION` a run is *half solved*: on adding,
an MSE near 1/12 = 0.083 (half the baseline) means the model carries one of the two values only."""
JACOBIAN_SEQUENCES = 4
"""Probe sequences whose state Jacobians are computed after training."""
SOLVED_WINDOWS = 4
"""A run stops early once its running train metric has been solved for this many logs in a row."""


def memory_state(metric: float, baseline: float) -> str:
    """``"solved"`` (under :data:`SOLVED_FRACTION` of the baseline), ``"half"`` (under
    :data:`HALF_FRACTION`) or ``"baseline"`` (a NaN metric, a diverged run, is ``"baseline"``)."""
    if metric < SOLVED_FRACTION * baseline:
        return "solved"
    if metric < HALF_FRACTION * baseline:
        return "half"
    return "baseline"


@dataclass(frozen=True)
class Recipe:
    """How the grid trains one cell: optimiser, learning rate, schedule, clipping, updates, sizes,
    and the source they come from."""

    optimizer: str = "adam"
    """``"adam"`` or ``"rmsprop"``."""
    lr: float = 1e-3
    schedule: str = "constant"
    """``"constant"`` or ``"onecycle"`` (warm up, then cosine down to nearly zero)."""
    clip: float = 1.0
    """Gradient-norm clipping (0: none)."""
    updates: int = 1500
    """The most updates a run takes (it stops early once solved)."""
    batch_size: int = 64
    hidden_size: int = 64
    num_layers: int = 1
    generator_lr: float | None = None
    """The learning rate of an orthogonal cell's skew-symmetric generator (``None``: ``lr``)."""
    longer: tuple[tuple[str, int, int], ...] = ()
    """``(task, length, updates)``: the runs of ``task`` up to ``length`` take at most ``updates`` instead."""
    source: str = ""

    def updates_for(self, task: str, length: int) -> int:
        """The most updates a run of ``task`` at ``length`` takes (:attr:`longer`, else :attr:`updates`)."""
        return next((n for name, longest, n in self.longer if name == task and length <= longest), self.updates)


TASKS = ("adding", "copy")
GRID_CELLS = ("rnn", "irnn", "lstm", "lstm-fb1", "lstm-chrono", "janet", "gru", "mingru", "minlstm", "indrnn",
              "orthogonal")
GRID_LENGTHS = {"adding": (100, 200, 400, 1000), "copy": (100, 200, 500)}
QUICK_LENGTHS = {"adding": (100,), "copy": (20,)}
QUICK_UPDATES = 800
MNIST_EPOCHS, QUICK_MNIST_EPOCHS = 10, 1


SHARED = Recipe("adam", 1e-2, "onecycle", source="rnnlab's budget recipe (Adam, one-cycle to 1e-2, clipping 1)")
"""One recipe for the tanh RNN and every gated cell, so that their rows differ in the cell and its
initialisation only.  The papers trained these with RMSprop or Adam at 1e-3 over 10-20k updates
(Arjovsky et al. 2016), which a 60-minute grid cannot give; a one-cycle schedule to 1e-2 solves in
~1-2k updates what they solve at all."""

RECIPES: dict[str, Recipe] = {
    "rnn": SHARED,
    "irnn": Recipe("adam", 1e-4, source="after Le et al. 2015 (IRNN: plain SGD with small steps and clipping; "
                                        "here Adam 1e-4, clipping 1: a relu recurrence diverges at 1e-2)"),
    "lstm": SHARED,
    "lstm-fb1": dataclasses.replace(
        SHARED, longer=(("adding", 200, 6000),),
        source="rnnlab's budget recipe (Adam, one-cycle to 1e-2, clipping 1); on adding up to T=200, 6,000 updates: "
               "forget-gate bias 1 alone needs about 1,300 updates at T=100 and 2,700 at T=200 (Arjovsky et al. "
               "2016 took ~20k at 1e-3 to T=400), beyond the 1,500 of the others"),
    "lstm-chrono": SHARED,
    "janet": SHARED,
    "gru": SHARED,
    "mingru": SHARED,
    "minlstm": SHARED,
    "indrnn": Recipe("adam", 2e-4, updates=3000, num_layers=2,
                     source="Li et al. 2018 (IndRNN: 2 layers, Adam 2e-4; 3,000 updates, as its learning rate "
                            "is small)"),
    "orthogonal": Recipe("rmsprop", 1e-3, generator_lr=1e-4, source="after Lezcano-Casado & Martinez-Rubio 2019 "
                         "(expRNN: RMSprop, the generator at a tenth of the rate; their copy script 2e-4/2e-5, "
                         "here 1e-3/1e-4 for the budget)"),
}
"""Each grid cell's recipe: :data:`SHARED` for the tanh RNN and the gated cells, the paper's own for the
relu and orthogonal recurrences, whose stability depends on it (initialisations are the cells' own)."""


def recipe_for(cell: str) -> Recipe:
    """The cell's :data:`RECIPES` entry (a spec with regularisers, as ``lstm:zoneout=0.1``, takes its cell's),
    or the default :class:`Recipe` for a cell without one."""
    return RECIPES.get(cell.split(":")[0], Recipe(source="rnnlab default (Adam 1e-3)"))


@dataclass(frozen=True)
class Published:
    """A published result on ``task`` for ``cell`` at lengths ``low..high``: its state (as
    :func:`memory_state`), the updates it took where the source says, and the source."""

    task: str
    cell: str
    low: int
    high: int
    state: str
    updates: int | None
    source: str


PUBLISHED = (
    Published("adding", "rnn", 150, 1000, "baseline", None,
              "Le et al. 2015, Fig. 2: a tanh RNN stays at the baseline from T=150"),
    Published("adding", "irnn", 150, 400, "solved", 10**5,
              "Le et al. 2015, Fig. 2: the IRNN solves T=150-400, with plain SGD over far longer training"),
    Published("adding", "lstm-fb1", 100, 400, "solved", 20_000,
              "Arjovsky et al. 2016, Fig. 2 (LSTM, forget bias 1): solved to T=400 within ~20k updates"),
    Published("adding", "lstm-fb1", 750, 1000, "half", 20_000,
              "Arjovsky et al. 2016, Fig. 2: MSE 0.08 at T=750, the second value only"),
    Published("adding", "lstm-chrono", 100, 1000, "solved", None,
              "Tallec & Ollivier 2018: chrono initialisation learns the long lags the standard LSTM misses"),
    Published("adding", "indrnn", 100, 1000, "solved", 2_000,
              "Li et al. 2018, Fig. 2: the IndRNN solves T=1000 in 1-2k updates"),
    Published("adding", "orthogonal", 100, 750, "solved", 10_000,
              "Arjovsky et al. 2016, Fig. 2 (uRNN): solved to T=750"),
    Published("copy", "lstm-fb1", 100, 100, "baseline", 2_000,
              "Arjovsky et al. 2016, Fig. 1 (LSTM): 0.84 of the baseline at T=100"),
    Published("copy", "lstm-fb1", 200, 500, "baseline", 2_000,
              "Arjovsky et al. 2016, Fig. 1 (LSTM): at the baseline from T=200"),
    Published("copy", "orthogonal", 100, 100, "solved", 1_000,
              "Arjovsky et al. 2016 (uRNN), Lezcano-Casado & Martinez-Rubio 2019 (expRNN): T=100 in ~1k updates"),
    Published("copy", "orthogonal", 200, 500, "solved", 5_000,
              "Arjovsky et al. 2016 (uRNN), Lezcano-Casado & Martinez-Rubio 2019 (expRNN): T=500 in ~5k updates"),
)
"""What the literature reports on the grid's tasks, per cell and length range (see the sources)."""


def published_for(task: str, cell: str, length: int) -> Published | None:
    """The :data:`PUBLISHED` result covering ``task``, ``cell`` and ``length``, or ``None``."""
    return next((p for p in PUBLISHED if (p.task, p.cell) == (task, cell) and p.low <= length <= p.high), None)


def compare_with_published(row: dict) -> dict:
    """``row`` with ``published`` (the state and source, or ``None``), ``agrees`` and, where they
    disagree, ``why``: one sentence from what the run and the source say."""
    found = published_for(row["task"], row["cell"], row["length"])
    if found is None:
        return {**row, "published": None, "agrees": None, "why": None}
    agrees = row["state"] == found.state
    why = None
    if not agrees:
        took = f"{row['updates']:,} updates" if row.get("updates") else "its budget"
        stopped = row.get("updates") and row.get("max_updates") and row["updates"] < row["max_updates"]
        if _state_rank(row["state"]) > _state_rank(found.state):
            why = (f"This run did better than the source ({row['state']} against {found.state}): its recipe "
                   f"(optimiser, learning rate, initialisation) differs from the one published.")
        elif stopped:
            why = (f"This run stopped after {took}, solved on its training batches, and fell short of "
                   f"'{found.state}' on the test set: a solution that does not generalise yet.")
        elif found.updates is None:
            why = (f"The source does not say how many updates it took to reach '{found.state}'; this run "
                   f"stopped at {took}: the budget, or the recipe, is the difference.")
        elif row.get("updates") and found.updates > row["updates"]:
            why = (f"The source reached '{found.state}' after about {found.updates:,} updates; this run had "
                   f"{took}: the budget is the likely difference (its recipe differs too).")
        else:
            why = (f"This run stayed at '{row['state']}' where the source reports '{found.state}' within a "
                   f"comparable budget ({took}): a recipe or initialisation difference to investigate.")
    return {**row, "published": {"state": found.state, "updates": found.updates, "source": found.source},
            "agrees": agrees, "why": why}


def _state_rank(state: str) -> int:
    return {"baseline": 0, "half": 1, "solved": 2}.get(state, 0)


class LastStepRegressor(nn.Module):
    """Many-to-one: a recurrent layer reads ``x (B, T, F)``; a linear head maps its output at the last step
    to ``(B,)``."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 timescale: int | None = None) -> None:
        super().__init__()
        self.layer = recurrent_layer(cell, input_size, hidden_size, num_layers, timescale=timescale)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.layer(x)
        return self.head(output[:, -1]).squeeze(-1)


class StepClassifier(nn.Module):
    """Many-to-many: tokens ``(B, T)`` one-hot into a recurrent layer, and a linear head per step -> ``(B, T, V)``."""

    def __init__(self, cell: str, vocabulary: int, hidden_size: int, num_layers: int = 1,
                 timescale: int | None = None) -> None:
        super().__init__()
        self.vocabulary = vocabulary
        self.layer = recurrent_layer(cell, vocabulary, hidden_size, num_layers, timescale=timescale)
        self.head = nn.Linear(hidden_size, vocabulary)

    def forward(self, tokens: Tensor) -> Tensor:
        output, _ = self.layer(F.one_hot(tokens, self.vocabulary).float())
        return self.head(output)


@dataclass
class MemoryResult:
    """One training run of :func:`train_memory`.

    ``metric``: test MSE (adding) or cross-entropy per step (copy); ``baseline``: the memoryless one;
    ``solved_at``: the first update whose running train metric was under the threshold (``None``:
    never); ``state``: :func:`memory_state` of the test metric; ``updates``: how many were taken;
    ``curve``: the running train metric every ``log_every`` updates; ``grad_norms``: the global
    gradient norm of every update before clipping; ``flow_steps`` and ``flow``: at those updates
    (the first before training, the last after it), ``||dLoss/dh_t||`` for every ``t`` (a list of
    ``T`` floats each); ``jacobian`` and ``jacobian_product``: after training, along the probe batch's
    trajectories, the mean spectral norm of the whole state's one-step Jacobian ``||ds_t/ds_(t-1)||``
    (below 1 a step must shrink every gradient; above 1 it can grow one) and of their product
    ``||ds_t/ds_0||`` (how much of a change to the first state still reaches step ``t``); ``gates``:
    after training, per gate, the share of values above 0.95 at each step.  Flows, Jacobians and
    gates are the last layer's.
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
    jacobian: list[float] = field(default_factory=list)
    jacobian_product: list[float] = field(default_factory=list)
    recall_accuracy: float | None = None
    state: str = "baseline"


def make_batch(task: str, n: int, length: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """A batch of ``task`` at ``length`` (the adding problem's ``T``, the copy task's delay)."""
    if task == "adding":
        return adding_problem(n, length, generator)
    if task == "copy":
        return copy_memory(n, length, generator)
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def baseline(task: str, length: int) -> float:
    return ADDING_BASELINE_MSE if task == "adding" else copy_baseline(length)


def sequence_steps(task: str, length: int) -> int:
    """How many steps a sequence of ``task`` at ``length`` has: ``T`` for adding, ``T + 20`` for copy."""
    return length + (2 * COPY_LENGTH if task == "copy" else 0)


def build_model(task: str, cell: str, hidden_size: int, num_layers: int = 1, length: int | None = None) -> nn.Module:
    """The grid's model for ``task``; a cell initialised for a time scale is made for the task's
    sequences at ``length`` (:func:`sequence_steps`)."""
    timescale = None if length is None else sequence_steps(task, length)
    if task == "adding":
        return LastStepRegressor(cell, 2, hidden_size, num_layers, timescale)
    return StepClassifier(cell, COPY_VOCABULARY, hidden_size, num_layers, timescale)


def task_loss(task: str, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    if task == "adding":
        return F.mse_loss(model(x), y)
    return F.cross_entropy(model(x).flatten(0, 1), y.flatten())


def check_run(task: str, cell: str, length: int) -> None:
    """Refuse, in one line (:class:`ConfigError`), a task, cell or length the grid cannot run."""
    if task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
    try:
        name, _ = parse_cell(cell)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    shortest = 2 if task == "adding" else 1
    if not isinstance(length, int) or length < shortest:
        raise ConfigError(f"{task}: T must be at least {shortest}, got {length!r}")
    if getattr(CELLS[name], "takes_timescale", False) and sequence_steps(task, length) <= 2:
        raise ConfigError(f"{cell}: T={length} is too short for its initialisation, which spreads memory over "
                          "2..T steps (T must be at least 3)")


def make_optimizer(model: nn.Module, recipe: Recipe, updates: int):
    """The recipe's optimiser (a skew-symmetric generator, an orthogonal cell's, at ``generator_lr``)
    and its schedule."""
    generators = [p for name, p in model.named_parameters() if "log_weight_hh" in name]
    others = [p for name, p in model.named_parameters() if "log_weight_hh" not in name]
    groups = [{"params": others, "lr": recipe.lr}]
    if generators:
        groups.append({"params": generators, "lr": recipe.generator_lr or recipe.lr})
    optimizer = (torch.optim.RMSprop(groups, lr=recipe.lr) if recipe.optimizer == "rmsprop"
                 else torch.optim.Adam(groups, lr=recipe.lr))
    if recipe.schedule == "onecycle":
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in groups],
                                                       total_steps=updates)
    else:
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    return optimizer, schedule


def train_memory(task: str, cell: str, length: int, updates: int | None = None, recipe: Recipe | None = None,
                 seed: int = 0, log_every: int = 25, flow_points: int = 8, test_size: int = 1000,
                 stop_when_solved: bool = True) -> MemoryResult:
    """Train ``cell`` on ``task`` at ``length`` with its :class:`Recipe` (default: :func:`recipe_for`), each
    update on a fresh batch, for ``updates`` updates (default: the recipe's) or, with ``stop_when_solved``,
    until the running train metric has stayed solved for :data:`SOLVED_WINDOWS` logs in a row; return a
    :class:`MemoryResult`."""
    check_run(task, cell, length)
    recipe = recipe or recipe_for(cell)
    updates = updates or recipe.updates_for(task, length)
    torch.manual_seed(seed)
    data = torch.Generator().manual_seed(seed + 1)
    test_x, test_y = make_batch(task, test_size, length, torch.Generator().manual_seed(seed + 2))
    probe_x, probe_y = make_batch(task, 32, length, torch.Generator().manual_seed(seed + 3))
    model = build_model(task, cell, recipe.hidden_size, recipe.num_layers, length)
    optimizer, schedule = make_optimizer(model, recipe, updates)
    step = TrainingStep(model, optimizer, schedule, clip=recipe.clip)
    base = baseline(task, length)
    result = MemoryResult(task, cell, length, math.nan, base, False, None, 0.0, 0)
    flow_at = {round(k * updates / max(1, flow_points - 1)) for k in range(flow_points)}
    running: list[float] = []
    solved_logs = 0
    start = time.perf_counter()
    for update in range(updates + 1):
        finished = update == updates or (stop_when_solved and solved_logs >= SOLVED_WINDOWS)
        if update in flow_at or finished:  # the gradient flow on a fixed batch, before this update
            flows = gradient_flow(model, lambda: task_loss(task, model, probe_x, probe_y))
            result.flow_steps.append(update)
            result.flow.append(flows[-1].norms.tolist())  # the last layer: the one that answers
        if finished:
            break
        x, y = make_batch(task, recipe.batch_size, length, data)
        loss, norm = step(lambda: task_loss(task, model, x, y))
        result.grad_norms.append(norm)
        running.append(loss.item())
        result.updates = update + 1
        if (update + 1) % log_every == 0:
            result.curve.append(sum(running) / len(running))
            solved_logs = solved_logs + 1 if result.curve[-1] < SOLVED_FRACTION * base else 0
            if result.solved_at is None and solved_logs:
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
    last = records[-1]
    result.gates = {name: stats.saturated_high.tolist() for name, stats in gate_statistics(last.trace).items()}
    jacobian = jacobian_norms(last.cell, last.inputs[:, :JACOBIAN_SEQUENCES].detach())
    result.jacobian = torch.nanmean(jacobian.step, dim=1).tolist()
    result.jacobian_product = torch.nanmean(jacobian.product, dim=1).tolist()
    result.state = memory_state(result.metric, base)
    result.solved = result.state == "solved"
    result.seconds = time.perf_counter() - start
    return result


# ----------------------------------------------------------------------------- the grid
def _run_job(job: dict) -> dict:
    """One job of the grid, in a worker process with one thread that flushes subnormal floats to zero."""
    torch.set_num_threads(1)
    # A cell that forgets carries gradients below 1e-38 back through time; as subnormal floats they make the
    # CPU's arithmetic 5-10x slower (a torch-default LSTM's backward pass at T=1000), as zeros they change nothing.
    torch.set_flush_denormal(True)
    if job["task"] == "mnist1d-shuffled":
        start = time.perf_counter()
        summary = train(TrainConfig(task="mnist1d-shuffled", cell=job["cell"], epochs=job["epochs"], seed=job["seed"],
                                    run_dir=Path(job["run_dir"])), progress_bar=False)
        return {"task": "mnist1d-shuffled", "cell": job["cell"], "length": 40, "metric": summary["test_accuracy"],
                "baseline": 0.1, "solved": None, "state": None, "solved_at": None,
                "seconds": time.perf_counter() - start, "updates": None}
    result = train_memory(job["task"], job["cell"], job["length"], updates=job["updates"], seed=job["seed"])
    recipe = recipe_for(job["cell"])
    return {**dataclasses.asdict(result), "recipe": dataclasses.asdict(recipe),
            "max_updates": job["updates"] or recipe.updates_for(job["task"], job["length"])}


def grid_jobs(cells: tuple[str, ...], quick: bool, updates: int | None, seed: int, out_dir: Path,
              mnist: bool = False) -> list[dict]:
    """The jobs of the grid: every cell x task x length, longest first (each with its cell's recipe; at most
    ``updates`` updates if given, :data:`QUICK_UPDATES` with ``quick``), then shuffled MNIST-1D per cell."""
    lengths = QUICK_LENGTHS if quick else GRID_LENGTHS
    updates = updates or (QUICK_UPDATES if quick else None)
    jobs = [{"task": task, "cell": cell, "length": length, "updates": updates, "seed": seed}
            for task in TASKS for length in lengths[task] for cell in cells]
    jobs.sort(key=lambda j: -j["length"])  # the longest first, so the two workers finish together
    if mnist:
        jobs += [{"task": "mnist1d-shuffled", "cell": cell, "epochs": QUICK_MNIST_EPOCHS if quick else MNIST_EPOCHS,
                  "seed": seed, "run_dir": str(out_dir / f"mnist1d-shuffled-{cell}")} for cell in cells]
    return jobs


def run_grid(out_dir: Path | None = None, cells: tuple[str, ...] = GRID_CELLS, quick: bool = False,
             updates: int | None = None, workers: int | None = None, seed: int = 0, mnist: bool = False) -> list[dict]:
    """Run the memory grid, print its table, and write ``memory.json``, the plots and ``report.html`` to ``out_dir``."""
    for cell in cells:
        try:
            parse_cell(cell)
        except ValueError as error:
            raise ConfigError(f"--cells: {error}") from None
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
            print(f"  {row['task']:16s} {row['cell']:11s} T={row['length']:<5d} "
                  f"{'accuracy' if row['task'] == 'mnist1d-shuffled' else 'metric'} {format_metric(row['metric'])} "
                  f"{row['state'] or ''} ({row['updates'] or '-'} updates, {row['seconds']:.0f} s)", flush=True)
    elapsed = time.perf_counter() - start
    summary = {"rows": rows, "seconds": elapsed, "quick": quick, "solved_fraction": SOLVED_FRACTION,
               "half_fraction": HALF_FRACTION}
    return render_grid(out_dir, summary)["rows"]


def render_grid(out_dir: Path, data: dict | None = None) -> dict:
    """Compare every run of a grid with today's :data:`PUBLISHED`, write ``memory.json``, print the table
    and write the plots and ``report.html`` into ``out_dir``; the grid is ``data`` (a run's summary) or,
    when omitted, the ``memory.json`` already in ``out_dir`` (to re-draw it).  Returns the grid."""
    out_dir = Path(out_dir)
    data = dict(data if data is not None else read_json(out_dir / "memory.json"))
    rows = [compare_with_published(r) if r["task"] in TASKS and r.get("state") else r for r in data["rows"]]
    data["rows"] = rows
    atomic_write(out_dir / "memory.json", lambda tmp: tmp.write_text(to_json(data) + "\n"))
    print("\n" + memory_table(rows))
    plots = write_memory_plots(rows, out_dir)
    report = write_report([out_dir], out_dir / "report.html")
    print(f"\n{len(rows)} runs in {float(data['seconds']) / 60:.1f} min; written: {out_dir / 'memory.json'}, "
          f"{', '.join(p.name for p in plots)}, {report}")
    return data

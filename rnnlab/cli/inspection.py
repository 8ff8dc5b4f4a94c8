"""``rnnlab diagnose``, ``memory``, ``report``: looking inside trained runs and the memory grid."""

from __future__ import annotations

from pathlib import Path

import tyro

from rnnlab.cli.root import Device, app
from rnnlab.errors import ConfigError
from rnnlab.experiments.memory import GRID_CELLS, run_grid
from rnnlab.report.html import write_report
from rnnlab.training.diagnose import diagnose_run


@app.command(name="diagnose")
def diagnose_command(run_dir: tyro.conf.Positional[Path], batch_size: int = 32,
                     jacobian_sequences: int = 4, device: Device = "auto") -> None:
    """Diagnose a trained run: how far back its gradient reaches, its Jacobians, gates and gradient norms.

    Writes RUN_DIR/diagnostics/diagnostics.json and plots (gradient_flow.png, jacobian.png, gates.png,
    grad_norms.png); `rnnlab report RUN_DIR` puts them in a page.

    Args:
        run_dir: A run directory written by `rnnlab train`.
        batch_size: Validation sequences in the diagnosed batch.
        jacobian_sequences: Sequences whose state Jacobians are computed (exactly, per step).
        device: Where to run: auto (a CUDA device when one is available, else the CPU), cpu or cuda; a run
            trained on a GPU runs on a machine without one.
    """
    diagnose_run(run_dir, batch_size, jacobian_sequences, device)


@app.command(name="memory")
def memory_command(out_dir: Path | None = None, quick: bool = False, cells: tuple[str, ...] | None = None,
                   updates: int | None = None, workers: int | None = None, seed: int = 0, mnist: bool = False) -> None:
    """Memory benchmarks: the adding problem and copy memory over growing lengths, per cell, each cell
    trained with its paper's recipe, beside the published results.

    Prints the table (state: solved, half solved or at the baseline; the update it was solved at; the
    final metric; the published state and whether they agree, with a sentence of why where not) and
    writes memory.json, the plots (why_gradients.png among them) and report.html.

    Args:
        out_dir: Where everything goes (default: runs/memory-TIME).
        quick: A small grid (adding T=100, copy T=20, at most 800 updates per run), about a minute on 2 cores.
        cells: Cells to compare (default: rnn irnn lstm lstm-fb1 lstm-chrono janet gru mingru minlstm indrnn
            orthogonal); any cell of rnnlab train --cell (lstm-peephole, lstm-ln, gru-ln, mgu too), with
            regularisers after colons: lstm:zoneout=0.1, gru:recurrent_dropout=0.2:weight_drop=0.3.
        updates: The most updates per run (default: each cell's recipe's; 800 with --quick); a run stops early
            once solved.
        workers: Parallel worker processes (default: 2, or 1 on a 1-core machine).
        seed: Seeds every run.
        mnist: Also train every cell on shuffled MNIST-1D.
    """
    run_grid(out_dir, tuple(cells or GRID_CELLS), quick, updates, workers, seed, mnist)


@app.command(name="report")
def report_command(directories: tyro.conf.Positional[tuple[Path, ...]],
                   output: Path | None = None) -> None:
    """Write a self-contained HTML report (plots embedded) of memory grids, train runs and their diagnostics.

    Args:
        directories: Directories written by `rnnlab memory`, `rnnlab train` or `rnnlab diagnose`.
        output: The page (default: report.html in the first directory).
    """
    if not directories:
        raise ConfigError("report: give at least one directory")
    path = write_report(list(directories), output or Path(directories[0]) / "report.html")
    print(f"written: {path}")

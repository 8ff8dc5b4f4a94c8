"""Every figure rnnlab draws, as PNG files: matplotlib is set up here, once, for files only.

Figures are made with :class:`matplotlib.figure.Figure` directly, never through ``pyplot``: no
window, no display, and nothing global changes (a notebook that imports rnnlab keeps its own backend).

Plot functions take plain numbers (lists, dicts read from a run's JSON files, tensors) and a path, and
return the path; none of them imports anything of rnnlab above :mod:`rnnlab.report`.

* :func:`plot_learning_curve`: a run's train loss and validation metric per epoch.
* :func:`write_memory_plots`: the memory grid's gradient flow, flow heat maps, gate saturation,
  learning curves, gradient norms, the why (gradient flow before and after training and the state
  Jacobians, cell by cell) and the table.
* :func:`plot_run_diagnostics`: a trained run's gradient flow, Jacobians, gates and gradient norms.
* :func:`plot_attention`: which source letters each output phoneme of a G2P model looked at.
* :func:`plot_order`: test accuracy of recurrent against order-blind models.
* :func:`plot_forecasts`: a forecaster's median and intervals against the truth, from a few origins.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from matplotlib.figure import Figure

from rnnlab.report.tables import MEMORY_COLUMNS, memory_row, memory_state_of, sorted_rows


def _subplots(*grid: int, figsize: tuple[float, float], **options):
    """A new figure and its axes, as ``pyplot.subplots`` gives them, without pyplot's global state."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **options)


def _cells(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["cell"] for r in rows))


def _save(fig, path: Path, dpi: int = 90) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def write_memory_plots(rows: list[dict], out_dir: Path) -> list[Path]:
    """Every plot of a memory grid into ``out_dir``; returns their paths."""
    synthetic = [r for r in rows if r["task"] in ("adding", "copy")]
    paths = []
    if synthetic:
        paths += [plot_gradient_flow(synthetic, out_dir / "gradient_flow.png"),
                  plot_flow_heatmaps(synthetic, out_dir / "flow_heatmap.png"),
                  plot_gate_saturation(synthetic, out_dir / "gate_saturation.png"),
                  plot_learning_curves(synthetic, out_dir / "learning_curves.png"),
                  plot_grad_norms(synthetic, out_dir / "grad_norms.png"),
                  plot_why(synthetic, out_dir / "why_gradients.png")]
    paths.append(plot_memory_table(rows, out_dir / "memory_table.png"))
    return paths


def _main_task(rows: list[dict]) -> str:
    """The task a single-panel plot shows: the adding problem when the grid has it, else the first."""
    return "adding" if any(r["task"] == "adding" for r in rows) else rows[0]["task"]


def _middle(rows: list[dict], task: str) -> int:
    lengths = sorted({r["length"] for r in rows if r["task"] == task})
    return lengths[len(lengths) // 2]


def plot_gradient_flow(rows: list[dict], path: Path) -> Path:
    """``||dLoss/dh_t|| / ||dLoss/dh_T||`` against ``t`` after training, per task at its middle length."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = _subplots(1, len(tasks), figsize=(6 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        length = _middle(rows, task)
        for r in rows:
            if r["task"] == task and r["length"] == length and r["flow"]:
                norms = r["flow"][-1]
                last = norms[-1] if norms[-1] > 0 else max(norms) or 1.0
                ax.plot([max(n / last, 1e-30) for n in norms], label=r["cell"])
        ax.set_yscale("log")
        ax.set_xlabel("time step t")
        ax.set_ylabel("||dLoss/dh_t|| / ||dLoss/dh_T||")
        ax.set_title(f"{task}, T={length}: how far back the gradient reaches (after training)")
        ax.legend(fontsize=7)
    return _save(fig, path)


WHY_CELLS = ("rnn", "lstm", "lstm-fb1", "lstm-chrono", "orthogonal")
"""The cells :func:`plot_why` sets side by side: the vanilla RNN, the LSTM with torch's, forget-bias-1
and chrono initialisation, and the orthogonal RNN."""


def plot_why(rows: list[dict], path: Path) -> Path:
    """Why some cells remember: for each of :data:`WHY_CELLS` in the grid (else every cell), on the adding
    problem (else the first task) at T=200 (else its middle length), ``||dLoss/dh_t||`` relative to the
    last step before training (dashed) and after it (solid); below it, after training, how much of a
    change to the first state still reaches step ``t``: the norm of the product of the state
    Jacobians ``||ds_t/ds_0||`` along the trajectories (a vanishing line: the cell forgets)."""
    task = _main_task(rows)
    lengths = {r["length"] for r in rows if r["task"] == task}
    length = 200 if 200 in lengths else _middle(rows, task)
    chosen = [r for r in rows if r["task"] == task and r["length"] == length and r["flow"]]
    named = [r for r in chosen if r["cell"] in WHY_CELLS]
    chosen = sorted(named, key=lambda r: WHY_CELLS.index(r["cell"])) if named else chosen
    columns = max(1, len(chosen))
    fig, axes = _subplots(2, columns, figsize=(3.4 * columns, 6.0), squeeze=False)
    for k, r in enumerate(chosen):
        top, bottom = axes[0][k], axes[1][k]
        for norms, style, when in ((r["flow"][0], "--", "before training"), (r["flow"][-1], "-", "after")):
            last = norms[-1] if norms[-1] > 0 else (max(norms) or 1.0)
            top.plot([max(n / last, 1e-30) for n in norms], style, label=when)
        top.set_yscale("log")
        top.set_title(f"{r['cell']}: {memory_state_of(r) or ''}", fontsize=9)
        top.set_xlabel("time step t", fontsize=8)
        if k == 0:
            top.set_ylabel("||dL/dh_t|| / ||dL/dh_T||", fontsize=8)
            top.legend(fontsize=7)
        reach = r.get("jacobian_product") or []
        if reach:
            bottom.plot([max(v, 1e-30) if v == v else None for v in reach], color="tab:purple")
            bottom.set_yscale("log")
        else:  # a grid written before the product was recorded
            bottom.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=bottom.transAxes)
        bottom.set_xlabel("time step t", fontsize=8)
        if k == 0:
            bottom.set_ylabel("||ds_t / ds_0|| (after training)", fontsize=8)
    fig.suptitle(f"why: {task}, T={length}. Top: how far back the gradient reaches; bottom: how much of the "
                 "first state still reaches step t", fontsize=10)
    return _save(fig, path)


def plot_flow_heatmaps(rows: list[dict], path: Path) -> Path:
    """``log10 ||dLoss/dh_t||`` over training updates (rows) x time steps (columns), one panel per cell,
    for the adding problem (else the first task) at its middle length."""
    task = _main_task(rows)
    length = _middle(rows, task)
    chosen = [r for r in rows if r["task"] == task and r["length"] == length and r["flow"]]
    columns = min(4, len(chosen)) or 1
    lines = math.ceil(len(chosen) / columns) or 1
    fig, axes = _subplots(lines, columns, figsize=(4 * columns, 2.8 * lines), squeeze=False)
    for ax in axes.flat[len(chosen):]:
        ax.axis("off")
    for ax, r in zip(axes.flat, chosen):
        image = [[math.log10(max(v, 1e-30)) for v in norms] for norms in r["flow"]]
        shown = ax.imshow(image, aspect="auto", origin="lower", cmap="viridis",
                          extent=(0, length, r["flow_steps"][0], r["flow_steps"][-1] or 1))
        ax.set_title(f"{r['cell']}", fontsize=9)
        ax.set_xlabel("time step t", fontsize=8)
        ax.set_ylabel("update", fontsize=8)
        fig.colorbar(shown, ax=ax, label="log10 ||dL/dh_t||")
    fig.suptitle(f"gradient flow during training: {task}, T={length}")
    return _save(fig, path)


def plot_gate_saturation(rows: list[dict], path: Path) -> Path:
    """Share of each cell's memory gate above 0.95 at each step after training (forget ``f`` for LSTMs, ``z``
    (update) for GRUs, the normalised ``f`` for minLSTM), per task at its middle length."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = _subplots(1, len(tasks), figsize=(6 * len(tasks), 3.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        length = _middle(rows, task)
        for r in rows:
            if r["task"] == task and r["length"] == length and r["gates"]:
                gate = "f" if "f" in r["gates"] else "z"
                ax.plot(r["gates"][gate], label=f"{r['cell']} ({gate})")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("time step t")
        ax.set_ylabel("share of gate values > 0.95")
        ax.set_title(f"{task}, T={length}: gate saturation after training")
        if ax.get_legend_handles_labels()[0]:  # cells without gates draw nothing here
            ax.legend(fontsize=7)
    return _save(fig, path)


def plot_learning_curves(rows: list[dict], path: Path) -> Path:
    """Running train metric over updates, one panel per task x length, one line per cell, with the baseline."""
    panels = sorted({(r["task"], r["length"]) for r in rows})
    columns = min(5, len(panels))
    lines = math.ceil(len(panels) / columns)
    fig, axes = _subplots(lines, columns, figsize=(3.6 * columns, 2.8 * lines), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (task, length) in zip(axes.flat, panels):
        base = None
        for r in rows:
            if (r["task"], r["length"]) == (task, length):
                every = r["updates"] / max(1, len(r["curve"]))
                ax.plot([every * (k + 1) for k in range(len(r["curve"]))], r["curve"], label=r["cell"])
                base = r["baseline"]
        if base is not None:
            ax.axhline(base, color="black", linestyle="--", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_title(f"{task} T={length}", fontsize=9)
        ax.set_xlabel("update", fontsize=8)
    axes.flat[0].legend(fontsize=6)
    fig.suptitle("learning curves (train metric; dashed: memoryless baseline)")
    return _save(fig, path)


def plot_grad_norms(rows: list[dict], path: Path) -> Path:
    """The global gradient norm of every update before clipping, per cell, for the longest adding run."""
    task = _main_task(rows)
    length = max(r["length"] for r in rows if r["task"] == task)
    fig, ax = _subplots(figsize=(8, 3.5))
    for r in rows:
        if r["task"] == task and r["length"] == length and r["grad_norms"]:
            ax.plot(r["grad_norms"], label=r["cell"], linewidth=0.7)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8, label="clip threshold")
    ax.set_yscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel("global gradient norm (before clipping)")
    ax.set_title(f"exploding gradients: {task}, T={length}")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_memory_table(rows: list[dict], path: Path) -> Path:
    """The grid's table as a figure: solved runs in green, half solved in yellow, at the baseline in red."""
    body = [memory_row(r) for r in sorted_rows(rows)]
    tones = {"solved": "#d9f2d9", "half": "#fbf3c9", "baseline": "#f7dada"}
    colours = [[tones.get(memory_state_of(r), "#eeeeee")] * len(MEMORY_COLUMNS) for r in sorted_rows(rows)]
    fig, ax = _subplots(figsize=(11, 0.6 + 0.22 * len(body)))
    ax.axis("off")
    table = ax.table(cellText=body, cellColours=colours, loc="center", colLabels=list(MEMORY_COLUMNS))
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    return _save(fig, path)


def plot_attention(word: str, phonemes: list[str], weights, path: Path) -> Path:
    """A heat map of attention ``weights (len(phonemes) + 1, len(word))``: one row per output phoneme
    (and the end token), one column per letter of ``word``."""
    rows = [*phonemes, "</s>"]
    fig, ax = _subplots(figsize=(1.0 + 0.45 * len(word), 1.0 + 0.4 * len(rows)))
    ax.imshow(weights[:len(rows), :len(word)].numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(word)), list(word))
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("letter")
    ax.set_ylabel("phoneme")
    ax.set_title(f"attention: {word}", fontsize=10)
    return _save(fig, Path(path))


def plot_run_diagnostics(summary: dict, out_dir: Path) -> list[Path]:
    layers = summary["layers"]
    fig, ax = _subplots(figsize=(7, 3.8))
    for layer in layers:
        ax.plot([max(v, 1e-30) for v in layer["flow_ratio"]], label=layer["name"])
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel("||dLoss/dh_t|| / last step's")
    ax.set_title("gradient flow through time (one validation batch)")
    ax.legend(fontsize=7)
    paths = [_save(fig, out_dir / "gradient_flow.png")]

    fig, (step_ax, product_ax) = _subplots(1, 2, figsize=(11, 3.6))
    for layer in layers:
        step_ax.plot(layer["jacobian_step"], label=layer["name"])
        product_ax.plot([max(v, 1e-30) for v in layer["jacobian_product"]], label=layer["name"])
    step_ax.set_title("||d state_t / d state_t-1|| (spectral)")
    product_ax.set_title("||d state_t / d state_0|| (running product)")
    product_ax.set_yscale("log")
    for ax in (step_ax, product_ax):
        ax.set_xlabel("time step t")
        ax.legend(fontsize=6)
    paths.append(_save(fig, out_dir / "jacobian.png"))

    gated = [layer for layer in layers if layer["gates"]]
    if gated:
        fig, axes = _subplots(1, len(gated), figsize=(4.5 * len(gated), 3.4), squeeze=False)
        for ax, layer in zip(axes[0], gated):
            for name, gate in layer["gates"].items():
                ax.plot(gate["above_0.95"], label=f"{name} > 0.95")
                ax.plot(gate["below_0.05"], linestyle="--", label=f"{name} < 0.05")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(layer["name"], fontsize=9)
            ax.set_xlabel("time step t")
            ax.legend(fontsize=6)
        fig.suptitle("gate saturation: share of values near 1 (solid) and near 0 (dashed)")
        paths.append(_save(fig, out_dir / "gates.png"))

    if summary["grad_norms"]:
        fig, ax = _subplots(figsize=(8, 3.4))
        ax.plot(summary["grad_norms"], linewidth=0.6)
        if summary["clip"] > 0:
            ax.axhline(summary["clip"], color="black", linestyle="--", linewidth=0.8, label="clip threshold")
            ax.legend(fontsize=7)
        ax.set_yscale("log")
        ax.set_xlabel("update")
        ax.set_ylabel("global gradient norm (before clipping)")
        paths.append(_save(fig, out_dir / "grad_norms.png"))
    return paths


def plot_learning_curve(metrics: Path, path: Path) -> Path:
    """Train loss and the validation metric per epoch, from a run's ``metrics.jsonl``."""
    records = [json.loads(line) for line in Path(metrics).read_text().splitlines() if line]
    epochs = [r["epoch"] for r in records]
    fig, loss_axis = _subplots(figsize=(6, 3.5))
    loss_axis.plot(epochs, [r["train_loss"] for r in records], color="tab:blue", label="train loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("train loss", color="tab:blue")
    metric = next((k for k in (records[0] if records else {}) if k.startswith("validation_")), "validation_accuracy")
    metric_axis = loss_axis.twinx()
    metric_axis.plot(epochs, [r.get(metric) for r in records], color="tab:orange")
    metric_axis.set_ylabel(metric.replace("_", " "), color="tab:orange")
    return _save(fig, Path(path), dpi=100)


def plot_order(rows: list[dict], path: Path) -> Path:
    """A bar chart of test accuracy per data variant and model: recurrent in blue, order-blind in grey."""
    fig, ax = _subplots(figsize=(9, 3.8))
    labels = [f"{r['data']}\n{r['model']}" for r in rows]
    ax.bar(range(len(rows)), [r["test_accuracy"] for r in rows],
           color=["tab:blue" if r["model"] == "recurrent" else "tab:gray" for r in rows])
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("Order is the point: recurrent (blue) vs feed-forward baselines (grey)")
    return _save(fig, Path(path), dpi=100)


def plot_forecasts(panels: list[dict], path: Path, title: str = "") -> Path:
    """Forecasts from a few origins, one panel each: the history before the origin (grey), the truth (black),
    the median forecast (blue) and its central intervals (shaded).  Each panel is a dict of plain lists:
    ``label``, ``history``, ``truth``, ``median`` and ``bands`` (``{80: (lower, upper), 95: (lower, upper)}``)."""
    fig, axes = _subplots(len(panels), 1, figsize=(8, 2.2 * len(panels)), squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        past = len(panel["history"])
        ahead = range(past, past + len(panel["median"]))
        ax.plot(range(past), panel["history"], color="tab:gray", linewidth=1)
        for level, (lower, upper) in sorted(panel["bands"].items(), reverse=True):
            ax.fill_between(ahead, lower, upper, color="tab:blue", alpha=0.15 if level >= 90 else 0.3,
                            linewidth=0, label=f"{level}% interval")
        if panel.get("truth") is not None:
            ax.plot(ahead, panel["truth"], color="black", linewidth=1, label="truth")
        ax.plot(ahead, panel["median"], color="tab:blue", linewidth=1.2, label="median forecast")
        ax.axvline(past - 0.5, color="tab:gray", linestyle=":", linewidth=1)
        ax.set_title(panel["label"], fontsize=9)
    axes[-1, 0].set_xlabel("step (the forecast begins after the dotted line)")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, Path(path), dpi=100)

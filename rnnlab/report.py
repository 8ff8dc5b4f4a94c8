"""Plots (PNG, matplotlib) and a self-contained HTML report of memory grids, diagnostics and training runs.

* :func:`write_memory_plots`: from the rows of a memory grid (:func:`rnnlab.memory.run_grid`):
  ``gradient_flow.png`` (``||dLoss/dh_t||`` against ``t`` after training, log scale, one line per
  cell), ``flow_heatmap.png`` (the same over training updates x time steps, one panel per cell),
  ``gate_saturation.png`` (share of gate values above 0.95 at each step), ``learning_curves.png``
  (per task, one line per cell and length), ``grad_norms.png`` (global gradient norm per update)
  and ``memory_table.png`` (the table as a figure).
* :func:`plot_attention`: which source letters each output phoneme of a G2P model looked at.
* :func:`write_report`: ``report.html`` for one or more directories (memory grids, ``rnnlab train``
  runs, ``rnnlab diagnose`` output), every plot embedded as base64, so the page needs no network
  and no other file.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

from rnnlab.checkpoint import CheckpointError, atomic_write  # noqa: E402

TABLE_COLUMNS = ("task", "cell", "length", "metric", "baseline", "solved", "solved_at", "seconds")


# --------------------------------------------------------------------------- tables
def memory_table(rows: list[dict]) -> str:
    """The grid as text: task, cell, length, final metric, baseline, solved or not, updates to solve, time."""
    lines = [f"{'task':16s} {'cell':9s} {'T':>5s} {'metric':>8s} {'baseline':>9s} {'solved':>7s} {'at update':>9s} "
             f"{'time':>7s}"]
    for r in _sorted(rows):
        solved = "-" if r["solved"] is None else ("yes" if r["solved"] else "no")
        at = "-" if r.get("solved_at") is None else str(r["solved_at"])
        metric = "accuracy" if r["task"] == "mnist1d-shuffled" else ""
        lines.append(f"{r['task']:16s} {r['cell']:9s} {r['length']:5d} {_number(r['metric']):>8s} {r['baseline']:9.4f} "
                     f"{solved:>7s} {at:>9s} {r['seconds']:6.0f}s {metric}".rstrip())
    return "\n".join(lines)


def _number(value: float | None) -> str:
    """A metric to 4 decimals; a diverged run's (NaN, or None read back from JSON) as "diverged"."""
    return "diverged" if value is None or math.isnan(value) else f"{value:.4f}"


def _sorted(rows: list[dict]) -> list[dict]:
    order = {"adding": 0, "copy": 1, "mnist1d-shuffled": 2}
    return sorted(rows, key=lambda r: (order.get(r["task"], 3), r["length"], r["cell"]))


# ---------------------------------------------------------------------------- plots
def _cells(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["cell"] for r in rows))


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
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
                  plot_grad_norms(synthetic, out_dir / "grad_norms.png")]
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
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 3.8), squeeze=False)
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


def plot_flow_heatmaps(rows: list[dict], path: Path) -> Path:
    """``log10 ||dLoss/dh_t||`` over training updates (rows) x time steps (columns), one panel per cell,
    for the adding problem (else the first task) at its middle length."""
    task = _main_task(rows)
    length = _middle(rows, task)
    chosen = [r for r in rows if r["task"] == task and r["length"] == length and r["flow"]]
    columns = min(4, len(chosen)) or 1
    lines = math.ceil(len(chosen) / columns) or 1
    fig, axes = plt.subplots(lines, columns, figsize=(4 * columns, 2.8 * lines), squeeze=False)
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
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 3.5), squeeze=False)
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
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_learning_curves(rows: list[dict], path: Path) -> Path:
    """Running train metric over updates, one panel per task x length, one line per cell, with the baseline."""
    panels = sorted({(r["task"], r["length"]) for r in rows})
    columns = min(5, len(panels))
    lines = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(3.6 * columns, 2.8 * lines), squeeze=False)
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
    fig, ax = plt.subplots(figsize=(8, 3.5))
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
    """The grid's table as a figure: solved cells in green."""
    body = []
    colours = []
    for r in _sorted(rows):
        solved = "-" if r["solved"] is None else ("yes" if r["solved"] else "no")
        body.append([r["task"], r["cell"], str(r["length"]), _number(r["metric"]), f"{r['baseline']:.4f}", solved,
                     "-" if r.get("solved_at") is None else str(r["solved_at"]), f"{r['seconds']:.0f}"])
        tone = "#d9f2d9" if r["solved"] else ("#f7dada" if r["solved"] is False else "#eeeeee")
        colours.append([tone] * len(body[-1]))
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.22 * len(body)))
    ax.axis("off")
    table = ax.table(cellText=body, cellColours=colours, loc="center",
                     colLabels=["task", "cell", "T", "metric", "baseline", "solved", "at update", "seconds"])
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    return _save(fig, path)


# --------------------------------------------------------------------------- report
def plot_attention(word: str, phonemes: list[str], weights, path: Path) -> Path:
    """A heat map of attention ``weights (len(phonemes) + 1, len(word))``: one row per output phoneme
    (and the end token), one column per letter of ``word``."""
    rows = [*phonemes, "</s>"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * len(word), 1.0 + 0.4 * len(rows)))
    ax.imshow(weights[:len(rows), :len(word)].numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(word)), list(word))
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("letter")
    ax.set_ylabel("phoneme")
    ax.set_title(f"attention: {word}", fontsize=10)
    return _save(fig, Path(path))


def write_report(directories: list[Path], path: Path) -> Path:
    """A self-contained HTML page for ``directories`` (memory grids, train runs, diagnostics), written atomically."""
    sections = []
    for directory in map(Path, directories):
        if not directory.is_dir():
            raise CheckpointError(f"{directory}: no such directory")
        sections.append(_section(directory))
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>rnnlab report</title>\n"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
            "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #bbb;padding:2px 8px}"
            "img{max-width:100%;display:block;margin:1em 0}figcaption{font-size:13px;color:#555}</style>\n"
            "</head>\n<body>\n<h1>rnnlab report</h1>\n" + "\n".join(sections) + "\n</body>\n</html>\n")
    atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return path


def _section(directory: Path) -> str:
    parts = [f"<h2>{html.escape(str(directory))}</h2>"]
    memory = directory / "memory.json"
    if memory.exists():
        data = json.loads(memory.read_text())
        parts.append(f"<p>Memory grid: {len(data['rows'])} runs in {data['seconds'] / 60:.1f} minutes. "
                     f"Solved: test metric below {data['solved_fraction']} of the memoryless baseline.</p>")
        parts.append(_html_table(data["rows"]))
    config = directory / "config.json"
    if config.exists():
        parts.append("<h3>Configuration</h3><pre>" + html.escape(config.read_text()) + "</pre>")
    test = directory / "test_metrics.json"
    if test.exists():
        metrics = json.loads(test.read_text())
        shown = {k: metrics[k] for k in ("accuracy", "wer", "per", "perplexity") if k in metrics}
        parts.append("<p>Test: " + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()) + "</p>")
    diagnostics = directory / "diagnostics" / "diagnostics.json"
    if diagnostics.exists():
        parts.append("<h3>Diagnostics</h3><pre>" + html.escape(diagnostics.read_text()[:4000]) + "</pre>")
    for image in sorted(directory.glob("*.png")) + sorted((directory / "diagnostics").glob("*.png")):
        encoded = base64.b64encode(image.read_bytes()).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(image.name)}">'
                     f"<figcaption>{html.escape(image.name)}</figcaption></figure>")
    return "\n".join(parts)


def _html_table(rows: list[dict]) -> str:
    head = "".join(f"<th>{c}</th>" for c in ("task", "cell", "T", "metric", "baseline", "solved", "at update",
                                               "seconds"))
    body = []
    for r in _sorted(rows):
        solved = "-" if r["solved"] is None else ("yes" if r["solved"] else "no")
        at = "-" if r.get("solved_at") is None else r["solved_at"]
        body.append(f"<tr><td>{r['task']}</td><td>{r['cell']}</td><td>{r['length']}</td><td>{_number(r['metric'])}</td>"
                    f"<td>{r['baseline']:.4f}</td><td>{solved}</td><td>{at}</td><td>{r['seconds']:.0f}</td></tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


# ------------------------------------------------------------------ diagnosing a run
def diagnose_run(run_dir: Path, batch_size: int = 32, jacobian_sequences: int = 4) -> dict:
    """Diagnostics of a trained ``rnnlab train`` run on one validation batch: gradient flow per layer and
    direction, Jacobian norms along the real trajectories (first ``jacobian_sequences`` sequences), gate
    statistics, and the recorded gradient norms of training.  Writes ``diagnostics/diagnostics.json`` and
    its plots into ``run_dir``; returns the summary."""
    import torch

    from rnnlab.checkpoint import read_json
    from rnnlab.diagnostics import gate_statistics, gradient_flow, jacobian_norms, recording
    from rnnlab.tasks import make_task
    from rnnlab.train import load_run

    run_dir = Path(run_dir)
    config, _, model = load_run(run_dir)
    task = make_task(config, state=read_json(run_dir / "task.json"))
    device = config.torch_device()
    batch = next(iter(task.batches(task.splits.validation, batch_size, None, device)))
    model.eval()
    flows = gradient_flow(model, lambda: task.loss(model, batch)[0])
    with torch.no_grad(), recording(model) as records:
        task.logits(model, batch)
    out_dir = run_dir / "diagnostics"
    out_dir.mkdir(exist_ok=True)
    summary: dict = {"run_dir": str(run_dir), "layers": []}
    for flow, record in zip(flows, records):
        k = min(jacobian_sequences, record.inputs.shape[1])
        lengths = None if record.lengths is None else record.lengths[:k]
        jac = jacobian_norms(record.cell, record.inputs[:, :k], lengths=lengths)
        gates = gate_statistics(record.trace, record.lengths)
        summary["layers"].append({
            "name": flow.name,
            "flow_ratio": [float(v) for v in flow.ratio],
            "jacobian_step": [float(v) for v in torch.nanmean(jac.step, dim=1)],
            "jacobian_product": [float(v) for v in torch.nanmean(jac.product, dim=1)],
            "gates": {name: {"mean": [float(v) for v in g.mean], "above_0.95": [float(v) for v in g.saturated_high],
                             "below_0.05": [float(v) for v in g.saturated_low]} for name, g in gates.items()},
        })
    norms_file = run_dir / "grad_norms.jsonl"
    norms = [n for line in norms_file.read_text().splitlines() if line for n in json.loads(line)["grad_norms"]] \
        if norms_file.exists() else []
    summary["grad_norms"] = norms
    summary["clip"] = config.clip
    (out_dir / "diagnostics.json").write_text(json.dumps(summary) + "\n")
    _plot_run_diagnostics(summary, out_dir)
    for layer in summary["layers"]:
        ratio = layer["flow_ratio"]
        reach = _reach(ratio, reverse=layer["name"].endswith("_reverse"))
        print(f"{layer['name']:28s} gradient ratio at the far end {_far_end(ratio, layer['name']):.2e}; "
              f"reaches {reach} of {len(ratio)} steps above 1e-3 of the last step's; "
              f"mean ||J_t|| {_nanmean(layer['jacobian_step']):.3f}")
    if norms:
        clipped = sum(n > config.clip for n in norms) / len(norms) if config.clip > 0 else 0.0
        print(f"gradient norm over {len(norms)} updates: median {sorted(norms)[len(norms) // 2]:.3f}, "
              f"max {max(norms):.3f}, clipped at {config.clip}: {clipped:.1%} of updates")
    print(f"written: {out_dir}")
    return summary


def _far_end(ratio: list[float], name: str) -> float:
    return ratio[-1] if name.endswith("_reverse") else ratio[0]


def _reach(ratio: list[float], reverse: bool) -> int:
    """How many steps back from the direction's last step the ratio stays above 1e-3."""
    ordered = ratio if reverse else ratio[::-1]
    count = 0
    for value in ordered:
        if not value > 1e-3:
            break
        count += 1
    return count


def _nanmean(values: list[float]) -> float:
    real = [v for v in values if not math.isnan(v)]
    return sum(real) / len(real) if real else math.nan


def _plot_run_diagnostics(summary: dict, out_dir: Path) -> list[Path]:
    layers = summary["layers"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for layer in layers:
        ax.plot([max(v, 1e-30) for v in layer["flow_ratio"]], label=layer["name"])
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel("||dLoss/dh_t|| / last step's")
    ax.set_title("gradient flow through time (one validation batch)")
    ax.legend(fontsize=7)
    paths = [_save(fig, out_dir / "gradient_flow.png")]

    fig, (step_ax, product_ax) = plt.subplots(1, 2, figsize=(11, 3.6))
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
        fig, axes = plt.subplots(1, len(gated), figsize=(4.5 * len(gated), 3.4), squeeze=False)
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
        fig, ax = plt.subplots(figsize=(8, 3.4))
        ax.plot(summary["grad_norms"], linewidth=0.6)
        if summary["clip"] > 0:
            ax.axhline(summary["clip"], color="black", linestyle="--", linewidth=0.8, label="clip threshold")
            ax.legend(fontsize=7)
        ax.set_yscale("log")
        ax.set_xlabel("update")
        ax.set_ylabel("global gradient norm (before clipping)")
        paths.append(_save(fig, out_dir / "grad_norms.png"))
    return paths

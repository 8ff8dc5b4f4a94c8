"""Diagnosing a trained run: how far back its gradient reaches, its Jacobians, gates and gradient norms.

:func:`diagnose_run` (``rnnlab diagnose RUN_DIR``) runs one validation batch through the run's best
model with :mod:`rnnlab.nn.diagnostics` and writes ``diagnostics/diagnostics.json`` and its plots.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from rnnlab.errors import ConfigError
from rnnlab.files import read_json
from rnnlab.nn.diagnostics import gate_statistics, gradient_flow, jacobian_norms, recording
from rnnlab.report.figures import plot_run_diagnostics
from rnnlab.tasks import make_task
from rnnlab.training.runs import check_data, load_run


def diagnose_run(run_dir: Path, batch_size: int = 32, jacobian_sequences: int = 4, device: str = "auto") -> dict:
    """Diagnostics of a trained ``rnnlab train`` run on one validation batch: gradient flow per layer and
    direction, Jacobian norms along the real trajectories (first ``jacobian_sequences`` sequences), gate
    statistics, and the recorded gradient norms of training, on ``device`` (cpu, cuda, or auto).  Every
    recurrent layer is diagnosed (a G2P model's encoder; its decoder steps one token at a time and is
    not).  Writes ``diagnostics/diagnostics.json`` and its plots into ``run_dir``; returns the summary."""
    if batch_size < 1 or jacobian_sequences < 1:
        raise ConfigError(f"--batch-size and --jacobian-sequences must be at least 1, got {batch_size} and "
                          f"{jacobian_sequences}")
    run_dir = Path(run_dir)
    config, _, model = load_run(run_dir, device=device)
    check_data(run_dir, config)  # its validation batch comes from the run's data
    task = make_task(config, state=read_json(run_dir / "task.json"))
    device = config.torch_device()
    batch = next(iter(task.batches(task.splits.validation, batch_size, None, device)))
    model.eval()
    flows = gradient_flow(model, lambda: task.loss(model, batch)[0])
    with torch.no_grad(), recording(model) as records:
        task.loss(model, batch)  # the forward pass of training, for every task family
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
    plot_run_diagnostics(summary, out_dir)
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

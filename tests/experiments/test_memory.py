"""The memory tasks, one training run on them, and the grid with its table, plots and report."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnlab.data.synthetic import COPY_DELIMITER, adding_problem, copy_baseline, copy_memory
from rnnlab.errors import CheckpointError
from rnnlab.experiments.memory import run_grid, train_memory
from tests.helpers import HtmlImages


def test_memory_task_generators_shapes_and_baselines():
    x, y = adding_problem(5, 30, torch.Generator().manual_seed(0))
    assert x.shape == (5, 30, 2) and y.shape == (5,) and x[..., 1].sum(1).eq(2).all()
    x, y = copy_memory(4, 50, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 70)
    assert torch.equal(y[:, -10:], x[:, :10]) and y[:, :-10].eq(0).all()
    assert x[:, 59].eq(COPY_DELIMITER).all() and x[:, 10:59].eq(0).all() and x[:, 60:].eq(0).all()
    assert copy_baseline(100) == pytest.approx(10 * math.log(8) / 120)
    with pytest.raises(ValueError, match="delay"):
        copy_memory(1, 0)


@pytest.mark.parametrize("task", ["adding", "copy"])
def test_train_memory_records_curves_norms_flows_and_gates(task):
    result = train_memory(task, "lstm", 20, updates=6, log_every=2, flow_points=3, test_size=50)
    assert len(result.curve) == 3 and len(result.grad_norms) == 6 and result.flow_steps == [0, 3, 6]
    assert all(len(f) == (20 if task == "adding" else 40) for f in result.flow)
    assert set(result.gates) == {"i", "f", "g", "o"} and math.isfinite(result.metric)


def test_memory_grid_writes_table_plots_and_a_self_contained_report(tmp_path, capsys):
    out = tmp_path / "grid"
    rows = run_grid(out, cells=("rnn", "mingru"), quick=True, updates=4, workers=1, mnist=False)
    assert len(rows) == 8 and {r["cell"] for r in rows} == {"rnn", "mingru"}
    printed = capsys.readouterr().out
    assert "solved" in printed and "copy" in printed
    data = json.loads((out / "memory.json").read_text())
    assert len(data["rows"]) == 8
    page = (out / "report.html").read_text()
    parser = HtmlImages()
    parser.feed(page)
    assert parser.tags[0] == "html" and "table" in parser.tags
    named = [image["alt"] for image in parser.images]
    assert set(named) >= {"gradient_flow.png", "flow_heatmap.png", "gate_saturation.png", "learning_curves.png",
                          "grad_norms.png", "memory_table.png"}
    for image in parser.images:  # every plot the page names exists, and is embedded
        assert (out / image["alt"]).read_bytes()[:4] == b"\x89PNG"
        assert image["src"].startswith("data:image/png;base64,")
    with pytest.raises(CheckpointError, match="already holds files"):
        run_grid(out, cells=("rnn",), quick=True, updates=1, workers=1, mnist=False)

"""The memory tasks, one training run on them, and the grid with its table, plots and report."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnlab.data.synthetic import COPY_DELIMITER, adding_problem, copy_baseline, copy_memory
from rnnlab.errors import CheckpointError, ConfigError
from rnnlab.experiments.memory import (
    GRID_CELLS,
    QUICK_UPDATES,
    RECIPES,
    SOLVED_WINDOWS,
    Recipe,
    build_model,
    compare_with_published,
    grid_jobs,
    make_optimizer,
    memory_state,
    run_grid,
    train_memory,
)
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
    assert len(result.jacobian) == len(result.flow[0]) and all(j > 0 for j in result.jacobian)
    assert result.state in ("baseline", "half", "solved") and result.updates == 6


def test_memory_grid_writes_table_plots_and_a_self_contained_report(tmp_path, capsys):
    out = tmp_path / "grid"
    rows = run_grid(out, cells=("rnn", "orthogonal"), quick=True, updates=4, workers=1, mnist=False)
    assert len(rows) == 4 and {r["cell"] for r in rows} == {"rnn", "orthogonal"}
    printed = capsys.readouterr().out
    assert "state" in printed and "published" in printed and "copy" in printed
    data = json.loads((out / "memory.json").read_text())
    assert len(data["rows"]) == 4 and all(r["recipe"]["source"] for r in data["rows"])
    page = (out / "report.html").read_text()
    parser = HtmlImages()
    parser.feed(page)
    assert parser.tags[0] == "html" and "table" in parser.tags
    named = [image["alt"] for image in parser.images]
    assert set(named) >= {"gradient_flow.png", "flow_heatmap.png", "gate_saturation.png", "learning_curves.png",
                          "grad_norms.png", "memory_table.png", "why_gradients.png"}
    for image in parser.images:  # every plot the page names exists, and is embedded
        assert (out / image["alt"]).read_bytes()[:4] == b"\x89PNG"
        assert image["src"].startswith("data:image/png;base64,")
    with pytest.raises(CheckpointError, match="already holds files"):
        run_grid(out, cells=("rnn",), quick=True, updates=1, workers=1, mnist=False)


def test_three_states_between_the_baseline_and_solved():
    base = 1 / 6
    assert memory_state(0.01, base) == "solved"
    assert memory_state(1 / 12, base) == "half"  # one of the two values carried
    assert memory_state(0.16, base) == "baseline"
    assert memory_state(math.nan, base) == "baseline"


def _row(cell, length, state, updates, task="adding"):
    return {"task": task, "cell": cell, "length": length, "state": state, "updates": updates}


def test_a_run_is_compared_with_the_published_result_and_a_disagreement_says_why():
    agreeing = compare_with_published(_row("indrnn", 1000, "solved", 900))
    assert agreeing["agrees"] is True and agreeing["why"] is None
    assert "Li et al. 2018" in agreeing["published"]["source"]
    short = compare_with_published(_row("lstm-fb1", 400, "baseline", 2000))
    assert short["agrees"] is False and "20,000 updates" in short["why"] and "budget" in short["why"]
    better = compare_with_published(_row("lstm-fb1", 100, "solved", 900, task="copy"))
    assert better["agrees"] is False and "did better than the source" in better["why"]
    unstated = compare_with_published(_row("lstm-chrono", 1000, "baseline", 1500))
    assert unstated["agrees"] is False and "does not say how many updates" in unstated["why"]
    unknown = compare_with_published(_row("mingru", 100, "solved", 300))
    assert unknown["published"] is None and unknown["agrees"] is None


def test_every_grid_cell_has_a_recipe_with_its_source_and_the_orthogonal_generator_its_own_rate():
    for cell in GRID_CELLS:
        assert RECIPES[cell].source and RECIPES[cell].optimizer in ("adam", "rmsprop")
    model = build_model("copy", "orthogonal", 8, length=30)
    optimizer, _ = make_optimizer(model, RECIPES["orthogonal"], 10)
    rates = sorted(group["lr"] for group in optimizer.param_groups)
    assert isinstance(optimizer, torch.optim.RMSprop) and rates == [1e-4, 1e-3]
    assert [p.shape for p in optimizer.param_groups[1]["params"]] == [(8, 8)]


def test_the_lstm_with_forget_bias_one_takes_longer_on_short_adding_runs_only(tmp_path):
    recipe = RECIPES["lstm-fb1"]
    assert [recipe.updates_for("adding", n) for n in (100, 200, 400, 1000)] == [6000, 6000, 1500, 1500]
    assert recipe.updates_for("copy", 100) == 1500 == RECIPES["lstm"].updates_for("adding", 100)
    jobs = grid_jobs(("lstm-fb1",), quick=False, updates=None, seed=0, out_dir=tmp_path)
    assert all(job["updates"] is None for job in jobs)  # each run takes its recipe's cap for its task and length
    assert all(job["updates"] == QUICK_UPDATES for job in grid_jobs(("lstm-fb1",), True, None, 0, tmp_path))


def test_the_timescale_of_a_cell_is_the_tasks_length():
    adding = build_model("adding", "indrnn", 8, num_layers=2, length=400)
    assert adding.layer.cells()[0].max_abs == pytest.approx(2 ** (1 / 400))
    last = adding.layer.weight_hh_l1.detach()  # the last layer starts with memory over the whole sequence
    assert last.min() >= 2 ** (-1 / 400) and last.max() <= 2 ** (1 / 400)
    copy = build_model("copy", "janet", 8, length=100)
    assert copy.layer.cells()[0].t_max == 120  # the copy task's sequences: T + 20 steps


def test_a_run_stops_once_solved_for_a_few_logs_in_a_row():
    recipe = Recipe("adam", 1e-2, updates=3000)
    result = train_memory("adding", "gru", 4, recipe=recipe, log_every=10, test_size=200)
    assert result.solved and result.solved_at is not None
    assert result.updates == result.solved_at + (SOLVED_WINDOWS - 1) * 10 < 3000
    assert result.flow_steps[-1] == result.updates  # the last flow is after training


def test_a_length_a_cell_cannot_serve_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="adding: T must be at least"):
        train_memory("adding", "gru", 1)
    with pytest.raises(ConfigError, match="lstm-chrono"):
        train_memory("adding", "lstm-chrono", 2)
    with pytest.raises(ConfigError, match="task must be one of"):
        train_memory("sorting", "gru", 10)


def test_the_table_reads_rows_of_older_grids_shuffled_mnist_and_no_rows(tmp_path):
    from rnnlab.report.html import write_report
    from rnnlab.report.tables import memory_table

    assert memory_table([]).split() == list(" ".join(
        ["task", "cell", "T", "state", "at update", "metric", "baseline", "published", "agrees", "updates",
         "seconds"]).split())
    old = {"task": "adding", "cell": "gru", "length": 100, "metric": 0.001, "baseline": 1 / 6, "solved": True,
           "solved_at": 300, "seconds": 9.0, "updates": 1500}
    mnist = {"task": "mnist1d-shuffled", "cell": "gru", "length": 40, "metric": 0.53, "baseline": 0.1,
             "solved": None, "state": None, "solved_at": None, "seconds": 60.0, "updates": None}
    odd = {**old, "solved": False, "state": "baseline", "metric": 3.8e19, "why": "<b>no source</b>",
           "published": None}
    table = memory_table([old, mnist, odd])
    assert "solved" in table.splitlines()[1] and "0.5300 acc." in table and "3.80e+19" in table
    assert "* adding gru T=100: <b>no source</b> (source: -)" in table
    (tmp_path / "memory.json").write_text(json.dumps({"rows": [old, mnist, odd], "seconds": 70.0,
                                                      "solved_fraction": 0.1}))
    page = write_report([tmp_path], tmp_path / "report.html").read_text()
    assert "&lt;b&gt;no source&lt;/b&gt;" in page and "half solved" not in page

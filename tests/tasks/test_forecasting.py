"""Forecasting: the metrics against hand-computed values, the distribution head against the densities'
formulas, the baselines, the task's windows and scaling without leakage, and a user's CSV end to end
(train, evaluate with its plot, predict the next horizon, resume) with its refusals."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab import cli
from rnnlab.data import DataError
from rnnlab.errors import ConfigError
from rnnlab.models import Forecaster
from rnnlab.models.forecast_baselines import mstl_forecast, seasonal_naive
from rnnlab.tasks import TrainConfig, make_task
from rnnlab.tasks import forecast_metrics as metrics
from rnnlab.tasks.registry import load_splits


def test_point_metrics_equal_hand_computed_values():
    truth = torch.tensor([[100.0, 200.0], [50.0, 80.0]], dtype=torch.float64)
    forecast = torch.tensor([[110.0, 190.0], [40.0, 80.0]], dtype=torch.float64)
    assert metrics.mape(truth, forecast) == pytest.approx((10 / 100 + 10 / 200 + 10 / 50 + 0) / 4 * 100)
    assert metrics.smape(truth, forecast) == pytest.approx((20 / 210 + 20 / 390 + 20 / 90 + 0) / 4 * 100)
    assert metrics.mase(truth, forecast, scale=5.0) == pytest.approx(30 / 4 / 5)
    assert metrics.naive_scale(torch.tensor([1.0, 2.0, 4.0, 7.0]), season=2) == pytest.approx((3 + 5) / 2)
    assert math.isnan(metrics.mape(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 1.0]])))  # a percentage of 0
    lower, upper = truth - 5, truth + torch.tensor([[10.0, -1.0], [0.0, 3.0]])
    assert metrics.coverage(truth, lower, upper) == 0.75


def test_crps_and_quantiles_match_the_distributions_formulas():
    y, mu, sigma = torch.tensor([[0.3, -2.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 2.0]])
    z = ((y - mu) / sigma).double()
    phi, Phi = torch.exp(-z ** 2 / 2) / math.sqrt(2 * math.pi), 0.5 * (1 + torch.erf(z / math.sqrt(2)))
    closed_form = sigma * (z * (2 * Phi - 1) + 2 * phi - 1 / math.sqrt(math.pi))  # Gneiting & Raftery 2007
    assert metrics.crps(y, "normal", mu, sigma) == pytest.approx(float(closed_form.mean()), rel=1e-9)
    # a Student-t with many degrees of freedom is all but normal
    t_crps = metrics.crps(y, "student-t", mu, sigma, torch.full_like(mu, 1e6))
    assert t_crps == pytest.approx(float(closed_form.mean()), rel=1e-4)
    normal = torch.distributions.Normal(mu.double(), sigma.double())
    assert torch.allclose(metrics.quantile("normal", 0.9, mu, sigma), normal.icdf(torch.tensor(0.9).double()))
    # the Student-t quantile: the density integrated up to it is p
    df = torch.tensor([[3.0]])
    q = metrics.quantile("student-t", 0.9, torch.zeros(1, 1), torch.ones(1, 1), df)
    grid = torch.linspace(-2000.0, float(q), 2_000_001, dtype=torch.float64)
    density = torch.distributions.StudentT(3.0).log_prob(grid).exp()
    assert float(torch.trapezoid(density, grid)) == pytest.approx(0.9, abs=1e-5)


def test_the_heads_likelihood_is_the_student_t_density():
    torch.manual_seed(0)
    model = Forecaster(5, 4, hidden_size=8).double()
    history, future, y = torch.randn(3, 7, 5).double(), torch.randn(3, 6, 4).double(), torch.randn(3, 6).double()
    loc, scale, df = model(history, future)
    assert loc.shape == scale.shape == df.shape == (3, 6) and bool((scale > 0).all()) and bool((df > 2).all())
    u = (y - loc) / scale
    log_density = (torch.lgamma((df + 1) / 2) - torch.lgamma(df / 2) - 0.5 * torch.log(df * math.pi)
                   - torch.log(scale) - (df + 1) / 2 * torch.log1p(u ** 2 / df))
    assert torch.allclose(model.negative_log_likelihood(history, future, y), -log_density.mean(), atol=1e-12)
    normal = Forecaster(5, 4, hidden_size=8, distribution="normal").double()
    loc, scale, df = normal(history, future)
    gaussian = -0.5 * ((y - loc) / scale) ** 2 - torch.log(scale) - 0.5 * math.log(2 * math.pi)
    assert df is None and torch.allclose(normal.negative_log_likelihood(history, future, y), -gaussian.mean())


def test_seasonal_naive_repeats_the_last_season_before_the_origin():
    target = torch.arange(100, dtype=torch.float64)
    forecast = seasonal_naive(target, torch.tensor([50, 60]), horizon=7, season=3)
    assert forecast[0].tolist() == [47, 48, 49, 47, 48, 49, 47]
    assert forecast[1].tolist() == [57, 58, 59, 57, 58, 59, 57]


def test_mstl_forecasts_a_two_season_series_almost_exactly():
    t = torch.arange(600, dtype=torch.float64)
    target = 50 + 5 * torch.sin(2 * math.pi * t / 12) + 3 * torch.cos(2 * math.pi * t / 60)
    forecast = mstl_forecast(target, torch.tensor([480, 540]), horizon=24, seasons=(12, 60))
    truth = target[torch.tensor([480, 540])[:, None] + torch.arange(24)]
    assert metrics.mape(truth, forecast) < 0.5
    assert metrics.mape(truth, seasonal_naive(target, torch.tensor([480, 540]), 24, 12)) > 3  # one season misses
    # the seasons in any order: the main one first is how --season names them
    assert torch.allclose(mstl_forecast(target, torch.tensor([480]), 24, (60, 12)), forecast[:1])


def synthetic_csv(path: Path, days: int = 40, future_rows: int = 0, seed: int = 0) -> Path:
    """An hourly load with a daily shape, a weekly one, a temperature it rises with, and noise."""
    rng = np.random.default_rng(seed)
    n = days * 24
    t = np.arange(n + future_rows)
    temperature = 15 + 8 * np.sin(2 * np.pi * t / 24 - 2) + rng.normal(0, 1, len(t))
    load = 100 + 20 * np.sin(2 * np.pi * t / 24) + 10 * (t % 168 < 120) + 2 * temperature + rng.normal(0, 1, len(t))
    lines = ["time,load,temperature"]
    for k in range(len(t)):
        day, hour = divmod(int(t[k]), 24)
        stamp = (np.datetime64("2024-01-01T00:00") + np.timedelta64(day, "D") + np.timedelta64(hour, "h"))
        lines.append(f"{stamp},{'' if k >= n else f'{load[k]:.3f}'},{temperature[k]:.2f}")
    path.write_text("\n".join(lines) + "\n")
    return path


FORECAST = ["--task", "forecast", "--target", "load", "--covariates", "temperature", "--time-column", "time",
            "--horizon", "24", "--season", "24,168", "--context", "24", "--hidden-size", "16", "--batch-size", "64"]


def twin_tasks(tmp_path, stretch: str):
    """A forecast task on a synthetic CSV, and the same task on a copy of the file whose every value from the
    start of ``stretch`` (``"validation"`` or ``"test"``) on is replaced."""
    path = synthetic_csv(tmp_path / "load.csv")
    config = TrainConfig(task="forecast", data=path, target="load", covariates="temperature", time_column="time",
                         horizon=24, season="24,168", run_dir=tmp_path / "run").resolved()
    task = make_task(config)
    start = int(getattr(task.splits, stretch).origins[0])
    text = path.read_text().splitlines()  # a header, then step k on line k + 1
    text[start + 1:] = [f"{row.split(',')[0]},1e6,-40" for row in text[start + 1:]]
    changed = tmp_path / "changed.csv"
    changed.write_text("\n".join(text) + "\n")
    return task, make_task(TrainConfig(**{**config.__dict__, "data": changed}).resolved(saved=True))


def same_batches(task, other, split: str) -> bool:
    """Whether every window of ``split`` gives the two tasks the same inputs and targets."""
    everything = list(range(len(getattr(task.splits, split))))
    ours, theirs = (t.collate(getattr(t.splits, split), everything, torch.device("cpu")) for t in (task, other))
    return all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_nothing_after_the_training_stretch_reaches_training_or_scaling(tmp_path):
    task, other = twin_tasks(tmp_path, "validation")
    assert other.state() == task.state()  # the scaling and everything learned
    assert same_batches(task, other, "train")  # every training window's inputs and targets
    assert not torch.equal(task.splits.test.series.target, other.splits.test.series.target)


def test_validation_never_reads_the_test_stretch(tmp_path):
    task, other = twin_tasks(tmp_path, "test")
    assert same_batches(task, other, "validation")
    assert not torch.equal(task.splits.test.series.target, other.splits.test.series.target)


def test_the_best_epochs_calibration_is_the_one_tested_and_saved(tmp_path, monkeypatch):
    """Epoch 2 is the best (validation MASE 3, 1, 2) and each epoch's calibration differs: the test and
    task.json take epoch 2's, not the last one's."""
    from rnnlab.tasks.forecasting import ForecastTask

    scores, factors = iter([3.0, 1.0, 2.0]), iter([1.1, 1.2, 1.3])
    validate = ForecastTask.validate

    def scripted(self, *args, **kwargs):
        validate(self, *args, **kwargs)
        self.saved["scale_factor"] = next(factors)
        return {"mase": next(scores)}

    monkeypatch.setattr(ForecastTask, "validate", scripted)
    run_dir = tmp_path / "run"
    cli.main(["train", *FORECAST, "--data", str(synthetic_csv(tmp_path / "load.csv")), "--epochs", "3",
              "--run-dir", str(run_dir), "--quiet"])
    assert json.loads((run_dir / "test_metrics.json").read_text())["epoch"] == 2
    assert json.loads((run_dir / "task.json").read_text())["scale_factor"] == 1.2
    assert torch.load(run_dir / "last.pt", weights_only=True)["task"]["scale_factor"] == 1.3


def test_a_users_csv_trains_evaluates_and_predicts_the_next_horizon(tmp_path, capsys):
    path = synthetic_csv(tmp_path / "load.csv")
    run_dir = tmp_path / "run"
    cli.main(["train", *FORECAST, "--data", str(path), "--epochs", "2", "--lr", "1e-2", "--run-dir", str(run_dir)])
    test = json.loads((run_dir / "test_metrics.json").read_text())
    assert test["origins"] == 4 and test["horizon"] == 24  # the last 10% of 960 steps: 96, four days
    naive = test["baselines"]["seasonal naive (24)"]
    assert set(test["baselines"]) == {"seasonal naive (24)", "seasonal naive (168)", "MSTL"}
    assert test["mape"] < naive["mape"]  # the temperature it reads is the naive forecast's blind spot
    assert 0 <= test["coverage_80"] <= test["coverage_95"] <= 1 and test["crps"] > 0
    assert (run_dir / "test_metrics.png").stat().st_size > 10_000
    capsys.readouterr()

    cli.main(["evaluate", str(run_dir)])
    assert "MAPE" in capsys.readouterr().out
    report = json.loads((run_dir / "evaluation-test.json").read_text())
    assert report["mape"] == pytest.approx(test["mape"])
    # the best epoch's calibration of the scale comes back with its weights
    assert report["coverage_80"] == test["coverage_80"] and report["crps"] == pytest.approx(test["crps"])
    factor = torch.load(run_dir / "best.pt", weights_only=True)["task"]["scale_factor"]
    assert 0.25 <= factor <= 8 and json.loads((run_dir / "task.json").read_text())["scale_factor"] == factor
    assert (run_dir / "evaluation-test.png").exists()
    # a file of its own: its last 10%, read after the run's history (or refused, saying why)
    cli.main(["evaluate", str(run_dir), "--data", str(synthetic_csv(tmp_path / "later.csv", days=30, seed=5))])
    assert json.loads((run_dir / "evaluation-later.json").read_text())["origins"] == 3
    cli.main(["evaluate", str(run_dir), "--data", str(synthetic_csv(tmp_path / "recent10.csv", days=10, seed=6))])
    assert json.loads((run_dir / "evaluation-recent10.json").read_text())["origins"] == 1  # after 192 of history
    with pytest.raises(SystemExit):
        cli.main(["evaluate", str(run_dir), "--data", str(synthetic_csv(tmp_path / "week.csv", days=7))])
    assert "week.csv: 168 steps; a forecast of 24 steps reads the 192 before it" in capsys.readouterr().err

    recent = synthetic_csv(tmp_path / "recent.csv", days=10, future_rows=24, seed=3)
    cli.main(["predict", str(run_dir), "--data", str(recent)])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 24 and rows[0]["time"].startswith("2024-01-11T00:00")
    for row in rows:
        values = [float(row[k]) for k in ("lower_95", "lower_80", "median", "upper_80", "upper_95")]
        assert values == sorted(values)

    # without the covariates of the steps to forecast, the forecast is refused, naming what is missing
    short = synthetic_csv(tmp_path / "short.csv", days=10)
    with pytest.raises(SystemExit):
        cli.main(["predict", str(run_dir), "--data", str(short)])
    assert "add the next 24 rows with 'load' empty and the covariates given" in capsys.readouterr().err


def test_forecasting_options_are_checked(tmp_path):
    path = synthetic_csv(tmp_path / "load.csv", days=10)
    with pytest.raises(ConfigError, match="--task forecast needs --horizon"):
        TrainConfig(task="forecast", data=path, target="load", season="24").resolved()
    with pytest.raises(ConfigError, match="--horizon, --season: forecasting options; task mnist1d does not"):
        TrainConfig(task="mnist1d", horizon=3, season="4").resolved()
    with pytest.raises(ConfigError, match="a season is at least 2 steps"):
        TrainConfig(task="forecast", data=path, target="load", horizon=24, season="1,24").resolved()
    with pytest.raises(ConfigError, match="names a season twice"):
        TrainConfig(task="forecast", data=path, target="load", horizon=24, season="24,24").resolved()
    with pytest.raises(ConfigError, match="--season takes whole numbers"):
        TrainConfig(task="forecast", data=path, target="load", horizon=24, season="daily").resolved()
    with pytest.raises(ConfigError, match="holds out the last stretches of --data"):
        TrainConfig(task="forecast", data=path, test_data=path, target="load", horizon=24, season="24").resolved()
    config = TrainConfig(task="forecast", data=path, target="load", horizon=24, season="24,168",
                         run_dir=tmp_path / "run").resolved()
    with pytest.raises(DataError, match="the series has 240 steps: too few"):
        load_splits(config)


def test_a_constant_series_is_refused(tmp_path):
    path = tmp_path / "flat.csv"
    path.write_text("y\n" + "5\n" * 300)
    config = TrainConfig(task="forecast", data=path, target="y", horizon=5, season="10",
                         run_dir=tmp_path / "run").resolved()
    with pytest.raises(DataError, match="'y' is constant over the training stretch"):
        make_task(config)


def test_taylor_windows_start_at_midnight_and_hold_out_four_weeks():
    config = TrainConfig(task="taylor").resolved()
    train, validation, test = load_splits(config)
    assert len(test) == 28 and len(validation) == 14
    assert all(t.endswith("T00:00:00Z") for t in (test.series.times[o] for o in test.origins.tolist()))
    assert int(train.origins.max()) + 48 == len(train.series) == 4032 - 28 * 48 - 14 * 48



def test_a_series_of_another_time_step_than_training_is_refused(tmp_path):
    path = synthetic_csv(tmp_path / "load.csv", days=20)
    config = TrainConfig(task="forecast", data=path, target="load", covariates="temperature", time_column="time",
                         horizon=24, season="24,168", run_dir=tmp_path / "run").resolved()
    task = make_task(config)
    rows = path.read_text().splitlines()
    half_hourly = tmp_path / "half-hourly.csv"
    half_hourly.write_text("\n".join([rows[0]] + [f"2024-02-01T{k // 2:02d}:{30 * (k % 2):02d},{row.split(',', 1)[1]}"
                                                  for k, row in enumerate(rows[1:48])]) + "\n")
    series = task.read_series(config, half_hourly)
    with pytest.raises(DataError, match="the series' times are 1800 s apart; the model was trained on steps of 3600 s"):
        task.check_series(series)

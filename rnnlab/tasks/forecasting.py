"""Forecasting: the next ``H`` steps of a time series, as a predictive distribution, from its history and
the covariates known in advance (many-to-many asynchronous, with a :class:`~rnnlab.models.Forecaster`).

What the model reads (everything scaled by the *training* stretch's statistics, saved in the run):

* at each of the ``L`` history steps: the target, the target one season earlier for every season
  (so the encoder sees how the series departs from its seasonal pattern), the covariates, and
  ``sin``/``cos`` of each season's phase (:data:`HARMONICS` harmonics);
* at each of the ``H`` future steps: every seasonal naive forecast, the covariates, the phases.

A window at origin ``o`` thus reads steps ``o - L - max(seasons) .. o - 1`` of the target, never one at or
after ``o``; the training windows' series ends where validation begins (:func:`forecast_splits`).  The
metrics (:mod:`~rnnlab.tasks.forecast_metrics`) are those of the median forecast and of the distribution,
next to the seasonal naive forecasts and MSTL on the same origins (:mod:`~rnnlab.models.forecast_baselines`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from rnnlab.data import DataError, Splits
from rnnlab.data.sharding import World
from rnnlab.data.time_series import ForecastWindows, TimeSeries, forecast_splits, read_series_csv
from rnnlab.errors import ConfigError
from rnnlab.models import Forecaster, negative_log_likelihood
from rnnlab.models.forecast_baselines import mstl_forecast, naive_index, seasonal_naive
from rnnlab.report.figures import plot_forecasts
from rnnlab.tasks import forecast_metrics as metrics
from rnnlab.tasks.base import Task

if TYPE_CHECKING:
    from rnnlab.tasks.config import TrainConfig

HARMONICS = 4
"""Sine/cosine pairs per season that tell the model where in each season a step lies."""
MIN_WINDOWS_PER_EPOCH = 4096
"""A short series' training windows are each taken several times per epoch, to at least this many, so that
the same ``--epochs`` trains a model of a short series and of a long one about as long."""
INTERVALS = (0.8, 0.95)
"""The central prediction intervals whose coverage is measured, and that plots and predictions give."""


def parse_seasons(text: str) -> tuple[int, ...]:
    """``"48,336"`` -> ``(48, 336)``: the seasonal periods in steps, the main one first."""
    try:
        seasons = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise ConfigError(f"--season takes whole numbers of steps separated by commas (48 or 48,336), got "
                          f"{text!r}") from None
    if min(seasons) < 2:
        raise ConfigError(f"--season: a season is at least 2 steps (the value a season earlier), got {text!r}")
    if len(set(seasons)) < len(seasons):
        raise ConfigError(f"--season names a season twice: {text!r}")
    return seasons


def sizes(config: TrainConfig, steps: int) -> tuple[int, int]:
    """The validation and test stretches in steps: the configuration's, or by default each the last 10% of
    the series rounded down to whole forecasts (at least one)."""
    horizon = config.horizon
    default = max(horizon, (steps // 10) // horizon * horizon)
    return config.validation_steps or default, config.test_steps or default


class ForecastTask(Task):
    """Probabilistic forecasting of one series; see the module docstring."""

    kind, models, causal, predicts_labels = "forecast", ("recurrent",), True, False
    metric, lower_is_better = "mase", True  # MAPE is undefined where a value is 0

    @staticmethod
    def read_file(path: Path):
        raise ConfigError("a forecast file is read with its task's columns (--target, --covariates, --time-column)")

    @classmethod
    def read(cls, config: TrainConfig, path: Path) -> ForecastWindows:
        """A user's CSV file of the run's columns, as the windows of its last ``--test-steps`` (by default its
        last 10%), one forecast every horizon (``rnnlab evaluate --data``)."""
        series = cls.read_series(config, path)
        _, test_steps = sizes(config, len(series))
        first = config.context + max(parse_seasons(config.season))
        start, end = max(len(series) - test_steps, first), len(series) - config.horizon + 1
        if start >= end:
            raise DataError(f"{path}: {len(series)} steps; a forecast of {config.horizon} steps reads the {first} "
                            f"before it: give a file of at least {first + config.horizon} steps")
        return ForecastWindows(series, torch.arange(start, end, config.horizon), config.horizon)

    @staticmethod
    def read_series(config: TrainConfig, path: Path, future: bool = False) -> TimeSeries:
        covariates = tuple(c.strip() for c in config.covariates.split(",")) if config.covariates else ()
        if len(set(covariates)) < len(covariates):
            raise ConfigError(f"--covariates names a column twice: {config.covariates!r}")
        return read_series_csv(path, config.target, covariates, config.time_column, future=future)

    @staticmethod
    def split(config: TrainConfig, series: TimeSeries) -> Splits:
        """Training, validation and test windows of ``series`` (:func:`forecast_splits`)."""
        seasons = parse_seasons(config.season)
        validation_steps, test_steps = sizes(config, len(series))
        train, validation, test = forecast_splits(series, config.horizon, config.context + max(seasons),
                                                  validation_steps, test_steps)
        repeats = math.ceil(MIN_WINDOWS_PER_EPOCH / len(train))
        return Splits(replace(train, origins=train.origins.repeat(repeats)), validation, test)

    # -- what the task learns from the training stretch -------------------------------------------------
    def learn(self, train: ForecastWindows) -> dict:
        c, series = self.config, train.series
        seasons = parse_seasons(c.season)
        std = series.target.std()
        if not std > 0:
            raise DataError(f"the target {series.name!r} is constant over the training stretch: nothing to forecast")
        covariates = series.covariates
        cov_std = covariates.std(dim=0, correction=0) if covariates.shape[1] else covariates.new_ones(0)
        return {"target": series.name, "covariates": list(series.covariate_names), "seasons": list(seasons),
                "horizon": c.horizon, "context": c.context, "distribution": c.distribution,
                "mean": float(series.target.mean()), "std": float(std),
                "covariate_mean": series.covariates.mean(dim=0).tolist(),
                "covariate_std": torch.where(cov_std > 0, cov_std, 1.0).tolist(),
                "naive_scale": metrics.naive_scale(series.target, seasons[0]), "step_seconds": series.step_seconds}

    def load_state(self, state: dict) -> None:
        self.saved = dict(state)
        self.seasons, self.horizon, self.context = tuple(state["seasons"]), state["horizon"], state["context"]
        self.distribution = state["distribution"]
        self.covariate_names = tuple(state["covariates"])

    def state(self) -> dict:
        return dict(self.saved)

    def build_model(self) -> nn.Module:
        c = self.config
        seasons, covariates = len(self.seasons), len(self.covariate_names)
        phases = 2 * HARMONICS * seasons
        return Forecaster(1 + seasons + covariates + phases, seasons + covariates + phases, cell=c.cell,
                          hidden_size=c.hidden_size, num_layers=c.num_layers, dropout=c.dropout,
                          distribution=self.distribution)

    # -- windows -> model inputs ---------------------------------------------------------------------
    def first_origin(self) -> int:
        """The first step a window can forecast: it reads ``context + max(seasons)`` steps before it."""
        return self.context + max(self.seasons)

    def scaled(self, series: TimeSeries) -> tuple[Tensor, Tensor, Tensor]:
        """The series' target ``(N,)`` and covariates ``(N, C)`` scaled by the training statistics, and its
        phase features ``(N, 2 * HARMONICS * seasons)``."""
        s = self.saved
        target = (series.target - s["mean"]) / s["std"]
        covariates = (series.covariates - torch.tensor(s["covariate_mean"], dtype=torch.float64)) / torch.tensor(
            s["covariate_std"], dtype=torch.float64)
        steps = series.step_numbers.double()
        angles = [2 * math.pi * j * (steps % p) / p for p in self.seasons for j in range(1, HARMONICS + 1)]
        phases = torch.stack([f(a) for a in angles for f in (torch.sin, torch.cos)], dim=-1)
        return target.float(), covariates.float(), phases.float()

    def inputs(self, series: TimeSeries, origins: Tensor, device: torch.device) -> dict:
        """The model's inputs for the windows at ``origins (K,)``: ``history (K, L, F_h)``, ``future (K, H, F_f)``
        and, where the series holds them, the scaled targets ``y (K, H)``."""
        target, covariates, phases = self.scaled(series)
        past = origins[:, None] + torch.arange(-self.context, 0)  # (K, L)
        ahead = origins[:, None] + torch.arange(self.horizon)  # (K, H)
        history = torch.cat([target[past, None], *(target[past - p, None] for p in self.seasons),
                             covariates[past], phases[past]], dim=-1)
        naive = [target[naive_index(origins, self.horizon, p), None] for p in self.seasons]
        future = torch.cat([*naive, covariates[ahead], phases[ahead]], dim=-1)
        batch = {"history": history.to(device), "future": future.to(device)}
        if int(ahead.max()) < series.observed():
            batch["y"] = target[ahead].to(device)
        return batch

    def collate(self, data: ForecastWindows, indices: list[int], device: torch.device) -> dict:
        return self.inputs(data.series, data.origins[indices], device)

    def loss(self, model: nn.Module, batch: dict) -> tuple[Tensor, int]:
        """The mean negative log-likelihood of the batch's future steps under the forecast."""
        nll = negative_log_likelihood(self.distribution, batch["y"], *model(batch["history"], batch["future"]))
        return nll, int(batch["y"].numel())

    # -- forecasts and their metrics -----------------------------------------------------------------
    @torch.no_grad()
    def forecast(self, model: nn.Module, series: TimeSeries, origins: Tensor, device: torch.device,
                 batch_size: int = 256, calibrated: bool = True) -> tuple[Tensor, Tensor, Tensor | None]:
        """The predictive distributions' ``loc, scale, df`` ``(K, H)`` in the series' own units (float64); the
        scale multiplied by the validation's calibration factor unless ``calibrated`` is false."""
        model.eval()
        dtype = next(model.parameters()).dtype
        parts = []
        for chunk in origins.split(batch_size):
            batch = self.inputs(series, chunk, device)
            parts.append(model(batch["history"].to(dtype), batch["future"].to(dtype)))
        stacked = (torch.cat([p[k] for p in parts]) if parts[0][k] is not None else None for k in range(3))
        return self.in_units(*stacked, calibrated=calibrated)

    def in_units(self, loc: Tensor, scale: Tensor, df: Tensor | None,
                 calibrated: bool = True) -> tuple[Tensor, Tensor, Tensor | None]:
        """The model's ``loc, scale, df`` (in its scaled units) in the series' own units, as float64 on the CPU;
        the scale multiplied by the validation's calibration factor unless ``calibrated`` is false."""
        mean, std = self.saved["mean"], self.saved["std"]
        factor = self.saved.get("scale_factor", 1.0) if calibrated else 1.0
        loc, scale = loc.detach().double().cpu(), scale.detach().double().cpu()
        return loc * std + mean, scale * std * factor, None if df is None else df.detach().double().cpu()

    def check_series(self, series: TimeSeries) -> None:
        """Refuse a series whose covariates or time step are not those the model was trained on."""
        if tuple(series.covariate_names) != self.covariate_names:
            raise DataError(f"the series has covariates {list(series.covariate_names)}; the model was trained "
                            f"with {list(self.covariate_names)}")
        trained = self.saved.get("step_seconds")
        if trained and series.step_seconds and not math.isclose(trained, series.step_seconds):
            raise DataError(f"the series' times are {series.step_seconds:g} s apart; the model was trained on steps "
                            f"of {trained:g} s (its seasons and horizon count those steps)")

    def check_windows(self, data: ForecastWindows) -> None:
        if len(data) == 0:
            raise DataError(f"no forecast of {self.horizon} steps fits in the series' {len(data.series)} steps")
        self.check_series(data.series)
        if int(data.origins.min()) < self.first_origin():
            raise DataError(f"the series has {len(data.series)} steps: its first forecast from step "
                            f"{int(data.origins.min())} would read history before the series begins (each reads the "
                            f"{self.first_origin()} steps before it); give a longer file")

    def check_labels(self, data, what: str) -> None:
        """Forecasts have no labels to check."""

    def validate(self, model: nn.Module, data: ForecastWindows, batch_size: int, device: torch.device,
                 progress_bar: bool = False, world: World = World()) -> dict[str, Any]:
        """The median forecast's MASE on the validation origins (the baselines are for the test), and the
        calibration of the predictive scale on them (:meth:`calibrate`), saved with the epoch's checkpoint."""
        loc, scale, df = self.forecast(model, data.series, data.origins, device, batch_size, calibrated=False)
        truth = self.truth(data.series, data.origins)
        self.saved["scale_factor"] = self.calibrate(truth, loc, scale, df)
        return {"mase": metrics.mase(truth, loc, self.saved["naive_scale"])}

    def calibrate(self, truth: Tensor, loc: Tensor, scale: Tensor, df: Tensor | None) -> float:
        """The factor ``c`` of the predictive scale that gives held-out values their highest likelihood (one
        number, searched from 1/4 to 8). A network fitted by likelihood on overlapping training windows is
        more sure of itself than its errors on new data warrant; ``scale * c`` is what they warrant."""
        factors = torch.logspace(math.log10(0.25), math.log10(8.0), 91, dtype=torch.float64)
        nll = torch.stack([negative_log_likelihood(self.distribution, truth, loc, scale * c, df) for c in factors])
        return float(factors[nll.argmin()])

    def truth(self, series: TimeSeries, origins: Tensor) -> Tensor:
        """The true values ``(K, H)`` of the forecasts from ``origins (K,)``."""
        return series.target[origins[:, None] + torch.arange(self.horizon)]

    def evaluate(self, model: nn.Module, data: ForecastWindows, batch_size: int, device: torch.device,
                 progress_bar: bool = False, world: World = World()) -> dict[str, Any]:
        """Point and probabilistic metrics of the forecasts at ``data``'s origins, with the baselines' point
        metrics on the same origins (seasonal naive per season, MSTL)."""
        self.check_windows(data)
        loc, scale, df = self.forecast(model, data.series, data.origins, device, batch_size)
        truth = self.truth(data.series, data.origins)
        report: dict[str, Any] = {"origins": len(data), "horizon": self.horizon, **self.point_metrics(truth, loc),
                                  "crps": metrics.crps(truth, self.distribution, loc, scale, df)}
        for level, (lower, upper) in self.bands(loc, scale, df).items():
            report[f"coverage_{level}"] = metrics.coverage(truth, lower, upper)
        baselines = {f"seasonal naive ({p})": seasonal_naive(data.series.target, data.origins, self.horizon, p)
                     for p in self.seasons}
        baselines["MSTL"] = mstl_forecast(data.series.target, data.origins, self.horizon, self.seasons)
        report["baselines"] = {name: self.point_metrics(truth, f) for name, f in baselines.items()}
        report["mase_scale"] = self.saved["naive_scale"]
        return report

    def point_metrics(self, truth: Tensor, forecast: Tensor) -> dict[str, float]:
        return {"mape": metrics.mape(truth, forecast), "smape": metrics.smape(truth, forecast),
                "mase": metrics.mase(truth, forecast, self.saved["naive_scale"])}

    def bands(self, loc: Tensor, scale: Tensor, df: Tensor | None) -> dict[int, tuple[Tensor, Tensor]]:
        """The central :data:`INTERVALS` of each step: ``{80: (lower, upper), 95: ...}``, each ``(K, H)``."""
        return {round(p * 100): tuple(metrics.quantile(self.distribution, q, loc, scale, df)
                                      for q in ((1 - p) / 2, (1 + p) / 2)) for p in INTERVALS}

    def plot(self, model: nn.Module, data: ForecastWindows, path: Path, device: torch.device,
             panels: int = 4) -> Path:
        """Plot the forecasts of ``panels`` origins spread over ``data`` against the truth (with two
        horizons of history before each)."""
        origins = data.origins[torch.linspace(0, len(data) - 1, min(panels, len(data))).round().long()]
        loc, scale, df = self.forecast(model, data.series, origins, device)
        bands, truth = self.bands(loc, scale, df), self.truth(data.series, origins)
        times = data.series.times
        drawn = [{"label": f"forecast from {times[o] if times else f'step {o}'}",
                  "history": data.series.target[max(0, o - 2 * self.horizon): o].tolist(),
                  "truth": truth[k].tolist(), "median": loc[k].tolist(),
                  "bands": {level: (lower[k].tolist(), upper[k].tolist()) for level, (lower, upper) in bands.items()}}
                 for k, o in enumerate(origins.tolist())]
        return plot_forecasts(drawn, path, title=self.saved["target"])

    def predict(self, model: nn.Module, series: TimeSeries, device: torch.device) -> list[dict[str, Any]]:
        """The forecast of the ``horizon`` steps after the last known target of ``series`` (a CSV file's
        recent steps, and the covariates of the steps to forecast if the model reads covariates): one
        row per step with its time (or step number), median and central intervals."""
        series, known = self.next_forecast(series)
        origin = torch.tensor([known])
        loc, scale, df = self.forecast(model, series, origin, device)
        bands = self.bands(loc, scale, df)
        rows = []
        for k in range(self.horizon):
            row = {"time": series.times[known + k] if series.times else str(known + k), "median": float(loc[0, k])}
            for level, (lower, upper) in bands.items():
                row[f"lower_{level}"], row[f"upper_{level}"] = float(lower[0, k]), float(upper[0, k])
            rows.append(row)
        return rows

    def next_forecast(self, series: TimeSeries) -> tuple[TimeSeries, int]:
        """The series :meth:`predict` forecasts from and its origin, the step after its last known target:
        ``series`` cut to the ``horizon`` steps after that origin (or extended to them); refused when it
        is too short to read, lacks the covariates of the steps to forecast or has another time step."""
        self.check_series(series)
        known = series.observed()
        if known < self.first_origin():
            raise DataError(f"the series has {known} steps with a known {self.saved['target']!r}; a forecast reads "
                            f"the last {self.first_origin()} (--context {self.context} and the longest season, "
                            f"{max(self.seasons)})")
        future = len(series) - known
        if self.covariate_names and future < self.horizon:
            raise DataError(f"the model reads the covariates {', '.join(self.covariate_names)} over the horizon: add "
                            f"the next {self.horizon} rows with {self.saved['target']!r} empty and the covariates "
                            f"given (the file has {future})")
        return extended(series.head(known + min(future, self.horizon)), self.horizon), known

    def describe(self, report: dict[str, Any]) -> str:
        best = min(report["baselines"].items(), key=lambda item: item[1]["mase"])
        return (f"MAPE {report['mape']:.2f}% (best baseline, {best[0]}: {best[1]['mape']:.2f}%), "
                f"sMAPE {report['smape']:.2f}%, MASE {report['mase']:.3f}, CRPS {report['crps']:.4g}, "
                f"80%/95% interval coverage {report['coverage_80']:.1%}/{report['coverage_95']:.1%} "
                f"over {report['origins']} forecasts of {report['horizon']} steps")


def extended(series: TimeSeries, steps: int) -> TimeSeries:
    """``series`` with at least ``steps`` steps after its last known target: the missing ones get no target,
    no covariates (the series must have none), the next step numbers, and times one step apart."""
    missing = series.observed() + steps - len(series)
    if missing <= 0:
        return series
    times = series.times
    if times is not None:
        import pandas as pd

        last, step = pd.Timestamp(times[-1]), pd.Timedelta(seconds=series.step_seconds or 0)
        times = [*times, *((last + k * step).isoformat() for k in range(1, missing + 1))]
    next_steps = torch.cat([series.step_numbers, series.step_numbers[-1] + torch.arange(1, missing + 1)])
    return replace(series, target=torch.cat([series.target, torch.full((missing,), math.nan, dtype=torch.float64)]),
                   covariates=torch.cat([series.covariates, series.covariates.new_zeros(missing, 0)]),
                   step_numbers=next_steps,
                   times=times)

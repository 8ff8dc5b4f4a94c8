"""Classical forecasts to measure a forecaster against, computed on the same origins in the same run.

* :func:`seasonal_naive`: each step's value one season earlier (the last season seen, repeated over a
  horizon longer than a season): the forecast every method has to beat.
* :func:`mstl_forecast`: MSTL (Bandara et al. 2021; ``statsmodels``): the history is split into a trend,
  one seasonal component per season and a remainder; each seasonal component is carried forward by its
  own last season, and the seasonally adjusted series (trend + remainder) by an AR(1) model with a
  constant, the error correction of Taylor's double-seasonal methods.

Shapes: ``N`` steps of a series, ``K`` forecast origins, ``H`` steps per forecast.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

MSTL_HISTORY_SEASONS = 4
"""MSTL reads this many of the longest season's cycles before each origin (all it needs to estimate
every season; more only costs time)."""


def naive_index(origins: Tensor, horizon: int, season: int) -> Tensor:
    """The step whose value the seasonal naive forecast repeats, per origin and future step ``(K, H)``:
    ``o + k - season * ceil((k + 1) / season)``, the same phase in the last season before ``o``."""
    k = torch.arange(horizon)
    return origins[:, None] + k - season * ((k + season) // season)


def seasonal_naive(target: Tensor, origins: Tensor, horizon: int, season: int) -> Tensor:
    """Seasonal naive forecasts ``(K, H)`` from the series ``target (N,)``."""
    return target[naive_index(origins, horizon, season)]


def mstl_forecast(target: Tensor, origins: Tensor, horizon: int, seasons: tuple[int, ...]) -> Tensor:
    """MSTL + AR(1) forecasts ``(K, H)`` (see the module docstring), each fitted on the
    :data:`MSTL_HISTORY_SEASONS` longest seasons before its origin (or all of the history, if shorter).
    Seasons with fewer than two cycles in that history are left out."""
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.seasonal import MSTL

    forecasts = []
    for origin in origins.tolist():
        start = max(0, origin - MSTL_HISTORY_SEASONS * max(seasons))
        history = target[start:origin].double().numpy()
        # statsmodels estimates a season from more than two of its cycles, and orders the seasons shortest first
        usable = tuple(sorted(s for s in seasons if 2 * s < len(history)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statsmodels' convergence chatter
            if usable:
                fit = MSTL(history, periods=usable if len(usable) > 1 else usable[0]).fit()
                seasonal = np.asarray(fit.seasonal).reshape(len(history), -1)
                adjusted = history - seasonal.sum(axis=1)
                steps = np.arange(horizon)
                future_seasonal = sum(seasonal[len(history) - s + steps % s, j] for j, s in enumerate(usable))
            else:
                adjusted, future_seasonal = history, 0.0
            ar = ARIMA(adjusted, order=(1, 0, 0), trend="c").fit()
            forecasts.append(ar.forecast(horizon) + future_seasonal)
    return torch.tensor(np.stack(forecasts))

"""How good a forecast is: point errors of its median, and for a predictive distribution its CRPS and
the coverage of its central intervals.  Every function takes ``(K, H)`` arrays (``K`` origins, ``H``
steps) in the series' own units and returns a plain float averaged over all ``K * H`` steps.

* MAPE = mean |y - f| / |y| (in %; undefined, NaN, when some y is 0); sMAPE = mean 2 |y - f| / (|y| + |f|)
  (in %, Makridakis 1993).
* MASE = mean |y - f| / ``scale`` (Hyndman & Koehler 2006), ``scale`` the mean absolute error of the
  seasonal naive forecast over the training period: below 1, better than that naive in-sample.
* CRPS, the continuous ranked probability score of the predictive distribution (``scoringrules``'
  closed forms); for a point forecast it is its absolute error.
* Coverage of the central ``p`` interval: the share of steps whose value falls inside it (ideally ``p``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def mape(truth: Tensor, forecast: Tensor) -> float:
    """NaN where a true value is 0 (a percentage of nothing)."""
    if bool((truth == 0).any()):
        return float("nan")
    return float(((truth - forecast).abs() / truth.abs()).mean() * 100)


def smape(truth: Tensor, forecast: Tensor) -> float:
    return float((2 * (truth - forecast).abs() / (truth.abs() + forecast.abs())).mean() * 100)


def mase(truth: Tensor, forecast: Tensor, scale: float) -> float:
    return float((truth - forecast).abs().mean() / scale)


def naive_scale(target: Tensor, season: int) -> float:
    """MASE's ``scale``: the mean ``|y_t - y_{t-season}|`` over a (training) series ``(N,)``."""
    return float((target[season:] - target[:-season]).abs().mean())


def crps(truth: Tensor, distribution: str, loc: Tensor, scale: Tensor, df: Tensor | None = None) -> float:
    """Mean CRPS of a Student-t (``df``) or normal forecast with parameters ``(K, H)``."""
    import scoringrules

    args = [t.double().numpy() for t in (truth, loc, scale)]
    if distribution == "student-t":
        return float(np.mean(scoringrules.crps_t(args[0], df.double().numpy(), args[1], args[2])))
    return float(np.mean(scoringrules.crps_normal(*args)))


def coverage(truth: Tensor, lower: Tensor, upper: Tensor) -> float:
    return float(((truth >= lower) & (truth <= upper)).double().mean())


def quantile(distribution: str, p: float, loc: Tensor, scale: Tensor, df: Tensor | None = None) -> Tensor:
    """The ``p`` quantile of each step's predictive distribution ``(K, H)``."""
    import scipy.special

    if distribution == "student-t":
        standard = torch.from_numpy(np.asarray(scipy.special.stdtrit(df.double().numpy(), p)))
    else:
        standard = torch.full_like(loc, float(scipy.special.ndtri(p)), dtype=torch.float64)
    return loc.double() + scale.double() * standard

"""The forecaster: an encoder-decoder over time with a distribution head (many-to-many asynchronous).

The encoder reads the ``L`` steps of history (the scaled target, its seasonal lags, the covariates and
the seasonal phases); its final state starts the decoder, which steps through the ``H`` steps of the
horizon reading what is known of them in advance (the seasonal naive forecasts, the covariates, the
phases).  At every future step a head gives the parameters of the step's predictive distribution:

    loc_t   = w . u_t + a(d_t)             u_t: the step's future inputs, d_t: the decoder's output
    scale_t = softplus(b(d_t)) + 1e-3
    df_t    = 2 + softplus(c(d_t))         (Student-t only; df > 2 keeps the variance finite)

The linear term ``w . u_t`` is a learned combination of the seasonal naive forecasts and the
covariates, the classical forecast; the recurrent network learns what it misses.  The decoder reads
no forecast of its own (it is not autoregressive), so the steps' distributions are the marginals
the metrics score (quantiles, CRPS, interval coverage); no sampled paths are needed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution, Normal, StudentT

from rnnlab.models.cells import recurrent_layer
from rnnlab.models.export import ExportPart

DISTRIBUTIONS = ("student-t", "normal")


def predictive(distribution: str, loc: Tensor, scale: Tensor, df: Tensor | None = None) -> Distribution:
    """The ``torch.distributions`` object of a forecast's parameters (each ``(B, H)``)."""
    if distribution == "student-t":
        return StudentT(df, loc, scale)
    return Normal(loc, scale)


def negative_log_likelihood(distribution: str, y: Tensor, loc: Tensor, scale: Tensor,
                            df: Tensor | None = None) -> Tensor:
    """The mean negative log-likelihood of ``y`` under the forecast's parameters (each ``(B, H)``)."""
    return -predictive(distribution, loc, scale, df).log_prob(y).mean()


class Forecaster(nn.Module):
    """Encoder-decoder forecaster; see the module docstring.

    Args:
        history_size: features per history step ``F_h``.
        future_size: features per future step ``F_f``.
        cell: the encoder's and decoder's cell (:func:`~rnnlab.models.cells.recurrent_layer`; one direction each).
        hidden_size: units of the encoder's and decoder's state.
        num_layers: stacked layers of each.
        dropout: between stacked layers, and on the decoder's outputs before the head.
        distribution: ``"student-t"`` or ``"normal"``.
    """

    def __init__(self, history_size: int, future_size: int, *, cell: str = "gru", hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.0, distribution: str = "student-t") -> None:
        super().__init__()
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
        self.distribution = distribution
        between = dropout if num_layers > 1 else 0.0  # between stacked layers; the head's input is dropped too
        self.encoder = recurrent_layer(cell, history_size, hidden_size, num_layers, dropout=between)
        self.decoder = recurrent_layer(cell, future_size, hidden_size, num_layers, dropout=between)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 3 if distribution == "student-t" else 2)
        self.linear = nn.Linear(future_size, 1)

    def forward(self, history: Tensor, future: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """``history (B, L, F_h)``, ``future (B, H, F_f)`` -> ``loc, scale (B, H)`` and ``df (B, H)`` (Student-t)
        or ``None``."""
        _, state = self.encoder(history)
        decoded, _ = self.decoder(future, state)  # (B, H, hidden)
        params = self.head(self.dropout(decoded))
        loc = params[..., 0] + self.linear(future).squeeze(-1)
        scale = F.softplus(params[..., 1]) + 1e-3
        df = 2.0 + F.softplus(params[..., 2]) if self.distribution == "student-t" else None
        return loc, scale, df

    def negative_log_likelihood(self, history: Tensor, future: Tensor, y: Tensor) -> Tensor:
        """The mean negative log-likelihood of the targets ``y (B, H)`` under the forecast."""
        return negative_log_likelihood(self.distribution, y, *self(history, future))

    def export_parts(self) -> list[ExportPart]:
        """One graph (:mod:`rnnlab.models.export`): ``history (B, L, F_h)`` and ``future (B, H, F_f)`` -> ``loc``,
        ``scale`` and (Student-t) ``df``, each ``(B, H)``, batch, history and horizon varying.  The inputs and
        outputs are in the task's scaled units: its ``task.json`` holds the scaling (and ``scale_factor``)."""
        history = torch.randn(2, 5, self.encoder.input_size)
        future = torch.randn(2, 4, self.decoder.input_size)
        dims = {"history": {0: "batch", 1: "steps"}, "future": {0: "batch", 1: "horizon"}}
        outputs = ("loc", "scale", "df") if self.distribution == "student-t" else ("loc", "scale")
        return [ExportPart("model", _Parameters(self), {"history": history, "future": future}, dims, outputs)]


class _Parameters(nn.Module):
    """The forecaster's distribution parameters as tensors only (a normal forecast has no ``df``)."""

    def __init__(self, forecaster: Forecaster) -> None:
        super().__init__()
        self.forecaster = forecaster

    def forward(self, history: Tensor, future: Tensor) -> tuple[Tensor, ...]:
        return tuple(p for p in self.forecaster(history, future) if p is not None)

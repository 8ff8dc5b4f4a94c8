"""Time series for forecasting: one series with its covariates, read from a CSV file, and the forecast
origins that cut it into training, validation and test windows without leakage.

A :class:`TimeSeries` is one target column and the covariates known in advance (a calendar flag, a
temperature forecast), step by step.  :func:`forecast_splits` holds out the last stretches of it:

    |<------------- training ------------->|<-- validation -->|<----- test ----->|
    0                                      v                  t                  N

A window forecasts the ``horizon`` steps from its *origin* ``o`` (steps ``o .. o + horizon - 1``)
from the steps before it.  Validation origins are ``v, v + horizon, ...`` and test origins
``t, t + horizon, ...``, each forecast ending inside its stretch; training origins are every step
whose whole forecast ends before ``v``.  The training windows' series is *cut* at ``v``: nothing a
training window or the scaling learned from it can read lies in the validation or test stretch.

The CSV reader refuses, with the file and line, a missing or repeated column, a non-numeric or missing
value (a blank line is a row of missing values), and a time that does not follow the one before by the
series' step; rows at the end with an empty target and their covariates given are the *future* (for
prediction).  :func:`forecast_splits` refuses a series too short for its held-out stretches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.containers import Splits
from rnnlab.errors import DataError

ELECTRICITY_ENV = "RNNLAB_ELECTRICITY"


@dataclass
class TimeSeries:
    """One series and its covariates, step by step.

    Attributes:
        target: float64 ``(N,)``: the values to forecast (``NaN`` only in the trailing future rows).
        covariates: float64 ``(N, C)``: values known in advance at every step (``C`` may be 0).
        name: the target column's name.
        covariate_names: the ``C`` covariates' column names.
        step_numbers: int64 ``(N,)``: each step's number counted from 1970-01-01 00:00 in steps of the series'
            length (from its time column), so seasonal phases are the same in every file of the series;
            ``0 .. N-1`` for a file without times.
        times: each step's time as written in the file (or ``None``: no time column).
        step_seconds: the time from one step to the next (``None``: no time column).
    """

    target: torch.Tensor
    covariates: torch.Tensor
    name: str = "value"
    covariate_names: tuple[str, ...] = ()
    step_numbers: torch.Tensor | None = None
    times: list[str] | None = None
    step_seconds: float | None = None

    def __post_init__(self) -> None:
        n = len(self.target)
        if self.target.dim() != 1 or self.covariates.shape[:1] != (n,) or self.covariates.dim() != 2:
            raise DataError(f"TimeSeries needs target (N,) and covariates (N, C), got {tuple(self.target.shape)} "
                            f"and {tuple(self.covariates.shape)}")
        if self.covariates.shape[1] != len(self.covariate_names):
            raise DataError(f"TimeSeries has {self.covariates.shape[1]} covariates but "
                            f"{len(self.covariate_names)} names")
        if self.step_numbers is None:
            self.step_numbers = torch.arange(n)

    def __len__(self) -> int:
        return len(self.target)

    def observed(self) -> int:
        """The number of leading steps whose target is known (the rest is the future)."""
        missing = torch.isnan(self.target).nonzero()
        return int(missing[0]) if len(missing) else len(self)

    def head(self, n: int) -> TimeSeries:
        """The first ``n`` steps."""
        return replace(self, target=self.target[:n], covariates=self.covariates[:n],
                       step_numbers=self.step_numbers[:n], times=self.times[:n] if self.times is not None else None)


@dataclass
class ForecastWindows:
    """Forecast origins over a series: item ``k`` forecasts steps ``origins[k] .. origins[k] + horizon - 1``.

    Attributes:
        series: the series, up to the last step this part may read.
        origins: int64 ``(K,)``, each window's first forecast step.
        horizon: steps per forecast.
    """

    series: TimeSeries
    origins: torch.Tensor
    horizon: int

    def __len__(self) -> int:
        return len(self.origins)


def forecast_splits(series: TimeSeries, horizon: int, first_origin: int, validation_steps: int,
                    test_steps: int) -> Splits:
    """Training, validation and test :class:`ForecastWindows` of ``series`` (see the module docstring):
    the test stretch is the last ``test_steps`` steps, validation the ``validation_steps`` before it;
    training origins start at ``first_origin`` (the history a window reads) and their series is cut where
    validation begins."""
    n = len(series)
    test_start = n - test_steps
    validation_start = test_start - validation_steps
    for what, steps in (("test", test_steps), ("validation", validation_steps)):
        if steps < horizon:
            raise DataError(f"the {what} stretch ({steps} steps) is shorter than one forecast (--horizon {horizon}); "
                            f"give --{what}-steps of at least {horizon}")
    if validation_start - horizon < first_origin:
        raise DataError(f"the series has {n} steps: too few to hold out {validation_steps} for validation and "
                        f"{test_steps} for test and still train on windows of {first_origin} steps of history and "
                        f"{horizon} to forecast (it needs at least "
                        f"{first_origin + horizon + validation_steps + test_steps})")
    train = ForecastWindows(series.head(validation_start), torch.arange(first_origin, validation_start - horizon + 1),
                            horizon)
    validation = ForecastWindows(series.head(test_start), torch.arange(validation_start, test_start - horizon + 1,
                                                                       horizon), horizon)
    test = ForecastWindows(series, torch.arange(test_start, n - horizon + 1, horizon), horizon)
    return Splits(train, validation, test)


def read_series_csv(path: Path | str, target: str, covariates: tuple[str, ...] = (), time_column: str | None = None,
                    future: bool = False) -> TimeSeries:
    """The ``target`` column of a CSV file with its ``covariates`` (and, with ``time_column``, its times,
    which must be evenly spaced).  ``future``: trailing rows may leave the target empty (the steps to
    forecast); their covariates must be given.  Every refusal names the file, and the line where there is one."""
    import pandas as pd  # only when a CSV is read

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        # blank lines kept as rows (refused as missing values), so that row k is line k + 2
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, skip_blank_lines=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise DataError(f"{path}: not a readable CSV file ({str(error).splitlines()[0]})") from None
    repeated = sorted({c for c in frame.columns if str(c) + ".1" in frame.columns})
    if repeated:
        raise DataError(f"{path}: the header names column {repeated[0]!r} twice")
    wanted = [target, *covariates, *([time_column] if time_column else [])]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r}; its columns are {', '.join(map(repr, frame.columns))}")
    if target in covariates or (time_column and time_column in (target, *covariates)):
        raise DataError(f"{path}: a column is named twice among --target, --covariates and --time-column")
    blank = (frame == "").all(axis=1).to_numpy()
    frame = frame.iloc[:len(blank) - int(np.argmin(blank[::-1])) if not blank.all() else 0]  # blank lines at the end
    if len(frame) == 0:
        raise DataError(f"{path}: no rows")
    values = {c: _numbers(path, frame[c], c) for c in (target, *covariates)}
    known = ~np.isnan(values[target])
    n_known = int(np.argmin(known)) if not known.all() else len(known)
    if not future and n_known < len(known) or future and known[n_known:].any():
        line = n_known + 2 + (int(np.argmax(known[n_known:])) if future else 0)
        raise DataError(f"{path}:{line}: missing value in column {target!r}"
                        + ("; only the last rows (the steps to forecast) may leave it empty" if future else
                           "; fill or remove it (rnnlab does not guess values)"))
    for c in covariates:
        gap = np.isnan(values[c])
        if gap.any():
            raise DataError(f"{path}:{int(np.argmax(gap)) + 2}: missing value in covariate {c!r} (a covariate must "
                            "be known at every step, the future ones included)")
    times, steps, step = None, None, None
    if time_column:
        times = frame[time_column].tolist()
        steps, step = _step_numbers(path, times)
    cov = np.stack([values[c] for c in covariates], axis=1) if covariates else np.zeros((len(frame), 0))
    return TimeSeries(torch.tensor(values[target]), torch.tensor(cov), target, tuple(covariates), steps, times, step)


def _numbers(path: Path, column, name: str) -> np.ndarray:
    """A column of text as float64, empty cells as NaN; a cell that is not a finite number is refused."""
    import pandas as pd

    text = column.str.strip()
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype=np.float64)
    bad = (np.isnan(numbers) & (text != "").to_numpy() & ~text.str.lower().isin(["nan", "na"]).to_numpy()) | \
        np.isinf(numbers)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{path}:{row + 2}: column {name!r} holds {text.iloc[row][:40]!r}, not a finite number")
    return numbers


def _step_numbers(path: Path, times: list[str]) -> tuple[torch.Tensor, float | None]:
    """Each time's step number from 1970-01-01 00:00 (UTC where a time zone is given), in steps of the
    series' own length, and that length in seconds; times must be increasing by exactly that step."""
    import pandas as pd

    try:
        stamps = pd.to_datetime(pd.Series(times), utc=True, format="mixed")
        nanoseconds = stamps.dt.as_unit("ns").astype("int64").to_numpy()
    except (ValueError, TypeError, OverflowError) as error:  # OutOfBoundsDatetime is a ValueError
        raise DataError(f"{path}: the time column is not readable as dates and times from 1677 to 2262 "
                        f"({error})") from None
    if len(nanoseconds) < 2:
        return torch.zeros(len(nanoseconds), dtype=torch.long), None
    differences = np.diff(nanoseconds)
    step = int(np.median(differences))
    if step <= 0 or (differences != step).any():
        row = int(np.argmax(differences != step)) if step > 0 else 0
        raise DataError(f"{path}:{row + 3}: time {times[row + 1]!r} does not follow {times[row]!r} by the series' "
                        f"step ({pd.Timedelta(step, 'ns') if step > 0 else 'none'}); a forecast series needs evenly "
                        "spaced times with no gaps or repeats")
    return torch.tensor(nanoseconds // step), step / 1e9


def default_electricity_root() -> Path:
    """``$RNNLAB_ELECTRICITY`` if set, else ``shared/data/electricity`` beside the repository root."""
    if os.environ.get(ELECTRICITY_ENV):
        return Path(os.environ[ELECTRICITY_ENV])
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "electricity"


def load_electricity(root: Path | str | None = None) -> TimeSeries:
    """Victoria's half-hourly electricity demand in 2014 (GW; Hyndman & Athanasopoulos, fpp2, from AEMO and
    the Bureau of Meteorology), with the working-day flag and Melbourne's temperature as covariates: 17,520 steps."""
    return read_series_csv(_file(root, "elecdemand-victoria-2014.csv"), "demand_gw", ("workday", "temperature_c"),
                           "time")


def load_taylor(root: Path | str | None = None) -> TimeSeries:
    """England and Wales' half-hourly electricity demand, 5 June - 27 August 2000 (MW; Taylor 2003): 4,032 steps."""
    return read_series_csv(_file(root, "taylor-england-wales-2000.csv"), "value", (), "date")


def _file(root: Path | str | None, name: str) -> Path:
    folder = Path(root) if root is not None else default_electricity_root()
    if not (folder / name).is_file():
        raise DataError(f"{folder / name}: not found (pass root= or set ${ELECTRICITY_ENV} to the folder that "
                        f"holds it)")
    return folder / name

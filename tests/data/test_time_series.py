"""Forecasting data: the CSV reader (columns, times, missing and malformed values, the future rows), and
forecast windows cut without leakage."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnlab.data import DataError, TimeSeries, forecast_splits, load_electricity, load_taylor, read_series_csv


def write_csv(path: Path, rows: list[str], header: str = "time,load,temp") -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def hourly(n: int, start_hour: int = 0) -> list[str]:
    return [f"2024-01-{1 + (start_hour + k) // 24:02d}T{(start_hour + k) % 24:02d}:00,{10 + k},{k % 5}"
            for k in range(n)]


def test_reads_the_target_covariates_and_step_numbers_from_the_times(tmp_path):
    series = read_series_csv(write_csv(tmp_path / "a.csv", hourly(30)), "load", ("temp",), "time")
    assert series.target.tolist() == [10.0 + k for k in range(30)]
    assert series.covariates[:, 0].tolist() == [float(k % 5) for k in range(30)]
    assert series.covariate_names == ("temp",) and series.name == "load"
    # hours since 1970-01-01: a later file of the series continues the same numbering (and seasonal phases)
    assert int(series.step_numbers[0]) == 473352 and torch.equal(series.step_numbers.diff(), torch.ones(29).long())
    later = read_series_csv(write_csv(tmp_path / "b.csv", hourly(30, start_hour=5)), "load", ("temp",), "time")
    assert torch.equal(later.step_numbers[:25], series.step_numbers[5:])
    without_times = read_series_csv(tmp_path / "a.csv", "load")
    assert without_times.step_numbers.tolist() == list(range(30)) and without_times.covariates.shape == (30, 0)


@pytest.mark.parametrize(("rows", "options", "message"), [
    (hourly(5), dict(target="demand"), "no column 'demand'; its columns are 'time', 'load', 'temp'"),
    (hourly(2) + ["2024-01-01T02:00,abc,1"], {}, "a.csv:4: column 'load' holds 'abc', not a finite number"),
    (hourly(2) + ["2024-01-01T02:00,inf,1"], {}, "a.csv:4: column 'load' holds 'inf', not a finite number"),
    (hourly(2) + ["2024-01-01T02:00,,1"] + hourly(4)[3:], {}, "a.csv:4: missing value in column 'load'"),
    (hourly(3) + ["2024-01-01T03:00,5,"], dict(covariates=("temp",)), "a.csv:5: missing value in covariate 'temp'"),
    (hourly(3) + ["2024-01-01T05:00,5,1"], dict(time_column="time"), "a.csv:5: time '2024-01-01T05:00' does not "
                                                                     "follow '2024-01-01T02:00'"),
    (hourly(3) + ["2024-01-01T02:00,5,1"], dict(time_column="time"), "a.csv:5: time '2024-01-01T02:00'"),
    ([], {}, "a.csv: no rows"),
    (hourly(2) + ["", "2024-01-01T03:00,7,1"], {}, "a.csv:4: missing value in column 'load'"),  # a blank line
    (["2300-01-01T00:00,1,1", "2300-01-01T01:00,2,1"], dict(time_column="time"), "from 1677 to 2262"),
])
def test_refuses_bad_files_naming_the_line(tmp_path, rows, options, message):
    options = {"target": "load", **options}
    with pytest.raises(DataError) as error:
        read_series_csv(write_csv(tmp_path / "a.csv", rows), **options)
    assert message in str(error.value)


def test_a_column_named_twice_is_refused(tmp_path):
    with pytest.raises(DataError, match="a.csv: the header names column 'load' twice"):
        read_series_csv(write_csv(tmp_path / "a.csv", hourly(3), header="time,load,load"), "load")


def test_trailing_rows_without_a_target_are_the_future_only_when_asked_for(tmp_path):
    rows = hourly(6) + [f"2024-01-01T{6 + k:02d}:00,,{k}" for k in range(3)]
    path = write_csv(tmp_path / "recent.csv", rows)
    with pytest.raises(DataError, match="recent.csv:8: missing value in column 'load'"):
        read_series_csv(path, "load", ("temp",), "time")
    series = read_series_csv(path, "load", ("temp",), "time", future=True)
    assert len(series) == 9 and series.observed() == 6 and series.covariates[6:, 0].tolist() == [0.0, 1.0, 2.0]
    gap = write_csv(tmp_path / "gap.csv", hourly(3) + ["2024-01-01T03:00,,1", "2024-01-01T04:00,7,1"])
    with pytest.raises(DataError, match="gap.csv:6: missing value in column 'load'; only the last rows"):
        read_series_csv(gap, "load", future=True)


def series_of(n: int) -> TimeSeries:
    return TimeSeries(torch.arange(n, dtype=torch.float64), torch.zeros(n, 0))


def test_windows_never_reach_into_the_stretches_held_out_after_them():
    train, validation, test = forecast_splits(series_of(200), horizon=10, first_origin=30, validation_steps=40,
                                              test_steps=50)
    # the training series ends where validation begins; every training forecast ends before it
    assert len(train.series) == 110 and int(train.series.target.max()) == 109
    assert train.origins.tolist() == list(range(30, 101)) and int(train.origins.max()) + 10 <= 110
    # validation: one forecast per horizon from the stretch's start, inside it; its series ends before the test
    assert validation.origins.tolist() == [110, 120, 130, 140] and len(validation.series) == 150
    assert test.origins.tolist() == [150, 160, 170, 180, 190] and len(test.series) == 200


@pytest.mark.parametrize(("sizes", "message"), [
    (dict(validation_steps=5, test_steps=50), "the validation stretch (5 steps) is shorter than one forecast"),
    (dict(validation_steps=40, test_steps=150), "too few to hold out 40 for validation and 150 for test"),
])
def test_refuses_stretches_that_do_not_fit(sizes, message):
    with pytest.raises(DataError) as error:
        forecast_splits(series_of(200), horizon=10, first_origin=30, **sizes)
    assert message in str(error.value)


def test_the_embedded_series_are_whole_and_half_hourly():
    electricity, taylor = load_electricity(), load_taylor()
    assert len(electricity) == 17_520 and electricity.covariate_names == ("workday", "temperature_c")
    assert len(taylor) == 4_032 and taylor.covariates.shape == (4_032, 0)
    for series in (electricity, taylor):
        assert torch.equal(series.step_numbers.diff(), torch.ones(len(series) - 1).long())  # no gap
        assert int(series.step_numbers[0]) % 48 == 0  # both start at midnight
        assert series.observed() == len(series)

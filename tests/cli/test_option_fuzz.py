"""Fuzzing ``rnnlab train``'s options: any value either parses into a usable configuration or ends the
command with exit status 2 and a message, never a traceback."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnlab.cli.train
from rnnlab import cli
from rnnlab.tasks import TrainConfig

NUMERIC = [f.name for f in dataclasses.fields(TrainConfig)
           if any(t in str(f.type) for t in ("int", "float")) and f.name not in ("seed",)] + ["seed"]

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e20", "-1", "0", "1e-300", "2", "0.5", "", "x", "1,5", "0x10"]),
    st.text(max_size=12),
)


@pytest.fixture
def accepted(monkeypatch):
    """Replace training by checking: the configuration ``rnnlab train`` would train with, or nothing."""
    seen = []
    monkeypatch.setattr(rnnlab.cli.train, "train", lambda config, resume=None, **kw: seen.append(config.resolved()))
    return seen


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(NUMERIC), value=values, task=st.sampled_from(["mnist1d", "upos", "g2p"]))
def test_any_option_value_is_used_or_refused_in_one_line(option, value, task, accepted, capsys):
    accepted.clear()
    try:
        cli.main(["train", "--task", task, f"--{option.replace('_', '-')}", value])
    except SystemExit as exit_info:
        assert exit_info.code == 2
        err = capsys.readouterr().err
        assert err.strip() and "Traceback" not in err
        return
    config = accepted[0]
    for field in dataclasses.fields(config):
        number = getattr(config, field.name)
        if isinstance(number, float):
            assert math.isfinite(number), (field.name, number)
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            assert number >= 0, (field.name, number)
    assert config.lr > 0 and config.batch_size >= 1 and config.epochs >= 1
    assert 0 <= config.seed < 2**63

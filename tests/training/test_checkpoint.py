"""Checkpoints are atomic and load without executing code; the run configuration round-trips."""

from __future__ import annotations

import pickle

import pytest
import torch

from rnnlab.errors import CheckpointError
from rnnlab.files import atomic_write
from rnnlab.tasks import ConfigError, TrainConfig
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint


def test_checkpoint_round_trips_tensors_and_plain_data(tmp_path):
    state = {"model": {"w": torch.randn(3, 2)}, "progress": {"epoch": 2, "best": 0.5}, "names": ["a", "b"]}
    save_checkpoint(tmp_path / "last.pt", state)
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert torch.equal(loaded["model"]["w"], state["model"]["w"]) and loaded["names"] == ["a", "b"]
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "last.pt"
    save_checkpoint(target, {"epoch": 1})

    def crash(path):
        path.write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert load_checkpoint(target) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_checkpoint_that_would_execute_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"x": _Payload()}))
    with pytest.raises(CheckpointError, match="not a readable rnnlab checkpoint"):
        load_checkpoint(path)
    assert "must never run" not in capsys.readouterr().out


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"last.pt: no such checkpoint"):
        load_checkpoint(tmp_path / "last.pt")


def test_config_resolves_task_defaults_and_round_trips(tmp_path):
    config = TrainConfig(task="upos", hidden_size=32, run_dir=tmp_path / "run").resolved()
    assert config.hidden_size == 32 and config.cell == "lstm" and config.epochs is not None
    assert TrainConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("options,message", [
    ({"epochs": 0}, "--epochs must be at least 1, got 0"),
    ({"dropout": 1.0}, r"--dropout must be in \[0, 1\), got 1.0"),
    ({"lr": -1.0}, "--lr must be a finite positive number, got -1.0"),
    ({"ema": 1.0}, r"--ema must be in \[0, 1\), got 1.0"),
    ({"warmup": 1.0}, r"--warmup must be in \[0, 1\), got 1.0"),
    ({"task": "g2p", "ctc_weight": 1.0}, r"--ctc-weight must be in \[0, 1\), got 1.0"),
    ({"task": "upos", "ctc_weight": 0.3}, "--ctc-weight is for the G2P tasks"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**options).resolved()


def test_unknown_saved_options_are_refused():
    with pytest.raises(ConfigError, match=r"unknown options \['colour'\]"):
        TrainConfig.from_dict({"task": "mnist1d", "colour": "red"})

"""Bad input to rnnlab train/evaluate/predict: one clear line, exit status 2, nothing saved is lost."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab import cli
from rnnlab.tasks import TrainConfig
from rnnlab.training import train

TINY = dict(hidden_size=8, num_layers=1, batch_size=16, epochs=1)


def _fails(args: list[str], capsys) -> str:
    """Run the command, expect exit status 2 and return its one-line error message."""
    with pytest.raises(SystemExit) as raised:
        cli.main(args)
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnlab: error: "), err
    assert "Traceback" not in err[0]
    return err[0]


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("text")
    rows = [("hello", "en"), ("world", "en"), ("house", "en"), ("water", "en"), ("haus", "de"), ("welt", "de"),
            ("wasser", "de"), ("stadt", "de")] * 5
    (folder / "words.tsv").write_text("".join(f"{w}\t{lang}\n" for w, lang in rows), encoding="utf-8")
    run_dir = folder / "run"
    train(TrainConfig(task="word-language", data=folder / "words.tsv", run_dir=run_dir, **TINY), progress_bar=False)
    return run_dir


def test_missing_data_file(tmp_path, capsys):
    message = _fails(["train", "--task", "mnist1d", "--data", str(tmp_path / "nope.npz"),
                      "--run-dir", str(tmp_path / "run")], capsys)
    assert "nope.npz" in message
    assert not (tmp_path / "run").exists()


def test_malformed_conllu_line_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.conllu"
    bad.write_text("# sent_id = 1\n1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\n\n", encoding="utf-8")
    message = _fails(["train", "--task", "upos", "--data", str(bad), "--run-dir", str(tmp_path / "run")], capsys)
    assert "bad.conllu" in message and ":3" in message


def test_tsv_line_without_label_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("hello\ten\nworld\n", encoding="utf-8")
    message = _fails(["train", "--task", "word-language", "--data", str(bad), "--run-dir", str(tmp_path / "r")],
                     capsys)
    assert "bad.tsv" in message and ":2" in message


@pytest.mark.parametrize("arrays,expected", [
    ({"x": np.zeros((4, 5))}, "y"),
    ({"x": np.zeros((4, 5)), "y": np.zeros(3, dtype=int)}, "y"),
    ({"x": np.zeros(4), "y": np.zeros(4, dtype=int)}, "x"),
])
def test_npz_with_missing_or_misshaped_arrays(tmp_path, capsys, arrays, expected):
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    message = _fails(["train", "--task", "mnist1d", "--data", str(bad), "--run-dir", str(tmp_path / "r")], capsys)
    assert "bad.npz" in message and expected in message


def test_empty_data_set(tmp_path, capsys):
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    message = _fails(["train", "--task", "word-language", "--data", str(empty), "--run-dir", str(tmp_path / "r")],
                     capsys)
    assert "empty.tsv" in message


def test_a_label_never_seen_in_training(text_run, tmp_path, capsys):
    before = _snapshot(text_run)
    other = tmp_path / "other.tsv"
    other.write_text("maison\tfr\n", encoding="utf-8")
    message = _fails(["evaluate", str(text_run), "--data", str(other)], capsys)
    assert "fr" in message and "never seen in training" in message
    assert _snapshot(text_run) == before


def test_training_into_an_existing_run_is_refused_and_keeps_its_files(text_run, capsys):
    before = _snapshot(text_run)
    message = _fails(["train", "--task", "word-language", "--run-dir", str(text_run)], capsys)
    assert "already holds files" in message and "--resume" in message
    assert _snapshot(text_run) == before


def test_an_incompatible_checkpoint_is_refused(text_run, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in text_run.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    config = json.loads((copy / "config.json").read_text())
    config["hidden_size"] = 99
    (copy / "config.json").write_text(json.dumps(config))
    before = _snapshot(copy)
    message = _fails(["evaluate", str(copy)], capsys)
    assert "best.pt" in message and "hidden_size 8 vs 99" in message
    message = _fails(["train", "--resume", str(copy)], capsys)
    assert "last.pt" in message
    assert _snapshot(copy) == before


def test_a_file_that_is_not_a_checkpoint_is_refused(text_run, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "config.json").write_bytes((text_run / "config.json").read_bytes())
    (copy / "best.pt").write_bytes(b"not a checkpoint")
    assert "not a readable rnnlab checkpoint" in _fails(["evaluate", str(copy)], capsys)


def test_missing_run_directory(tmp_path, capsys):
    assert "no such run directory" in _fails(["evaluate", str(tmp_path / "nowhere")], capsys)
    assert "no such run directory" in _fails(["train", "--resume", str(tmp_path / "nowhere")], capsys)


def test_bad_option_value(tmp_path, capsys):
    message = _fails(["train", "--task", "mnist1d", "--epochs", "0", "--run-dir", str(tmp_path / "r")], capsys)
    assert "--epochs must be at least 1" in message
    assert not (tmp_path / "r").exists()


def test_predict_needs_items(text_run, capsys):
    assert "either on the command line or with --file" in _fails(["predict", str(text_run)], capsys)


@pytest.mark.parametrize("option,value,expected", [
    ("--lr", "nan", "--lr must be a finite positive number, got nan"),
    ("--lr", "inf", "--lr must be a finite positive number, got inf"),
    ("--weight-decay", "nan", "--weight-decay must be a finite number, 0 or more, got nan"),
    ("--weight-decay", "-1", "--weight-decay must be a finite number, 0 or more, got -1.0"),
    ("--word-dropout", "-1", "--word-dropout must be a finite number, 0 or more, got -1.0"),
    ("--label-smoothing", "2", "--label-smoothing must be in [0, 1), got 2.0"),
    ("--label-smoothing", "nan", "--label-smoothing must be in [0, 1), got nan"),
    ("--dropout", "nan", "--dropout must be in [0, 1), got nan"),
    ("--seed", str(10**20), f"--seed must be a whole number in [0, 2**32), got {10**20}"),
    ("--seed", "-1", "--seed must be a whole number in [0, 2**32), got -1"),
    ("--clip", "nan", "--clip must be a finite number, 0 or more, got nan"),
    ("--clip", "-1", "--clip must be a finite number, 0 or more, got -1.0"),
    ("--patience", "-1", "--patience must be at least 0, got -1"),
])
def test_an_unusable_training_option_is_refused_before_anything_is_created(tmp_path, capsys, option, value,
                                                                             expected):
    message = _fails(["train", "--task", "word-language", "--run-dir", str(tmp_path / "r"), option, value], capsys)
    assert message == f"rnnlab: error: {expected}"
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("option", ["--test-data", "--validation-data"])
def test_own_test_or_validation_data_needs_own_training_data(tmp_path, capsys, option):
    (tmp_path / "words.tsv").write_text("hello\ten\n", encoding="utf-8")
    message = _fails(["train", "--task", "word-language", option, str(tmp_path / "words.tsv"),
                      "--run-dir", str(tmp_path / "r")], capsys)
    assert message.startswith(f"rnnlab: error: {option} needs --data (your training file)")
    assert "rnnlab evaluate RUN_DIR --data FILE" in message
    assert not (tmp_path / "r").exists()


def test_a_run_directory_under_a_file_or_on_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "somefile").write_text("keep\n")
    message = _fails(["train", "--task", "word-language", "--run-dir", str(tmp_path / "somefile" / "x")], capsys)
    assert message == (f"rnnlab: error: --run-dir {tmp_path / 'somefile' / 'x'}: {tmp_path / 'somefile'} is a "
                       "file, not a directory")
    message = _fails(["train", "--task", "word-language", "--run-dir", str(tmp_path / "somefile")], capsys)
    assert message == f"rnnlab: error: --run-dir {tmp_path / 'somefile'}: is a file, not a run directory"
    assert (tmp_path / "somefile").read_text() == "keep\n"


def test_a_run_directory_on_a_read_only_location_is_refused(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root writes anywhere: stand in for a read-only file system
        monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)
    message = _fails(["train", "--task", "word-language", "--run-dir", str(locked / "run" / "x")], capsys)
    assert message == f"rnnlab: error: --run-dir {locked / 'run' / 'x'}: cannot write in {locked} (read-only)"
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
@pytest.mark.parametrize("command", ["evaluate", "predict", "diagnose", "generate", "attention"])
def test_device_cuda_without_one_is_refused(text_run, capsys, command):
    before = _snapshot(text_run)
    items = ["hello"] if command in ("predict", "attention") else []
    message = _fails([command, str(text_run), *items, "--device", "cuda"], capsys)
    assert message == "rnnlab: error: --device cuda: no CUDA device is available (use --device cpu or auto)"
    assert _snapshot(text_run) == before


def test_a_run_trained_on_a_gpu_evaluates_and_predicts_where_there_is_none(text_run, tmp_path, capsys):
    gpu_run = tmp_path / "gpu-run"
    shutil.copytree(text_run, gpu_run)
    config = json.loads((gpu_run / "config.json").read_text())
    (gpu_run / "config.json").write_text(json.dumps({**config, "device": "cuda"}))
    for device in (["--device", "auto"], ["--device", "cpu"], []):
        cli.main(["predict", str(gpu_run), "hello", *device])
        assert capsys.readouterr().out.startswith("hello\t")
    cli.main(["evaluate", str(gpu_run), "--device", "cpu"])
    assert "accuracy" in capsys.readouterr().out

"""Time-series classification (ts-classify, japanese-vowels): a user's .ts files end to end, channel statistics
from the training split only, saved with the run, and prediction from a file or the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab import cli
from rnnlab.data import load_japanese_vowels, read_ts
from rnnlab.data.ts_files import shuffled_frames
from rnnlab.models import BagOfFrames
from rnnlab.tasks import TrainConfig, make_task
from rnnlab.training import load_run

TINY = ["--hidden-size", "16", "--num-layers", "1", "--batch-size", "16", "--lr", "1e-2"]


def write_series(path: Path, n: int, seed: int, offset: float = 0.0) -> Path:
    """``n`` two-channel series of 10-40 steps in three classes: a sine rising, falling or flat in frequency
    (the class is in the order of the steps), plus ``offset`` on every value."""
    rng = np.random.default_rng(seed)
    lines = ["@problemName Chirps", "@univariate false", "@dimensions 2", "@equalLength false",
             "@classLabel true rising falling flat", "@data"]
    for k in range(n):
        label = ("rising", "falling", "flat")[k % 3]
        steps = int(rng.integers(10, 41))
        t = np.linspace(0, 1, steps)
        phase = {"rising": 8 * t ** 2, "falling": 16 * t - 8 * t ** 2, "flat": 8 * t}[label]
        first = np.sin(2 * math.pi * phase) + 0.1 * rng.standard_normal(steps) + offset
        second = np.cos(2 * math.pi * phase) * 5 + 100 + offset  # another scale: standardisation matters
        lines.append(":".join(",".join(f"{v:.4f}" for v in channel) for channel in (first, second)) + f":{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ts_classify_trains_evaluates_and_predicts_on_a_users_files(tmp_path, capsys):
    train_file = write_series(tmp_path / "X_TRAIN.ts", 150, seed=0)
    test_file = write_series(tmp_path / "X_TEST.ts", 60, seed=1)
    run_dir = tmp_path / "run"
    cli.main(["train", "--task", "ts-classify", "--data", str(train_file), "--test-data", str(test_file),
              "--epochs", "15", *TINY, "--run-dir", str(run_dir)])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    test = json.loads((run_dir / "test_metrics.json").read_text())
    assert test["total"] == 60 and test["accuracy"] > 0.6  # chance is 1/3
    capsys.readouterr()

    cli.main(["evaluate", str(run_dir)])
    assert f"{test['accuracy']:.4f}" in capsys.readouterr().out
    cli.main(["predict", str(run_dir), "--file", str(test_file), "--top-k", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 60 and lines[0].startswith("X_TEST.ts[0]\t")
    case = test_file.read_text().splitlines()[6].rsplit(":", 1)[0]  # the first case, as channels
    cli.main(["predict", str(run_dir), case, "--top-k", "1"])
    assert capsys.readouterr().out.strip().split("\t")[1] == lines[0].split("\t")[1]


def test_channel_statistics_come_from_the_training_split_alone_and_are_saved(tmp_path):
    train_file = write_series(tmp_path / "train.ts", 90, seed=0)
    data = read_ts(train_file)
    config = TrainConfig(task="ts-classify", data=train_file, test_data=write_series(tmp_path / "a.ts", 30, 1),
                         run_dir=tmp_path / "run").resolved()
    task = make_task(config)
    held_out = make_task(TrainConfig(task="ts-classify", data=train_file, run_dir=tmp_path / "r2",
                                     test_data=write_series(tmp_path / "b.ts", 30, 2, offset=1000.0)).resolved())
    train = task.splits.train  # 90% of the file: the rest is validation
    real = torch.cat([train.x[k, :n] for k, n in enumerate(train.lengths.tolist())]).double()
    torch.testing.assert_close(task.mean, real.mean(0).float())
    torch.testing.assert_close(task.std, real.std(0, correction=0).float())
    torch.testing.assert_close(held_out.mean, task.mean)  # a test file far off changes nothing
    assert len(train) < len(data)
    restored = make_task(config, state=json.loads(json.dumps(task.state())), load_data=False)
    batch = restored.inputs([data.x[0, : int(data.lengths[0])]], torch.device("cpu"))
    expected = (data.x[0, : int(data.lengths[0])] - task.mean) / task.std
    torch.testing.assert_close(batch["x"][0], expected)


def test_a_trained_run_keeps_its_statistics(tmp_path):
    train_file = write_series(tmp_path / "train.ts", 60, seed=3)
    run_dir = tmp_path / "run"
    cli.main(["train", "--task", "ts-classify", "--data", str(train_file), "--epochs", "1", *TINY,
              "--run-dir", str(run_dir)])
    _, task, _ = load_run(run_dir, device="cpu")
    assert task.std.shape == (2,) and float(task.mean[1]) == pytest.approx(100, abs=1)


def test_ts_classify_needs_a_file_and_refuses_a_mismatched_one(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--task", "ts-classify", "--run-dir", str(tmp_path / "a")])
    assert "--task ts-classify has no data set of its own: give your training file with --data" in \
        capsys.readouterr().err
    train_file = write_series(tmp_path / "train.ts", 60, seed=3)
    run_dir = tmp_path / "run"
    cli.main(["train", "--task", "ts-classify", "--data", str(train_file), "--epochs", "1", *TINY,
              "--run-dir", str(run_dir)])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["predict", str(run_dir), "1,2,3"])
    assert "series have 1 channels; the model was trained on 2" in capsys.readouterr().err


def test_bag_of_frames_is_blind_to_order_and_trains_on_a_users_files(tmp_path):
    torch.manual_seed(0)
    model = BagOfFrames(3, 4).eval()
    x, lengths = torch.randn(2, 6, 3), torch.tensor([6, 4])
    permuted = x.clone()
    permuted[0] = x[0, torch.randperm(6)]
    permuted[1, :4] = x[1, torch.randperm(4)]
    permuted[1, 4:] = 99.0  # padding is never read
    torch.testing.assert_close(model(permuted, lengths), model(x, lengths))
    run_dir = tmp_path / "run"
    cli.main(["train", "--task", "ts-classify", "--model", "bag-of-frames", "--epochs", "2", *TINY[4:],
              "--data", str(write_series(tmp_path / "train.ts", 60, seed=3)), "--run-dir", str(run_dir)])
    assert json.loads((run_dir / "test_metrics.json").read_text())["total"] > 0


def test_shuffled_frames_keep_each_series_frames_and_length_but_not_their_order():
    test = load_japanese_vowels().test
    shuffled = shuffled_frames(test, seed=2)
    assert torch.equal(shuffled.lengths, test.lengths) and torch.equal(shuffled.y, test.y)
    moved = 0
    for k, n in enumerate(test.lengths.tolist()):
        original, mixed = test.x[k, :n], shuffled.x[k, :n]
        assert torch.equal(original[original[:, 0].argsort()], mixed[mixed[:, 0].argsort()])
        moved += int(not torch.equal(original, mixed))
        assert torch.all(shuffled.x[k, n:] == 0)
    assert moved == len(test)
    assert torch.equal(shuffled_frames(test, seed=2).x, shuffled.x)  # the same order every time
    shuffled_splits = load_japanese_vowels(shuffle_frames=True)
    assert not torch.equal(shuffled_splits.test.x, test.x)


def test_input_noise_jitters_real_steps_in_training_only_and_only_for_time_series(tmp_path, monkeypatch, capsys):
    train_file = write_series(tmp_path / "train.ts", 30, seed=4)
    task = make_task(TrainConfig(task="ts-classify", data=train_file, input_noise=0.5, run_dir=tmp_path / "r",
                                 hidden_size=8, num_layers=1).resolved())
    model = task.create_model()
    seen = []
    monkeypatch.setattr(task, "logits", lambda m, batch: seen.append(batch["x"]) or m(batch["x"], batch["lengths"]))
    batch = task.collate(task.splits.train, list(range(10)), torch.device("cpu"))
    task.loss(model.train(), batch)
    task.loss(model.eval(), batch)
    jittered, clean = seen
    real = torch.arange(batch["x"].shape[1]) < batch["lengths"][:, None]
    difference = (jittered - batch["x"])[real]
    assert torch.equal(clean, batch["x"]) and torch.all((jittered - batch["x"])[~real] == 0)
    assert 0.4 < float(difference.std()) < 0.6  # about 500 draws: 6 standard errors
    with pytest.raises(SystemExit):
        cli.main(["train", "--task", "word-language", "--input-noise", "0.1", "--run-dir", str(tmp_path / "w")])
    assert "--input-noise jitters time series; task word-language has none" in capsys.readouterr().err

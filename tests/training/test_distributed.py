"""``rnnlab train`` under torchrun: 2 CPU processes (gloo, loopback) against 1, started by the tests themselves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data import load_mnist1d
from rnnlab.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or sys.platform == "win32",
                                reason="needs torch.distributed with gloo")

TRAIN, HELD_OUT = 192, 60


@pytest.fixture(scope="module")
def signal_files(tmp_path_factory) -> dict[str, Path]:
    """Real MNIST-1D signals as users' .npz files: 192 to train on (a multiple of the global batch), 60 held out."""
    data = load_mnist1d().train
    folder = tmp_path_factory.mktemp("signals")
    files = {}
    for name, (start, stop) in {"train": (0, TRAIN), "validation": (TRAIN, TRAIN + HELD_OUT),
                                "test": (TRAIN + HELD_OUT, TRAIN + 2 * HELD_OUT)}.items():
        files[name] = folder / f"{name}.npz"
        np.savez(files[name], x=data.x[start:stop, :, 0].numpy(), y=data.y[start:stop].numpy())
    return files


def _command(processes: int, files: dict[str, Path], run_dir: Path, epochs: int = 2) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    return launcher + ["-m", "rnnlab.cli", "train", "--task", "mnist1d", "--data", str(files["train"]),
                       "--validation-data", str(files["validation"]), "--test-data", str(files["test"]),
                       "--epochs", str(epochs), "--batch-size", "32", "--hidden-size", "12", "--num-layers", "1",
                       "--dropout", "0", "--lr", "1e-2", "--precision", "fp64", "--run-dir", str(run_dir)]


def _environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, env=_environment(), timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-12000:]
    return done.stdout


def _parameters(run_dir: Path, which: str = "last") -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / f"{which}.pt")["model"]


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def test_two_processes_equal_one_process_with_the_same_global_batch(signal_files, tmp_path):
    single, double = tmp_path / "one", tmp_path / "two"
    _run(_command(1, signal_files, single))
    printed = _run(_command(2, signal_files, double))
    assert printed.count("rnnlab train: mnist1d") == 1  # rank 0 alone prints
    assert "on 2 processes" in printed
    assert _max_difference(_parameters(single), _parameters(double)) <= 1e-6
    one = [json.loads(line) for line in (single / "metrics.jsonl").read_text().splitlines()]
    two = [json.loads(line) for line in (double / "metrics.jsonl").read_text().splitlines()]
    assert len(two) == 2  # rank 0 alone writes
    for a, b in zip(one, two):  # metrics reduced over the processes equal the single-process ones
        assert a["validation_accuracy"] == b["validation_accuracy"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-9)
    test_one = json.loads((single / "test_metrics.json").read_text())
    test_two = json.loads((double / "test_metrics.json").read_text())
    assert test_two["total"] == HELD_OUT and test_two["correct"] == test_one["correct"]


def test_an_interrupted_two_process_run_resumes_under_two_or_one_process(signal_files, tmp_path):
    uninterrupted = tmp_path / "uninterrupted"
    _run(_command(2, signal_files, uninterrupted, epochs=4))
    interrupted = tmp_path / "interrupted"
    job = subprocess.Popen(_command(2, signal_files, interrupted, epochs=4), env=_environment(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and job.poll() is None:
        metrics = interrupted / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 1 and (interrupted / "last.pt").exists():
            break
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGINT)
    job.communicate(timeout=120)
    saved = load_checkpoint(interrupted / "last.pt")["progress"]["epoch"]
    if saved == 4:
        pytest.skip("the run ended before it could be interrupted")
    for processes in (2, 1):
        copy = tmp_path / f"resumed-{processes}"
        subprocess.run(["cp", "-r", str(interrupted), str(copy)], check=True)
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
        _run(launcher + ["-m", "rnnlab.cli", "train", "--resume", str(copy)])
        assert _max_difference(_parameters(uninterrupted), _parameters(copy)) <= 1e-6


def test_bench_train_prints_throughput_and_efficiency_per_process_count(capsys):
    from rnnlab.bench.train import bench_train

    rows = bench_train(tasks=("mnist1d",), processes=(1, 2), steps=2)
    assert {(r["processes"], r["threads"]) for r in rows} >= {(1, 1), (2, 1)}
    assert all(r["samples_per_second"] > 0 and r["samples"] > 0 for r in rows)
    assert next(r for r in rows if r["processes"] == 1)["efficiency"] == 1.0
    assert "efficiency" in capsys.readouterr().out

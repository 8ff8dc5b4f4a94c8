"""A run is tied to its data, survives kills and divergence, and writes only valid JSON, shareable files."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import stat
from pathlib import Path

import pytest
import torch

from rnnlab import cli
from rnnlab.errors import ConfigError, DataError
from rnnlab.files import append_jsonl, atomic_write, fingerprint, write_json
from rnnlab.tasks import TextTask, TrainConfig
from rnnlab.training import load_run, train
from rnnlab.training.step import TrainingStep
from tests.helpers import words_tsv

TINY = dict(task="word-language", hidden_size=16, num_layers=1, batch_size=32, lr=1e-2, dropout=0.0)


@pytest.fixture(scope="module")
def words(tmp_path_factory) -> Path:
    """Real words of three languages as a user's TSV file."""
    return words_tsv(tmp_path_factory.mktemp("data") / "words.tsv", {"en", "de", "fr"}, 300)


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def _metrics(run_dir: Path) -> list[dict]:
    return [_strict_json(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _without_seconds(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def _exit(args, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(a) for a in args])
    return exit_info.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(words, tmp_path_factory) -> tuple[Path, Path]:
    """A run trained on a copy of ``words`` named by a relative path; returns (run, data file)."""
    folder = tmp_path_factory.mktemp("user")
    data = folder / "words.tsv"
    data.write_bytes(words.read_bytes())
    before = Path.cwd()
    os.chdir(folder)
    try:
        train(TrainConfig(data=Path("words.tsv"), epochs=1, run_dir=Path("run"), **TINY), progress_bar=False)
    finally:
        os.chdir(before)
    return folder / "run", data


def test_a_run_names_its_data_by_absolute_path_and_content(trained):
    run, data = trained
    assert json.loads((run / "config.json").read_text())["data"] == str(data)
    assert json.loads((run / "data.json").read_text()) == {"data": {
        "path": str(data), "bytes": data.stat().st_size, "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}}


def test_a_run_is_evaluated_from_any_folder(trained, tmp_path, monkeypatch, capsys):
    run, _ = trained
    monkeypatch.chdir(tmp_path)  # where no words.tsv is
    cli.main(["evaluate", str(run)])
    assert "accuracy" in capsys.readouterr().out


def test_changed_data_is_refused_and_the_run_is_left_as_it_was(trained, tmp_path, capsys):
    run, data = trained
    original = data.read_bytes()
    before = _snapshot(run)
    data.write_bytes(original + b"zzyzx\ten\n")
    try:
        for command in (["evaluate", run], ["train", "--resume", run]):
            code, err = _exit(command, capsys)
            assert code == 2 and err.count("\n") == 1
            assert err.startswith(f"rnnlab: error: {data}: not the data run {run} was trained on (--data then: "
                                  f"{len(original)} bytes")
            assert _snapshot(run) == before
    finally:
        data.write_bytes(original)


def test_other_data_gets_its_own_report_and_none_replaces_another(trained, words, tmp_path, capsys):
    run, _ = trained
    first, second = tmp_path / "a" / "more.tsv", tmp_path / "b" / "more.tsv"  # the same name, other contents
    lines = words.read_text().splitlines(keepends=True)
    for path, part in ((first, lines[:100]), (second, lines[100:250])):
        path.parent.mkdir()
        path.write_text("".join(part))
    cli.main(["evaluate", str(run), "--data", str(first)])
    report = run / "evaluation-more.json"
    kept = report.read_text()
    cli.main(["evaluate", str(run), "--data", str(second)])
    digest = hashlib.sha256(second.read_bytes()).hexdigest()
    other = run / f"evaluation-more-{digest[:8]}.json"
    assert report.read_text() == kept and json.loads(other.read_text())["data"] == str(second)
    assert json.loads(kept)["data"] == str(first)
    cli.main(["evaluate", str(run), "--data", str(first)])  # the same file again: its own report, rewritten
    assert sorted(p.name for p in run.glob("evaluation-more*.json")) == sorted([report.name, other.name])
    capsys.readouterr()


def test_resume_refuses_options_it_would_ignore(trained, capsys):
    run, _ = trained
    before = _snapshot(run)
    code, err = _exit(["train", "--resume", run, "--epochs", "5", "--lr", "1"], capsys)
    assert code == 2 and err == (f"rnnlab: error: --resume continues {run} with the options it was started with; "
                                 "--epochs, --lr cannot change them (start a new run to train with other options)\n")
    assert _snapshot(run) == before


@pytest.mark.parametrize("path,message", [
    ("/dev/zero", "not a regular file"), (".", "is a directory, not a data file"), ("missing.tsv", "no such file")])
def test_data_that_is_not_a_file_is_refused_before_reading(path, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, err = _exit(["train", "--task", "word-language", "--data", path, "--run-dir", "run"], capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_non_finite_update_is_skipped_and_leaves_everything_as_it_was():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    step = TrainingStep(model, optimizer, clip=1.0, ema=0.5)
    step(lambda: model(torch.randn(4, 3)).square().mean())
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    moments = {k: v.clone() for k, v in optimizer.state[model.weight].items()}
    averaged = {k: v.clone() for k, v in step.averaged.state_dict().items()}
    loss, norm = step(lambda: model(torch.randn(4, 3)).sum() * math.nan)
    assert math.isnan(loss.item()) and not math.isfinite(norm)
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert all(torch.equal(v, moments[k]) for k, v in optimizer.state[model.weight].items())
    assert all(torch.equal(v, averaged[k]) for k, v in step.averaged.state_dict().items())


def _diverging_from(call: int, monkeypatch) -> None:
    """Make the text task's loss NaN from its ``call``-th computation on."""
    calls = {"n": 0}
    original = TextTask.loss

    def loss(self, model, batch):
        calls["n"] += 1
        loss, count = original(self, model, batch)
        return (loss * math.nan if calls["n"] >= call else loss), count

    monkeypatch.setattr(TextTask, "loss", loss)


def test_divergence_stops_the_run_keeps_the_last_finite_checkpoint_and_writes_valid_json(words, trained, tmp_path,
                                                                                          monkeypatch, capsys):
    def command(run):
        return ["train", "--data", words, "--epochs", "3", "--run-dir", run, "--max-skipped-steps", "2",
                *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]]

    _diverging_from(1, monkeypatch)  # from the first update: nothing is saved
    code, err = _exit(command(tmp_path / "early"), capsys)
    assert code == 2 and err.endswith("updates in a row had a non-finite loss or gradient (epoch 1, batch 3); no "
                                      "checkpoint was saved; train a new run with a lower --lr (now 0.01) or --clip\n")
    assert sorted(p.name for p in (tmp_path / "early").iterdir()) == ["config.json", "data.json", "task.json"]

    monkeypatch.undo()
    steps = len(json.loads((trained[0] / "grad_norms.jsonl").read_text())["grad_norms"])  # per epoch, same data
    _diverging_from(steps + 3, monkeypatch)  # from the third update of the second epoch
    run = tmp_path / "late"
    code, err = _exit(command(run), capsys)
    assert code == 2 and err == (f"rnnlab: error: training diverged: 3 updates in a row had a non-finite loss or "
                                 f"gradient (epoch 2, batch 5); {run}'s checkpoints are those of epoch 1, the last "
                                 "finite one; train a new run with a lower --lr (now 0.01) or --clip\n")
    last = torch.load(run / "last.pt", weights_only=True)
    assert last["progress"]["epoch"] == 1 and all(v.isfinite().all() for v in last["model"].values())
    assert [r["epoch"] for r in _metrics(run)] == [1] and not (run / "test_metrics.json").exists()


def test_skipped_updates_are_counted_and_the_run_goes_on_within_the_limit(words, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = TextTask.loss

    def loss(self, model, batch):  # two NaN losses in the first epoch, then finite again
        calls["n"] += 1
        loss, count = original(self, model, batch)
        return loss * (math.nan if calls["n"] in (2, 3) else 1.0), count

    monkeypatch.setattr(TextTask, "loss", loss)
    summary = train(TrainConfig(data=words, epochs=2, run_dir=tmp_path / "run", **TINY), progress_bar=False)
    records = _metrics(tmp_path / "run")
    assert records[0]["skipped_steps"] == 2 and "skipped_steps" not in records[1]
    assert math.isfinite(records[0]["train_loss"]) and math.isfinite(summary["test_accuracy"])


def test_json_is_always_valid(tmp_path):
    write_json(tmp_path / "a.json", {"loss": math.nan, "rows": [math.inf, 1.0, {"x": -math.inf}]})
    append_jsonl(tmp_path / "b.jsonl", {"loss": math.nan})
    assert _strict_json((tmp_path / "a.json").read_text()) == {"loss": None, "rows": [None, 1.0, {"x": None}]}
    assert _strict_json((tmp_path / "b.jsonl").read_text()) == {"loss": None}


def test_sigterm_saves_like_ctrl_c_and_resume_completes(words, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = TextTask.loss

    def terminated(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 12:  # in the second epoch
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, model, batch)

    monkeypatch.setattr(TextTask, "loss", terminated)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(data=words, epochs=2, run_dir=run, **TINY), progress_bar=False)
    assert torch.load(run / "last.pt", weights_only=True)["progress"]["batch"] > 0
    monkeypatch.setattr(TextTask, "loss", original)
    whole = train(TrainConfig(data=words, epochs=2, run_dir=tmp_path / "whole", **TINY), progress_bar=False)
    resumed = train(TrainConfig(), resume=run, progress_bar=False)
    assert resumed["test_accuracy"] == whole["test_accuracy"]
    assert _without_seconds(_metrics(run)) == _without_seconds(_metrics(tmp_path / "whole"))


def test_a_run_killed_before_its_first_checkpoint_resumes_from_its_options(words, tmp_path, monkeypatch):
    original = TextTask.loss
    calls = {"n": 0}

    def crash(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise MemoryError("killed")  # as an out-of-memory kill would stop it
        return original(self, model, batch)

    monkeypatch.setattr(TextTask, "loss", crash)
    run = tmp_path / "run"
    with pytest.raises(MemoryError):
        train(TrainConfig(data=words, epochs=2, run_dir=run, **TINY), progress_bar=False)
    (run / ".last.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")  # what a kill -9 mid-write leaves
    assert sorted(p.name for p in run.iterdir()) == [".last.pt.k1ll3d.tmp", "config.json", "data.json",
                                                     "task.json"]
    monkeypatch.setattr(TextTask, "loss", original)
    resumed = train(TrainConfig(), resume=run, progress_bar=False)
    whole = train(TrainConfig(data=words, epochs=2, run_dir=tmp_path / "whole", **TINY), progress_bar=False)
    assert resumed["test_accuracy"] == whole["test_accuracy"] and not list(run.glob("*.tmp"))
    assert _without_seconds(_metrics(run)) == _without_seconds(_metrics(tmp_path / "whole"))


def test_a_directory_with_records_but_no_checkpoint_is_not_restarted(words, tmp_path, capsys):
    run = tmp_path / "run"
    train(TrainConfig(data=words, epochs=1, run_dir=run, **TINY), progress_bar=False)
    (run / "last.pt").unlink()
    (run / "best.pt").unlink()
    before = _snapshot(run)
    code, err = _exit(["train", "--resume", run], capsys)
    assert code == 2 and err == f"rnnlab: error: {run / 'last.pt'}: no such checkpoint\n"
    assert _snapshot(run) == before


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_written_atomically_get_the_umask_mode(umask, tmp_path):
    previous = os.umask(umask)
    try:
        atomic_write(tmp_path / "a.pt", lambda tmp: tmp.write_bytes(b"x"))
        (tmp_path / "b.txt").write_text("x")  # as open() creates a file
    finally:
        os.umask(previous)
    modes = [stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("a.pt", "b.txt")]
    assert modes == [0o666 & ~umask] * 2


def test_progress_bars_stay_off_a_pipe_and_quiet_prints_the_final_line(words, tmp_path, capsys):
    cli.main(["train", "--data", str(words), "--epochs", "1", "--run-dir", str(tmp_path / "run"), "--quiet",
              *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]])
    out, err = capsys.readouterr()
    assert err == "" and out.count("\n") == 1 and out.startswith("test accuracy ")
    train(TrainConfig(data=words, epochs=1, run_dir=tmp_path / "loud", **TINY), progress_bar=True)
    out, err = capsys.readouterr()
    assert "epoch   1" in out and err == ""  # standard error is not a terminal here: no bars


def test_fingerprint_reads_the_content():
    with pytest.raises(DataError, match="not a regular file"):
        fingerprint(Path("/dev/null"))


def test_a_run_trained_on_a_gpu_loads_where_there_is_none(trained, tmp_path):
    run, _ = trained
    gpu_run = tmp_path / "gpu-run"
    gpu_run.mkdir()
    for path in run.iterdir():
        if path.is_file():
            (gpu_run / path.name).write_bytes(path.read_bytes())
    config = json.loads((gpu_run / "config.json").read_text())
    (gpu_run / "config.json").write_text(json.dumps({**config, "device": "cuda"}))
    loaded, _, model = load_run(gpu_run)  # device="auto": what this machine has
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert loaded.device == "auto" and next(model.parameters()).device.type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="--device cuda: no CUDA device is available"):
            load_run(gpu_run, device="cuda")


@pytest.mark.parametrize("command,message", [
    (["evaluate", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["diagnose", "--batch-size", "0"], "--batch-size and --jacobian-sequences must be at least 1, got 0 and 4"),
    (["generate", "--temperature", "nan"], "--temperature a finite positive number, got 10 and nan"),
    (["generate", "--top-p", "nan"], "--top-p in (0, 1]"),
])
def test_options_of_the_commands_that_use_a_run_are_checked_first(command, message, trained, capsys):
    run, _ = trained
    before = _snapshot(run)
    code, err = _exit([command[0], run, *command[1:]], capsys)
    assert code == 2 and err.startswith("rnnlab: error: ") and message in err and err.count("\n") == 1
    assert _snapshot(run) == before


def test_predict_output_is_never_replaced_without_force_nor_written_into_a_missing_folder(trained, tmp_path, capsys):
    run, _ = trained
    kept = tmp_path / "out.txt"
    kept.write_text("mine\n")
    code, err = _exit(["predict", run, "hello", "--output", kept], capsys)
    assert code == 2 and err == f"rnnlab: error: --output {kept}: already exists; give --force to replace it\n"
    assert kept.read_text() == "mine\n"
    missing = tmp_path / "nowhere" / "out.txt"
    code, err = _exit(["predict", run, "hello", "--output", missing], capsys)
    assert code == 2 and err == f"rnnlab: error: --output {missing}: no such folder {missing.parent}\n"
    cli.main(["predict", str(run), "hello", "--output", str(kept), "--force"])
    assert kept.read_text().startswith("hello")

"""The training workflow end to end on small real slices: train, checkpoint, evaluate, predict, resume."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import cli
from rnnlab.data import load_mnist1d, load_stress
from rnnlab.tasks import TaggingTask, TrainConfig, make_task
from rnnlab.training import load_run, train
from tests.helpers import words_tsv

TINY = dict(hidden_size=16, num_layers=1, batch_size=32, lr=1e-2, dropout=0.0)


@pytest.fixture(scope="module")
def signal_file(tmp_path_factory) -> Path:
    """300 real MNIST-1D training signals as a user's .npz file."""
    train_split = load_mnist1d().train
    path = tmp_path_factory.mktemp("data") / "signals.npz"
    np.savez(path, x=train_split.x[:300, :, 0].numpy(), y=train_split.y[:300].numpy())
    return path


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    """Real words of three languages as a user's TSV file."""
    return words_tsv(tmp_path_factory.mktemp("data") / "words.tsv", {"en", "de", "fr"}, 600)


def stress_conllu(path: Path, sentences: int, xpos=lambda word: "_") -> Path:
    """The first ``sentences`` CMUdict stress examples as a CoNLL-U file, each word's XPOS ``xpos(word)``."""
    data = load_stress().train
    blocks = ["\n".join(f"{k}\t{w}\t_\t{t}\t{xpos(w)}\t_\t_\t_\t_\t_" for k, (w, t) in enumerate(zip(words, tags), 1))
              for words, tags in list(zip(data.sentences, data.tags))[:sentences]]
    path.write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tagged_file(tmp_path_factory) -> Path:
    """Real CMUdict stress examples as a user's CoNLL-U file."""
    return stress_conllu(tmp_path_factory.mktemp("data") / "stress.conllu", 400)


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


CASES = {
    "signal": ("mnist1d", "signal_file"),
    "text": ("word-language", "text_file"),
    "tagging": ("stress", "tagged_file"),
}


@pytest.mark.parametrize("kind", CASES)
def test_train_writes_a_complete_run_and_the_loss_falls(kind, tmp_path, request):
    task, fixture = CASES[kind]
    data = request.getfixturevalue(fixture)
    run_dir = tmp_path / "run"
    summary = train(TrainConfig(task=task, data=data, epochs=4, run_dir=run_dir, **TINY), progress_bar=False)
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "task.json", "metrics.jsonl", "last.pt", "best.pt", "learning_curve.png",
            "test_metrics.json"} <= names
    records = _metrics(run_dir)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    test = json.loads((run_dir / "test_metrics.json").read_text())
    assert test["accuracy"] == summary["test_accuracy"] and test["total"] > 0
    assert (run_dir / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("kind", CASES)
def test_parallel_scan_cells_train_on_every_kind_of_task_from_the_command_line(cell, kind, tmp_path, request, capsys):
    task, fixture = CASES[kind]
    run_dir = tmp_path / "run"
    cli.main(["train", "--task", task, "--data", str(request.getfixturevalue(fixture)), "--cell", cell,
              "--epochs", "4", "--hidden-size", "16", "--num-layers", "2", "--batch-size", "32", "--lr", "1e-2",
              "--run-dir", str(run_dir)])
    records = _metrics(run_dir)
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert json.loads((run_dir / "config.json").read_text())["cell"] == cell
    capsys.readouterr()
    cli.main(["evaluate", str(run_dir)])
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("option", ["--recurrent-dropout", "--zoneout", "--weight-drop"])
@pytest.mark.parametrize("kind", ["text", "tagging"])
def test_recurrent_regularisers_train_from_the_command_line_and_the_saved_run_keeps_them(option, kind, tmp_path,
                                                                                      request, capsys):
    task, fixture = CASES[kind]
    run_dir = tmp_path / "run"
    cli.main(["train", "--task", task, "--data", str(request.getfixturevalue(fixture)), option, "0.3",
              "--epochs", "3", "--hidden-size", "16", "--num-layers", "2", "--batch-size", "32", "--lr", "1e-2",
              "--run-dir", str(run_dir)])
    records = _metrics(run_dir)
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    name = option[2:].replace("-", "_")
    assert json.loads((run_dir / "config.json").read_text())[name] == 0.3
    _, _, model = load_run(run_dir, device="cpu")
    layers = [m for m in model.modules() if isinstance(m, rnnlab.Recurrent)]
    assert layers and all(getattr(m, name) == 0.3 for m in layers)
    test = json.loads((run_dir / "test_metrics.json").read_text())
    capsys.readouterr()
    cli.main(["evaluate", str(run_dir)])  # zoneout's evaluation is its expectation: the same number again
    assert f"{test['accuracy']:.4f}" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["text", "tagging"])
def test_merge_mode_joins_the_encoders_directions_from_the_command_line(kind, tmp_path, request):
    task, fixture = CASES[kind]
    run_dir = tmp_path / "run"
    cli.main(["train", "--task", task, "--data", str(request.getfixturevalue(fixture)), "--merge-mode", "ave",
              "--bidirectional", "True", "--pooling", "last", "--epochs", "2", "--hidden-size", "16",
              "--batch-size", "32", "--run-dir", str(run_dir)])
    _, _, model = load_run(run_dir, device="cpu")
    assert model.encoder.merge_mode == "ave" and model.encoder.output_size == 16
    head = model.head if isinstance(model.head, torch.nn.Linear) else model.head[-1]
    assert head.in_features == 16


def test_merge_mode_needs_a_bidirectional_classifier_or_tagger(text_file, tmp_path, capsys):
    for options, message in ((["--task", "word-language", "--bidirectional", "False"], "add --bidirectional True"),
                             (["--task", "word-generation"], "--merge-mode is for classifiers and taggers")):
        with pytest.raises(SystemExit):
            cli.main(["train", *options, "--data", str(text_file), "--merge-mode", "sum",
                      "--run-dir", str(tmp_path / "x")])
        assert message in capsys.readouterr().err


def test_a_regulariser_the_model_cannot_take_is_refused_by_name(text_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "--task", "word-language", "--data", str(text_file), "--cell", "minlstm",
                  "--weight-drop", "0.2", "--run-dir", str(tmp_path / "a")])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert "--cell minlstm: " in error and "MinLSTMCell has none" in error and "Traceback" not in error
    with pytest.raises(SystemExit):
        cli.main(["train", "--task", "word-language", "--data", str(text_file), "--zoneout", "1.0",
                  "--run-dir", str(tmp_path / "b")])
    assert "--zoneout must be in [0, 1), got 1.0" in capsys.readouterr().err


def test_a_tasks_weight_drop_applies_only_where_there_are_recurrent_matrices():
    assert TrainConfig(task="mnist1d").resolved().weight_drop == 0.2  # the task's default
    assert TrainConfig(task="mnist1d", weight_drop=0.0).resolved().weight_drop == 0.0
    assert TrainConfig(task="mnist1d", cell="lstm", weight_drop=0.4).resolved().weight_drop == 0.4
    assert TrainConfig(task="mnist1d", cell="mingru").resolved().weight_drop == 0.0  # parallel scan: none
    assert TrainConfig(task="mnist1d", model="mlp").resolved().weight_drop == 0.0  # no recurrent layer
    assert TrainConfig(task="word-language").resolved().weight_drop == 0.0


def test_a_saved_run_from_before_an_option_keeps_it_off():
    """A run's config.json written before --weight-drop and --second-tag-weight trained without them, whatever
    its task's default is now."""
    for task, name in (("mnist1d", "weight_drop"), ("upos", "second_tag_weight")):
        saved = TrainConfig(task=task).resolved().to_dict()
        assert saved[name] > 0  # the task's default now
        del saved[name]
        assert getattr(TrainConfig.from_dict(saved).resolved(saved=True), name) == 0.0


@pytest.mark.parametrize("cell", ["lstm-peephole", "lstm-ln", "gru-ln", "mgu"])
def test_the_cell_variants_train_a_tagger_from_the_command_line(cell, tagged_file, tmp_path):
    run_dir = tmp_path / "run"
    cli.main(["train", "--task", "stress", "--data", str(tagged_file), "--cell", cell, "--epochs", "2",
              "--hidden-size", "16", "--num-layers", "1", "--batch-size", "32", "--lr", "1e-2",
              "--run-dir", str(run_dir)])
    records = _metrics(run_dir)
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    _, _, model = load_run(run_dir, device="cpu")
    assert type(model.encoder.cells()[0]).__name__ == {"lstm-peephole": "PeepholeLSTMCell", "lstm-ln":
                                                       "LayerNormLSTMCell", "gru-ln": "LayerNormGRUCell",
                                                       "mgu": "MGUCell"}[cell]


def test_resume_drops_log_lines_of_epochs_its_checkpoint_does_not_hold(signal_file, tmp_path):
    run_dir = tmp_path / "run"
    train(TrainConfig(task="mnist1d", data=signal_file, epochs=2, run_dir=run_dir, **TINY), progress_bar=False)
    with open(run_dir / "metrics.jsonl", "a") as log:  # as if stopped after logging epoch 3, before its checkpoint
        log.write(json.dumps({"epoch": 3, "train_loss": 0.0, "validation_accuracy": 0.0}) + "\n")
    saved = json.loads((run_dir / "config.json").read_text())
    del saved["warmup"]  # a run written before --warmup existed resumes with the schedule it was trained on
    (run_dir / "config.json").write_text(json.dumps(saved))
    train(TrainConfig(), resume=run_dir, progress_bar=False)
    assert [r["epoch"] for r in _metrics(run_dir)] == [1, 2]


@pytest.mark.parametrize("warmup", [0.0, 0.5])
def test_the_learning_rate_peaks_when_the_warmup_ends(warmup, signal_file, tmp_path):
    config = TrainConfig(task="mnist1d", data=signal_file, epochs=4, warmup=warmup, run_dir=tmp_path / "run", **TINY)
    train(config, progress_bar=False)
    lrs = [r["lr"] for r in _metrics(tmp_path / "run")]  # each epoch's last learning rate
    if warmup == 0:
        assert lrs == sorted(lrs, reverse=True) and lrs[0] > 0.8 * TINY["lr"]  # falls from the first step
    else:
        assert max(lrs) == lrs[1] and lrs[1] > 0.99 * TINY["lr"] and lrs[0] < 0.6 * TINY["lr"]  # peak at half time


@pytest.mark.parametrize("warmup_steps", [1, 1.5])
def test_a_warmup_shorter_than_two_steps_starts_at_the_peak(warmup_steps, signal_file, tmp_path):
    config = TrainConfig(task="mnist1d", data=signal_file, epochs=2, run_dir=tmp_path / "run", **TINY).resolved()
    steps = 2 * math.ceil(len(make_task(config).splits.train) / config.batch_size)
    train(dataclasses.replace(config, warmup=warmup_steps / steps), progress_bar=False)
    train(dataclasses.replace(config, warmup=0.0, run_dir=tmp_path / "none"), progress_bar=False)
    # the same schedule as no warm-up at all: every epoch ends at the same rate
    assert [r["lr"] for r in _metrics(tmp_path / "run")] == [r["lr"] for r in _metrics(tmp_path / "none")]


def test_evaluate_and_predict_use_the_saved_run(signal_file, text_file, tagged_file, tmp_path, capsys):
    runs = {}
    for kind, (task, _fixture) in CASES.items():
        data = {"signal": signal_file, "text": text_file, "tagging": tagged_file}[kind]
        runs[kind] = tmp_path / kind
        train(TrainConfig(task=task, data=data, epochs=1, run_dir=runs[kind], **TINY), progress_bar=False)
    capsys.readouterr()

    cli.main(["evaluate", str(runs["text"]), "--data", str(text_file)])
    assert "accuracy" in capsys.readouterr().out
    report = json.loads((runs["text"] / "evaluation-words.json").read_text())
    assert set(report["per_label"]) == {"de", "en", "fr"} and report["total"] == 600

    cli.main(["predict", str(runs["text"]), "haus", "maison", "--top-k", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("haus\t") and lines[0].count("(") == 2

    signal_values = ",".join(f"{v:.3f}" for v in np.load(signal_file)["x"][0])
    cli.main(["predict", str(runs["signal"]), signal_values, "--top-k", "1"])
    assert capsys.readouterr().out.count("(") == 1
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, x=np.load(signal_file)["x"][:3])
    cli.main(["predict", str(runs["signal"]), "--file", str(unlabelled), "--top-k", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["unlabelled.npz[0]", "unlabelled.npz[1]", "unlabelled.npz[2]"]

    cli.main(["predict", str(runs["tagging"]), "K AE T", "D AO G Z"])
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines() if line]
    assert [r[1] for r in rows] == ["K", "AE", "T", "D", "AO", "G", "Z"]
    assert all(r[3] in {"0", "1", "2", "none"} for r in rows)


def test_predict_fills_the_upos_column_of_a_conllu_file(tagged_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(TrainConfig(task="stress", data=tagged_file, epochs=1, run_dir=run_dir, **TINY), progress_bar=False)
    source = tmp_path / "in.conllu"
    source.write_text("# sent_id = 1\n# text = K AE-T\n1\tK\t_\t_\t_\t_\t_\t_\t_\t_\n"
                      "2-3\tAE-T\t_\t_\t_\t_\t_\t_\t_\t_\n2\tAE\t_\t_\t_\t_\t_\t_\t_\t_\n"
                      "3\tT\t_\t_\t_\t_\t_\t_\t_\t_\n3.1\tX\t_\t_\t_\t_\t_\t_\t_\t_\n\n", encoding="utf-8")
    out = tmp_path / "out.conllu"
    cli.main(["predict", str(run_dir), "--file", str(source), "--output", str(out)])
    lines = out.read_text().splitlines()
    assert lines[0] == "# sent_id = 1" and lines[1] == "# text = K AE-T"
    columns = [line.split("\t") for line in lines[2:] if line]
    assert [c[0] for c in columns] == ["1", "2-3", "2", "3", "3.1"]
    assert all(c[3] in {"0", "1", "2", "none"} for c in columns if c[0] in {"1", "2", "3"})
    assert columns[1][3] == "_" and columns[4][3] == "_"


def test_same_seed_gives_the_same_metrics(text_file, tmp_path):
    a = train(TrainConfig(task="word-language", data=text_file, epochs=2, run_dir=tmp_path / "a", **TINY),
              progress_bar=False)
    b = train(TrainConfig(task="word-language", data=text_file, epochs=2, run_dir=tmp_path / "b", **TINY),
              progress_bar=False)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in _metrics(tmp_path / "a")]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in _metrics(tmp_path / "b")]
    assert a["test_accuracy"] == b["test_accuracy"]


def test_compile_trains_to_the_eager_runs_losses_and_keeps_plain_checkpoints(signal_file, tmp_path):
    import torch._inductor.config

    # 240 training signals in batches of 40: one shape, compiled once
    options = dict(task="mnist1d", data=signal_file, epochs=1, **{**TINY, "batch_size": 40})
    eager = train(TrainConfig(run_dir=tmp_path / "eager", **options), progress_bar=False, quiet=True)
    # no pool of compile workers left running; weight-drop's masks drawn by torch's generator, as in eager
    with torch._inductor.config.patch(compile_threads=1, fallback_random=True):
        compiled = train(TrainConfig(run_dir=tmp_path / "compiled", compile=True, **options), progress_bar=False,
                         quiet=True)
    assert abs(_metrics(tmp_path / "compiled")[0]["train_loss"] - _metrics(tmp_path / "eager")[0]["train_loss"]) < 1e-6
    assert compiled["test_accuracy"] == eager["test_accuracy"]
    assert json.loads((tmp_path / "compiled" / "config.json").read_text())["compile"] is True
    _, _, model = load_run(tmp_path / "compiled")  # the checkpoint is the model's own state_dict
    assert not any(name.startswith("_orig_mod") for name in model.state_dict())


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_ctrl_c_saves_and_resume_reaches_the_uninterrupted_result(ema, tagged_file, tmp_path, monkeypatch):
    options = dict(task="stress", data=tagged_file, epochs=3, ema=ema, **{**TINY, "dropout": 0.2, "num_layers": 2})
    whole = train(TrainConfig(run_dir=tmp_path / "whole", **options), progress_bar=False)

    calls = {"n": 0}
    original = TaggingTask.loss

    def interrupting_loss(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 15:  # in the middle of the second epoch
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, model, batch)

    monkeypatch.setattr(TaggingTask, "loss", interrupting_loss)
    run_dir = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(run_dir=run_dir, **options), progress_bar=False)
    saved = torch.load(run_dir / "last.pt", weights_only=True)
    assert saved["progress"]["epoch"] == 1 and saved["progress"]["batch"] > 0
    monkeypatch.setattr(TaggingTask, "loss", original)

    resumed = train(TrainConfig(), resume=run_dir, progress_bar=False)
    assert resumed["test_accuracy"] == whole["test_accuracy"]
    strip = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert strip(_metrics(run_dir)) == strip(_metrics(tmp_path / "whole"))
    if ema:
        final = [torch.load(d / "last.pt", weights_only=True)["averaged"] for d in (run_dir, tmp_path / "whole")]
        assert final[0].keys() == final[1].keys() and all(torch.equal(final[0][k], final[1][k]) for k in final[0])


def test_the_weight_average_follows_its_formula_and_later_commands_use_it(tagged_file, tmp_path, monkeypatch):
    decay = 0.8
    config = TrainConfig(task="stress", data=tagged_file, epochs=2, ema=decay, precision="fp64",
                         run_dir=tmp_path / "run", **{**TINY, "dropout": 0.2})
    seen = []  # the raw weights before every training update
    original = TaggingTask.loss

    def recording_loss(self, model, batch):
        if model.training:
            seen.append([p.detach().clone() for p in model.parameters()])
        return original(self, model, batch)

    monkeypatch.setattr(TaggingTask, "loss", recording_loss)
    train(config, progress_bar=False)
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    _, _, model = load_run(tmp_path / "run", "last")
    names = [name for name, _ in model.named_parameters()]
    after_updates = seen[1:] + [[last["model"][name] for name in names]]  # weights after update 1, 2, ..., N
    average = [w.clone() for w in after_updates[0]]  # the average starts at the weights after the first update
    for weights in after_updates[1:]:
        average = [decay * a + (1 - decay) * w for a, w in zip(average, weights)]
    assert last["averaged"]["n_averaged"].item() == len(after_updates)
    for name, a in zip(names, average):
        torch.testing.assert_close(last["averaged"][f"module.{name}"], a, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(model.state_dict()[name], a.to(torch.float32))  # what evaluate/predict load
    assert any(not torch.equal(last["model"][name], last["averaged"][f"module.{name}"]) for name in names)


@pytest.mark.parametrize("model,fixture,task", [("mlp", "signal_file", "mnist1d"),
                                                ("bag-of-chars", "text_file", "word-language"),
                                                ("char-ngram", "text_file", "word-language")])
def test_order_blind_baselines_train_through_the_same_workflow(model, fixture, task, tmp_path, request):
    data = request.getfixturevalue(fixture)
    summary = train(TrainConfig(task=task, model=model, data=data, epochs=3, run_dir=tmp_path / "run", **TINY),
                    progress_bar=False)
    records = _metrics(tmp_path / "run")
    assert records[-1]["train_loss"] < records[0]["train_loss"] and 0 <= summary["test_accuracy"] <= 1


def test_a_baseline_that_does_not_fit_the_task_is_refused():
    from rnnlab.tasks import ConfigError

    with pytest.raises(ConfigError, match="--model mlp does not fit task stress"):
        TrainConfig(task="stress", model="mlp").resolved()


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_a_taggers_loss_smooths_its_labels_as_asked(tagged_file, smoothing):
    config = TrainConfig(task="stress", data=tagged_file, label_smoothing=smoothing, **TINY).resolved()
    task = make_task(config)
    model = task.build_model().eval()
    batch = task.collate(task.splits.train, list(range(8)), torch.device("cpu"))
    loss, count = task.loss(model, batch)
    logits = task.logits(model, batch)
    mask = torch.arange(logits.shape[1]) < batch["lengths"].unsqueeze(1)
    expected = torch.nn.functional.cross_entropy(logits[mask], batch["y"][mask], label_smoothing=smoothing)
    assert count == int(batch["lengths"].sum())
    torch.testing.assert_close(loss, expected)


@pytest.fixture(scope="module")
def xpos_file(tmp_path_factory) -> Path:
    """Real CMUdict stress examples as a CoNLL-U file whose XPOS column gives each phoneme's vowel-ness."""
    return stress_conllu(tmp_path_factory.mktemp("data") / "xpos.conllu", 300,
                         lambda word: "V" if word[0] in "AEIOU" else "C")


def test_a_second_tag_set_adds_its_weighted_loss_in_training_only(xpos_file):
    weight = 0.7
    config = TrainConfig(task="stress", data=xpos_file, second_tag_weight=weight, **TINY).resolved()
    task = make_task(config)
    assert task.second_tags == ["C", "V"]
    model = task.build_model()
    batch = task.collate(task.splits.train, list(range(8)), torch.device("cpu"))
    mask = torch.arange(batch["y"].shape[1]) < batch["lengths"].unsqueeze(1)
    torch.manual_seed(0)
    loss, _ = task.loss(model.train(), batch)
    torch.manual_seed(0)  # the same dropout masks
    logits, second = model(batch["words"], batch["chars"], batch["lengths"], second=True)
    cross_entropy = torch.nn.functional.cross_entropy
    expected = cross_entropy(logits[mask], batch["y"][mask]) + weight * cross_entropy(second[mask],
                                                                                     batch["y_second"][mask])
    torch.testing.assert_close(loss, expected)
    model.eval()
    validation_loss, _ = task.loss(model, batch)
    torch.testing.assert_close(validation_loss, cross_entropy(model(batch["words"], batch["chars"],
                                                                    batch["lengths"])[mask], batch["y"][mask]))
    plain = make_task(TrainConfig(task="stress", data=xpos_file, **TINY).resolved())
    assert plain.second_tags == [] and plain.build_model().second_head is None  # off by default
    with pytest.raises(ValueError, match="without a second tag set"):
        plain.build_model()(batch["words"], batch["chars"], batch["lengths"], second=True)


def test_train_with_a_second_tag_set_from_the_command_line_predicts_the_first(xpos_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    cli.main(["train", "--task", "stress", "--data", str(xpos_file), "--second-tag-weight", "0.5", "--epochs", "2",
              "--hidden-size", "16", "--num-layers", "1", "--run-dir", str(run_dir), "--quiet"])
    state = json.loads((run_dir / "task.json").read_text())
    assert state["second_tags"] == ["C", "V"]
    _, task, model = load_run(run_dir)
    assert model.second_head.out_features == 2
    tagged = task.tag(model, [["AH", "B", "AW"]], torch.device("cpu"))
    assert len(tagged[0]) == 3 and set(tagged[0]) <= set(task.tags)

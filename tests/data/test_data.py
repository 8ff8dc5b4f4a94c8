"""The data layer: containers, vocabularies, batching, every loader, and every DataError path."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data import (
    DataError,
    SignalData,
    Splits,
    TaggedData,
    TextData,
    Vocabulary,
    ambiguous_words,
    load_mnist1d,
    load_stress,
    load_ud_ewt,
    load_word_language,
    pad,
    pad_chars,
    read_conllu,
    read_npz,
    read_tsv,
    teacher_forcing,
)
from rnnlab.data import mnist1d as mnist1d_module
from rnnlab.data.conllu_files import UD_EWT_ENV, UD_EWT_FILES, default_ud_ewt_root
from rnnlab.data.splitting import split_by_hash, stable_hash
from rnnlab.data.stress import phonemes_and_tags
from rnnlab.data.words import DEFAULT_LANGUAGES, is_latin_word

# ----------------------------------------------------------------------------- containers


def test_containers_have_a_length_and_refuse_mismatched_parts():
    assert len(SignalData(torch.zeros(3, 5, 2), torch.zeros(3, dtype=torch.long), ["a"])) == 3
    assert len(TextData(["a", "b"], ["x", "y"])) == 2
    assert len(TaggedData([["a", "b"]], [["X", "Y"]])) == 1
    with pytest.raises(DataError, match=r"x \(N, T, F\).*got x \(3, 5\)"):
        SignalData(torch.zeros(3, 5), torch.zeros(3, dtype=torch.long), [])
    with pytest.raises(DataError, match="2 texts and 1 labels"):
        TextData(["a", "b"], ["x"])
    with pytest.raises(DataError, match="one tag per token"):
        TaggedData([["a", "b"]], [["X"]])
    splits = Splits(train=1, validation=2, test=3)
    assert splits.validation == 2 and tuple(splits) == (1, 2, 3)


# ----------------------------------------------------------------------------- vocabularies


def test_vocabulary_reserves_pad_and_unk_and_orders_tokens_by_count():
    vocab = Vocabulary(["b", "a", "b", "c", "a", "b"])
    assert (Vocabulary.PAD, Vocabulary.UNK) == (0, 1)
    assert vocab.tokens == ["<pad>", "<unk>", "b", "a", "c"]
    assert vocab.encode(["a", "zzz", "b"]) == [3, Vocabulary.UNK, 2]
    assert vocab.decode([3, 1, 0]) == ["a", "<unk>", "<pad>"]
    assert vocab.decode(torch.tensor([2, 4])) == ["b", "c"]
    assert len(vocab) == 5 and "c" in vocab and "zzz" not in vocab


def test_vocabulary_min_count_sends_rare_tokens_to_unk():
    vocab = Vocabulary(["a", "a", "b", "<unk>"], min_count=2)
    assert vocab.tokens == ["<pad>", "<unk>", "a"]
    assert vocab.encode(["b"]) == [Vocabulary.UNK]
    with pytest.raises(DataError, match="min_count must be at least 1, got 0"):
        Vocabulary(["a"], min_count=0)
    with pytest.raises(DataError, match=r"id 7 is outside the vocabulary \(0..2\)"):
        vocab.decode([7])


def test_vocabulary_round_trips_through_json():
    vocab = Vocabulary("the cat sat on the mat".split())
    restored = Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored == vocab and restored.encode(["mat", "dog"]) == vocab.encode(["mat", "dog"])


def test_from_dict_refuses_what_to_dict_cannot_have_written():
    with pytest.raises(DataError, match=r"must start with \['<pad>', '<unk>'\]"):
        Vocabulary.from_dict({"tokens": ["a", "b"]})
    with pytest.raises(DataError, match="repeated entries"):
        Vocabulary.from_dict({"tokens": ["<pad>", "<unk>", "a", "a"]})


def test_pad_gives_a_rectangle_and_the_real_lengths():
    padded, lengths = pad([[5, 6, 7], [8], []], value=0)
    assert padded.dtype == torch.long and padded.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert lengths.tolist() == [3, 1, 0]
    padded, lengths = pad([torch.ones(2, 4), torch.ones(5, 4)], value=-1)
    assert padded.shape == (2, 5, 4) and padded.dtype == torch.float32 and (padded[0, 2:] == -1).all()
    assert lengths.tolist() == [2, 5]
    with pytest.raises(DataError, match="no sequences"):
        pad([])


def test_pad_chars_pads_words_and_sentences_and_marks_padding_words_by_length_zero():
    chars, word_lengths = pad_chars([[[3, 4], [5]], [[6, 7, 8]], []])
    assert chars.shape == (3, 2, 3) and word_lengths.shape == (3, 2)
    assert chars[0].tolist() == [[3, 4, 0], [5, 0, 0]] and chars[1].tolist() == [[6, 7, 8], [0, 0, 0]]
    assert word_lengths.tolist() == [[2, 1], [3, 0], [0, 0]]
    assert (chars[word_lengths == 0] == 0).all()
    safe = word_lengths.clamp(min=1)
    assert (safe <= chars.shape[-1]).all()
    assert pad_chars([[], []])[0].shape == (2, 0, 1)  # C >= 1 even with no words at all
    with pytest.raises(DataError, match="word 1 of sentence 0 has no characters"):
        pad_chars([[[1], []]])


def test_stable_hash_is_fixed_across_processes_and_seeds_change_it():
    assert stable_hash("word", 0) == 5585052836302252351  # a change here would move every split
    assert stable_hash("word", 1) != stable_hash("word", 0)


def test_split_by_hash_partitions_with_exact_sizes():
    keys = [f"k{i}" for i in range(100)]
    train, validation, test = split_by_hash(keys, (0.8, 0.1, 0.1), seed=0)
    assert (len(train), len(validation), len(test)) == (80, 10, 10)
    assert sorted(train + validation + test) == list(range(100))
    assert split_by_hash(keys, (0.8, 0.1, 0.1), seed=0) == (train, validation, test)
    assert split_by_hash(keys, (0.8, 0.1, 0.1), seed=1)[2] != test


# ----------------------------------------------------------------------------- MNIST-1D


@pytest.fixture(scope="module")
def mnist():
    return load_mnist1d()


def test_mnist1d_has_its_standard_sizes_shapes_and_classes(mnist):
    assert [len(part) for part in mnist] == [3500, 500, 1000]
    for part in mnist:
        assert part.x.dtype == torch.float32 and part.x.shape[1:] == (40, 1)
        assert part.y.dtype == torch.long and set(part.y.tolist()) == set(range(10))
        assert part.classes == [str(d) for d in range(10)]


def test_mnist1d_validation_is_a_seeded_slice_of_train(mnist):
    train_rows = {row.numpy().tobytes() for row in mnist.train.x}
    assert not any(row.numpy().tobytes() in train_rows for row in mnist.validation.x)
    assert torch.equal(load_mnist1d(seed=0).validation.x, mnist.validation.x)
    other = load_mnist1d(seed=1, validation_size=100)
    assert len(other.train) + len(other.validation) == 4000 and len(other.validation) == 100
    assert not torch.equal(other.validation.x, mnist.validation.x[:100])
    with pytest.raises(DataError, match="validation_size must be in 0..3999, got 4000"):
        load_mnist1d(validation_size=4000)


def test_mnist1d_generation_leaves_the_global_random_generators_alone(mnist):
    mnist1d_module._generate.cache_clear()  # make the next call really run make_dataset
    np.random.seed(123)
    random.seed(123)
    numpy_before, python_before = np.random.get_state()[1].copy(), random.getstate()
    regenerated = load_mnist1d()
    assert (np.random.get_state()[1] == numpy_before).all() and random.getstate() == python_before
    assert torch.equal(regenerated.test.x, mnist.test.x)  # and generation is deterministic


def test_mnist1d_shuffle_seq_permutes_steps_but_keeps_values(mnist):
    shuffled = load_mnist1d(shuffle_seq=True)
    assert torch.equal(shuffled.test.y, mnist.test.y)
    assert not torch.equal(shuffled.test.x, mnist.test.x)
    assert torch.equal(shuffled.test.x.sort(dim=1).values, mnist.test.x.sort(dim=1).values)


# ----------------------------------------------------------------------------- word -> language


@pytest.fixture(scope="module")
def words():
    return load_word_language()


def test_word_language_is_balanced_in_every_split(words):
    assert len(DEFAULT_LANGUAGES) >= 10
    for part, size in zip(words, (2400, 300, 300)):
        assert Counter(part.labels) == {language: size for language in DEFAULT_LANGUAGES}


def test_word_language_words_are_lowercase_latin_letters_with_one_language_and_one_split(words):
    everything = [w for part in words for w in part.texts]
    assert len(everything) == len(set(everything))  # no word in two languages or two splits
    assert all(is_latin_word(w) and w == w.lower() for w in everything)
    assert is_latin_word("größe") and not is_latin_word("it's") and not is_latin_word("2nd")
    assert not is_latin_word("слово")
    ambiguous = ambiguous_words()
    assert {"de", "in", "film"} <= ambiguous and ambiguous.isdisjoint(everything)


def test_word_language_split_depends_only_on_the_seed(words):
    assert load_word_language() == words
    assert set(load_word_language(seed=1).test.texts) != set(words.test.texts)


def test_word_language_refuses_unknown_languages():
    with pytest.raises(DataError, match=r"wordfreq has no word list for \['xx'\]"):
        load_word_language(("en", "xx"))
    with pytest.raises(DataError, match="at least two distinct languages"):
        load_word_language(("en",))


# ----------------------------------------------------------------------------- stress

VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def test_phonemes_lose_their_stress_digit_to_the_tag():
    assert phonemes_and_tags(["AH0", "B", "AE1", "N", "D", "AH0", "N"]) == (
        ("AH", "B", "AE", "N", "D", "AH", "N"), ("0", "none", "1", "none", "none", "0", "none"))


@pytest.fixture(scope="module")
def stress():
    return load_stress()


def test_stress_tags_vowels_with_a_digit_and_consonants_with_none(stress):
    assert len(stress.train) > 90_000
    for phonemes, tags in zip(stress.validation.sentences, stress.validation.tags):
        assert len(phonemes) == len(tags) > 0
        for phoneme, tag in zip(phonemes, tags):
            assert tag in ("0", "1", "2") if phoneme in VOWELS else tag == "none"


def test_stress_split_is_90_5_5_without_a_pronunciation_in_two_splits(stress):
    total = sum(len(part) for part in stress)
    assert abs(len(stress.train) / total - 0.9) < 1e-3 and abs(len(stress.test) / total - 0.05) < 1e-3
    keys = [{" ".join(s) for s in part.sentences} for part in stress]
    assert sum(map(len, keys)) == total  # every pronunciation once, in one split
    assert load_stress().test == stress.test
    assert load_stress(seed=1).test != stress.test


# ----------------------------------------------------------------------------- CoNLL-U

SNIPPET = (
    "# newdoc id = demo\n"
    "# sent_id = 1\n"
    "# text = Don't go.\n"
    "1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "1\tDo\tdo\tAUX\t_\t_\t3\taux\t_\t_\n"
    "2\tn't\tnot\tPART\t_\tPolarity=Neg\t3\tadvmod\t_\t_\n"
    "3\tgo\tgo\tVERB\t_\t_\t0\troot\t_\t_\n"
    "3.1\tgone\tgo\tVERB\t_\t_\t_\t_\t3:ref\t_\n"
    "4\t.\t.\tPUNCT\t_\t_\t3\tpunct\t_\tSpaceAfter=No\n"
    "\n"
    "# sent_id = 2\n"
    "1\tYes\tyes\tINTJ\t_\t_\t0\troot\t_\t_\n"
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_conllu_keeps_multiword_parts_and_skips_ranges_empty_nodes_and_comments(tmp_path):
    data = read_conllu(write(tmp_path, "snippet.conllu", SNIPPET))
    assert data.sentences == [["Do", "n't", "go", "."], ["Yes"]]
    assert data.tags == [["AUX", "PART", "VERB", "PUNCT"], ["INTJ"]]
    assert data.second_tags is None  # no word has an XPOS


def test_conllu_reads_xpos_as_second_tags_only_where_every_word_has_one(tmp_path):
    tagged = SNIPPET.replace("\tAUX\t_", "\tAUX\tVBP").replace("\tPART\t_", "\tPART\tRB") \
        .replace("\tVERB\t_\t_\t0", "\tVERB\tVB\t_\t0").replace("\tPUNCT\t_", "\tPUNCT\t.")
    data = read_conllu(write(tmp_path, "xpos.conllu", tagged.replace("\tINTJ\t_", "\tINTJ\tUH")))
    assert data.second_tags == [["VBP", "RB", "VB", "."], ["UH"]]
    assert read_conllu(write(tmp_path, "some.conllu", tagged)).second_tags is None  # "Yes" has none
    with pytest.raises(DataError, match="one tag per token"):
        TaggedData([["a", "b"]], [["X", "Y"]], [["x"]])


@pytest.mark.parametrize("bad_line, line, problem", [
    ("3\tgo\tgo\tVERB\t_", 7, "expected 10 tab-separated columns, found 5"),
    ("x\tgo\tgo\tVERB\t_\t_\t0\troot\t_\t_", 7, "ID 'x' is not a word"),
    ("3\tgo\tgo\t_\t_\t_\t0\troot\t_\t_", 7, r"word 3 \('go'\) has no UPOS tag"),
    ("3  go  go  VERB  _  _  0  root  _  _", 7, "expected 10 tab-separated columns, found 1"),
])
def test_conllu_malformed_line_names_file_and_line(tmp_path, bad_line, line, problem):
    path = write(tmp_path, "bad.conllu", SNIPPET.replace("3\tgo\tgo\tVERB\t_\t_\t0\troot\t_\t_", bad_line))
    with pytest.raises(DataError, match=rf"bad\.conllu:{line}: {problem}"):
        read_conllu(path)


def test_conllu_missing_empty_and_non_utf8_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match=r"nope\.conllu: no such file"):
        read_conllu(tmp_path / "nope.conllu")
    with pytest.raises(DataError, match=r"empty\.conllu: no sentences"):
        read_conllu(write(tmp_path, "empty.conllu", ""))
    with pytest.raises(DataError, match=r"comments\.conllu: no sentences"):
        read_conllu(write(tmp_path, "comments.conllu", "# only a comment\n\n"))
    with pytest.raises(DataError, match=r"latin1\.conllu:5: not valid UTF-8"):
        read_conllu(write(tmp_path, "latin1.conllu", SNIPPET.encode("utf-8").replace(b"do\tAUX", b"d\xf6\tAUX")))
    with pytest.raises(DataError, match="is a directory"):
        read_conllu(tmp_path)


def test_ud_ewt_root_comes_from_the_environment_or_beside_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv(UD_EWT_ENV, raising=False)
    assert default_ud_ewt_root() == Path(__file__).resolve().parents[2].parent / "shared/data/ud-english-ewt"
    for name in UD_EWT_FILES.values():
        write(tmp_path, name, SNIPPET)
    monkeypatch.setenv(UD_EWT_ENV, str(tmp_path))
    assert [len(part) for part in load_ud_ewt()] == [2, 2, 2]
    with pytest.raises(DataError, match=rf"UD English EWT not found.*\${UD_EWT_ENV}"):
        load_ud_ewt(tmp_path / "absent")
    (tmp_path / UD_EWT_FILES["test"]).unlink()
    with pytest.raises(DataError, match=r"en_ewt-ud-test\.conllu: no such file"):
        load_ud_ewt(tmp_path)


def test_ud_ewt_loads_its_official_splits():
    if not default_ud_ewt_root().is_dir():
        pytest.skip(f"UD English EWT is not at {default_ud_ewt_root()} (set ${UD_EWT_ENV})")
    ewt = load_ud_ewt()
    assert [len(part) for part in ewt] == [12544, 2001, 2077]
    assert ewt.train.sentences[0][:3] == ["Al", "-", "Zaman"] and ewt.train.tags[0][:3] == ["PROPN", "PUNCT", "PROPN"]
    assert {tag for tags in ewt.train.tags for tag in tags} == {
        "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"}


# ----------------------------------------------------------------------------- .npz files


def npz(tmp_path: Path, **arrays) -> Path:
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def test_npz_signals_become_float32_n_t_f_with_named_classes(tmp_path):
    data = read_npz(npz(tmp_path, x=np.arange(12).reshape(3, 4), y=np.array([0, 3, 1])))
    assert data.x.shape == (3, 4, 1) and data.x.dtype == torch.float32
    assert data.y.tolist() == [0, 2, 1] and data.classes == ["0", "1", "3"]  # the classes present
    data = read_npz(npz(tmp_path, x=np.zeros((3, 4, 2), np.float64), y=np.array(["dog", "cat", "dog"])))
    assert data.x.shape == (3, 4, 2) and data.y.tolist() == [1, 0, 1] and data.classes == ["cat", "dog"]


@pytest.mark.parametrize("arrays, problem", [
    (dict(y=np.zeros(3, int)), r"no array 'x' \(arrays: y\)"),
    (dict(x=np.zeros((3, 4))), r"no array 'y' \(arrays: x\)"),
    (dict(x=np.zeros(3), y=np.zeros(3, int)), r"array 'x' must be \(N, T\) or \(N, T, F\), got shape \(3,\)"),
    (dict(x=np.zeros((3, 4)), y=np.zeros((3, 1), int)), r"array 'y' must be \(N,\), got shape \(3, 1\)"),
    (dict(x=np.zeros((3, 4)), y=np.zeros(2, int)), r"arrays 'x' \(3, 4\) and 'y' \(2,\) disagree on N"),
    (dict(x=np.zeros((0, 4)), y=np.zeros(0, int)), r"array 'x' is empty, shape \(0, 4\)"),
    (dict(x=np.array([["a", "b"]]), y=np.zeros(1, int)), r"array 'x' must be numeric.*got dtype <U1"),
    (dict(x=np.array([[1.0, 2.0], [np.nan, 0.0]]), y=np.zeros(2, int)),
     r"array 'x' \(2, 2\) contains NaN or infinite values \(first in sequence 1\)"),
    (dict(x=np.array([[np.inf, 2.0]]), y=np.zeros(1, int)),
     r"array 'x' \(1, 2\) contains NaN or infinite values$"),
    (dict(x=np.zeros((2, 2)), y=np.array([0.5, 1.0])),
     r"array 'y' must hold integer or string labels, got dtype float64"),
    (dict(x=np.zeros((2, 2)), y=np.array([0, -1])), r"array 'y' has negative label -1"),
    (dict(x=np.array([[1, None]], dtype=object), y=np.zeros(1, int)), r"array 'x' cannot be read \(Object arrays"),
])
def test_npz_problems_name_the_file_the_array_and_the_shapes(tmp_path, arrays, problem):
    with pytest.raises(DataError, match=rf"data\.npz: {problem}"):
        read_npz(npz(tmp_path, **arrays))


def test_npz_that_is_missing_or_not_an_archive_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"nope\.npz: no such file"):
        read_npz(tmp_path / "nope.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(DataError, match=r"single\.npy: a single array, not an \.npz archive"):
        read_npz(tmp_path / "single.npy")
    with pytest.raises(DataError, match=r"text\.npz: not an \.npz archive \(an \.npz file is a zip archive"):
        read_npz(write(tmp_path, "text.npz", "x,y\n1,2\n"))


# ----------------------------------------------------------------------------- TSV files


def test_tsv_reads_text_and_label_skipping_blank_lines(tmp_path):
    path = write(tmp_path, "words.tsv", b"\xef\xbb\xbfhaus\tde\r\n\n  \nhouse\ten\nmaison\tfr")
    assert read_tsv(path) == TextData(["haus", "house", "maison"], ["de", "en", "fr"])


@pytest.mark.parametrize("content, problem", [
    ("haus\tde\nhouse en\n", r"words\.tsv:2: expected text<TAB>label, found no tab"),
    ("haus\tde\n\nhouse\t \n", r"words\.tsv:3: empty label"),
    ("haus\tde\na\tb\tde\n", r"words\.tsv:2: expected text<TAB>label \(2 columns\), found 3 columns"),
    ("\tde\n", r"words\.tsv:1: empty text"),
    (b"haus\tde\nh\xe4us\tde\n", r"words\.tsv:2: not valid UTF-8"),
    ("", r"words\.tsv: no text<TAB>label lines"),
    ("\n\n", r"words\.tsv: no text<TAB>label lines"),
])
def test_tsv_problems_name_the_file_and_line(tmp_path, content, problem):
    with pytest.raises(DataError, match=problem):
        read_tsv(write(tmp_path, "words.tsv", content))


def test_tsv_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"nope\.tsv: no such file"):
        read_tsv(tmp_path / "nope.tsv")


def test_a_decoder_vocabulary_reserves_start_and_end_after_pad_and_unk():
    vocabulary = Vocabulary.with_sequence_marks(["K", "AE", "K", "</s>", "T"])
    assert vocabulary.tokens == ["<pad>", "<unk>", "<s>", "</s>", "K", "AE", "T"]
    assert Vocabulary.from_dict(vocabulary.to_dict()) == vocabulary


def test_teacher_forcing_shifts_each_sequence_behind_start_and_before_end():
    previous, next_tokens, lengths = teacher_forcing([[5, 6, 7], [8]], start=2, end=3)
    assert previous.tolist() == [[2, 5, 6, 7], [2, 8, 0, 0]]
    assert next_tokens.tolist() == [[5, 6, 7, 3], [8, 3, 0, 0]]
    assert lengths.tolist() == [4, 2]

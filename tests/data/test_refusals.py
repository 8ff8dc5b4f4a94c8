"""What the readers of users' files refuse, and the one line that says why: extra columns, header
rows, items over the length limits, files that never end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnlab.data import DataError, read_lexicon, read_npz, read_tsv
from rnnlab.data.limits import MAX_LINE_BYTES, MAX_PHONEMES, MAX_STEPS, MAX_TEXT_CHARS, MAX_WORD_CHARS
from rnnlab.data.textfile import read_lines

ROWS = [("hello", "en"), ("world", "en"), ("haus", "de"), ("welt", "de")]
LEXICON = "cat\tK AE T\nbat\tB AE T\ntab\tT AE B\n"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def tsv(rows) -> str:
    return "".join(f"{text}\t{label}\n" for text, label in rows)


def test_a_tsv_line_with_an_extra_column_is_refused_not_read_as_its_last_column(tmp_path):
    path = write(tmp_path, "words.tsv", tsv(ROWS) + "maison\tfr\tx\n")
    with pytest.raises(DataError) as raised:
        read_tsv(path)
    assert str(raised.value) == (f"{path}:5: expected text<TAB>label (2 columns), found 3 columns; "
                                 f"remove the extra tabs")


def test_a_tsv_header_row_is_refused_not_learned_as_a_class(tmp_path):
    path = write(tmp_path, "words.tsv", "word\tlanguage\n" + tsv(ROWS))
    with pytest.raises(DataError) as raised:
        read_tsv(path)
    assert str(raised.value) == (f"{path}:1: the first line looks like a header: 'language' occurs on no other "
                                 f"line; remove it (if it is an item, its class needs more than one example)")


def test_a_first_line_of_a_repeated_label_or_a_file_of_distinct_labels_is_data(tmp_path):
    assert len(read_tsv(write(tmp_path, "a.tsv", tsv(ROWS)))) == 4
    assert read_tsv(write(tmp_path, "b.tsv", "haus\tde\nmaison\tfr\ncasa\tes\n")).labels == ["de", "fr", "es"]
    assert read_tsv(write(tmp_path, "c.tsv", "\n\nhaus\tde\n")).texts == ["haus"]  # one line alone is an item


def test_a_text_over_the_limit_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, "words.tsv", tsv(ROWS) + "a" * (MAX_TEXT_CHARS + 1) + "\ten\n")
    with pytest.raises(DataError) as raised:
        read_tsv(path)
    assert str(raised.value) == (f"{path}:5: the text has 10,001 characters, more than the limit of 10,000; "
                                 f"shorten or split it")
    assert len(read_tsv(write(tmp_path, "ok.tsv", tsv(ROWS) + "a" * MAX_TEXT_CHARS + "\ten\n"))) == 5


def test_a_line_without_end_is_refused_after_the_line_limit(tmp_path):
    path = write(tmp_path, "zeros.tsv", b"\0" * (MAX_LINE_BYTES + 1))
    with pytest.raises(DataError) as raised:
        read_lines(path)
    assert str(raised.value) == (f"{path}:1: line longer than 1,048,576 bytes "
                                 f"(is this a text file of the task's format?)")
    assert read_lines(write(tmp_path, "full.tsv", b"a" * MAX_LINE_BYTES + b"\nb")) == ["a" * MAX_LINE_BYTES, "b"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_is_refused_instead_of_read_until_memory_runs_out():
    with pytest.raises(DataError, match=r"^/dev/zero:1: line longer than 1,048,576 bytes"):
        read_tsv("/dev/zero")
    with pytest.raises(DataError, match=r"^/dev/zero:1: line longer than"):
        read_lexicon("/dev/zero")


def test_a_directory_is_named_as_one(tmp_path):
    with pytest.raises(DataError, match=r"is a directory, not a file$"):
        read_tsv(tmp_path)


def test_a_lexicon_line_with_an_extra_column_or_a_header_is_refused(tmp_path):
    path = write(tmp_path, "lex.tsv", LEXICON + "act\tAE K T\tx\n")
    with pytest.raises(DataError) as raised:
        read_lexicon(path)
    assert str(raised.value) == (f"{path}:4: expected word<TAB>phonemes (2 columns), found 3 columns; "
                                 f"separate the phonemes with spaces")
    path = write(tmp_path, "lex.tsv", "word\tpronunciation\n" + LEXICON)
    with pytest.raises(DataError) as raised:
        read_lexicon(path)
    assert str(raised.value) == (f"{path}:1: the first line looks like a header: 'pronunciation' occurs on no "
                                 f"other line; remove it (if it is an item, its class needs more than one example)")
    assert read_lexicon(write(tmp_path, "two.tsv", "read\tR IY D\ncat\tK AE T\n")).sources == ["read", "cat"]


def test_a_lexicon_word_or_pronunciation_over_the_limit_is_refused(tmp_path):
    path = write(tmp_path, "lex.tsv", LEXICON + "ab" * 2500 + "\tAE B\n")
    with pytest.raises(DataError) as raised:
        read_lexicon(path)
    assert str(raised.value) == (f"{path}:4: the word 'abababababababababab'... has 5,000 letters, more than "
                                 f"the limit of 1,000; shorten or split it")
    path = write(tmp_path, "lex.tsv", LEXICON + "cat\t" + "K " * (MAX_PHONEMES + 1) + "\n")
    with pytest.raises(DataError, match=r"lex\.tsv:4: the pronunciation of 'cat' has 1,001 phonemes, more than"):
        read_lexicon(path)
    assert len(read_lexicon(write(tmp_path, "ok.tsv", LEXICON + "a" * MAX_WORD_CHARS + "\tAE\n"))) == 4


def test_sparse_integer_labels_are_the_classes_present_named_by_their_values(tmp_path):
    path = tmp_path / "sparse.npz"
    np.savez(path, x=np.zeros((6, 3)), y=np.array([0, 1, 100000, 100000, 1, 0]))
    data = read_npz(path)
    assert data.classes == ["0", "1", "100000"] and data.y.tolist() == [0, 1, 2, 2, 1, 0]


def test_a_file_that_is_not_an_npz_archive_gets_our_advice_not_numpys(tmp_path):
    path = write(tmp_path, "text.npz", "x,y\n1,2\n")
    with pytest.raises(DataError) as raised:
        read_npz(path)
    assert str(raised.value) == (f"{path}: not an .npz archive (an .npz file is a zip archive of arrays; "
                                 f"save one with np.savez(path, x=..., y=...))")
    assert "allow_pickle" not in str(raised.value)
    with pytest.raises(DataError, match=r"^/dev/zero: not an \.npz archive"):
        read_npz("/dev/zero")


def test_a_directory_given_as_npz_is_named_as_one(tmp_path):
    folder = tmp_path / "signals.npz"
    folder.mkdir()
    with pytest.raises(DataError) as raised:
        read_npz(folder)
    assert str(raised.value) == f"{folder}: is a directory, not a file"


def test_signals_over_the_step_limit_are_refused(tmp_path):
    path = tmp_path / "long.npz"
    np.savez(path, x=np.zeros((2, MAX_STEPS + 1), np.float32), y=np.array([0, 1]))
    with pytest.raises(DataError) as raised:
        read_npz(path)
    assert str(raised.value) == (f"{path}: array 'x': every sequence has 100,001 steps, more than the limit of "
                                 f"100,000; shorten or split it")

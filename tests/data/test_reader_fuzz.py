"""Fuzzing the readers of users' files and the checks of predict's inputs: whatever a file or an item
holds, the result is a container that keeps its invariants or a ``DataError``/``UsageError`` of one
line that names the file (or item), never another exception; no read hangs, and none reserves
memory for what a file only announces.

File contents mix valid-looking lines of each format with tabs, extra or missing columns, headers,
blank and comment lines, unicode, control characters, NUL bytes, invalid UTF-8 and items a little
over the limits of :mod:`rnnlab.data.limits`; archives mix ``np.savez`` of odd arrays with crafted
zip members, lying ``.npy`` headers, damaged bytes and raw bytes.  Items far over the limits (a
5 MB line, ``/dev/zero``) are deterministic tests beside the ones in ``test_refusals.py``.
"""

from __future__ import annotations

import contextlib
import io
import re
import signal
import struct
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rnnlab.data import DataError, read_conllu, read_lexicon, read_npz, read_tsv
from rnnlab.data.conllu_files import FIELDS, check_sentence, read_conllu_sentences
from rnnlab.data.limits import (
    MAX_LINE_BYTES,
    MAX_PHONEMES,
    MAX_SENTENCE_TOKENS,
    MAX_STEPS,
    MAX_TEXT_CHARS,
    MAX_WORD_CHARS,
)
from rnnlab.data.pronunciations import check_word
from rnnlab.data.user_files import check_signals
from rnnlab.errors import UsageError
from rnnlab.training.predict import _sentence, _signal, _text, _word

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECONDS = 10
"""Longest any single read may take (far above the milliseconds they need) before it counts as a hang."""


# ----------------------------------------------------------------------------- running a reader


@contextlib.contextmanager
def within(seconds: float):
    """Raise ``TimeoutError`` in the block after ``seconds`` (where the platform has interval timers)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def stop(signum, frame):
        raise TimeoutError(f"still reading after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(name: str, read, *args, **kwargs):
    """What ``read(*args, **kwargs)`` returns, or ``None`` when it refuses with a ``UsageError`` of one
    line that begins with ``name``; any other exception (or a hang) fails the test."""
    try:
        with within(SECONDS):
            return read(*args, **kwargs)
    except UsageError as error:
        message = str(error)
        assert message.startswith(name), message
        assert "\n" not in message and "\r" not in message, message
        return None


def read_file(folder: Path, name: str, content: bytes, read, **kwargs):
    """``read`` applied to a file ``name`` in ``folder`` holding ``content``, as :func:`outcome`."""
    path = folder / name
    path.write_bytes(content)
    result = outcome(str(path), read, path, **kwargs)
    event("read" if result is not None else "refused")
    return result


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# ----------------------------------------------------------------------------- text files

ODD_PIECES = st.sampled_from([
    b"\t", b"\t\t", b"\n", b"\n\n", b"\r\n", b"\r", b" ", b"  ", b"#", b"# text = x\n", b"\x00", b"\xef\xbb\xbf",
    b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x0b", b"\x0c", b"\x1c", "\x85".encode(),
    "\xa0".encode(), "\u2028".encode(), "\u0301".encode(), "İ".encode(), "😀".encode(),
])
BLANK_LINES = st.sampled_from(["\n", "\r\n", "  \n", "\t\n", "\x1c\n"])
WORDS = st.sampled_from(["cat", "bat", "New York", "New  York", "-", ".", "ÉCOLE", "İstanbul", "日本", "a\x00b",
                         "x\x1cy", "\u200b", "word", "language"])
ODD_WORDS = st.one_of(st.sampled_from(["", " ", "_", "\xa0", "a\tb", "a\rb"]), st.text(max_size=10))


def near(limit: int, unit: str = "a") -> st.SearchStrategy[str]:
    """``unit`` repeated a little under, at or a little over ``limit`` times."""
    return st.integers(limit - 1, limit + 1).map(lambda n: unit * n)


def long_text(limit: int) -> st.SearchStrategy[str]:
    return st.sampled_from(["a", "é", "😀", "İ"]).flatmap(lambda unit: near(limit, unit))


def encoded(lines: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    return lines.map(lambda line: line.encode("utf-8", "surrogatepass"))


def mostly(usual: st.SearchStrategy, odd: st.SearchStrategy) -> st.SearchStrategy:
    """``usual`` three times in four, else ``odd``."""
    return st.sampled_from([usual, usual, usual, odd]).flatmap(lambda strategy: strategy)


def files(good: st.SearchStrategy[str], odd: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """Whole files: ``good`` lines of the format with blank lines between, or those mixed with ``odd``
    lines (wrong columns, empty fields, items over the limits), any text, raw bytes and odd pieces."""
    tidy = st.lists(mostly(good, BLANK_LINES), max_size=10).map("".join)
    pieces = st.one_of(encoded(st.text(max_size=20)), st.binary(max_size=20), ODD_PIECES)
    mixed = st.lists(mostly(encoded(st.one_of(good, odd)), pieces), max_size=20)
    return st.one_of(encoded(tidy), mixed.map(b"".join))


LABELS = st.sampled_from(["en", "de", " fr "])
TSV_LINES = st.builds("{}\t{}\n".format, mostly(WORDS, st.just("é" * MAX_TEXT_CHARS)), LABELS)
ODD_TSV_LINES = st.builds("{}\t{}{}".format, st.one_of(WORDS, ODD_WORDS, long_text(MAX_TEXT_CHARS)),
                          st.one_of(LABELS, ODD_WORDS), st.sampled_from(["\n", "\t\n", "\tx\n", ""]))

PHONEMES = st.lists(st.sampled_from(["K", "AE", "T", "B", "AH0"]), min_size=1, max_size=5)
LEXICON_LINES = st.builds("{}\t{}\n".format, mostly(WORDS, st.just("é" * MAX_WORD_CHARS)),
                          st.builds(str.join, st.sampled_from([" ", "  ", "\xa0"]), PHONEMES))
ODD_LEXICON_LINES = st.builds("{}\t{}{}".format, st.one_of(WORDS, ODD_WORDS, long_text(MAX_WORD_CHARS)),
                              st.one_of(ODD_WORDS, near(MAX_PHONEMES, "AE ")),
                              st.sampled_from(["\n", "\t\n", "\tK\n", ""]))


def conllu_line(token_id: str, form: str, upos: str, other: str = "_") -> str:
    return "\t".join([token_id, form, other, upos, *[other] * 6]) + "\n"


COMMENTS = st.sampled_from(["# sent_id = 1\n", "# text = a b\n", "# newpar\n", "#\n", "# plain words\n", "#=\n"])


@st.composite
def conllu_sentences(draw) -> str:
    """A sentence: comments, words numbered from 1 (tagged, with anything but tabs in the other columns),
    a multi-word token and an empty node here and there, then a blank line."""
    words = draw(st.lists(mostly(WORDS, st.just("é" * MAX_WORD_CHARS)), min_size=1, max_size=6))
    other = draw(st.sampled_from(["_", "", "x y", "Case=Nom|Number=Sing", "\xa0"]))
    lines = draw(st.lists(COMMENTS, max_size=2))
    for k, word in enumerate(words, start=1):
        if draw(st.integers(0, 5)) == 0:
            lines.append(conllu_line(f"{k}-{k + 1}", "ab", "_"))
        lines.append(conllu_line(str(k), word, draw(st.sampled_from(["NOUN", "VERB", " ADJ"])), other))
        if draw(st.integers(0, 5)) == 0:
            lines.append(conllu_line(f"{k}.1", "gone", "_"))
    return "".join(lines) + "\n"


ODD_CONLLU_LINES = st.one_of(
    st.builds(lambda i, f, u, rest: "\t".join([i, f, "_", u, *rest]) + "\n",
              st.sampled_from(["0", "1", "2-1", "1.0", "01", "01.1", "x", "", " 1"]), st.one_of(WORDS, ODD_WORDS),
              st.one_of(st.sampled_from(["_", "", " ", "NOUN"]), st.text(max_size=4)),
              st.lists(st.sampled_from(["_", ""]), max_size=9)),
    st.builds(conllu_line, st.just("1"), long_text(MAX_WORD_CHARS), st.just("NOUN")),
    near(MAX_SENTENCE_TOKENS).map(lambda n: "".join(conllu_line(str(k), "w", "NOUN") for k in range(1, len(n) + 1))),
)


def single_field(value: str) -> bool:
    return "\t" not in value and "\n" not in value


@FUZZ
@given(content=files(TSV_LINES, ODD_TSV_LINES))
def test_any_tsv_file_reads_as_labelled_texts_or_is_refused_in_one_line(folder, content):
    data = read_file(folder, "texts.tsv", content, read_tsv)
    if data is None:
        return
    assert len(data.texts) == len(data.labels) > 0
    for text, label in zip(data.texts, data.labels):
        assert text and text == text.strip() and single_field(text) and len(text) <= MAX_TEXT_CHARS
        assert label and label == label.strip() and single_field(label)


@FUZZ
@given(content=files(LEXICON_LINES, ODD_LEXICON_LINES))
def test_any_lexicon_reads_as_transcriptions_or_is_refused_in_one_line(folder, content):
    data = read_file(folder, "lexicon.tsv", content, read_lexicon)
    if data is None:
        return
    assert len(data.sources) == len(set(data.sources)) == len(data.targets) > 0
    for word, pronunciations in zip(data.sources, data.targets):
        assert word and word == word.strip() and single_field(word) and len(word) <= MAX_WORD_CHARS
        assert pronunciations and len({tuple(p) for p in pronunciations}) == len(pronunciations)
        for phonemes in pronunciations:
            assert 0 < len(phonemes) <= MAX_PHONEMES
            assert all(phoneme.split() == [phoneme] for phoneme in phonemes)


@FUZZ
@given(content=files(conllu_sentences(), ODD_CONLLU_LINES))
def test_any_conllu_file_reads_as_tagged_sentences_or_is_refused_in_one_line(folder, content):
    data = read_file(folder, "tagged.conllu", content, read_conllu)
    if data is None:
        return
    assert len(data.sentences) == len(data.tags) > 0
    for words, tags in zip(data.sentences, data.tags):
        assert 0 < len(words) == len(tags) <= MAX_SENTENCE_TOKENS
        assert all(word.strip() and single_field(word) and len(word) <= MAX_WORD_CHARS for word in words)
        assert all(tag.strip() not in ("", "_") and single_field(tag) for tag in tags)


@FUZZ
@given(content=files(conllu_sentences(), ODD_CONLLU_LINES))
def test_any_conllu_file_to_tag_reads_and_comes_back_with_its_words_once_tagged(folder, content):
    """What predict does with a CoNLL-U file: read it untagged, fill UPOS, write it; the result reads
    back, tagged, with the same words."""
    sentences = read_file(folder, "untagged.conllu", content, read_conllu_sentences, tagged=False)
    if sentences is None:
        return
    words = []
    for sentence in sentences:
        assert all(list(token) == list(FIELDS) for token in sentence)
        forms = [token["form"] for token in sentence if isinstance(token["id"], int)]
        assert all(form.strip() and single_field(form) and len(form) <= MAX_WORD_CHARS for form in forms)
        assert len(forms) <= MAX_SENTENCE_TOKENS
        words += [forms] if forms else []
        for token in sentence:
            if isinstance(token["id"], int):
                token["upos"] = "NOUN"
    assert words
    back = folder / "tagged-back.conllu"
    back.write_text("".join(sentence.serialize() for sentence in sentences), encoding="utf-8")
    data = read_conllu(back)
    assert data.sentences == words and all(set(tags) == {"NOUN"} for tags in data.tags)


# ----------------------------------------------------------------------------- .npz archives

TRIPPED: list[str] = []


def _trip() -> None:
    TRIPPED.append("unpickled")


class Tripwire:
    """An object whose unpickling is recorded: an archive holding it must be refused without it."""

    def __reduce__(self):
        return _trip, ()


ODD_DTYPES = st.one_of(
    hnp.integer_dtypes(endianness="?"), hnp.unsigned_integer_dtypes(endianness="?"),
    hnp.floating_dtypes(endianness="?", sizes=(16, 32, 64, 128)), hnp.complex_number_dtypes(),
    hnp.boolean_dtypes(), hnp.unicode_string_dtypes(max_len=3), hnp.byte_string_dtypes(max_len=3),
    hnp.datetime64_dtypes(),
)
ODD_ARRAYS = st.one_of(
    ODD_DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                                                        max_side=4))),
    st.sampled_from([np.array([[1, None]], dtype=object), np.array([Tripwire(), Tripwire()], dtype=object),
                     np.zeros((2, 0)), np.zeros((0, 3)), np.zeros((2, MAX_STEPS + 1), np.int8)]),
)
SIGNAL_DTYPES = st.sampled_from(["<f4", "<f8", ">f8", "<f2", "i1", "<u2", ">i8", np.longdouble])


def signals(n: int) -> st.SearchStrategy[np.ndarray]:
    """``n`` signals ``(n, T)`` or ``(n, T, F)`` of a numeric dtype, in Fortran or C order: any values
    (NaN and 1e300 included), or half the time values a signal may have."""
    shape = st.one_of(st.tuples(st.just(n), st.integers(1, 5)),
                      st.tuples(st.just(n), st.integers(1, 4), st.integers(1, 3)))
    return st.builds(lambda x, fortran, tidy: (np.asfortranarray if fortran else np.asarray)(tidied(x) if tidy else x),
                     SIGNAL_DTYPES.flatmap(lambda dtype: hnp.arrays(np.dtype(dtype), shape)), st.booleans(),
                     st.booleans())


def tidied(x: np.ndarray) -> np.ndarray:
    """``x`` with NaN, infinities and values beyond float32's range replaced by zeros."""
    if x.dtype.kind != "f":
        return x
    x = x.copy()
    with np.errstate(over="ignore"):  # 1e30 as float16
        x[~np.isfinite(x) | (np.abs(x) > 1e30)] = 0
    return x


def labels(n: int) -> st.SearchStrategy[np.ndarray]:
    """``n`` labels: sparse integers (``0, 1, 100000``), negative ones or strings."""
    values = st.one_of(st.sampled_from([0, 1, 2, 100000, 2**40]), st.sampled_from(["dog", "cat", "é", ""]),
                       st.integers(-2, 3))
    return values.flatmap(lambda v: st.lists(st.just(v) if isinstance(v, str) else st.sampled_from([v, 0, 1]),
                                             min_size=n, max_size=n)).map(np.array)


def archive_of(arrays: dict[str, np.ndarray], compressed: bool) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


@st.composite
def saved_archives(draw) -> tuple[bytes, dict[str, np.ndarray]]:
    """An archive written by ``np.savez``, and its arrays: matching signals and labels, or odd arrays."""
    n = draw(st.integers(1, 4))
    arrays = {"x": draw(mostly(signals(n), ODD_ARRAYS)), "y": draw(mostly(labels(n), ODD_ARRAYS)), "z": np.zeros(2)}
    kept = {name: array for name, array in arrays.items() if draw(st.integers(0, 9)) < (3 if name == "z" else 9)}
    return archive_of(kept, draw(st.booleans())), kept


def npy_header(descr: str, fortran: bool, shape: tuple[int, ...], version: int) -> bytes:
    buffer = io.BytesIO()
    write = np.lib.format.write_array_header_1_0 if version == 1 else np.lib.format.write_array_header_2_0
    write(buffer, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buffer.getvalue()


NPY_MEMBERS = st.one_of(
    st.builds(npy_header, st.sampled_from(["<f8", ">i4", "|u1", "|O", "<U3", "|S0", "|V0", "bogus", "<f16"]),
              st.booleans(), st.lists(st.sampled_from([0, 1, 3, 10**6, 10**12]), max_size=3).map(tuple),
              st.sampled_from([1, 2])).flatmap(lambda header: st.binary(max_size=64).map(lambda data: header + data)),
    st.builds(lambda header, data: b"\x93NUMPY" + bytes([1, 0]) + struct.pack("<H", len(header)) + header + data,
              st.one_of(st.binary(max_size=40), st.sampled_from([b"{", b"(" * 300, b"{'descr': '<f8'}\n"])),
              st.binary(max_size=16)),
    st.builds(lambda version, data: b"\x93NUMPY" + bytes(version) + data, st.lists(st.integers(0, 255), min_size=2,
                                                                                 max_size=2), st.binary(max_size=16)),
    st.binary(max_size=64),
)
COMPRESSIONS = st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])


@st.composite
def crafted_archives(draw) -> bytes:
    """A zip archive of arbitrary members named like arrays: lying headers, raw bytes, any compression."""
    names = draw(st.lists(st.sampled_from(["x.npy", "y.npy", "x", "y", "x.npy/", "z.npy"]), max_size=3))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", draw(COMPRESSIONS)) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a name twice: zipfile warns, and writes both
        for name in names:
            archive.writestr(name, draw(NPY_MEMBERS))
    return buffer.getvalue()


@st.composite
def damaged(draw, archives: st.SearchStrategy[bytes]) -> bytes:
    """An archive with some bytes changed, or cut short."""
    data = bytearray(draw(archives))
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[:draw(st.integers(0, len(data)))] if draw(st.booleans()) else data)


ANY_ARCHIVE = st.one_of(
    crafted_archives(),
    damaged(st.one_of(saved_archives().map(lambda saved: saved[0]), crafted_archives())),
    st.tuples(st.sampled_from([b"", b"PK\x03\x04", b"\x93NUMPY", b"PK\x05\x06"]), st.binary(max_size=100))
    .map(b"".join),
)


def check_signal_data(data, arrays: dict[str, np.ndarray] | None) -> None:
    """The invariants of a SignalData read from an archive, and, when its ``arrays`` are known, its values."""
    assert data.x.dtype == torch.float32 and data.x.dim() == 3 and 0 < data.x.shape[1] <= MAX_STEPS
    assert bool(torch.isfinite(data.x).all()) and data.x.numel() > 0
    assert data.y.dtype == torch.int64 and data.y.shape == (len(data.x),)
    assert len(set(data.classes)) == len(data.classes) and set(data.y.tolist()) == set(range(len(data.classes)))
    if arrays is not None:
        x = np.asarray(arrays["x"], dtype=np.float32)
        assert torch.equal(data.x, torch.from_numpy(x.reshape(*x.shape[:2], -1)))
        names = [str(v) for v in arrays["y"]] if "y" in arrays else ["?"] * len(x)
        assert [data.classes[k] for k in data.y.tolist()] == names


@FUZZ
@given(saved=saved_archives(), labels_required=st.booleans())
def test_any_saved_archive_reads_as_its_signals_or_is_refused_in_one_line(folder, saved, labels_required):
    content, arrays = saved
    data = read_file(folder, "signals.npz", content, read_npz, labels_required=labels_required)
    assert not TRIPPED, "an object array was unpickled"
    if data is not None:
        check_signal_data(data, arrays)


@FUZZ
@given(content=ANY_ARCHIVE, labels_required=st.booleans())
def test_any_bytes_as_an_archive_read_as_signals_or_are_refused_in_one_line(folder, content, labels_required):
    data = read_file(folder, "bytes.npz", content, read_npz, labels_required=labels_required)
    if data is not None:
        check_signal_data(data, None)


# ----------------------------------------------------------------------------- predict's items

ITEMS = st.one_of(st.text(max_size=30), WORDS, long_text(MAX_WORD_CHARS), long_text(MAX_TEXT_CHARS),
                  near(MAX_SENTENCE_TOKENS, "w ").map(str.strip), st.text(alphabet=" \t\n\r\x1c\xa0", max_size=5))
NUMBERS = st.one_of(st.floats().map(repr), st.integers(-10**40, 10**40).map(str), st.text(max_size=4),
                    st.sampled_from(["nan", "inf", "-inf", "1e39", "-1e39", "1e400", "1_0", " 1 ", "", "0x10", "1,"]))
SIGNAL_ITEMS = st.one_of(st.lists(NUMBERS, min_size=1, max_size=8).map(",".join),
                         near(MAX_STEPS, "0,").map(lambda s: s.rstrip(",")))


@FUZZ
@given(item=ITEMS)
def test_any_item_given_to_predict_is_a_word_sentence_and_text_or_refused_in_one_line(item):
    item = item.strip()  # as predict strips every item
    where = "predict: item 1"
    word = outcome(where, _word, where, item)
    if word is not None:
        assert word == item and len(word.split()) == 1 and len(word) <= MAX_WORD_CHARS
    words = outcome(where, _sentence, where, item)
    if words is not None:
        assert words == item.split() and 0 < len(words) <= MAX_SENTENCE_TOKENS
        assert all(len(w) <= MAX_WORD_CHARS for w in words)
    text = outcome(where, _text, where, item)
    if text is not None:
        assert text == item and text and "\t" not in text and len(text) <= MAX_TEXT_CHARS
    outcome(where, check_word, where, item)
    outcome(where, check_sentence, where, item.split())


@FUZZ
@given(item=SIGNAL_ITEMS)
def test_any_signal_given_to_predict_is_finite_float32_or_refused_in_one_line(item):
    item, where = item.strip(), "predict: item 1"
    signal_ = outcome(where, _signal, where, item)
    if signal_ is not None:
        assert signal_.dtype == torch.float32 and signal_.shape == (len(item.split(",")), 1)
        assert bool(torch.isfinite(signal_).all()) and len(signal_) <= MAX_STEPS


@FUZZ
@given(x=st.one_of(ODD_ARRAYS, st.integers(1, 3).flatmap(signals)))
def test_any_array_is_signals_or_refused_in_one_line(x):
    where = "predict: item 1"
    signals_ = outcome(where, check_signals, where, x)
    if signals_ is not None:
        assert signals_.dtype == torch.float32 and signals_.dim() == 3 and bool(torch.isfinite(signals_).all())
        assert signals_.shape[:2] == x.shape[:2] and signals_.shape[1] <= MAX_STEPS


# ----------------------------------------------------------------------------- far over the limits

TEXT_READERS = {
    "read_tsv": read_tsv,
    "read_lexicon": read_lexicon,
    "read_conllu": read_conllu,
    "read_conllu_sentences": lambda path: read_conllu_sentences(path, tagged=False),
}


@contextlib.contextmanager
def peak_memory(limit: int):
    """Fail when the block allocates more than ``limit`` bytes at once (what tracemalloc sees: Python
    objects and numpy's arrays)."""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= limit, f"peak {peak:,} bytes"


@pytest.mark.parametrize("reader", list(TEXT_READERS))
def test_a_line_of_5_mb_is_refused_at_once_without_reading_it_whole(tmp_path, reader):
    path = tmp_path / "long.txt"
    path.write_bytes(b"cat\tK AE T\n\n" + b"a" * 5_000_000)
    start = time.perf_counter()
    with peak_memory(3 * MAX_LINE_BYTES), pytest.raises(DataError) as raised:
        TEXT_READERS[reader](path)
    assert str(raised.value) == (f"{path}:3: line longer than {MAX_LINE_BYTES:,} bytes "
                                 f"(is this a text file of the task's format?)")
    assert time.perf_counter() - start < SECONDS


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize("reader", ["read_conllu", "read_conllu_sentences"])  # tsv, lexicon: test_refusals.py
def test_dev_zero_is_refused_by_the_conllu_readers(reader):
    with within(SECONDS), pytest.raises(DataError, match=r"^/dev/zero:1: line longer than 1,048,576 bytes"):
        TEXT_READERS[reader]("/dev/zero")


# ----------------------------------------------------------------------------- archives that once escaped


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def with_member_flags(data: bytes, flag: int = 0, method: int | None = None) -> bytes:
    """``data`` (a zip archive) with ``flag`` set on, and ``method`` as the compression of, every member."""
    changed = bytearray(data)
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        for found in re.finditer(re.escape(signature), data):
            start = found.start() + flags_at
            changed[start] |= flag
            if method is not None:
                changed[start + 2:start + 4] = struct.pack("<H", method)
    return bytes(changed)


TWO_LABELS = npy(np.array([0, 1]))
TWO_SIGNALS = npy(np.arange(6.0).reshape(2, 3))


def damaged_member(compression: int, start: int) -> bytes:
    """An archive whose compressed signals have 8 bytes changed from ``start`` on."""
    data = zip_of({"x.npy": npy(np.arange(600.0).reshape(2, 300)), "y.npy": TWO_LABELS}, compression)
    return data[:start] + bytes(b ^ 0x55 for b in data[start:start + 8]) + data[start + 8:]


@pytest.mark.parametrize("content, problem", [
    (zip_of({"x": b"1,2,3", "y.npy": TWO_LABELS}), r"array 'x' is not a \.npy array"),
    (with_member_flags(zip_of({"x.npy": TWO_SIGNALS, "y.npy": TWO_LABELS}), flag=1),
     r"array '[xy]' cannot be read \(File '[xy]\.npy' is encrypted"),
    (with_member_flags(zip_of({"x.npy": TWO_SIGNALS, "y.npy": TWO_LABELS}), method=99),
     r"array '[xy]' cannot be read \(That compression method is not supported"),
    (damaged_member(zipfile.ZIP_DEFLATED, 40), r"array 'x' cannot be read \(Error -3 while decompressing data"),
    (damaged_member(zipfile.ZIP_LZMA, 400), r"array 'x' cannot be read \(Corrupt input data\)"),
    (zip_of({"x.npy": b"\x93NUMPY\x01\x00\x01\x00{", "y.npy": TWO_LABELS}),
     r"array 'x' cannot be read \(its \.npy header cannot be parsed: EOF in multi-line statement\)$"),
    (zip_of({"x.npy": npy(np.full((2, 3), 1e300)), "y.npy": TWO_LABELS}),
     r"array 'x' \(2, 3\) has values beyond float32's range \(±3\.4e\+38\); scale them \(first in sequence 0\)$"),
    (zip_of({"x.npy": npy(np.array([Tripwire()], dtype=object)), "y.npy": TWO_LABELS}),
     r"array 'x' cannot be read \(Object arrays are not loaded"),
    (zip_of({"x.npy": b"\x93NUMPY\x01\x00" + (20_000).to_bytes(2, "little") + b"{" + b" " * 19_999,
             "y.npy": TWO_LABELS}),  # numpy's refusal of a long header is three lines of text
     r"array 'x' cannot be read \(Header info length \(20000\) is large and may not be safe to load securely\. "
     r"To allow loading"),
])
def test_archives_that_once_escaped_as_other_errors_are_refused_in_one_line(tmp_path, content, problem):
    path = tmp_path / "odd.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: {problem}") as raised:
        read_npz(path)
    assert "\n" not in str(raised.value) and not TRIPPED


@pytest.mark.parametrize("shape", [(10**6, 10**6), (2, 10**9), (0, 10**12, 10**12)])
def test_a_header_announcing_more_than_the_archive_holds_reserves_no_memory(tmp_path, shape):
    """Of 8 TB, 16 GB, or no bytes at all in a shape no array can have."""
    path = tmp_path / "liar.npz"
    path.write_bytes(zip_of({"x.npy": npy_header("<f8", False, shape, 1) + bytes(64), "y.npy": TWO_LABELS}))
    with peak_memory(MAX_LINE_BYTES), pytest.raises(DataError) as raised:
        read_npz(path)
    assert str(raised.value).startswith(f"{path}: array 'x' cannot be read (")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("dtype", [">f8", np.longdouble, "<f2", ">i2"])
def test_signals_of_any_byte_order_or_float_width_become_float32(tmp_path, dtype):
    x = np.arange(6).reshape(2, 3).astype(dtype)
    path = tmp_path / "wide.npz"
    path.write_bytes(zip_of({"x.npy": npy(np.asfortranarray(x)), "y.npy": TWO_LABELS}))
    assert torch.equal(read_npz(path).x, torch.arange(6.0).reshape(2, 3, 1))


# ----------------------------------------------------------------------------- CoNLL-U columns


def test_conllu_columns_are_split_at_tabs_only_and_blank_form_or_upos_refused(tmp_path):
    path = tmp_path / "spaces.conllu"
    path.write_text("1\tNew  York\t_\tPROPN\t_\t_\t_\t_\t_\t_\n2\tx\tx\tNOUN\t\t\t\t\t\t\n", encoding="utf-8")
    data = read_conllu(path)
    assert data.sentences == [["New  York", "x"]] and data.tags == [["PROPN", "NOUN"]]
    assert [list(token.values()) for token in read_conllu_sentences(path, tagged=False)[0]][1] == \
        [2, "x", "x", "NOUN", "", "", "", "", "", ""]
    for line, problem in [("1\t  \t_\tNOUN\t_\t_\t_\t_\t_\t_", "word 1 has an empty FORM"),
                          ("1\tx\t_\t \t_\t_\t_\t_\t_\t_", r"word 1 \('x'\) has no UPOS tag")]:
        path.write_text(line + "\n", encoding="utf-8")
        with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:1: {problem}$"):
            read_conllu(path)

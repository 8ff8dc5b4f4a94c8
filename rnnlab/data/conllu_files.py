"""CoNLL-U files (Universal Dependencies): word forms and their UPOS tags.

Lines are split into their ten columns here, at tabs only, and every line is checked, because the
``conllu`` package's parser also splits at two spaces (``New  York`` would become FORM ``New`` and
LEMMA ``York``), drops empty trailing columns, accepts lines with missing columns and reports errors
without a line number; its token lists, comment parsing and ID parsing are used.  Only FORM,
UPOS and XPOS are used (XPOS where every word of the file has one: a tagger may learn it beside UPOS):
the other columns are read as text and not interpreted, so a file with anything (or ``_``) in them
reads.  Multi-word token lines (ID ``3-4``) are skipped and their parts kept;
empty nodes (ID ``8.1``) are skipped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import conllu
from conllu.exceptions import ParseException
from conllu.parser import DEFAULT_FIELDS, parse_comment_line, parse_id_value

from rnnlab.data.containers import Splits, TaggedData
from rnnlab.data.limits import MAX_SENTENCE_TOKENS, MAX_WORD_CHARS, check_length
from rnnlab.data.textfile import read_lines
from rnnlab.errors import DataError

WORD_ID = re.compile(r"[1-9][0-9]*")
OTHER_ID = re.compile(r"[1-9][0-9]*-[1-9][0-9]*|[0-9]+\.[1-9][0-9]*")  # multi-word tokens, empty nodes
FIELDS = DEFAULT_FIELDS  # id, form, lemma, upos, xpos, feats, head, deprel, deps, misc

UD_EWT_ENV = "RNNLAB_UD_EWT"
UD_EWT_FILES = {"train": "en_ewt-ud-train.conllu", "validation": "en_ewt-ud-dev.conllu",
                "test": "en_ewt-ud-test.conllu"}


def read_conllu(path: Path | str) -> TaggedData:
    """The sentences of a CoNLL-U file as word forms, tagged with their UPOS (and, as ``second_tags``,
    their XPOS where every word has one).

    Raises :class:`DataError` naming the file when it is missing, unreadable, not UTF-8 or has no
    sentence, and the file and line for a malformed line, a word without a UPOS tag, a word form
    over :data:`~rnnlab.data.limits.MAX_WORD_CHARS` characters or a sentence over
    :data:`~rnnlab.data.limits.MAX_SENTENCE_TOKENS` words.
    """
    sentences, tags, xpos = [], [], []
    for sentence in read_conllu_sentences(path):
        words = [token for token in sentence if isinstance(token["id"], int)]
        if words:
            sentences.append([token["form"] for token in words])
            tags.append([token["upos"] for token in words])
            xpos.append([token["xpos"].strip() for token in words])
    every_xpos = all(tag not in ("", "_") for sentence in xpos for tag in sentence)
    return TaggedData(sentences, tags, xpos if every_xpos else None)


def read_conllu_sentences(path: Path | str, tagged: bool = True) -> list[conllu.TokenList]:
    """The sentences of a CoNLL-U file as ``conllu`` token lists (every column kept, to write them
    back), after the checks of :func:`read_conllu`; with ``tagged`` false (a file to tag), the UPOS
    column may be empty (``_``)."""
    path = Path(path)
    sentences = []
    for first_line, block in _sentence_blocks(path, read_lines(path), tagged):
        try:
            tokens = _token_list(block)
        except ParseException as error:
            raise DataError(f"{path}:{first_line}: in the sentence starting here: {error}") from None
        check_sentence(f"{path}:{first_line}", [t["form"] for t in tokens if isinstance(t["id"], int)],
                       "the sentence starting here")
        sentences.append(tokens)
    if not any(isinstance(token["id"], int) for sentence in sentences for token in sentence):
        raise DataError(f"{path}: no sentences (an empty file, or one without word lines)")
    return sentences


def check_sentence(where: str, words: list[str], what: str = "the sentence") -> None:
    """Refuse a sentence (``where`` and ``what`` name it) over ``MAX_SENTENCE_TOKENS`` words or with a
    word over ``MAX_WORD_CHARS`` characters: a file's checks, also for sentences given to predict."""
    check_length(where, what, len(words), MAX_SENTENCE_TOKENS, "words")
    for word in words:
        check_length(where, f"the word {word[:20]!r}...", len(word), MAX_WORD_CHARS, "characters")


def _sentence_blocks(path: Path, lines: list[str], tagged: bool) -> list[tuple[int, list[str]]]:
    """The blank-line-separated blocks of ``lines`` with the number of their first line, each line checked."""
    blocks: list[tuple[int, list[str]]] = []
    block: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            if block:
                blocks.append((number - len(block), block))
            block = []
            continue
        if not line.startswith("#"):
            _check_token_line(path, number, line, tagged)
        block.append(line)
    if block:
        blocks.append((len(lines) + 1 - len(block), block))
    return blocks


def _token_list(block: list[str]) -> conllu.TokenList:
    """The sentence of the checked lines ``block``: comments as metadata, each word line as a token of
    the ten columns as written (its ID parsed, as ``conllu`` does: ``3``, ``(3, "-", 4)``, ``(8, ".", 1)``)."""
    metadata, tokens = conllu.Metadata(), []
    for line in block:
        if line.startswith("#"):
            metadata.update(parse_comment_line(line))
        else:
            columns = line.split("\t")
            tokens.append(conllu.Token(zip(FIELDS, [parse_id_value(columns[0]), *columns[1:]])))
    return conllu.TokenList(tokens, metadata, default_fields=FIELDS)


def _check_token_line(path: Path, number: int, line: str, tagged: bool) -> None:
    columns = line.split("\t")
    if len(columns) != len(FIELDS):
        raise DataError(f"{path}:{number}: expected {len(FIELDS)} tab-separated columns, found {len(columns)}")
    token_id, form, upos = columns[0], columns[1], columns[3]
    if OTHER_ID.fullmatch(token_id):
        return
    if not WORD_ID.fullmatch(token_id):
        raise DataError(f"{path}:{number}: ID {token_id!r} is not a word (1), multi-word token (1-2) "
                        f"or empty node (1.1) ID")
    if not form.strip():
        raise DataError(f"{path}:{number}: word {token_id} has an empty FORM")
    if tagged and upos.strip() in ("", "_"):
        raise DataError(f"{path}:{number}: word {token_id} ({form!r}) has no UPOS tag")


def default_ud_ewt_root() -> Path:
    """``$RNNLAB_UD_EWT`` if set, else ``shared/data/ud-english-ewt`` beside the repository root."""
    if os.environ.get(UD_EWT_ENV):
        return Path(os.environ[UD_EWT_ENV])
    repository = Path(__file__).resolve().parents[2]  # the folder that holds the rnnlab package
    return repository.parent / "shared" / "data" / "ud-english-ewt"


def load_ud_ewt(root: Path | str | None = None) -> Splits:
    """Universal Dependencies English EWT as ``Splits`` of :class:`TaggedData` (words, UPOS).

    Reads ``en_ewt-ud-{train,dev,test}.conllu`` from ``root`` (default :func:`default_ud_ewt_root`);
    the official dev file is the validation split.
    """
    root = Path(root) if root is not None else default_ud_ewt_root()
    if not root.is_dir():
        raise DataError(f"{root}: UD English EWT not found (pass root= or set ${UD_EWT_ENV} to the folder "
                        f"that holds {UD_EWT_FILES['train']})")
    return Splits(**{split: read_conllu(root / name) for split, name in UD_EWT_FILES.items()})

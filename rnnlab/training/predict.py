"""Prediction with a trained run: reading new inputs and writing the results as text.

* Classifiers print one line per item: ``item<TAB>label (probability)  label (probability) ...``.
* Taggers write CoNLL-U: a given CoNLL-U file comes back with its UPOS column filled (comments,
  multi-word tokens and empty nodes kept as they were); raw sentences become minimal CoNLL-U.
* Transcribers (G2P) print one ``word<TAB>PH1 PH2 ...`` line per word, the lexicon format that
  ``rnnlab train --data`` and ``rnnlab evaluate --data`` read back.
* A generation run takes no inputs: ``rnnlab generate`` samples it, and predict says so.
* Forecasters read a CSV file of the series' recent steps (``--data``) and write CSV: one row per step of
  the horizon after its last known target, with the median and the 80% and 95% intervals.

Inputs pass the checks of ``rnnlab train --data`` (:mod:`rnnlab.data`): the same readers, column
counts, finite values and length limits (:mod:`rnnlab.data.limits`), each refusal naming the item
(``predict: item 2`` or ``file:line``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from rnnlab.data import DataError
from rnnlab.data.conllu_files import check_sentence, read_conllu_sentences
from rnnlab.data.limits import MAX_TEXT_CHARS, check_length
from rnnlab.data.pronunciations import check_word
from rnnlab.data.textfile import read_lines
from rnnlab.data.user_files import check_signals
from rnnlab.errors import ConfigError
from rnnlab.tasks import (
    ClassifierTask,
    ForecastTask,
    GenerationTask,
    TaggingTask,
    Task,
    TextTask,
    TranscriptionTask,
)
from rnnlab.training.runs import load_ensemble


def predict(run_dir: Path, inputs: list[str], file: Path | None, top_k: int = 3, beam_width: int | None = None,
            ensemble: tuple[Path, ...] = (), device: str = "auto", data: Path | None = None) -> str:
    """Predictions of the run in ``run_dir`` for ``inputs`` (or the items in ``file``; for a forecaster, the
    series in the CSV file ``data``) on ``device`` (cpu, cuda, or auto), as text; G2P runs in ``ensemble``
    decode together with it."""
    if inputs and file is not None:
        raise DataError("predict: give the items either on the command line or with --file, not both")
    if top_k < 1:
        raise DataError(f"predict: --top-k must be at least 1, got {top_k}")
    if beam_width is not None and beam_width < 1:
        raise DataError(f"predict: --beam-width must be at least 1, got {beam_width}")
    config, task, model = load_ensemble([run_dir, *ensemble], device)
    if isinstance(task, ForecastTask):
        return _forecast(config, task, model, inputs, data or file)
    if data is not None:
        raise DataError(f"predict: --data is a forecaster's series; for a {config.task} run give the items on the "
                        "command line or with --file")
    if isinstance(task, GenerationTask):
        raise ConfigError(f"predict: {run_dir} is a {config.task} run, which takes no inputs; "
                          f"generate words with: rnnlab generate {run_dir} [LANGUAGE ...]")
    if not inputs and file is None:
        raise DataError("predict: give the items either on the command line or with --file")
    return predict_with(task, model, inputs, file, top_k, beam_width, config.torch_device())


def predict_with(task: Task, model: nn.Module, inputs: list[str], file: Path | None, top_k: int,
                 beam_width: int | None, device: torch.device) -> str:
    """:func:`predict` with a run already loaded (``task`` and ``model``, as :func:`load_run` gives them)."""
    if isinstance(task, TranscriptionTask):
        words = [_word(where, item) for where, item in _items(inputs, file)]
        return "".join(f"{word}\t{' '.join(phonemes)}\n"
                       for word, phonemes in zip(words, task.transcribe(model, words, device, beam_width)))
    if isinstance(task, TaggingTask):
        if file is not None and file.suffix == ".conllu":
            return _tag_conllu(task, model, file, device)
        sentences = [_sentence(where, item) for where, item in _items(inputs, file)]
        tagged = task.tag(model, sentences, device)
        return "".join(_minimal_conllu(words, tags) for words, tags in zip(sentences, tagged))
    if not isinstance(task, ClassifierTask):
        raise ConfigError(f"predict: a {task.config.task} run has no prediction path")
    if isinstance(task, TextTask):
        items = [_text(where, item) for where, item in _items(inputs, file)]
        names = items
    elif file is not None:
        data = task.read_file(file, labels_required=False)
        items = [x[:n] for x, n in zip(data.x, data.steps().tolist())]
        names = [f"{file.name}[{k}]" for k in range(len(data))]
    else:
        items, names = [_signal(f"predict: item {k}", text) for k, text in enumerate(inputs, start=1)], inputs
    results = task.top_k(model, items, top_k, device)
    return "".join(f"{name}\t" + "  ".join(f"{label} ({p:.3f})" for label, p in ranked) + "\n"
                   for name, ranked in zip(names, results))


def read_item(task: Task, where: str, text: str) -> str | list[str] | Tensor | tuple[str, str]:
    """One item given as text, read as ``rnnlab predict`` reads it for ``task``: a word (G2P), a sentence's
    words (tagging), a text (text classification) or a signal ``(T, F)`` (``1,2,3``; channels split by ``:``);
    for a generator (which predict does not read), ``LANGUAGE WORD`` as ``(language, word)``.  ``where``
    names the item in a refusal."""
    text = text.strip()
    if isinstance(task, GenerationTask):
        parts = text.split()
        if len(parts) != 2:
            raise DataError(f"{where}: a word-generation run reads a language and a word, as 'de haus', "
                            f"got {text[:40]!r}")
        task.conditions([parts[0]], torch.device("cpu"))  # refuses an unknown language
        return parts[0], _text(where, parts[1])
    if isinstance(task, TranscriptionTask):
        return _word(where, text)
    if isinstance(task, TaggingTask):
        return _sentence(where, text)
    if isinstance(task, TextTask):
        return _text(where, text)
    if isinstance(task, ClassifierTask):
        return _signal(where, text)
    raise ConfigError(f"{where}: a {task.config.task} run reads no items")


def _items(inputs: list[str], file: Path | None) -> list[tuple[str, str]]:
    """The items, stripped, each with where it came from (``predict: item 2``, ``words.txt:7``):
    the command line's, or the non-blank lines of a UTF-8 file (read as every reader reads one)."""
    if file is None:
        return [(f"predict: item {k}", item.strip()) for k, item in enumerate(inputs, start=1)]
    items = [(f"{file}:{number}", line.strip()) for number, line in enumerate(read_lines(file), start=1)
             if line.strip()]
    if not items:
        raise DataError(f"{file}: no items (the file is empty)")
    return items


def _word(where: str, item: str) -> str:
    if len(item.split()) != 1:
        raise DataError(f"{where}: one word per item, got {item[:40]!r}")
    check_word(where, item)
    return item


def _sentence(where: str, item: str) -> list[str]:
    words = item.split()
    if not words:
        raise DataError(f"{where}: empty sentence")
    check_sentence(where, words)
    return words


def _text(where: str, item: str) -> str:
    if not item:
        raise DataError(f"{where}: empty text")
    if "\t" in item:
        raise DataError(f"{where}: one text per item, found a tab (to score a labelled TSV file, use "
                        f"rnnlab evaluate --data)")
    check_length(where, "the text", len(item), MAX_TEXT_CHARS, "characters")
    return item


def _signal(where: str, text: str) -> Tensor:
    """A signal given as comma-separated numbers, as ``(T, 1)``; several channels separated by ``:`` (as in a
    ``.ts`` file's case: ``1,2,3:4,5,6``), as ``(T, F)``; after the checks of a file's signals."""
    try:
        channels = [np.array([float(v) for v in channel.split(",")], dtype=np.float64) for channel in text.split(":")]
    except ValueError:
        raise DataError(f"{where}: a signal is comma-separated numbers (channels separated by ':'), "
                        f"got {text[:40]!r}") from None
    if len({len(c) for c in channels}) > 1:
        raise DataError(f"{where}: its channels have different lengths ({', '.join(str(len(c)) for c in channels)})")
    return check_signals(where, np.stack(channels, axis=-1)[None])[0]


def _minimal_conllu(words: list[str], tags: list[str]) -> str:
    rows = [f"{k}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_" for k, (w, t) in enumerate(zip(words, tags), start=1)]
    return "\n".join(rows) + "\n\n"


def _tag_conllu(task: TaggingTask, model, path: Path, device) -> str:
    """``path`` with the UPOS column of every word filled with the model's tags (the file passes the
    checks of ``rnnlab train --data``, except that its UPOS column may be empty)."""
    sentences = read_conllu_sentences(path, tagged=False)
    words_of = [[token for token in sentence if isinstance(token["id"], int)] for sentence in sentences]
    tagged = task.tag(model, [[t["form"] for t in words] for words in words_of], device)
    for words, tags in zip(words_of, tagged):
        for token, tag in zip(words, tags):
            token["upos"] = tag
    return "".join(sentence.serialize() for sentence in sentences)


def _forecast(config, task: ForecastTask, model, inputs: list[str], data: Path | None) -> str:
    """The forecast after the series in the CSV file ``data``, as CSV."""
    if inputs or data is None:
        raise DataError(f"predict: a {config.task} run forecasts from a CSV file of the series' recent steps: "
                        "give it with --data (and no items on the command line)")
    return forecast_csv(task.predict(model, task.read_series(config, data, future=True), config.torch_device()))


def forecast_csv(rows: list[dict]) -> str:
    """The rows of :meth:`ForecastTask.predict` as the CSV text ``rnnlab predict`` writes."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: v if isinstance(v, str) else f"{v:.6g}" for k, v in row.items()} for row in rows)
    return out.getvalue()

"""Prediction with a trained run: reading new inputs and writing the results as text.

* Classifiers print one line per item: ``item<TAB>label (probability)  label (probability) ...``.
* Taggers write CoNLL-U: a given CoNLL-U file comes back with its UPOS column filled (comments,
  multi-word tokens and empty nodes kept as they were); raw sentences become minimal CoNLL-U.
* Transcribers (G2P) print one ``word<TAB>PH1 PH2 ...`` line per word, the lexicon format that
  ``rnnlab train --data`` and ``rnnlab evaluate --data`` read back.
"""

from __future__ import annotations

from pathlib import Path

import conllu
import numpy as np

from rnnlab.data import DataError, read_npz
from rnnlab.data.textfile import read_lines
from rnnlab.tasks import ClassifierTask, TaggingTask, TextTask, TranscriptionTask
from rnnlab.training.runs import load_ensemble


def predict(run_dir: Path, inputs: list[str], file: Path | None, top_k: int = 3, beam_width: int | None = None,
            ensemble: tuple[Path, ...] = ()) -> str:
    """Predictions of the run in ``run_dir`` for ``inputs`` (or the items in ``file``), as text; G2P runs in
    ``ensemble`` decode together with it."""
    if bool(inputs) == (file is not None):
        raise DataError("predict: give the items either on the command line or with --file, not both or neither")
    if top_k < 1:
        raise DataError(f"predict: --top-k must be at least 1, got {top_k}")
    if beam_width is not None and beam_width < 1:
        raise DataError(f"predict: --beam-width must be at least 1, got {beam_width}")
    config, task, model = load_ensemble([run_dir, *ensemble])
    device = config.torch_device()
    if isinstance(task, TranscriptionTask):
        words = [w.strip() for w in (inputs if file is None else _lines(file))]
        spaced = [w for w in words if len(w.split()) != 1]
        if spaced:
            raise DataError(f"predict: one word per item, got {spaced[0]!r}")
        return "".join(f"{word}\t{' '.join(phonemes)}\n"
                       for word, phonemes in zip(words, task.transcribe(model, words, device, beam_width)))
    if isinstance(task, TaggingTask):
        if file is not None and file.suffix == ".conllu":
            return _tag_conllu(task, model, file, device)
        lines = inputs if file is None else _lines(file)
        sentences = [line.split() for line in lines]
        tagged = task.tag(model, sentences, device)
        return "".join(_minimal_conllu(words, tags) for words, tags in zip(sentences, tagged))
    assert isinstance(task, ClassifierTask)
    if isinstance(task, TextTask):
        items = inputs if file is None else _lines(file)
        names = items
    elif file is not None:
        signals = read_npz(file, labels_required=False).x
        items, names = list(signals), [f"{file.name}[{k}]" for k in range(len(signals))]
    else:
        items, names = [_parse_signal(text) for text in inputs], inputs
    results = task.top_k(model, items, top_k, device)
    return "".join(f"{name}\t" + "  ".join(f"{label} ({p:.3f})" for label, p in ranked) + "\n"
                   for name, ranked in zip(names, results))


def _lines(path: Path) -> list[str]:
    """The non-blank lines of a UTF-8 file, stripped."""
    lines = [line.strip() for line in read_lines(path) if line.strip()]
    if not lines:
        raise DataError(f"{path}: no items (the file is empty)")
    return lines


def _parse_signal(text: str) -> np.ndarray:
    try:
        values = np.array([float(v) for v in text.split(",")], dtype=np.float32)
    except ValueError:
        raise DataError(f"predict: a signal is comma-separated numbers, got {text[:40]!r}") from None
    return values[:, None]


def _minimal_conllu(words: list[str], tags: list[str]) -> str:
    rows = [f"{k}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_" for k, (w, t) in enumerate(zip(words, tags), start=1)]
    return "\n".join(rows) + "\n\n"


def _tag_conllu(task: TaggingTask, model, path: Path, device) -> str:
    """``path`` with the UPOS column of every word filled with the model's tags."""
    try:
        sentences = conllu.parse("\n".join(read_lines(path)) + "\n")
    except conllu.exceptions.ParseException as error:
        raise DataError(f"{path}: malformed CoNLL-U ({error})") from None
    words_of = [[token for token in sentence if isinstance(token["id"], int)] for sentence in sentences]
    tagged = task.tag(model, [[t["form"] for t in words] for words in words_of], device)
    for words, tags in zip(words_of, tagged):
        for token, tag in zip(words, tags):
            token["upos"] = tag
    return "".join(sentence.serialize() for sentence in sentences)

"""Using a trained run: its metrics on the test split or a user's file, words it generates, where it attends.

Each function here is the whole of one command (``rnnlab evaluate``, ``rnnlab generate``,
``rnnlab attention``) but its printing: it loads the run, checks the options against it, does the
work, writes what the command saves and returns what the command prints.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rnnlab.errors import ConfigError
from rnnlab.files import fingerprint, write_json
from rnnlab.report.figures import plot_attention
from rnnlab.tasks import GenerationTask, TextTask, TranscriptionTask, load_splits, read_file
from rnnlab.tasks.generation import sample_report, top_labels
from rnnlab.training.runs import check_data, load_ensemble, load_run


def evaluate_run(run_dir: Path, data: Path | None = None, batch_size: int = 256, beam_width: int | None = None,
                 ensemble: tuple[Path, ...] = (), device: str = "auto") -> tuple[str, Path]:
    """Evaluate a run (with the G2P runs of ``ensemble`` decoding beside it) on its test split or on ``data``,
    on ``device`` (cpu, cuda, or auto); save the report in the run directory.  Returns the report's
    one-line summary and its path."""
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    config, task, model = load_ensemble([run_dir, *ensemble], device)
    options = {}
    if beam_width is not None:
        if not task.encoder_decoder or beam_width < 1:
            raise ConfigError("--beam-width applies to G2P runs and must be at least 1")
        options["beam_width"] = beam_width
    if data is None:
        check_data(run_dir, config)  # the test split is the one it was trained beside
    dataset = read_file(config, data) if data is not None else load_splits(config).test
    report = task.evaluate(model, dataset, batch_size, config.torch_device(), progress_bar=True, **options)
    beam = f"-beam{beam_width}" if beam_width is not None and beam_width != config.beam_width else ""
    suffix = f"{'-ensemble' if ensemble else ''}{beam}"
    runs = {"ensemble": [str(r) for r in (run_dir, *ensemble)]} if ensemble else {}
    if data is None:
        path, source = Path(run_dir) / f"evaluation-test{suffix}.json", {"data": "test split"}
    else:
        source = {"data": str(data.absolute()), "sha256": fingerprint(data)["sha256"]}
        path = _report_path(Path(run_dir), data.stem, suffix, source["sha256"])
    write_json(path, {**source, **runs, **report})
    task.plot(model, dataset, path.with_suffix(".png"), config.torch_device())
    return task.describe(report), path


def _report_path(run_dir: Path, stem: str, suffix: str, sha256: str) -> Path:
    """``evaluation-STEM.json``, unless it holds the report of another file of the same name: then
    ``evaluation-STEM-HASH.json`` (the first 8 digits of the data's SHA-256), so no report replaces another's."""
    path = run_dir / f"evaluation-{stem}{suffix}.json"
    if path.exists():
        try:
            same = json.loads(path.read_text()).get("sha256") == sha256
        except (OSError, ValueError, AttributeError):
            same = False
        if not same:
            path = run_dir / f"evaluation-{stem}-{sha256[:8]}{suffix}.json"
    return path


def generate_words(run_dir: Path, conditions: tuple[str, ...] = (), samples: int = 10, temperature: float = 1.0,
                   top_k: int | None = None, top_p: float | None = None, greedy: bool = False, seed: int = 0,
                   classifier: Path | None = None, device: str = "auto") -> dict[str, Any]:
    """Words of the languages ``conditions`` (default: all the run knows) from a word-generation run, and
    per language the share that are real words absent from training, training words, distinct, and
    (with a word-language ``classifier`` run) classified back.  Returns ``{"samples": ..., "report": ...}``."""
    if samples < 1 or not math.isfinite(temperature) or temperature <= 0:
        raise ConfigError(f"--samples must be at least 1 and --temperature a finite positive number, got "
                          f"{samples} and {temperature}")
    if top_k is not None and top_k < 1 or top_p is not None and not 0 < top_p <= 1:
        raise ConfigError("--top-k must be at least 1 and --top-p in (0, 1]")
    config, task, model = load_run(run_dir, device=device)
    if not isinstance(task, GenerationTask):
        raise ConfigError(f"{run_dir}: generate needs a word-generation run, this one is {config.task}")
    languages = list(conditions) or task.classes
    words = task.generate(model, languages, 1 if greedy else samples, config.torch_device(), temperature=temperature,
                          top_k=top_k, top_p=top_p, greedy=greedy, seed=seed)
    classified = None
    if classifier is not None:
        _, word_task, word_model = load_run(classifier, device=device)
        if not isinstance(word_task, TextTask):
            raise ConfigError(f"{classifier}: --classifier needs a word-language run")
        classified = top_labels(words, word_task, word_model, config.torch_device())
    check_data(run_dir, config)
    report = sample_report(words, set(load_splits(config).train.texts), classified)
    return {"samples": words, "report": report, "classified": classified is not None}


def attention_plot(run_dir: Path, word: str, output: Path | None = None,
                   device: str = "auto") -> tuple[list[str], Path]:
    """Plot which letters each phoneme of a G2P run's greedy transcription of ``word`` looked at; returns
    the phonemes and the PNG's path (default: ``RUN_DIR/attention-WORD.png``)."""
    config, task, model = load_run(run_dir, device=device)
    if not isinstance(task, TranscriptionTask):
        raise ConfigError(f"{run_dir}: attention plots need a G2P run, this one is {config.task}")
    phonemes, weights = task.attention(model, word, config.torch_device())
    path = plot_attention(word.lower(), phonemes, weights, output or Path(run_dir) / f"attention-{word.lower()}.png")
    return phonemes, path

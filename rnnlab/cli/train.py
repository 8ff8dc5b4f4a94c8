"""``rnnlab train``, ``evaluate``, ``predict``, ``generate``, ``attention``, ``export``: training a run and using it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import tyro

from rnnlab.cli.root import Device, app
from rnnlab.errors import ConfigError
from rnnlab.files import atomic_write, write_json
from rnnlab.tasks import TrainConfig
from rnnlab.tasks.config import check_writable
from rnnlab.training import train
from rnnlab.training.evaluate import attention_plot, evaluate_run, generate_words
from rnnlab.training.export import export_run
from rnnlab.training.predict import predict


@app.command(name="train")
def train_command(config: Annotated[TrainConfig, tyro.conf.arg(name="")], resume: Path | None = None,
                  quiet: bool = False) -> None:
    """Train a model on a task's data set (or your own file) and write a run directory.

    Args:
        config: What to train and how.
        resume: A run directory to continue from its last checkpoint with its saved options (no other
            option may be given); a run stopped before its first checkpoint starts again.
        quiet: Print only the final line (and errors): no configuration, no epoch lines, no progress bars.
            Progress bars are shown on a terminal only.
    """
    train(config, resume, progress_bar=not quiet, quiet=quiet)


@app.command(name="evaluate")
def evaluate_command(run_dir: tyro.conf.Positional[Path], data: Path | None = None, batch_size: int = 256,
                     beam_width: int | None = None, ensemble: tuple[Path, ...] = (), device: Device = "auto") -> None:
    """Evaluate a trained run on its task's test split, or on your file; print and save the metrics
    (accuracy and per-label figures; for G2P, word and phoneme error rates).

    Args:
        run_dir: The run directory written by rnnlab train.
        data: A file in the task's format (.npz, TSV, CoNLL-U, word<TAB>phonemes lexicon; forecasting: a CSV file
            of the series, evaluated on its last --test-steps as in training) to evaluate on instead of the test
            split. A forecaster's evaluation also writes a plot of a few forecasts beside the report.
        batch_size: Sequences per batch.
        beam_width: G2P: beam search width (default: the run's; 1 is greedy decoding); another width than the
            run's saves its report as evaluation-*-beamN.json, beside the run's own.
        ensemble: G2P: more runs of the same task to decode with as one (the mean of their probabilities at
            every step); the report is saved in RUN_DIR as evaluation-*-ensemble.json.
        device: Where to run: auto (a CUDA device when one is available, else the CPU), cpu or cuda; a run
            trained on a GPU runs on a machine without one.
    """
    summary, path = evaluate_run(run_dir, data, batch_size, beam_width, ensemble, device)
    print(f"{summary}; all figures in {path}")


@app.command(name="predict")
def predict_command(run_dir: tyro.conf.Positional[Path], inputs: tyro.conf.Positional[tuple[str, ...]] = (),
                    file: Path | None = None, top_k: int = 3, beam_width: int | None = None,
                    output: Path | None = None, ensemble: tuple[Path, ...] = (), force: bool = False,
                    device: Device = "auto", data: Path | None = None) -> None:
    """Predict with a trained run: top-k labels of strings or signals, the tags of sentences, the
    pronunciations of words (one word<TAB>PH1 PH2 ... line per word), or a forecast (CSV: one row per step).

    Args:
        run_dir: The run directory written by rnnlab train.
        inputs: Items on the command line: words or texts (text task), comma-separated values (signal task),
            whitespace-tokenised sentences (tagging task), or words (G2P).
        file: Items from a file instead: one text, sentence or word per line, a .npz with array x (signals), or
            a CoNLL-U file (tagging; written back with the UPOS column filled).
        top_k: How many labels to show per item (classifiers).
        beam_width: G2P: beam search width (default: the run's; 1 is greedy decoding).
        output: Write the results here instead of printing them.
        ensemble: G2P: more runs of the same task to decode with as one (the mean of their probabilities).
        force: Replace the --output file if it exists (without it, an existing file is refused).
        device: Where to run: auto (a CUDA device when one is available, else the CPU), cpu or cuda; a run
            trained on a GPU runs on a machine without one.
        data: Forecasting: a CSV file of the series (its columns as in training) whose last steps the forecast
            continues; the model reads the history before the first row with an empty target, and a model with
            covariates reads them from the next horizon rows (target empty). Written: time, median, lower_80,
            upper_80, lower_95, upper_95 per step.
    """
    if output is not None:
        if output.exists() and not force:
            raise ConfigError(f"--output {output}: already exists; give --force to replace it")
        if not output.parent.is_dir():
            raise ConfigError(f"--output {output}: no such folder {output.parent}")
        check_writable(output, "--output")  # a read-only folder
    text = predict(run_dir, list(inputs), file, top_k, beam_width, ensemble, device, data)
    if output is not None:
        atomic_write(output, lambda tmp: tmp.write_text(text))
        print(f"wrote {output}")
    else:
        print(text, end="")


@app.command(name="generate")
def generate_command(run_dir: tyro.conf.Positional[Path], conditions: tyro.conf.Positional[tuple[str, ...]] = (),
                     samples: Annotated[int, tyro.conf.arg(aliases=("-n",))] = 10, temperature: float = 1.0,
                     top_k: int | None = None, top_p: float | None = None, greedy: bool = False, seed: int = 0,
                     classifier: Path | None = None, output: Path | None = None, device: Device = "auto") -> None:
    """Generate words of the requested languages with a word-generation run; print them and how many
    are real words absent from training (and, with --classifier, recognised as the language asked for).

    Args:
        run_dir: A word-generation run directory written by rnnlab train.
        conditions: Languages to generate words of (default: every language the run knows).
        samples: Words per language.
        temperature: Below 1 sharpens the distribution of each character (safer words), above 1 flattens it.
        top_k: Sample only among the k most probable characters at each step.
        top_p: Sample only among the most probable characters whose probability reaches p (nucleus).
        greedy: Take the most probable character at each step (one word per language).
        seed: Seeds the sampling.
        classifier: A word-language run directory: report the share of samples it assigns back to their language.
        output: Also write the samples and the report as JSON here.
        device: Where to run: auto (a CUDA device when one is available, else the CPU), cpu or cuda; a run
            trained on a GPU runs on a machine without one.
    """
    result = generate_words(run_dir, conditions, samples, temperature, top_k, top_p, greedy, seed, classifier, device)
    classified = result["classified"]
    for language, ws in result["samples"].items():
        print(f"{language}\t{' '.join(w or '(empty)' for w in ws)}")
    print("\nlanguage  novel real words  training words  distinct" + ("  classified back" if classified else ""))
    for language, row in result["report"].items():
        print(f"{language:8s}  {row['novel_real_words']:16.2f}  {row['training_words']:14.2f}  {row['distinct']:8.2f}"
              + (f"  {row['classified_back']:15.2f}" if classified else ""))
    if output is not None:
        write_json(output, {"samples": result["samples"], "report": result["report"], "temperature": temperature,
                            "top_k": top_k, "top_p": top_p, "greedy": greedy, "seed": seed})
        print(f"written: {output}")


@app.command(name="attention")
def attention_command(run_dir: tyro.conf.Positional[Path], word: tyro.conf.Positional[str],
                      output: Path | None = None, device: Device = "auto") -> None:
    """Plot which letters each phoneme of a G2P run's (greedy) transcription of WORD looked at.

    Args:
        run_dir: A G2P run directory written by rnnlab train.
        word: The word to transcribe.
        output: The PNG to write (default: RUN_DIR/attention-WORD.png).
        device: Where to run: auto (a CUDA device when one is available, else the CPU), cpu or cuda; a run
            trained on a GPU runs on a machine without one.
    """
    phonemes, path = attention_plot(run_dir, word, output, device)
    print(f"{word}\t{' '.join(phonemes)}\nwritten: {path}")


@app.command(name="export")
def export_command(run_dir: tyro.conf.Positional[Path], format: Literal["onnx", "torch-export"] = "onnx",
                   output: Path | None = None, int8: bool = False) -> None:
    """Export a trained run's model for serving: an ONNX file (runs with onnxruntime alone) or a torch.export
    program, batch size and sequence length dynamic, lengths an input.  A model that decodes one token at a
    time (G2P, word generation) is two files: its encoder (or start) and one decoder step.

    Args:
        run_dir: The run directory written by rnnlab train.
        format: onnx or torch-export (a .pt2 file for torch.export.load).
        output: The file to write (default: RUN_DIR/model.onnx or model.pt2); a model of two graphs writes
            STEM-encoder/STEM-start and STEM-step beside it.
        int8: ONNX only: quantise the weights of the matrix products to int8 (onnxruntime's dynamic
            quantisation); prints how far its outputs move from the float model's.
    """
    for path, error in export_run(run_dir, format, output, int8):
        check = "" if error != error else f" (largest difference from the model's outputs: {error:.2g})"
        print(f"wrote {path}{check}")

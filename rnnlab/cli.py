"""The ``rnnlab`` command.

Thin by design: each sub-command is a small typed function that tyro turns
into a parser (its signature gives the options, its docstring the help), and
its body calls the module that does the work.  Commands are grouped in
:class:`tyro.extras.SubcommandApp` instances, so a new one is a new decorated
function, and a new group (``train``, ``evaluate``, ``predict``, ``generate``,
``memory``, ``report``) is one more app registered on :data:`app`.

    rnnlab train --task mnist1d                  train on a task's embedded data set
    rnnlab train --resume RUN_DIR                continue an interrupted run
    rnnlab evaluate RUN_DIR [--data PATH]        the metric on the test split or your file (G2P: --ensemble RUN...)
    rnnlab predict RUN_DIR INPUT... [--file F]   labels, tags or pronunciations for new inputs
    rnnlab generate RUN_DIR [LANGUAGE...] -n N   words of a language from a word-generation run
    rnnlab attention RUN_DIR WORD                which letters each phoneme of a G2P output looked at
    rnnlab bench layers [--repeats N] [--quick]
    rnnlab bench scan [--lengths T...] [--quick] [--quality]
    rnnlab bench train [--steps N]               samples/s on 1 and 2 processes (torchrun)
    rnnlab bench dropout [--no-model]            rnnlab's dropout against torch's, alone and in G2P training
    rnnlab diagnose RUN_DIR                      gradient flow, Jacobians, gates, gradient norms of a run
    rnnlab memory [--quick]                      the memory benchmark grid, its table, plots and report
    rnnlab report DIR...                         a self-contained HTML page of runs and grids

Errors in what the user gave (a missing file, a malformed line, an unusable option or
checkpoint) end the command with a one-line message and exit status 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import sys
from pathlib import Path

import tyro
from tyro.extras import SubcommandApp

from rnnlab import bench
from rnnlab.checkpoint import CheckpointError, write_json
from rnnlab.config import ConfigError, TrainConfig
from rnnlab.data import DataError

app = SubcommandApp()
"""The top-level ``rnnlab`` command; every group below is registered on it."""

bench_app = SubcommandApp()
"""``rnnlab bench ...``: benchmarks against torch.nn."""
app.command(bench_app, name="bench", help="Benchmarks against torch.nn, printed as ratios.")


@bench_app.command(name="layers")
def bench_layers(
    repeats: Annotated[int | None, tyro.conf.arg(
        metavar="N", help_behavior_hint=f"(default: {bench.REPEATS}; {bench.QUICK_REPEATS} with --quick)")] = None,
    quick: bool = False,
) -> None:
    """Time rnnlab's LSTM, GRU and RNN (native and unrolled engines) against torch.nn's.

    Prints forward and forward+backward times (median, ms) and their ratios to torch.nn.

    Args:
        repeats: Timed calls of each module, interleaved; the median is reported.
        quick: Fast smoke run: fewer repeats and a tenth of the time steps.
    """
    bench.bench_layers(repeats=repeats, quick=quick)


@bench_app.command(name="scan")
def bench_scan(
    lengths: Annotated[tuple[int, ...] | None, tyro.conf.arg(
        metavar="T", help_behavior_hint="(default: 256 1024 4096; 64 256 with --quick)")] = None,
    repeats: Annotated[int | None, tyro.conf.arg(metavar="N", help_behavior_hint="(default: 7; 2 with --quick)")] = None,
    quick: bool = False,
    device: str = "cpu",
    quality: bool = False,
) -> None:
    """Time minGRU and minLSTM (parallel scan and unrolled) against torch.nn's GRU and LSTM.

    Prints forward and forward+backward times (median, ms), the speed-up over torch.nn, the memory kept
    for the backward pass, and how time grows with T. With --quality, also trains each cell on MNIST-1D
    and the adding problem (T=200) with the same budget and prints accuracy/MSE and time side by side.

    Args:
        lengths: Sequence lengths T to time (B=32, I=64, H=256).
        repeats: Timed calls of each layer per length, interleaved; the median is reported.
        quick: Fast smoke run: short sequences, few repeats (and tiny training budgets with --quality).
        device: cpu or cuda.
        quality: Also compare the cells' quality under the same training budget.
    """
    from rnnlab import bench_scan as module

    module.bench_scan(lengths=lengths, repeats=repeats, quick=quick, device=device)
    if quality:
        module.bench_quality(quick=quick)


@bench_app.command(name="seq2seq")
def bench_seq2seq(hidden_sizes: tuple[int, ...] = (128, 256),
                  precisions: tuple[Literal["fp32", "bf16"], ...] = ("fp32", "bf16"), repeats: int = 10) -> None:
    """Time the G2P encoder-decoder's training step three ways on CMUdict batches (CPU): with input feeding
    (stepped), without (stepped), and without, fused (the decoder cell over the whole target in one kernel).

    Prints milliseconds per forward+backward (median) and the ratios to input feeding's.

    Args:
        hidden_sizes: Encoder sizes per direction to time (the decoder is twice as wide).
        precisions: fp32 and/or bf16 (autocast).
        repeats: Timed steps of each contender, interleaved; the median is reported.
    """
    from rnnlab import bench_seq2seq as module

    module.bench_seq2seq(tuple(hidden_sizes), tuple(precisions), repeats)


@bench_app.command(name="dropout")
def bench_dropout(widths: tuple[int, ...] = (512, 1024), repeats: int = 20, model: bool = True) -> None:
    """Time rnnlab's dropout against torch's (CPU): alone on activations (128, 12, width) in fp32 and bf16,
    and in the default G2P model's training step (bf16), forward + backward.

    Prints milliseconds (median) and the ratio rnnlab / torch.

    Args:
        widths: Activation widths to time dropout alone on.
        repeats: Timed calls of each contender, interleaved; the median is reported.
        model: Also time the G2P training step with each dropout (--no-model: dropout alone).
    """
    from rnnlab import bench_dropout as module

    module.bench_dropout(tuple(widths), repeats, model)


@bench_app.command(name="train")
def bench_train(tasks: tuple[str, ...] = ("upos", "g2p", "mnist1d"), processes: tuple[int, ...] = (1, 2), steps: int = 30,
                device: str = "cpu") -> None:
    """Training throughput (samples/s) of the task models on 1 and more processes under torchrun, with the
    scaling efficiency; on a CPU the cores are split evenly between the processes.

    Args:
        tasks: Tasks to time (their default models and real data): upos, g2p, mnist1d.
        processes: Process counts to compare.
        steps: Timed global batches per run (after 3 warm-up ones).
        device: cpu or cuda (one GPU per process).
    """
    from rnnlab import bench_train as module

    unknown = [t for t in tasks if t not in module.TASKS]
    if unknown:
        raise ConfigError(f"--tasks: unknown task {unknown[0]!r}; choose from {module.TASKS}")
    if steps < 1 or any(p < 1 for p in processes):
        raise ConfigError("--steps and --processes must be at least 1")
    module.bench_train(tuple(tasks), tuple(processes), steps, device)


@app.command(name="train")
def train_command(config: Annotated[TrainConfig, tyro.conf.arg(name="")], resume: Path | None = None) -> None:
    """Train a model on a task's data set (or your own file) and write a run directory.

    Args:
        config: What to train and how.
        resume: A run directory to continue from its last checkpoint (its saved options apply).
    """
    from rnnlab.train import train

    train(config, resume)


@app.command(name="evaluate")
def evaluate_command(run_dir: tyro.conf.Positional[Path], data: Path | None = None, batch_size: int = 256,
                     beam_width: int | None = None, ensemble: tuple[Path, ...] = ()) -> None:
    """Evaluate a trained run on its task's test split, or on your file; print and save the metrics
    (accuracy and per-label figures; for G2P, word and phoneme error rates).

    Args:
        run_dir: The run directory written by rnnlab train.
        data: A file in the task's format (.npz, TSV, CoNLL-U, word<TAB>phonemes lexicon) to evaluate on instead
            of the test split.
        batch_size: Sequences per batch.
        beam_width: G2P: beam search width (default: the run's; 1 is greedy decoding); another width than the
            run's saves its report as evaluation-*-beamN.json, beside the run's own.
        ensemble: G2P: more runs of the same task to decode with as one (the mean of their probabilities at
            every step); the report is saved in RUN_DIR as evaluation-*-ensemble.json.
    """
    from rnnlab.tasks import READERS, load_splits
    from rnnlab.train import load_ensemble

    config, task, model = load_ensemble([run_dir, *ensemble])
    options = {}
    if beam_width is not None:
        if config.kind != "transcription" or beam_width < 1:
            raise ConfigError("--beam-width applies to G2P runs and must be at least 1")
        options["beam_width"] = beam_width
    dataset = READERS[config.kind](data) if data is not None else load_splits(config).test
    report = task.evaluate(model, dataset, batch_size, config.torch_device(), progress_bar=True, **options)
    beam = f"-beam{beam_width}" if beam_width is not None and beam_width != config.beam_width else ""
    name = f"evaluation-{data.stem if data is not None else 'test'}{'-ensemble' if ensemble else ''}{beam}.json"
    runs = {"ensemble": [str(r) for r in (run_dir, *ensemble)]} if ensemble else {}
    write_json(Path(run_dir) / name, {"data": str(data) if data else "test split", **runs, **report})
    print(f"{task.describe(report)}; all figures in {Path(run_dir) / name}")


@app.command(name="predict")
def predict_command(run_dir: tyro.conf.Positional[Path], inputs: tyro.conf.Positional[tuple[str, ...]] = (),
                    file: Path | None = None, top_k: int = 3, beam_width: int | None = None,
                    output: Path | None = None, ensemble: tuple[Path, ...] = ()) -> None:
    """Predict with a trained run: top-k labels of strings or signals, the tags of sentences, or the
    pronunciations of words (one word<TAB>PH1 PH2 ... line per word).

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
    """
    from rnnlab import predict

    text = predict.predict(run_dir, list(inputs), file, top_k, beam_width, ensemble)
    if output is not None:
        output.write_text(text)
        print(f"wrote {output}")
    else:
        print(text, end="")


@app.command(name="generate")
def generate_command(run_dir: tyro.conf.Positional[Path], conditions: tyro.conf.Positional[tuple[str, ...]] = (),
                     samples: Annotated[int, tyro.conf.arg(aliases=("-n",))] = 10, temperature: float = 1.0,
                     top_k: int | None = None, top_p: float | None = None, greedy: bool = False, seed: int = 0,
                     classifier: Path | None = None, output: Path | None = None) -> None:
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
    """
    from rnnlab.generation import GenerationTask, sample_report, top_labels
    from rnnlab.tasks import TextTask, load_splits
    from rnnlab.train import load_run

    if samples < 1 or temperature <= 0:
        raise ConfigError("--samples must be at least 1 and --temperature positive")
    if top_k is not None and top_k < 1 or top_p is not None and not 0 < top_p <= 1:
        raise ConfigError("--top-k must be at least 1 and --top-p in (0, 1]")
    config, task, model = load_run(run_dir)
    if not isinstance(task, GenerationTask):
        raise ConfigError(f"{run_dir}: generate needs a word-generation run, this one is {config.task}")
    languages = list(conditions) or task.classes
    words = task.generate(model, languages, 1 if greedy else samples, config.torch_device(), temperature=temperature,
                          top_k=top_k, top_p=top_p, greedy=greedy, seed=seed)
    classified = None
    if classifier is not None:
        _, word_task, word_model = load_run(classifier)
        if not isinstance(word_task, TextTask):
            raise ConfigError(f"{classifier}: --classifier needs a word-language run")
        classified = top_labels(words, word_task, word_model, config.torch_device())
    report = sample_report(words, set(load_splits(config).train.texts), classified)
    for language, ws in words.items():
        print(f"{language}\t{' '.join(w or '(empty)' for w in ws)}")
    print("\nlanguage  novel real words  training words  distinct" + ("  classified back" if classified else ""))
    for language, row in report.items():
        print(f"{language:8s}  {row['novel_real_words']:16.2f}  {row['training_words']:14.2f}  {row['distinct']:8.2f}"
              + (f"  {row['classified_back']:15.2f}" if classified else ""))
    if output is not None:
        write_json(output, {"samples": words, "report": report, "temperature": temperature, "top_k": top_k,
                            "top_p": top_p, "greedy": greedy, "seed": seed})
        print(f"written: {output}")


@app.command(name="attention")
def attention_command(run_dir: tyro.conf.Positional[Path], word: tyro.conf.Positional[str],
                      output: Path | None = None) -> None:
    """Plot which letters each phoneme of a G2P run's (greedy) transcription of WORD looked at.

    Args:
        run_dir: A G2P run directory written by rnnlab train.
        word: The word to transcribe.
        output: The PNG to write (default: RUN_DIR/attention-WORD.png).
    """
    from rnnlab.report import plot_attention
    from rnnlab.train import load_run
    from rnnlab.transcription import TranscriptionTask

    config, task, model = load_run(run_dir)
    if not isinstance(task, TranscriptionTask):
        raise ConfigError(f"{run_dir}: attention plots need a G2P run, this one is {config.task}")
    phonemes, weights = task.attention(model, word, config.torch_device())
    path = plot_attention(word.lower(), phonemes, weights, output or Path(run_dir) / f"attention-{word.lower()}.png")
    print(f"{word}\t{' '.join(phonemes)}\nwritten: {path}")


@bench_app.command(name="order")
def bench_order(out_dir: Path | None = None, quick: bool = False, seed: int = 0) -> None:
    """Order is the point: recurrent vs order-blind models, on MNIST-1D in order and shuffled, and on words.

    Prints the table of test accuracies and saves it as order.json and order.png.

    Args:
        out_dir: Where the runs, the table and the figure go (default: runs/bench-order-TIME).
        quick: A few epochs per model: a fast check that everything runs, not the real numbers.
        seed: Seeds every run.
    """
    bench.bench_order(out_dir, quick, seed)


@app.command(name="diagnose")
def diagnose_command(run_dir: tyro.conf.Positional[Path], batch_size: int = 32,
                     jacobian_sequences: int = 4) -> None:
    """Diagnose a trained run: how far back its gradient reaches, its Jacobians, gates and gradient norms.

    Writes RUN_DIR/diagnostics/diagnostics.json and plots (gradient_flow.png, jacobian.png, gates.png,
    grad_norms.png); `rnnlab report RUN_DIR` puts them in a page.

    Args:
        run_dir: A run directory written by `rnnlab train`.
        batch_size: Validation sequences in the diagnosed batch.
        jacobian_sequences: Sequences whose state Jacobians are computed (exactly, per step).
    """
    from rnnlab.report import diagnose_run

    diagnose_run(run_dir, batch_size, jacobian_sequences)


@app.command(name="memory")
def memory_command(out_dir: Path | None = None, quick: bool = False, cells: tuple[str, ...] | None = None,
                   updates: int | None = None, workers: int | None = None, seed: int = 0, mnist: bool = True) -> None:
    """Memory benchmarks: adding problem and copy memory over growing lengths, and shuffled MNIST-1D, per cell.

    Prints the table (final metric, memoryless baseline, solved or not, updates to solve, time) and
    writes memory.json, the plots and report.html.

    Args:
        out_dir: Where everything goes (default: runs/memory-TIME).
        quick: A small grid (2 lengths per task, 150 updates, 1 MNIST-1D epoch), under a minute on 2 cores.
        cells: Cells to compare (default: rnn irnn lstm lstm-fb1 gru mingru minlstm).
        updates: Training updates per run (default: 1500; 150 with --quick).
        workers: Parallel worker processes (default: 2, or 1 on a 1-core machine).
        seed: Seeds every run.
        mnist: Include shuffled MNIST-1D.
    """
    from rnnlab.memory import GRID_CELLS, run_grid
    from rnnlab.models import CELLS

    unknown = [c for c in cells or () if c not in CELLS]
    if unknown:
        raise ConfigError(f"--cells: unknown cell {unknown[0]!r}; choose from {sorted(CELLS)}")
    if updates is not None and updates < 1:
        raise ConfigError(f"--updates must be at least 1, got {updates}")
    run_grid(out_dir, tuple(cells or GRID_CELLS), quick, updates, workers, seed, mnist)


@app.command(name="report")
def report_command(directories: tyro.conf.Positional[tuple[Path, ...]],
                   output: Path | None = None) -> None:
    """Write a self-contained HTML report (plots embedded) of memory grids, train runs and their diagnostics.

    Args:
        directories: Directories written by `rnnlab memory`, `rnnlab train` or `rnnlab diagnose`.
        output: The page (default: report.html in the first directory).
    """
    from rnnlab.report import write_report

    if not directories:
        raise ConfigError("report: give at least one directory")
    path = write_report(list(directories), output or Path(directories[0]) / "report.html")
    print(f"written: {path}")


def main(args: Sequence[str] | None = None) -> None:
    """Run the ``rnnlab`` command on ``args`` (default: ``sys.argv[1:]``)."""
    try:
        app.cli(prog="rnnlab", description="rnnlab: recurrent neural networks from the recurrence up.", args=args,
                config=(tyro.conf.OmitArgPrefixes,))
    except (DataError, CheckpointError, ConfigError) as error:
        print(f"rnnlab: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()

"""``rnnlab bench ...``: the benchmarks, each printed as ratios against its reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import tyro
from tyro.extras import SubcommandApp

from rnnlab.bench import dropout, explore, export, layers, regularisers, scan, seq2seq, train
from rnnlab.cli.root import app
from rnnlab.experiments import order

bench_app = SubcommandApp()
"""``rnnlab bench ...``: benchmarks against torch.nn."""
app.command(bench_app, name="bench", help="Benchmarks against torch.nn, printed as ratios.")


@bench_app.command(name="layers")
def bench_layers(
    repeats: Annotated[int | None, tyro.conf.arg(
        metavar="N", help_behavior_hint=f"(default: {layers.REPEATS}; {layers.QUICK_REPEATS} with --quick)")] = None,
    quick: bool = False,
) -> None:
    """Time rnnlab's LSTM, GRU and RNN (native and unrolled engines) against torch.nn's, then the cells
    torch.nn lacks (peephole and layer-norm LSTM, layer-norm GRU, MGU) against torch.nn's LSTM or GRU.

    Prints forward and forward+backward times (median, ms) and their ratios to torch.nn.

    Args:
        repeats: Timed calls of each module, interleaved; the median is reported.
        quick: Fast smoke run: fewer repeats and a tenth of the time steps.
    """
    layers.bench_layers(repeats=repeats, quick=quick)
    print()
    layers.bench_variants(repeats=repeats, quick=quick)


@bench_app.command(name="regularisers")
def bench_regularisers(
    repeats: Annotated[int | None, tyro.conf.arg(
        metavar="N", help_behavior_hint=f"(default: {layers.REPEATS}; {layers.QUICK_REPEATS} with --quick)")] = None,
    quick: bool = False,
) -> None:
    """Time an LSTM with weight_drop (native engine), zoneout and recurrent_dropout (unrolled) against the same
    layer without.

    Prints forward+backward times in training mode (median, ms) and each regulariser's ratio to its
    plain engine.

    Args:
        repeats: Timed calls of each layer, interleaved; the median is reported.
        quick: Fast smoke run: fewer repeats and a tenth of the time steps.
    """
    regularisers.bench_regularisers(repeats=repeats, quick=quick)


@bench_app.command(name="scan")
def bench_scan(
    lengths: Annotated[tuple[int, ...] | None, tyro.conf.arg(
        metavar="T", help_behavior_hint="(default: 256 1024 4096; 64 256 with --quick)")] = None,
    repeats: Annotated[int | None, tyro.conf.arg(
        metavar="N", help_behavior_hint="(default: 7; 2 with --quick)")] = None,
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
    scan.bench_scan(lengths=lengths, repeats=repeats, quick=quick, device=device)
    if quality:
        scan.bench_quality(quick=quick)


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
    seq2seq.bench_seq2seq(tuple(hidden_sizes), tuple(precisions), repeats)


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
    dropout.bench_dropout(tuple(widths), repeats, model)


@bench_app.command(name="train")
def bench_train(tasks: tuple[str, ...] = ("upos", "g2p", "mnist1d"), processes: tuple[int, ...] = (1, 2),
                steps: int = 30, device: str = "cpu") -> None:
    """Training throughput (samples/s) of the task models on 1 and more processes under torchrun, with the
    scaling efficiency; on a CPU the cores are split evenly between the processes.

    Args:
        tasks: Tasks to time (their default models and real data): upos, g2p, mnist1d.
        processes: Process counts to compare.
        steps: Timed global batches per run (after 3 warm-up ones).
        device: cpu or cuda (one GPU per process).
    """
    train.bench_train(tuple(tasks), tuple(processes), steps, device)


@bench_app.command(name="order")
def bench_order(out_dir: Path | None = None, quick: bool = False, seed: int = 0) -> None:
    """Order is the point: recurrent vs order-blind models, on MNIST-1D and Japanese Vowels in order and shuffled,
    and on words.

    Prints the table of test accuracies and saves it as order.json and order.png.

    Args:
        out_dir: Where the runs, the table and the figure go (default: runs/bench-order-TIME).
        quick: A few epochs per model: a fast check that everything runs, not the real numbers.
        seed: Seeds every run.
    """
    order.bench_order(out_dir, quick, seed)


@bench_app.command(name="explore")
def bench_explore(steps: int = 1000, hidden_size: int = 256, cell: str = "lstm", repeats: int = 5) -> None:
    """Time the explorer page of a long input in Debian's headless Chromium: from the start of navigation to
    the end of drawing (the page should be usable within 2 s at 1,000 steps).

    Prints the page's size, the seconds to gather its data, and the median load time.  Needs chromium and
    chromium-driver (apt-get install chromium chromium-driver) and Selenium (the dev extra).

    Args:
        steps: Time steps of the input.
        hidden_size: Units of the (untrained) cell.
        cell: The cell.
        repeats: Page loads; the median is reported.
    """
    explore.bench_explore(steps, hidden_size, cell, repeats)

@bench_app.command(name="export")
def bench_export(run_dirs: tyro.conf.Positional[tuple[Path, ...]], items: int = 2000, batch_size: int = 64) -> None:
    """What serving a run costs and saves: its model in PyTorch, as ONNX in onnxruntime, and as int8 ONNX
    (dynamic quantisation), each evaluated on the run's test split on one thread.

    Prints the size (MB), the evaluation time (s) and the task's metric of each, with the changes from PyTorch.

    Args:
        run_dirs: Run directories of classifiers (word-language), taggers (UPOS) or G2P (greedy decoding).
        items: Test items evaluated (the first ones of the split).
        batch_size: Items per batch.
    """
    export.bench_export(tuple(run_dirs), items, batch_size)

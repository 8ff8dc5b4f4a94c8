"""The speed of the parallel-scan recurrences (minGRU, minLSTM) against torch.nn's GRU and LSTM.

:func:`bench_scan` times forward and forward+backward of :class:`~rnnlab.MinGRU` and
:class:`~rnnlab.MinLSTM`, through the ``scan`` and ``unrolled`` engines, and torch.nn's
:class:`~torch.nn.GRU` and :class:`~torch.nn.LSTM` (oneDNN on CPU, cuDNN on GPU), one layer each,
at several lengths, interleaved in one run.  It prints the medians, each minimal cell's ratio to
its gated counterpart (above 1: faster than torch.nn), the memory kept for the backward pass, and
how time grows with ``T`` (the exponent ``p`` of ``time ~ T^p`` fitted over the lengths).

Shapes: input ``(T, B, I)``, output ``(T, B, H)``.

Run it as ``rnnlab bench scan`` or ``python -m rnnlab.bench.scan``.
"""

from __future__ import annotations

import math
import statistics
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

import rnnlab
from rnnlab.bench.timing import Size, interleaved_medians, timed_call
from rnnlab.experiments.memory import Recipe, train_memory
from rnnlab.tasks import TrainConfig
from rnnlab.training import train

LENGTHS = (256, 1024, 4096)
QUICK_LENGTHS = (64, 256)
BATCH, INPUT, HIDDEN = 32, 64, 256
REPEATS, QUICK_REPEATS = 7, 2

CONTENDERS: dict[str, Callable[[int, int], nn.Module]] = {
    "torch GRU": nn.GRU,
    "torch LSTM": nn.LSTM,
    "minGRU scan": lambda i, h: rnnlab.MinGRU(i, h, engine="scan"),
    "minGRU unrolled": lambda i, h: rnnlab.MinGRU(i, h, engine="unrolled"),
    "minLSTM scan": lambda i, h: rnnlab.MinLSTM(i, h, engine="scan"),
    "minLSTM unrolled": lambda i, h: rnnlab.MinLSTM(i, h, engine="unrolled"),
}
REFERENCE = {"minGRU": "torch GRU", "minLSTM": "torch LSTM"}
"""Each minimal cell is compared with the gated cell it simplifies."""

KINDS = ("fwd", "fwd_bwd")


def bench_scan(lengths: Sequence[int] | None = None, repeats: int | None = None, quick: bool = False,
               batch: int = BATCH, input_size: int = INPUT, hidden_size: int = HIDDEN, device: str = "cpu",
               unrolled_up_to: int = 1024, seed: int = 0) -> list[dict]:
    """Time every contender at every length; print the table and return its rows.

    Args:
        lengths: the values of ``T`` (default ``LENGTHS``; ``QUICK_LENGTHS`` with ``quick``).
        repeats: timed calls of each contender per length; the median is reported.
        batch, input_size, hidden_size: ``B``, ``I``, ``H``.
        device: ``cpu`` or ``cuda``.
        unrolled_up_to: the unrolled engines (the step-by-step reference) are timed only up to this ``T``.

    Returns:
        One dict per (contender, ``T``): ``name``, ``T``, ``fwd_ms``, ``fwd_bwd_ms``, ``saved_mb``
        (memory kept for the backward pass), and for the minimal cells ``fwd_speedup`` and
        ``fwd_bwd_speedup`` (the reference's time over theirs).
    """
    lengths = list(lengths or (QUICK_LENGTHS if quick else LENGTHS))
    repeats = repeats or (QUICK_REPEATS if quick else REPEATS)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("bench scan: --device cuda needs a CUDA GPU, and none is available")
    print(f"rnnlab bench scan: one layer, B={batch} I={input_size} H={hidden_size}, float32 on {_describe(dev)}, "
          f"median of {repeats} interleaved repeats; speed-up = torch.nn's time / ours")
    rows = []
    for steps in lengths:
        size = Size(steps, batch, input_size, hidden_size)
        names = [n for n in CONTENDERS if "unrolled" not in n or steps <= unrolled_up_to]
        torch.manual_seed(seed)
        modules = {n: CONTENDERS[n](input_size, hidden_size).to(dev) for n in names}
        x = torch.randn(steps, batch, input_size, device=dev, requires_grad=True)
        calls = {(n, k): timed_call(modules[n], x, k) for n in names for k in KINDS}
        seconds = interleaved_medians(calls, names, repeats)
        for n in names:
            row = {"name": n, **size._asdict(), "saved_mb": _saved_megabytes(modules[n], x)}
            for k in KINDS:
                row[f"{k}_ms"] = 1e3 * seconds[n, k]
            rows.append(row)
        for row in rows[-len(names):]:
            reference = REFERENCE.get(row["name"].split()[0])
            if reference:
                ref = next(r for r in rows[-len(names):] if r["name"] == reference)
                for k in KINDS:
                    row[f"{k}_speedup"] = ref[f"{k}_ms"] / row[f"{k}_ms"]
        _print_length(rows[-len(names):], steps)
    _print_growth(rows)
    return rows


QUALITY_CELLS = ("gru", "mingru", "lstm", "minlstm")
QUALITY_EPOCHS, QUICK_QUALITY_EPOCHS = 20, 1
ADDING_STEPS, ADDING_UPDATES, QUICK_ADDING_UPDATES = 200, 1500, 20
SHARED_RECIPE = Recipe("adam", 1e-2, "onecycle", source="one budget for every cell")
"""The adding problem's recipe for every cell of :data:`QUALITY_CELLS`, so that their times and results compare."""


def bench_quality(quick: bool = False, out_dir: Path | None = None, seed: int = 0) -> list[dict]:
    """Each cell of :data:`QUALITY_CELLS` trained with the same budget on MNIST-1D (``rnnlab train``'s
    recipe for the task with ``QUALITY_EPOCHS`` epochs) and on the adding problem at ``T = 200``
    (``ADDING_UPDATES`` updates of batch 64); prints test accuracy, test MSE and times side by side."""
    epochs = QUICK_QUALITY_EPOCHS if quick else QUALITY_EPOCHS
    updates = QUICK_ADDING_UPDATES if quick else ADDING_UPDATES
    print(f"\nquality with the same budget: MNIST-1D ({epochs} epochs of the task's recipe), "
          f"adding problem T={ADDING_STEPS} ({updates} updates of batch 64, hidden 64)")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(out_dir) if out_dir is not None else Path(scratch)
        for cell in QUALITY_CELLS:
            summary = train(TrainConfig(task="mnist1d", cell=cell, epochs=epochs, seed=seed,
                                        run_dir=base / f"mnist1d-{cell}"), progress_bar=False)
            adding = train_memory("adding", cell, ADDING_STEPS, updates=updates, recipe=SHARED_RECIPE, seed=seed,
                                  stop_when_solved=False)
            rows.append({"cell": cell, "mnist1d_accuracy": summary["test_accuracy"],
                         "mnist1d_seconds": summary["seconds"], "adding_mse": adding.metric,
                         "adding_solved": adding.solved, "adding_seconds": adding.seconds})
    print(f"\n{'cell':8s} {'MNIST-1D acc':>12s} {'time':>7s} {'adding MSE':>11s} {'solved':>7s} {'time':>7s}")
    for r in rows:
        print(f"{r['cell']:8s} {r['mnist1d_accuracy']:12.4f} {r['mnist1d_seconds']:6.0f}s {r['adding_mse']:11.4f} "
              f"{'yes' if r['adding_solved'] else 'no':>7s} {r['adding_seconds']:6.0f}s")
    return rows


def _saved_megabytes(module: nn.Module, x: Tensor) -> float:
    """Megabytes of tensors autograd keeps from one forward pass for the backward (each storage once)."""
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        output, _ = module(x)
    del output
    return sum(storages.values()) / 2**20


def _print_length(rows: list[dict], steps: int) -> None:
    print(f"\nT={steps}")
    print(f"  {'':18s} {'fwd ms':>9s} {'fwd+bwd ms':>11s} {'speed-up fwd':>13s} {'fwd+bwd':>8s} {'saved MB':>9s}")
    for row in rows:
        speed = (f"{row['fwd_speedup']:12.2f}x {row['fwd_bwd_speedup']:7.2f}x" if "fwd_speedup" in row
                 else f"{'':13s} {'':8s}")
        print(f"  {row['name']:18s} {row['fwd_ms']:9.2f} {row['fwd_bwd_ms']:11.2f} {speed} {row['saved_mb']:9.1f}",
              flush=True)


def _print_growth(rows: list[dict]) -> None:
    """The exponent p of fwd+bwd time ~ T^p per contender, fitted by least squares in log-log."""
    print("\ngrowth of fwd+bwd time with T (p in time ~ T^p; 1 is linear):")
    for name in dict.fromkeys(r["name"] for r in rows):
        points = [(math.log(r["T"]), math.log(r["fwd_bwd_ms"])) for r in rows if r["name"] == name]
        if len(points) < 2:
            continue
        mean_x = statistics.fmean(p[0] for p in points)
        mean_y = statistics.fmean(p[1] for p in points)
        slope = sum((px - mean_x) * (py - mean_y) for px, py in points) / sum((px - mean_x) ** 2 for px, _ in points)
        print(f"  {name:18s} p = {slope:.2f}")


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


if __name__ == "__main__":
    bench_scan()

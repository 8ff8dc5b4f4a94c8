"""Benchmarks against torch.nn, printed as ratios.

:func:`bench_layers` times rnnlab's :class:`~rnnlab.LSTM`, :class:`~rnnlab.GRU` and
:class:`~rnnlab.RNN` (tanh), through both engines, against torch.nn's module of
the same name.  The three modules of a comparison share one set of parameters
(``load_state_dict``) and are timed in the same run, interleaved and in
rotating order, so that machine noise falls on all three alike.  Each time is
the median over repeats; each ratio is that time divided by torch.nn's
(above 1 means slower than torch.nn).

Shapes: ``T`` time steps, ``B`` batch, ``I`` input features, ``H`` hidden
features; the input is time-major ``(T, B, I)`` and the output ``(T, B, H)``.

Run it as ``rnnlab bench layers`` or ``python -m rnnlab.bench layers``.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

import rnnlab


class Size(NamedTuple):
    """One problem size: input ``(T, B, I)`` into a layer of ``H`` hidden features."""

    T: int
    B: int
    I: int  # noqa: E741 - the letter every RNN shape table uses
    H: int

    def __str__(self) -> str:
        return f"T={self.T} B={self.B} I={self.I} H={self.H}"


SIZES = (Size(T=100, B=32, I=64, H=256), Size(T=1000, B=16, I=64, H=128))
QUICK_SIZES = tuple(s._replace(T=s.T // 10) for s in SIZES)
REPEATS, QUICK_REPEATS = 20, 3

CELLS: dict[str, tuple[type[nn.Module], type[rnnlab.Recurrent]]] = {
    "LSTM": (nn.LSTM, rnnlab.LSTM),
    "GRU": (nn.GRU, rnnlab.GRU),
    "RNN": (nn.RNN, rnnlab.RNN),  # tanh, the default nonlinearity of both
}
CONTENDERS = ("torch", "native", "unrolled")
KINDS = ("fwd", "fwd_bwd")


def bench_layers(repeats: int | None = None, quick: bool = False, sizes: Sequence[Size] | None = None,
                 seed: int = 0) -> list[dict]:
    """Time forward and forward+backward of every cell and size; print a table and return its rows.

    Args:
        repeats: timed calls of each module; the median is reported.  Default ``REPEATS``
            (``QUICK_REPEATS`` with ``quick``).
        quick: a fast smoke run: fewer repeats and, unless ``sizes`` is given, a tenth of the time steps.
        sizes: the problem sizes, ``(T, B, I, H)`` each; default ``SIZES`` (``QUICK_SIZES`` with ``quick``).
        seed: seeds the parameters and the input.

    Returns:
        One dict per (cell, size): ``cell``, ``T``, ``B``, ``I``, ``H``, then for each
        contender in ``torch``, ``native``, ``unrolled`` and each kind in ``fwd``, ``fwd_bwd`` the
        median ``{contender}_{kind}_ms``, and for ``native``/``unrolled`` ``{contender}_{kind}_ratio``
        (the time over torch.nn's).
    """
    if repeats is None:
        repeats = QUICK_REPEATS if quick else REPEATS
    if repeats < 1:
        raise ValueError(f"bench_layers: repeats must be at least 1, got {repeats}")
    sizes = [Size(*s) for s in (sizes if sizes is not None else QUICK_SIZES if quick else SIZES)]

    print(_header(repeats))
    widths = _column_widths(sizes)
    print(_format_row(_column_titles(), widths))
    rows = []
    for size in sizes:
        for cell in CELLS:
            row = bench_one(cell, size, repeats, seed)
            print(_format_row(_row_text(row), widths), flush=True)
            rows.append(row)
    return rows


def bench_one(cell: str, size: Size, repeats: int, seed: int = 0) -> dict:
    """Time torch.nn's ``cell`` layer and rnnlab's, through both engines, on one size; one row of the table."""
    torch.manual_seed(seed)
    reference, ours = CELLS[cell]
    modules = {"torch": reference(size.I, size.H)}
    for engine in ("native", "unrolled"):
        modules[engine] = ours(size.I, size.H, engine=engine)
        modules[engine].load_state_dict(modules["torch"].state_dict())
    x = torch.randn(size.T, size.B, size.I, requires_grad=True)
    calls = {(name, kind): timed_call(module, x, kind) for name, module in modules.items() for kind in KINDS}

    _check_same_output(cell, size, modules, x)
    seconds = interleaved_medians(calls, CONTENDERS, repeats)

    row: dict = {"cell": cell, **size._asdict()}
    for kind in KINDS:
        for name in CONTENDERS:
            row[f"{name}_{kind}_ms"] = 1e3 * seconds[name, kind]
        for name in CONTENDERS[1:]:
            row[f"{name}_{kind}_ratio"] = row[f"{name}_{kind}_ms"] / row[f"torch_{kind}_ms"]
    return row


def interleaved_medians(calls: dict[tuple[str, str], Callable[[], float]], names: Sequence[str],
                        repeats: int) -> dict[tuple[str, str], float]:
    """The median seconds of every ``(name, kind)`` call: each is run once to warm up (lazy kernel
    set-up and allocator growth stay out of the times), then ``repeats`` times, the contenders
    ``names`` in rotating order so that machine noise falls on all of them alike."""
    kinds = list(dict.fromkeys(kind for _, kind in calls))
    for call in calls.values():
        call()
    times: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    for r in range(repeats):
        shift = r % len(names)
        for name in [*names[shift:], *names[:shift]]:
            for kind in kinds:
                times[name, kind].append(calls[name, kind]())
    return {key: statistics.median(values) for key, values in times.items()}


def timed_call(module: nn.Module, x: Tensor, kind: str) -> Callable[[], float]:
    """A function that runs ``module`` on ``x (T, B, I)`` once and returns the seconds it took
    (waiting for a GPU to finish).

    ``fwd``: the forward pass, with autograd recording as in training.  ``fwd_bwd``: forward, then
    the gradient of ``output.sum()`` with respect to every parameter and the input.
    """
    wrt = [x, *module.parameters()]

    def call() -> float:
        _synchronize(x)
        start = time.perf_counter()
        output, _ = module(x)
        if kind == "fwd_bwd":
            torch.autograd.grad(output.sum(), wrt)
        _synchronize(x)
        elapsed = time.perf_counter() - start
        del output  # a forward-only graph is freed here, outside the timed span
        return elapsed

    return call


def _synchronize(x: Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def _check_same_output(cell: str, size: Size, modules: dict[str, nn.Module], x: Tensor) -> None:
    """Refuse to time modules that do not compute the same function."""
    with torch.no_grad():
        outputs = {name: module(x)[0] for name, module in modules.items()}
    for name in CONTENDERS[1:]:
        if not torch.allclose(outputs[name], outputs["torch"], rtol=1e-4, atol=1e-5):
            error = (outputs[name] - outputs["torch"]).abs().max().item()
            raise RuntimeError(f"bench: rnnlab {cell} ({name}) differs from torch.nn's on {size} "
                               f"by up to {error:.3g}")


# ------------------------------------------------------------------ the table
def _header(repeats: int) -> str:
    return "\n".join([
        f"rnnlab layers vs torch.nn (torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, float32)",
        f"times in ms, median of {repeats} interleaved repeats after one warm-up call each; "
        "one layer, one direction, time-major input",
        "fwd: forward with autograd recording (as in training); fwd+bwd: forward + grad of output.sum() "
        "w.r.t. parameters and input",
        "(x) = time / torch.nn's time: above 1 is slower than torch.nn",
        "",
    ])


def _column_titles() -> list[str]:
    titles = ["cell", "size"]
    for kind in ("fwd", "fwd+bwd"):
        titles += [f"torch.nn {kind}", f"native {kind}", f"unrolled {kind}"]
    return titles


def _row_text(row: dict) -> list[str]:
    text = [row["cell"], str(Size(row["T"], row["B"], row["I"], row["H"]))]
    for kind in KINDS:
        text.append(f"{row[f'torch_{kind}_ms']:.2f}")
        text += [f"{row[f'{name}_{kind}_ms']:.2f} ({row[f'{name}_{kind}_ratio']:.2f}x)" for name in CONTENDERS[1:]]
    return text


def _column_widths(sizes: Sequence[Size]) -> list[int]:
    widths = [len(t) for t in _column_titles()]
    widths[0] = max(widths[0], *(len(c) for c in CELLS))
    widths[1] = max(widths[1], *(len(str(s)) for s in sizes))
    ratio_columns = (3, 4, 6, 7)
    return [max(w, 16) if k in ratio_columns else w for k, w in enumerate(widths)]  # room for "1234.56 (12.34x)"


def _format_row(text: list[str], widths: list[int]) -> str:
    """Two columns of text left-aligned, the numbers right-aligned; a bar between fwd and fwd+bwd."""
    parts = [text[0].ljust(widths[0]), text[1].ljust(widths[1])]
    parts += [t.rjust(w) for t, w in zip(text[2:5], widths[2:5])] + ["|"]
    parts += [t.rjust(w) for t, w in zip(text[5:], widths[5:])]
    return "  ".join(parts)



# ------------------------------------------------------- order is the point
ORDER_GRID = (
    ("mnist1d", ("recurrent", "mlp")),
    ("mnist1d-shuffled", ("recurrent", "mlp")),
    ("word-language", ("recurrent", "bag-of-chars", "char-ngram")),
)
QUICK_EPOCHS = {"mnist1d": 8, "mnist1d-shuffled": 8, "word-language": 2}


def bench_order(out_dir: Path | None = None, quick: bool = False, seed: int = 0) -> list[dict]:
    """Recurrent models against order-blind ones on data in order and with its order destroyed.

    Trains every (data, model) pair of :data:`ORDER_GRID` with ``rnnlab train``'s defaults for the
    task (``quick``: a few epochs only), prints the table of test accuracies, and writes it to
    ``out_dir`` as ``order.json`` and ``order.png``.  Returns the rows.
    """
    from rnnlab.config import TrainConfig
    from rnnlab.train import train

    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / f"bench-order-{time.strftime('%Y%m%d-%H%M%S')}"
    rows = []
    for task, models in ORDER_GRID:
        for model in models:
            config = TrainConfig(task=task, model=model, seed=seed, run_dir=out_dir / f"{task}-{model}",
                                 epochs=QUICK_EPOCHS[task] if quick else None)
            summary = train(config, progress_bar=False)
            rows.append({"data": task, "model": model, "test_accuracy": summary["test_accuracy"],
                         "seconds": summary["seconds"]})
    print("\n" + order_table(rows))
    write_order_figure(rows, out_dir)
    print(f"\nwritten: {out_dir / 'order.json'}, {out_dir / 'order.png'}")
    return rows


def order_table(rows: list[dict]) -> str:
    lines = [f"{'data':18s} {'model':14s} {'test accuracy':>13s} {'time':>8s}"]
    lines += [f"{r['data']:18s} {r['model']:14s} {r['test_accuracy']:13.4f} {r['seconds']:7.0f}s" for r in rows]
    return "\n".join(lines)


def write_order_figure(rows: list[dict], out_dir: Path) -> None:
    """``order.json`` and a bar chart ``order.png`` of test accuracy per data variant and model."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "order.json").write_text(json.dumps(rows, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(9, 3.8))
    labels = [f"{r['data']}\n{r['model']}" for r in rows]
    ax.bar(range(len(rows)), [r["test_accuracy"] for r in rows],
           color=["tab:blue" if r["model"] == "recurrent" else "tab:gray" for r in rows])
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("Order is the point: recurrent (blue) vs feed-forward baselines (grey)")
    fig.tight_layout()
    fig.savefig(out_dir / "order.png", dpi=100)
    plt.close(fig)

if __name__ == "__main__":
    # The command line lives in rnnlab.cli; this entry point only delegates to it.
    from rnnlab.cli import bench_app

    bench_app.cli(prog="python -m rnnlab.bench", description=__doc__.split("\n\n")[0])

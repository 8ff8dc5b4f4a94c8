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

Run it as ``rnnlab bench layers`` (or ``python -m rnnlab bench layers``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

import rnnlab
from rnnlab.bench.timing import Size, interleaved_medians, keep_freed_buffers, timed_call

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


def _check_same_output(cell: str, size: Size, modules: dict[str, nn.Module], x: Tensor) -> None:
    """Refuse to time modules that do not compute the same function."""
    with torch.no_grad():
        outputs = {name: module(x)[0] for name, module in modules.items()}
    for name in CONTENDERS[1:]:
        if not torch.allclose(outputs[name], outputs["torch"], rtol=1e-4, atol=1e-5):
            error = (outputs[name] - outputs["torch"]).abs().max().item()
            raise RuntimeError(f"bench: rnnlab {cell} ({name}) differs from torch.nn's on {size} "
                               f"by up to {error:.3g}")


class SteppedLSTMCell(rnnlab.LSTMCell):
    """torch.nn's LSTM cell without its fused sequence: autograd through every step, as any cell of one's own
    without a :meth:`~rnnlab.Cell.fused_steps` runs."""

    def fused_steps(self, x, state, mask=None, zoneout=None):
        return None


VARIANTS: dict[str, tuple[type[nn.Module], type[rnnlab.Cell]]] = {
    "LSTM, stepped": (nn.LSTM, SteppedLSTMCell),
    "PeepholeLSTM": (nn.LSTM, rnnlab.PeepholeLSTMCell),
    "LayerNormLSTM": (nn.LSTM, rnnlab.LayerNormLSTMCell),
    "LayerNormGRU": (nn.GRU, rnnlab.LayerNormGRUCell),
    "MGU": (nn.GRU, rnnlab.MGUCell),
}
"""Cells torch.nn lacks, each timed against the torch.nn layer it varies."""


def bench_variants(repeats: int | None = None, quick: bool = False, sizes: Sequence[Size] | None = None,
                   seed: int = 0) -> list[dict]:
    """Time each of :data:`VARIANTS` (its :class:`~rnnlab.Recurrent`, stepped: it has no fused path) beside
    the torch.nn layer it varies, forward and forward+backward; print a table and return one row per (cell,
    size): ``cell``, ``reference``, the size, ``torch_{kind}_ms``, ``ours_{kind}_ms`` and
    ``ours_{kind}_ratio`` (ours over torch.nn's) for ``kind`` in ``fwd``, ``fwd_bwd``."""
    repeats = repeats or (QUICK_REPEATS if quick else REPEATS)
    sizes = [Size(*s) for s in (sizes if sizes is not None else QUICK_SIZES if quick else SIZES)]
    print(f"cells torch.nn lacks, and its LSTM stepped, vs the torch.nn layer they vary (unrolled engine; ms, "
          f"median of {repeats} interleaved repeats; (x) = time / torch.nn's)")
    print(f"{'cell':14s} {'vs':9s} {'size':24s} {'torch.nn fwd':>13s} {'ours fwd':>17s}  "
          f"{'torch.nn fwd+bwd':>16s} {'ours fwd+bwd':>17s}")
    rows = []
    for size in sizes:
        for name, (reference, cell) in VARIANTS.items():
            torch.manual_seed(seed)
            modules = {"torch": reference(size.I, size.H), "ours": rnnlab.Recurrent(cell, size.I, size.H)}
            x = torch.randn(size.T, size.B, size.I, requires_grad=True)
            calls = {(who, kind): timed_call(module, x, kind) for who, module in modules.items() for kind in KINDS}
            seconds = interleaved_medians(calls, ("torch", "ours"), repeats)
            row: dict = {"cell": name, "reference": f"nn.{reference.__name__}", **size._asdict()}
            for kind in KINDS:
                row[f"torch_{kind}_ms"] = 1e3 * seconds["torch", kind]
                row[f"ours_{kind}_ms"] = 1e3 * seconds["ours", kind]
                row[f"ours_{kind}_ratio"] = row[f"ours_{kind}_ms"] / row[f"torch_{kind}_ms"]
            print(f"{name:14s} {row['reference']:9s} {str(size):24s} {row['torch_fwd_ms']:13.2f} "
                  f"{row['ours_fwd_ms']:9.2f} ({row['ours_fwd_ratio']:4.2f}x)  {row['torch_fwd_bwd_ms']:16.2f} "
                  f"{row['ours_fwd_bwd_ms']:9.2f} ({row['ours_fwd_bwd_ratio']:4.2f}x)", flush=True)
            rows.append(row)
    return rows


# ------------------------------------------------------------------ the table
def _header(repeats: int) -> str:
    return "\n".join([
        f"rnnlab layers vs torch.nn (torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, float32)",
        f"times in ms, median of {repeats} interleaved repeats after one warm-up call each; "
        "one layer, one direction, time-major input",
        "fwd: forward with autograd recording (as in training); fwd+bwd: forward + grad of output.sum() "
        "w.r.t. parameters and input",
        "(x) = time / torch.nn's time: above 1 is slower than torch.nn",
        keep_freed_buffers(),
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

"""The cost of the regularisers, printed as ratios against the same layer without them.

:func:`bench_regularisers` times an LSTM in training mode, forward and backward, five ways on each
size: the native engine plain and with ``weight_drop=0.5`` (the dropped matrices go to the same
fused kernel), and the unrolled engine plain, with ``zoneout=0.1`` and with ``recurrent_dropout=0.25``.
The layers share their parameters and are timed interleaved in rotating order
(:mod:`rnnlab.bench.timing`); each ratio is a regularised layer's median over its plain engine's.

Run it as ``rnnlab bench regularisers``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

import rnnlab
from rnnlab.bench.layers import QUICK_REPEATS, QUICK_SIZES, REPEATS, SIZES
from rnnlab.bench.timing import Size, interleaved_medians, timed_call

CONTENDERS = {  # name: (engine, regulariser)
    "native": ("native", {}),
    "native+weight_drop": ("native", {"weight_drop": 0.5}),
    "unrolled": ("unrolled", {}),
    "unrolled+zoneout": ("unrolled", {"zoneout": 0.1}),
    "unrolled+recurrent_dropout": ("unrolled", {"recurrent_dropout": 0.25}),
}
RATIOS = {"native+weight_drop": "native", "unrolled+zoneout": "unrolled", "unrolled+recurrent_dropout": "unrolled"}


def bench_regularisers(repeats: int | None = None, quick: bool = False, sizes: Sequence[Size] | None = None,
                       seed: int = 0) -> list[dict]:
    """Time forward+backward of an LSTM with and without each regulariser on every size; print a table
    and return one row per size: ``{name}_ms`` for every contender and ``{name}_ratio`` for the
    regularised ones (over their plain engine)."""
    repeats = repeats or (QUICK_REPEATS if quick else REPEATS)
    sizes = [Size(*s) for s in (sizes if sizes is not None else QUICK_SIZES if quick else SIZES)]
    print(f"regularisers vs the plain layer (LSTM, training mode, forward+backward, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, CPU, float32); ms, median of {repeats} interleaved repeats")
    print(f"{'size':28s} " + "  ".join(f"{name:>26s}" for name in CONTENDERS))
    rows = []
    for size in sizes:
        torch.manual_seed(seed)
        modules = {}
        for name, (engine, options) in CONTENDERS.items():
            modules[name] = rnnlab.LSTM(size.I, size.H, engine=engine, **options).train()
            if modules.get("native") is not None and name != "native":
                modules[name].load_state_dict(modules["native"].state_dict())
        x = torch.randn(size.T, size.B, size.I, requires_grad=True)
        calls = {(name, "fwd_bwd"): timed_call(module, x, "fwd_bwd") for name, module in modules.items()}
        seconds = interleaved_medians(calls, list(CONTENDERS), repeats)
        row: dict = dict(size._asdict())
        for name in CONTENDERS:
            row[f"{name}_ms"] = 1e3 * seconds[name, "fwd_bwd"]
        for name, plain in RATIOS.items():
            row[f"{name}_ratio"] = row[f"{name}_ms"] / row[f"{plain}_ms"]
        cells = [f"{row[f'{name}_ms']:.2f}" + (f" ({row[f'{name}_ratio']:.2f}x)" if name in RATIOS else "")
                 for name in CONTENDERS]
        print(f"{str(size):28s} " + "  ".join(f"{cell:>26s}" for cell in cells), flush=True)
        rows.append(row)
    return rows

"""rnnlab: recurrent neural networks from the recurrence up.

Cells (one time step), unfolding over time, drop-in replacements for torch.nn's recurrent layers
and cells, and parallel-scan recurrences (minGRU, minLSTM).  This is the public API; the package
is built in floors that import only downwards (each subpackage's docstring says what it may import)::

    cli  >  bench  >  experiments  >  training  >  tasks  >  models  >  nn, data, report  >  files, serving  >  errors

The names below are imported on first use, so ``import rnnlab`` (and ``rnnlab --help``) does not
import torch until a layer, a cell or a function is asked for; ``load_onnx`` never imports it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnlab.nn import (
                           GRU,
                           LSTM,
                           RNN,
                           Cell,
                           ConvLSTM2d,
                           ConvLSTMCell,
                           GRUCell,
                           IndRNNCell,
                           JANETCell,
                           LayerNormGRUCell,
                           LayerNormLSTMCell,
                           LSTMCell,
                           MGUCell,
                           MinGRU,
                           MinGRUCell,
                           MinLSTM,
                           MinLSTMCell,
                           OrthogonalCell,
                           PeepholeLSTMCell,
                           Recurrent,
                           RNNCell,
                           Stream,
                           Trace,
                           Unrolled,
                           chrono_init_,
                           detach_state,
                           linear_scan,
                           truncated_bptt,
                           unroll,
    )
    from rnnlab.serving import load_onnx

__version__ = "0.1.0"

__all__ = [
    "Cell", "RNNCell", "LSTMCell", "GRUCell", "LayerNormLSTMCell", "MinGRUCell", "MinLSTMCell",
    "PeepholeLSTMCell", "LayerNormGRUCell", "MGUCell",
    "JANETCell", "IndRNNCell", "OrthogonalCell", "chrono_init_",
    "Recurrent", "RNN", "LSTM", "GRU", "MinGRU", "MinLSTM", "linear_scan",
    "ConvLSTMCell", "ConvLSTM2d",
    "unroll", "Unrolled", "Trace", "truncated_bptt", "detach_state", "Stream",
    "SAFE_GLOBALS",
    "load_onnx",
]

_MODULES = ["RNN", "LSTM", "GRU", "MinGRU", "MinLSTM", "Recurrent", "RNNCell", "LSTMCell", "GRUCell",
            "LayerNormLSTMCell", "MinGRUCell", "MinLSTMCell", "PeepholeLSTMCell", "LayerNormGRUCell", "MGUCell",
            "JANETCell", "IndRNNCell", "OrthogonalCell", "ConvLSTMCell", "ConvLSTM2d"]


def _safe_globals() -> list:
    """``SAFE_GLOBALS``: classes to pass to ``torch.serialization.add_safe_globals`` (or ``safe_globals``) so
    that a whole pickled rnnlab module loads with ``torch.load(..., weights_only=True)``; each also under the
    name it had in files saved by earlier versions (``rnnlab.layers.LSTM`` for ``rnnlab.nn.layers.LSTM``)."""
    classes = [__getattr__(name) for name in _MODULES]
    return [*classes, *((cls, f"rnnlab.{cls.__module__.split('.')[-1]}.{cls.__name__}") for cls in classes)]


def __getattr__(name: str) -> Any:
    """A public name, imported from :mod:`rnnlab.nn` (``load_onnx``: :mod:`rnnlab.serving`, which needs no
    torch) on first use and kept."""
    if name not in __all__:
        raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")
    module = "rnnlab.serving" if name == "load_onnx" else "rnnlab.nn"
    value = _safe_globals() if name == "SAFE_GLOBALS" else getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

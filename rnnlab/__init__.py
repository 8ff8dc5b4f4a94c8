"""rnnlab: recurrent neural networks from the recurrence up.

Cells (one time step), unfolding over time, drop-in replacements for torch.nn's recurrent layers
and cells, and parallel-scan recurrences (minGRU, minLSTM).  This is the public API; the package
is built in floors that import only downwards (each subpackage's docstring says what it may import)::

    cli  >  bench  >  experiments  >  training  >  tasks  >  models  >  nn, data, report  >  files  >  errors
"""

from rnnlab.nn import (
                       GRU,
                       LSTM,
                       RNN,
                       Cell,
                       GRUCell,
                       LayerNormLSTMCell,
                       LSTMCell,
                       MinGRU,
                       MinGRUCell,
                       MinLSTM,
                       MinLSTMCell,
                       Recurrent,
                       RNNCell,
                       Stream,
                       Trace,
                       Unrolled,
                       detach_state,
                       linear_scan,
                       truncated_bptt,
                       unroll,
)

__version__ = "0.1.0"

_MODULES = [RNN, LSTM, GRU, MinGRU, MinLSTM, Recurrent, RNNCell, LSTMCell, GRUCell, LayerNormLSTMCell,
            MinGRUCell, MinLSTMCell]

SAFE_GLOBALS = [*_MODULES, *((cls, f"rnnlab.{cls.__module__.split('.')[-1]}.{cls.__name__}") for cls in _MODULES)]
"""Classes to pass to ``torch.serialization.add_safe_globals`` (or ``safe_globals``) so that a whole
pickled rnnlab module loads with ``torch.load(..., weights_only=True)``; each also under the name it
had in files saved by earlier versions (``rnnlab.layers.LSTM`` for ``rnnlab.nn.layers.LSTM``)."""

__all__ = [
    "Cell", "RNNCell", "LSTMCell", "GRUCell", "LayerNormLSTMCell", "MinGRUCell", "MinLSTMCell",
    "Recurrent", "RNN", "LSTM", "GRU", "MinGRU", "MinLSTM", "linear_scan",
    "unroll", "Unrolled", "Trace", "truncated_bptt", "detach_state", "Stream",
    "SAFE_GLOBALS",
]

"""rnnlab: recurrent neural networks from the recurrence up.

Cells (one time step), unfolding over time, drop-in replacements for
torch.nn's recurrent layers and cells, and parallel-scan recurrences (minGRU, minLSTM).
"""

from rnnlab.cells import Cell, GRUCell, LayerNormLSTMCell, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell
from rnnlab.layers import GRU, LSTM, RNN, MinGRU, MinLSTM, Recurrent
from rnnlab.scan import linear_scan
from rnnlab.unroll import Stream, Trace, Unrolled, detach_state, truncated_bptt, unroll

__version__ = "0.1.0"

SAFE_GLOBALS = [RNN, LSTM, GRU, MinGRU, MinLSTM, Recurrent, RNNCell, LSTMCell, GRUCell, LayerNormLSTMCell,
                MinGRUCell, MinLSTMCell]
"""Classes to pass to ``torch.serialization.add_safe_globals`` so that a whole pickled rnnlab
module loads with ``torch.load(..., weights_only=True)``."""

__all__ = [
    "Cell", "RNNCell", "LSTMCell", "GRUCell", "LayerNormLSTMCell", "MinGRUCell", "MinLSTMCell",
    "Recurrent", "RNN", "LSTM", "GRU", "MinGRU", "MinLSTM", "linear_scan",
    "unroll", "Unrolled", "Trace", "truncated_bptt", "detach_state", "Stream",
    "SAFE_GLOBALS",
]

"""rnnlab: recurrent neural networks from the recurrence up.

Cells (one time step), unfolding over time, and drop-in replacements for
torch.nn's recurrent layers and cells.
"""

from rnnlab.cells import Cell, GRUCell, LayerNormLSTMCell, LSTMCell, RNNCell
from rnnlab.layers import GRU, LSTM, RNN, Recurrent
from rnnlab.unroll import Stream, Trace, Unrolled, detach_state, truncated_bptt, unroll

__version__ = "0.1.0"

SAFE_GLOBALS = [RNN, LSTM, GRU, Recurrent, RNNCell, LSTMCell, GRUCell, LayerNormLSTMCell]
"""Classes to pass to ``torch.serialization.add_safe_globals`` so that a whole pickled rnnlab
module loads with ``torch.load(..., weights_only=True)``."""

__all__ = [
    "Cell", "RNNCell", "LSTMCell", "GRUCell", "LayerNormLSTMCell",
    "Recurrent", "RNN", "LSTM", "GRU",
    "unroll", "Unrolled", "Trace", "truncated_bptt", "detach_state", "Stream",
    "SAFE_GLOBALS",
]

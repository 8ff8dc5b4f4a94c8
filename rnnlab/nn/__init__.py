"""The recurrent machinery: cells, unfolding over time, parallel scans, layers, dropout, diagnostics.

The lowest floor of rnnlab: it imports torch and nothing of rnnlab above it.  Inside, modules
import only downwards, in this order::

    sequence, cell  <  scan, unroll  <  cells, long_memory  <  variants  <  layers, convolutional  <  dropout,
    diagnostics

* :mod:`~rnnlab.nn.sequence`: masks of real and padded steps, length checks, reversal in time.
* :mod:`~rnnlab.nn.cell`: the :class:`Cell` protocol (one time step) and the checks of its inputs.
* :mod:`~rnnlab.nn.unroll`: one copy of a cell per step (BPTT), traces, truncated BPTT, streams.
* :mod:`~rnnlab.nn.scan`: the linear recurrence ``h_t = a_t h_{t-1} + b_t`` over all steps at once.
* :mod:`~rnnlab.nn.cells`: the cells (vanilla, LSTM, GRU, layer-norm LSTM, minGRU, minLSTM).
* :mod:`~rnnlab.nn.long_memory`: the cells built for long memory (JANET, IndRNN, orthogonal) and chrono
  initialisation.
* :mod:`~rnnlab.nn.variants`: variants of the gated cells (peephole LSTM, layer-norm GRU, minimal gated unit).
* :mod:`~rnnlab.nn.layers`: stacked, bidirectional layers of any cell; the drop-in torch.nn layers.
* :mod:`~rnnlab.nn.convolutional`: the convolutional LSTM over sequences of images.
* :mod:`~rnnlab.nn.dropout`: dropout with a cheaper mask on CPU.
* :mod:`~rnnlab.nn.diagnostics`: gradient flow through time, state Jacobians, gate statistics.
"""

from rnnlab.nn.cell import Cell, DtypeError, ShapeError, State
from rnnlab.nn.cells import GRUCell, LayerNormLSTMCell, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell
from rnnlab.nn.convolutional import ConvLSTM2d, ConvLSTMCell
from rnnlab.nn.layers import GRU, LSTM, RNN, MinGRU, MinLSTM, Recurrent
from rnnlab.nn.long_memory import IndRNNCell, JANETCell, OrthogonalCell, chrono_init_
from rnnlab.nn.scan import linear_scan
from rnnlab.nn.unroll import Stream, Trace, Unrolled, detach_state, truncated_bptt, unroll
from rnnlab.nn.variants import LayerNormGRUCell, MGUCell, PeepholeLSTMCell

__all__ = [
    "Cell", "State", "ShapeError", "DtypeError",
    "RNNCell", "LSTMCell", "GRUCell", "LayerNormLSTMCell", "MinGRUCell", "MinLSTMCell",
    "PeepholeLSTMCell", "LayerNormGRUCell", "MGUCell",
    "JANETCell", "IndRNNCell", "OrthogonalCell", "chrono_init_",
    "Recurrent", "RNN", "LSTM", "GRU", "MinGRU", "MinLSTM", "linear_scan",
    "ConvLSTMCell", "ConvLSTM2d",
    "unroll", "Unrolled", "Trace", "truncated_bptt", "detach_state", "Stream",
]

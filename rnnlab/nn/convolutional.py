"""The convolutional LSTM (Shi et al. 2015): an LSTM whose input, state and gates are images, and whose
matrix products are convolutions, so that each pixel's memory is updated from its neighbourhood.

:class:`ConvLSTMCell` follows the :class:`~rnnlab.nn.cell.Cell` protocol with image-shaped steps, so
:func:`~rnnlab.nn.unroll.unroll` runs it (lengths, reverse, traces, zoneout and recurrent dropout
included); :class:`ConvLSTM2d` stacks it, optionally in both directions, as Keras' ``ConvLSTM2D`` and
Flax's ``ConvLSTMCell`` (torch.nn has none).

Shapes: ``T`` time steps, ``B`` batch, ``C`` input channels, ``K`` hidden channels, ``Y x X`` the
image (kept by every convolution: ``padding="same"``), ``L`` layers, ``D`` directions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.nn.cell import Cell, DtypeError, ShapeError, State, check_dtype_device
from rnnlab.nn.cells import lstm_update
from rnnlab.nn.sequence import check_lengths
from rnnlab.nn.unroll import Trace, unroll


def _pair(value, name: str, owner: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f"{owner}: {name} must be a positive int or a pair of them, got {value!r}")
    return pair


class ConvLSTMCell(Cell):
    r"""One step of a convolutional LSTM (Shi et al. 2015, without the peepholes, as Keras' ``ConvLSTM2D``).

    .. math::
        i, f, g, o &= \sigma, \sigma, \tanh, \sigma\,(W_x * X_t + b + W_h * H_{t-1}) \\
        C_t &= f \odot C_{t-1} + i \odot g, \quad H_t = o \odot \tanh(C_t)

    where ``*`` is a 2-D convolution with ``padding="same"``.  Shapes: ``weight_ih (4K, C, ky, kx)``,
    ``weight_hh (4K, K, ky, kx)``, ``bias (4K,)`` (gate order i, f, g, o as torch.nn.LSTM); input
    ``(B, C, Y, X)``; state ``(H, C)``, each ``(B, K, Y, X)``.  ``input_size`` is ``C`` and
    ``state_sizes`` ``(K, K)``, counted in channels.
    """

    gate_names = ("i", "f", "g", "o")

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int | tuple[int, int] = 3,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}")
        if not isinstance(bias, bool):
            raise TypeError(f"{name}: bias must be a bool (True or False), got {type(bias).__name__} {bias!r}")
        self.kernel_size = _pair(kernel_size, "kernel_size", name)
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.state_sizes = in_channels, (hidden_channels, hidden_channels)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_channels, in_channels, *self.kernel_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_channels, hidden_channels, *self.kernel_size,
                                                  **factory))
        self.bias = nn.Parameter(torch.empty(4 * hidden_channels, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/sqrt(K ky kx), 1/sqrt(K ky kx)): torch.nn.LSTM's rule, with the recurrent
        fan-in of a pixel in place of ``H``."""
        bound = 1.0 / math.sqrt(self.hidden_size * self.kernel_size[0] * self.kernel_size[1])
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def initial_state(self, batch_size: int, like: Tensor) -> State:
        """Zeros ``(B, K, Y, X)`` for ``H`` and ``C``, with ``like``'s image size, dtype and device."""
        return tuple(like.new_zeros(batch_size, size, *like.shape[-2:]) for size in self.state_sizes)

    def project_input(self, x: Tensor) -> Tensor:
        """``W_x * X + b`` for images ``(..., C, Y, X)`` (every step at once) -> ``(..., 4K, Y, X)``."""
        flat = x.reshape(-1, *x.shape[-3:])
        out = F.conv2d(flat, self.weight_ih, self.bias, padding="same")
        return out.view(*x.shape[:-3], *out.shape[-3:])

    def step(self, x: Tensor, state: State) -> tuple[State, tuple[Tensor, ...]]:
        h, c = state
        return lstm_update(x + F.conv2d(h, self.weight_hh, padding="same"), c)

    def forward(self, input: Tensor, hx: State | None = None) -> State:
        """One step: ``input (B, C, Y, X)``, ``hx`` a tuple ``(H, C)`` (zeros if omitted) -> the new ``(H, C)``."""
        name = type(self).__name__
        if not isinstance(input, Tensor) or input.dim() != 4 or input.shape[1] != self.input_size:
            shape = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise ShapeError(f"{name}: input must be 4-D (batch, in_channels={self.input_size}, height, width), "
                             f"got {shape}")
        check_dtype_device(name, "input", input, self.weight_ih)
        state = self.initial_state(input.shape[0], input) if hx is None else tuple(hx)
        expected = (input.shape[0], self.hidden_size, *input.shape[-2:])
        if len(state) != 2 or any(tuple(s.shape) != expected for s in state):
            raise ShapeError(f"{name}: hx must be a tuple (h, c), each of shape {expected}")
        return self.step(self.project_input(input), state)[0]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, kernel_size={self.kernel_size}" + \
            ("" if self.bias is not None else ", bias=False")


class ConvLSTM2d(nn.Module):
    """Stacked, optionally bidirectional convolutional LSTM over sequences of images.

    Args:
        in_channels: ``C``, channels of each input image.
        hidden_channels: ``K``, channels of each layer's state (per direction).
        kernel_size: of every convolution (an int or a pair); images keep their size (``padding="same"``).
        num_layers: layers stacked, each reading the outputs of the one below (``D * K`` channels).
        bias: whether the input convolutions have a bias.
        batch_first: inputs and outputs ``(B, T, ...)`` instead of ``(T, B, ...)``.
        dropout: on the outputs of every layer but the last, in training.
        bidirectional: also read every sequence backwards; outputs concatenate the directions' channels.
        zoneout: as :class:`~rnnlab.Recurrent`'s (per unit and pixel); 0: off.
        recurrent_dropout: as :class:`~rnnlab.Recurrent`'s (per unit and pixel); 0: off.

    Forward: ``layer(input, hx=None, *, lengths=None) -> (output, (h_n, c_n))``

    * ``input``: ``(T, B, C, Y, X)`` (``(B, T, C, Y, X)`` with ``batch_first``).
    * ``hx``: ``(h_0, c_0)``, each ``(L * D, B, K, Y, X)``; zeros if omitted.
    * ``lengths``: ``(B,)`` lengths of padded sequences; padded outputs are zero and the final state is
      each sequence's at its own last step.
    * ``output``: ``(T, B, D * K, Y, X)`` in the input's layout; ``h_n``, ``c_n``: ``(L * D, B, K, Y, X)``.

    :meth:`trace` also returns a :class:`~rnnlab.nn.unroll.Trace` per layer and direction.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int | tuple[int, int] = 3,
                 num_layers: int = 1, bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, *, zoneout: float = 0.0, recurrent_dropout: float = 0.0,
                 device=None, dtype=None) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")
        for arg, value in (("dropout", dropout), ("zoneout", zoneout), ("recurrent_dropout", recurrent_dropout)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
                raise ValueError(f"{name}: {arg} must be a probability in [0, 1), got {value!r}")
        if not isinstance(batch_first, bool) or not isinstance(bidirectional, bool):
            raise TypeError(f"{name}: batch_first and bidirectional must be bools")
        self.in_channels, self.hidden_channels, self.num_layers = in_channels, hidden_channels, num_layers
        self.batch_first, self.bidirectional = batch_first, bidirectional
        self.dropout, self.zoneout, self.recurrent_dropout = float(dropout), float(zoneout), float(recurrent_dropout)
        directions = 2 if bidirectional else 1
        self.cells = nn.ModuleList(
            ConvLSTMCell(in_channels if layer == 0 else directions * hidden_channels, hidden_channels, kernel_size,
                         bias, device=device, dtype=dtype)
            for layer in range(num_layers) for _ in range(directions))

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def forward(self, input: Tensor, hx: State | None = None, *,
                lengths: Tensor | None = None) -> tuple[Tensor, State]:
        output, state, _ = self._run(input, hx, lengths, trace=False)
        return output, state

    def trace(self, input: Tensor, hx: State | None = None, *,
              lengths: Tensor | None = None) -> tuple[Tensor, State, list[Trace]]:
        """Like ``forward``, also returning a trace for every layer and direction (index ``layer * D + direction``)."""
        return self._run(input, hx, lengths, trace=True)

    def _run(self, input: Tensor, hx, lengths, trace: bool):
        x = self._checked(input)
        if self.batch_first:
            x = x.transpose(0, 1)
        steps, batch = x.shape[:2]
        lengths = check_lengths(lengths, batch, steps, x.device)
        state = self._initial_state(hx, batch, x)
        finals, traces, layer_input = [], [], x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                run = unroll(self.cells[k], layer_input, (state[0][k], state[1][k]), lengths=lengths,
                             reverse=direction == 1, trace=trace, zoneout=self.zoneout,
                             recurrent_dropout=self.recurrent_dropout, training=self.training)
                outputs.append(run.outputs)
                finals.append(run.state)
                if trace:
                    traces.append(run.trace)
            layer_input = torch.cat(outputs, dim=2) if len(outputs) == 2 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        output = layer_input.transpose(0, 1) if self.batch_first else layer_input
        return output, tuple(torch.stack(s) for s in zip(*finals)), traces

    def _checked(self, input) -> Tensor:
        name = type(self).__name__
        layout = "(batch, seq_len, channels, height, width)" if self.batch_first else \
            "(seq_len, batch, channels, height, width)"
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.dim() != 5:
            raise ShapeError(f"{name}: input must be 5-D {layout}, got {input.dim()}-D with shape "
                             f"{tuple(input.shape)}")
        if input.shape[2] != self.in_channels:
            raise ShapeError(f"{name}: input must have in_channels={self.in_channels} channels (dimension 2 of "
                             f"{layout}), got shape {tuple(input.shape)}")
        if 0 in input.shape[:2]:
            raise ShapeError(f"{name}: input has no steps or no sequences, shape {tuple(input.shape)}")
        check_dtype_device(name, "input", input, self.cells[0].weight_ih)
        return input

    def _initial_state(self, hx, batch: int, x: Tensor) -> State:
        layers = self.num_layers * self.num_directions
        shape = (layers, batch, self.hidden_channels, *x.shape[-2:])
        if hx is None:
            return (x.new_zeros(shape), x.new_zeros(shape))
        name = type(self).__name__
        if isinstance(hx, Tensor) or len(hx) != 2:
            raise TypeError(f"{name}: hx must be a tuple (h_0, c_0)")
        for label, s in zip(("h_0", "c_0"), hx):
            if tuple(s.shape) != shape:
                raise ShapeError(f"{name}: {label} must have shape {shape} "
                                 "(num_layers * num_directions, batch, hidden_channels, height, width), "
                                 f"got {tuple(s.shape)}")
            if s.dtype != x.dtype or s.device != x.device:
                raise DtypeError(f"{name}: {label} has dtype {s.dtype} on {s.device}, expected {x.dtype} on "
                                 f"{x.device} (the input's)")
        return tuple(hx)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.hidden_channels}, kernel_size={self.cells[0].kernel_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for flag in ("batch_first", "bidirectional"):
            if getattr(self, flag):
                text += f", {flag}=True"
        for option in ("dropout", "zoneout", "recurrent_dropout"):
            if getattr(self, option):
                text += f", {option}={getattr(self, option)}"
        return text

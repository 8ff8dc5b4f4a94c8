"""One time step of each recurrence: ``state_t = f(x_t, state_{t-1})``.

Every cell follows one small protocol (:class:`Cell`), so that unfolding
(:mod:`rnnlab.nn.unroll`), stacking and bidirectional layers (:mod:`rnnlab.nn.layers`)
and the diagnostics work for any cell, including one a user writes.

A step is split in two because the input part of every gate does not depend on
the state: ``project_input`` maps the whole sequence at once (one large matrix
product), and ``step`` does the sequential rest.  The standard cells keep
torch.nn's parameter names, shapes, gate order and initialisation, so their
parameters are interchangeable with ``torch.nn.RNNCell/LSTMCell/GRUCell``.

Shapes: ``B`` batch, ``I`` input features, ``H`` hidden features, ``P`` the
projection size of an LSTM (``P = H`` without projection), ``G`` the width of a
cell's projected input (for example ``4H`` for an LSTM).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.nn.cell import CarryingCell, Cell, State, uniform_init_
from rnnlab.nn.fused import layer_norm_lstm_sequence, lstm_sequence
from rnnlab.nn.scan import gated_scan, linear_scan
from rnnlab.nn.sequence import padding_mask, reverse_in_time


class _StandardCell(Cell):
    """Parameters in torch.nn's layout: ``weight_ih (G, I)``, ``weight_hh (G, P)``, ``bias_ih``, ``bias_hh (G,)``."""

    native_mode: str  # the name of PyTorch's fused kernel for a whole layer of this cell

    def __init__(self, input_size: int, hidden_size: int, bias: bool, gates: int, recurrent_size: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        if input_size < 0 or hidden_size < 0:  # torch.nn's cells allow 0 (an empty output)
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must not be negative, "
                             f"got input_size={input_size}, hidden_size={hidden_size}")
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.bias = bias
        self.weight_ih = nn.Parameter(torch.empty(gates * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(gates * hidden_size, recurrent_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gates * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(gates * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self) -> None:
        uniform_init_(self, self.hidden_size)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        return text


class RNNCell(_StandardCell):
    r"""Vanilla (Elman) recurrent cell, drop-in for ``torch.nn.RNNCell``.

    .. math::
        h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}), \quad \phi \in \{\tanh, \mathrm{relu}\}

    Shapes: ``weight_ih (H, I)``, ``weight_hh (H, H)``, biases ``(H,)``; state ``(h,)`` with ``h (B, H)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, 1, hidden_size, device, dtype)
        self.nonlinearity = nonlinearity
        self.native_mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.state_sizes = (hidden_size,)
        self.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, _sum(self.bias_ih, self.bias_hh))

    def step(self, x: Tensor, state: State) -> tuple[State, tuple[Tensor, ...]]:
        (h,) = state
        pre = torch.addmm(x, h, self.weight_hh.t())
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return (h,), ()

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text


class LSTMCell(_StandardCell):
    r"""Long short-term memory cell, drop-in for ``torch.nn.LSTMCell`` (plus torch.nn.LSTM's ``proj_size``).

    .. math::
        i, f, g, o &= \sigma, \sigma, \tanh, \sigma\,(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}) \\
        c_t &= f \odot c_{t-1} + i \odot g \\
        h_t &= W_{hr}\,(o \odot \tanh(c_t)) \quad (W_{hr} \text{ only with } \texttt{proj\_size} > 0)

    Shapes: ``weight_ih (4H, I)``, ``weight_hh (4H, P)``, biases ``(4H,)``, ``weight_hr (P, H)``;
    state ``(h, c)`` with ``h (B, P)``, ``c (B, H)``.
    """

    gate_names = ("i", "f", "g", "o")
    native_mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, proj_size: int = 0,
                 device=None, dtype=None) -> None:
        if proj_size < 0 or 0 < proj_size >= hidden_size:
            raise ValueError(f"LSTMCell: proj_size must be 0 or between 1 and hidden_size-1={hidden_size - 1}, "
                             f"got {proj_size}")
        output_size = proj_size or hidden_size
        super().__init__(input_size, hidden_size, bias, 4, output_size, device, dtype)
        self.proj_size = proj_size
        if proj_size:
            self.weight_hr = nn.Parameter(torch.empty(proj_size, hidden_size, device=device, dtype=dtype))
        self.state_sizes = (output_size, hidden_size)
        self.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, _sum(self.bias_ih, self.bias_hh))

    def step(self, x: Tensor, state: State) -> tuple[State, tuple[Tensor, ...]]:
        h, c = state
        (h, c), gates = lstm_update(torch.addmm(x, h, self.weight_hh.t()), c)
        if self.proj_size:
            h = h @ self.weight_hr.t()
        return (h, c), gates

    def fused_steps(self, x: Tensor, state: State, mask: Tensor | None = None,
                    zoneout: list[Tensor] | float | None = None) -> State | None:
        if self.proj_size:
            return None
        return lstm_sequence(x, *state, self.weight_hh, mask=mask, zoneout=zoneout)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        return text


class GRUCell(_StandardCell, CarryingCell):
    r"""Gated recurrent unit, drop-in for ``torch.nn.GRUCell`` (gate order r, z, n as torch.nn).

    .. math::
        r &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n &= \tanh(W_{in} x_t + b_{in} + r \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z) \odot n + z \odot h_{t-1}

    Shapes: ``weight_ih (3H, I)``, ``weight_hh (3H, H)``, biases ``(3H,)``; state ``(h,)`` with ``h (B, H)``.
    """

    gate_names = ("r", "z", "n")
    native_mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, hidden_size, device, dtype)
        self.state_sizes = (hidden_size,)
        self.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)

    def carry_step(self, x: Tensor, h: Tensor, recurrent: Tensor) -> tuple[State, tuple[Tensor, ...]]:
        return gru_update(x, F.linear(recurrent, self.weight_hh, self.bias_hh), h)


class LayerNormLSTMCell(Cell):
    r"""LSTM with layer normalisation (Ba et al. 2016): the worked example of a custom cell.

    .. math::
        i, f, g, o &= \sigma, \sigma, \tanh, \sigma\,(\mathrm{LN}_{ih}(W_{ih} x_t) + \mathrm{LN}_{hh}(W_{hh} h_{t-1})
            + b) \\
        c_t &= f \odot c_{t-1} + i \odot g \\
        h_t &= o \odot \tanh(\mathrm{LN}_c(c_t))

    Shapes: ``weight_ih (4H, I)``, ``weight_hh (4H, H)``, ``bias (4H,)``, layer norms over ``4H``, ``4H``
    and ``H`` features; state ``(h, c)``, each ``(B, H)``.  The input product ``W_ih x`` is state-free and
    so computed for all steps at once in :meth:`project_input`; each step normalises its own rows (the
    compiled kernels do it in the same pass as the gates, while the rows are in cache).
    """

    gate_names = ("i", "f", "g", "o")

    def __init__(self, input_size: int, hidden_size: int, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.state_sizes = input_size, (hidden_size, hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size, **factory))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size, **factory))
        self.ln_ih = nn.LayerNorm(4 * hidden_size, **factory)
        self.ln_hh = nn.LayerNorm(4 * hidden_size, **factory)
        self.ln_c = nn.LayerNorm(hidden_size, **factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights ~ U(-1/sqrt(H), 1/sqrt(H)) as torch.nn's LSTM; zero bias; layer norms at identity."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)
        nn.init.zeros_(self.bias)
        for norm in (self.ln_ih, self.ln_hh, self.ln_c):
            norm.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih)

    def step(self, x: Tensor, state: State) -> tuple[State, tuple[Tensor, ...]]:
        h, c = state
        i, f, g, o = (self.ln_ih(x) + self.ln_hh(F.linear(h, self.weight_hh)) + self.bias).chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(self.ln_c(c))
        return (h, c), (i, f, g, o)

    def fused_steps(self, x: Tensor, state: State, mask: Tensor | None = None,
                    zoneout: list[Tensor] | float | None = None) -> State | None:
        if mask is not None or zoneout is not None:  # the regularisers step
            return None
        return layer_norm_lstm_sequence(x, *state, self.weight_hh, self.bias, self.ln_ih, self.ln_hh, self.ln_c)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class _MinimalCell(Cell):
    r"""A cell whose gates read the input only, so that its step is linear in the state:
    ``h_t = a_t \odot h_{t-1} + b_t`` with ``a_t, b_t`` functions of ``x_t`` alone (Feng et al. 2024,
    "Were RNNs All We Needed?").  :meth:`coefficients` gives ``a, b`` for every step at once, and
    :func:`rnnlab.nn.scan.linear_scan` runs the recurrence in parallel over time; :meth:`step` is
    the same recurrence one step at a time (for generation, traces and streaming).

    Parameters: ``weight_ih (G, I)`` and ``bias_ih (G,)``, initialised as torch.nn's recurrent
    layers, ``U(-1/sqrt(H), 1/sqrt(H))``.  There is no ``weight_hh``.
    """

    blocks: int  # how many (H, I) blocks weight_ih stacks: the gate logits, then the candidate
    kind: str  # the fused recurrence in rnnlab.nn.scan.gated_scan
    frozen_logits: tuple[float, ...]  # gate logits that leave the state unchanged (padded steps)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be positive, "
                             f"got input_size={input_size}, hidden_size={hidden_size}")
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.state_sizes, self.bias = input_size, (hidden_size,), bias
        self.weight_ih = nn.Parameter(torch.empty(self.blocks * hidden_size, input_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(self.blocks * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_init_(self, self.hidden_size)

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        """Projected input ``(..., G)`` -> ``a, b`` of ``h_t = a_t * h_{t-1} + b_t`` and the gates, each
        ``(..., H)``."""
        raise NotImplementedError

    def step(self, x: Tensor, state: State) -> tuple[State, tuple[Tensor, ...]]:
        a, b, gates = self.coefficients(x)
        return (torch.addcmul(b, a, state[0]),), gates

    def scan(self, x: Tensor, h0: Tensor, lengths: Tensor | None = None, reverse: bool = False) -> Tensor:
        """Every step at once: projected input ``x (T, B, G)`` and ``h0 (B, H)`` -> ``h (T, B, H)``, frozen
        after each sequence's ``lengths``.  On a CPU through :func:`rnnlab.nn.scan.gated_scan`, which fuses
        the gates with the recurrence (a padded step gets ``a = 1``: the state stays); elsewhere
        through :func:`rnnlab.nn.scan.linear_scan` of :meth:`coefficients`."""
        if x.is_cuda:
            a, b, _ = self.coefficients(x)
            return linear_scan(a, b, h0, lengths=lengths, reverse=reverse)
        if lengths is None:
            return gated_scan(x, h0, self.kind, reverse)
        if reverse:
            x = reverse_in_time(x, lengths)
        padded = padding_mask(lengths, x.shape[0]).unsqueeze(-1)
        parts = list(x.split(self.hidden_size, dim=-1))  # gate logits, then the candidate
        for k, value in enumerate(self.frozen_logits):
            parts[k] = parts[k].masked_fill(padded, value)
        h = gated_scan(torch.cat(parts, dim=-1), h0, self.kind)
        return reverse_in_time(h, lengths) if reverse else h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class MinGRUCell(_MinimalCell):
    r"""minGRU: a GRU whose update gate and candidate read only the input (Feng et al. 2024).

    .. math::
        z_t &= \sigma(W_{iz} x_t + b_{iz}), \quad \tilde h_t = W_{ih} x_t + b_{ih} \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t

    Shapes: ``weight_ih (2H, I)`` (rows ``z``, then ``h~``), ``bias_ih (2H,)``; state ``(h,)`` with ``h (B, H)``.
    """

    gate_names = ("z",)
    blocks = 2
    kind = "mingru"
    frozen_logits = (-math.inf,)  # z = 0: a padded step keeps the state

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        k, candidate = x.chunk(2, dim=-1)
        z = torch.sigmoid(k)
        return 1 - z, z * candidate, (z,)


class MinLSTMCell(_MinimalCell):
    r"""minLSTM: an LSTM whose forget and input gates read only the input, normalised to sum to one,
    and with no output gate (Feng et al. 2024).

    .. math::
        f_t &= \sigma(W_{if} x_t + b_{if}), \quad i_t = \sigma(W_{ii} x_t + b_{ii}), \quad
        \tilde h_t = W_{ih} x_t + b_{ih} \\
        f'_t &= \frac{f_t}{f_t + i_t}, \quad i'_t = \frac{i_t}{f_t + i_t}, \quad
        h_t = f'_t \odot h_{t-1} + i'_t \odot \tilde h_t

    Shapes: ``weight_ih (3H, I)`` (rows ``f``, ``i``, ``h~``), ``bias_ih (3H,)``; state ``(h,)`` with ``h (B, H)``.
    Gates traced: the normalised ``f'`` and ``i'``.
    """

    gate_names = ("f", "i")
    blocks = 3
    kind = "minlstm"
    frozen_logits = (math.inf, -math.inf)  # f = 1, i = 0: a padded step keeps the state

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        f, i, candidate = x.chunk(3, dim=-1)
        f, i = torch.sigmoid(f), torch.sigmoid(i)
        total = f + i
        f, i = f / total, i / total
        return f, i * candidate, (f, i)


def lstm_update(pre: Tensor, c: Tensor) -> tuple[State, tuple[Tensor, ...]]:
    """The LSTM's update from its gates' pre-activations ``pre (B, 4H, ...)`` (order i, f, g, o along dimension
    1) and the memory ``c (B, H, ...)``: ``((h, c), (i, f, g, o))``, with ``c = f c + i g`` and
    ``h = o tanh(c)``.  Shared by :class:`LSTMCell` and the convolutional LSTM, whose ``...`` is the image."""
    hidden = c.shape[1]
    # i and f are adjacent in torch.nn's gate order: one sigmoid serves both.
    i_f, g, o = pre.split([2 * hidden, hidden, hidden], dim=1)
    i, f = torch.sigmoid(i_f).chunk(2, dim=1)
    g, o = torch.tanh(g), torch.sigmoid(o)
    c = torch.addcmul(f * c, i, g)  # f * c + i * g
    return (o * torch.tanh(c), c), (i, f, g, o)


def gru_update(x: Tensor, hh: Tensor, h: Tensor) -> tuple[State, tuple[Tensor, ...]]:
    """The GRU's update from the input part ``x (B, 3H)`` and the recurrent part ``hh (B, 3H)`` of its gates
    (order r, z, n) and the carried ``h (B, H)``: ``((h_t,), (r, z, n))``.  Shared by :class:`GRUCell`
    and the layer-normalised GRU, which normalise ``hh`` differently."""
    # split, not x[:, :2H]: inside torch's scan operator, a slice of a matrix product fails the ONNX
    # exporter when the batch is dynamic ('SymInt' object has no attribute 'unsqueeze')
    hidden = h.shape[1]
    (x_rz, x_n), (hh_rz, hh_n) = x.split([2 * hidden, hidden], dim=1), hh.split([2 * hidden, hidden], dim=1)
    r, z = torch.sigmoid(x_rz + hh_rz).chunk(2, dim=1)
    n = torch.tanh(x_n + r * hh_n)
    return (torch.lerp(n, h, z),), (r, z, n)  # (1 - z) * n + z * h


def _sum(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """``a + b`` for two optional biases (both present or both absent)."""
    return None if a is None else a + b

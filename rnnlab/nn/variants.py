"""Variants of the gated cells that torch.nn does not have: the peephole LSTM, the layer-normalised GRU
and the minimal gated unit.

Each is a :class:`~rnnlab.nn.cell.Cell`, so it stacks, runs both directions, takes lengths, records
traces and takes the layers' regularisers through :class:`~rnnlab.Recurrent`, for example
``rnnlab.Recurrent(rnnlab.PeepholeLSTMCell, 8, 32, num_layers=2, bidirectional=True)``.  They keep
torch.nn's parameter names where they share them, and its initialisation ``U(-1/sqrt(H), 1/sqrt(H))``.

Shapes: ``B`` batch, ``I`` input features, ``H`` hidden features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.nn.cell import CarryingCell, Cell, State, uniform_init_
from rnnlab.nn.cells import gru_update
from rnnlab.nn.fused import layer_norm_gru_sequence, peephole_lstm_sequence


def _check_sizes(cell: Cell, input_size: int, hidden_size: int) -> None:
    for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{type(cell).__name__}: {arg} must be an int, got {type(value).__name__} {value!r}")
        if value <= 0:
            raise ValueError(f"{type(cell).__name__}: {arg} must be positive, got {value}")


class PeepholeLSTMCell(Cell):
    r"""LSTM with peephole connections (Gers & Schmidhuber 2000): the gates also see the memory cell.

    .. math::
        i &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi} + w_{ci} \odot c_{t-1}) \\
        f &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf} + w_{cf} \odot c_{t-1}) \\
        g &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        c_t &= f \odot c_{t-1} + i \odot g \\
        o &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho} + w_{co} \odot c_t) \\
        h_t &= o \odot \tanh(c_t)

    Shapes: ``weight_ih (4H, I)``, ``weight_hh (4H, H)``, ``bias_ih``, ``bias_hh (4H,)`` in torch.nn.LSTM's
    layout and gate order (i, f, g, o), and the diagonal peepholes ``weight_ci``, ``weight_cf``,
    ``weight_co (H,)``; state ``(h, c)``, each ``(B, H)``.  With the peepholes at zero it is torch.nn's LSTM.
    """

    gate_names = ("i", "f", "g", "o")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        _check_sizes(self, input_size, hidden_size)
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.state_sizes, self.bias = input_size, (hidden_size, hidden_size), bias
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.weight_ci = nn.Parameter(torch.empty(hidden_size, **factory))
        self.weight_cf = nn.Parameter(torch.empty(hidden_size, **factory))
        self.weight_co = nn.Parameter(torch.empty(hidden_size, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in registration order: with the same seed, the
        weights and biases are torch.nn.LSTMCell's."""
        uniform_init_(self, self.hidden_size)

    def project_input(self, x: Tensor) -> Tensor:
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return F.linear(x, self.weight_ih, bias)

    def step(self, x: Tensor, state: State) -> tuple[State, tuple[Tensor, ...]]:
        h, c = state
        i, f, g, o = torch.addmm(x, h, self.weight_hh.t()).chunk(4, dim=1)
        i = torch.sigmoid(torch.addcmul(i, self.weight_ci, c))
        f = torch.sigmoid(torch.addcmul(f, self.weight_cf, c))
        g = torch.tanh(g)
        c = torch.addcmul(f * c, i, g)  # f * c + i * g
        o = torch.sigmoid(torch.addcmul(o, self.weight_co, c))
        return (o * torch.tanh(c), c), (i, f, g, o)

    def fused_steps(self, x: Tensor, state: State, mask: Tensor | None = None,
                    zoneout: list[Tensor] | float | None = None) -> State | None:
        if mask is not None or zoneout is not None:  # the regularisers step
            return None
        return peephole_lstm_sequence(x, *state, self.weight_hh, self.weight_ci, self.weight_cf, self.weight_co)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class LayerNormGRUCell(CarryingCell):
    r"""GRU with layer normalisation (Ba et al. 2016) of the input and recurrent projections.

    .. math::
        a_t &= \mathrm{LN}_{ih}(W_{ih} x_t) + b, \quad u_t = \mathrm{LN}_{hh}(W_{hh} h_{t-1}) \\
        r &= \sigma(a^r_t + u^r_t), \quad z = \sigma(a^z_t + u^z_t) \\
        n &= \tanh(a^n_t + r \odot u^n_t) \\
        h_t &= (1 - z) \odot n + z \odot h_{t-1}

    Shapes: ``weight_ih (3H, I)``, ``weight_hh (3H, H)``, ``bias (3H,)``, layer norms over ``3H`` features
    each (gate order r, z, n as torch.nn.GRU); state ``(h,)`` with ``h (B, H)``.  The input half ``a_t`` is
    state-free and so computed for all steps at once in :meth:`project_input`.
    """

    gate_names = ("r", "z", "n")

    def __init__(self, input_size: int, hidden_size: int, device=None, dtype=None) -> None:
        super().__init__()
        _check_sizes(self, input_size, hidden_size)
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.state_sizes = input_size, (hidden_size,)
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size, **factory))
        self.bias = nn.Parameter(torch.zeros(3 * hidden_size, **factory))
        self.ln_ih = nn.LayerNorm(3 * hidden_size, **factory)
        self.ln_hh = nn.LayerNorm(3 * hidden_size, **factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weights ~ U(-1/sqrt(H), 1/sqrt(H)) as torch.nn's GRU; zero bias; layer norms at identity."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)
        nn.init.zeros_(self.bias)
        self.ln_ih.reset_parameters()
        self.ln_hh.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        return self.ln_ih(F.linear(x, self.weight_ih)) + self.bias

    def carry_step(self, x: Tensor, h: Tensor, recurrent: Tensor) -> tuple[State, tuple[Tensor, ...]]:
        return gru_update(x, self.ln_hh(F.linear(recurrent, self.weight_hh)), h)

    def fused_steps(self, x: Tensor, state: State, mask: Tensor | None = None,
                    zoneout: list[Tensor] | float | None = None) -> State | None:
        if mask is not None or zoneout is not None:  # the regularisers step
            return None
        hs = layer_norm_gru_sequence(x, state[0], self.weight_hh, self.ln_hh)
        return None if hs is None else (hs,)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class MGUCell(CarryingCell):
    r"""Minimal gated unit (Zhou et al. 2016): a GRU with one gate, the forget gate, doing both jobs.

    .. math::
        f &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        n &= \tanh(W_{in} x_t + b_{in} + W_{hn} (f \odot h_{t-1}) + b_{hn}) \\
        h_t &= (1 - f) \odot h_{t-1} + f \odot n

    Shapes: ``weight_ih (2H, I)``, ``weight_hh (2H, H)`` (rows ``f``, then ``n``), ``bias_ih``,
    ``bias_hh (2H,)``; state ``(h,)`` with ``h (B, H)``.  Two thirds of a GRU's parameters.
    """

    gate_names = ("f", "n")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        _check_sizes(self, input_size, hidden_size)
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.state_sizes, self.bias = input_size, (hidden_size,), bias
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(2 * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(2 * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_init_(self, self.hidden_size)

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)

    def carry_step(self, x: Tensor, h: Tensor, recurrent: Tensor) -> tuple[State, tuple[Tensor, ...]]:
        hidden = h.shape[1]
        w_f, w_n = self.weight_hh.split(hidden)
        b_f, b_n = (None, None) if self.bias_hh is None else self.bias_hh.split(hidden)
        x_f, x_n = x.split(hidden, dim=1)  # split, not x[:, :H]: a slice exports badly inside a loop (see gru_update)
        f = torch.sigmoid(x_f + F.linear(recurrent, w_f, b_f))
        n = torch.tanh(x_n + F.linear(f * recurrent, w_n, b_n))
        return (torch.lerp(h, n, f),), (f, n)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

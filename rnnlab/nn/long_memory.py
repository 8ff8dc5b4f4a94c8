r"""Cells built for long memory, each with the initialisation its paper gives it.

* :func:`chrono_init_` (Tallec & Ollivier 2018): an LSTM's forget-gate biases drawn so that its
  units forget over time scales spread between 1 and ``T_max`` steps.
* :class:`JANETCell` (van der Westhuizen & Lasenby 2018): an LSTM with only its forget gate,
  chrono-initialised.
* :class:`IndRNNCell` (Li et al. 2018): every unit has one recurrent weight of its own, bounded so
  that ``T`` steps cannot grow the gradient beyond a known factor.
* :class:`OrthogonalCell` (Arjovsky et al. 2016; Lezcano-Casado & Martinez-Rubio 2019): the
  recurrent matrix is the exponential of a skew-symmetric one, so it is exactly orthogonal however
  training moves it, and the backward pass neither shrinks nor grows a gradient through it.

Each follows the :class:`~rnnlab.nn.cell.Cell` protocol, so :class:`~rnnlab.Recurrent` stacks them,
runs both directions and variable lengths, and the diagnostics read their traces.

Shapes: ``B`` batch, ``I`` input features, ``H`` hidden features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.nn.cell import CarryingCell, Cell, State
from rnnlab.nn.fused import indrnn_sequence, janet_sequence, modrelu_sequence


def chrono_biases(hidden_size: int, t_max: float, generator: torch.Generator | None = None) -> Tensor:
    r"""Chrono initialisation's forget-gate biases ``(H,)``: :math:`b_f = \log u`, :math:`u \sim U[1, T_{max} - 1]`.

    A unit with forget bias ``b`` keeps about ``1 - sigmoid(-b)`` of its memory per step, so it
    forgets over about ``1 + e^b`` steps: the draw spreads the units' memory between 2 and
    ``T_max`` steps (Tallec & Ollivier 2018, "Can recurrent neural networks warp time?").
    """
    if not t_max > 2:
        raise ValueError(f"chrono initialisation needs t_max > 2 (the longest time scale, in steps), got {t_max}")
    return torch.empty(hidden_size).uniform_(1.0, t_max - 1.0, generator=generator).log_()


@torch.no_grad()
def chrono_init_(layer: nn.Module, t_max: float) -> nn.Module:
    r"""Chrono-initialise every LSTM cell of ``layer`` (an :class:`~rnnlab.LSTM` or ``torch.nn.LSTM``):
    forget biases :func:`chrono_biases`, input biases their negatives, the other biases untouched.

    torch's LSTM sums two biases, ``b_ih + b_hh``; ``b_ih`` takes the whole value and ``b_hh`` zero
    for the input and forget gates (gate order ``i, f, g, o``).  Returns ``layer``.
    """
    hidden = layer.hidden_size
    biases = [(name, bias) for name, bias in layer.named_parameters() if name.startswith("bias_ih")]
    if getattr(layer, "mode", "LSTM") != "LSTM" or not biases:
        raise ValueError(f"chrono_init_ needs an LSTM with biases, got {type(layer).__name__}"
                         + (" without biases" if not biases else ""))
    for name, bias in biases:
        forget = chrono_biases(hidden, t_max).to(bias)
        bias[hidden:2 * hidden] = forget
        bias[:hidden] = -forget
        getattr(layer, name.replace("bias_ih", "bias_hh"))[:2 * hidden] = 0.0
    return layer


class JANETCell(CarryingCell):
    r"""JANET, "just another network": an LSTM with its forget gate alone (van der Westhuizen &
    Lasenby 2018, "The unreasonable effectiveness of the forget gate").

    .. math::
        s_t &= W_s x_t + U_s h_{t-1} + b_s, \qquad \tilde c_t = \tanh(W_c x_t + U_c h_{t-1} + b_c) \\
        h_t &= \sigma(s_t) \odot h_{t-1} + (1 - \sigma(s_t - \beta)) \odot \tilde c_t

    The input gate is tied to the forget gate, shifted by ``beta`` (1 in the paper) so that a unit
    lets in a little less than it forgets.  Initialisation as the paper's code: input weights
    Glorot-uniform, recurrent weights orthogonal, ``b_s`` chrono (:func:`chrono_biases` up to
    ``t_max``), ``b_c`` zero.

    Shapes: ``weight_ih (2H, I)`` and ``weight_hh (2H, H)`` (rows ``s``, then ``c~``), ``bias (2H,)``;
    state ``(h,)`` with ``h (B, H)``.  Gates traced: ``f = sigmoid(s)`` and the candidate ``g = c~``.
    """

    gate_names = ("f", "g")

    def __init__(self, input_size: int, hidden_size: int, t_max: float = 100.0, beta: float = 1.0,
                 device=None, dtype=None) -> None:
        super().__init__()
        _check_sizes(self, input_size, hidden_size)
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.state_sizes, self.t_max, self.beta = input_size, (hidden_size,), t_max, beta
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size, **factory))
        self.bias = nn.Parameter(torch.empty(2 * hidden_size, **factory))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        hidden = self.hidden_size
        for block in self.weight_ih.split(hidden):
            nn.init.xavier_uniform_(block)
        for block in self.weight_hh.split(hidden):
            nn.init.orthogonal_(block)
        self.bias[:hidden] = chrono_biases(hidden, self.t_max).to(self.bias)
        self.bias[hidden:] = 0.0

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias)

    def carry_step(self, x: Tensor, h: Tensor, recurrent: Tensor) -> tuple[State, tuple[Tensor, ...]]:
        s, candidate = torch.addmm(x, recurrent, self.weight_hh.t()).chunk(2, dim=1)
        f, g = torch.sigmoid(s), torch.tanh(candidate)
        h = f * h + (1 - torch.sigmoid(s - self.beta)) * g
        return (h,), (f, g)

    def fused_steps(self, x: Tensor, state: State, mask: Tensor | None = None,
                    zoneout: list[Tensor] | float | None = None) -> State | None:
        if mask is not None or zoneout is not None:  # the regularisers step
            return None
        hs = janet_sequence(x, state[0], self.weight_hh, self.beta)
        return None if hs is None else (hs,)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, t_max={self.t_max:g}, beta={self.beta:g}"


class IndRNNCell(Cell):
    r"""The independently recurrent cell (Li et al. 2018, "Independently recurrent neural network
    (IndRNN): building a longer and deeper RNN").

    .. math::
        h_t = \mathrm{relu}(W x_t + b + u \odot h_{t-1}), \qquad |u_n| \le u_{max}

    Each unit ``n`` reads its own previous value only, through one weight ``u_n``: its gradient over
    ``T`` steps is a product of ``T`` factors ``u_n`` (times relu's 0 or 1), so bounding
    ``|u_n| <= u_max = 2^{1/T}`` keeps it from growing more than twofold over the sequence (the
    paper's bound for the adding problem; a unit can still forget).  As the paper, the bound is kept by
    projection: :meth:`constrain_` clips ``u`` after every update (``rnnlab``'s training step calls it
    on every layer that has it), and between two projections the forward pass uses ``u`` clipped, with
    the gradient passed straight through, so a weight at the bound still learns.  Initialisation as
    the paper: ``u ~ U(0, u_max)``, input weights ``~ N(0, 0.001^2)``, bias zero.

    Shapes: ``weight_ih (H, I)``, ``weight_hh (H,)`` (the ``u`` of every unit), ``bias_ih (H,)``;
    state ``(h,)`` with ``h (B, H)``.
    """

    def __init__(self, input_size: int, hidden_size: int, max_abs: float | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        _check_sizes(self, input_size, hidden_size)
        if max_abs is not None and not max_abs > 0:
            raise ValueError(f"IndRNNCell: max_abs must be positive (or None: no bound), got {max_abs}")
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.state_sizes, self.max_abs = input_size, (hidden_size,), max_abs
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, **factory))
        self.bias_ih = nn.Parameter(torch.empty(hidden_size, **factory))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight_ih, 0.0, 1e-3)
        nn.init.uniform_(self.weight_hh, 0.0, self.max_abs if self.max_abs is not None else 1.0)
        nn.init.zeros_(self.bias_ih)

    @torch.no_grad()
    def constrain_(self) -> None:
        """Project ``u`` onto its bound, in place (after an optimiser's update)."""
        if self.max_abs is not None:
            self.weight_hh.clamp_(-self.max_abs, self.max_abs)

    def recurrent_weights(self) -> Tensor:
        """``u`` within its bound, ``(H,)``; the gradient passes to ``weight_hh`` unchanged."""
        u = self.weight_hh
        if self.max_abs is None:
            return u
        return u + (u.clamp(-self.max_abs, self.max_abs) - u).detach()

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, x: Tensor, state: State) -> tuple[State, tuple[Tensor, ...]]:
        (h,) = state
        return (torch.relu(torch.addcmul(x, self.recurrent_weights(), h)),), ()

    def fused_steps(self, x: Tensor, state: State, mask: Tensor | None = None,
                    zoneout: list[Tensor] | float | None = None) -> State | None:
        if mask is not None or zoneout is not None:  # the regularisers step
            return None
        hs = indrnn_sequence(x, state[0], self.recurrent_weights())
        return None if hs is None else (hs,)

    def extra_repr(self) -> str:
        bound = "" if self.max_abs is None else f", max_abs={self.max_abs:.6g}"
        return f"{self.input_size}, {self.hidden_size}{bound}"


def modrelu(z: Tensor, bias: Tensor) -> Tensor:
    r""":math:`\mathrm{modReLU}(z) = \mathrm{sign}(z)\,\mathrm{relu}(|z| + b)` (Arjovsky et al. 2016), for
    real ``z (..., H)`` and ``bias (H,)``: the magnitude shrinks by ``-b`` (or is cut to 0), the sign stays."""
    return torch.sign(z) * torch.relu(z.abs() + bias)


def skew(parameter: Tensor) -> Tensor:
    """The skew-symmetric matrix ``A - A^T`` of the strict upper triangle ``A`` of ``parameter (H, H)``."""
    upper = parameter.triu(1)
    return upper - upper.t()


def henaff_skew_(parameter: Tensor, generator: torch.Generator | None = None) -> Tensor:
    r"""Henaff et al. 2016's initialisation, as the skew-symmetric generator of the recurrent matrix:
    2x2 blocks :math:`\begin{pmatrix} 0 & s \\ -s & 0 \end{pmatrix}` on the diagonal, ``s ~ U(-pi, pi)``,
    so ``exp`` of it rotates each pair of units by its own angle ``s`` (a random orthogonal matrix
    made of plane rotations).  Fills the strict upper triangle of ``parameter (H, H)`` in place."""
    with torch.no_grad():
        parameter.zero_()
        pairs = parameter.shape[0] // 2
        angles = torch.empty(pairs).uniform_(-math.pi, math.pi, generator=generator).to(parameter)
        index = torch.arange(pairs, device=parameter.device) * 2
        parameter[index, index + 1] = angles
    return parameter


class OrthogonalCell(Cell):
    r"""A vanilla recurrence whose recurrent matrix stays exactly orthogonal (expRNN:
    Lezcano-Casado & Martinez-Rubio 2019; modReLU: Arjovsky et al. 2016).

    .. math::
        W_{hh} = \exp(A - A^\top), \qquad h_t = \mathrm{modReLU}(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1},\; b)

    The parameter is ``A``'s strict upper triangle; the matrix exponential of a skew-symmetric matrix
    is orthogonal, so ``W_hh`` keeps every singular value at 1 whatever the optimiser does to ``A``:
    a gradient through ``W_hh^T`` keeps its norm across any number of steps (modReLU passes or cuts
    each unit, never rescales it, so only the units it cuts lose their share).  ``A`` starts at
    :func:`henaff_skew_`; input weights are Kaiming-normal (fan in), ``b_ih`` zero, the modReLU bias
    ``b ~ U(-0.01, 0.01)``, as expRNN.

    ``W_hh`` is computed once per sequence, in :meth:`project_input`, and the steps after it reuse it
    (one matrix exponential per forward pass, not one per step); a step taken on its own recomputes
    it whenever ``A`` changed (an update, a load, a move to another device or dtype), and a copy of
    the cell never carries it.

    Shapes: ``weight_ih (H, I)``, ``log_weight_hh (H, H)`` (``A``), ``bias_ih (H,)``, ``bias (H,)`` (modReLU's);
    state ``(h,)`` with ``h (B, H)``.
    """

    def __init__(self, input_size: int, hidden_size: int, device=None, dtype=None) -> None:
        super().__init__()
        _check_sizes(self, input_size, hidden_size)
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.state_sizes = input_size, (hidden_size,)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.log_weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size, **factory))
        self.bias_ih = nn.Parameter(torch.empty(hidden_size, **factory))
        self.bias = nn.Parameter(torch.empty(hidden_size, **factory))
        self._cached: tuple[tuple, Tensor] | None = None  # (the generator's identity and version, W_hh)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        nn.init.kaiming_normal_(self.weight_ih, nonlinearity="relu")
        henaff_skew_(self.log_weight_hh)
        nn.init.zeros_(self.bias_ih)
        nn.init.uniform_(self.bias, -0.01, 0.01)

    @property
    def weight_hh(self) -> Tensor:
        """The orthogonal recurrent matrix ``exp(A - A^T)``, ``(H, H)``, in the parameters' dtype: computed
        in float64 (orthogonal to about 1e-15) and rounded once, so a float32 matrix is orthogonal to
        float32's rounding (about 1e-7), however far training moves ``A``."""
        generator = self.log_weight_hh
        return torch.linalg.matrix_exp(skew(generator.double())).to(generator.dtype)

    def _key(self) -> tuple:
        generator = self.log_weight_hh
        return (id(generator), generator._version, generator.dtype, generator.device, torch.is_grad_enabled())

    def recurrent_matrix(self, fresh: bool = False) -> Tensor:
        """``W_hh``, reused while ``A`` is unchanged (``fresh``: computed anew, as each sequence does, so
        that two forward passes never share one graph)."""
        key = self._key()
        if fresh or self._cached is None or self._cached[0] != key:
            self._cached = (key, self.weight_hh)
        return self._cached[1]

    def project_input(self, x: Tensor) -> Tensor:
        self.recurrent_matrix(fresh=True)  # once per sequence; its steps reuse it
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, x: Tensor, state: State) -> tuple[State, tuple[Tensor, ...]]:
        (h,) = state
        return (modrelu(torch.addmm(x, h, self.recurrent_matrix().t()), self.bias),), ()

    def fused_steps(self, x: Tensor, state: State, mask: Tensor | None = None,
                    zoneout: list[Tensor] | float | None = None) -> State | None:
        if mask is not None or zoneout is not None:  # the regularisers step
            return None
        hs = modrelu_sequence(x, state[0], self.recurrent_matrix(), self.bias)
        return None if hs is None else (hs,)

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_cached": None}  # a copy or a pickle never carries the graph

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


def _check_sizes(cell: Cell, input_size: int, hidden_size: int) -> None:
    if input_size <= 0 or hidden_size <= 0:
        raise ValueError(f"{type(cell).__name__}: input_size and hidden_size must be positive, "
                         f"got input_size={input_size}, hidden_size={hidden_size}")

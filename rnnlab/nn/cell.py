"""The cell protocol: one time step of a recurrence, ``state_t = f(x_t, state_{t-1})``.

Every cell follows :class:`Cell`, so that unfolding (:mod:`rnnlab.nn.unroll`), stacking and
bidirectional layers (:mod:`rnnlab.nn.layers`) and the diagnostics work for any cell, including
one a user writes.  Also the checks every cell and layer makes of what it is given, and torch.nn's
initialisation.  Imports nothing of rnnlab.

Shapes: ``B`` batch, ``I`` input features, ``H`` hidden features, ``G`` the width of a cell's
projected input (for example ``4H`` for an LSTM).
"""

from __future__ import annotations

import math

from torch import Tensor, nn


class ShapeError(ValueError, RuntimeError):
    """A tensor of the wrong shape given to a cell or layer.  Both a ``ValueError`` (rnnlab's) and a
    ``RuntimeError`` (what torch.nn raises for most shape errors), so either ``except`` catches it."""


class DtypeError(TypeError, ValueError, RuntimeError):
    """A tensor of the wrong dtype or device given to a cell or layer.  A ``TypeError`` (rnnlab's), a
    ``ValueError`` (torch.nn's for the input) and a ``RuntimeError`` (torch.nn's for the state)."""


State = tuple[Tensor, ...]
"""A cell's state: one tensor (``h``) or several (``h, c``), each ``(B, size)``; ``state[0]`` is the step's output."""


class Cell(nn.Module):
    """The cell protocol: one time step of a recurrence.

    A subclass sets ``input_size`` and ``state_sizes`` (the feature size of each
    state tensor; ``state[0]`` is what the step emits), creates its parameters,
    and implements :meth:`step`.  Optionally it moves the state-free part of the
    step into :meth:`project_input`, which runs over all time steps at once, and
    names the gate activations that :meth:`step` returns in ``gate_names`` so
    traces can show them.  Stacking, bidirectionality, variable lengths, traces
    and truncated BPTT then come from :mod:`rnnlab.nn.unroll` and
    :class:`rnnlab.Recurrent`.

    Called as a module, a cell takes one step with torch.nn's cell signature:
    ``cell(input, hx=None)`` with ``input`` of shape ``(B, I)`` or ``(I,)`` and
    ``hx`` a tensor (one-tensor state) or a tuple (several), returning the new
    state in the same form.
    """

    input_size: int
    state_sizes: tuple[int, ...]
    gate_names: tuple[str, ...] = ()

    @property
    def hidden_size(self) -> int:
        """Size of the last state tensor: the memory of the cell (``H``)."""
        return self.state_sizes[-1]

    @property
    def output_size(self) -> int:
        """Size of what one step emits, ``state[0]``."""
        return self.state_sizes[0]

    def project_input(self, x: Tensor) -> Tensor:
        """The state-free part of a step, ``(..., I) -> (..., G)``; identity unless overridden."""
        return x

    def step(self, x: Tensor, state: State) -> tuple[State, tuple[Tensor, ...]]:
        """One step: projected input ``(B, G)`` and state -> (new state, gate activations ``(B, H)`` each)."""
        raise NotImplementedError

    def dropped_step(self, x: Tensor, state: State, mask: Tensor) -> tuple[State, tuple[Tensor, ...]]:
        """:meth:`step` with recurrent dropout: ``mask (B, H)`` (zeros and ``1 / (1 - p)``) multiplies the
        previous output ``state[0]`` where it enters the recurrent matrices.  This default steps from
        ``(state[0] * mask, *state[1:])``, which is exactly that for a cell whose ``state[0]`` enters the
        step through its recurrent matrices only (vanilla, LSTM: its memory ``c`` is not dropped); a cell
        that also carries ``state[0]`` forward itself (a GRU's ``z * h_{t-1}``) overrides it, so the memory
        it carries is never dropped (:class:`CarryingCell`)."""
        return self.step(x, (state[0] * mask, *state[1:]))

    def fused_steps(self, x: Tensor, state: State, mask: Tensor | None = None,
                    zoneout: list[Tensor] | float | None = None) -> State | None:
        """Every step at once, as one autograd node with a hand-written backward (:mod:`rnnlab.nn.fused`).

        Args:
            x: projected inputs ``(T, B, G)``.
            state: the initial state.
            mask: recurrent dropout's ``(B, H)`` mask on ``state[0]`` where it enters the recurrent matrices
                (as :meth:`dropped_step`), or ``None``.
            zoneout: per state tensor, a ``(T, B, size)`` boolean mask, true where a unit keeps its previous
                value (training); or the probability ``p`` (evaluation: every state is
                ``p s_{t-1} + (1 - p) s_t``); ``None``: off.

        Returns:
            Every step's state, each ``(T, B, size)``; or ``None`` (this default) when the cell has no fused
            path, and :func:`~rnnlab.nn.unroll.unroll` steps through :meth:`step`.  A trace always steps.
        """
        return None

    def initial_state(self, batch_size: int, like: Tensor) -> State:
        """The zero state for ``batch_size`` sequences, with ``like``'s dtype and device."""
        return tuple(like.new_zeros(batch_size, size) for size in self.state_sizes)

    def forward(self, input: Tensor, hx: Tensor | State | None = None) -> Tensor | State:
        """One step with torch.nn's cell signature (see the class docstring)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.dim() not in (1, 2):
            raise ShapeError(
                f"{name}: input must be 2-D (batch, input_size) or 1-D (input_size,), "
                f"got {input.dim()}-D with shape {tuple(input.shape)}"
            )
        if input.shape[-1] != self.input_size:
            raise ShapeError(
                f"{name}: input must have input_size={self.input_size} features in its last dimension, "
                f"got shape {tuple(input.shape)}"
            )
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        check_dtype_device(name, "input", x, next(iter(self.parameters()), None))
        if hx is None:
            state = self.initial_state(x.shape[0], x)
        else:
            given = (hx,) if isinstance(hx, Tensor) else tuple(hx)
            shapes = [(x.shape[0], size) if batched else (size,) for size in self.state_sizes]
            state = check_state(name, "hx", given, shapes, x)
            state = state if batched else tuple(h.unsqueeze(0) for h in state)
        new_state, _ = self.step(self.project_input(x), state)
        if not batched:
            new_state = tuple(s.squeeze(0) for s in new_state)
        return new_state[0] if len(new_state) == 1 else new_state


class CarryingCell(Cell):
    """A cell whose one-tensor state ``h`` is both read through its recurrent matrices and carried into the
    next state by the cell itself (the GRU's ``z * h_{t-1}``).  It implements :meth:`carry_step`, and
    :meth:`step` and :meth:`dropped_step` follow from it: recurrent dropout drops ``h`` where it is read,
    never the memory that is carried."""

    def carry_step(self, x: Tensor, h: Tensor, recurrent: Tensor) -> tuple[State, tuple[Tensor, ...]]:
        """One step carrying ``h (B, H)`` and reading ``recurrent`` (``h``, or ``h`` dropped) through the
        recurrent matrices; returns what :meth:`step` returns."""
        raise NotImplementedError

    def step(self, x: Tensor, state: State) -> tuple[State, tuple[Tensor, ...]]:
        return self.carry_step(x, state[0], state[0])

    def dropped_step(self, x: Tensor, state: State, mask: Tensor) -> tuple[State, tuple[Tensor, ...]]:
        return self.carry_step(x, state[0], state[0] * mask)


def check_dtype_device(owner: str, arg: str, tensor: Tensor, reference: Tensor | None) -> None:
    """Raise a :class:`DtypeError` naming ``arg`` if its dtype or device differs from ``reference``'s."""
    if reference is None:
        return
    if tensor.dtype != reference.dtype:
        raise DtypeError(f"{owner}: {arg} has dtype {tensor.dtype}, expected {reference.dtype} (the parameters' dtype)")
    if tensor.device != reference.device:
        raise DtypeError(f"{owner}: {arg} is on device {tensor.device}, expected {reference.device} "
                        "(the parameters' device)")


def check_state(owner: str, arg: str, state: State, shapes: list[tuple[int, ...]], like: Tensor,
                form: str = "") -> State:
    """Validate a user-given state: one tensor per expected shape, with ``like``'s dtype and device.

    ``form`` names the dimensions in the error message, e.g. ``"(num_layers * num_directions, batch, size)"``.
    """
    if len(state) != len(shapes):
        raise TypeError(f"{owner}: {arg} must hold {len(shapes)} tensor(s), got {len(state)}")
    for k, (s, expected) in enumerate(zip(state, shapes)):
        label = arg if len(shapes) == 1 else f"{arg}[{k}]"
        if not isinstance(s, Tensor):
            raise TypeError(f"{owner}: {label} must be a Tensor, got {type(s).__name__}")
        if tuple(s.shape) != expected:
            raise ShapeError(f"{owner}: {label} must have shape {expected}{' ' + form if form else ''}, "
                             f"got {tuple(s.shape)}")
        if s.dtype != like.dtype or s.device != like.device:
            raise DtypeError(f"{owner}: {label} has dtype {s.dtype} on {s.device}, "
                            f"expected {like.dtype} on {like.device} (the input's)")
    return tuple(state)


def uniform_init_(module: nn.Module, hidden_size: int) -> None:
    """torch.nn's recurrent initialisation: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in registration order."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for weight in module.parameters():
        nn.init.uniform_(weight, -bound, bound)

"""Unfolding a cell over time.

The loop ``state_t = cell(x_t, state_{t-1})`` is expanded into a chain, one
copy of the cell per time step, all sharing the same weights; autograd through
that chain *is* backpropagation through time.  This module runs any
:class:`~rnnlab.nn.cell.Cell` over a sequence, with an initial state, per-sequence
lengths, the reverse direction and an optional trace of every step, and cuts
long streams into chunks for truncated BPTT.

Shapes: ``T`` time steps, ``B`` batch, ``I`` input features, ``H`` the cell's
output size.  Sequences are time-major ``(T, B, I)`` unless ``batch_first``.  A cell whose input and
state steps are images (:class:`~rnnlab.nn.convolutional.ConvLSTMCell`: ``(B, C, height, width)``) unrolls
the same way, with ``(T, B, C, height, width)`` in place of ``(T, B, I)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnlab.nn.cell import Cell, State
from rnnlab.nn.dropout import keep_mask
from rnnlab.nn.sequence import check_lengths, padding_mask, reverse_in_time


class Trace(NamedTuple):
    """What happened inside the unfolded chain, one entry per time step.

    ``states``: every step's state, a tuple like the cell's state with tensors ``(T, B, size)``.
    ``gates``: gate activations by name (``"i", "f", "g", "o"`` for an LSTM), each ``(T, B, H)``.
    ``probe``: ``(T, B, H)`` zeros added to every ``h_t`` (``states[0]``), or ``None`` without
    autograd; ``torch.autograd.grad(loss, trace.probe)`` is ``dloss/dh_t`` for every ``t``, the
    total derivative through all later steps.
    Steps past a sequence's length hold its frozen state and zero gates.
    """

    states: State
    gates: dict[str, Tensor]
    probe: Tensor | None


class Unrolled(NamedTuple):
    """The result of :func:`unroll`: ``outputs (T, B, H)`` (``(B, T, H)`` batch-first),
    the final ``state`` (each ``(B, size)``), and the :class:`Trace` or ``None``."""

    outputs: Tensor
    state: State
    trace: Trace | None


def unroll(
    cell: Cell,
    inputs: Tensor,
    state: State | None = None,
    *,
    lengths: Tensor | None = None,
    reverse: bool = False,
    batch_first: bool = False,
    trace: bool = False,
    zoneout: float = 0.0,
    recurrent_dropout: float = 0.0,
    training: bool = False,
) -> Unrolled:
    """Run ``cell`` over a batch of sequences.

    Args:
        cell: any :class:`~rnnlab.nn.cell.Cell`.
        inputs: ``(T, B, I)``, or ``(B, T, I)`` with ``batch_first``.
        state: initial state, a tuple of ``(B, size)`` tensors; zeros if omitted.
        lengths: ``(B,)`` integer lengths in ``1..T``.  A sequence's state stops changing after
            its last step, so the final state is the one at its own end, and its padded outputs are zero.
        reverse: run from each sequence's last valid step back to its first (outputs stay
            aligned with the inputs, as in the backward half of a bidirectional layer).
        trace: also return a :class:`Trace` of every step.
        zoneout: (Krueger et al. 2017) with ``training``, each unit of every state tensor keeps its
            previous value with this probability at each step, a fresh draw per step, unit and
            sequence; without ``training``, every state is the expectation
            ``zoneout * s_{t-1} + (1 - zoneout) * s_t``.  0: off.
        recurrent_dropout: (Gal & Ghahramani 2016) with ``training``, one mask per sequence ``(B, H)``,
            drawn once and scaled by ``1 / (1 - p)``, multiplies ``h_{t-1}`` at every step where it enters
            the recurrent matrices (:meth:`~rnnlab.nn.cell.Cell.dropped_step`); nothing without ``training``.
        training: whether zoneout and recurrent dropout draw their masks (training), or zoneout takes the
            expectation and recurrent dropout is off.

    Returns:
        :class:`Unrolled` ``(outputs, state, trace)``.
    """
    x = inputs.transpose(0, 1) if batch_first else inputs
    steps, batch = x.shape[0], x.shape[1]
    lengths = check_lengths(lengths, batch, steps, x.device)
    if state is None:
        state = cell.initial_state(batch, x)
    if reverse:
        x = reverse_in_time(x, lengths)

    projected = cell.project_input(x)
    zoned = _zoneout_masks(state, steps, zoneout) if zoneout and training else None
    dropped = None
    if recurrent_dropout and training:  # one mask per sequence, the same at every step
        dropped = torch.nn.functional.dropout(torch.ones_like(state[0]), recurrent_dropout, training=True)
    fused = None
    if not trace and _may_fuse(x):  # zoneout: the masks in training, the probability (the expectation) in evaluation
        fused = cell.fused_steps(projected, state, dropped, (zoned or zoneout) if zoneout else None)
    if fused is not None:
        out, state, recorded = *_fused_result(fused, lengths, steps, batch), None
    else:
        out, state, recorded = _stepped(cell, projected, state, lengths, reverse, trace, zoneout, zoned, dropped)
    if reverse:
        out = reverse_in_time(out, lengths)
        if recorded is not None:
            recorded = Trace(
                states=tuple(reverse_in_time(s, lengths) for s in recorded.states),
                gates={k: reverse_in_time(g, lengths) for k, g in recorded.gates.items()},
                probe=recorded.probe,
            )
    if batch_first:
        out = out.transpose(0, 1)
    return Unrolled(out, state, recorded)


def _may_fuse(x: Tensor) -> bool:
    """Whether a cell's fused path (:meth:`~rnnlab.nn.cell.Cell.fused_steps`) may run: not while
    ``torch.compile`` traces (it compiles the steps) or under autocast (the fused path keeps one dtype)."""
    return not torch.compiler.is_compiling() and not torch.is_autocast_enabled(x.device.type)


def _fused_result(states: State, lengths: Tensor | None, steps: int, batch: int) -> tuple[Tensor, State]:
    """A fused path's every-step ``states`` (each ``(T, B, size)``) -> ``outputs (T, B, H)`` (zero past each
    sequence's length) and the final state (each sequence's at its own last step)."""
    if lengths is None:
        return states[0], tuple(s[-1] for s in states)
    valid = ~padding_mask(lengths, steps).unsqueeze(-1)
    last = (lengths - 1).view(1, batch, 1)
    final = tuple(s.gather(0, last.expand(1, batch, s.shape[-1])).squeeze(0) for s in states)
    return torch.where(valid, states[0], 0.0), final


def _stepped(cell: Cell, projected: Tensor, state: State, lengths: Tensor | None, reverse: bool, trace: bool,
             zoneout: float, zoned: list[Tensor] | None, dropped: Tensor | None) -> tuple[Tensor, State, Trace | None]:
    """:func:`unroll`'s loop, one :meth:`~rnnlab.nn.cell.Cell.step` at a time: ``projected (T, B, G)`` ->
    ``outputs (T, B, H)``, the final state and the trace (time-major, in the direction of the steps).
    ``zoned``: zoneout's masks in training (:func:`_zoneout_masks`; without them, a ``zoneout`` takes the
    expectation); ``dropped``: recurrent dropout's mask ``(B, H)``."""
    steps, batch = projected.shape[0], projected.shape[1]
    # Steps before the shortest sequence's end need no mask.
    first_masked = steps if lengths is None else int(lengths.min())
    valid = None
    if lengths is not None:  # (T, B, 1, ...): broadcasts against the state, (B, H) or (B, C, height, width)
        valid = ~padding_mask(lengths, steps).view(steps, batch, *([1] * (state[0].dim() - 1)))
    probe, probe_steps = None, None
    if trace and torch.is_grad_enabled():
        probe = projected.new_zeros(steps, *state[0].shape, requires_grad=True)
        probe_steps = (reverse_in_time(probe, lengths) if reverse else probe).unbind(0)

    outputs, states, gates = [], [], []
    for t, x_t in enumerate(projected.unbind(0)):
        if dropped is None:
            new_state, step_gates = cell.step(x_t, state)
        else:
            new_state, step_gates = cell.dropped_step(x_t, state, dropped)
        if zoned is not None:  # each unit keeps its old value where its mask says so
            new_state = tuple(torch.where(mask[t], old, new) for mask, new, old in zip(zoned, new_state, state))
        elif zoneout:  # evaluation: the expectation, p * old + (1 - p) * new
            new_state = tuple(torch.lerp(new, old, zoneout) for new, old in zip(new_state, state))
        if probe_steps is not None:
            new_state = (new_state[0] + probe_steps[t], *new_state[1:])
        if t >= first_masked:
            keep = valid[t]
            new_state = tuple(torch.where(keep, new, old) for new, old in zip(new_state, state))
            outputs.append(torch.where(keep, new_state[0], 0.0))
            if trace:
                step_gates = tuple(torch.where(keep, g, 0.0) for g in step_gates)
        else:
            outputs.append(new_state[0])
        state = new_state
        if trace:
            states.append(state)
            gates.append(step_gates)

    out = torch.stack(outputs)
    recorded = None
    if trace:
        recorded = Trace(
            states=tuple(torch.stack(s) for s in zip(*states)),
            gates={name: torch.stack(g) for name, g in zip(cell.gate_names, zip(*gates))},
            probe=probe,
        )
    return out, state, recorded


def graph_unroll(cell: Cell, x: Tensor, state: State, *, lengths: Tensor | None = None, reverse: bool = False,
                 zoneout: float = 0.0) -> tuple[Tensor, State]:
    """:func:`unroll` in evaluation, as one loop of the graph: ``x (T, B, I)`` time-major, ``state`` each
    ``(B, size)`` -> ``outputs (T, B, H)`` (zero at padded steps) and the final state.

    The steps run through torch's ``scan`` operator (``torch._higher_order_ops.scan``) instead of a Python
    loop, so that ``torch.export`` records one loop whose trip count is the symbolic ``T`` (a Python loop
    would be unrolled into ``T`` copies of the step, fixing ``T``), and the ONNX exporter writes it as an
    ONNX ``Scan``.  Any cell runs this way: the loop's body is the cell's :meth:`~rnnlab.nn.cell.Cell.step`.
    ``lengths`` are trusted (not checked against ``T``): under export their values are not known.  When ``T``
    is a fixed number in the graph (a decoding step's one token), the steps are written out instead.
    """
    from torch._higher_order_ops.scan import scan  # the control-flow operators import the compiler

    steps = x.shape[0]
    if reverse:
        x = reverse_in_time(x, lengths)
    if lengths is None:
        valid = torch.ones(steps, x.shape[1], 1, dtype=torch.bool, device=x.device)
    else:
        valid = ~padding_mask(lengths, steps).view(steps, -1, *([1] * (state[0].dim() - 1)))

    def step(carry: State, inputs: tuple[Tensor, Tensor]) -> tuple[State, Tensor]:
        x_t, keep = inputs
        new = cell.step(x_t, carry)[0]
        if zoneout:  # evaluation: the expectation, p * old + (1 - p) * new
            new = tuple(torch.lerp(n, old, zoneout) for n, old in zip(new, carry))
        new = tuple(torch.where(keep, n, old) for n, old in zip(new, carry))
        return new, torch.where(keep, new[0], 0.0)

    projected = cell.project_input(x)
    if isinstance(steps, int):  # a number of steps fixed in the graph (one decoding step): no loop to keep
        outputs = []
        for x_t, keep in zip(projected.unbind(0), valid.unbind(0)):
            state, output = step(state, (x_t, keep))
            outputs.append(output)
        final, outputs = state, torch.stack(outputs)
    else:
        final, outputs = scan(step, tuple(state), (projected, valid))
    return (reverse_in_time(outputs, lengths) if reverse else outputs), tuple(final)


def _zoneout_masks(state: State, steps: int, p: float) -> list[Tensor]:
    """Zoneout's masks for every step at once, one per state tensor ``(T, B, size)``: true where a unit
    keeps its previous value (probability ``p``; on the CPU to within ``2**-16``, drawn as dropout's masks,
    15 random bits per unit); drawn together, not one random call per step."""
    return [~keep_mask((steps, *s.shape), p) if s.device.type == "cpu" else
            torch.rand(steps, *s.shape, device=s.device) < p for s in state]


def detach_state(state):
    """Cut the graph behind a state (a tensor or a tuple of tensors), keeping its values."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


def truncated_bptt(
    model: Callable[..., tuple[Tensor, object]],
    inputs: Tensor,
    k: int,
    state=None,
    *,
    batch_first: bool = False,
) -> Iterator[tuple[Tensor, object]]:
    """Truncated backpropagation through time over a long stream.

    Splits ``inputs`` (``(T, B, I)``, or ``(B, T, I)`` with ``batch_first``) into chunks of ``k``
    steps and yields ``(output_chunk, state)`` for each, calling ``model(chunk, state)``.  The
    state carried into a chunk is detached, so gradients flow back at most ``k`` steps while the
    state itself carries information over the whole stream.  Compute the loss and step the
    optimiser inside the loop::

        for (out, _), target in zip(truncated_bptt(lstm, x, k=50), y.split(50)):
            loss = criterion(head(out), target)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k: the chunk length must be a positive integer, got {k!r}")
    for chunk in inputs.split(k, dim=1 if batch_first else 0):
        out, state = model(chunk, detach_state(state))
        yield out, state


class Stream(nn.Module):
    """Streaming inference: feeds successive chunks of one long sequence to ``model``, carrying its state.

    ``stream(chunk)`` returns ``model``'s output for the chunk; the state after it is kept (detached)
    for the next call.  ``reset()`` starts a new stream.  The result equals running ``model`` over the
    concatenated chunks at once.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.state = None

    def forward(self, chunk: Tensor) -> Tensor:
        out, state = self.model(chunk, self.state)
        self.state = detach_state(state)
        return out

    def reset(self) -> None:
        self.state = None

"""Seeing memory at work: how far back the training signal reaches, and why.

Works on any model built from rnnlab's recurrent layers (the task models, a user's own, custom cells):

* :func:`recording`: within the block, every rnnlab layer in the model runs unrolled and records a
  :class:`~rnnlab.nn.unroll.Trace` of each of its layers and directions.
* :func:`gradient_flow`: ``||dLoss/dh_t||`` for every step ``t``, per layer and direction, and its
  ratio to the last step's: the training signal reaching back ``t`` steps.  A many-to-one loss
  reads only the last step, so everything earlier arrives through the recurrence.
* :func:`jacobian_norms`: the spectral norm of ``d state_t / d state_{t-1}`` along a real
  trajectory and of the running product ``d state_t / d state_0``: products of norms below 1
  vanish, above 1 explode.
* :func:`gate_statistics`: the mean of each gate over time and the share of saturated values
  (``> 0.95`` or ``< 0.05``): a forget gate near 1 keeps the memory; near 0 it is wiped.
* Exploding gradients: ``rnnlab train`` records the global gradient norm of every update before
  clipping (``grad_norms.jsonl`` in the run directory); :func:`rnnlab.experiments.memory.train_memory` too.

Shapes: ``T`` time steps, ``B`` batch, ``H`` features, ``S`` the size of the whole state (``2H`` for an LSTM).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from rnnlab.nn.cell import Cell, State
from rnnlab.nn.layers import Recurrent
from rnnlab.nn.sequence import check_lengths, padding_mask, reverse_in_time
from rnnlab.nn.unroll import Trace, unroll


class Recorded(NamedTuple):
    """One layer and direction of one forward pass: ``name`` (the module's name in the model, then
    ``/l{layer}`` and ``_reverse``), the :class:`Trace`, the cell, its input ``(T, B, I)``
    time-major (in the direction's reading order for ``reverse``), and the ``lengths`` or ``None``."""

    name: str
    layer: int
    direction: int
    trace: Trace
    cell: Cell
    inputs: Tensor
    lengths: Tensor | None


@contextmanager
def recording(model: nn.Module) -> Iterator[list[Recorded]]:
    """Record every rnnlab recurrent layer's trace during the forward passes run in the block.

    Yields the list that fills as the model runs, one :class:`Recorded` per layer and direction.
    The layers run through the unrolled engine while recording (the same function).
    """
    records: list[Recorded] = []
    layers = {module: name or type(module).__name__ for name, module in model.named_modules()
              if isinstance(module, Recurrent)}
    if not layers:
        raise ValueError(f"recording: {type(model).__name__} contains no rnnlab recurrent layer")

    def record(layer: Recurrent, input, lengths, traces: list[Trace]) -> None:
        if isinstance(input, PackedSequence):
            x, lengths = pad_packed_sequence(input)
        else:
            x = input.unsqueeze(1) if input.dim() == 2 else (input.transpose(0, 1) if layer.batch_first else input)
        lengths = check_lengths(lengths, x.shape[1], x.shape[0], x.device)
        directions, cells = layer.num_directions, layer.cells()
        layer_input = x
        for index, trace in enumerate(traces):
            number, direction = divmod(index, directions)
            if number > 0 and direction == 0:  # the previous layer's outputs, directions side by side
                layer_input = torch.cat([t.states[0] for t in traces[index - directions:index]], dim=-1).detach()
            reads = reverse_in_time(layer_input, lengths) if direction else layer_input
            name = f"{layers[layer]}/l{number}" + ("_reverse" if direction else "")
            records.append(Recorded(name, number, direction, trace, cells[index], reads.detach(), lengths))

    for layer in layers:
        layer._recorder = record
    try:
        yield records
    finally:
        for layer in layers:
            layer._recorder = None


class Flow(NamedTuple):
    """Gradient flow through time for one layer and direction: ``norms (T,)`` of ``dLoss/dh_t`` (over
    batch and features) at input position ``t``, and ``ratio (T,)``, each divided by the norm at the
    direction's last step (``T - 1`` forward, ``0`` reverse)."""

    name: str
    norms: Tensor
    ratio: Tensor


def gradient_flow(model: nn.Module, compute_loss: Callable[[], Tensor]) -> list[Flow]:
    """``||dLoss/dh_t||`` for every step, layer and direction of ``model``.

    Args:
        model: any module containing rnnlab recurrent layers.
        compute_loss: runs ``model`` on a batch and returns a scalar loss, e.g.
            ``lambda: F.cross_entropy(model(x), y)``.
    """
    with torch.enable_grad(), recording(model) as records:
        loss = compute_loss()
    if not records:
        raise ValueError("gradient_flow: compute_loss did not run any of the model's recurrent layers")
    grads = torch.autograd.grad(loss, [r.trace.probe for r in records], allow_unused=True)
    flows = []
    for record, grad in zip(records, grads):
        grad = torch.zeros_like(record.trace.probe) if grad is None else grad
        norms = grad.detach().flatten(1).norm(dim=1)  # (T,)
        last = norms[0] if record.direction else norms[-1]
        flows.append(Flow(record.name, norms, norms / last if last > 0 else torch.full_like(norms, float("nan"))))
    return flows


class JacobianNorms(NamedTuple):
    """Along a trajectory, per step and sequence: ``step (T, B)``, the spectral norm of
    ``d state_t / d state_{t-1}``, and ``product (T, B)``, that of ``d state_t / d state_0`` (the
    product of the step Jacobians).  Steps past a sequence's length are NaN."""

    step: Tensor
    product: Tensor


def jacobian_norms(cell: Cell, inputs: Tensor, state: State | None = None,
                   lengths: Tensor | None = None) -> JacobianNorms:
    """Spectral norms of the state-to-state Jacobians of ``cell`` along its run over ``inputs (T, B, I)``.

    The state is the cell's whole state, concatenated (``h`` and ``c`` for an LSTM: ``S = 2H``), so
    the Jacobian is ``(S, S)`` per step and sequence, computed exactly with ``torch.func``.
    """
    with torch.no_grad():
        run = unroll(cell, inputs, state, lengths=lengths, trace=True)
    steps, batch = inputs.shape[0], inputs.shape[1]
    sizes = cell.state_sizes
    start = state if state is not None else cell.initial_state(batch, inputs)
    before = torch.cat([torch.cat([s0.unsqueeze(0), s[:-1]]) for s0, s in zip(start, run.trace.states)],
                       dim=-1)  # (T, B, S): the state each step starts from
    projected = cell.project_input(inputs).detach()

    def step(x: Tensor, flat_state: Tensor) -> Tensor:
        new_state, _ = cell.step(x.unsqueeze(0), tuple(p.unsqueeze(0) for p in flat_state.split(sizes, dim=-1)))
        return torch.cat(new_state, dim=-1).squeeze(0)

    jacobian = torch.func.vmap(torch.func.jacrev(step, argnums=1))
    step_norms, product_norms = [], []
    product = None
    for t in range(steps):
        with torch.no_grad():
            j = jacobian(projected[t], before[t].detach())  # (B, S, S)
            product = j if product is None else j @ product
            step_norms.append(torch.linalg.matrix_norm(j, ord=2))
            product_norms.append(torch.linalg.matrix_norm(product, ord=2))
    step_norms, product_norms = torch.stack(step_norms), torch.stack(product_norms)
    if lengths is not None:
        lengths = check_lengths(lengths, batch, steps, inputs.device)
        padded = padding_mask(lengths, steps)
        step_norms = step_norms.masked_fill(padded, float("nan"))
        product_norms = product_norms.masked_fill(padded, float("nan"))
    return JacobianNorms(step_norms, product_norms)


class GateStats(NamedTuple):
    """One gate over time: ``mean (T,)`` over batch and features, and the shares of values above
    ``high`` (``saturated_high (T,)``) and below ``low`` (``saturated_low (T,)``)."""

    mean: Tensor
    saturated_high: Tensor
    saturated_low: Tensor


def gate_statistics(trace: Trace, lengths: Tensor | None = None, low: float = 0.05,
                    high: float = 0.95) -> dict[str, GateStats]:
    """Distribution and saturation of every gate in ``trace`` (an LSTM's ``i, f, g, o``; a GRU's ``r, z, n``),
    counting only real steps of each sequence."""
    stats = {}
    for name, gate in trace.gates.items():
        gate = gate.detach()
        steps, batch = gate.shape[0], gate.shape[1]
        valid = torch.ones(steps, batch, dtype=torch.bool, device=gate.device)
        if lengths is not None:
            valid = ~padding_mask(lengths.to(gate.device), steps)
        weight = valid.unsqueeze(-1).expand_as(gate).to(gate.dtype)
        count = weight.sum(dim=(1, 2)).clamp(min=1)
        stats[name] = GateStats(
            mean=(gate * weight).sum(dim=(1, 2)) / count,
            saturated_high=((gate > high) * weight).sum(dim=(1, 2)) / count,
            saturated_low=((gate < low) * weight).sum(dim=(1, 2)) / count,
        )
    return stats

"""Task models as graphs of tensors: what ``rnnlab export`` writes, one :class:`ExportPart` per graph.

A model that can be exported says how with ``export_parts() -> list[ExportPart]``: the module to trace,
example inputs by name (in the order its ``forward`` takes them), which of their dimensions vary (batch,
steps) and the names of its outputs.  A model read in one call (classifier, tagger) is one part; a model
that generates one token at a time is a part that starts (the encoder, or the condition) and a step
part, each taking and returning its state as plain tensors (:class:`FlatStep`), so that a runtime
without torch can drive the decoding loop.

Shapes: ``B`` batch, ``V`` vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.utils import _pytree as pytree


class ExportPart(NamedTuple):
    """One graph of a task model.

    ``name``: ``"model"`` for a model read in one call, else the part's role (``"encoder"``, ``"start"``,
    ``"step"``); ``module``: what is traced, in evaluation mode; ``inputs``: example inputs by name, in the
    order of ``module``'s ``forward``; ``dims``: the dimensions of each input that vary, by input name, as
    ``{dimension index: name}`` (one name is one size across inputs, as ``"batch"``); ``outputs``: the names
    of ``forward``'s outputs, in order.
    """

    name: str
    module: nn.Module
    inputs: dict[str, Tensor]
    dims: dict[str, dict[int, str]]
    outputs: tuple[str, ...]


class FlatStart(nn.Module):
    """``start(*inputs)`` (which returns a state: tensors in tuples or named tuples), returning the state
    as a flat tuple of tensors in :func:`torch.utils._pytree.tree_flatten`'s order."""

    def __init__(self, owner: nn.Module, start: Callable) -> None:
        super().__init__()
        self.owner, self.start = owner, start  # owner: so the parameters are the module's

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        return tuple(pytree.tree_leaves(self.start(*inputs)))


class FlatStep(nn.Module):
    """A decoding step ``step(tokens (B,), state) -> (log_probs (B, V), state)`` (:mod:`rnnlab.models.decoding`)
    over flat state tensors: ``forward(tokens, *state) -> (log_probs, *new_state)``; ``like`` is a state of
    the step's structure, which the flat tensors are put back into."""

    def __init__(self, owner: nn.Module, step: Callable, like) -> None:
        super().__init__()
        self.owner, self.step = owner, step
        self.spec = pytree.tree_structure(like)

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        log_probs, new = self.step(tokens, pytree.tree_unflatten(list(state), self.spec))
        return (log_probs, *pytree.tree_leaves(new))


def step_parts(owner: nn.Module, start: Callable, start_inputs: dict[str, Tensor],
               start_dims: dict[str, dict[int, str]], step: Callable, state_dims: Callable[[Tensor], dict[int, str]],
               first: str = "start") -> list[ExportPart]:
    """The two parts of a model that decodes one token at a time: ``first`` (``start(*start_inputs)`` -> the
    state, flat: ``state_0``, ``state_1``, ...) and ``"step"`` (previous ``tokens (B,)`` and the flat state ->
    ``log_probs (B, V)`` and the new state, ``new_state_0``, ...).  ``state_dims(tensor)`` names the varying
    dimensions of a state tensor."""
    with torch.no_grad():
        like = start(*start_inputs.values())
    state = pytree.tree_leaves(like)
    names = tuple(f"state_{k}" for k in range(len(state)))
    tokens = torch.ones(state[0].shape[0] if state[0].dim() < 3 else state[0].shape[1], dtype=torch.long)
    step_inputs = {"tokens": tokens, **{name: s for name, s in zip(names, state)}}
    step_dims = {"tokens": {0: "batch"}, **{name: state_dims(s) for name, s in zip(names, state)}}
    return [ExportPart(first, FlatStart(owner, start).eval(), start_inputs, start_dims, names),
            ExportPart("step", FlatStep(owner, step, like).eval(), step_inputs, step_dims,
                       ("log_probs", *(f"new_{name}" for name in names)))]

"""Timing helpers shared by the benchmarks: problem sizes, timed calls, medians of interleaved repeats.

Contenders are timed in the same run, interleaved and in rotating order, so that machine noise
falls on all of them alike; each time is the median over repeats.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn


class Size(NamedTuple):
    """One problem size: input ``(T, B, I)`` into a layer of ``H`` hidden features."""

    T: int
    B: int
    I: int  # noqa: E741 - the letter every RNN shape table uses
    H: int

    def __str__(self) -> str:
        return f"T={self.T} B={self.B} I={self.I} H={self.H}"


def interleaved_medians(calls: dict[tuple[str, str], Callable[[], float]], names: Sequence[str],
                        repeats: int) -> dict[tuple[str, str], float]:
    """The median seconds of every ``(name, kind)`` call: each is run once to warm up (lazy kernel
    set-up and allocator growth stay out of the times), then ``repeats`` times, the contenders
    ``names`` in rotating order so that machine noise falls on all of them alike."""
    kinds = list(dict.fromkeys(kind for _, kind in calls))
    for call in calls.values():
        call()
    times: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    for r in range(repeats):
        shift = r % len(names)
        for name in [*names[shift:], *names[:shift]]:
            for kind in kinds:
                times[name, kind].append(calls[name, kind]())
    return {key: statistics.median(values) for key, values in times.items()}


def timed_call(module: nn.Module, x: Tensor, kind: str) -> Callable[[], float]:
    """A function that runs ``module`` on ``x (T, B, I)`` once and returns the seconds it took
    (waiting for a GPU to finish).

    ``fwd``: the forward pass, with autograd recording as in training.  ``fwd_bwd``: forward, then
    the gradient of ``output.sum()`` with respect to every parameter and the input.
    """
    wrt = [x, *module.parameters()]

    def call() -> float:
        _synchronize(x)
        start = time.perf_counter()
        output, _ = module(x)
        if kind == "fwd_bwd":
            torch.autograd.grad(output.sum(), wrt)
        _synchronize(x)
        elapsed = time.perf_counter() - start
        del output  # a forward-only graph is freed here, outside the timed span
        return elapsed

    return call


def _synchronize(x: Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)

"""Timing helpers shared by the benchmarks: problem sizes, timed calls, medians of interleaved repeats.

Contenders are timed in the same run, interleaved and in rotating order, so that machine noise
falls on all of them alike; each time is the median over repeats.  Every timing runs with freed buffers kept
for reuse (:func:`keep_freed_buffers`), so that torch.nn's layers run at one speed.
"""

from __future__ import annotations

import ctypes
import platform
import statistics
import sys
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


KEPT_BUFFER_BYTES = 256 * 2**20
"""The largest freed buffer glibc's allocator keeps for reuse once :func:`keep_freed_buffers` ran."""
KEPT_FREED_BYTES = 2**30
"""How much freed memory it then holds before handing any back to the system."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (glibc's malloc.h)
GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
"""Whether this process allocates through glibc's malloc, whose thresholds :func:`keep_freed_buffers` sets."""


def keep_freed_buffers() -> str:
    """Have glibc's allocator keep freed buffers for reuse, for the rest of the process: buffers up to
    :data:`KEPT_BUFFER_BYTES` come from the heap, not from fresh mappings, and up to :data:`KEPT_FREED_BYTES` of
    freed memory stay there.  Left to itself, glibc moves these thresholds as the process allocates, and a
    large buffer that goes back to the system comes back as fresh pages, each zeroed by the kernel on first
    touch: torch.nn's LSTM then runs at two speeds (about 37 and 29 ms per forward+backward at T=100 on a
    2-core CPU), and which one a benchmark meets depends on what ran before it (``docs/benchmarks.md``).
    This sets the faster state, the reference's best, for every contender alike.

    Returns:
        A line for a benchmark's header saying what was set (or that the allocator is not glibc's).
    """
    if not GLIBC:
        return "allocator: as the system has it (not glibc)"
    libc = ctypes.CDLL(None)
    kept = libc.mallopt(_M_MMAP_THRESHOLD, KEPT_BUFFER_BYTES) and libc.mallopt(_M_TRIM_THRESHOLD, KEPT_FREED_BYTES)
    if not kept:
        return "allocator: glibc's, its thresholds as it moves them (mallopt refused)"
    return (f"allocator: glibc's, keeping freed buffers up to {KEPT_BUFFER_BYTES // 2**20} MiB for reuse "
            f"(mmap threshold) and up to {KEPT_FREED_BYTES // 2**30} GiB of freed memory (trim threshold)")


def interleaved_medians(calls: dict[tuple[str, str], Callable[[], float]], names: Sequence[str],
                        repeats: int) -> dict[tuple[str, str], float]:
    """The median seconds of every ``(name, kind)`` call: each is run once to warm up (lazy kernel
    set-up and allocator growth stay out of the times), then ``repeats`` times, the contenders
    ``names`` in rotating order so that machine noise falls on all of them alike; with freed buffers kept
    for reuse (:func:`keep_freed_buffers`), the allocator in one state for every contender."""
    keep_freed_buffers()
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

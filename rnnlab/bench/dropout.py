"""rnnlab's dropout (:mod:`rnnlab.nn.dropout`) against torch's, alone and in the G2P training step (CPU).

* Alone: forward and backward of dropout 0.1 on activations ``(128, 12, width)`` (a batch of words,
  a dozen steps), fp32 and bf16; ``torch`` is :func:`torch.nn.functional.dropout`.
* In the G2P model: one forward and backward of the default :class:`~rnnlab.models.Seq2Seq` (bf16
  autocast) on CMUdict batches of 128 words, once with its dropouts (embeddings, stacked decoder
  inputs, attentional vectors, both decoders) as ``torch.nn.Dropout`` and once as
  :class:`rnnlab.nn.dropout.Dropout`: two copies of the same model and weights otherwise. The dropout between the
  encoder's layers is torch's in both (:mod:`rnnlab.nn.layers` keeps torch.nn's masks).

Each time is the median over repeats, the two contenders interleaved in rotating order
(:func:`rnnlab.bench.interleaved_medians`); ratio = rnnlab's time / torch's.

Run it as ``rnnlab bench dropout``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.bench.seq2seq import timed_step, training_batches
from rnnlab.bench.timing import interleaved_medians
from rnnlab.errors import ConfigError
from rnnlab.nn.dropout import Dropout, dropout
from rnnlab.tasks import TrainConfig, make_task

CONTENDERS = ("torch", "rnnlab")
WIDTHS = (512, 1024)
P = 0.1


def bench_dropout(widths=WIDTHS, repeats: int = 20, model: bool = True, seed: int = 0) -> list[dict]:
    """Time both dropouts alone for every activation width and precision, then (``model``) in the G2P
    training step; print a table and return its rows: ``what``, ``torch_ms``, ``rnnlab_ms`` and ``ratio``."""
    if repeats < 1 or any(w < 1 for w in widths):
        raise ConfigError(f"bench dropout: --repeats and --widths must be at least 1, got repeats {repeats}, "
                          f"widths {tuple(widths)}")
    print(f"rnnlab bench dropout: p = {P}, forward + backward, median of {repeats}, {torch.get_num_threads()} "
          f"threads; ratio = rnnlab / torch")
    print(f"{'what':>34s} {'torch ms':>9s} {'rnnlab ms':>9s} {'ratio':>6s}")
    rows = []
    for width, dtype in itertools.product(widths, (torch.float32, torch.bfloat16)):
        x = torch.randn(128, 12, width, dtype=dtype, requires_grad=True)
        calls = {("torch", "fwd_bwd"): _timed_dropout(lambda t: F.dropout(t, P, training=True), x),
                 ("rnnlab", "fwd_bwd"): _timed_dropout(lambda t: dropout(t, P), x)}
        rows.append(_row(f"(128, 12, {width}) {str(dtype).removeprefix('torch.')}", calls, repeats))
    if model:
        calls = {(name, "fwd_bwd"): step for name, step in _g2p_steps(seed).items()}
        rows.append(_row("G2P default model, batch 128, bf16", calls, repeats))
    return rows


def _row(what: str, calls: dict, repeats: int) -> dict:
    seconds = interleaved_medians(calls, CONTENDERS, repeats)
    row = {"what": what, **{f"{name}_ms": 1e3 * seconds[name, "fwd_bwd"] for name in CONTENDERS}}
    row["ratio"] = row["rnnlab_ms"] / row["torch_ms"]
    print(f"{what:>34s} {row['torch_ms']:9.2f} {row['rnnlab_ms']:9.2f} {row['ratio']:6.2f}", flush=True)
    return row


def _timed_dropout(drop: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], float]:
    upstream = torch.randn_like(x)

    def call() -> float:
        start = time.perf_counter()
        drop(x).backward(upstream)
        seconds = time.perf_counter() - start
        x.grad = None
        return seconds

    return call


def _g2p_steps(seed: int) -> dict[str, Callable[[], float]]:
    """The default G2P model's training step with torch's dropout modules and with rnnlab's: two models
    with the same weights (swapping the modules on one model instead blurs the difference between them)."""
    task = make_task(TrainConfig(task="g2p", batch_size=128, seed=seed).resolved())
    batches = training_batches(task, seed)
    steps = {}
    for name, make in {"torch": nn.Dropout, "rnnlab": Dropout}.items():
        torch.manual_seed(seed)
        model = task.build_model().train()
        for owner in (model, model.reverse):
            if owner is not None:
                owner.dropout = make(owner.dropout.p)
        steps[name] = timed_step(task, model, True, batches, "bf16")
    return steps

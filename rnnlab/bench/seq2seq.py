"""The G2P encoder-decoder's training step, with and without input feeding, stepped and fused.

Three ways to train :class:`~rnnlab.models.Seq2Seq` (one decoder layer, no right-to-left decoder) on the
same CMUdict batches:

* ``feeding``: input feeding (the decoder cell gets the previous attentional vector), so the
  decoder must step one phoneme at a time;
* ``stepped``: no input feeding, the decoder still stepped one phoneme at a time;
* ``fused``: no input feeding, the decoder cell over the whole target in one fused kernel
  (:func:`rnnlab.nn.layers.native_unroll`) and every step's attention at once.

``stepped`` and ``fused`` are one model (the same parameters, the same function); ``feeding`` has
a wider decoder input.  Each time is the median over repeats of one forward and backward pass of
the training loss on a batch of 128 words, the three contenders interleaved in rotating order
(:func:`rnnlab.bench.interleaved_medians`); ratios are against ``feeding``.

Run it as ``rnnlab bench seq2seq``.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import torch

from rnnlab.bench.timing import interleaved_medians
from rnnlab.errors import ConfigError
from rnnlab.tasks import TrainConfig, make_task
from rnnlab.training import epoch_order

CONTENDERS = ("feeding", "stepped", "fused")
HIDDEN_SIZES = (128, 256)
PRECISIONS = ("fp32", "bf16")
BATCHES = 8


def bench_seq2seq(hidden_sizes=HIDDEN_SIZES, precisions=PRECISIONS, repeats: int = 10, seed: int = 0) -> list[dict]:
    """Time the three contenders for every encoder size (decoder twice as wide) and precision; print a table
    and return its rows: ``hidden_size``, ``precision``, ``{contender}_ms`` and ``{contender}_ratio``."""
    if repeats < 1 or any(h < 1 for h in hidden_sizes):
        raise ConfigError(f"bench seq2seq: --repeats and --hidden-sizes must be at least 1, got repeats {repeats}, "
                          f"hidden sizes {tuple(hidden_sizes)}")
    print(f"rnnlab bench seq2seq: G2P training step (forward + backward), batch 128 words, median of {repeats}, "
          f"{torch.get_num_threads()} threads; ratio = time / feeding's")
    print(f"{'hidden':>6s} {'precision':>9s} " + " ".join(f"{c + ' ms':>10s}" for c in CONTENDERS)
          + " " + " ".join(f"{c + ' ratio':>13s}" for c in CONTENDERS[1:]))
    task = make_task(TrainConfig(task="g2p", batch_size=128, seed=seed, reverse_decoder_size=0,
                                 decoder_layers=1).resolved())
    batches = training_batches(task, seed)
    base, rows = task.config, []
    for hidden in hidden_sizes:
        models = {}
        for input_feeding in (True, False):
            torch.manual_seed(seed)
            task.config = dataclasses.replace(base, hidden_size=hidden, input_feeding=input_feeding)
            models[input_feeding] = task.build_model().train()
        for precision in precisions:
            calls = {(name, "fwd_bwd"): timed_step(task, models[name == "feeding"], name != "stepped", batches,
                                                    precision)
                     for name in CONTENDERS}
            seconds = interleaved_medians(calls, CONTENDERS, repeats)
            row = {"hidden_size": hidden, "precision": precision}
            row.update({f"{name}_ms": 1e3 * seconds[name, "fwd_bwd"] for name in CONTENDERS})
            row.update({f"{name}_ratio": row[f"{name}_ms"] / row["feeding_ms"] for name in CONTENDERS[1:]})
            print(f"{hidden:6d} {precision:>9s} " + " ".join(f"{row[c + '_ms']:10.1f}" for c in CONTENDERS) + " "
                  + " ".join(f"{row[c + '_ratio']:13.2f}" for c in CONTENDERS[1:]), flush=True)
            rows.append(row)
    return rows


def training_batches(task, seed: int) -> list[dict]:
    """The first ``BATCHES`` training batches of 128 words of ``task``'s first epoch (CPU)."""
    order = epoch_order(len(task.splits.train), seed, 0)
    return list(itertools.islice(task.batches(task.splits.train, 128, order, torch.device("cpu")), BATCHES))


def timed_step(task, model, fused: bool, batches: list[dict], precision: str):
    """A function that runs one training forward and backward on the next batch and returns the seconds."""
    turn = itertools.count()

    def call() -> float:
        batch = batches[next(turn) % len(batches)]
        model.fused = fused
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss, _ = task.loss(model, batch)
        loss.backward()
        seconds = time.perf_counter() - start
        model.zero_grad(set_to_none=True)
        return seconds

    return call

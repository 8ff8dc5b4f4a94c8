"""Training throughput on 1 and more processes: samples per second and the scaling efficiency.

``rnnlab bench train`` starts ``torchrun --standalone --nproc-per-node N`` for each ``N``, on the
same machine, one after the other; every run trains a task's default model on its real data for a
fixed number of global batches (the first few are warm-up), set up as ``rnnlab train`` does
(``DistributedDataParallel``, the same sharded global batches; a plain fp32 AdamW update with
clipping, no schedule, evaluation or checkpoints), and rank 0 reports the samples per second
summed over the processes.  On a CPU the cores are split evenly between the processes
(``OMP_NUM_THREADS``), and one process with the same threads is run beside each count.
Scaling efficiency = throughput(N processes) / (N x throughput(1 process)), at the same threads per process.

Run it as ``rnnlab bench train``.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import subprocess
import sys
import time
from functools import partial
from typing import Literal

import torch
import tyro
from torch import nn

from rnnlab.errors import ConfigError
from rnnlab.tasks import TrainConfig, make_task
from rnnlab.training import TrainingStep, distributed, epoch_order

TASKS = ("upos", "g2p", "mnist1d")
WARMUP = 3


def bench_train(tasks: tuple[str, ...] = TASKS, processes: tuple[int, ...] = (1, 2), steps: int = 30,
                device: str = "cpu") -> list[dict]:
    """Run every task on every process count; print the table and return its rows."""
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ConfigError(f"--tasks: unknown task {unknown[0]!r}; choose from {TASKS}")
    if steps < 1 or any(p < 1 for p in processes):
        raise ConfigError("--steps and --processes must be at least 1")
    cores = os.cpu_count() or 1
    rows = []
    print(f"rnnlab bench train: {steps} global batches per run ({WARMUP} warm-up) on {device}, {cores} cores")
    runs = []  # (processes, threads each): every count, and one process with the same threads each
    for count in processes:
        threads = max(1, cores // count) if device == "cpu" else 1
        runs += [(1, threads), (count, threads)]
    runs = sorted(dict.fromkeys(runs), key=lambda r: (r[1], r[0]))
    for task in tasks:
        for count, threads in runs:
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={count}",
                       "-m", "rnnlab.bench.train", "--task", task, "--steps", str(steps), "--device", device]
            done = subprocess.run(command, capture_output=True, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS": str(threads)})
            if done.returncode != 0:
                raise RuntimeError(f"bench train: {task} on {count} processes failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({"task": task, "processes": count, "threads": threads, **result})
    print(f"\n{'task':10s} {'processes':>9s} {'threads each':>12s} {'samples/s':>10s} {'efficiency':>10s}")
    for row in rows:
        one = next(r for r in rows
                   if r["task"] == row["task"] and r["processes"] == 1 and r["threads"] == row["threads"])
        row["efficiency"] = row["samples_per_second"] / (row["processes"] * one["samples_per_second"])
        print(f"{row['task']:10s} {row['processes']:9d} {row['threads']:12d} {row['samples_per_second']:10.1f} "
              f"{row['efficiency']:9.0%}")
    return rows


def _worker(task_name: str, steps: int, device_name: str) -> None:
    """One process of a run (started by torchrun): train for ``steps`` global batches, time all but the first few."""
    config = TrainConfig(task=task_name, device=device_name).resolved()
    world = distributed.join(config.torch_device())
    device = distributed.device_of(config.torch_device(), world)
    torch.manual_seed(0)
    task = make_task(config)
    model = task.create_model().to(device)
    learner = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None) \
        if world.distributed else model
    update = TrainingStep(model, torch.optim.AdamW(model.parameters(), lr=config.lr), clip=config.clip,
                          device_type=device.type)
    batches = itertools.chain.from_iterable(  # as many epochs as the steps need
        task.batches(task.splits.train, config.batch_size, epoch_order(len(task.splits.train), 0, epoch), device,
                     world, even=True) for epoch in itertools.count())
    samples, start = 0, None
    for step, batch in enumerate(batches):
        if step == WARMUP:
            distributed.barrier(world)
            samples, start = 0, time.perf_counter()
        if step == WARMUP + steps:
            break
        update(partial(task.loss, learner, batch))
        samples += next(len(v) for v in batch.values() if isinstance(v, torch.Tensor))  # dimension 0: the batch
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    distributed.barrier(world)
    elapsed = time.perf_counter() - start
    total = int(distributed.all_sum(torch.tensor([samples]), world).item())
    if world.main:
        print(json.dumps({"samples_per_second": total / elapsed, "seconds": elapsed, "samples": total}))
    del learner  # DDP holds the process group: let it go now, not at interpreter exit, where gloo's teardown aborts
    gc.collect()
    distributed.leave(world)


def worker(task: Literal[TASKS], steps: int = 30, device: str = "cpu") -> None:  # type: ignore[valid-type]
    """One process of rnnlab bench train (started by torchrun).

    Args:
        task: The task whose default model trains on its real data.
        steps: Timed global batches (after the warm-up ones).
        device: cpu or cuda.
    """
    _worker(task, steps, device)


if __name__ == "__main__":
    tyro.cli(worker)

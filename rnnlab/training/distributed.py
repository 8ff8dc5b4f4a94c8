"""Training on several processes through PyTorch's own engine: ``torchrun`` and ``DistributedDataParallel``.

``rnnlab train`` started by ``torchrun --nproc-per-node N`` (or across machines with torchrun's
rendezvous options) finds ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in its environment and joins
the process group: gloo on CPU, NCCL on GPUs.  The pieces here are small on purpose:

* :func:`join` and :func:`leave`: the process group ``torchrun`` set up (a :class:`World`);
* :func:`device_of`: the GPU of each process's local rank;
* :func:`barrier`: wait for every process;
* :class:`World` and :func:`all_sum` come from :mod:`rnnlab.data.sharding`, where the tasks use them
  (with :func:`~rnnlab.data.sharding.shard`).

A global batch of ``batch_size`` items is cut into ``WORLD_SIZE`` shards; DDP averages the
gradients, so with equal shards an update equals the single-process update on the whole batch.
Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything runs as one process.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from rnnlab.data.sharding import World, all_sum

__all__ = ["World", "all_sum", "join", "leave", "device_of", "barrier"]


def join(device: torch.device) -> World:
    """Join the process group that ``torchrun`` set up in the environment, if any (idempotent)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world


def device_of(requested: torch.device, world: World) -> torch.device:
    """On GPUs, each process of a machine takes the GPU of its local rank."""
    if requested.type == "cuda" and world.distributed:
        return torch.device("cuda", world.local_rank)
    return requested


def leave(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()

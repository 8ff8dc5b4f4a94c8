"""Training on several processes through PyTorch's own engine: ``torchrun`` and ``DistributedDataParallel``.

``rnnlab train`` started by ``torchrun --nproc-per-node N`` (or across machines with torchrun's
rendezvous options) finds ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in its environment and joins
the process group: gloo on CPU, NCCL on GPUs.  The pieces here are small on purpose:

* :class:`World`: this process's rank, the number of processes and its device;
* :func:`shard`: this process's part of a global batch (every item goes to exactly one process);
* :func:`all_sum`: a tensor summed over all processes (``torch.distributed.all_reduce``).

A global batch of ``batch_size`` items is cut into ``WORLD_SIZE`` shards; DDP averages the
gradients, so with equal shards an update equals the single-process update on the whole batch.
Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything runs as one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class World:
    """``rank`` of ``size`` processes; ``local_rank`` on this machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The process that writes files and prints (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


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


def shard(indices: Tensor, world: World) -> Tensor:
    """This process's items of a global batch: every ``size``-th, starting at ``rank``."""
    return indices[world.rank::world.size]


def all_sum(tensor: Tensor, world: World) -> Tensor:
    """``tensor`` summed over every process (unchanged on one process)."""
    if not world.distributed:
        return tensor
    backend_device = torch.device("cuda", world.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
    reduced = tensor.to(backend_device).clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced.to(tensor.device)


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()

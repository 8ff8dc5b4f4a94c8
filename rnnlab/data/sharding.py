"""One process's share of the data, and sums over all processes: what a task needs to run under ``torchrun``.

* :class:`World`: this process's rank, the number of processes and its local rank;
* :func:`shard`: this process's part of a global batch (every item goes to exactly one process);
* :func:`all_sum`: a tensor summed over all processes (``torch.distributed.all_reduce``), so that
  counts taken on each shard add up to the count over every item.

Joining and leaving the process group is :mod:`rnnlab.training.distributed`'s.
"""

from __future__ import annotations

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

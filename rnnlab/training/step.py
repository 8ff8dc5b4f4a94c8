"""One training step, the same everywhere a model learns: ``rnnlab train``, the memory grid, the
throughput benchmark.

``step(compute_loss)`` runs, in order: the forward pass under autocast (``bf16``/``fp16``), zeroing
the old gradients, the backward pass (through a gradient scaler for ``fp16``), unscaling, clipping
the global gradient norm, the optimizer's update, the projection of constrained parameters (a
module's ``constrain_``, as IndRNN's bounded recurrent weights), the learning-rate schedule and the
moving average of the weights (``ema``).  It returns the loss (and what ``compute_loss`` returned beside it) and the
global gradient norm before clipping, so callers can log exploding gradients.  An update whose
gradient norm is not finite (a NaN or infinite loss, an overflow) is skipped, as AMP's gradient
scaler skips one: the weights, the optimizer's moments, the schedule and the average stay as they
were; the returned norm then is not finite, so the caller can count them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

MIXED = {"bf16": torch.bfloat16, "fp16": torch.float16}
"""The mixed precisions: the dtype autocast computes matrix products in."""


class TrainingStep:
    """The update of ``model``'s parameters by ``optimizer``, one batch at a time.

    Args:
        model: the module whose parameters are clipped and averaged (the one inside DDP, if any).
        optimizer: updates the parameters.
        schedule: stepped after every update (``None``: a constant learning rate).
        clip: the global gradient-norm threshold (0 or less: no clipping, the norm is still measured).
        precision: ``fp32``/``fp64`` (no autocast), ``bf16`` or ``fp16`` (autocast; a gradient scaler for fp16).
        ema: keep an exponential moving average of the weights with this decay (0: none), as :attr:`averaged`.
        device_type: where autocast runs (``"cpu"`` or ``"cuda"``).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 schedule: torch.optim.lr_scheduler.LRScheduler | None = None, *, clip: float = 0.0,
                 precision: str = "fp32", ema: float = 0.0, device_type: str = "cpu") -> None:
        self.model, self.optimizer, self.schedule, self.clip = model, optimizer, schedule, clip
        self.mixed = MIXED.get(precision)
        self.device_type = device_type
        self.scaler = torch.amp.GradScaler(device_type, enabled=precision == "fp16")
        self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema), use_buffers=True) \
            if ema else None

    @property
    def evaluated(self) -> nn.Module:
        """The weights to validate, keep and test: the moving average where there is one."""
        return self.averaged.module if self.averaged is not None else self.model

    def __call__(self, compute_loss: Callable[[], Any]) -> tuple[Any, float]:
        """One update: ``compute_loss()`` returns the loss, or a tuple whose first item is the loss.
        Returns what it returned and the global gradient norm before clipping."""
        with torch.autocast(self.device_type, dtype=self.mixed or torch.bfloat16, enabled=self.mixed is not None):
            result = compute_loss()
        loss: Tensor = result[0] if isinstance(result, tuple) else result
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # DDP averages the gradients over the processes here
        self.scaler.unscale_(self.optimizer)
        norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), self.clip if self.clip > 0 else math.inf))
        if math.isfinite(norm):
            self.scaler.step(self.optimizer)
            constrain_parameters(self.model)
            if self.schedule is not None:
                self.schedule.step()
            if self.averaged is not None:
                self.averaged.update_parameters(self.model)
        self.scaler.update()  # fp16: a smaller scale after an overflow
        return result, norm

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's, schedule's, scaler's and average's state, for a checkpoint."""
        return {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                **({"schedule": self.schedule.state_dict()} if self.schedule is not None else {}),
                **({"averaged": self.averaged.state_dict()} if self.averaged is not None else {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (a checkpoint without a scaler's state keeps a fresh one)."""
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        if self.averaged is not None:
            self.averaged.load_state_dict(state["averaged"])


def constrain_parameters(model: nn.Module) -> None:
    """Call ``constrain_()`` on every module of ``model`` that has one (the layers of cells whose
    parameters live in a set, such as IndRNN's ``|u| <= u_max``): projected gradient descent."""
    for module in model.modules():
        constrain = getattr(module, "constrain_", None)
        if callable(constrain):
            constrain()

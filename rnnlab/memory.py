"""Memory over long sequences: train a cell on a synthetic task whose answer lies far back in time.

:func:`train_adding` trains a many-to-one regressor with any cell of
:data:`rnnlab.models.CELLS` on the adding problem (:func:`rnnlab.data.synthetic.adding_problem`):
fresh batches every update, a fixed budget of updates, and the test MSE against the baseline of
always predicting the mean (1/6).  A model *solves* the task when its test MSE falls below
``SOLVED_FRACTION`` of the baseline.

Shapes: ``B`` batch, ``T`` time steps, ``H`` hidden features.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnlab.data.synthetic import ADDING_BASELINE_MSE, adding_problem
from rnnlab.models.encoder import recurrent_layer

SOLVED_FRACTION = 0.1
"""The adding problem counts as solved when the test MSE is below this share of the baseline (MSE < 0.0167)."""


class LastStepRegressor(nn.Module):
    """A recurrent layer reads ``x (B, T, F)``; a linear head maps its output at the last step to ``(B,)``."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        self.layer = recurrent_layer(cell, input_size, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.layer(x)
        return self.head(output[:, -1]).squeeze(-1)


@dataclass
class AddingResult:
    """The outcome of :func:`train_adding`: test MSE, its baseline, whether that counts as solved, the
    first update whose running train MSE was under the threshold (``None``: never), seconds, and the
    train MSE every ``log_every`` updates."""

    cell: str
    steps: int
    test_mse: float
    baseline: float
    solved: bool
    solved_at: int | None
    seconds: float
    curve: list[float] = field(default_factory=list)


def train_adding(cell: str, steps: int, updates: int = 2000, batch_size: int = 64, hidden_size: int = 64,
                 num_layers: int = 1, lr: float = 1e-2, clip: float = 1.0, seed: int = 0, log_every: int = 50,
                 test_size: int = 2000) -> AddingResult:
    """Train ``cell`` on the adding problem of length ``steps`` for ``updates`` Adam updates (one-cycle
    schedule, gradient-norm clipping), each on a fresh batch; return an :class:`AddingResult`."""
    threshold = SOLVED_FRACTION * ADDING_BASELINE_MSE
    torch.manual_seed(seed)
    data = torch.Generator().manual_seed(seed + 1)
    test_x, test_y = adding_problem(test_size, steps, torch.Generator().manual_seed(seed + 2))
    model = LastStepRegressor(cell, 2, hidden_size, num_layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=updates)
    curve, running, solved_at = [], [], None
    start = time.perf_counter()
    for update in range(1, updates + 1):
        x, y = adding_problem(batch_size, steps, data)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        schedule.step()
        running.append(loss.item())
        if update % log_every == 0:
            curve.append(sum(running) / len(running))
            if solved_at is None and curve[-1] < threshold:
                solved_at = update
            running = []
    model.eval()
    with torch.no_grad():
        test_mse = nn.functional.mse_loss(model(test_x), test_y).item()
    return AddingResult(cell, steps, test_mse, ADDING_BASELINE_MSE, test_mse < threshold, solved_at,
                        time.perf_counter() - start, curve)

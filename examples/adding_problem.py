"""Train a small LSTM on the adding problem and print its test error.

The adding problem needs memory: the model reads 100 (value, marker) pairs and must output the sum
of the two marked values, the first of which lies about 50 steps back. Predicting the mean scores
MSE 0.167; a model that remembers scores near 0.

    make demo            # or: .venv/bin/python examples/adding_problem.py
"""

import time

import torch
from torch import nn

import rnnlab
from rnnlab.data.synthetic import ADDING_BASELINE_MSE, adding_problem

STEPS, HIDDEN, BATCH, UPDATES = 100, 64, 64, 1200


class Regressor(nn.Module):
    """Many-to-one: an LSTM reads the sequence; a linear head maps its last hidden state to the sum."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = rnnlab.LSTM(2, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, 2) -> (B,)
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n[-1]).squeeze(-1)


def main() -> None:
    torch.manual_seed(0)
    data = torch.Generator().manual_seed(0)
    x_test, y_test = adding_problem(2000, STEPS, data)
    model = Regressor()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=UPDATES)
    print(f"adding problem, T={STEPS}: {model.lstm} trained for {UPDATES} updates of batch {BATCH}")
    start = time.perf_counter()
    for update in range(1, UPDATES + 1):
        x, y = adding_problem(BATCH, STEPS, data)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if update % 200 == 0:
            print(f"  update {update:5d}  train MSE {loss.item():.4f}  ({time.perf_counter() - start:.0f} s)")
    model.eval()
    with torch.no_grad():
        test_mse = nn.functional.mse_loss(model(x_test), y_test).item()
    print(f"test MSE {test_mse:.4f} (predicting the mean: {ADDING_BASELINE_MSE:.3f}) "
          f"in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

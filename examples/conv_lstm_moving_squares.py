"""A convolutional LSTM learns to predict the next frame of a moving square.

Each clip shows a 2x2 square moving one pixel per frame in one of four directions; the direction shows
only across two frames, so predicting frame t+1 needs the memory of frame t-1. The model is a
ConvLSTM2d and a 1x1 convolution to one logit per pixel; it is compared with copying the last frame.

Run: .venv/bin/python examples/conv_lstm_moving_squares.py   (about a minute on a 2-core CPU)
"""

import torch
import torch.nn.functional as F
from torch import nn

import rnnlab
from rnnlab.data import moving_squares

torch.manual_seed(0)
data = torch.Generator().manual_seed(0)
layer, head = rnnlab.ConvLSTM2d(1, 16, kernel_size=3), nn.Conv2d(16, 1, 1)
optimizer = torch.optim.Adam([*layer.parameters(), *head.parameters()], lr=1e-2)


def predict(clips: torch.Tensor) -> torch.Tensor:
    """Logits of frames 2..T from frames 1..T-1: ``(T - 1, B, 1, size, size)``."""
    out, _ = layer(clips[:-1])
    return head(out.flatten(0, 1)).view_as(clips[1:])


for update in range(1, 501):
    clips = moving_squares(32, steps=10, size=8, generator=data)
    loss = F.binary_cross_entropy_with_logits(predict(clips), clips[1:])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if update % 100 == 0:
        print(f"update {update:4d}  loss {loss.item():.4f}")

test = moving_squares(256, steps=10, size=8, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    predicted = torch.sigmoid(predict(test))
# From the third frame on the direction is known, so the next frame is predictable.
ours = F.mse_loss(predicted[1:], test[2:]).item()
persistence = F.mse_loss(test[1:-1], test[2:]).item()
print(f"next-frame MSE from the third frame on: ConvLSTM {ours:.4f}, copying the last frame {persistence:.4f} "
      f"({ours / persistence:.2f} of it)")

"""Torch models. Normalisation statistics are buffers of the model, so they travel with it."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
from torch import nn


class SensorCNN(nn.Module):
    """A 1-D CNN over (channels, window) windows of sensor readings.

    Args:
        channels: input channels (sensors).
        classes: number of labels.
        width: filters of the first conv block; doubles every block, capped at 4x.
        depth: conv blocks (each halves the time axis).
        dropout: before the classifier.
        mean, std: per-channel normalisation fitted on the training split.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        channels: int,
        classes: int,
        width: int = 32,
        depth: int = 2,
        dropout: float = 0.2,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        m = torch.zeros(channels) if mean is None else torch.as_tensor(mean, dtype=torch.float32)
        s = torch.ones(channels) if std is None else torch.as_tensor(std, dtype=torch.float32)
        self.register_buffer("mean", m.view(1, -1, 1))
        self.register_buffer("std", s.view(1, -1, 1))
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(depth):
            c_out = width * min(2**i, 4)
            layers += [
                nn.Conv1d(c_in, c_out, kernel_size=7, padding=3),
                nn.BatchNorm1d(c_out),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in * 2, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        h = self.features(x)
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
        return self.head(pooled)


def build(hparams: dict[str, Any], channels: int, classes: int, mean: np.ndarray, std: np.ndarray) -> SensorCNN:
    return SensorCNN(
        channels, classes, int(hparams["width"]), int(hparams["depth"]), float(hparams["dropout"]), mean, std
    )


@torch.no_grad()
def predict(model: Any, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class indices for windows ``x`` (works for nn.Module and exported programs)."""
    # an exported (pt2) program is already in inference mode and refuses eval()
    with contextlib.suppress(AttributeError, NotImplementedError, RuntimeError):
        model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        logits = model(torch.as_tensor(x[i : i + batch_size]))
        out.append(torch.argmax(logits, dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)

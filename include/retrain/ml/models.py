"""Torch models: one small CNN family for 1-D sensor windows and 2-D images.

Normalisation statistics are buffers of the model, so they travel with it into MLflow.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import torch
from torch import nn

_LAYERS = {1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, 7), 2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, 3)}


class ConvNet(nn.Module):
    """Conv blocks (conv, batch norm, ReLU, max-pool), global mean+max pooling, dropout, linear.

    Args:
        dims: 1 for (channels, time) sensor windows, 2 for (channels, height, width) images.
        channels: input channels (sensors, or 1 for grayscale).
        classes: number of labels.
        width: filters of the first block; doubles every block, capped at 4x.
        depth: conv blocks (each halves every spatial axis).
        dropout: before the classifier.
        mean, std: per-channel normalisation fitted on the training split.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        dims: int,
        channels: int,
        classes: int,
        width: int = 32,
        depth: int = 2,
        dropout: float = 0.2,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        conv, norm, pool, kernel = _LAYERS[dims]
        shape = (1, -1) + (1,) * dims
        m = torch.zeros(channels) if mean is None else torch.as_tensor(mean, dtype=torch.float32)
        s = torch.ones(channels) if std is None else torch.as_tensor(std, dtype=torch.float32)
        self.register_buffer("mean", m.view(*shape))
        self.register_buffer("std", s.view(*shape))
        self.spatial = tuple(range(2, 2 + dims))
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(depth):
            c_out = width * min(2**i, 4)
            layers += [conv(c_in, c_out, kernel_size=kernel, padding=kernel // 2), norm(c_out), nn.ReLU(), pool(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in * 2, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features((x - self.mean) / self.std)
        pooled = torch.cat([h.mean(dim=self.spatial), h.amax(dim=self.spatial)], dim=1)
        return self.head(pooled)


def build(
    hparams: dict[str, Any], input_shape: tuple[int, ...], classes: int, mean: np.ndarray, std: np.ndarray
) -> ConvNet:
    """The model for inputs of ``input_shape`` (one sample, channels first)."""
    return ConvNet(
        len(input_shape) - 1,
        input_shape[0],
        classes,
        int(hparams["width"]),
        int(hparams["depth"]),
        float(hparams["dropout"]),
        mean,
        std,
    )


def augment(x: torch.Tensor, policy: dict[str, float], gen: torch.Generator) -> torch.Tensor:
    """Random flips, small rotations and brightness changes of an image batch (N, C, H, W) in 0..255."""
    n = x.shape[0]
    if policy.get("hflip"):
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if policy.get("vflip"):
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(2), x)
    degrees = float(policy.get("rotate_degrees", 0))
    if degrees:
        angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(degrees)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [torch.stack([cos, -sin, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)], 1
        )
        grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        x = nn.functional.grid_sample(x, grid, padding_mode="reflection", align_corners=False)
    brightness = float(policy.get("brightness", 0))
    if brightness:
        x = x * (1 + (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * brightness)
    return x


@torch.no_grad()
def predict(model: Any, x: np.ndarray, batch_size: int = 512, device: str = "cpu") -> np.ndarray:
    """Class indices for inputs ``x`` (works for nn.Module and exported programs), computed on ``device``."""
    # an exported (pt2) program is already in inference mode and refuses eval()
    with contextlib.suppress(AttributeError, NotImplementedError, RuntimeError):
        model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        logits = model(torch.as_tensor(x[i : i + batch_size]).to(device))
        out.append(torch.argmax(logits, dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)

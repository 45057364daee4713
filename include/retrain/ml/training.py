"""The training loop shared by every Ray Tune trial and by the DVC reproduction of a model.

One code path means a registered model can be reproduced: the same hyperparameters, seed,
label-noise knob and number of epochs give the same batches and updates.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def noisy_labels(y: np.ndarray, fraction: float, n_labels: int, seed: int) -> np.ndarray:
    """The ``train_label_noise`` testing knob: move a fraction of labels to the next class."""
    out = y.copy()
    if fraction > 0:
        flip = np.random.default_rng(seed).random(len(out)) < fraction
        out[flip] = (out[flip] + 1) % n_labels
    return out


def epochs(
    model: Any,
    opt: Any,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    labels: list[str],
    hp: dict[str, Any],
    augment: dict[str, Any],
    start: int,
    stop: int,
) -> Iterator[dict[str, float]]:
    """Train epochs ``start``..``stop-1``; after each, yield its report (loss, validation metrics).

    Batches come from a generator seeded by ``hp["seed"]`` and advanced through the skipped
    epochs, so a resumed trial sees the same batches as an uninterrupted one.
    """
    import torch

    from . import metrics, models

    x, y = torch.as_tensor(train[0]), torch.as_tensor(train[1])
    gen = torch.Generator().manual_seed(int(hp["seed"]))
    for _ in range(start):
        torch.randperm(len(y), generator=gen)
    loss_fn = torch.nn.CrossEntropyLoss()
    batch = int(hp["batch_size"])
    for epoch in range(start, stop):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            xb = models.augment(x[idx], augment, gen) if augment else x[idx]
            opt.zero_grad()
            loss = loss_fn(model(xb), y[idx])
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        m = metrics.summary(val[1], models.predict(model, val[0]), labels)
        yield {
            "train_loss": total / len(y),
            "val_accuracy": m["accuracy"],
            "val_macro_f1": m["macro_f1"],
            "epoch": epoch + 1,
        }


def new_model(hp: dict[str, Any], train_x: np.ndarray, n_labels: int, mean: Any, std: Any) -> tuple[Any, Any]:
    """The seeded model and its optimiser."""
    import torch

    from . import models

    torch.manual_seed(int(hp["seed"]))
    model = models.build(hp, train_x.shape[1:], n_labels, mean, std)
    return model, torch.optim.Adam(model.parameters(), lr=float(hp["lr"]))

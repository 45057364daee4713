"""The training loop shared by every Ray Tune trial and by the DVC reproduction of a model.

One code path means a registered model can be reproduced: the same hyperparameters, seed,
label-noise knob and number of epochs give the same batches and updates.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def pick_device(gpu_ids: Sequence[Any], cuda_available: bool | None = None) -> str:
    """``cuda`` when Ray gave the trial a GPU and CUDA is there, else ``cpu`` (said in the log).

    Ray sets ``CUDA_VISIBLE_DEVICES`` to the trial's GPUs, so the first visible device is the
    trial's own. A logical GPU without CUDA (the local stack's workers declare GPUs on a machine
    that may have none) trains on the CPU: the same trial, only slower.
    """
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if gpu_ids and cuda_available:
        return "cuda"
    if gpu_ids:
        log.warning("Ray gave this trial GPU %s but CUDA is not available here: training on the CPU", list(gpu_ids))
        print(
            f"no CUDA for GPU {list(gpu_ids)} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}): "
            "training on the CPU",
            flush=True,
        )
    return "cpu"


def noisy_labels(y: np.ndarray, fraction: float, n_labels: int, seed: int) -> np.ndarray:
    """The ``train_label_noise`` testing knob: move a fraction of labels to the next class."""
    out = y.copy()
    if fraction > 0:
        flip = np.random.default_rng(seed).random(len(out)) < fraction
        out[flip] = (out[flip] + 1) % n_labels
    return out


def within_budget(y: np.ndarray, sample_bytes: int, budget_mb: float, seed: int) -> np.ndarray:
    """Indices (in their order) of the training samples a search sees under ``tune.train_budget_mb``.

    Everything when it fits; otherwise a seeded sample of each class in proportion to its share
    (largest remainders fill the budget, a class present keeps at least one sample), so the class
    weights and the balance of the data stay what they were. The same labels, sample size, budget
    and seed give the same indices: a reproduction reads the same samples.
    """
    n_max = int(budget_mb * 2**20 // max(sample_bytes, 1))
    if len(y) <= n_max:
        return np.arange(len(y))
    classes, counts = np.unique(y, return_counts=True)
    share = counts * n_max / len(y)
    quota = np.maximum(np.floor(share).astype(int), 1)
    for i in np.argsort(-(share - np.floor(share)), kind="stable")[: max(n_max - int(quota.sum()), 0)]:
        quota[i] += 1
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota, strict=True)]
    return np.sort(np.concatenate(keep))


class Plateau:
    """Early stopping: :meth:`update` says True once the metric has not improved for ``patience``
    epochs in a row (never with ``patience`` 0)."""

    def __init__(self, patience: int, start: int = 0) -> None:
        self.patience = patience
        self.best = float("-inf")
        self.best_epoch = start  # a resumed trial counts from the epoch it resumed at
        self.seen = start

    def update(self, value: float) -> bool:
        self.seen += 1
        if value > self.best:
            self.best, self.best_epoch = value, self.seen
        return self.patience > 0 and self.seen - self.best_epoch >= self.patience

    def describe(self) -> str:
        return f"best {self.best:.4f} at epoch {self.best_epoch}, no better for {self.seen - self.best_epoch} epochs"


def class_weights(y: np.ndarray, n_labels: int, policy: str) -> np.ndarray | None:
    """Loss weights per label: ``balanced`` gives n / (labels present * n_label) (scikit-learn's
    "balanced"; 0 for a label with no sample), ``none`` gives None (an unweighted loss)."""
    if policy == "none":
        return None
    counts = np.bincount(y, minlength=n_labels).astype(np.float64)
    present = int((counts > 0).sum())
    return np.where(counts > 0, len(y) / (max(present, 1) * np.maximum(counts, 1)), 0.0).astype(np.float32)


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
    device: str = "cpu",
    mixed_precision: bool = False,
    loss_weights: np.ndarray | None = None,
) -> Iterator[dict[str, float]]:
    """Train epochs ``start``..``stop-1``; after each, yield its report (loss, validation metrics).

    Batches come from a generator seeded by ``hp["seed"]`` and advanced through the skipped
    epochs, so a resumed trial sees the same batches as an uninterrupted one. On ``cuda`` the
    model and each batch live on the GPU (batches copied from pinned memory), and
    ``mixed_precision`` trains under float16 autocast with a gradient scaler. ``loss_weights``
    (per label, see :func:`class_weights`) weigh the cross-entropy.
    """
    import torch

    from . import metrics, models

    on_gpu = device.startswith("cuda")
    model.to(device)
    x, y = torch.as_tensor(train[0]), torch.as_tensor(train[1])
    if on_gpu:
        x, y = x.pin_memory(), y.pin_memory()
    amp = mixed_precision and on_gpu
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    gen = torch.Generator().manual_seed(int(hp["seed"]))
    for _ in range(start):
        torch.randperm(len(y), generator=gen)
    weight = None if loss_weights is None else torch.as_tensor(loss_weights, dtype=torch.float32).to(device)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    batch = int(hp["batch_size"])
    for epoch in range(start, stop):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            xb = models.augment(x[idx], augment, gen) if augment else x[idx]
            xb, yb = xb.to(device, non_blocking=on_gpu), y[idx].to(device, non_blocking=on_gpu)
            opt.zero_grad()
            with torch.autocast(device_type="cuda" if on_gpu else "cpu", dtype=torch.float16, enabled=amp):
                loss = loss_fn(model(xb), yb)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            total += loss.item() * len(idx)
        m = metrics.summary(val[1], models.predict(model, val[0], device=device), labels)
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

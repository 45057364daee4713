"""Paired evidence on the shared holdout: confidence intervals that respect the held-out units.

The candidate and the champion (and the pinned reference) are scored on the same holdout
samples. Windows of one machine, or of one machine-day, are correlated, so the bootstrap resamples
whole held-out *units* (the split keys of ``ml/splits.py``: assets, machine x time blocks, images),
never single windows: an interval from resampled windows would be too narrow and the gate would
promote and reject on luck.

* :func:`metric_interval` -- the interval of one model's gate metric (against the floor), and of
  each class's recall (against its recall floor);
* :func:`paired_difference` -- the interval of ``candidate - other`` in the gate metric, with an
  exact McNemar test (``scipy.stats.binomtest``) on the samples where the two models disagree.

Every statistic is computed from per-unit confusion matrices: a resample is a multiset of units,
its confusion matrix the sum of theirs, so accuracy, macro-F1 and recall all come from one
weighted sum (``scipy.stats.bootstrap``, BCa by default, percentile where BCa is undefined).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    value: float  # the point estimate on the whole holdout
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in asdict(self).items()}


def unit_confusions(y: np.ndarray, pred: np.ndarray, units: np.ndarray, classes: int) -> np.ndarray:
    """(units, classes, classes) confusion counts of every held-out unit, rows = true labels."""
    _, unit_index = np.unique(units.astype(str), return_inverse=True)
    flat = (unit_index * classes + y) * classes + pred
    n_units = int(unit_index.max()) + 1 if len(unit_index) else 0
    counts = np.bincount(flat, minlength=n_units * classes * classes)
    return counts.reshape(n_units, classes, classes).astype(np.float64)


def metric_of(confusion: np.ndarray, metric: str) -> np.ndarray:
    """``accuracy``, ``macro_f1`` or ``recall_<class index>`` of confusion matrices (..., k, k).

    macro-F1 averages over the classes present in the (resampled) true labels, as
    ``ml/metrics.summary`` does on the whole holdout.
    """
    diag = np.diagonal(confusion, axis1=-2, axis2=-1)
    support = confusion.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "accuracy":
            total = support.sum(axis=-1)
            return np.where(total > 0, diag.sum(axis=-1) / np.maximum(total, 1), 0.0)
        if metric == "macro_f1":
            predicted = confusion.sum(axis=-2)
            f1 = np.where(support + predicted > 0, 2 * diag / np.maximum(support + predicted, 1), 0.0)
            present = support > 0
            return np.where(
                present.any(axis=-1), (f1 * present).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1), 0.0
            )
        if metric.startswith("recall_"):
            c = int(metric.removeprefix("recall_"))
            return np.where(support[..., c] > 0, diag[..., c] / np.maximum(support[..., c], 1), 0.0)
    raise ValueError(f"unknown metric {metric!r}: accuracy, macro_f1 or recall_<class index>")


def _interval(
    statistic: Any, n_units: int, value: float, confidence: float, resamples: int, seed: int, full: tuple[float, float]
) -> Interval:
    """Bootstrap interval of ``statistic(weights)`` over ``n_units`` units (weights: (..., n_units) counts)."""
    from scipy.stats import bootstrap

    if n_units < 2:  # one unit: no resampling can say anything about the spread
        return Interval(value, *full)

    def over_indices(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.moveaxis(np.asarray(idx), axis, -1)
        batch = idx.shape[:-1]
        flat = idx.reshape(-1, idx.shape[-1])
        offsets = (np.arange(len(flat)) * n_units)[:, None]
        weights = np.bincount((flat + offsets).ravel(), minlength=len(flat) * n_units).reshape(len(flat), n_units)
        return np.asarray(statistic(weights)).reshape(batch)

    rng = np.random.default_rng(seed)
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate or BCa-undefined cases are handled below
            res = bootstrap(
                (np.arange(n_units),),
                over_indices,
                vectorized=True,
                n_resamples=resamples,
                confidence_level=confidence,
                method=method,
                random_state=rng,
                batch=max(1, 4_000_000 // n_units),
            )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return Interval(value, min(low, value), max(high, value))
        spread = res.bootstrap_distribution
        if np.ptp(spread) == 0:  # every resample gives the same value: the models agree everywhere
            return Interval(value, float(spread.flat[0]), float(spread.flat[0]))
    return Interval(value, *full)


def recall_interval(
    confusions: np.ndarray,
    c: int,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Recall of class ``c`` over the units that hold samples of it (the others say nothing about
    it, and resamples without the class would score an undefined recall as 0). No unit holds the
    class: the whole range, so a recall floor on it can only be inconclusive."""
    holding = confusions[confusions[:, c, :].sum(axis=1) > 0]
    if not len(holding):
        return Interval(0.0, 0.0, 1.0)
    return metric_interval(holding, f"recall_{c}", confidence, resamples, seed)


def metric_interval(
    confusions: np.ndarray,
    metric: str,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """The interval of one model's ``metric`` from its per-unit confusion matrices."""
    flat = confusions.reshape(len(confusions), -1)
    k = confusions.shape[-1]
    value = float(metric_of(confusions.sum(axis=0), metric))
    return _interval(
        lambda w: metric_of((w @ flat).reshape(*w.shape[:-1], k, k), metric),
        len(confusions),
        value,
        confidence,
        resamples,
        seed,
        (0.0, 1.0),
    )


@dataclass(frozen=True)
class PairedDifference:
    difference: Interval  # candidate - other, in the metric
    mcnemar_p: float  # exact two-sided McNemar p-value on the discordant samples
    candidate_only: int  # samples the candidate gets right and the other wrong
    other_only: int  # and the reverse

    def as_dict(self) -> dict[str, Any]:
        return {
            "difference": self.difference.as_dict(),
            "mcnemar_p": round(self.mcnemar_p, 6),
            "candidate_only": self.candidate_only,
            "other_only": self.other_only,
        }


def mcnemar_p(candidate_only: int, other_only: int) -> float:
    """Exact McNemar test: under 'equally good', each discordant sample is a fair coin."""
    from scipy.stats import binomtest

    n = candidate_only + other_only
    return float(binomtest(candidate_only, n, 0.5).pvalue) if n else 1.0


def paired_difference(
    y: np.ndarray,
    candidate: np.ndarray,
    other: np.ndarray,
    units: np.ndarray,
    classes: int,
    metric: str,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PairedDifference:
    """``candidate - other`` in ``metric`` with its unit-bootstrap interval, and McNemar's test."""
    a = unit_confusions(y, candidate, units, classes)
    b = unit_confusions(y, other, units, classes)
    fa, fb, k = a.reshape(len(a), -1), b.reshape(len(b), -1), classes

    def diff(w: np.ndarray) -> np.ndarray:
        shape = (*w.shape[:-1], k, k)
        return metric_of((w @ fa).reshape(shape), metric) - metric_of((w @ fb).reshape(shape), metric)

    value = float(metric_of(a.sum(axis=0), metric) - metric_of(b.sum(axis=0), metric))
    interval = _interval(diff, len(a), value, confidence, resamples, seed, (-1.0, 1.0))
    right_a, right_b = candidate == y, other == y
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    return PairedDifference(interval, mcnemar_p(only_a, only_b), only_a, only_b)


def gate_evidence(
    metric: str,
    y: np.ndarray,
    candidate: np.ndarray,
    units: np.ndarray,
    labels: list[str],
    others: list[tuple[str, str, np.ndarray]],
    unit: str,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
) -> dict[str, Any]:
    """The gate's evidence (handoffs.Evidence) for ``metric`` (``holdout_<accuracy|macro_f1>``).

    ``others``: (role, version, predictions) of the champion and the reference on the same samples.
    Seeds are fixed, so the same predictions always give the same intervals.
    """
    k = len(labels)
    base = metric.removeprefix("holdout_")
    confusions = unit_confusions(y, candidate, units, k)
    recall = {
        label: recall_interval(confusions, i, confidence, resamples, seed=1 + i).as_dict()
        for i, label in enumerate(labels)
    }
    against = []
    for role, version, pred in others:
        paired = paired_difference(y, candidate, pred, units, k, base, confidence, resamples)
        value = float(metric_of(unit_confusions(y, pred, units, k).sum(axis=0), base))
        against.append({"role": role, "version": version, "value": round(value, 6), **paired.as_dict()})
    return {
        "metric": metric,
        "confidence": confidence,
        "resamples": resamples,
        "samples": len(y),
        "units": len(confusions),
        "unit": unit,
        "candidate": metric_interval(confusions, base, confidence, resamples).as_dict(),
        "recall": recall,
        "against": against,
    }

"""Drift of the data the champion has not seen against the data it was trained on.

Reference: the files at the champion's training commit. Current: the files on main now that
are not in that commit (lakeFS diff). Per feature -- each sensor channel; an image's mean
intensity and its SSIM against the reference picture -- the two-sample Kolmogorov-Smirnov
statistic and the population stability index (PSI, 10 quantile bins of the reference).
Drift is detected when a feature's PSI exceeds the threshold (0.2 is the usual "significant
shift") and its KS p-value is below 0.01 (so that small batches' sampling noise is not drift).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from ..config import DatasetConfig
from ..handoffs import Drift, FeatureDrift
from ..lake import lakefs_io
from ..lake.formats import data_suffixes, read_sensor_file
from ..lake.lakefs_io import DATA_PREFIX
from . import image_measures
from .image import reference_image

# Files read per side: a sensor file holds thousands of values per channel, an image one per feature.
MAX_FILES = {"sensor": 24, "image": 240}


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (quantile bins of the reference).

    Small samples get fewer bins (at least ~20 values a bin): with a handful of values per bin,
    empty bins alone would read as drift.
    """
    reference, current = reference[np.isfinite(reference)], current[np.isfinite(current)]
    if len(reference) == 0 or len(current) == 0:
        return 0.0
    bins = max(2, min(bins, min(len(reference), len(current)) // 20))
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        return 0.0 if np.allclose(current, reference[0]) else float("inf")
    edges[0], edges[-1] = -np.inf, np.inf
    ref = np.histogram(reference, edges)[0] / len(reference)
    cur = np.histogram(current, edges)[0] / len(current)
    ref, cur = np.clip(ref, 1e-4, None), np.clip(cur, 1e-4, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and its p-value."""
    from scipy.stats import ks_2samp

    res = ks_2samp(reference[np.isfinite(reference)], current[np.isfinite(current)])
    return float(res.statistic), float(res.pvalue)


def compare(
    reference: dict[str, np.ndarray], current: dict[str, np.ndarray], threshold: float, alpha: float = 0.01
) -> dict[str, Any]:
    """Drifted features: PSI above ``threshold`` (a shift that matters) **and** a KS p-value below
    ``alpha`` (a shift that is not sampling noise -- small image batches need this)."""
    features: dict[str, FeatureDrift] = {}
    for name in reference:
        if name in current and len(current[name]) and len(reference[name]):
            stat, p = ks(reference[name], current[name])
            features[name] = {
                "ks": round(stat, 4),
                "ks_p": float(f"{p:.3g}"),
                "psi": round(psi(reference[name], current[name]), 4),
            }
    drifted = sorted(n for n, f in features.items() if f["psi"] > threshold and f["ks_p"] < alpha)
    return {"features": features, "drifted": drifted, "drift_detected": bool(drifted), "threshold": threshold}


def _sample(paths: list[str], seed: str, limit: int) -> list[str]:
    paths = sorted(paths)
    return random.Random(seed).sample(paths, limit) if len(paths) > limit else paths


def feature_values(ds: DatasetConfig, clt: Any, ref: str, paths: list[str]) -> dict[str, np.ndarray]:
    """The drift features of some files at ``ref``."""
    bodies = {p: lakefs_io.read_bytes(clt, ds.repository, ref, p) for p in paths}
    if ds.modality == "image":
        picture = reference_image(ds)
        facts = [image_measures.measure(b, picture) for b in bodies.values()]
        out = {"intensity_mean": np.array([f.mean for f in facts])}
        if picture is not None:
            out["ssim"] = np.array([f.ssim for f in facts], dtype=float)
        return out
    import pandas as pd

    assert ds.sensor is not None
    table = pd.concat([read_sensor_file(p, b, ds.sensor) for p, b in bodies.items()], ignore_index=True)
    return {ch: table[ch].to_numpy(dtype=float) for ch in ds.sensor.channels}


def no_drift(threshold: float, note: str, reference: str | None = None, current: str | None = None) -> Drift:
    """The result when nothing is compared (no champion yet, or nothing unseen)."""
    return {
        "drift_detected": False,
        "drifted": [],
        "features": {},
        "threshold": threshold,
        "unseen_files": 0,
        "reference_commit": reference,
        "current_commit": current,
        "note": note,
    }


def unseen_drift(ds: DatasetConfig, clt: Any, champion_commit: str, head: str, threshold: float) -> Drift:
    """Compare what main holds beyond the champion's training commit with that commit's data."""
    suffixes = data_suffixes(ds.modality)
    unseen = lakefs_io.changed_since(clt, ds.repository, champion_commit, head, DATA_PREFIX, suffixes)
    if not unseen:
        return no_drift(threshold, "nothing on main the champion has not seen", champion_commit, head)
    seen = [
        p for p, _, _ in lakefs_io.list_paths(clt, ds.repository, champion_commit, DATA_PREFIX) if p.endswith(suffixes)
    ]
    limit = MAX_FILES[ds.modality]
    reference = feature_values(ds, clt, champion_commit, _sample(seen, champion_commit, limit))
    current = feature_values(ds, clt, head, _sample(unseen, head, limit))
    found = compare(reference, current, threshold)
    return {
        "drift_detected": found["drift_detected"],
        "drifted": found["drifted"],
        "features": found["features"],
        "threshold": threshold,
        "unseen_files": len(unseen),
        "reference_commit": champion_commit,
        "current_commit": head,
        "note": f"{len(unseen)} files the champion has not seen",
    }

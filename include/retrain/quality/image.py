"""Validate a batch of labelled images: per-image checks, then a GX suite over their metadata.

Per image: decodes (Pillow), allowed format, size and mode, label folder, blank or
badly exposed, blur (variance of the Laplacian), SSIM against the reference image,
exact duplicates (sha256). A failing image is quarantined with its reasons. Then
Great Expectations checks the batch's distribution -- class balance and intensity
range -- over the metadata table of the images that passed.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import pandas as pd

from ..config import PROJECT_ROOT, DatasetConfig
from ..lake.formats import IMAGE_FORMATS, IMAGE_SUFFIXES, decode_image
from . import image_measures
from .report import FileResult, Files, GXRun, ValidationReport, file_stream

log = logging.getLogger(__name__)


def image_problems(path: str, facts: image_measures.ImageFacts, ds: DatasetConfig) -> list[str]:
    spec, v = ds.image, ds.validation
    assert spec is not None
    allowed = {IMAGE_FORMATS[f] for f in spec.formats}
    out = []
    label = path.split("/")[-2] if "/" in path else ""
    if label not in spec.labels:
        out.append(f"label folder '{label}' is not one of {', '.join(spec.labels)} (misfiled?)")
    if facts.format not in allowed:
        out.append(f"format {facts.format} is not allowed ({', '.join(spec.formats)})")
    if (facts.height, facts.width) != tuple(spec.size):
        out.append(f"size {facts.width}x{facts.height}, expected {spec.size[1]}x{spec.size[0]}")
    if spec.mode and facts.mode != spec.mode:
        out.append(f"mode {facts.mode}, expected {spec.mode} (image.mode)")
    if facts.mean > v.max_mean:
        out.append(f"over-exposed (mean {facts.mean:.0f} > {v.max_mean:g})")
    elif facts.mean < v.min_mean:
        out.append(f"under-exposed (mean {facts.mean:.0f} < {v.min_mean:g})")
    elif facts.std < v.min_std:
        out.append(f"blank image (std {facts.std:.1f} < {v.min_std:g})")
    elif facts.blur < v.min_blur:
        out.append(f"blurred (variance of the Laplacian {facts.blur:.1f} < {v.min_blur:g})")
    if facts.ssim is not None and facts.ssim < v.min_ssim:
        out.append(f"far from the reference image (SSIM {facts.ssim:.2f} < {v.min_ssim:g})")
    return out


def batch_expectations(ds: DatasetConfig) -> list[Any]:
    """Distribution-level expectations over the metadata table of the good images."""
    from great_expectations import expectations as E

    spec, v = ds.image, ds.validation
    assert spec is not None
    height, width = spec.size
    return [
        E.ExpectColumnValuesToBeInSet(column="label", value_set=list(spec.labels)),
        E.ExpectColumnMinToBeBetween(column="label_share", min_value=v.min_class_share),
        E.ExpectColumnMeanToBeBetween(column="mean", min_value=v.min_mean, max_value=v.max_mean),
        E.ExpectColumnValuesToBeBetween(column="width", min_value=width, max_value=width),
        E.ExpectColumnValuesToBeBetween(column="height", min_value=height, max_value=height),
        E.ExpectColumnValuesToBeUnique(column="sha256"),
    ]


def _batch_reason(result: Any, ds: DatasetConfig) -> str:
    cfg, r = result.expectation_config, result.result or {}
    col = cfg.kwargs.get("column")
    if col == "label_share":
        return (
            f"class balance: a label is only {r.get('observed_value', 0):.0%} of the batch "
            f"(min_class_share {ds.validation.min_class_share:.0%})"
        )
    if col == "mean":
        return f"batch intensity: mean brightness {r.get('observed_value', 0):.0f} outside the configured range"
    return f"{cfg.type} failed on '{col}'"


def reference_image(ds: DatasetConfig) -> Any:
    """The dataset's SSIM reference picture as a grayscale array, or None without one."""
    assert ds.image is not None
    if not ds.image.reference:
        return None
    return decode_image((PROJECT_ROOT / ds.image.reference).read_bytes())[1]


def validate_image_files(ds: DatasetConfig, files: Files) -> ValidationReport:
    spec = ds.image
    assert spec is not None
    reference = reference_image(ds)
    report = ValidationReport(ds.name, [], ds.validation.max_bad_fraction)
    seen: dict[str, str] = {}
    rows = []
    for path, body in file_stream(files):
        fr = FileResult(path, rows=1)
        report.files.append(fr)
        if not path.lower().endswith(IMAGE_SUFFIXES):
            fr.reasons.append(f"not an image file (allowed: {', '.join(IMAGE_SUFFIXES)})")
        try:
            facts = image_measures.measure(body, reference)
        except ValueError as exc:
            fr.reasons.append(str(exc))
            continue
        fr.reasons += image_problems(path, facts, ds)
        if facts.sha256 in seen:
            fr.reasons.append(f"exact duplicate of {seen[facts.sha256]} (sha256 {facts.sha256[:12]})")
        seen.setdefault(facts.sha256, path)
        if fr.ok:
            rows.append({**asdict(facts), "label": path.split("/")[-2], "path": path})
        if facts.converted:
            fr.notes.append(facts.converted)
    if rows:
        table = pd.DataFrame(rows)
        table["label_share"] = table.groupby("label")["label"].transform("size") / len(table)
        balance = []
        missing = set(spec.labels) - set(table["label"])
        if missing and ds.validation.min_class_share > 0:
            balance.append(f"class balance: no image of {sorted(missing)} in the batch")
        run = GXRun(f"{ds.name}_images", lambda: batch_expectations(ds))
        for reason in (_batch_reason(r, ds) for r in run.validate("images", table)):
            (balance if reason.startswith("class balance") else report.batch_reasons).append(reason)
        if ds.validation.class_share == "fail":
            report.batch_reasons += balance
        else:
            report.batch_warnings += balance
        report.html_pages = run.html()
    log.info(
        "validated %d images: %d bad, batch: %s%s",
        len(report.files),
        len(report.bad),
        report.batch_reasons or "ok",
        f" (warnings: {'; '.join(report.batch_warnings)})" if report.batch_warnings else "",
    )
    return report

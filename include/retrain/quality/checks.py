"""Validate a run's files by the dataset's modality: the one place that knows both."""

from __future__ import annotations

from ..config import DatasetConfig
from .image import validate_image_files
from .report import Files, Reread, ValidationReport
from .sensor import validate_sensor_files


def validate_files(ds: DatasetConfig, files: Files, reread: Reread | None = None) -> ValidationReport:
    """Validate every file (path below ``data/`` and its bytes) of the dataset's modality.

    ``files`` may be a stream: each file is checked and dropped before the next is read, so
    memory does not grow with the size of the batch. ``reread(path)`` fetches a sensor file again
    when its statistics fail and it is checked row by row.
    """
    if ds.modality == "image":
        return validate_image_files(ds, files)
    return validate_sensor_files(ds, files, reread)

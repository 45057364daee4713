"""Quality measures of one image for visual defect inspection.

Quality measures follow the usual inspection checks: decodability, format, size and mode,
blank or over-exposed frames, blur (variance of the Laplacian) and SSIM against a
reference image chosen by a domain expert (scikit-image's implementation).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..lake.formats import decode_image


@dataclass(frozen=True)
class ImageFacts:
    """What validation measures of one decoded image."""

    sha256: str
    format: str
    width: int
    height: int
    mode: str
    mean: float
    std: float
    blur: float  # variance of the Laplacian: low means blurred
    ssim: float | None  # against the reference image, when one is configured
    converted: str | None = None  # how a non-8-bit-gray image was converted (lake/formats.py)


def laplacian_variance(gray: np.ndarray) -> float:
    from scipy.ndimage import laplace

    return float(laplace(gray.astype(np.float64)).var())


def ssim(gray: np.ndarray, reference: np.ndarray) -> float:
    """SSIM (scikit-image) after resizing to the reference's shape."""
    from skimage.metrics import structural_similarity
    from skimage.transform import resize

    if gray.shape != reference.shape:
        gray = resize(gray, reference.shape, preserve_range=True, anti_aliasing=True)
    return float(structural_similarity(gray, reference, data_range=255.0, gaussian_weights=True, sigma=1.5))


def measure(body: bytes, reference: np.ndarray | None) -> ImageFacts:
    fmt, gray, mode, (width, height), converted = decode_image(body)
    return ImageFacts(
        sha256=hashlib.sha256(body).hexdigest(),
        format=fmt,
        width=width,
        height=height,
        mode=mode,
        mean=float(gray.mean()),
        std=float(gray.std()),
        blur=laplacian_variance(gray),
        ssim=ssim(gray, reference) if reference is not None else None,
        converted=converted,
    )

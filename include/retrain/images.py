"""Images for visual defect inspection: decoding, quality measures, and synthetic textures.

Quality measures follow the usual inspection checks: decodability, format, size and mode,
blank or over-exposed frames, blur (variance of the Laplacian) and SSIM against a
reference image chosen by a domain expert (scikit-image's implementation).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np

FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


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


def decode(body: bytes) -> tuple[str, np.ndarray, str, tuple[int, int]]:
    """(format, grayscale float array, original mode, (width, height)); raises ValueError if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(body)) as img:
            img.load()  # forces a full decode: truncated files fail here
            fmt, mode, size = str(img.format), img.mode, img.size
            gray = np.asarray(img.convert("L"), dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"image does not decode: {type(exc).__name__}: {exc}") from exc
    return fmt, gray, mode, size


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
    fmt, gray, mode, (width, height) = decode(body)
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
    )


def to_array(body: bytes, size: tuple[int, int]) -> np.ndarray:
    """A (1, H, W) float32 array in 0..255 at the configured size (H, W)."""
    from PIL import Image

    with Image.open(io.BytesIO(body)) as img:
        gray = img.convert("L")
        if gray.size != (size[1], size[0]):
            gray = gray.resize((size[1], size[0]))
        return np.asarray(gray, dtype=np.float32)[None]


def encode(gray: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), mode="L").save(buf, format=fmt)
    return buf.getvalue()


# -- synthetic cast-metal surfaces ------------------------------------------------------------
def surface(rng: np.random.Generator, size: tuple[int, int], brightness: float = 0.0) -> np.ndarray:
    """A cast-metal texture: uneven lighting, casting grain and fine noise, in 0..255."""
    from scipy.ndimage import gaussian_filter

    h, w = size
    low = gaussian_filter(rng.normal(0, 1, (h, w)), sigma=h / 6) * 90
    grain = gaussian_filter(rng.normal(0, 1, (h, w)), sigma=1.2) * 18
    ramp = np.linspace(-12, 12, w)[None, :] * rng.uniform(-1, 1)
    return 132 + brightness + low + grain + ramp + rng.normal(0, 4, (h, w))


def add_defect(img: np.ndarray, label: str, rng: np.random.Generator) -> np.ndarray:
    """Draw a scratch (a long thin straight bright line), a spot (a dark round pit) or a crack
    (a dark jagged line); ``ok`` leaves the surface as it is."""
    out = img.copy()
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w]
    if label == "scratch":
        angle = rng.uniform(0, np.pi)
        cy, cx = rng.uniform(h * 0.3, h * 0.7), rng.uniform(w * 0.3, w * 0.7)
        dist = np.abs((yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle))
        along = np.abs((yy - cy) * np.sin(angle) + (xx - cx) * np.cos(angle))
        out += 70 * np.exp(-(dist**2) / 0.8) * (along < h * 0.38)
    elif label == "spot":
        for _ in range(int(rng.integers(1, 3))):
            cy, cx, r = rng.uniform(10, h - 10), rng.uniform(10, w - 10), rng.uniform(3, 6)
            out -= 85 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
    elif label == "crack":
        y, x = rng.uniform(h * 0.2, h * 0.8), rng.uniform(w * 0.1, w * 0.3)
        heading = rng.uniform(-0.5, 0.5)
        for _ in range(int(w * 0.7)):
            heading += rng.normal(0, 0.45)
            y, x = y + np.sin(heading), x + np.cos(heading)
            out -= 80 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 0.7)
    elif label != "ok":
        raise ValueError(f"no drawing for label {label!r}")
    return out


def reference_image(size: tuple[int, int]) -> np.ndarray:
    """The expert-chosen reference of a good part: a fixed, defect-free surface."""
    return np.clip(surface(np.random.default_rng(20261124), size), 0, 255).astype(np.float32)

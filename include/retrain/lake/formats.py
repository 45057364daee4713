"""The file formats of the data contract: sensor tables (Parquet, CSV) and images (PNG, JPEG).

Validation, drift and the training data all read landed files through these functions, so a
file means the same thing to each of them.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ..config import SensorSpec

SENSOR_SUFFIXES = (".parquet", ".csv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG"}  # config name -> Pillow's format name


def read_sensor_file(name: str, body: bytes, spec: SensorSpec) -> pd.DataFrame:
    """Parse one landing file; raises ValueError with the file name on anything unreadable."""
    if not name.endswith(SENSOR_SUFFIXES):
        raise ValueError(f"unsupported file type (expected {', '.join(SENSOR_SUFFIXES)})")
    try:
        df = pd.read_parquet(io.BytesIO(body)) if name.endswith(".parquet") else pd.read_csv(io.BytesIO(body))
    except Exception as exc:  # pyarrow and the csv parser raise many types for broken files
        raise ValueError(f"unreadable {name.rsplit('.', 1)[-1]} file: {type(exc).__name__}: {exc}") from exc
    if spec.timestamp_column in df.columns:
        df[spec.timestamp_column] = pd.to_datetime(df[spec.timestamp_column], utc=True, errors="coerce")
    return df


def decode_image(body: bytes) -> tuple[str, np.ndarray, str, tuple[int, int]]:
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


def image_array(body: bytes, size: tuple[int, int]) -> np.ndarray:
    """A (1, H, W) float32 array in 0..255 at the configured size (H, W): what the model sees."""
    from PIL import Image

    with Image.open(io.BytesIO(body)) as img:
        gray = img.convert("L")
        if gray.size != (size[1], size[0]):
            gray = gray.resize((size[1], size[0]))
        return np.asarray(gray, dtype=np.float32)[None]

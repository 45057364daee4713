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


# Epoch numbers: the unit follows from the magnitude of the values (the median of |x|): exporters
# write seconds, milliseconds, microseconds or nanoseconds since 1970-01-01 UTC.
EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))  # 1e11 s is the year 5138


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Timestamps as UTC datetimes; NaT where a value does not parse.

    Accepted: ISO 8601 text in any of its forms, mixed within one column (fractional seconds of
    any precision or none, ``T`` or a space, ``Z``, an offset, or none: UTC); epoch numbers,
    integer or float, their unit taken from their magnitude (``EPOCH_UNITS``); datetime columns
    (Parquet timestamps; naive ones are UTC).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    if _is_number(values):
        numbers = pd.to_numeric(values, errors="coerce")
        magnitude = float(numbers.abs().median()) if numbers.notna().any() else 0.0
        unit = next((u for bound, u in EPOCH_UNITS if magnitude < bound), "ns")
        exact = pd.api.types.is_integer_dtype(numbers) and not numbers.isna().any()
        numbers = numbers.astype("int64" if exact else "float64")  # int64 keeps nanoseconds exact
        return pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce")
    text = values.astype("string").str.strip()
    return pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")


def read_sensor_file(name: str, body: bytes, spec: SensorSpec) -> pd.DataFrame:
    """Parse one landing file; raises ValueError with the file name on anything unreadable.

    What every reader (validation, drift, training) gets: timestamps as UTC datetimes
    (``parse_timestamps``), numeric channels as float64 whatever their stored dtype, rows sorted
    by asset and timestamp, rows that repeat another row exactly dropped. What reading changed is
    listed in ``df.attrs["notes"]``.
    """
    if not name.endswith(SENSOR_SUFFIXES):
        raise ValueError(f"unsupported file type (expected {', '.join(SENSOR_SUFFIXES)})")
    try:
        df = pd.read_parquet(io.BytesIO(body)) if name.endswith(".parquet") else pd.read_csv(io.BytesIO(body))
    except Exception as exc:  # pyarrow and the csv parser raise many types for broken files
        raise ValueError(f"unreadable {name.rsplit('.', 1)[-1]} file: {type(exc).__name__}: {exc}") from exc
    notes = []
    if spec.timestamp_column in df.columns:
        df[spec.timestamp_column] = parse_timestamps(df[spec.timestamp_column])
    for ch in spec.channels:
        if ch in df.columns and _is_number(df[ch]) and df[ch].dtype != "float64":
            df[ch] = df[ch].astype("float64")  # int16 counts, float32, nullable Int64 (NA -> NaN)
    order = [c for c in (spec.asset_column, spec.timestamp_column) if c in df.columns]
    if len(order) == 2:
        ordered = df.sort_values(order, kind="stable", na_position="last")
        if not ordered.index.equals(df.index):
            notes.append("rows sorted by asset and timestamp")
        df = ordered.reset_index(drop=True)
    repeated = df.duplicated()
    if repeated.any():
        notes.append(f"{int(repeated.sum())} exact duplicate rows dropped")
        df = df[~repeated].reset_index(drop=True)
    df.attrs["notes"] = notes
    return df


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


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

"""The file formats of the data contract: sensor tables (Parquet, CSV) and images (PNG, JPEG).

Validation, drift and the training data all read landed files through these functions, so a
file means the same thing to each of them.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from ..config import SensorSpec

SENSOR_SUFFIXES = (".parquet", ".csv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG"}  # config name -> Pillow's format name


def data_suffixes(modality: str) -> tuple[str, ...]:
    """The file endings of a modality's data files."""
    return SENSOR_SUFFIXES if modality == "sensor" else IMAGE_SUFFIXES


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
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")  # to_datetime would walk every value (30 ms per 10k rows)
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize("UTC")
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
    repeated = _exact_duplicates(df, spec)
    if repeated is not None:
        notes.append(f"{int(repeated.sum())} exact duplicate rows dropped")
        df = df[~repeated].reset_index(drop=True)
    df.attrs["notes"] = notes
    return df


def _exact_duplicates(df: pd.DataFrame, spec: SensorSpec) -> pd.Series | None:
    """Rows that repeat an earlier row exactly, or None when there are none.

    Rows are sorted by asset and timestamp, so a row can only repeat one of its neighbours with
    the same asset and timestamp: hashing every row (``DataFrame.duplicated``) is needed only when
    such neighbours exist, which in a clean export they do not.
    """
    keys = [c for c in (spec.asset_column, spec.timestamp_column) if c in df.columns]
    if len(keys) == 2 and len(df) > 1:
        asset = pd.factorize(df[keys[0]])[0]
        ts = df[keys[1]].to_numpy(dtype="datetime64[ns]") if df[keys[1]].dtype.kind == "M" else df[keys[1]].to_numpy()
        same = (asset[1:] == asset[:-1]) & (ts[1:] == ts[:-1])
        if not same.any():
            return None
    repeated = df.duplicated()
    return repeated if repeated.any() else None


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


# Pixels an image may have before it is refused unread (Pillow's decompression-bomb guard is
# 89 M by default and raises an exception of its own; a line camera frame is a few megapixels).
MAX_IMAGE_PIXELS = 50_000_000
# How images that are not 8-bit grayscale become what the model sees (docs/configuration.md):
# 16-bit grayscale is scaled from the full 16-bit range (value / 257); palette images go through
# their palette; transparency is flattened onto white; colour is converted to luminance (ITU-R
# 601-2, Pillow's "L"). Floating-point and 32-bit integer images beyond 16 bits are refused.
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def _gray(img: Any) -> tuple[np.ndarray, str | None]:
    """(float32 gray 0..255, what was converted or None); raises ValueError for refused modes."""
    from PIL import Image

    mode = img.mode
    if mode == "L":
        return np.asarray(img, dtype=np.float32), None
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        values = np.asarray(img).astype(np.float64)
        if mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
            raise ValueError("32-bit integer image with values beyond 16 bits: no safe scaling to 8 bits")
        return (values / 257.0).astype(np.float32), f"16-bit {mode} scaled to 8-bit gray (value / 257)"
    if mode == "F":
        raise ValueError("floating-point image (mode F): no safe scaling to 8 bits")
    transparent = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
    if transparent:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        gray = Image.alpha_composite(white, rgba).convert("L")
        return np.asarray(gray, dtype=np.float32), f"{mode} flattened onto white and converted to gray"
    return np.asarray(img.convert("L"), dtype=np.float32), f"{mode} converted to gray"


def decode_image(body: bytes) -> tuple[str, np.ndarray, str, tuple[int, int], str | None]:
    """(format, grayscale float array, original mode, (width, height), conversion note or None).

    Raises ValueError (with the reason) for anything that is not a usable image: it does not
    decode, has more than ``MAX_IMAGE_PIXELS`` pixels (checked from the header, before decoding),
    or has a pixel format with no safe conversion to 8-bit gray.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(body)) as img:
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValueError(
                    f"oversized: {width}x{height} = {width * height:,} pixels > {MAX_IMAGE_PIXELS:,} (not decoded)"
                )
            img.load()  # forces a full decode: truncated files fail here
            fmt, mode = str(img.format), img.mode
            gray, note = _gray(img)
    except Image.DecompressionBombError as exc:  # Pillow's own guard, in Image.open, beyond ~179 M pixels
        raise ValueError(f"oversized: {exc} (not decoded)") from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"image does not decode: {type(exc).__name__}: {exc}") from exc
    return fmt, gray, mode, (width, height), note


def image_array(body: bytes, size: tuple[int, int]) -> np.ndarray:
    """A (1, H, W) float32 array in 0..255 at the configured size (H, W): what the model sees,
    converted by the rules of :func:`decode_image`."""
    from PIL import Image

    gray = decode_image(body)[1]
    if gray.shape != (size[0], size[1]):
        resized = Image.fromarray(gray.astype(np.float32), mode="F").resize((size[1], size[0]))
        gray = np.asarray(resized, dtype=np.float32)
    return gray[None]

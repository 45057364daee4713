"""Read the landing formats of sensor data (Parquet, CSV) into one table."""

from __future__ import annotations

import io

import pandas as pd

from .config import SensorSpec

SENSOR_SUFFIXES = (".parquet", ".csv")


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

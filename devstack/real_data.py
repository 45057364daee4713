"""Real datasets that ship inside registry packages, shaped as a user's landing would hold them
(for the tests and bench/real_data.py).

Nothing is downloaded: BasicMotions comes with sktime, the handwritten digits with scikit-learn.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

BASIC_MOTIONS_CHANNELS = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
BASIC_MOTIONS_HZ = 10  # 100 samples in each 10 s recording
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def basic_motions() -> tuple[pd.DataFrame, np.ndarray]:
    """BasicMotions (UEA archive, in sktime): 80 real 10 s smartwatch recordings, 6 channels at
    10 Hz, 4 activities (20 each). Returns (the (case, step)-indexed channels, label per case)."""
    from sktime.datasets import load_basic_motions

    x, y = load_basic_motions(return_type="pd-multiindex")
    x.columns = BASIC_MOTIONS_CHANNELS
    return x, np.asarray(y)


def basic_motions_fleet(devices: int, seed: int = 0, start: datetime = T0) -> pd.DataFrame:
    """The recordings as ``devices`` watches streaming one after another, gap-free: each device
    plays its share of the recordings (dealt in a seeded random order) back to back at 10 Hz.
    Columns: asset_id, timestamp (UTC datetimes), the 6 channels, label."""
    x, y = basic_motions()
    cases = np.random.default_rng(seed).permutation(len(y))
    frames = []
    for position, case in enumerate(cases):
        device, turn = position % devices, position // devices
        rec = x.loc[case].reset_index(drop=True)
        t = [start + timedelta(seconds=turn * 10 + i / BASIC_MOTIONS_HZ) for i in range(len(rec))]
        frames.append(
            rec.assign(asset_id=f"watch-{device + 1:02d}", timestamp=pd.to_datetime(t, utc=True), label=y[case])
        )
    return pd.concat(frames, ignore_index=True)[["asset_id", "timestamp", *BASIC_MOTIONS_CHANNELS, "label"]]


def device_csvs(table: pd.DataFrame) -> dict[str, bytes]:
    """One CSV per device, timestamps as Python's isoformat() writes them (fractional seconds only
    when not zero): how a user's logger exports a day."""
    out = {}
    for device, rows in table.groupby("asset_id", sort=True):
        rows = rows.assign(timestamp=[t.isoformat() for t in rows["timestamp"].dt.to_pydatetime()])
        out[f"{device}.csv"] = rows.to_csv(index=False).encode()
    return out


def digit_pngs(per_class: int, date: str) -> dict[str, bytes]:
    """scikit-learn's handwritten digits (UCI; 8x8, 16 grey levels scaled to 0..255) in ImageFolder
    layout ``dt=<date>/<digit>/<n>.png``, written in the pixel formats real exports mix: a quarter
    8-bit gray, a quarter 16-bit gray, a quarter opaque RGBA, a quarter palette."""
    import io

    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    taken: dict[int, int] = {}
    out: dict[str, bytes] = {}
    for i, (pixels, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        if taken.get(int(target), 0) >= per_class:
            continue
        taken[int(target)] = taken.get(int(target), 0) + 1
        gray = (pixels * 255 / 16).round().astype(np.uint8)
        img = [
            Image.fromarray(gray, "L"),
            Image.fromarray(gray.astype(np.uint16) * 257),
            Image.fromarray(np.stack([gray, gray, gray, np.full_like(gray, 255)], axis=-1), "RGBA"),
            Image.fromarray(gray, "L").convert("P"),
        ][len(out) % 4]
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out[f"dt={date}/{target}/{i:04d}.png"] = buf.getvalue()
    return out

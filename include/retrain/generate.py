"""Sample-data generator: realistic landing-zone partitions for the configured datasets.

Sensor data imitates a pump fleet sampled at 1 kHz: each asset runs at its own
speed, and each fault leaves its physical signature --
imbalance: a strong 1x running-speed component on the radial axes;
misalignment: a 2x harmonic, strongest axially;
bearing_fault: periodic impacts ringing a structural resonance, broadband energy
and a warmer bearing. On request it plants drift and bad files.

    python -m include.retrain.generate sensor --dataset pump_fleet --dates 2026-11-01 2026-11-02
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import DatasetConfig, SensorSpec

SAMPLE_RATE_HZ = 1000
BAD_SENSOR_KINDS = ("nan", "inf", "dead", "range", "schema", "label", "truncated", "unordered", "short")
BAD_IMAGE_KINDS = (
    "corrupt",
    "truncated",
    "blank",
    "overexposed",
    "blurred",
    "oversized",
    "format",
    "duplicate",
    "misfiled",
)


@dataclass(frozen=True)
class GeneratedFile:
    key: str  # path below the dataset's landing prefix, e.g. dt=2026-11-01/pump-03.parquet
    body: bytes
    planted: str | None = None  # the defect planted on purpose, if any


def _rng(*parts: object) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def _segment(
    label: str, n: int, t0: float, speed_hz: float, gain: float, rng: np.random.Generator, drift: float
) -> dict[str, np.ndarray]:
    t = t0 + np.arange(n) / SAMPLE_RATE_HZ
    w = 2 * np.pi * speed_hz * t
    noise = 0.35 * gain
    x = 0.8 * gain * np.sin(w) + rng.normal(0, noise, n)
    y = 0.8 * gain * np.sin(w + np.pi / 2) + rng.normal(0, noise, n)
    z = 0.3 * gain * np.sin(w + 0.3) + rng.normal(0, noise, n)
    temp = 52.0 + rng.normal(0, 0.3, n)
    current = 21.0 + 0.4 * np.sin(2 * np.pi * 2 * 50 * t) + rng.normal(0, 0.2, n)
    if label == "imbalance":
        x += 3.0 * gain * np.sin(w)
        y += 3.0 * gain * np.sin(w + np.pi / 2)
        current += 1.5
    elif label == "misalignment":
        z += 2.6 * gain * np.sin(2 * w + 0.5)
        x += 1.4 * gain * np.sin(2 * w)
        temp += 3.0
        current += 2.5
    elif label == "bearing_fault":
        bpfo = 3.57 * speed_hz  # outer-race defect frequency
        phase = (t * bpfo) % 1.0
        ring = np.exp(-phase * 25.0) * np.sin(2 * np.pi * 310.0 * t)  # impacts ringing at ~310 Hz
        x += 3.2 * gain * ring + rng.normal(0, 0.6 * gain, n)
        y += 2.4 * gain * ring + rng.normal(0, 0.6 * gain, n)
        z += 1.2 * gain * ring
        temp += 9.0
    if drift:
        x, y, z = (v * (1 + drift) for v in (x, y, z))
        temp += 8.0 * drift
    return {"vibration_x": x, "vibration_y": y, "vibration_z": z, "temperature": temp, "motor_current": current}


def sensor_frame(
    spec: SensorSpec, dataset: str, date: str, asset: str, rows_per_segment: int = 512, drift: float = 0.0
) -> pd.DataFrame:
    """One asset's readings for one day: a segment per label, in an asset- and date-specific order."""
    rng = _rng(dataset, date, asset)
    asset_rng = _rng(dataset, asset)  # what stays the same for a machine across days
    speed, gain = asset_rng.uniform(24.0, 30.0), asset_rng.uniform(0.85, 1.15)
    labels = list(spec.labels)
    rng.shuffle(labels)
    start = pd.Timestamp(date, tz="UTC") + pd.Timedelta(minutes=int(rng.integers(0, 600)))
    parts = []
    for i, label in enumerate(labels):
        sig = _segment(label, rows_per_segment, i * rows_per_segment / SAMPLE_RATE_HZ, speed, gain, rng, drift)
        frame = pd.DataFrame({c: sig.get(c, rng.normal(0, 1, rows_per_segment)) for c in spec.channels})
        frame.insert(0, spec.label_column, label)
        parts.append(frame)
    df = pd.concat(parts, ignore_index=True)
    df.insert(0, spec.timestamp_column, start + pd.to_timedelta(np.arange(len(df)), unit="ms"))
    df.insert(0, spec.asset_column, asset)
    return df[[spec.asset_column, spec.timestamp_column, *spec.channels, spec.label_column]]


def to_parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def plant(kind: str, df: pd.DataFrame, spec: SensorSpec) -> bytes:
    """A file with one defect of ``kind`` (see BAD_SENSOR_KINDS)."""
    df = df.copy()
    ch = spec.channels
    if kind == "nan":
        df.loc[df.index[100:110], ch[1]] = np.nan
    elif kind == "inf":
        df.loc[df.index[50], ch[0]] = np.inf
    elif kind == "dead":
        df[ch[2]] = 0.0
    elif kind == "range":
        df.loc[df.index[200:260], ch[3 % len(ch)]] = 400.0
    elif kind == "schema":
        df = df.drop(columns=[ch[-1]])
    elif kind == "label":
        df.loc[df.index[:300], spec.label_column] = "cavitation"
    elif kind == "truncated":
        body = to_parquet(df)
        return body[: len(body) // 2]
    elif kind == "unordered":
        df = df.sample(frac=1.0, random_state=7).reset_index(drop=True)
    elif kind == "short":
        df = df.iloc[: max(spec.window // 2, 1)]
    else:
        raise ValueError(f"unknown bad-file kind {kind!r}; choose from {', '.join(BAD_SENSOR_KINDS)}")
    return to_parquet(df)


def asset_ids(dataset: str, count: int) -> list[str]:
    prefix = dataset.split("_")[0]
    return [f"{prefix}-{i:03d}" for i in range(1, count + 1)]


def sensor_partition(
    ds: DatasetConfig,
    date: str,
    assets: int = 24,
    rows_per_segment: int = 512,
    drift: float = 0.0,
    bad: Iterable[str] = (),
) -> list[GeneratedFile]:
    """Every file of partition ``dt=<date>``: one Parquet file per asset, plus planted bad files."""
    assert ds.sensor is not None
    files = [
        GeneratedFile(
            f"dt={date}/{asset}.parquet",
            to_parquet(sensor_frame(ds.sensor, ds.name, date, asset, rows_per_segment, drift)),
        )
        for asset in asset_ids(ds.name, assets)
    ]
    for kind in bad:
        asset = f"bad-{kind}"
        frame = sensor_frame(ds.sensor, ds.name, date, asset, rows_per_segment, drift)
        files.append(GeneratedFile(f"dt={date}/{asset}.parquet", plant(kind, frame, ds.sensor), planted=kind))
    return files


def image_partition(
    ds: DatasetConfig, date: str, per_class: int = 30, drift: float = 0.0, bad: Iterable[str] = ()
) -> list[GeneratedFile]:
    """Partition ``dt=<date>`` in ImageFolder layout: ``dt=<date>/<label>/<name>.png``."""
    from scipy.ndimage import gaussian_filter

    from . import images

    spec = ds.image
    assert spec is not None
    size = (int(spec.size[0]), int(spec.size[1]))
    files = []
    for label in spec.labels:
        for i in range(per_class):
            rng = _rng(ds.name, date, label, i)
            gray = images.add_defect(images.surface(rng, size, brightness=40.0 * drift), label, rng)
            files.append(GeneratedFile(f"dt={date}/{label}/{label}-{i:04d}.png", images.encode(gray)))
    rng = _rng(ds.name, date, "bad")
    good = images.surface(rng, size)
    for kind in bad:
        name, label, body = f"bad-{kind}.png", spec.labels[0], b""
        if kind == "corrupt":
            body = rng.bytes(2048)
        elif kind == "truncated":
            body = images.encode(good)[:300]
        elif kind == "blank":
            body = images.encode(np.full(size, 128.0))
        elif kind == "overexposed":
            body = images.encode(np.clip(good + 115, 0, 255))
        elif kind == "blurred":
            body = images.encode(gaussian_filter(good, 3.0))
        elif kind == "oversized":
            body = images.encode(np.tile(good, (2, 2)))
        elif kind == "format":
            name, body = "bad-format.bmp", images.encode(good, "BMP")
        elif kind == "duplicate":
            name, body = f"{label}-0000_copy.png", files[0].body  # sorts after the original
        elif kind == "misfiled":
            label, body = "dent", images.encode(good)
        else:
            raise ValueError(f"unknown bad-image kind {kind!r}; choose from {', '.join(BAD_IMAGE_KINDS)}")
        files.append(GeneratedFile(f"dt={date}/{label}/{name}", body, planted=kind))
    return files


def partition(ds: DatasetConfig, date: str, **kwargs: Any) -> list[GeneratedFile]:
    """The sample partition of ``date`` for the dataset's modality (keyword arguments as for
    :func:`sensor_partition` or :func:`image_partition`)."""
    make = image_partition if ds.modality == "image" else sensor_partition
    return make(ds, date, **kwargs)


def write(
    files: Iterable[GeneratedFile],
    prefix: str,
    *,
    out_dir: Path | None = None,
    s3: object = None,
    bucket: str | None = None,
) -> int:
    """Write generated files to a folder or an S3 bucket (boto3 client); returns the count."""
    n = 0
    for f in files:
        key = f"{prefix}/{f.key}"
        if out_dir is not None:
            path = out_dir / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f.body)
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=f.body)  # type: ignore[attr-defined]
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    from . import config

    parser = argparse.ArgumentParser(
        prog="python -m include.retrain.generate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("modality", choices=["sensor", "image"], help="what to generate")
    parser.add_argument("--dataset", required=True, help="entry name in include/datasets.yaml")
    parser.add_argument("--dates", nargs="+", required=True, metavar="YYYY-MM-DD", help="partitions to write")
    parser.add_argument("--assets", type=int, default=24, help="machines per day (default 24)")
    parser.add_argument("--rows-per-segment", type=int, default=512, help="rows per label segment (default 512)")
    parser.add_argument("--drift", type=float, default=0.0, help="plant drift: vibration gain +X, temperature +8X")
    parser.add_argument("--per-class", type=int, default=30, help="images per label per day (default 30)")
    parser.add_argument(
        "--bad",
        default="",
        help=f"comma list of bad files to plant; sensor: "
        f"{','.join(BAD_SENSOR_KINDS)}; image: {','.join(BAD_IMAGE_KINDS)}",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="write below this folder")
    target.add_argument("--s3", action="store_true", help="write to the running local stack's landing bucket")
    args = parser.parse_args(argv)

    ds = config.get(args.dataset)
    if ds.modality != args.modality:
        parser.error(f"dataset {ds.name} is a {ds.modality} dataset, not {args.modality}")
    kinds = BAD_SENSOR_KINDS if ds.modality == "sensor" else BAD_IMAGE_KINDS
    bad = [b for b in args.bad.split(",") if b]
    unknown = set(bad) - set(kinds)
    if unknown:
        parser.error(f"--bad: unknown kinds {sorted(unknown)}; choose from {', '.join(kinds)}")
    s3 = bucket = None
    if args.s3:
        from .stack.services import stack_from_env

        st = stack_from_env()
        s3, bucket = st.s3_client(), ds.landing.bucket
    for date in args.dates:
        shape = (
            {"assets": args.assets, "rows_per_segment": args.rows_per_segment}
            if ds.modality == "sensor"
            else {"per_class": args.per_class}
        )
        files = partition(ds, date, drift=args.drift, bad=bad, **shape)
        n = write(files, ds.landing.prefix, out_dir=args.out, s3=s3, bucket=bucket)
        where = f"s3://{bucket}" if args.s3 else str(args.out)
        print(f"{ds.name} dt={date}: {n} files -> {where}/{ds.landing.prefix}/dt={date}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

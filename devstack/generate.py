"""Sample-data generator: realistic landing-zone partitions for the configured datasets.

Sensor data imitates a pump fleet sampled at 1 kHz: each asset runs at its own
speed, and each fault leaves its physical signature --
imbalance: a strong 1x running-speed component on the radial axes;
misalignment: a 2x harmonic, strongest axially;
bearing_fault: periodic impacts ringing a structural resonance, broadband energy
and a warmer bearing. On request it plants drift and bad files.

    python -m devstack.generate sensor --dataset pump_fleet --dates 2026-11-01 2026-11-02 --out /tmp/landing
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

from include.retrain.config import DatasetConfig, SensorSpec

SAMPLE_RATE_HZ = 1000
BAD_SENSOR_KINDS = ("nan", "inf", "dead", "range", "schema", "label", "truncated", "repeated", "short")
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


def dataset_copy(ds: DatasetConfig, name: str, **validation: Any) -> DatasetConfig:
    """Entry ``ds`` under another name, so with its own lakeFS repository, landing prefix and
    model; ``validation`` overrides fields of its validation section (tests, benches)."""
    return ds.model_copy(
        update={
            "name": name,
            "landing": ds.landing.model_copy(update={"prefix": name}),
            "validation": ds.validation.model_copy(update=validation),
        }
    )


def _rng(*parts: object) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def _segment(
    label: str,
    n: int,
    t0: float,
    speed_hz: float,
    gain: float,
    rng: np.random.Generator,
    drift: float,
    severity: float = 1.0,
) -> dict[str, np.ndarray]:
    t = t0 + np.arange(n) / SAMPLE_RATE_HZ
    w = 2 * np.pi * speed_hz * t
    noise = 0.35 * gain
    x = 0.8 * gain * np.sin(w) + rng.normal(0, noise, n)
    y = 0.8 * gain * np.sin(w + np.pi / 2) + rng.normal(0, noise, n)
    z = 0.3 * gain * np.sin(w + 0.3) + rng.normal(0, noise, n)
    temp = 52.0 + rng.normal(0, 0.3, n)
    current = 21.0 + 0.4 * np.sin(2 * np.pi * 2 * 50 * t) + rng.normal(0, 0.2, n)
    gain_fault = gain * severity  # how developed the fault is: a mild one hides in the noise
    if label == "imbalance":
        x += 3.0 * gain_fault * np.sin(w)
        y += 3.0 * gain_fault * np.sin(w + np.pi / 2)
        current += 1.5 * severity
    elif label == "misalignment":
        z += 2.6 * gain_fault * np.sin(2 * w + 0.5)
        x += 1.4 * gain_fault * np.sin(2 * w)
        temp += 3.0 * severity
        current += 2.5 * severity
    elif label == "bearing_fault":
        bpfo = 3.57 * speed_hz  # outer-race defect frequency
        phase = (t * bpfo) % 1.0
        ring = np.exp(-phase * 25.0) * np.sin(2 * np.pi * 310.0 * t)  # impacts ringing at ~310 Hz
        x += 3.2 * gain_fault * ring + rng.normal(0, 0.6 * gain_fault, n)
        y += 2.4 * gain_fault * ring + rng.normal(0, 0.6 * gain_fault, n)
        z += 1.2 * gain_fault * ring
        temp += 9.0 * severity
    if drift:
        x, y, z = (v * (1 + drift) for v in (x, y, z))
        temp += 8.0 * drift
    return {"vibration_x": x, "vibration_y": y, "vibration_z": z, "temperature": temp, "motor_current": current}


def sensor_frame(
    spec: SensorSpec,
    dataset: str,
    date: str,
    asset: str,
    rows_per_segment: int = 512,
    drift: float = 0.0,
    severity: tuple[float, float] = (1.0, 1.0),
    normal_weight: float = 1.0,
) -> pd.DataFrame:
    """One asset's readings for one day: a segment per label, in an asset- and date-specific order.

    ``severity``: each fault segment's signature is scaled by a factor drawn from this range (how
    developed the fault is); (1, 1), the default, draws nothing and gives every fault in full.
    ``normal_weight``: the healthy label's segment (the first configured label) is this many times
    longer than a fault's: real fleets run normally most of the time.
    """
    rng = _rng(dataset, date, asset)
    asset_rng = _rng(dataset, asset)  # what stays the same for a machine across days
    speed, gain = asset_rng.uniform(24.0, 30.0), asset_rng.uniform(0.85, 1.15)
    labels = list(spec.labels)
    healthy = labels[0]
    rng.shuffle(labels)
    start = pd.Timestamp(date, tz="UTC") + pd.Timedelta(minutes=int(rng.integers(0, 600)))
    parts, offset = [], 0
    for label in labels:
        level = 1.0 if severity == (1.0, 1.0) else float(rng.uniform(*severity))
        rows = round(rows_per_segment * normal_weight) if label == healthy else rows_per_segment
        sig = _segment(label, rows, offset / SAMPLE_RATE_HZ, speed, gain, rng, drift, level)
        frame = pd.DataFrame({c: sig.get(c, rng.normal(0, 1, rows)) for c in spec.channels})
        frame.insert(0, spec.label_column, label)
        parts.append(frame)
        offset += rows
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
    elif kind == "repeated":  # a clock of half the sample rate: every other instant twice, other values
        ts = spec.timestamp_column
        df[ts] = df[ts].where(df.index % 2 == 0, df[ts].shift(1))
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
    severity: tuple[float, float] = (1.0, 1.0),
    normal_weight: float = 1.0,
) -> list[GeneratedFile]:
    """Every file of partition ``dt=<date>``: one Parquet file per asset, plus planted bad files."""
    assert ds.sensor is not None
    files = [
        GeneratedFile(
            f"dt={date}/{asset}.parquet",
            to_parquet(sensor_frame(ds.sensor, ds.name, date, asset, rows_per_segment, drift, severity, normal_weight)),
        )
        for asset in asset_ids(ds.name, assets)
    ]
    for kind in bad:
        asset = f"bad-{kind}"
        frame = sensor_frame(ds.sensor, ds.name, date, asset, rows_per_segment, drift)
        files.append(GeneratedFile(f"dt={date}/{asset}.parquet", plant(kind, frame, ds.sensor), planted=kind))
    return files


def encode_png(gray: np.ndarray, fmt: str = "PNG") -> bytes:
    """A grayscale array (0..255) as image bytes (PNG unless ``fmt`` names another Pillow format)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), mode="L").save(buf, format=fmt)
    return buf.getvalue()


# -- synthetic cast-metal surfaces --------------------------------------------------------------
def surface(rng: np.random.Generator, size: tuple[int, int], brightness: float = 0.0) -> np.ndarray:
    """A cast-metal texture: uneven lighting, casting grain and fine noise, in 0..255."""
    from scipy.ndimage import gaussian_filter

    h, w = size
    low = gaussian_filter(rng.normal(0, 1, (h, w)), sigma=h / 6) * 90
    grain = gaussian_filter(rng.normal(0, 1, (h, w)), sigma=1.2) * 18
    ramp = np.linspace(-12, 12, w)[None, :] * rng.uniform(-1, 1)
    return 132 + brightness + low + grain + ramp + rng.normal(0, 4, (h, w))


def add_defect(img: np.ndarray, label: str, rng: np.random.Generator, severity: float = 1.0) -> np.ndarray:
    """Draw a scratch (a long thin straight bright line), a spot (a dark round pit) or a crack
    (a dark jagged line), with contrast scaled by ``severity``; ``ok`` leaves the surface as it is."""
    out = img.copy()
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w]
    if label == "scratch":
        angle = rng.uniform(0, np.pi)
        cy, cx = rng.uniform(h * 0.3, h * 0.7), rng.uniform(w * 0.3, w * 0.7)
        dist = np.abs((yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle))
        along = np.abs((yy - cy) * np.sin(angle) + (xx - cx) * np.cos(angle))
        out += 70 * severity * np.exp(-(dist**2) / 0.8) * (along < h * 0.38)
    elif label == "spot":
        for _ in range(int(rng.integers(1, 3))):
            cy, cx, r = rng.uniform(10, h - 10), rng.uniform(10, w - 10), rng.uniform(3, 6)
            out -= 85 * severity * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
    elif label == "crack":
        y, x = rng.uniform(h * 0.2, h * 0.8), rng.uniform(w * 0.1, w * 0.3)
        heading = rng.uniform(-0.5, 0.5)
        for _ in range(int(w * 0.7)):
            heading += rng.normal(0, 0.45)
            y, x = y + np.sin(heading), x + np.cos(heading)
            out -= 80 * severity * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 0.7)
    elif label != "ok":
        raise ValueError(f"no drawing for label {label!r}")
    return out


def reference_surface(size: tuple[int, int]) -> np.ndarray:
    """The defect-free surface include/references/cast_metal_ok.png was made from."""
    return np.clip(surface(np.random.default_rng(20261124), size), 0, 255).astype(np.float32)


def image_partition(
    ds: DatasetConfig,
    date: str,
    per_class: int = 30,
    drift: float = 0.0,
    bad: Iterable[str] = (),
    severity: tuple[float, float] = (1.0, 1.0),
    normal_weight: float = 1.0,
) -> list[GeneratedFile]:
    """Partition ``dt=<date>`` in ImageFolder layout: ``dt=<date>/<label>/<name>.png``; the first
    label (defect-free) has ``normal_weight`` times ``per_class`` images."""
    from scipy.ndimage import gaussian_filter

    spec = ds.image
    assert spec is not None
    size = (int(spec.size[0]), int(spec.size[1]))
    files = []
    for label in spec.labels:
        for i in range(round(per_class * normal_weight) if label == spec.labels[0] else per_class):
            rng = _rng(ds.name, date, label, i)
            level = 1.0 if severity == (1.0, 1.0) else float(rng.uniform(*severity))
            gray = add_defect(surface(rng, size, brightness=40.0 * drift), label, rng, level)
            files.append(GeneratedFile(f"dt={date}/{label}/{label}-{i:04d}.png", encode_png(gray)))
    rng = _rng(ds.name, date, "bad")
    good = surface(rng, size)
    for kind in bad:
        name, label, body = f"bad-{kind}.png", spec.labels[0], b""
        if kind == "corrupt":
            body = rng.bytes(2048)
        elif kind == "truncated":
            body = encode_png(good)[:300]
        elif kind == "blank":
            body = encode_png(np.full(size, 128.0))
        elif kind == "overexposed":
            body = encode_png(np.clip(good + 115, 0, 255))
        elif kind == "blurred":
            body = encode_png(gaussian_filter(good, 3.0))
        elif kind == "oversized":
            body = encode_png(np.tile(good, (2, 2)))
        elif kind == "format":
            name, body = "bad-format.bmp", encode_png(good, "BMP")
        elif kind == "duplicate":
            name, body = f"{label}-0000_copy.png", files[0].body  # sorts after the original
        elif kind == "misfiled":
            label, body = "dent", encode_png(good)
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
    from include.retrain import config

    parser = argparse.ArgumentParser(
        prog="python -m devstack.generate",
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
        "--severity",
        type=float,
        nargs=2,
        default=(1.0, 1.0),
        metavar=("LOW", "HIGH"),
        help="scale each fault or defect by a factor drawn from [LOW, HIGH] (default 1 1: all in full; "
        "make run uses 0 1 for sensors, 0.1 1 for images: mild faults overlap with normal data)",
    )
    parser.add_argument(
        "--normal-weight",
        type=float,
        default=1.0,
        help="the healthy class gets this many times the data of each fault (default 1; make run uses 3)",
    )
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
        from .services import stack_from_env

        st = stack_from_env()
        s3, bucket = st.s3_client(), ds.landing.bucket
    for date in args.dates:
        shape = (
            {"assets": args.assets, "rows_per_segment": args.rows_per_segment}
            if ds.modality == "sensor"
            else {"per_class": args.per_class}
        )
        files = partition(
            ds,
            date,
            severity=tuple(args.severity),
            normal_weight=args.normal_weight,
            drift=args.drift,
            bad=bad,
            **shape,
        )
        n = write(files, ds.landing.prefix, out_dir=args.out, s3=s3, bucket=bucket)
        where = f"s3://{bucket}" if args.s3 else str(args.out)
        print(f"{ds.name} dt={date}: {n} files -> {where}/{ds.landing.prefix}/dt={date}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

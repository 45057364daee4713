"""The datasets config (``include/datasets.yaml``): schema, defaults and clear errors.

Every entry is validated on its own, so one bad entry never hides the others.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "datasets.yaml"
# The Ray resource every trial requests: only worker nodes declare it, so no trial lands on the
# head (the local stack, compose and the RayCluster all declare it on their workers).
WORKER_RESOURCE = "retrain-worker"
# Objects that are an export's bookkeeping, not data (Spark/Hadoop markers and checksums, temporary
# folders, hidden files): a landing object with a path segment below the partition that matches
# one of these (fnmatch, case-sensitive) is never copied and is listed as ignored, not as bad.
DEFAULT_LANDING_IGNORE = ("_SUCCESS", "_committed_*", "_started_*", "_temporary", "*.crc", ".*", "_delta_log", "*.tmp")
PROJECT_ROOT = DEFAULT_PATH.parents[1]  # image.reference paths are relative to it
ENV_VAR = "RETRAIN_DATASETS_FILE"


def datasets_file() -> Path:
    """The datasets.yaml in use: ``$RETRAIN_DATASETS_FILE`` if set, else the one in ``include/``.

    The DAG files, the tasks and the Ray jobs all read the same file (Ray jobs inherit the variable).
    """
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
DAG_SAFE = _NAME


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Landing(_Strict):
    conn_id: str = "aws_landing"
    bucket: str
    prefix: str
    ignore: list[str] = Field(default_factory=lambda: list(DEFAULT_LANDING_IGNORE))

    @field_validator("prefix")
    @classmethod
    def _no_slashes_at_ends(cls, v: str) -> str:
        return v.strip("/")


class SensorSpec(_Strict):
    asset_column: str = "asset_id"
    timestamp_column: str = "timestamp"
    label_column: str = "label"
    channels: list[str] = Field(min_length=1)
    labels: list[str] = Field(min_length=2)
    window: int = Field(gt=1, le=100_000)
    stride: int = Field(gt=0)
    # a window never spans a pause between two samples longer than this many median sample intervals
    max_gap: float = Field(default=3.0, gt=1.0)

    @model_validator(mode="after")
    def _stride_within_window(self) -> SensorSpec:
        if self.stride > self.window:
            raise ValueError(f"stride ({self.stride}) must not exceed window ({self.window}): rows would be skipped")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels must be unique")
        return self


class ImageSpec(_Strict):
    size: tuple[int, int]  # height, width every image must have
    # None: any pixel format with a conversion rule (lake/formats.py: 16-bit, palette, alpha, colour)
    # is converted to the 8-bit gray the model sees; "L" or "RGB": images in any other mode are refused
    mode: Literal["L", "RGB"] | None = None
    formats: list[Literal["png", "jpeg"]] = ["png", "jpeg"]
    labels: list[str] = Field(min_length=2)
    reference: str | None = None  # project-relative path of the expert's reference image (for SSIM)
    augment: dict[Literal["hflip", "vflip", "rotate_degrees", "brightness"], float] = Field(default_factory=dict)

    @field_validator("size")
    @classmethod
    def _positive(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 8 or max(v) > 4096:
            raise ValueError(f"size {list(v)} must be [height, width] between 8 and 4096")
        return v


class Validation(_Strict):
    max_bad_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    # a landing object larger than this is rejected at ingest (never copied), like an unsafe key
    max_file_mb: float = Field(default=512.0, gt=0)
    # sensor checks
    min_channel_std: float = Field(default=1e-4, ge=0.0)
    # a channel flatter than min_channel_std: "window" leaves the windows where it is flat out of
    # training and evaluation (counted) and never refuses the file; "file" refuses a file in which
    # it is flat throughout (a dead sensor); "keep" trains on everything
    constant_channel: Literal["window", "file", "keep"] = "window"
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)
    # a run whose new sensor files weigh more than this (MiB) is examined by a Ray job that spreads
    # the files over the cluster's workers; below it, by threads in the validation task, since the
    # job's fixed cost (about 5 s) is more than spreading saves. null: always in the task
    spread_above_mb: float | None = Field(default=1024.0, ge=0)
    # image checks
    min_std: float = Field(default=5.0, ge=0.0)  # below: blank
    min_mean: float = Field(default=15.0, ge=0.0, le=255.0)  # below: under-exposed
    max_mean: float = Field(default=240.0, ge=0.0, le=255.0)  # above: over-exposed
    min_blur: float = Field(default=50.0, ge=0.0)  # variance of the Laplacian; below: blurred
    min_ssim: float = Field(default=0.0, ge=-1.0, le=1.0)  # against image.reference
    min_class_share: float = Field(default=0.0, ge=0.0, le=1.0)  # class balance of a batch
    # a batch with a label under min_class_share: "warn" records it in the report and passes
    # (rare defects are rare), "fail" fails the run
    class_share: Literal["warn", "fail"] = "warn"

    @field_validator("ranges")
    @classmethod
    def _low_below_high(cls, v: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for channel, (low, high) in v.items():
            if low >= high:
                raise ValueError(f"range of {channel!r} is [{low}, {high}]: low must be below high")
        return v


# The hyperparameter search space: name -> a fixed value, or a one-key mapping naming a Ray Tune
# sampler and its arguments, e.g. {"loguniform": [1e-4, 1e-2]}. tune.search_space overrides entries.
DEFAULT_SEARCH_SPACE: dict[str, Any] = {
    "lr": {"loguniform": [5e-4, 5e-3]},
    "width": {"choice": [16, 32, 48]},
    "depth": {"randint": [1, 4]},
    "dropout": {"uniform": [0.0, 0.3]},
    "batch_size": {"choice": [32, 64, 128]},
}
SAMPLERS = ("loguniform", "uniform", "randint", "choice")


def merged_search_space(overrides: dict[str, Any]) -> dict[str, Any]:
    """The default space with ``overrides``; raises ValueError naming an unknown or malformed entry."""
    unknown = set(overrides) - set(DEFAULT_SEARCH_SPACE)
    if unknown:
        raise ValueError(
            f"tune.search_space: unknown hyperparameters {sorted(unknown)} (known: {', '.join(DEFAULT_SEARCH_SPACE)})"
        )
    space = {**DEFAULT_SEARCH_SPACE, **overrides}
    for name, spec in space.items():
        if isinstance(spec, dict) and (len(spec) != 1 or next(iter(spec)) not in SAMPLERS):
            raise ValueError(f"tune.search_space.{name}: use a value or one of {SAMPLERS}, e.g. {{'choice': [1, 2]}}")
    return space


class Split(_Strict):
    """Which unit the holdout holds out (ml/splits.py): ``auto`` decides once from the data and
    records the decision in lakeFS; ``asset`` holds out whole machines; ``time`` holds out blocks
    of ``block_minutes`` of each machine (decided from the data when not given)."""

    unit: Literal["auto", "asset", "time"] = "auto"
    block_minutes: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _block_for_time(self) -> Split:
        if self.block_minutes is not None and self.unit == "asset":
            raise ValueError("block_minutes applies to unit 'time' (or 'auto'), not 'asset'")
        return self


class Tune(_Strict):
    num_samples: int = Field(default=4, ge=1, le=1000)
    # an upper bound: a trial stops earlier when its validation metric has not improved for
    # ``patience`` epochs (0: never); only its own scores stop a trial (jobs/train.search)
    max_epochs: int = Field(default=30, ge=1, le=1000)
    patience: int = Field(default=5, ge=0)
    # what one search trains on at most, in MB of float32 samples: above it a seeded, class-stratified
    # sample of the training split (ml/training.within_budget); recorded in the candidate's params
    train_budget_mb: float = Field(default=512.0, gt=0)
    # "balanced": the loss weighs each class by n_samples / (n_classes * n_class) of the training split
    class_weights: Literal["balanced", "none"] = "balanced"
    cpus_per_trial: float = Field(default=1.0, gt=0)
    gpus_per_trial: float = Field(default=0.0, ge=0)
    # float16 autocast on GPU trials (ignored on the CPU)
    mixed_precision: bool = False
    max_failures: int = Field(default=2, ge=0)
    search_space: dict[str, Any] = Field(default_factory=dict)

    @field_validator("search_space")
    @classmethod
    def _known_space(cls, v: dict[str, Any]) -> dict[str, Any]:
        merged_search_space(v)  # raises ValueError naming the hyperparameter
        return v

    @property
    def space(self) -> dict[str, Any]:
        """The search space of this dataset: the defaults with its overrides."""
        return merged_search_space(self.search_space)


def _approval_default() -> float:
    return float(os.environ.get("RETRAIN_APPROVAL_TIMEOUT_MINUTES", 12 * 60))


class Gate(_Strict):
    # macro-F1 by default: on imbalanced data accuracy passes a model that only knows the majority
    metric: Literal["holdout_accuracy", "holdout_macro_f1"] = "holdout_macro_f1"
    floor: float = Field(ge=0.0, le=1.0)
    max_regression: float = Field(default=0.0, ge=0.0, le=1.0)
    # optional minimum holdout recall per label, e.g. {bearing_fault: 0.8}
    recall_floors: dict[str, float] = Field(default_factory=dict)
    # Intervals of the evidence (release/evidence.py): two-sided level, bootstrap resamples of units.
    confidence: float = Field(default=0.95, ge=0.5, lt=1.0)
    resamples: int = Field(default=2000, ge=200, le=100_000)
    # An inconclusive gate waits this long for a person in the Airflow UI, then keeps the champion.
    # Default: $RETRAIN_APPROVAL_TIMEOUT_MINUTES of the deployment, else 12 h (shorter than a night,
    # so a run waiting for an answer never holds the next night back).
    approval_timeout_minutes: float = Field(default_factory=lambda: _approval_default(), gt=0)
    # What the evaluation reads at most, in MB of float32 holdout samples: the newest nights whose
    # held-out samples fill it (every class at least once); older nights are not read, so the gate's
    # cost stops growing with the history on main (ml/dataset.load_holdout; docs/design-notes.md).
    holdout_budget_mb: float = Field(default=256.0, gt=0)

    @field_validator("recall_floors")
    @classmethod
    def _fractions(cls, v: dict[str, float]) -> dict[str, float]:
        for label, floor in v.items():
            if not 0.0 <= floor <= 1.0:
                raise ValueError(f"recall floor of {label!r} is {floor}: use a fraction between 0 and 1")
        return v


class DatasetConfig(_Strict):
    name: str
    modality: Literal["sensor", "image"]
    description: str = ""
    owner: str = "data-platform"
    schedule: str = "0 2 * * *"
    retries: int = Field(default=2, ge=0)
    # A run still going this long after it was queued raises a deadline alert (it is not stopped).
    deadline_minutes: float = Field(default=180.0, gt=0)
    # Scheduled and manual runs at once; a backfill sets its own (POST /backfills max_active_runs).
    max_active_runs: int = Field(default=1, ge=1)
    landing: Landing
    sensor: SensorSpec | None = None
    image: ImageSpec | None = None
    validation: Validation = Validation()
    split: Split = Split()
    tune: Tune = Tune()
    gate: Gate

    @field_validator("name")
    @classmethod
    def _name_shape(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be lowercase letters, digits and '_', starting with a letter (2-41 chars)")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a cron expression")
        return v

    @model_validator(mode="after")
    def _modality_block(self) -> DatasetConfig:
        if self.modality == "image":
            if self.image is None:
                raise ValueError("modality 'image' needs an 'image' block (size, labels, ...)")
            if self.image.reference and not (PROJECT_ROOT / self.image.reference).is_file():
                raise ValueError(f"image.reference {self.image.reference!r} is not a file of the project")
        if self.modality == "sensor":
            if self.sensor is None:
                raise ValueError("modality 'sensor' needs a 'sensor' block (channels, labels, window, stride)")
            unknown = set(self.validation.ranges) - set(self.sensor.channels)
            if unknown:
                raise ValueError(f"validation.ranges names unknown channels {sorted(unknown)}")
        unknown = set(self.gate.recall_floors) - set(self.labels)
        if unknown:
            raise ValueError(f"gate.recall_floors names unknown labels {sorted(unknown)} (labels: {self.labels})")
        return self

    @property
    def labels(self) -> list[str]:
        spec = self.sensor if self.modality == "sensor" else self.image
        assert spec is not None
        return list(spec.labels)

    @property
    def augment(self) -> dict[str, Any]:
        """The image augmentation policy of the training loop ({} for sensors)."""
        return {str(k): v for k, v in self.image.augment.items()} if self.image else {}

    @property
    def dag_id(self) -> str:
        return f"retrain_{self.name}"

    @property
    def repository(self) -> str:
        return self.name.replace("_", "-")

    @property
    def experiment(self) -> str:
        return f"retrain/{self.name}"

    @property
    def model_name(self) -> str:
        return self.name


class TriggerParams(BaseModel):
    """The trigger form of every retrain DAG (Airflow params), and how the steps read it.

    ``adapters/params.py`` turns each field into an Airflow ``Param`` (type, bounds, description);
    ``{ds.…}`` in a description is filled with the dataset's config. The Ray job commands
    (``jobs/submission.py``) read the same names as ``params.<field>``.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    force_retrain: bool = Field(False, description="Train even when nothing new was merged.")
    force_promote: bool = Field(
        False, description="Promote even if the gate fails; recorded as an override on the version."
    )
    num_samples: int | None = Field(None, ge=1, le=200, description="Ray Tune trials (default {ds.tune.num_samples}).")
    max_epochs: int | None = Field(None, ge=1, le=500, description="Epochs per trial (default {ds.tune.max_epochs}).")
    gpus_per_trial: float | None = Field(
        None, ge=0, description="GPUs per trial, fractional allowed (default {ds.tune.gpus_per_trial})."
    )
    landing_date: str | None = Field(
        None,
        json_schema_extra={"format": "date"},
        description="Ingest this dt=YYYY-MM-DD partition instead of the logical date's.",
    )
    drift_threshold: float = Field(
        0.2, ge=0.0, description="PSI above which a feature counts as drifted (0.2: significant)."
    )
    ingest_only: bool = Field(
        False, description="Ingest, validate and publish only; train on a later run (backfill runs always do)."
    )
    train_label_noise: float = Field(
        0.0,
        ge=0.0,
        le=0.9,
        description="Testing knob: mislabel this fraction of training labels (each moved to the next class).",
    )

    def fingerprint(self, ds: DatasetConfig) -> str:
        """:func:`training_fingerprint` of the training job these params start (seed 0, as its command)."""
        num_samples, max_epochs = self.num_samples or ds.tune.num_samples, self.max_epochs or ds.tune.max_epochs
        gpus = ds.tune.gpus_per_trial if self.gpus_per_trial is None else self.gpus_per_trial
        return training_fingerprint(ds, num_samples, max_epochs, gpus, 0, self.train_label_noise)


# When and how a run happens, not what it trains or how the gate decides: left out of the
# fingerprint (the approval timeout's default also differs between Airflow and Ray processes).
NOT_IN_FINGERPRINT: dict[str, Any] = {
    "description": True,
    "owner": True,
    "schedule": True,
    "retries": True,
    "deadline_minutes": True,
    "max_active_runs": True,
    "landing": True,
    "gate": {"approval_timeout_minutes"},
    "validation": {"spread_above_mb"},  # where files are examined, not what passes
}


def training_fingerprint(
    ds: DatasetConfig, num_samples: int, max_epochs: int, gpus_per_trial: float, seed: int, train_label_noise: float
) -> str:
    """What decides a candidate and its gate besides the data: the dataset's config entry without
    its operational fields (:data:`NOT_IN_FINGERPRINT`) and the training job's knobs, as 16 hex
    digits of a sha256. Equal fingerprints on the same data train the same candidate and reach the
    same decision, so a rejected one need not be trained again (``steps.rejected_on_main_data``)."""
    import hashlib
    import json

    knobs = {
        "num_samples": num_samples,
        "max_epochs": max_epochs,
        "gpus_per_trial": float(gpus_per_trial),
        "seed": seed,
        "train_label_noise": float(train_label_noise),
    }
    entry = ds.model_dump(mode="json", exclude=NOT_IN_FINGERPRINT)
    body = json.dumps({"dataset": entry, "knobs": knobs}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


class ConfigError(ValueError):
    """A datasets.yaml entry is invalid; the message names the entry and the field."""


@dataclass(frozen=True)
class LoadedConfig:
    datasets: list[DatasetConfig]
    errors: dict[str, str]  # entry name (or "#<index>"; "<name>#<index>" when taken) -> message
    error_dags: dict[str, str]  # id of the DAG that shows the error -> message; distinct, valid ids


def _error_dag_ids(problems: list[tuple[int, str, str]], taken: set[str]) -> dict[str, str]:
    """A DAG id for every invalid entry: ``retrain_<name>`` when the name is a valid one nobody
    else has, else ``retrain_config_error_<position>_<name as letters, digits and _>``. An error DAG
    never takes the id of a valid entry's DAG, nor another error DAG's."""
    out: dict[str, str] = {}
    taken = set(taken)
    for index, label, message in problems:
        dag_id = f"retrain_{label}"
        if not DAG_SAFE.match(label) or dag_id in taken:
            slug = re.sub(r"[^a-z0-9_]+", "_", label.lower()).strip("_")[:40] or "entry"
            dag_id = f"retrain_config_error_{index + 1}_{slug}"
        while dag_id in taken:
            dag_id += "_"
        taken.add(dag_id)
        out[dag_id] = message
    return out


def _describe(exc: ValidationError, entry: str) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(entry)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (typo?)"
        parts.append(f"field '{field}': {msg}")
    return f"datasets.yaml: entry '{entry}': " + "; ".join(parts)


def load(path: Path | None = None) -> LoadedConfig:
    """Parse and validate every entry; invalid ones are reported, not raised."""
    path = path or datasets_file()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    entries = raw.get("datasets")
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: top-level key 'datasets' must be a list of entries")
    datasets: list[DatasetConfig] = []
    problems: list[tuple[int, str, str]] = []  # (position, label, message)
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        label = str(entry.get("name")) if isinstance(entry, dict) and entry.get("name") else f"#{i + 1}"
        try:
            ds = DatasetConfig.model_validate(entry)
        except ValidationError as exc:
            problems.append((i, label, _describe(exc, label)))
            continue
        if ds.name in seen:
            message = f"datasets.yaml: entry #{i + 1} '{label}': field 'name': duplicate of an earlier entry"
            problems.append((i, label, message))
            continue
        seen.add(ds.name)
        datasets.append(ds)
    errors: dict[str, str] = {}
    for i, label, message in problems:
        errors[label if label not in errors else f"{label}#{i + 1}"] = message
    return LoadedConfig(datasets, errors, _error_dag_ids(problems, {d.dag_id for d in datasets}))


def get(name: str, path: Path | None = None) -> DatasetConfig:
    """One valid dataset by name, or a ConfigError that says what is wrong with it."""
    loaded = load(path)
    for ds in loaded.datasets:
        if ds.name == name:
            return ds
    if name in loaded.errors:
        raise ConfigError(loaded.errors[name])
    known = ", ".join(d.name for d in loaded.datasets) or "none"
    raise ConfigError(f"datasets.yaml has no dataset '{name}' (valid entries: {known})")

"""The bad-input table: each row is an input and its expected outcome, through the real steps.

Every row lands its files in the real S3 landing zone (moto) and runs the DAG's ingest ->
validate -> publish steps against the real lakeFS. Outcomes:

* ``quarantine``: the bad file is removed from the run branch with its reason in the report; only
  the good files reach main.
* ``reject``: the object is never copied (unsafe key, oversize); reported like a quarantine.
* ``fail``: the run stops with a clear error and main does not move.

In every row nothing is lost: the landing objects are all still there, and bad data never
reaches main. Rows run on their own datasets (repos ``bad-sensor`` / ``bad-image``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pytest

from devstack import generate
from include.retrain import config, steps
from include.retrain.handoffs import RunLineage
from include.retrain.lake import lakefs_io
from tests.integration.conftest import dataset_copy

SENSOR = dataset_copy("pump_fleet", "bad_sensor", max_bad_fraction=0.5, max_file_mb=0.5)
IMAGE = dataset_copy("cast_metal", "bad_image", max_bad_fraction=0.5)


@dataclass
class Row:
    id: str
    ds: config.DatasetConfig
    bad: Callable[[], dict[str, bytes]]  # key below dt=<date>/ -> body (built when the row runs)
    outcome: str  # quarantine | reject | fail | accept
    reason: str  # start of the reason / error message
    good: int = 2  # good files (sensor assets) landed beside the bad ones
    copied: bool = True  # whether ingest copies anything (else no run branch is made)


def _sensor_bad(kind: str) -> bytes:
    (f,) = [f for f in generate.sensor_partition(SENSOR, "2025-01-01", assets=0, bad=[kind]) if f.planted]
    return f.body


def _sensor_good(asset: int = 9) -> bytes:
    files = generate.sensor_partition(SENSOR, "2025-01-01", assets=asset + 1, rows_per_segment=256)
    return files[asset].body


def _truncated_csv() -> bytes:
    text = pd.read_parquet(io.BytesIO(_sensor_good())).to_csv(index=False)
    return text[: len(text) // 2].encode()  # cut mid-line


COPY_OF_FIRST_GOOD = b"@copy"  # replaced by the bytes of the row's first good file


def _image_bad(name: str) -> bytes:
    files = generate.image_partition(IMAGE, "2025-01-01", per_class=1, bad=generate.BAD_IMAGE_KINDS)
    return {f.key.split("/", 1)[1]: f.body for f in files}[name]


ROWS = [
    Row("nan", SENSOR, lambda: {"bad-nan.parquet": _sensor_bad("nan")}, "quarantine", "null values in 'vibration_y'"),
    Row("inf", SENSOR, lambda: {"bad-inf.parquet": _sensor_bad("inf")}, "quarantine", "out of range: 'vibration_x'"),
    Row("dead-sensor", SENSOR, lambda: {"bad-dead.parquet": _sensor_bad("dead")}, "quarantine", "dead sensor"),
    Row("out-of-range", SENSOR, lambda: {"bad-range.parquet": _sensor_bad("range")}, "quarantine", "out of range"),
    Row("wrong-schema", SENSOR, lambda: {"bad-schema.parquet": _sensor_bad("schema")}, "quarantine", "missing columns"),
    Row("unknown-label", SENSOR, lambda: {"bad-label.parquet": _sensor_bad("label")}, "quarantine", "unknown labels"),
    Row("truncated-parquet", SENSOR, lambda: {"cut.parquet": _sensor_bad("truncated")}, "quarantine", "unreadable"),
    Row("truncated-csv", SENSOR, lambda: {"cut.csv": _truncated_csv()}, "quarantine", ""),
    Row("duplicate-file", SENSOR, lambda: {"zz-copy.parquet": COPY_OF_FIRST_GOOD}, "quarantine", "duplicate of dt="),
    Row("key-dotdot", SENSOR, lambda: {"../evil.parquet": _sensor_good()}, "reject", "object key has a '.' or '..'"),
    Row("key-very-long", SENSOR, lambda: {"x" * 930 + ".parquet": _sensor_good()}, "reject", "object key is longer"),
    Row("oversize", SENSOR, lambda: {"huge.parquet": b"\0" * (2**20)}, "reject", "object is 1.0 MiB, above"),
    Row("key-space-unicode", SENSOR, lambda: {"pump 07 ü-ß.parquet": _sensor_good()}, "accept", ""),
    Row("too-many-bad", SENSOR, lambda: {f"bad-{k}.parquet": _sensor_bad(k) for k in ("nan", "dead", "range")}, "fail",
        "validation failed"),
    Row("empty-partition", SENSOR, dict, "fail", "dataset 'bad_sensor': no objects under", good=0, copied=False),
    Row("export-markers-only", SENSOR, lambda: {"_SUCCESS": b"", ".part-0.parquet.crc": b"c", "_committed_1": b"{}"},
        "fail", "dataset 'bad_sensor': only export markers and sidecars under", good=0, copied=False),
    Row("corrupt-image", IMAGE, lambda: {"ok/bad-corrupt.png": _image_bad("ok/bad-corrupt.png")}, "quarantine",
        "image does not decode"),
    Row("truncated-image", IMAGE, lambda: {"ok/bad-truncated.png": _image_bad("ok/bad-truncated.png")}, "quarantine",
        "image does not decode: OSError"),
    Row("image-unknown-label", IMAGE, lambda: {"dent/bad-misfiled.png": _image_bad("dent/bad-misfiled.png")},
        "quarantine", "label folder 'dent' is not one of"),
]  # fmt: skip


def _land(stack, row: Row, date: str, bad: dict[str, bytes]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    if row.good:
        if row.ds.modality == "sensor":
            good = generate.sensor_partition(row.ds, date, assets=row.good, rows_per_segment=256)
        else:
            good = generate.image_partition(row.ds, date, per_class=3)
        files.update({f.key: f.body for f in good})
    first = next(iter(files.values()), b"")
    files.update({f"dt={date}/{k}": first if v == COPY_OF_FIRST_GOOD else v for k, v in bad.items()})
    s3 = stack.s3_client()
    for key, body in files.items():
        s3.put_object(Bucket=row.ds.landing.bucket, Key=f"{row.ds.landing.prefix}/{key}", Body=body)
    return files


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(stack, endpoint, row):
    date = f"2025-02-{ROWS.index(row) + 1:02d}"
    ds, run_id = row.ds, f"badinput__{row.id}"
    lineage = RunLineage(ds.dag_id, run_id, date)
    bad = row.bad()
    landed = _land(stack, row, date, bad)
    clt = lakefs_io.client(endpoint)
    repo = lakefs_io.ensure_repository(clt, ds.repository)
    before = str(repo.branch("main").head.get_commit().id)
    s3 = stack.s3_client()

    if row.outcome == "fail":
        with pytest.raises((steps.ValidationFailed, steps.EmptyPartition)) as err:
            ingested = steps.ingest(ds, s3, date, endpoint, lineage)
            steps.validate(ds, endpoint, ingested, lineage)
        assert row.reason in str(err.value), str(err.value)
        assert str(repo.branch("main").head.get_commit().id) == before, "main moved on a failed run"
        branch = lakefs_io.run_branch_name(ds.dag_id, run_id)
        assert all(key in str(err.value) for key in bad), str(err.value)  # every bad file is named
        # the branch is kept for inspection; when nothing was copied, none was made
        assert lakefs_io.branch_exists(repo, branch) is row.copied
    else:
        ingested = steps.ingest(ds, s3, date, endpoint, lineage)
        report = steps.validate(ds, endpoint, ingested, lineage)
        published = steps.publish_data(ds, endpoint, ingested, report, lineage)
        on_main = {p for p, _, _ in lakefs_io.list_paths(clt, ds.repository, published["commit"], f"data/dt={date}/")}
        good = {f"data/{k}" for k in landed if k.removeprefix(f"dt={date}/") not in bad}
        assert good <= on_main, "a good file was lost"
        bad_paths = {f"data/dt={date}/{k}" for k in bad}
        if row.outcome == "accept":
            assert bad_paths <= on_main
        else:
            assert not bad_paths & on_main, "bad data reached main"
            reasons = {f["path"]: f["reasons"] for f in report["files"] if not f["ok"]}
            for key in bad:
                got = reasons.get(f"dt={date}/{key}") or reasons.get(f"{ds.landing.prefix}/dt={date}/{key}")
                assert got and got[0].startswith(row.reason), (key, reasons)
            if row.outcome == "reject":
                assert not bad_paths & set(ingested["copied_paths"]), "a rejected object was copied"
                assert len(ingested["rejected"]) == len(bad)
    # nothing lost: every landed object is still in the landing zone
    listed = s3.list_objects_v2(Bucket=ds.landing.bucket, Prefix=f"{ds.landing.prefix}/dt={date}/")
    assert {o["Key"] for o in listed.get("Contents", [])} == {f"{ds.landing.prefix}/{k}" for k in landed}


def test_a_config_entry_with_a_typo_is_refused_with_its_field(tmp_path):
    text = (config.DEFAULT_PATH).read_text().replace("num_samples: 4", "num_sampels: 4", 1)
    (tmp_path / "datasets.yaml").write_text(text)
    loaded = config.load(tmp_path / "datasets.yaml")
    assert "field 'tune.num_sampels': unknown field (typo?)" in loaded.errors["pump_fleet"]
    assert [d.name for d in loaded.datasets] == ["cast_metal"]  # the other entry still loads

"""A night's shard key (ml/derived.py) changes with everything that decides its samples: the
night's files, the spec, the split unit, and the code and libraries that cut them."""

from __future__ import annotations

import shutil

from include.retrain import config
from include.retrain.ml import derived, splits


def test_the_key_follows_the_files_the_spec_and_the_split_unit():
    ds = config.get("pump_fleet")
    assert ds.sensor is not None
    by_asset = splits.SplitPlan("asset", None, "test", "c0")
    files = {"data/dt=2026-10-01/a.parquet": "aa", "data/dt=2026-10-01/b.parquet": "bb"}
    key = derived.shard_key(ds, by_asset, files)
    assert derived.shard_key(ds, by_asset, dict(reversed(files.items()))) == key  # listing order is no input
    assert derived.shard_key(ds, by_asset, {**files, "data/dt=2026-10-01/b.parquet": "b2"}) != key
    assert derived.shard_key(ds, by_asset, {**files, "data/dt=2026-10-01/c.parquet": "cc"}) != key
    restrided = ds.model_copy(update={"sensor": ds.sensor.model_copy(update={"stride": ds.sensor.stride // 2})})
    assert derived.shard_key(restrided, by_asset, files) != key
    assert derived.shard_key(ds, splits.SplitPlan("time", 60.0, "test", "c0"), files) != key
    assert derived.shard_key(ds, splits.SplitPlan("time", 600.0, "test", "c0"), files) not in (
        key,
        derived.shard_key(ds, splits.SplitPlan("time", 60.0, "test", "c0"), files),
    )


def test_a_change_to_the_code_that_cuts_samples_changes_every_key_and_a_change_to_its_docs_does_not(tmp_path):
    for module in derived.CUTTING_MODULES:
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(derived.PACKAGE / module, tmp_path / module)
    assert derived.code_fingerprint(tmp_path) == derived.code_fingerprint()
    features = tmp_path / "ml" / "features.py"
    source = features.read_text()
    redocumented = source.replace('"""Fixed-length windows', '"""Windows of a fixed length', 1)
    line = "    xs, ys, keys = [], [], []"
    redocumented = redocumented.replace(f"{line}\n", f"{line}  # a comment\n", 1)
    assert redocumented.count("a comment") == 1 and "Windows of a fixed length" in redocumented
    features.write_text(redocumented)
    derived.code_fingerprint.cache_clear()  # a process hashes its code once; this one "restarts"
    assert derived.code_fingerprint(tmp_path) == derived.code_fingerprint()  # docs and comments only: no recut
    features.write_text(source.replace("spec.window + 1, spec.stride)", "spec.window, spec.stride)", 1))
    assert features.read_text() != source
    derived.code_fingerprint.cache_clear()
    assert derived.code_fingerprint(tmp_path) != derived.code_fingerprint()

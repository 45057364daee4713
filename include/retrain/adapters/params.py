"""The trigger form of a retrain DAG: ``config.TriggerParams`` as Airflow ``Param`` objects."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from ..config import DatasetConfig, TriggerParams


def trigger_params(ds: DatasetConfig) -> dict[str, Param]:
    """One ``Param`` per field of :class:`TriggerParams`: its default, JSON-schema type and bounds, and
    its description with ``{ds.…}`` filled from the dataset (e.g. its default number of trials)."""
    out = {}
    for name, schema in TriggerParams.model_json_schema()["properties"].items():
        spec: dict[str, Any] = {k: v for k, v in schema.items() if k not in ("title", "anyOf", "default")}
        for option in schema.get("anyOf", []):  # "X or null" -> type [null, X] with X's bounds
            if option.get("type") != "null":
                spec.update({k: v for k, v in option.items() if k != "type"})
                spec["type"] = ["null", option["type"]]
        spec["description"] = spec["description"].format(ds=ds)
        out[name] = Param(schema.get("default"), **spec)
    return out

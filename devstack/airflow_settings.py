"""Read ``airflow_settings.yaml`` (astro-cli schema) and fill its ``${NAME}`` placeholders."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

_PLACEHOLDER = re.compile(r"\$\{([A-Z0-9_]+)\}")


class AirflowSettingsError(ValueError):
    """airflow_settings.yaml is malformed or names an unknown placeholder."""


def _fill(value: Any, values: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                known = ", ".join(sorted(values))
                raise AirflowSettingsError(f"{where}: unknown placeholder ${{{name}}} (known: {known})")
            return values[name]

        return _PLACEHOLDER.sub(sub, value)
    if isinstance(value, dict):
        return {k: _fill(v, values, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def load(path: Path, values: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Parse the settings file and fill placeholders.

    Returns:
        ``{"connections": [...], "pools": [...], "variables": [...]}`` in astro-cli form.
    """
    raw = yaml.safe_load(path.read_text()) or {}
    section = raw.get("airflow")
    if not isinstance(section, dict):
        raise AirflowSettingsError(f"{path}: top-level key 'airflow' is missing")
    out: dict[str, list[dict[str, Any]]] = {}
    required = {"connections": "conn_id", "pools": "pool_name", "variables": "variable_name"}
    for kind, key in required.items():
        items = section.get(kind) or []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not item.get(key):
                raise AirflowSettingsError(f"{path}: airflow.{kind}[{i}] needs '{key}'")
        out[kind] = _fill(items, values, f"{path.name}: airflow.{kind}")
    return out


def connection_body(conn: Mapping[str, Any]) -> dict[str, Any]:
    """An astro-cli connection entry as the body of Airflow's REST API."""
    extra = conn.get("conn_extra")
    return {
        "connection_id": conn["conn_id"],
        "conn_type": conn.get("conn_type") or "generic",
        "host": conn.get("conn_host") or None,
        "schema": conn.get("conn_schema") or None,
        "login": conn.get("conn_login") or None,
        "password": conn.get("conn_password") or None,
        "port": conn.get("conn_port") or None,
        "extra": json.dumps(extra) if isinstance(extra, dict) else extra,
    }


def connection_env(conn: Mapping[str, Any]) -> tuple[str, str]:
    """An astro-cli connection entry as an ``AIRFLOW_CONN_<ID>`` variable (JSON form)."""
    body = connection_body(conn)
    doc = {k: v for k, v in body.items() if k != "connection_id" and v is not None}
    if "extra" in doc:
        doc["extra"] = json.loads(doc["extra"])
    return f"AIRFLOW_CONN_{conn['conn_id'].upper()}", json.dumps(doc)

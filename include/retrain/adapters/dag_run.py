"""What a task reads off its DAG run: its lineage, the landing partition it ingests, its kind."""

from __future__ import annotations

from typing import Any

from ..config import TriggerParams
from ..handoffs import RunLineage


def lineage(dag_run: Any) -> RunLineage:
    """The run as lakeFS commit metadata and MLflow tags name it."""
    return RunLineage(dag_run.dag_id, dag_run.run_id, str(dag_run.logical_date or dag_run.run_after))


def partition_date(params: TriggerParams, dag_run: Any) -> str:
    """The ``dt=`` partition a run ingests: ``landing_date`` if given, else the run's logical date.

    A run for the data interval [D 02:00, D+1 02:00) has logical date D, so it ingests dt=D.
    """
    when = dag_run.logical_date or dag_run.run_after
    return params.landing_date or when.strftime("%Y-%m-%d")


def is_backfill(dag_run: Any) -> bool:
    return str(getattr(dag_run.run_type, "value", dag_run.run_type)) == "backfill"

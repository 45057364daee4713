"""The deadline reference of the retrain DAGs: when the run was queued.

Airflow 3.3's own ``DeadlineReference.DAGRUN_QUEUED_AT`` breaks Clear: clearing a run or task
whose queued-at deadline is still pending answers HTTP 500 (``TypeError: unsupported type for
timedelta seconds component: dict`` in ``_recalculate_dagrun_queued_at_deadlines``;
apache/airflow#70368, fix #70370 not released). That path only touches the built-in reference,
so this one, registered by the project's plugin, measures the same thing and leaves Clear alone.

The deadline counts from when the run was first queued: a Clear does not restart it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk.definitions.deadline import BaseDeadlineReference


class RunQueuedAt(BaseDeadlineReference):
    """``DagRun.queued_at`` of the run, read by the scheduler when it creates the run."""

    required_kwargs = {"dag_id", "run_id"}

    def _evaluate_with(self, *, session: Any, **kwargs: Any) -> datetime | None:
        from airflow.models import DagRun  # core: only where the scheduler evaluates it
        from sqlalchemy import select

        query = select(DagRun.queued_at).where(DagRun.dag_id == kwargs["dag_id"], DagRun.run_id == kwargs["run_id"])
        return session.scalar(query)

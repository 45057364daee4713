"""A datasets.yaml entry that does not validate becomes a DAG of its own that shows the error.

The DAG is paused, tagged ``config-error``, and its one task raises the message; the valid entries
are not affected. It is replaced by the real DAG at the next parse after the entry is fixed.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, dag, task


def config_error_dag(dag_id: str, message: str) -> DAG:
    """A paused DAG that shows (and raises) a datasets.yaml error without breaking the valid entries."""

    @dag(
        dag_id=dag_id,
        doc_md=f"### Invalid datasets.yaml entry\n\n```\n{message}\n```\n\nFix the entry; "
        "this DAG is replaced by the real one at the next parse.",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        is_paused_upon_creation=True,
        tags=["retrain", "config-error"],
        default_args={"owner": "data-platform", "retries": 1},
    )
    def invalid() -> None:
        @task(retries=0)
        def config_error() -> None:
            raise ValueError(message)

        config_error()

    return invalid()

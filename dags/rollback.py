"""
### Manual recovery: `rollback_model` and `revert_data`

**rollback_model** moves a model's `champion` alias back to an earlier version -- a given number, or
`previous` (the newest version the gate promoted before the current champion). It records who, why
and when as tags on the version, and refuses versions that do not exist.

**revert_data** creates a lakeFS revert commit on `main` of a dataset's repository, undoing one commit
(a merge of a run, for instance), with the reason and the user in its metadata. Downstream runs then
train on the reverted state.

Both run only when triggered from the UI (or the API) with a reason.
"""

# TaskFlow calls return XComArgs where the functions declare values: not a mypy-able contract.
# mypy: disable-error-code="call-arg,arg-type"
from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import Param, dag, task

from include.retrain import config

_DATASETS = [d.name for d in config.load().datasets]
# Both DAGs: manual only, one at a time, documented by this module's docstring.
_MANUAL: dict[str, Any] = {
    "doc_md": __doc__,
    "schedule": None,
    "start_date": datetime(2026, 1, 1),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": {"owner": os.environ.get("RETRAIN_OWNER", "data-platform"), "retries": 1},
    "tags": ["retrain", "operations"],
}


def _dataset_param(what: str) -> Param:
    return Param(_DATASETS[0] if _DATASETS else "", enum=_DATASETS or [""], description=f"Whose {what}.")


def _who(dag_run: Any) -> str:
    return str(getattr(dag_run, "triggering_user_name", None) or "unknown")


@dag(
    dag_id="rollback_model",
    **_MANUAL,
    params={
        "dataset": _dataset_param("model"),
        "version": Param(
            "previous",
            type="string",
            pattern=r"^(previous|[0-9]+)$",
            description="Registry version to make champion, or 'previous'.",
        ),
        "reason": Param("", type="string", minLength=5, description="Why (recorded on the version)."),
    },
)
def rollback_model() -> None:
    @task  # idempotent (an alias move); a refusal fails without retry
    def move_champion(params: dict[str, Any], dag_run: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from include.retrain.adapters.connections import mlflow_url
        from include.retrain.release import registry

        ds = config.get(params["dataset"])
        try:
            return registry.rollback(
                mlflow_url(), ds.model_name, str(params["version"]), params["reason"], _who(dag_run)
            )
        except registry.RollbackRefused as exc:
            raise AirflowFailException(f"rollback refused: {exc}") from exc

    move_champion()


@dag(
    dag_id="revert_data",
    **_MANUAL,
    params={
        "dataset": _dataset_param("data"),
        "commit": Param("", type="string", minLength=8, description="lakeFS commit id on main to revert."),
        "reason": Param("", type="string", minLength=5, description="Why (recorded in the commit metadata)."),
    },
)
def revert_data() -> None:
    @task(pool="lakefs_merge")  # idempotent: a retry finds its own revert commit
    def revert_commit(params: dict[str, Any], dag_run: Any) -> dict[str, str]:
        from include.retrain.adapters.connections import lakefs_endpoint
        from include.retrain.adapters.dag_run import lineage
        from include.retrain.lake import lakefs_io

        ds = config.get(params["dataset"])
        metadata = {
            "revert.reason": params["reason"],
            "revert.by": _who(dag_run),
            "revert.commit": params["commit"],
            **lineage(dag_run).commit_metadata(),
        }
        head = lakefs_io.revert_on_main(lakefs_io.client(lakefs_endpoint()), ds.repository, params["commit"], metadata)
        return {"repository": ds.repository, "reverted": params["commit"], "commit": head}

    revert_commit()


rollback_model()
revert_data()

"""Extra links on task instances: from a task to the lakeFS branch, diff or commit and the MLflow
run or model version it produced (the URLs themselves come from ``urls.py``).

Airflow 3 computes a link in the worker when the task finishes (success or failure) and stores
it as an XCom, which the API server serves at ``.../taskInstances/{task}/links``. A TaskFlow
``@task`` cannot carry links, so the linked tasks use ``tasks.linked_task``, a ``@task`` whose
operator class has them, and ``RayJobOperator`` mixes in :class:`LinksMixin`. The link classes
are registered by the plugin in ``plugins/retrain.py``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import attrs
from airflow.sdk import BaseOperatorLink

from .. import urls
from ..lake import lakefs_io

log = logging.getLogger(__name__)


@attrs.define
class RetrainLink(BaseOperatorLink):
    """One named link; reads the URL the operator recorded under that name when the task ended."""

    link_name: str

    @property
    def name(self) -> str:
        return self.link_name

    @property
    def xcom_key(self) -> str:
        return "_link_retrain_" + re.sub(r"[^a-z0-9]+", "_", self.link_name.lower()).strip("_")

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return str(getattr(operator, "retrain_links", {}).get(self.name, ""))


LINKS: dict[str, RetrainLink] = {name: RetrainLink(name) for name in urls.ALL}


class LinksMixin:
    """Gives an operator the extra links ``links`` (names from :mod:`include.retrain.urls`)."""

    retrain_links: dict[str, str]

    def _set_links(self, names: tuple[str, ...], repository: str | None) -> None:
        unknown = [n for n in names if n not in LINKS]
        if unknown:
            raise ValueError(f"unknown extra links {unknown}; known: {', '.join(LINKS)}")
        if names and not repository:
            raise ValueError("extra links need the lakeFS repository (link_repository=...)")
        self.link_names = tuple(names)
        self.link_repository = repository or ""
        self.retrain_links = {}
        # An instance attribute: the serializer stores each task's own links (name and XCom key).
        setattr(self, "operator_extra_links", tuple(LINKS[n] for n in names))  # noqa: B010

    def _linked(self, context: Any, run: Callable[[], Any]) -> Any:
        """``run()``, then record the links, also when it raised (a failed validation links its branch)."""
        result, failed = None, True
        try:
            result = run()
            failed = False
            return result
        finally:
            self._record_links(context, result, failed)

    def _record_links(self, context: Any, result: Any, failed: bool) -> None:
        """Best effort: a link must never fail the task it decorates."""
        if not self.link_names:
            return
        from .connections import LAKEFS_CONN, MLFLOW_CONN, ui_url

        try:
            ti = context["ti"]
            self.retrain_links = urls.task_links(
                self.link_names,
                lakefs_url=ui_url(LAKEFS_CONN),
                mlflow_url=ui_url(MLFLOW_CONN),
                repository=self.link_repository,
                branch=lakefs_io.run_branch_name(ti.dag_id, ti.run_id),
                report=f"{lakefs_io.report_prefix(ti.dag_id, ti.run_id)}/validation.json",
                result=result if isinstance(result, dict) else None,
                failed=failed,
            )
        except Exception as exc:
            log.warning("could not compute the extra links: %s", exc)

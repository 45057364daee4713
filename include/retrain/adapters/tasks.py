"""Task decorators of the retrain DAGs, beside TaskFlow's own.

* :func:`linked_task`: a ``@task`` with extra links to lakeFS and MLflow (a plain ``@task``
  cannot carry links).
* :func:`routed_task`: a ``@task`` whose typed result is handed on like any other, and which also
  follows one branch chosen from it (``@task.branch`` returns only the branch's task id).
* :func:`routed_linked_task`: both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.providers.standard.operators.branch import BranchMixIn
from airflow.sdk.bases.decorator import task_decorator_factory
from airflow.sdk.bases.xcom import BaseXCom

from .extra_links import LinksMixin


class LinkedPythonOperator(LinksMixin, _PythonDecoratedOperator):
    """The operator behind :func:`linked_task`."""

    custom_operator_name = "@task"

    def __init__(self, *, links: tuple[str, ...] = (), link_repository: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._set_links(links, link_repository)

    def execute(self, context: Any) -> Any:
        return self._linked(context, lambda: super(LinkedPythonOperator, self).execute(context))


def linked_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@task`` with extra links: ``@linked_task(links=(links.LAKEFS_BRANCH,), link_repository=repo)``."""
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=LinkedPythonOperator, **kwargs
    )


class RoutedPythonOperator(_PythonDecoratedOperator, BranchMixIn):
    """The operator behind :func:`routed_task`: returns its callable's result, and branches on ``route(result)``."""

    custom_operator_name = "@task.branch"
    inherits_from_skipmixin = True  # tells the scheduler this task may skip its downstream

    def __init__(self, *, route: Callable[[Any], str | list[str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route = route

    def execute(self, context: Any) -> Any:
        result = super().execute(context)
        # Branching ends execute with DownstreamTasksSkipped, so the task runner never pushes the
        # return value: push it here, where downstream tasks pull it from.
        context["ti"].xcom_push(key=BaseXCom.XCOM_RETURN_KEY, value=result)
        self.do_branch(context, self.route(result))
        return result


def routed_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@routed_task(route=lambda d: "promote" if d["promote"] else "reject")``: the task's result goes
    to XCom as it is, and only the downstream task named by ``route(result)`` runs."""
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=RoutedPythonOperator, **kwargs
    )


class RoutedLinkedPythonOperator(LinksMixin, RoutedPythonOperator):
    """The operator behind :func:`routed_linked_task`: links recorded from the result, then the branch."""

    def __init__(self, *, links: tuple[str, ...] = (), link_repository: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._set_links(links, link_repository)

    def execute(self, context: Any) -> Any:
        result = self._linked(context, lambda: _PythonDecoratedOperator.execute(self, context))
        context["ti"].xcom_push(key=BaseXCom.XCOM_RETURN_KEY, value=result)
        self.do_branch(context, self.route(result))
        return result


def routed_linked_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@routed_task`` with extra links: ``@routed_linked_task(route=..., links=(...), link_repository=repo)``."""
    return task_decorator_factory(
        python_callable=python_callable, decorated_operator_class=RoutedLinkedPythonOperator, **kwargs
    )

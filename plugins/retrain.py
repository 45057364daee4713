"""The retrain DAGs' Airflow plugin: the lakeFS and MLflow extra links, the deadline reference, and
the "Retraining" cockpit (a FastAPI app on the api-server, shown in the UI's navigation)."""

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from include.retrain.adapters.deadlines import RunQueuedAt
from include.retrain.adapters.extra_links import LINKS
from include.retrain.urls import COCKPIT


class LazyCockpit:
    """The cockpit's ASGI app, imported on its first request.

    Every Airflow process that loads plugins (task processes too) imports this file; only the
    api-server ever serves the cockpit, so only it pays for importing FastAPI and the app.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from include.retrain.adapters.cockpit import app

            self._app = app
        await self._app(scope, receive, send)

    def __repr__(self) -> str:
        return "include.retrain.adapters.cockpit:app"


class RetrainPlugin(AirflowPlugin):
    name = "retrain"
    operator_extra_links = list(LINKS.values())
    deadline_references = [RunQueuedAt]
    fastapi_apps = [{"app": LazyCockpit(), "url_prefix": COCKPIT, "name": "Retraining cockpit"}]
    # the page inside the Airflow UI (Airflow frames it under /plugin/retraining), in the top navigation
    external_views = [
        {
            "name": "Retraining",
            "href": f"{COCKPIT}/",
            "destination": "nav",
            "url_route": "retraining",
            "nav_top_level": True,
        }
    ]

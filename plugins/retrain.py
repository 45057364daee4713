"""The retrain DAGs' Airflow plugin: the lakeFS and MLflow extra links, the deadline reference, and
the "Retraining" cockpit (a FastAPI app on the api-server, shown in the UI's navigation)."""

import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from include.retrain.adapters.deadlines import RunQueuedAt
from include.retrain.adapters.extra_links import LINKS
from include.retrain.urls import COCKPIT


class LazyCockpit:
    """The cockpit's ASGI app, imported when the api-server starts (see ``WarmUp``) or on its first
    request. Every Airflow process that loads plugins (task processes too) imports this file; only
    the api-server serves the cockpit, so only it pays for importing FastAPI, the app and Matplotlib.
    """

    def __init__(self) -> None:
        self._app: Any = None

    def load(self) -> Any:
        if self._app is None:
            from include.retrain.adapters.cockpit import app, warm_up

            warm_up()
            self._app = app
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.load()(scope, receive, send)

    def __repr__(self) -> str:
        return "include.retrain.adapters.cockpit:app"


COCKPIT_APP = LazyCockpit()


class WarmUp:
    """A pass-through middleware of the api-server whose only job is to start loading the cockpit in
    the background when the server starts (Starlette builds its middlewares then), so the first
    person to open it does not wait for the imports."""

    def __init__(self, app: Any) -> None:
        self.app = app
        threading.Thread(target=COCKPIT_APP.load, name="cockpit-warm-up", daemon=True).start()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class RetrainPlugin(AirflowPlugin):
    name = "retrain"
    operator_extra_links = list(LINKS.values())
    deadline_references = [RunQueuedAt]
    fastapi_apps = [{"app": COCKPIT_APP, "url_prefix": COCKPIT, "name": "Retraining cockpit"}]
    fastapi_root_middlewares = [{"middleware": WarmUp, "name": "Retraining cockpit warm-up"}]
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

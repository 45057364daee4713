"""The retrain DAGs' Airflow plugin: the lakeFS and MLflow extra links, and the deadline reference."""

from airflow.plugins_manager import AirflowPlugin

from include.retrain.adapters.deadlines import RunQueuedAt
from include.retrain.adapters.extra_links import LINKS


class RetrainPlugin(AirflowPlugin):
    name = "retrain"
    operator_extra_links = list(LINKS.values())
    deadline_references = [RunQueuedAt]

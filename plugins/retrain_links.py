"""Registers the lakeFS and MLflow extra links of the retraining tasks with Airflow."""

from airflow.plugins_manager import AirflowPlugin

from include.retrain.adapters.extra_links import LINKS


class RetrainLinksPlugin(AirflowPlugin):
    name = "retrain_links"
    operator_extra_links = list(LINKS.values())

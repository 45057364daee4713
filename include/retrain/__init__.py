"""Batch retraining on Airflow 3, lakeFS, Great Expectations, Ray Tune and MLflow.

Modules are imported relative to each other, so the package works both as
``include.retrain`` (Airflow, with the project root on PYTHONPATH) and inside
a Ray job that ships the ``include`` folder.
"""

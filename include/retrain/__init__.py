"""The product: batch retraining on Airflow 3, lakeFS, Great Expectations, Ray Tune and MLflow.

Everything that runs inside Airflow tasks and Ray jobs, and all a Ray job ships. One folder per
stage of the flow; imports only run down this list (import-linter, ``make lint``):

    adapters/        the only Airflow imports: connections, trigger params, task decorators,
                     the Ray job operator and its trigger, extra links, notes, alerts
    steps.py         the steps of one night as plain functions   (smoke_steps.py: the smoke DAG's)
    summary.py       the run summary
    jobs/            Ray job entrypoints (train, evaluate, fanout) and how they are submitted
    ml/ release/ quality/   data and models; gate and registry; validation and drift
    lake/            lakeFS branches, commits and merges; ingest; the contract's file formats
    config.py handoffs.py urls.py   datasets.yaml schema; typed task results; UI URLs

Modules import each other relatively, so the package works both as ``include.retrain`` (Airflow,
with the project root on PYTHONPATH) and inside a Ray job that ships the ``include`` folder. The
dev stack (``devstack/``) is never imported from here.
"""

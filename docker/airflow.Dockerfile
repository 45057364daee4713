# Airflow 3.3 with the retraining DAGs baked in: api-server, scheduler, dag-processor, triggerer
# and workers all run this image (compose.yaml, or the official Helm chart: k8s/airflow-values.yaml).
# Build from the repository root:  docker build -f docker/airflow.Dockerfile -t retrain-airflow .
FROM apache/airflow:3.3.2-python3.11

# The lock, so the image runs exactly what the tests ran. apache-airflow itself is pinned to the
# image's version by the same lock (pip keeps it).
COPY --chown=airflow:0 constraints.txt docker/requirements-airflow.txt /opt/retrain/
RUN pip install --no-cache-dir -r /opt/retrain/requirements-airflow.txt -c /opt/retrain/constraints.txt \
    && pip check

COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 airflow_settings.yaml /opt/airflow/

# `include` is imported as a package by the DAGs, the plugin and the triggerer.
ENV PYTHONPATH=/opt/airflow \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    GX_ANALYTICS_ENABLED=false

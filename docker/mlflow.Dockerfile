# The MLflow tracking server of compose.yaml: the official image plus the Postgres driver, boto3
# (artifacts on MinIO) and Flask-WTF (the basic-auth app) at the lock's versions.
FROM ghcr.io/mlflow/mlflow:v3.17.2

COPY constraints.txt /opt/retrain/constraints.txt
RUN pip install --no-cache-dir -c /opt/retrain/constraints.txt psycopg2-binary boto3 Flask-WTF

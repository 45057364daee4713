"""The "Retraining" cockpit: every dataset's nights, data quality, drift and models, read from Airflow and MLflow."""

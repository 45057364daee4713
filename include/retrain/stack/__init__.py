"""The local stack: real lakeFS, MLflow, S3 (moto), Ray and Airflow on loopback.

``python -m include.retrain.stack up|down|status|run`` (wrapped by the Makefile).
"""

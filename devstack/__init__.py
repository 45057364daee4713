"""The dev stack: everything that is not the product.

The local stack manager (real lakeFS, MLflow, S3 (moto), Ray and Airflow on loopback), the
sample-data generator, the ``make run`` / ``make smoke`` drivers and the Airflow REST client the
tests and benches use. ``python -m devstack up|down|status|run|smoke|reproduce`` (wrapped by the
Makefile). The product (``include/retrain``) never imports this package (import-linter, ``make lint``).
"""

"""Airflow adapters: the only modules of the package that import Airflow."""

"""Ray job entrypoints (run inside the Ray cluster, never in Airflow)."""

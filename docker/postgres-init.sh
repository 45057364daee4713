#!/bin/bash
# First start of the compose Postgres: one database and role per service.
set -euo pipefail
for svc in airflow lakefs mlflow; do
  var="POSTGRES_${svc^^}_PASSWORD"
  psql -v ON_ERROR_STOP=1 --username postgres \
    -v name="$svc" -v pass="${!var}" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'pass';
CREATE DATABASE :"name" OWNER :"name";
SQL
done
# MLflow's basic-auth user store, owned by the mlflow role
psql -v ON_ERROR_STOP=1 --username postgres -c 'CREATE DATABASE mlflow_auth OWNER mlflow;'

#!/usr/bin/env bash
# Runs once, when the postgres volume is still empty (/docker-entrypoint-initdb.d of the
# official postgres image): one server, one database per concern.
#   airflow   Airflow's metadata DB (and the Celery result backend), owned by role airflow
#   gospulse  the serving warehouse: the marts published by the daily DAG, owned by role gospulse
#   bi        a read-only login for Superset/Metabase on the gospulse database
# Passwords come from the container's environment (.env); psql quotes them (:'var').
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD in .env}"
: "${GOSPULSE_PG_PASSWORD:?set GOSPULSE_PG_PASSWORD in .env}"
: "${BI_DB_PASSWORD:?set BI_DB_PASSWORD in .env}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  --set airflow_pw="${AIRFLOW_DB_PASSWORD}" \
  --set gospulse_pw="${GOSPULSE_PG_PASSWORD}" \
  --set bi_pw="${BI_DB_PASSWORD}" <<'SQL'
create role airflow login password :'airflow_pw';
create database airflow owner airflow;
revoke all on database airflow from public;
create role gospulse login password :'gospulse_pw';
create database gospulse owner gospulse;
create role bi login password :'bi_pw';
revoke all on database gospulse from public;
grant connect on database gospulse to bi;

\connect gospulse
-- every publication swaps in new schemas (marts__next -> marts) and new tables, so grants on
-- today's objects would not survive the next run: grant on whatever role gospulse creates
alter default privileges for role gospulse grant usage on schemas to bi;
alter default privileges for role gospulse grant select on tables to bi;
SQL

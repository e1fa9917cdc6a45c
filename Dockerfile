# syntax=docker/dockerfile:1
# gospulse on the official Airflow image: every Airflow service in docker-compose.yml runs it.
#
# No Docker engine runs where gospulse is developed and tested: this file is checked by
# tests/test_compose.py (base image matches the locked Airflow, install from uv.lock, the
# manifest step, the paths the code reads), not built in CI.
#
#   docker build -t gospulse-airflow:local .      (docker compose build does the same)

# The tag must name the apache-airflow version pinned in uv.lock (tests/test_compose.py checks)
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11

# uv at the version `make env` pins, in a throw-away stage: it reads uv.lock exactly as
# development does, and it is only mounted into the steps below, never left in the image.
FROM ${AIRFLOW_IMAGE} AS uv
RUN PIP_USER=false pip install --no-cache-dir --target /tmp/uv "uv==0.13.9"

FROM ${AIRFLOW_IMAGE}

# Writable places owned by the image's airflow user (uid 50000, gid 0): a named volume mounted
# on an image directory starts as a copy of it, ownership included.
USER root
RUN mkdir -p /opt/gospulse/warehouse/bundles /opt/gospulse/registry /opt/airflow/auth \
    && chown -R airflow:0 /opt/gospulse /opt/airflow/auth \
    && chmod 0770 /opt/airflow/auth
USER airflow
WORKDIR /opt/gospulse

# The official image keeps Airflow in a virtualenv at ~/.local (its VIRTUAL_ENV). `uv sync`
# into that same environment makes it exactly uv.lock: the locked versions, verified against
# the lock's hashes, and nothing else (uv removes what the lock does not name, e.g. the
# image's extra providers). So production runs the environment the tests ran, not Airflow's
# constraints file plus whatever pip resolved on top.
ENV UV_PROJECT_ENVIRONMENT=/home/airflow/.local \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1

# dependencies first, in their own layer: rebuilt only when the lock changes
COPY --chown=airflow:0 pyproject.toml uv.lock ./
RUN --mount=from=uv,source=/tmp/uv,target=/tmp/uv \
    /tmp/uv/bin/uv sync --frozen --no-dev --no-install-project

# then the project. Installed editable like `make env` does: the code finds dbt_project/ and
# dags/ next to its package, so /opt/gospulse has the same layout as a checkout.
COPY --chown=airflow:0 README.md ./
COPY --chown=airflow:0 gospulse/ gospulse/
COPY --chown=airflow:0 extractors/ extractors/
COPY --chown=airflow:0 expectations/ expectations/
COPY --chown=airflow:0 dbt_project/ dbt_project/
COPY --chown=airflow:0 dags/ dags/
COPY --chown=airflow:0 registry/ registry/
RUN --mount=from=uv,source=/tmp/uv,target=/tmp/uv \
    /tmp/uv/bin/uv sync --frozen --no-dev

# Paths of the shared contract; docker-compose.yml mounts the warehouse volume and the registry
# on them. Set here too so `docker run` of the image alone behaves the same.
ENV GOSPULSE_WAREHOUSE=/opt/gospulse/warehouse/gospulse.duckdb \
    GOSPULSE_BUNDLE_DIR=/opt/gospulse/warehouse/bundles \
    GOSPULSE_FEDERAL_WAREHOUSE=/opt/gospulse/warehouse/federal.duckdb \
    GOSPULSE_REGISTRY=/opt/gospulse/registry \
    GOSPULSE_DBT_PROJECT_DIR=/opt/gospulse/dbt_project \
    GOSPULSE_DBT_MANIFEST=/opt/gospulse/dbt_project/target/manifest.json \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/gospulse/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=false

# The DAG renders each dbt model as a task from this manifest; parsing the project once here
# means no scheduler or dag-processor ever runs dbt to parse a DAG file.
RUN gospulse dbt manifest && test -s "${GOSPULSE_DBT_MANIFEST}"

# Fail the build, not the first container start, when the environment cannot open Airflow's
# Postgres metadata DB: Airflow also builds an async engine from that URL (asyncpg), and an
# import error there would stop every service. No connection is made by this import.
RUN AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg2://build-check@localhost/airflow \
    python -c "import airflow.settings"

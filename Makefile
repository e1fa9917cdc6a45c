# Two commands for a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# uv lives in its own small venv so that `uv sync` never removes itself from the project's
UV     := .uv/bin/uv

.PHONY: env demo test test-fast lint bench bench-full bench-networks clean

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"

# uv installs exactly what uv.lock pins (the project itself editable), compiled to bytecode: a
# machine that sets PYTHONDONTWRITEBYTECODE would otherwise compile every imported module in
# every dbt and Airflow process; then the dbt manifest the daily DAG renders its dbt tasks
# from, rewritten every time (a dbt parse) so it never lags behind the models
env: $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --quiet --compile-bytecode
	$(BIN)/gospulse dbt manifest

demo: env
	$(BIN)/gospulse demo

# Two tiers. `test-fast`: pure Python, in-memory DuckDB and the emulators, nothing that starts
# dbt, Airflow, Celery or Postgres (tests/conftest.py fails a test of this tier that does).
# `test`: everything, on TEST_WORKERS pytest-xdist workers (worlds built with dbt are built once
# per run and shared; tests/conftest.py schedules a module's tests together, slow modules
# first), then, alone, the tests marked `timing`, which measure real request rates that a
# loaded machine skews. Both print their 20 slowest tests.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -q -p no:cacheprovider --durations=20

test: env lint
	$(PYTEST) -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder -m "not timing"
	$(PYTEST) -m timing

test-fast: env
	$(PYTEST) -n $(TEST_WORKERS) -m "not slow and not timing"

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/sqlfluff lint dbt_project --processes 2

# quick versions (10x smaller where a benchmark has a federal size); results in BENCHMARKS.md
bench: env
	$(BIN)/python bench/bench_vk_daily.py
	$(BIN)/python bench/bench_vk_federal_extract.py --quick
	$(BIN)/python bench/bench_audience_union.py --quick
	$(BIN)/python bench/bench_audience_dates.py --quick
	$(BIN)/python bench/bench_federal_pull.py --regions 9
	$(BIN)/python bench/bench_api_latency.py --clients 1 --requests 300
	$(BIN)/python bench/bench_transform.py --quick --skip-postgres  # Postgres side: bench-full (see BENCHMARKS.md)

# the full sizes: 200,000 pages, 46 M people, 85 regions, 146 M snapshot rows (hours)
bench-full: env
	$(BIN)/python bench/bench_vk_federal_extract.py
	$(BIN)/python bench/bench_audience_union.py
	$(BIN)/python bench/bench_audience_dates.py
	$(BIN)/python bench/bench_federal_pull.py
	$(BIN)/python bench/bench_api_latency.py
	$(BIN)/python bench/bench_api_latency.py --clients 4
	$(BIN)/python bench/bench_dq_alarms.py --days 90
	$(BIN)/python bench/bench_transform.py --page-buckets 10  # one full build's statements would spill (docs/perf-notes/transform.md)

# about 40 minutes: Telegram's first day resolves 399 names within 30 per 60 s
bench-networks: env
	$(BIN)/python bench/bench_networks_daily.py

clean:
	rm -rf warehouse .pytest_cache dbt_project/target dbt_project/logs

"""The Airflow and cosmos glue that the DAGs in dags/ call: the task bodies (tasks), the pools
and the token each fetch task holds (pools, token_slots), the assets the DAGs announce and wait
for (assets), the daily run's deadline and its callback (deadlines), the defaults every DAG
shares (dag_defaults), the dbt task group (dbt_group), and the helpers that run a DAG on a
local Airflow (local). It is the only code in gospulse that imports Airflow or cosmos, and it
may import everything below it in gospulse; nothing in gospulse imports it except the CLI,
whose `gospulse airflow` commands call it (pyproject's import-linter contracts hold both).
"""

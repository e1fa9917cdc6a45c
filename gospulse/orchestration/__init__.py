"""The Airflow and cosmos glue that the DAGs in dags/ call: the task bodies (tasks), the pools
and the token each fetch task holds (pools, token_slots), the assets the DAGs announce and wait
for (assets), the daily run's deadline and its callback (deadlines), the defaults every DAG
shares (dag_defaults), the dbt task group (dbt_group), the helpers that run a DAG on a local
Airflow (local), and what lower modules get from Airflow: a network's connection
(connections), alert email through its SMTP settings (alert_email), its secrets masker
(masker). It is the only code in gospulse that imports Airflow or cosmos, and it may import
everything below it in gospulse; nothing in gospulse imports it except the CLI, whose
`gospulse airflow` commands call it (pyproject's import-linter contracts hold both).
"""

from gospulse.config import masking
from gospulse.orchestration.masker import mask_in_airflow

# every process that runs a DAG's task imports this package first: from then on the secrets
# gospulse reads reach Airflow's masker (gospulse.config.masking has no Airflow of its own)
masking.add_masker(mask_in_airflow)

"""The bottom layer: what every stage reads. The typed environment settings (settings), the federal
subjects and their OKTMO codes (regions), which calendar date a run measures (dates), what a period
is (periods), a filter value checked against the data's (choices), what the daily run's tasks hand
each other (task_results), the log maskers that secrets go to (masking) and where the dbt project is
(dbt_project). It imports nothing from the rest of gospulse, so every package above it, the
extractors and the expectations may import it.
"""

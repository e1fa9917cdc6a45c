"""Transformation: running the dbt project (dbt_project/) against a warehouse, dbt's CLI in a
child process of its own that hands back each node's result (run, dbt_child), and dbt's
manifest, rendered once for the DAG's task group (dbt_manifest). It may import gospulse.config
and the stages below it (registry, raw, extract), nothing above them.
"""

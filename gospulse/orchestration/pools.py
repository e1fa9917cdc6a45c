"""`gospulse airflow pools`: create or update every Airflow pool the gospulse DAGs use.

One pool per API token (vk_token_<i>, tg_session_<i>, ok_token_<i>, counts from
GOSPULSE_*_TOKEN_COUNT) and gospulse_warehouse for every task that opens the warehouse. Run
after `airflow db migrate` (compose init service, test harnesses, gospulse/orchestration/local.py);
running it again only resets the slots. Pools of tokens no longer counted are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from gospulse.extract.token_lists import COUNT_ENV
from gospulse.orchestration.token_slots import pool_name, token_count

# why one slot: a token's rate limiter lives in the process that fetches with it, so two
# tasks holding the same token at once would each allow the full rate and together double
# it. One slot per token keeps every token within its API rate across processes and hosts;
# a task may still keep several requests in flight under its one limiter
# (GOSPULSE_VK_CONNECTIONS_PER_TOKEN).
TOKEN_POOL_SLOTS = 1
# DuckDB lets one process open a file for writing, and a reader in another process blocks the
# writer: every task that opens the warehouse file (planning, loading, audience, the registry
# load, each dbt model and test, alerts, publication) takes this pool's only slot. Three
# networks planning or loading at once on Celery workers did collide on the file without it.
WAREHOUSE_POOL = "gospulse_warehouse"
WAREHOUSE_POOL_SLOTS = 1


@dataclass(frozen=True)
class PoolSpec:
    """One pool as the DAGs expect it."""

    name: str
    slots: int
    description: str


def wanted_pools(env: dict[str, str] | None = None) -> list[PoolSpec]:
    """Every pool the DAGs need with the token counts of `env` (default: the environment)."""
    pools = [
        PoolSpec(
            WAREHOUSE_POOL,
            WAREHOUSE_POOL_SLOTS,
            "gospulse: tasks that open the DuckDB warehouse file, one process at a time",
        )
    ]
    for network, count_env in COUNT_ENV.items():
        count = token_count(network, env)
        pools += [
            PoolSpec(
                pool_name(network, i),
                TOKEN_POOL_SLOTS,
                f"gospulse: {network} token {i + 1} of {count} ({count_env}); one task at a "
                "time keeps the token within its API rate",
            )
            for i in range(count)
        ]
    return pools


def sync_pools(env: dict[str, str] | None = None) -> list[PoolSpec]:
    """Create or update the pools in Airflow's metadata DB (AIRFLOW_HOME / SQL_ALCHEMY_CONN)."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    pools = wanted_pools(env)
    with create_session() as session:
        for spec in pools:
            Pool.create_or_update_pool(
                spec.name, spec.slots, spec.description, include_deferred=False, session=session
            )
    return pools

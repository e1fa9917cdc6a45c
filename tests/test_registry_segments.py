"""registry_segments (a few validity segments per page, joined to days by range, what
int_dq_page_days uses) gives registry_as_of's version (the registry copied for every day) for
every page and day.

Both macros are compiled by dbt once (one `dbt compile`) and run on random registries in a real
DuckDB file: pages listed by id and by screen name at overlapping times (the id entry wins),
versions that end and start on one day, gaps between versions, versions still current.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from gospulse.transform.run import compile_inline

pytestmark = pytest.mark.slow

FIRST_DAY = date(2025, 1, 1)
DAYS = 60
CALLS = {
    "segments": (
        "select days.date_day as registered_on, segments.* exclude "
        "(segment_from, segment_to, duplicate_rank) "
        "from days inner join ({{ registry_segments('registry') }}) as segments "
        "on {{ registry_segment_has('segments', 'days.date_day') }}"
    ),
    "per_day": "select * exclude (duplicate_rank) from "
    "({{ registry_as_of('registry', 'days', 'date_day') }}) as per_day",
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Both macros' SQL from one `dbt compile` (they name tables, not a warehouse's models)."""
    return compile_inline(CALLS, tmp_path_factory.mktemp("registry_segments") / "compile.duckdb")


def write_registry(warehouse: Path, seed: int) -> None:
    """Random versions of 40 pages: each page's entries (by id, by screen name) come and go."""
    rng = random.Random(seed)
    rows = []
    for page in range(40):
        entries = [("id", f"{page}"), ("screen_name", f"club{page}")][: rng.choice([1, 2, 2])]
        for ref_kind, ref_value in entries:
            day = rng.choice([None, 0, 5, 20])
            version = 0
            while day is None or day < DAYS:
                start = FIRST_DAY + timedelta(days=day) if day is not None else date(1900, 1, 1)
                day = (day or 0) + rng.choice([1, 3, 10, 30, 90])
                end = FIRST_DAY + timedelta(days=day) if day < DAYS + 30 else None
                version += 1
                rows.append(
                    (
                        "vk",
                        f"p{page}",
                        f"p{page}",
                        ref_kind,
                        ref_value,
                        f"{ref_kind} {page} v{version}",
                        start,
                        end,
                    )
                )
                if end is None:
                    break
                day += rng.choice([0, 0, 2])  # the next version starts that day, or after a gap
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create or replace table registry (network varchar, page_key varchar, "
            "page_ref varchar, ref_kind varchar, ref_value varchar, title varchar, "
            "valid_from date, valid_to date)"
        )
        con.executemany("insert into registry values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute(
            "create or replace table days as select cast(range as date) as date_day "
            f"from range(date '{FIRST_DAY}' - interval 3 day, "
            f"date '{FIRST_DAY}' + interval {DAYS + 40} day, interval 1 day)"
        )


def registered(warehouse: Path, sql: str) -> dict[tuple, tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            f"select registered_on, network, page_key, ref_kind, ref_value, title "
            f"from ({sql}) as registered"
        ).fetchall()
    keyed = {row[:3]: row[3:] for row in rows}
    assert len(keyed) == len(rows), "a page registered twice on one day"
    return keyed


@pytest.mark.parametrize("seed", [3, 17])
def test_segments_give_the_version_registered_on_every_day(compiled, tmp_path, seed):
    warehouse = tmp_path / "registry.duckdb"
    write_registry(warehouse, seed)

    segments = registered(warehouse, compiled["segments"])
    per_day = registered(warehouse, compiled["per_day"])

    assert segments == per_day
    # the comparison covers the cases: both entries listed at once (the id one wins), only the
    # screen name listed, and days with no version
    kinds = {value[0] for value in per_day.values()}
    assert kinds == {"id", "screen_name"}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (both,) = con.execute(
            "select count(*) from days, registry as a, registry as b "
            "where a.page_key = b.page_key and a.ref_kind = 'id' and b.ref_kind = 'screen_name' "
            "and a.valid_from <= date_day and (a.valid_to is null or date_day < a.valid_to) "
            "and b.valid_from <= date_day and (b.valid_to is null or date_day < b.valid_to)"
        ).fetchone()
        (page_days,) = con.execute(
            "select count(*) from days, (select distinct page_key from registry)"
        ).fetchone()
    assert both > 0
    assert 0 < len(per_day) < page_days

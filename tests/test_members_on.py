"""members_on_consecutive_days (one join and lag() over consecutive days, what
int_page_days_filled uses) gives members_on's value (each ask joined to its carry-window
candidates) row for row.

Both macros are compiled by dbt once (one `dbt compile`) and run on the same random page
histories in real DuckDB files: gaps longer and shorter than the carry window, failed and
deleted days, ok rows without a count, pages that start late.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from gospulse.config.dbt_project import project_dir
from gospulse.transform.run import compile_inline

pytestmark = pytest.mark.slow

FIRST_DAY = date(2025, 1, 1)
DAYS = 90


def project_carry_days() -> int:
    config = yaml.safe_load((project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    return int(config["vars"]["max_carry_days"])


def write_snapshots(warehouse: Path, seed: int) -> list[tuple[str, str, date]]:
    """Random raw rows; returns every page day from each page's first row to the last day."""
    rng = random.Random(seed)
    rows, page_days = [], []
    for page in range(30):
        network = rng.choice(["vk", "tg"])
        start = rng.randrange(0, 30)
        missing_share = rng.choice([0.0, 0.2, 0.5])
        day = start
        while day < DAYS:
            if rng.random() < missing_share:
                day += rng.choice([1, 2, 3, 4, 6])  # no row: gaps across the carry window
                continue
            status = rng.choices(["ok", "error", "deleted"], weights=[8, 1, 1])[0]
            count = rng.randrange(0, 5000) if status == "ok" and rng.random() > 0.05 else None
            rows.append((network, f"p{page}", FIRST_DAY + timedelta(days=day), count, status))
            day += 1
        first = min(r[2] for r in rows if r[:2] == (network, f"p{page}"))
        page_days += [
            (network, f"p{page}", first + timedelta(days=d))
            for d in range((FIRST_DAY + timedelta(days=DAYS - 1) - first).days + 1)
        ]
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create or replace table snapshots (network varchar, page_ref varchar, "
            "snapshot_date date, members_count integer, status varchar, "
            "loaded_at timestamp default now())"
        )
        con.executemany(
            "insert into snapshots (network, page_ref, snapshot_date, members_count, status) "
            "values (?, ?, ?, ?, ?)",
            rows,
        )
    return page_days


def write_asks(warehouse: Path, page_days: list[tuple[str, str, date]]) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create or replace table asks (network varchar, page_ref varchar, as_of_date date)"
        )
        con.executemany("insert into asks values (?, ?, ?)", page_days)


CALLS = {
    "lagged": "{{ members_on_consecutive_days('asks', 'snapshots') }}",
    "expanded": "{{ members_on('asks', 'snapshots') }}",
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Both macros' SQL from one `dbt compile` (they name tables, not a warehouse's models)."""
    return compile_inline(CALLS, tmp_path_factory.mktemp("members_on") / "compile.duckdb")


def members(warehouse: Path, sql: str) -> dict[tuple, tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            f"select network, page_ref, as_of_date, members_count, value_date from ({sql}) m"
        ).fetchall()
    return {row[:3]: row[3:] for row in rows}


def test_consecutive_days_equal_members_on_over_whole_histories(compiled, tmp_path):
    warehouse = tmp_path / "members.duckdb"
    page_days = write_snapshots(warehouse, seed=8)
    write_asks(warehouse, page_days)

    lagged = members(warehouse, compiled["lagged"])
    expanded = members(warehouse, compiled["expanded"])

    assert len(lagged) == len(page_days)
    assert lagged == expanded
    # the comparison covers every case: own value, carried 1..carry days, unknown
    carry = project_carry_days()
    ages = {(day - value[1]).days for (_, _, day), value in lagged.items() if value[1]}
    assert ages == set(range(carry + 1))
    assert any(value == (None, None) for value in lagged.values())


def test_asked_days_with_their_carry_days_equal_members_on(compiled, tmp_path):
    """An incremental build reads only the rebuilt days and the carry days before them."""
    warehouse = tmp_path / "members.duckdb"
    page_days = write_snapshots(warehouse, seed=11)
    carry = project_carry_days()
    asked = {FIRST_DAY + timedelta(days=d) for d in (40, 41, 55, 89)}
    read = {day - timedelta(days=back) for day in asked for back in range(carry + 1)}
    write_asks(warehouse, [row for row in page_days if row[2] in read])

    lagged = members(warehouse, compiled["lagged"])
    expanded = members(warehouse, compiled["expanded"])

    answers = {key: value for key, value in lagged.items() if key[2] in asked}
    assert answers == {key: value for key, value in expanded.items() if key[2] in asked}
    assert any(v[1] is not None and v[1] < k[2] for k, v in answers.items())  # carried


def test_a_gap_in_page_days_never_carries_past_the_window(compiled, tmp_path):
    """Rows left out of page_days (against the contract) lose values, never stretch the carry."""
    warehouse = tmp_path / "members.duckdb"
    page_days = write_snapshots(warehouse, seed=5)
    rng = random.Random(5)
    sparse = [row for row in page_days if rng.random() < 0.3]
    write_asks(warehouse, sparse)
    carry = project_carry_days()

    lagged = members(warehouse, compiled["lagged"])
    expanded = members(warehouse, compiled["expanded"])

    for key, (count, value_date) in lagged.items():
        if value_date is not None:
            assert 0 <= (key[2] - value_date).days <= carry, key
            assert value_date <= expanded[key][1], key
            if value_date == expanded[key][1]:
                assert count == expanded[key][0], key
    # the sparse days do lose values (a carry day left out), so the check above is exercised
    assert any(v[1] is None and expanded[k][1] is not None for k, v in lagged.items())

"""Regional warehouses for the federal tests, built by the real pipeline (raw tables → dbt).

Each region gets the fixture world of tests/warehouse_fixtures.py moved to its region code
with its values scaled, plus VK member-list sketches of two pages whose member IDs overlap
between regions, so the exact national union is known: region i's pages hold IDs
[i*1000, i*1000+3000) and [i*1000+2000, i*1000+5000).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gospulse.raw.sketches import MemberHasher, PageAudience
from gospulse.raw.warehouse import connect, replace_member_sketches, replace_snapshots
from gospulse.transform import run as transform
from tests.warehouse_fixtures import LAST_DAY, PAGES, snapshot_rows, write_registry

HASHER = MemberHasher(b"federal-test-secret-16")
SKETCH_PAGES = ("101", "103")


def region_members(index: int) -> list[frozenset[int]]:
    """Member IDs of the two sketched pages of the index-th region."""
    base = index * 1000
    return [frozenset(range(base, base + 3000)), frozenset(range(base + 2000, base + 5000))]


def region_population(index: int) -> int:
    """The made-up population of the index-th region."""
    return 20_000 * (index + 1)


def region_pages(code: int, scale: int) -> dict:
    """The fixture pages, all registered in `code`, with members scaled by `scale`."""
    return {
        ref: replace(p, region_code=code, base=p.base * scale, slope=p.slope * scale)
        for ref, p in PAGES.items()
    }


def build_region_warehouse(path: Path, code: int, index: int) -> Path:
    """A warehouse of one region with marts built by real dbt."""
    pages = region_pages(code, index + 1)
    sketches = []
    for ref, members in zip(SKETCH_PAGES, region_members(index), strict=True):
        audience = PageAudience(HASHER)
        audience.add(sorted(members))
        count = pages[ref].members(LAST_DAY)
        sketches.append(
            ("vk", ref, LAST_DAY, "ok", count, len(members), 14, audience.hll_bytes(), 12,
             audience.theta_bytes(), None, "run-1")
        )  # fmt: skip
    with connect(path) as con:
        replace_snapshots(con, snapshot_rows(pages))
        replace_member_sketches(con, sketches)
    write_registry(path, pages)
    with connect(path) as con:
        # made up: the region's residents, so that its reach is known
        con.execute(
            "insert into raw.population values (?, ?, 'Регион', 'region', null, ?, 2025, "
            "'population.csv', 2, current_timestamp)",
            [code, f"{code:02d}000000", region_population(index)],
        )
    result = transform.build(path)
    assert result.success, result.describe()
    return path

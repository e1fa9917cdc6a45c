"""A small fixture world for dbt tests: a dozen pages over ~75 days, built in code.

Values follow simple lines, members = base + slope * (days since 2024-12-31), so a test can
state month-end values by hand: Dec 31 = base, Jan 31 = base + 31*slope, Feb 28 = base + 59*slope,
Mar 10 = base + 69*slope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from gospulse.raw.warehouse import SnapshotRow, connect, replace_snapshots

FIRST_DAY = date(2024, 12, 25)
LAST_DAY = date(2025, 3, 10)
ORIGIN = date(2024, 12, 31)
REGISTRY_LOADED_AT = datetime(2025, 1, 5, 8, 0)


@dataclass(frozen=True)
class Page:
    """A fixture page: registry attributes plus how its daily series is generated."""

    page_ref: str | None
    ref_kind: str
    ref_value: str
    title: str
    region_code: int
    municipality: str | None
    sector: str
    is_flagship: bool
    base: int
    slope: int
    # dates with no row at all, and dates with a non-ok status (members NULL)
    missing: frozenset[date] = field(default_factory=frozenset)
    statuses: dict[date, str] = field(default_factory=dict)
    last_day: date = LAST_DAY
    oktmo: str | None = None

    @property
    def registry_ref(self) -> str:
        return self.ref_value if self.ref_kind == "id" else f"https://vk.com/{self.ref_value}"

    def members(self, d: date) -> int:
        return self.base + self.slope * (d - ORIGIN).days


def days(start: date, end: date) -> frozenset[date]:
    """Every date from start to end inclusive."""
    return frozenset(start + timedelta(n) for n in range((end - start).days + 1))


PAGES: dict[str, Page] = {
    # flagship, ok every day except an error on Feb 10 (carried from Feb 9)
    "101": Page(
        "101",
        "id",
        "101",
        "Администрация Кемерово",
        42,
        "kemerovo",
        "administration",
        True,
        1000,
        10,
        statuses={date(2025, 2, 10): "error"},
    ),
    # registered by screen name; 4-day gap at January's end (unknown), 3-day gap at February's
    "102": Page(
        "102",
        "screen_name",
        "kuzbass_health",
        "Минздрав Кузбасса",
        42,
        "kemerovo",
        "health",
        False,
        2000,
        10,
        missing=days(date(2025, 1, 28), date(2025, 1, 31))
        | days(date(2025, 2, 26), date(2025, 2, 28)),
    ),
    # 103 and 104 grow exactly alike: a full tie broken by page_ref
    "103": Page(
        "103",
        "id",
        "103",
        "Администрация Новокузнецка",
        42,
        "novokuznetsk",
        "administration",
        False,
        500,
        10,
    ),
    "104": Page("104", "id", "104", "Школа №1", 42, "novokuznetsk", "education", False, 500, 10),
    # flagship under 500 members; under min_members_for_pct (100) at the start of January
    "105": Page("105", "id", "105", "Дом культуры", 42, "kemerovo", "culture", True, 90, 1),
    # flagship deleted from Feb 21
    "106": Page(
        "106",
        "id",
        "106",
        "Музей",
        42,
        "kemerovo",
        "culture",
        True,
        5000,
        0,
        statuses={d: "deleted" for d in days(date(2025, 2, 21), LAST_DAY)},
    ),
    # flagship that stops being fetched after Mar 5 (unknown on Mar 10)
    "107": Page(
        "107",
        "id",
        "107",
        "Библиотека",
        42,
        "kemerovo",
        "culture",
        True,
        800,
        0,
        last_day=date(2025, 3, 5),
    ),
    # leaves the registry in the second registry load
    "108": Page("108", "id", "108", "Спорткомитет", 42, "novokuznetsk", "sport", False, 700, 0),
    # flagship registered by a screen name that does not resolve
    "ghost": Page(
        None,
        "screen_name",
        "ghost_page",
        "Пропавшая страница",
        42,
        None,
        "administration",
        True,
        0,
        0,
    ),
    # another region
    "110": Page(
        "110",
        "id",
        "110",
        "Правительство Новосибирской области",
        54,
        "novosibirsk",
        "administration",
        True,
        10000,
        100,
    ),
}


def snapshot_rows(pages: dict[str, Page] = PAGES) -> list[SnapshotRow]:
    """Daily snapshot rows of every resolved page from FIRST_DAY to its last day."""
    rows = []
    for page in pages.values():
        if page.page_ref is None:
            continue
        for d in sorted(days(FIRST_DAY, page.last_day) - page.missing):
            status = page.statuses.get(d, "ok")
            rows.append(
                SnapshotRow(
                    network="vk",
                    page_ref=page.page_ref,
                    snapshot_date=d,
                    members_count=page.members(d) if status == "ok" else None,
                    status=status,
                    source="fixture",
                )
            )
    return rows


def write_registry(
    warehouse: Path, pages: dict[str, Page] = PAGES, *, loaded_at: datetime = REGISTRY_LOADED_AT
) -> None:
    """Replace raw.registry_pages (and raw.page_refs for screen names) with `pages`."""
    with connect(warehouse) as con:
        con.execute("delete from raw.registry_pages")
        for line, page in enumerate(pages.values(), start=2):
            con.execute(
                "insert into raw.registry_pages values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    "vk",
                    page.registry_ref,
                    page.ref_kind,
                    page.ref_value,
                    page.title,
                    f"org of {page.title}",
                    page.region_code,
                    page.municipality,
                    page.sector,
                    page.is_flagship,
                    "registry/fixture.csv",
                    line,
                    loaded_at,
                    page.oktmo,
                ],
            )
            if page.ref_kind == "screen_name":
                con.execute(
                    "insert or replace into raw.page_refs (network, ref_kind, ref_value, page_ref, "
                    "status, resolved_at) values (?,?,?,?,?,?)",
                    [
                        "vk",
                        "screen_name",
                        page.ref_value,
                        page.page_ref,
                        "ok" if page.page_ref else "not_found",
                        loaded_at,
                    ],
                )


def build_world(warehouse: Path) -> Path:
    """Write the fixture world's raw tables into a new warehouse file."""
    with connect(warehouse) as con:
        replace_snapshots(con, snapshot_rows())
    write_registry(warehouse)
    return warehouse


# marts.mart_registry_versions as dbt's contract types it, for hand-made published copies
REGISTRY_VERSIONS_DDL = (
    "create table marts.mart_registry_versions (network varchar, page_ref varchar, "
    "page_key varchar, registry_ref varchar, ref_kind varchar, ref_value varchar, "
    "is_resolved boolean, title varchar, organization varchar, region_code integer, "
    "municipality varchar, sector varchar, is_flagship boolean, valid_from date, "
    "valid_to date)"
)

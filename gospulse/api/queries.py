"""Queries over the published copy, built only from its catalog: no request string becomes SQL.

A mart name must be a table of the published file's `marts` schema, filters map to fixed column
names that the mart must have, and every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import duckdb

from gospulse.config.choices import known_choice
from gospulse.registry.pages import normalize_sector
from gospulse.serving.read_views import VALUES_FROM as READ_VIEW_VALUES
from gospulse.serving.read_views import VIEW_NAMES as READ_VIEWS

MARTS_SCHEMA = "marts"

# the columns a period filter uses, first match wins: a row is in [from, to] when its own
# start is on or after `from` and its end on or before `to`
START_COLUMNS = ("period_start", "month_start", "snapshot_date", "audience_date", "as_of_date")
END_COLUMNS = ("period_end", "month_end", "snapshot_date", "audience_date", "as_of_date")
# marts without region_code are scoped through the page's region in this mart
PAGE_REGION_MART = "mart_page_health"
# filters whose value must be one the mart holds, each with its column
VALUED_FILTERS = {
    "region": "region_code",
    "network": "network",
    "sector": "sector",
    "municipality": "municipality",
}


def filters_of(columns: set[str], has_page_region: bool) -> list[str]:
    """Which query filters a mart accepts, for the mart list."""
    found = []
    if "region_code" in columns or ({"network", "page_ref"} <= columns and has_page_region):
        found.append("region")
    if any(c in columns for c in START_COLUMNS) and any(c in columns for c in END_COLUMNS):
        found += ["from", "to"]
    found += [c for c in ("network", "sector", "municipality") if c in columns]
    return found


class QueryError(ValueError):
    """A request asks for something the mart cannot answer (HTTP 400)."""


class UnsupportedFilter(QueryError):
    """A filter the mart has no column for (HTTP 422: the request, not the data, is wrong)."""

    def __init__(self, message: str, parameters: tuple[str, ...]):
        super().__init__(message)
        self.parameters = parameters


class UnknownMart(LookupError):
    """No such mart in the published copy (HTTP 404)."""


class NotScopable(PermissionError):
    """A region-scoped client asked for a mart that cannot be filtered by region (HTTP 403)."""


@dataclass(frozen=True)
class Filters:
    """What a request filters on; None means no filter."""

    regions: list[int] | None = None
    date_from: date | None = None
    date_to: date | None = None
    network: str | None = None
    sector: str | None = None
    municipality: str | None = None


@dataclass(frozen=True)
class MartQuery:
    """A whitelisted select: the SQL text holds only catalog names, the values are parameters."""

    mart: str
    columns: list[str]
    where: str
    params: list = field(default_factory=list)

    def rows_sql(self) -> str:
        cols = ", ".join(quote(c) for c in self.columns)
        # every column in order gives a total, stable order for pagination
        order = ", ".join(f"{quote(c)} nulls first" for c in self.columns)
        return (
            f"select {cols} from {MARTS_SCHEMA}.{quote(self.mart)}{self.where} "
            f"order by {order} limit ? offset ?"
        )

    def count_sql(self) -> str:
        return f"select count(*) from {MARTS_SCHEMA}.{quote(self.mart)}{self.where}"


def quote(identifier: str) -> str:
    """A quoted identifier; identifiers only ever come from the published file's catalog."""
    return '"' + identifier.replace('"', '""') + '"'


def list_marts(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """Every mart of the published copy with its (column, type) pairs in table order."""
    marts: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in con.execute(
        "select table_name, column_name, data_type from duckdb_columns() "
        "where database_name = current_database() and schema_name = ? "
        "order by table_name, column_index",
        [MARTS_SCHEMA],
    ).fetchall():
        marts.setdefault(table, []).append((column, dtype))
    return marts


def filters_by_mart(marts: dict[str, list[tuple[str, str]]]) -> dict[str, list[str]]:
    """The query filters each mart of a published copy accepts."""
    return {
        name: filters_of({c for c, _ in cols}, PAGE_REGION_MART in marts)
        for name, cols in marts.items()
    }


def published_filters(published: Path) -> dict[str, list[str]]:
    """The marts of a published file with their filters, for the OpenAPI spec; empty when none
    is published yet."""
    from gospulse.serving.publish import open_published

    if not published.is_file():
        return {}
    con = open_published(published)
    try:
        return filters_by_mart(list_marts(con))
    finally:
        con.close()


def build_query(marts: dict[str, list[tuple[str, str]]], mart: str, filters: Filters) -> MartQuery:
    """The select for one mart under the filters; raises QueryError/UnknownMart/NotScopable."""
    if mart not in marts:
        raise UnknownMart(f"no mart {mart!r}; available: {', '.join(sorted(marts))}")
    columns = [c for c, _ in marts[mart]]
    has = set(columns)
    clauses: list[str] = []
    params: list = []
    if mart in READ_VIEWS and filters.date_from is None:
        # computed when read: unbounded, it would rank every period of history per request
        raise UnsupportedFilter(
            f"mart {mart!r} is computed when read: give `from` (and `to`) to choose its periods",
            ("from",),
        )

    if filters.regions is not None:
        if "region_code" in has:
            clauses.append(f"region_code in ({', '.join(['?'] * len(filters.regions))})")
            params.extend(filters.regions)
        elif {"network", "page_ref"} <= has and PAGE_REGION_MART in marts:
            clauses.append(
                f"(network, page_ref) in (select network, page_ref from "
                f"{MARTS_SCHEMA}.{quote(PAGE_REGION_MART)} "
                f"where region_code in ({', '.join(['?'] * len(filters.regions))}))"
            )
            params.extend(filters.regions)
        else:
            raise NotScopable(f"mart {mart!r} has no region; only tokens for all regions read it")

    for name, value in (
        ("network", filters.network),
        ("sector", filters.sector),
        ("municipality", filters.municipality),
    ):
        if value is None:
            continue
        if name not in has:
            raise UnsupportedFilter(
                f"mart {mart!r} has no column {name!r} to filter on; its filters: "
                f"{', '.join(filters_of(has, PAGE_REGION_MART in marts)) or 'none'}",
                (name,),
            )
        clauses.append(f"{quote(name)} = ?")
        params.append(value)

    if filters.date_from is not None or filters.date_to is not None:
        start = next((c for c in START_COLUMNS if c in has), None)
        end = next((c for c in END_COLUMNS if c in has), None)
        if start is None or end is None:
            raise UnsupportedFilter(
                f"mart {mart!r} has no date column to filter a period on; its filters: "
                f"{', '.join(filters_of(has, PAGE_REGION_MART in marts)) or 'none'}",
                tuple(p for p, v in (("from", filters.date_from), ("to", filters.date_to)) if v),
            )
        if filters.date_from is not None and filters.date_to is not None:
            if filters.date_from > filters.date_to:
                raise QueryError(f"from {filters.date_from} is after to {filters.date_to}")
        if filters.date_from is not None:
            clauses.append(f"{quote(start)} >= ?")
            params.append(filters.date_from)
        if filters.date_to is not None:
            clauses.append(f"{quote(end)} <= ?")
            params.append(filters.date_to)

    where = (" where " + " and ".join(clauses)) if clauses else ""
    return MartQuery(mart, columns, where, params)


# (region of the row or None, value as text) for each distinct value of a filter's column
HeldValues = frozenset[tuple[int | None, str]]


def held_values(
    con: duckdb.DuckDBPyConnection, marts: dict[str, list[tuple[str, str]]], mart: str, name: str
) -> HeldValues:
    """The distinct values of filter `name` in a mart, each with its row's region (found the
    way build_query scopes the mart), so that a region-scoped request is told only of its own."""
    mart = READ_VIEW_VALUES.get(mart, mart) if READ_VIEW_VALUES.get(mart) in marts else mart
    has = {c for c, _ in marts[mart]}
    table = f"{MARTS_SCHEMA}.{quote(mart)}"
    if "region_code" in has:
        region, source = "region_code", table
    elif {"network", "page_ref"} <= has and PAGE_REGION_MART in marts:
        # left join: a page the health mart lacks is still a value for all-region tokens
        region = "pages.region_code"
        source = (
            f"{table} left join (select distinct network, page_ref, region_code "
            f"from {MARTS_SCHEMA}.{quote(PAGE_REGION_MART)}) as pages using (network, page_ref)"
        )
    else:
        region, source = "null", table
    value = region if name == "region" else f"{table}.{quote(VALUED_FILTERS[name])}"
    rows = con.execute(
        f"select distinct {region}, {value}::varchar from {source} where {value} is not null"
    ).fetchall()
    return frozenset(rows)


def check_values(
    marts: dict[str, list[tuple[str, str]]],
    mart: str,
    filters: Filters,
    asked_region: int | None,
    visible: list[int] | None,
    held: Callable[[str], HeldValues],
) -> Filters:
    """The filters with each value checked against what the mart holds in the regions the
    request reads (UnknownChoice, whose kind is the query parameter, names the ones held), the
    sector in the spelling the mart stores. `visible` is the token's regions (None: all).

    A mart holding nothing there has nothing to suggest: its empty page is the true answer."""
    has = {c for c, _ in marts[mart]}
    if asked_region is not None and "region" in filters_of(has, PAGE_REGION_MART in marts):
        # only the token's regions: a region-scoped token never learns which others exist
        regions = {r for r, _ in held("region") if visible is None or r in visible}
        if regions:
            known_choice("region", str(asked_region), (str(r) for r in regions))
    for name in ("network", "sector", "municipality"):
        value = getattr(filters, name)
        if value is None or VALUED_FILTERS[name] not in has:
            continue  # a filter the mart lacks is build_query's to refuse
        known = {v for r, v in held(name) if filters.regions is None or r in filters.regions}
        if name == "sector" and value not in known:
            # offices write sectors in Russian, any case, `_` for spaces (normalize_sector)
            value = normalize_sector(value)
        if known:
            value = known_choice(name, value, known)
        filters = replace(filters, **{name: value})
    return filters

"""TOP-N pages by growth over any date range, from the dbt growth_ranking macro.

The SQL is not written here: `dbt compile --inline` renders the project's growth_ranking macro
(the same macros the ranking mart uses) and the result runs on a read-only warehouse connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from gospulse.transform import run_dbt
from gospulse.warehouse import connect, warehouse_path

RANK_KEYS = (
    "rank",
    "network",
    "page_ref",
    "title",
    "members_start",
    "members_end",
    "growth",
    "growth_pct",
)
EXCLUDED_KEYS = ("network", "page_ref", "title", "members_start", "members_end", "reason")
# both queries are compiled by one dbt invocation and split on this comment
_SPLIT_MARKER = "-- gospulse:excluded-pages --"


@dataclass(frozen=True)
class TopResult:
    """Ranked pages (best first, per network) and the pages left out, with the reason."""

    start: date
    end: date
    by: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)


def top_pages(
    start: date,
    end: date,
    *,
    n: int = 10,
    region_code: int | None = None,
    sector: str | None = None,
    municipality: str | None = None,
    network: str | None = None,
    flagship_only: bool = False,
    by: Literal["abs", "pct"] = "abs",
    warehouse: Path | None = None,
) -> TopResult:
    """TOP-n pages by growth = members_on(end) - members_on(start), ranked per network.

    network='all' ranks pages of every network together; another value keeps one network.

    page_ref in the rows is the reference as written in the registry. Pages whose start or end
    is unknown (or, for by='pct', whose start is under min_members_for_pct) are in `excluded`.
    """
    _validate(start, end, n, by, region_code)
    warehouse = Path(warehouse) if warehouse is not None else warehouse_path()
    if not warehouse.exists():
        raise FileNotFoundError(f"warehouse {warehouse} does not exist: run an extract and build")
    sector, municipality = _known_filters(warehouse, region_code, sector, municipality)

    macro_args = {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "region_code": region_code,
        "sector": sector,
        "municipality": municipality,
        "network": network,
        "flagship_only": flagship_only,
        "by": by,
        "n": n,
    }
    inline = (
        f"{{{{ growth_ranking({_jinja_kwargs(macro_args)}) }}}}\n{_SPLIT_MARKER}\n"
        f"{{{{ growth_ranking({_jinja_kwargs({**macro_args, 'excluded': True})}) }}}}"
    )
    compiled = _compile_inline(inline, warehouse)
    top_sql, excluded_sql = compiled.split(_SPLIT_MARKER)

    with connect(warehouse, read_only=True) as con:
        top = con.execute(top_sql)
        top_rows = _as_dicts(top.description, top.fetchall())
        left_out = con.execute(excluded_sql)
        excluded_rows = _as_dicts(left_out.description, left_out.fetchall())

    return TopResult(
        start=start,
        end=end,
        by=by,
        rows=[{**{k: r[k] for k in RANK_KEYS}, "page_ref": r["registry_ref"]} for r in top_rows],
        excluded=[
            {
                **{k: r[k] for k in EXCLUDED_KEYS if k in r},
                "page_ref": r["registry_ref"],
                "reason": r["exclusion_reason"],
            }
            for r in excluded_rows
        ],
    )


def _known_filters(
    warehouse: Path, region_code: int | None, sector: str | None, municipality: str | None
) -> tuple[str | None, str | None]:
    """The filters checked against the registry the warehouse holds (UnknownChoice when one
    names nothing there); the sector in its canonical form (`social_protection`, `спорт`)."""
    from gospulse.choices import known_choice
    from gospulse.registry import normalize_sector
    from gospulse.warehouse import connect

    if region_code is None and sector is None and municipality is None:
        return sector, municipality
    with connect(warehouse, read_only=True) as con:
        rows = con.execute(
            "select distinct region_code, sector, municipality from raw.registry_pages"
        ).fetchall()
    if region_code is not None:
        known_choice("region", str(region_code), (r for r, _, _ in rows))
        rows = [row for row in rows if row[0] == region_code]
    if sector is not None:
        sector = known_choice("sector", normalize_sector(sector), (s for _, s, _ in rows))
    if municipality is not None:
        municipality = known_choice(
            "municipality", municipality, (m for *_, m in rows if m is not None)
        )
    return sector, municipality


def _validate(start: date, end: date, n: int, by: str, region_code: int | None) -> None:
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise TypeError(f"{name} must be a datetime.date, got {value!r}")
    if start >= end:
        raise ValueError(f"start ({start}) must be before end ({end})")
    if by not in ("abs", "pct"):
        raise ValueError(f"by must be 'abs' or 'pct', got {by!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if region_code is not None and (
        isinstance(region_code, bool) or not isinstance(region_code, int)
    ):
        raise ValueError(f"region_code must be an int, got {region_code!r}")


def _jinja_kwargs(args: dict[str, Any]) -> str:
    """Keyword arguments as Jinja literals (JSON strings are valid Jinja string literals)."""

    def literal(value: Any) -> str:
        if value is None:
            return "none"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        return json.dumps(str(value), ensure_ascii=False)

    return ", ".join(f"{k}={literal(v)}" for k, v in args.items())


def _compile_inline(inline: str, warehouse: Path) -> str:
    result = run_dbt(["compile", "--quiet", "--inline", inline], warehouse=warehouse)
    compiled = [n.compiled_code for n in result.nodes if n.compiled_code]
    if len(compiled) != 1:
        raise RuntimeError(f"dbt compile returned {len(compiled)} compiled nodes, expected 1")
    return compiled[0]


def _as_dicts(description: Any, rows: list[tuple]) -> list[dict[str, Any]]:
    names = [d[0] for d in description]
    return [dict(zip(names, row, strict=True)) for row in rows]

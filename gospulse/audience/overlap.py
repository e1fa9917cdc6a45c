"""How much two pages' audiences overlap, from their theta sketches (never from member IDs).

`sketch_overlap` is the arithmetic (shared by the dbt model int_audience_page_overlaps);
`page_overlap` answers it for two registry references from a warehouse, read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import datasketches as ds
import duckdb

from gospulse.raw.sketches import (
    Estimate,
    estimate,
    intersect_theta,
    theta_from_bytes,
    union_theta,
)
from gospulse.raw.warehouse import connect
from gospulse.registry.pages import BadReference, normalize_ref

DEFAULT_MAX_AGE_DAYS = 7


class SketchUnavailable(LookupError):
    """A page has no usable member-list sketch (unknown page, hidden list, too old, ...)."""


@dataclass(frozen=True)
class PairOverlap:
    """Overlap of two theta sketches: both audiences, the shared members, and the shares."""

    audience_a: Estimate
    audience_b: Estimate
    shared: Estimate

    @property
    def share_of_a(self) -> float | None:
        """Share of A's members who also follow B."""
        return self.shared.value / self.audience_a.value if self.audience_a.value else None

    @property
    def share_of_b(self) -> float | None:
        """Share of B's members who also follow A."""
        return self.shared.value / self.audience_b.value if self.audience_b.value else None

    @property
    def jaccard(self) -> float | None:
        """Shared members over the members of either page (|A| + |B| - shared)."""
        either = self.audience_a.value + self.audience_b.value - self.shared.value
        return self.shared.value / either if either > 0 else None


def sketch_overlap(
    a: bytes | ds.compact_theta_sketch, b: bytes | ds.compact_theta_sketch
) -> PairOverlap:
    """The overlap of two theta sketches (serialized or deserialized)."""
    sketch_a = theta_from_bytes(a) if isinstance(a, bytes | bytearray) else a
    sketch_b = theta_from_bytes(b) if isinstance(b, bytes | bytearray) else b
    return PairOverlap(
        audience_a=estimate(sketch_a),
        audience_b=estimate(sketch_b),
        shared=estimate(intersect_theta(sketch_a, sketch_b)),
    )


@dataclass(frozen=True)
class Overlap:
    """The overlap of two registered pages (A and B) and the dates of the sketches used."""

    network: str
    page_a: str
    page_b: str
    sketch_date_a: date
    sketch_date_b: date
    audience_a: Estimate
    audience_b: Estimate
    shared: Estimate
    share_of_a: float | None  # of A's members, the share who also follow B
    share_of_b: float | None
    jaccard: float | None

    def describe(self) -> str:
        """A few lines for people: both audiences, what they share, and the dates used."""

        def pct(x: float | None) -> str:
            return "—" if x is None else f"{x:.1%}"

        s = self.shared
        return "\n".join(
            [
                f"{self.network} {self.page_a}: ≈{self.audience_a.value:,.0f} members "
                f"(list of {self.sketch_date_a})",
                f"{self.network} {self.page_b}: ≈{self.audience_b.value:,.0f} members "
                f"(list of {self.sketch_date_b})",
                f"shared: ≈{s.value:,.0f} (95% bounds {s.lower:,.0f}–{s.upper:,.0f}); "
                f"{pct(self.share_of_a)} of A also follow B, {pct(self.share_of_b)} of B "
                f"follow A; Jaccard {pct(self.jaccard)}",
            ]
        )


def page_overlap(
    ref_a: str,
    ref_b: str,
    *,
    network: str = "vk",
    as_of: date | None = None,
    warehouse: Path | None = None,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
) -> Overlap:
    """The audience overlap of two pages or scopes.

    A page is given as in the registry (id, screen name or URL); a scope as `region=42`,
    `municipality=<name>`, `sector=<name>`, `organization=<name>` or `flagship=42` (a region's
    flagship pages), its pages taken from the current registry. Each page counts with its latest
    ok sketch at or before `as_of` (at most `max_age_days` old; without `as_of`, its latest);
    a scope is the union of its pages' sketches. Raises SketchUnavailable naming the operand.
    """
    with connect(warehouse, read_only=True) as con:
        page_a, date_a, blob_a = _operand(con, network, ref_a, as_of, max_age_days)
        page_b, date_b, blob_b = _operand(con, network, ref_b, as_of, max_age_days)
    pair = sketch_overlap(blob_a, blob_b)
    return Overlap(
        network=network,
        page_a=page_a,
        page_b=page_b,
        sketch_date_a=date_a,
        sketch_date_b=date_b,
        audience_a=pair.audience_a,
        audience_b=pair.audience_b,
        shared=pair.shared,
        share_of_a=pair.share_of_a,
        share_of_b=pair.share_of_b,
        jaccard=pair.jaccard,
    )


SCOPE_COLUMNS = {
    "region": "region_code",
    "flagship": "region_code",
    "municipality": "municipality",
    "sector": "sector",
    "organization": "organization",
}


def _operand(
    con: duckdb.DuckDBPyConnection, network: str, ref: str, as_of: date | None, max_age_days: int
) -> tuple[str, date, bytes | ds.compact_theta_sketch]:
    key = ref.split("=", 1)[0].strip().lower() if "=" in ref else None
    if key in SCOPE_COLUMNS:
        return _scope_sketch(con, network, ref, as_of, max_age_days)
    page = _resolve(con, network, ref)
    day, blob = _latest_sketch(con, network, page, ref, as_of, max_age_days)
    return page, day, blob


def _scope_sketch(
    con: duckdb.DuckDBPyConnection, network: str, spec: str, as_of: date | None, max_age_days: int
) -> tuple[str, date, ds.compact_theta_sketch]:
    """The union of a scope's latest page sketches, with a label saying how many pages it has."""
    key, value = (part.strip() for part in spec.split("=", 1))
    key = key.lower()
    column = SCOPE_COLUMNS[key]
    if column == "region_code":
        if not value.isdigit():
            raise SketchUnavailable(f"scope {spec!r}: the region is its numeric code")
        param: object = int(value)
    else:
        param = value
    flagship = " and r.is_flagship" if key == "flagship" else ""
    window, params = "", [network, param, network]
    if as_of is not None:
        window = " and s.snapshot_date <= ? and s.snapshot_date >= ?"
        params += [as_of, as_of - timedelta(days=max_age_days)]
    rows = con.execute(
        f"""
        with scope_pages as (
            select distinct
                case when r.ref_kind = 'id' then r.ref_value else p.page_ref end as page_ref
            from raw.registry_pages as r
            left join raw.page_refs as p
                on p.network = r.network and p.ref_kind = r.ref_kind
                and p.ref_value = r.ref_value
            where r.network = ? and r.{column} = ?{flagship}
        ),
        latest as (
            select s.page_ref, s.snapshot_date, s.theta_sketch,
                row_number() over (partition by s.page_ref order by s.snapshot_date desc) as n
            from raw.member_sketches as s
            inner join scope_pages using (page_ref)
            where s.network = ? and s.status = 'ok' and s.theta_sketch is not null{window}
        )
        select (select count(*) from scope_pages), snapshot_date, theta_sketch
        from latest where n = 1
        """,
        params,
    ).fetchall()
    if not rows:
        raise SketchUnavailable(f"scope {spec!r}: no page of it has a usable member-list sketch")
    union = union_theta(bytes(blob) for _, _, blob in rows)
    label = f"{spec} ({len(rows)} of {rows[0][0]} pages' lists)"
    return label, max(day for _, day, _ in rows), union


def _resolve(con: duckdb.DuckDBPyConnection, network: str, ref: str) -> str:
    """The stable page_ref of a registry reference; screen names through raw.page_refs."""
    try:
        normalized = normalize_ref(network, ref)
    except (BadReference, KeyError) as exc:
        raise SketchUnavailable(f"{network} page {ref!r}: not a page reference ({exc})") from exc
    if normalized.kind == "id":
        return normalized.value
    row = con.execute(
        "select page_ref from raw.page_refs "
        "where network = ? and ref_kind = 'screen_name' and lower(ref_value) = ?",
        [network, normalized.value],
    ).fetchone()
    if row is None or row[0] is None:
        raise SketchUnavailable(
            f"{network} page {ref!r}: screen name {normalized.value!r} is not resolved to an id"
        )
    return str(row[0])


def _latest_sketch(
    con: duckdb.DuckDBPyConnection,
    network: str,
    page_ref: str,
    ref: str,
    as_of: date | None,
    max_age_days: int,
) -> tuple[date, bytes]:
    """The date and theta sketch of the page's latest usable list, or SketchUnavailable."""
    window = ""
    params: list[object] = [network, page_ref]
    if as_of is not None:
        window = " and snapshot_date <= ? and snapshot_date >= ?"
        params += [as_of, as_of - timedelta(days=max_age_days)]
    rows = con.execute(
        "select snapshot_date, status, theta_sketch from raw.member_sketches "
        f"where network = ? and page_ref = ?{window} order by snapshot_date desc",
        params,
    ).fetchall()
    for snapshot_date, status, blob in rows:
        if status == "ok" and blob is not None:
            return snapshot_date, bytes(blob)
    name = f"{network} page {ref!r} (page_ref {page_ref})"
    when = f"on or up to {max_age_days} days before {as_of}" if as_of else "at all"
    if rows:
        latest_date, latest_status, _ = rows[0]
        raise SketchUnavailable(
            f"{name}: no usable member-list sketch {when}; "
            f"latest list status {latest_status!r} on {latest_date}"
        )
    raise SketchUnavailable(f"{name}: no member-list sketch {when}")

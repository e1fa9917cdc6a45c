"""The daily audience step: read the member lists that are due and store their sketches.

It runs after the day's snapshot is loaded (it needs each page's count to plan its calls and to
apply the budget), and before dbt builds the audience marts.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from extractors.vk.cities import RegionNotFound, region_cities
from extractors.vk.client import VkClient, VkRequestFailed
from extractors.vk.members import ListRequest, MemberSketch, read_member_lists
from extractors.vk.pool import VkClientPool
from gospulse.config import settings
from gospulse.config.regions import get_region
from gospulse.raw.sketches import THETA_LG_K, MemberHasher
from gospulse.raw.warehouse import bulk_insert, connect, replace_member_reads
from gospulse.registry.pages import ValidationResult

log = logging.getLogger(__name__)

# sketches are flushed to the warehouse in chunks so memory stays flat however big the region
FLUSH_EVERY = 100


@dataclass(frozen=True)
class AudienceConfig:
    """How often lists are re-read and how big a list may be."""

    cadence_days: int = 1
    big_page_members: int = 100_000
    big_page_cadence_days: int = 7
    max_members: int = 1_000_000
    # read user objects and count the members' attributes (deactivated, city)
    member_fields: bool = True

    @classmethod
    def from_env(cls) -> AudienceConfig:
        return cls(
            cadence_days=settings.read("GOSPULSE_AUDIENCE_CADENCE_DAYS"),
            big_page_members=settings.read("GOSPULSE_AUDIENCE_BIG_PAGE"),
            big_page_cadence_days=settings.read("GOSPULSE_AUDIENCE_BIG_PAGE_CADENCE_DAYS"),
            max_members=settings.read("GOSPULSE_AUDIENCE_MAX_MEMBERS"),
            member_fields=settings.read("GOSPULSE_AUDIENCE_MEMBER_FIELDS"),
        )

    def cadence_for(self, members: int) -> int:
        return self.big_page_cadence_days if members >= self.big_page_members else self.cadence_days


@dataclass
class AudienceSummary:
    """What one audience run did."""

    run_id: str
    snapshot_date: date
    pages_due: int = 0
    pages_not_due: int = 0
    pages_ok: int = 0
    pages_hidden: int = 0
    pages_over_budget: int = 0
    pages_failed: int = 0
    members_read: int = 0
    requests: int = 0
    lists_with_attributes: int = 0
    # regions whose cities VK could not list: their lists were read without attributes
    regions_without_cities: tuple[int, ...] = ()

    def describe(self) -> str:
        text = (
            f"audience vk {self.snapshot_date}: {self.pages_ok} lists read "
            f"({self.members_read:,} members hashed into sketches, "
            f"{self.lists_with_attributes} with their members' attributes counted), "
            f"{self.pages_hidden} hidden, {self.pages_over_budget} over budget, "
            f"{self.pages_failed} failed, {self.pages_not_due} not due; {self.requests} requests"
        )
        if self.regions_without_cities:
            codes = ", ".join(str(c) for c in self.regions_without_cities)
            text += f"; no VK cities for region {codes}"
        return text


def plan_audience(
    snapshot_date: date, registry: ValidationResult, warehouse: Path, config: AudienceConfig
) -> tuple[list[ListRequest], list[MemberSketch], int]:
    """Pages to read today, rows already decided without reading, and how many are not due."""
    refs = set(page_regions(registry, warehouse))
    with connect(warehouse) as con:
        snapshots = {
            ref: (members, status)
            for ref, members, status in con.execute(
                "select page_ref, members_count, status from raw.page_snapshots "
                "where network = 'vk' and snapshot_date = ?",
                [snapshot_date],
            ).fetchall()
        }
        last_read = dict(
            con.execute(
                "select page_ref, max(snapshot_date) from raw.member_sketches "
                "where network = 'vk' and status = 'ok' and snapshot_date < ? group by page_ref",
                [snapshot_date],
            ).fetchall()
        )
    if not snapshots:
        raise ValueError(
            f"no VK snapshot for {snapshot_date} in {warehouse}: extract that date before "
            "reading member lists (the day's counts plan the calls)"
        )
    due: list[ListRequest] = []
    decided: list[MemberSketch] = []
    not_due = 0
    for ref in sorted(refs, key=lambda r: (len(r), r)):
        members, status = snapshots.get(ref, (None, None))
        if status == "closed":
            # a closed community shows its members only to members
            decided.append(MemberSketch(ref, "hidden", members, 0, error="community is closed"))
            continue
        if status != "ok" or members is None:
            continue  # deleted, banned, not found or failed today: no audience to read
        previous = last_read.get(ref)
        if previous is not None and (snapshot_date - previous).days < config.cadence_for(members):
            not_due += 1
            continue
        if members > config.max_members:
            decided.append(
                MemberSketch(
                    ref,
                    "over_budget",
                    members,
                    0,
                    error=f"{members:,} members exceed the budget of {config.max_members:,}",
                )
            )
            continue
        due.append(ListRequest(ref, members))
    return due, decided, not_due


def collect_vk_audience(
    snapshot_date: date,
    *,
    registry: ValidationResult,
    warehouse: Path,
    client: VkClient | VkClientPool,
    hasher: MemberHasher,
    config: AudienceConfig | None = None,
) -> AudienceSummary:
    """Read the due member lists into sketches and store them for the date."""
    config = config or AudienceConfig.from_env()
    run_id = f"vk-audience-{snapshot_date}-{uuid.uuid4().hex[:8]}"
    due, decided, not_due = plan_audience(snapshot_date, registry, warehouse, config)
    summary = AudienceSummary(run_id, snapshot_date, pages_due=len(due), pages_not_due=not_due)
    requests_before = client.stats.requests
    log.info("audience %s: %d lists due, %d not due", snapshot_date, len(due), not_due)

    region_of = page_regions(registry, warehouse)
    regions = {region_of[r.page_ref] for r in due} if config.member_fields else set()
    cities = region_city_ids(warehouse, client, regions)
    summary.regions_without_cities = tuple(sorted(regions - cities.keys()))
    due = [replace(r, home_cities=cities.get(region_of[r.page_ref])) for r in due]
    buffer: list[MemberSketch] = list(decided)
    for sketch in read_member_lists(client, due, hasher):
        buffer.append(sketch)
        if len(buffer) >= FLUSH_EVERY:
            _flush(warehouse, snapshot_date, run_id, buffer, summary, region_of)
            buffer = []
    _flush(warehouse, snapshot_date, run_id, buffer, summary, region_of)
    summary.requests = client.stats.requests - requests_before
    log.info("%s", summary.describe())
    return summary


def page_regions(registry: ValidationResult, warehouse: Path) -> dict[str, int]:
    """The registered VK pages by stable id (screen names through raw.page_refs; one not
    resolved yet is left out), each with its region."""
    with connect(warehouse) as con:
        resolved = dict(
            con.execute(
                "select ref_value, page_ref from raw.page_refs "
                "where network = 'vk' and ref_kind = 'screen_name' and status = 'ok'"
            ).fetchall()
        )
    regions: dict[str, int] = {}
    for page in registry.pages:
        if page.network == "vk":
            ref = page.ref.value if page.ref.kind == "id" else resolved.get(page.ref.value)
            if ref is not None:
                regions.setdefault(ref, page.region_code)
    return regions


def region_city_ids(
    warehouse: Path, client: VkClient | VkClientPool, regions: set[int]
) -> dict[int, frozenset[int]]:
    """The VK city ids of each region: kept from an earlier run, else listed through VK's
    database methods once and stored. A region VK cannot list is left out (logged): its
    pages' lists are then read without their members' attributes."""
    with connect(warehouse) as con:
        stored: dict[int, set[int]] = {}
        for region, city in con.execute(
            "select region_code, city_id from raw.vk_region_cities"
        ).fetchall():
            stored.setdefault(region, set()).add(city)
    found = {region: frozenset(ids) for region, ids in stored.items() if region in regions}
    for region in sorted(regions - found.keys()):
        name = get_region(region).name
        try:
            listed = region_cities(client, name)
        except (RegionNotFound, VkRequestFailed, ValueError) as exc:
            log.warning("region %s (%s): no VK cities, lists read without attributes: %s",
                        region, name, exc)  # fmt: skip
            continue
        if not listed.cities:
            log.warning("region %s (%s): VK lists no city in it", region, name)
            continue
        resolved_at = datetime.now()
        with connect(warehouse) as con:
            con.execute("begin transaction")
            try:
                con.execute("delete from raw.vk_region_cities where region_code = ?", [region])
                bulk_insert(
                    con,
                    "raw.vk_region_cities",
                    [(region, listed.vk_region_id, listed.title, city, title, resolved_at)
                     for city, title in sorted(listed.cities.items())],
                )  # fmt: skip
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise
        log.info("region %s: %d VK cities of %s kept", region, len(listed.cities), listed.title)
        found[region] = frozenset(listed.cities)
    return found


def _flush(
    warehouse: Path,
    snapshot_date: date,
    run_id: str,
    sketches: list[MemberSketch],
    summary: AudienceSummary,
    region_of: dict[str, int],
) -> None:
    if not sketches:
        return
    rows = []
    attributes = []
    city_counts: list[tuple[str, str, date, int, int]] = []
    for s in sketches:
        if s.status == "ok" and s.attributes is not None:
            a = s.attributes
            attributes.append(
                ("vk", s.page_ref, snapshot_date, region_of[s.page_ref], a.deactivated,
                 THETA_LG_K, a.deactivated_theta_bytes(), a.in_region, a.elsewhere,
                 a.city_unknown, run_id)
            )  # fmt: skip
            city_counts.extend(
                ("vk", s.page_ref, snapshot_date, city, members)
                for city, members in sorted(a.by_city.items())
            )
            summary.lists_with_attributes += 1
        rows.append(
            (
                "vk",
                s.page_ref,
                snapshot_date,
                s.status,
                s.members_count,
                s.members_read,
                s.hll_lg_k,
                s.hll_sketch,
                s.theta_lg_k,
                s.theta_sketch,
                s.error,
                run_id,
            )
        )
        summary.members_read += s.members_read
        if s.status == "ok":
            summary.pages_ok += 1
        elif s.status == "hidden":
            summary.pages_hidden += 1
        elif s.status == "over_budget":
            summary.pages_over_budget += 1
        else:
            summary.pages_failed += 1
    with connect(warehouse) as con:
        replace_member_reads(con, rows, attributes, city_counts)

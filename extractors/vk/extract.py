"""VK daily snapshot: resolve screen names once, read counts in packed batches, record statuses.

Everything here takes a VkClient and returns records; writing to the warehouse is the loader's
job. A batch is what one execute request carries: up to 25 calls of up to 500 ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from extractors.base import (
    BatchResult,
    PageAddress,
    Resolution,
    chunked,
    is_loopback_url,
    sorted_unique,
)
from extractors.vk.client import CALLS_PER_EXECUTE, VkClient
from extractors.vk.pool import VkClientPool
from extractors.vk.records import (
    GROUP_FIELDS,
    groups_from_response,
    resolved_group_id,
    snapshot_from_group,
    unavailable_snapshot,
)
from gospulse.raw.warehouse import SnapshotRow

log = logging.getLogger(__name__)

IDS_PER_CALL = 500
# VK error 100: a bad parameter; for a single id it means VK does not know the page
INVALID_PARAM = 100


def plan_batches(
    page_refs: Iterable[str], ids_per_call: int = IDS_PER_CALL, requests_per_batch: int = 1
) -> list[list[str]]:
    """Split unique ids into batches of `requests_per_batch` execute requests (25 x 500 ids)."""
    return chunked(sorted_unique(page_refs), ids_per_call * CALLS_PER_EXECUTE * requests_per_batch)


def resolve_screen_names(client: VkClient | VkClientPool, names: Sequence[str]) -> list[Resolution]:
    """Resolve screen names to community ids with utils.resolveScreenName, 25 per request."""
    results = client.execute_all("utils.resolveScreenName", [{"screen_name": n} for n in names])
    out: list[Resolution] = []
    for name, res in zip(names, results, strict=True):
        if not res.ok:
            out.append(Resolution(name, None, "error", _error_text(res.error)))
            continue
        group_id = resolved_group_id(res.value)
        if group_id is None:
            kind = res.value.get("type") if isinstance(res.value, dict) else None
            reason = f"{name!r} is a {kind}, not a community" if kind else f"{name!r} not found"
            out.append(Resolution(name, None, "not_found", reason))
        else:
            out.append(Resolution(name, str(group_id), "ok"))
    return out


def _error_text(error: dict | None) -> str:
    error = error or {}
    code = error.get("error_code")
    return f"[{code}] {error.get('error_msg')}" if code is not None else str(error.get("error_msg"))


def fetch_batch(
    client: VkClient | VkClientPool,
    page_refs: Sequence[str],
    snapshot_date: date,
    run_id: str | None = None,
) -> BatchResult:
    """Read one batch of ids with groups.getById; every id comes back as exactly one row."""
    before = (
        client.stats.requests,
        client.stats.retries,
        client.stats.rate_limited,
        client.stats.wait_seconds,
    )
    rows: dict[str, SnapshotRow] = {}
    pending = chunked(list(page_refs), IDS_PER_CALL)
    while pending:
        params = [{"group_ids": ",".join(ids), "fields": GROUP_FIELDS} for ids in pending]
        results = client.execute_all("groups.getById", params)
        split: list[list[str]] = []
        for ids, res in zip(pending, results, strict=True):
            if res.ok:
                _take_groups(rows, ids, res.value, snapshot_date, run_id)
                continue
            code = (res.error or {}).get("error_code")
            if code is not None and len(ids) > 1:
                # VK fails a whole call for one id it refuses (100 invalid, 15 access denied…):
                # halve the list until the page is isolated, so the others still get counts.
                # A request that failed as a whole (code None) is not split: VK was unreachable.
                half = len(ids) // 2
                split.extend([ids[:half], ids[half:]])
                continue
            status = "not_found" if code == INVALID_PARAM else "error"
            for ref in ids:
                rows[ref] = unavailable_snapshot(
                    ref, snapshot_date, status, _error_text(res.error), run_id
                )
        pending = split
    stats = client.stats
    return BatchResult(
        rows=[rows[r] for r in page_refs if r in rows],
        requests=stats.requests - before[0],
        retries=stats.retries - before[1],
        rate_limited=stats.rate_limited - before[2],
        wait_seconds=stats.wait_seconds - before[3],
    )


def _take_groups(
    rows: dict[str, SnapshotRow],
    ids: list[str],
    value: object,
    snapshot_date: date,
    run_id: str | None,
) -> None:
    try:
        groups = groups_from_response(value)
    except ValueError as exc:
        for ref in ids:
            rows[ref] = unavailable_snapshot(ref, snapshot_date, "error", str(exc), run_id)
        return
    asked = set(ids)
    for group in groups:
        ref = str(group.get("id")) if isinstance(group, dict) else None
        if ref not in asked:
            continue
        try:
            rows[ref] = snapshot_from_group(group, snapshot_date, run_id)
        except (KeyError, TypeError, ValueError) as exc:
            rows[ref] = unavailable_snapshot(
                ref, snapshot_date, "error", f"unreadable group object: {exc}", run_id
            )
    for ref in ids:
        if ref not in rows:
            # VK leaves ids it does not know out of the answer
            rows[ref] = unavailable_snapshot(
                ref, snapshot_date, "not_found", "not returned by groups.getById", run_id
            )


class VkExtractor:
    """The VK daily count as the pipeline drives every network (extractors.base)."""

    network = "vk"

    def __init__(self, client: VkClient | VkClientPool):
        self.client = client

    @property
    def simulated(self) -> bool:
        return is_loopback_url(self.client.base_url)

    def counters(self) -> dict[str, float]:
        s = self.client.stats
        return {
            "requests": s.requests,
            "retries": s.retries,
            "rate_limited": s.rate_limited,
            "wait_seconds": s.wait_seconds,
        }

    def resolve(self, names: Sequence[str]) -> list[Resolution]:
        return resolve_screen_names(self.client, names)

    def plan_batches(self, page_refs: Iterable[str]) -> list[list[str]]:
        # a batch keeps every token of a pool busy: one execute request per connection
        return plan_batches(page_refs, requests_per_batch=getattr(self.client, "parallelism", 1))

    def fetch_batch(
        self,
        page_refs: Sequence[str],
        snapshot_date: date,
        run_id: str | None,
        addresses: Mapping[str, PageAddress],
    ) -> BatchResult:
        return fetch_batch(self.client, page_refs, snapshot_date, run_id)

    def close(self) -> None:
        """Release the client's connections (and a pool's threads)."""
        self.client.close()

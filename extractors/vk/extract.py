"""VK daily snapshot: resolve screen names once, read counts in packed batches, record statuses.

Everything here takes a VkClient and returns records; writing to the warehouse is the loader's
job. A batch is what one execute request carries: up to 25 calls of up to 500 ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from extractors.vk.client import CALLS_PER_EXECUTE, VkClient, VkRequestFailed
from extractors.vk.records import (
    GROUP_FIELDS,
    groups_from_response,
    resolved_group_id,
    snapshot_from_group,
    unavailable_snapshot,
)
from gospulse.warehouse import SnapshotRow

log = logging.getLogger(__name__)

IDS_PER_CALL = 500
# VK error 100: a bad parameter, e.g. one id in the list VK refuses; split the call to find it
INVALID_PARAM = 100


@dataclass(frozen=True)
class Resolution:
    """What a screen name resolved to: a community id, or a status saying why not."""

    screen_name: str
    page_ref: str | None
    status: str
    error: str | None = None


@dataclass
class BatchResult:
    """Snapshot rows of one batch and the client's counters while reading it."""

    rows: list[SnapshotRow] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    wait_seconds: float = 0.0


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def plan_batches(page_refs: Iterable[str], ids_per_call: int = IDS_PER_CALL) -> list[list[str]]:
    """Split unique ids into batches of one execute request each (25 calls x 500 ids)."""
    unique = sorted(set(page_refs), key=lambda r: (len(r), r))
    return chunked(unique, ids_per_call * CALLS_PER_EXECUTE)


def resolve_screen_names(client: VkClient, names: Sequence[str]) -> list[Resolution]:
    """Resolve screen names to community ids with utils.resolveScreenName, 25 per request."""
    out: list[Resolution] = []
    for pack in chunked(list(names), CALLS_PER_EXECUTE):
        try:
            results = client.execute_calls(
                "utils.resolveScreenName", [{"screen_name": n} for n in pack]
            )
        except VkRequestFailed as exc:
            out.extend(Resolution(n, None, "error", str(exc)) for n in pack)
            continue
        for name, res in zip(pack, results, strict=True):
            if not res.ok:
                err = res.error or {}
                out.append(
                    Resolution(name, None, "error", f"[{err.get('error_code')}] {err.get('error_msg')}")
                )
                continue
            group_id = resolved_group_id(res.value)
            if group_id is None:
                kind = res.value.get("type") if isinstance(res.value, dict) else None
                reason = f"{name!r} is a {kind}, not a community" if kind else f"{name!r} not found"
                out.append(Resolution(name, None, "not_found", reason))
            else:
                out.append(Resolution(name, str(group_id), "ok"))
    return out


def fetch_batch(
    client: VkClient, page_refs: Sequence[str], snapshot_date: date, run_id: str | None = None
) -> BatchResult:
    """Read one batch of ids with groups.getById; every id comes back as exactly one row."""
    before = (client.stats.requests, client.stats.retries, client.stats.rate_limited,
              client.stats.wait_seconds)
    rows: dict[str, SnapshotRow] = {}
    pending = chunked(list(page_refs), IDS_PER_CALL)
    while pending:
        pack, pending = pending[:CALLS_PER_EXECUTE], pending[CALLS_PER_EXECUTE:]
        params = [{"group_ids": ",".join(ids), "fields": GROUP_FIELDS} for ids in pack]
        try:
            results = client.execute_calls("groups.getById", params)
        except VkRequestFailed as exc:
            for ids in pack:
                for ref in ids:
                    rows[ref] = unavailable_snapshot(ref, snapshot_date, "error", str(exc), run_id)
            continue
        for ids, res in zip(pack, results, strict=True):
            if res.ok:
                _take_groups(rows, ids, res.value, snapshot_date, run_id)
                continue
            err = res.error or {}
            if err.get("error_code") == INVALID_PARAM and len(ids) > 1:
                half = len(ids) // 2
                pending.extend([ids[:half], ids[half:]])
                continue
            message = f"[{err.get('error_code')}] {err.get('error_msg')}"
            status = "not_found" if err.get("error_code") == INVALID_PARAM else "error"
            for ref in ids:
                rows[ref] = unavailable_snapshot(ref, snapshot_date, status, message, run_id)
    stats = client.stats
    return BatchResult(
        rows=[rows[r] for r in page_refs if r in rows],
        requests=stats.requests - before[0],
        retries=stats.retries - before[1],
        rate_limited=stats.rate_limited - before[2],
        wait_seconds=stats.wait_seconds - before[3],
    )


def _take_groups(
    rows: dict[str, SnapshotRow], ids: list[str], value: object, snapshot_date: date, run_id: str | None
) -> None:
    try:
        groups = groups_from_response(value)
    except ValueError as exc:
        for ref in ids:
            rows[ref] = unavailable_snapshot(ref, snapshot_date, "error", str(exc), run_id)
        return
    asked = set(ids)
    for group in groups:
        try:
            row = snapshot_from_group(group, snapshot_date, run_id)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("unreadable group object %r: %s", str(group)[:120], exc)
            continue
        if row.page_ref in asked:
            rows[row.page_ref] = row
    for ref in ids:
        if ref not in rows:
            # VK leaves ids it does not know out of the answer
            rows[ref] = unavailable_snapshot(
                ref, snapshot_date, "not_found", "not returned by groups.getById", run_id
            )

"""OK daily snapshot: resolve short names once with url.getInfo, read counts with group.getInfo.

A batch (one mapped Airflow task) is IDS_PER_BATCH ids, read IDS_PER_CALL at a time. OK's
group.getInfo page gives no maximum for uids; its sibling methods users.getInfo and
group.getUserGroupsByIds document 100 ids per request, and 100 is assumed here.

Also assumed, as OK's pages are silent: group.getInfo leaves ids it does not know out of its
answer (recorded not_found) and fails the whole call for an id it refuses (the list is halved
until that id is alone); url.getInfo answers an unknown address with 300 NOT_FOUND, or with a
type other than GROUP for a profile or an application (both recorded not_found).
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
from extractors.ok.client import OkApiError, OkClient, OkRequestFailed
from extractors.ok.records import (
    GROUP_FIELDS,
    group_url,
    groups_from_response,
    resolved_group_id,
    snapshot_from_group,
    unavailable_snapshot,
)
from gospulse.raw.warehouse import SnapshotRow

log = logging.getLogger(__name__)

IDS_PER_CALL = 100
IDS_PER_BATCH = 2000
# 100 PARAM, 160 PARAM_GROUP_ID, 300 NOT_FOUND: for a single name, OK does not know the group
NOT_FOUND_ERRORS = frozenset({100, 160, 300})


class OkExtractor:
    """The pipeline's NetworkExtractor for Odnoklassniki groups."""

    network = "ok"

    def __init__(self, client: OkClient, *, ids_per_batch: int = IDS_PER_BATCH) -> None:
        self.client = client
        self.ids_per_batch = ids_per_batch

    @property
    def simulated(self) -> bool:
        return is_loopback_url(self.client.url)

    def counters(self) -> dict[str, float]:
        s = self.client.stats
        return {
            "requests": s.requests,
            "retries": s.retries,
            "rate_limited": s.rate_limited,
            "wait_seconds": s.wait_seconds,
        }

    def resolve(self, names: Sequence[str]) -> list[Resolution]:
        """Resolve short names to group ids with url.getInfo, one request per name."""
        out: list[Resolution] = []
        failure: str | None = None
        for name in names:
            if failure is not None:
                # OK was unreachable for the previous name after all retries
                out.append(Resolution(name, None, "error", failure))
                continue
            if name.isdigit():
                # already a group id (ok.ru/group/<id>); group.getInfo will say if it exists
                out.append(Resolution(name, name, "ok"))
                continue
            try:
                value = self.client.call("url.getInfo", {"url": group_url(name)})
            except OkApiError as exc:
                status = "not_found" if exc.code in NOT_FOUND_ERRORS else "error"
                out.append(Resolution(name, None, status, f"[{exc.code}] {exc.message}"))
                continue
            except OkRequestFailed as exc:
                failure = str(exc)
                out.append(Resolution(name, None, "error", failure))
                continue
            group_id = resolved_group_id(value)
            if group_id is not None:
                out.append(Resolution(name, group_id, "ok"))
                continue
            kind = value.get("type") if isinstance(value, dict) else None
            reason = (
                f"{name!r} is a {kind}, not a group"
                if kind and str(kind).upper() != "UNKNOWN"
                else f"{name!r} not found"
            )
            out.append(Resolution(name, None, "not_found", reason))
        return out

    def plan_batches(self, page_refs: Iterable[str]) -> list[list[str]]:
        """Unique ids in a stable order, IDS_PER_BATCH (20 calls of 100) per batch."""
        return chunked(sorted_unique(page_refs), self.ids_per_batch)

    def fetch_batch(
        self,
        page_refs: Sequence[str],
        snapshot_date: date,
        run_id: str | None = None,
        addresses: Mapping[str, PageAddress] | None = None,
    ) -> BatchResult:
        """Read one batch with group.getInfo; every id comes back as exactly one row."""
        before = self.counters()
        rows: dict[str, SnapshotRow] = {}
        failure: str | None = None
        for ids in chunked(list(dict.fromkeys(page_refs)), IDS_PER_CALL):
            if failure is None:
                try:
                    answered = self._read(ids, rows, snapshot_date, run_id)
                except OkRequestFailed as exc:
                    # retries are spent: OK is unreachable or throttling, and the rest of the
                    # batch would only repeat the wait
                    failure = str(exc)
                else:
                    if answered or len(ids) == 1:
                        continue
                    # every id refused on its own: the request is wrong, not the pages, and
                    # halving the rest of the batch would cost two calls per id
                    failure = f"group.getInfo refused every id of a call: {rows[ids[0]].error}"
                log.error("ok batch: %s; the rest of the batch is recorded as error", failure)
            for ref in ids:
                if ref not in rows:
                    rows[ref] = unavailable_snapshot(ref, snapshot_date, "error", failure, run_id)
        after = self.counters()
        return BatchResult(
            rows=[rows[r] for r in dict.fromkeys(page_refs)],
            requests=int(after["requests"] - before["requests"]),
            retries=int(after["retries"] - before["retries"]),
            rate_limited=int(after["rate_limited"] - before["rate_limited"]),
            wait_seconds=after["wait_seconds"] - before["wait_seconds"],
        )

    def _read(
        self, ids: list[str], rows: dict[str, SnapshotRow], day: date, run_id: str | None
    ) -> int:
        """Read ids into rows, halving on a refused call; returns how many OK answered for."""
        try:
            value = self.client.call(
                "group.getInfo", {"uids": ",".join(ids), "fields": GROUP_FIELDS}
            )
        except OkApiError as exc:
            if len(ids) > 1:
                # OK fails a whole call for one id it refuses: halve the list until that id
                # is alone, so the others still get counts
                half = len(ids) // 2
                return self._read(ids[:half], rows, day, run_id) + self._read(
                    ids[half:], rows, day, run_id
                )
            ref = ids[0]
            # 100 PARAM for a lone id means "not an id" only when it is not a number; for a
            # number it more likely means our request is wrong, which must not look like a gap
            missing = exc.code in (160, 300) or (exc.code == 100 and not ref.isdigit())
            rows[ref] = unavailable_snapshot(
                ref, day, "not_found" if missing else "error", f"[{exc.code}] {exc.message}", run_id
            )
            return 0
        _take_groups(rows, ids, value, day, run_id)
        return len(ids)

    def close(self) -> None:
        self.client.close()


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
        ref = str(group.get("uid")) if isinstance(group, dict) else None
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
            # OK leaves ids it does not know out of the answer
            rows[ref] = unavailable_snapshot(
                ref, snapshot_date, "not_found", "not returned by group.getInfo", run_id
            )

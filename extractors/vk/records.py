"""Pure functions turning VK API 5.199 payloads into snapshot records (no I/O)."""

from __future__ import annotations

from datetime import date
from typing import Any

from extractors.base import checked_count
from gospulse.raw.warehouse import SnapshotRow

NETWORK = "vk"
# fields groups.getById returns only on request; name, screen_name, is_closed, deactivated and
# type come with every group object (VK API 5.199, groups_group_full)
GROUP_FIELDS = "members_count,verified,screen_name"
_DEACTIVATED = {"deleted": "deleted", "banned": "banned"}


def group_status(group: dict[str, Any]) -> str:
    """ok, deleted, banned or closed, from a group object's deactivated and is_closed fields."""
    deactivated = group.get("deactivated")
    if deactivated:
        # VK documents 'deleted' and 'banned'; anything new is still not a live page
        return _DEACTIVATED.get(deactivated, "banned")
    if group.get("is_closed") in (1, 2):
        return "closed"
    return "ok"


def snapshot_from_group(
    group: dict[str, Any], snapshot_date: date, run_id: str | None = None
) -> SnapshotRow:
    """One page's snapshot from its groups.getById object."""
    page_ref = str(group["id"])
    status = group_status(group)
    members = group.get("members_count")
    error = None
    if status in ("deleted", "banned"):
        members = None
    elif status == "ok" and members is None:
        status, error = "error", "members_count missing from groups.getById response"
    elif status == "ok":
        members, error = checked_count(members, "members_count")
        status = "error" if error else status
    return SnapshotRow(
        network=NETWORK,
        page_ref=page_ref,
        snapshot_date=snapshot_date,
        members_count=members,
        status=status,
        screen_name=group.get("screen_name"),
        page_name=group.get("name"),
        is_verified=bool(group["verified"]) if "verified" in group else None,
        error=error,
        run_id=run_id,
    )


def unavailable_snapshot(
    page_ref: str, snapshot_date: date, status: str, error: str | None, run_id: str | None = None
) -> SnapshotRow:
    """A page we could not read: not_found or error, never a count of 0."""
    return SnapshotRow(
        network=NETWORK,
        page_ref=page_ref,
        snapshot_date=snapshot_date,
        members_count=None,
        status=status,
        error=error,
        run_id=run_id,
    )


def groups_from_response(value: Any) -> list[dict[str, Any]]:
    """The group objects of a groups.getById response ({"groups": [...], "profiles": [...]})."""
    if isinstance(value, dict) and isinstance(value.get("groups"), list):
        return value["groups"]
    if isinstance(value, list):  # the pre-5.139 shape, accepted for recorded history
        return value
    raise ValueError(f"unexpected groups.getById response: {str(value)[:200]}")


def resolved_group_id(value: Any) -> int | None:
    """The community id of a utils.resolveScreenName response, None when it is not a community."""
    if isinstance(value, dict) and value.get("type") in ("group", "page", "event"):
        return int(value["object_id"])
    return None

"""Pure functions turning OK group.getInfo and url.getInfo payloads into records (no I/O).

Sources:
- group.getInfo (https://apiok.ru/dev/methods/rest/group/group.getInfo): uids (comma-separated,
  required), fields (required), move_to_top; session optional. The group object carries uid
  (a string), name, shortname, members_count and access_type, one of OPEN, CLOSED, SECRET.
  The page draws the answer as {"groups": [...]}, but the live API answers a bare JSON array
  of group objects (the fixture in django-odnoklassniki-groups' tests and the
  social-media mimic client both parse a list); both shapes are accepted here.
- url.getInfo (https://apiok.ru/en/dev/methods/rest/url/url.getInfo): url -> {objectId,
  objectIdEncoded, objectIdStr, type}; groups come back with type "GROUP" (the type
  django-odnoklassniki-api checks), users with "PROFILE". The method accepts
  https://ok.ru/<shortname> and https://ok.ru/group/<id>.

Status mapping, and what is assumed because OK documents no deleted/blocked marker:
- access_type CLOSED or SECRET, or private = true -> closed (members_count is still shown);
- blocked = true (a group field real OK clients request), or status BLOCKED / BANNED -> banned;
- status DELETED -> deleted;
- otherwise ok. A deleted or banned group never gets a count; an ok one without
  members_count is an error, never a 0.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from extractors.base import checked_count
from gospulse.raw.warehouse import SnapshotRow

NETWORK = "ok"
# the fields the mapping above reads; OK returns only the fields asked for
GROUP_FIELDS = "uid,name,shortname,members_count,access_type,status,blocked,private"
CLOSED_ACCESS = frozenset({"CLOSED", "SECRET"})
_STATUS = {"DELETED": "deleted", "BLOCKED": "banned", "BANNED": "banned"}


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def group_status(group: dict[str, Any]) -> str:
    """ok, deleted, banned or closed, from a group object's status, blocked and access_type."""
    status = str(group.get("status") or "").upper()
    if status in _STATUS:
        return _STATUS[status]
    if _truthy(group.get("blocked")):
        return "banned"
    if str(group.get("access_type") or "").upper() in CLOSED_ACCESS or _truthy(
        group.get("private")
    ):
        return "closed"
    return "ok"


def snapshot_from_group(
    group: dict[str, Any], snapshot_date: date, run_id: str | None = None
) -> SnapshotRow:
    """One page's snapshot from its group.getInfo object."""
    page_ref = str(group["uid"])
    status = group_status(group)
    members = group.get("members_count")
    error = None
    if status in ("deleted", "banned"):
        members = None
    elif members is None:
        status, error = "error", "members_count missing from group.getInfo response"
    else:
        # a closed group still shows its count: the same check applies
        members, error = checked_count(members, "members_count")
        status = "error" if error else status
    return SnapshotRow(
        network=NETWORK,
        page_ref=page_ref,
        snapshot_date=snapshot_date,
        members_count=members,
        status=status,
        screen_name=group.get("shortname") or None,
        page_name=group.get("name"),
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
    """The group objects of a group.getInfo answer (a bare list, or {"groups": [...]})."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and isinstance(value.get("groups"), list):
        return value["groups"]
    raise ValueError(f"unexpected group.getInfo response: {str(value)[:200]}")


def resolved_group_id(value: Any) -> str | None:
    """The group id of a url.getInfo answer, None when the address is not a group."""
    if not isinstance(value, dict) or str(value.get("type") or "").upper() != "GROUP":
        return None
    object_id = value.get("objectId") or value.get("objectIdStr")
    return str(object_id) if object_id not in (None, "") else None


def group_url(name: str) -> str:
    """The ok.ru address url.getInfo resolves for a short name."""
    return f"https://ok.ru/{name.strip().strip('/')}"

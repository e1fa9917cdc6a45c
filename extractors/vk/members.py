"""VK member lists streamed into per-page sketches: IDs are hashed and dropped as they arrive.

Calls are packed across pages: one execute carries 25 `groups.getMembers` calls of 1000 ids,
whichever pages they belong to, so a region of mostly small pages costs about
sum(ceil(members / 1000)) / 25 requests. No list is ever held whole: each response's ids go
into the page's sketches and are released.

A page read with its region's cities (ListRequest.home_cities) asks for user objects
(`fields=city`): each member's deactivation and city are counted (MemberAttributes) and
dropped with the rest of the object; no name, id or city of a person is kept.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from extractors.vk.client import CALLS_PER_EXECUTE, VkClient
from extractors.vk.pool import VkClientPool
from gospulse.raw.sketches import (
    HLL_LG_K,
    THETA_LG_K,
    MemberAttributes,
    MemberHasher,
    PageAudience,
)

log = logging.getLogger(__name__)

MEMBERS_PER_CALL = 1000
# 15 access denied: the community hides its members (or is closed to us)
HIDDEN_ERRORS = frozenset({15, 203})
# 100 / 125 invalid group id: VK does not know the community (deleted or never existed)
NOT_FOUND_ERRORS = frozenset({100, 125})


@dataclass(frozen=True)
class ListRequest:
    """A page whose member list should be read, with the count its snapshot reported."""

    page_ref: str
    members_count: int
    # the VK city ids of the page's region: given, the read counts the members' attributes
    home_cities: frozenset[int] | None = None


@dataclass
class MemberSketch:
    """One page's outcome: its sketches (status ok) or why there are none."""

    page_ref: str
    status: str
    members_count: int | None
    members_read: int
    hll_lg_k: int | None = None
    hll_sketch: bytes | None = None
    theta_lg_k: int | None = None
    theta_sketch: bytes | None = None
    error: str | None = None
    attributes: MemberAttributes | None = None  # when the read asked for them


@dataclass
class _PageProgress:
    planned: int  # offsets already asked for cover [0, planned)
    pending: int  # calls asked but not answered yet
    home_cities: frozenset[int] | None = None
    audience: PageAudience | None = None  # created at the first answer
    attributes: MemberAttributes | None = None
    reported: int | None = None  # the count VK reported while we read
    failed: str | None = None
    status: str = "ok"


def _calls_for(page_ref: str, start: int, end: int) -> list[tuple[str, int]]:
    return [(page_ref, offset) for offset in range(start, end, MEMBERS_PER_CALL)]


def read_member_lists(
    client: VkClient | VkClientPool, pages: Sequence[ListRequest], hasher: MemberHasher
) -> Iterator[MemberSketch]:
    """Read the pages' member lists, yielding each page's sketches as soon as it is complete."""
    progress: dict[str, _PageProgress] = {}
    counts: dict[str, int] = {}
    queue: deque[tuple[str, int]] = deque()
    for request in pages:
        planned = _round_up(max(request.members_count, 1))
        calls = _calls_for(request.page_ref, 0, planned)
        progress[request.page_ref] = _PageProgress(
            planned=planned, pending=len(calls), home_cities=request.home_cities
        )
        counts[request.page_ref] = request.members_count
        queue.extend(calls)

    while queue:
        pack = [queue.popleft() for _ in range(min(CALLS_PER_EXECUTE, len(queue)))]
        params = [
            {"group_id": ref, "offset": offset, "count": MEMBERS_PER_CALL, "sort": "id_asc"}
            | ({"fields": "city"} if progress[ref].home_cities is not None else {})
            for ref, offset in pack
        ]
        results = client.execute_all("groups.getMembers", params)
        for (ref, _offset), res in zip(pack, results, strict=True):
            page = progress[ref]
            page.pending -= 1
            if page.failed is None:
                if res.ok:
                    tail = _take(page, hasher, ref, res.value)
                    # a list that grew while we read it: ask for the new tail next
                    page.pending += len(tail)
                    queue.extendleft(reversed(tail))
                else:
                    _fail(page, res.error or {})
            if page.pending == 0:
                yield _finish(ref, progress.pop(ref), counts[ref])


def _round_up(n: int) -> int:
    return -(-n // MEMBERS_PER_CALL) * MEMBERS_PER_CALL


def _take(
    page: _PageProgress, hasher: MemberHasher, ref: str, value: object
) -> list[tuple[str, int]]:
    if not isinstance(value, dict) or not isinstance(value.get("items"), list):
        page.failed, page.status = f"unexpected getMembers response: {str(value)[:120]}", "error"
        return []
    if page.audience is None:
        page.audience = PageAudience(hasher)
        if page.home_cities is not None:
            page.attributes = MemberAttributes(hasher, page.home_cities)
    try:
        ids = _member_ids(value["items"], page.attributes)
    except (TypeError, ValueError, KeyError) as exc:
        page.failed, page.status = f"unexpected getMembers item: {exc}", "error"
        return []
    page.audience.add(ids)
    reported = int(value.get("count", 0))
    page.reported = reported
    if reported > page.planned:
        start, page.planned = page.planned, _round_up(reported)
        return _calls_for(ref, start, page.planned)
    return []


def _member_ids(items: list, attributes: MemberAttributes | None) -> list[int]:
    """The member ids of one answer; user objects (a read with fields) are counted into
    `attributes` on the way. An item that is neither raises, naming its kind, never its value
    (it may be a person's)."""
    if attributes is None:
        return [_user_id(item) for item in items]
    ids = []
    for item in items:
        if not isinstance(item, dict):
            raise TypeError(f"a {type(item).__name__} where a user object belongs")
        user_id = _user_id(item["id"])
        city = item.get("city")
        city_id = city.get("id") if isinstance(city, dict) else None
        if city_id is not None and (type(city_id) is not int or city_id <= 0):
            raise ValueError(f"a city id of type {type(city_id).__name__} or not positive")
        attributes.add(user_id, bool(item.get("deactivated")), city_id)
        ids.append(user_id)
    return ids


def _user_id(value: object) -> int:
    # bool is an int to Python, never a user id
    if type(value) is not int or value <= 0:
        raise ValueError(f"a user id of type {type(value).__name__} or not positive")
    return value


def _fail(page: _PageProgress, error: dict) -> None:
    code = error.get("error_code")
    message = error.get("error_msg")
    page.failed = f"[{code}] {message}" if code is not None else str(message)
    if code in HIDDEN_ERRORS:
        page.status = "hidden"
    elif code in NOT_FOUND_ERRORS:
        page.status = "not_found"
    else:
        page.status = "error"


def _finish(ref: str, page: _PageProgress, expected: int) -> MemberSketch:
    if page.failed is not None:
        # a partly read list would undercount: no sketch rather than a wrong one
        return MemberSketch(ref, page.status, page.reported or expected, 0, error=page.failed)
    audience = page.audience
    if audience is None:  # cannot happen: a page with no failure got at least one answer
        raise RuntimeError(f"page {ref}: finished without any answer")
    return MemberSketch(
        page_ref=ref,
        status="ok",
        members_count=page.reported if page.reported is not None else expected,
        members_read=audience.members_read,
        hll_lg_k=HLL_LG_K,
        hll_sketch=audience.hll_bytes(),
        theta_lg_k=THETA_LG_K,
        theta_sketch=audience.theta_bytes(),
        attributes=page.attributes,
    )

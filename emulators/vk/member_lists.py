"""Member lists as groups.getMembers serves them: ordered slices with a small cache.

id_asc/id_desc need the whole list sorted; one page is paged through by many consecutive calls
(25 per execute), so sorted lists are cached per (page, count), bounded by total ids held.
time_asc/time_desc are join order and cost only the requested slice.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from emulators.vk.world import Page, World

SORTS = ("id_asc", "id_desc", "time_asc", "time_desc")
CACHE_IDS = 8_000_000  # about 64 MB of int64; the largest demo page holds ~0.35 M ids


class MemberLists:
    """Slices of member lists of a World's pages, in any of VK's sort orders."""

    def __init__(self, world: World, cache_ids: int = CACHE_IDS):
        self.world = world
        self.cache_ids = cache_ids
        self._sorted: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def slice(self, page: Page, total: int, sort: str, offset: int, count: int) -> list[int]:
        """User ids number offset..offset+count-1 of the page's `total` members in `sort` order."""
        stop = min(total, offset + count)
        if offset >= stop:
            return []
        audience = self.world.audience
        if sort == "time_asc":
            return audience.user_ids(audience.persons(page, stop, offset)).tolist()
        if sort == "time_desc":  # newest first: join numbers total-1-offset down
            ids = audience.user_ids(audience.persons(page, total - offset, total - stop))
            return ids[::-1].tolist()
        ids = self._sorted_ids(page, total)
        if sort == "id_desc":
            return ids[total - stop : total - offset][::-1].tolist()
        return ids[offset:stop].tolist()

    def _sorted_ids(self, page: Page, total: int) -> np.ndarray:
        key = (page.id, total)  # members are the first `total` joiners, whatever the date
        with self._lock:
            ids = self._sorted.get(key)
            if ids is not None:
                self._sorted.move_to_end(key)
                return ids
        # computed outside the lock: two threads may both build a list, never block each other
        audience = self.world.audience
        ids = np.sort(audience.user_ids(audience.persons(page, total)))
        with self._lock:
            if key not in self._sorted:
                self._sorted[key] = ids
                self._held += ids.size
            while self._held > self.cache_ids and len(self._sorted) > 1:
                _, old = self._sorted.popitem(last=False)
                self._held -= old.size
        return ids

"""A region's cities as VK lists them (database.getRegions, database.getCities), so that a
member's city can be told to lie in the page's region or elsewhere.

VK names Russia's regions its own way ("Кемеровская область" for Кемеровская область —
Кузбасс) and gives them ids of its own, so a region is found by its distinctive word and
the title that matches it; the cities are then listed in pages of 1000.
"""

from __future__ import annotations

from dataclasses import dataclass

from extractors.vk.client import VkClient
from extractors.vk.pool import VkClientPool

COUNTRY_RUSSIA = 1
PAGE = 1000
# words every kind of subject shares: they find nothing distinctive
_GENERIC = {"республика", "область", "край", "автономный", "автономная", "округ", "город", "—"}


class RegionNotFound(LookupError):
    """VK lists no region (or several) for a federal subject's name."""


@dataclass(frozen=True)
class RegionCities:
    """A region's VK id and its cities (id -> title)."""

    vk_region_id: int
    title: str
    cities: dict[int, str]


def region_query(name: str) -> str:
    """The word of a subject's name VK's region search is asked for: the first that is not a
    kind of subject ("Кемеровская" of "Кемеровская область — Кузбасс")."""
    words = [
        w for w in name.replace("(", " ").replace(")", " ").split() if w.lower() not in _GENERIC
    ]
    if not words:
        raise RegionNotFound(f"{name!r} has no distinctive word to search VK's regions for")
    return words[0]


def find_region(client: VkClient | VkClientPool, name: str) -> tuple[int, str]:
    """VK's (region id, title) for a federal subject's name: the single region the search
    gives, or the one whose title is the name's part before " — " when it gives several."""
    answer = client.call(
        "database.getRegions", {"country_id": COUNTRY_RUSSIA, "q": region_query(name), "count": 100}
    )
    try:
        items = [(int(i["id"]), str(i["title"])) for i in answer["items"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"database.getRegions for {name!r}: unexpected answer ({exc})") from None
    if len(items) == 1:
        return items[0]
    wanted = name.split(" — ")[0].strip().lower()
    exact = [item for item in items if item[1].strip().lower() == wanted]
    if len(exact) == 1:
        return exact[0]
    titles = ", ".join(t for _, t in items) or "none"
    raise RegionNotFound(f"VK's regions for {name!r}: {titles}; cannot tell which it is")


def region_cities(client: VkClient | VkClientPool, name: str) -> RegionCities:
    """Every city VK lists in the region of that name."""
    region_id, title = find_region(client, name)
    cities: dict[int, str] = {}
    offset = 0
    while True:
        answer = client.call(
            "database.getCities",
            {"country_id": COUNTRY_RUSSIA, "region_id": region_id, "need_all": 1,
             "offset": offset, "count": PAGE},
        )  # fmt: skip
        items = answer.get("items", [])
        for item in items:
            city_id = item.get("id")
            if type(city_id) is not int or city_id <= 0:
                raise ValueError(
                    f"database.getCities of region {region_id}: bad city id {city_id!r}"
                )
            cities[city_id] = str(item.get("title", ""))
        offset += len(items)
        if not items or offset >= int(answer.get("count", 0)):
            break
    return RegionCities(region_id, title, cities)

"""The people behind the world's member lists as VK shows them: user objects and cities.

`groups.getMembers` with `fields` answers user objects (users_user_full in VK's 5.199 schema:
id, first_name, last_name, can_access_closed, is_closed; `deactivated` "deleted" or "banned"
for an account VK removed; `city` {id, title} when asked for and the user shows one).
Everything is derived from the world's seed and the person, so a read is repeatable:
- DEACTIVATED_SHARE of people are deleted or banned accounts;
- HIDDEN_CITY_SHARE show no city;
- ELSEWHERE_SHARE show a city outside the region (they moved away, or never lived there);
- everyone else shows the town of the municipality whose pool they belong to.
Members of an injected wave (emulators.vk.world.Wave) are bought accounts, banned from the
wave's deactivated_on and showing no city, or people who show a city outside the region.

`database.getRegions` and `database.getCities` list VK's regions and cities. VK's own ids of
Russian regions and cities are not published as a table, so the ids here are made up, except
Moscow's 1.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from emulators.vk.kuzbass import MUNICIPALITIES
from emulators.vk.world import WAVE_ID_BASE

if TYPE_CHECKING:
    from emulators.vk.world import World

DEACTIVATED_SHARE = 0.015
BANNED_OF_DEACTIVATED = 1 / 3
HIDDEN_CITY_SHARE = 0.25
ELSEWHERE_SHARE = 0.07

COUNTRY_RUSSIA = 1
KUZBASS_REGION_ID = 1_004_200  # made up (see the module docstring)
FIRST_KUZBASS_CITY_ID = 4_200_001
# (region id, title) as VK names them: VK keeps the older names of some subjects
REGIONS: tuple[tuple[int, str], ...] = (
    (KUZBASS_REGION_ID, "Кемеровская область"),
    (1_005_400, "Новосибирская область"),
    (1_007_000, "Томская область"),
    (1_007_700, "Москва"),
)
# cities outside the region that people show: (id, title, region id)
ELSEWHERE_CITIES: tuple[tuple[int, str, int], ...] = (
    (1, "Москва", 1_007_700),
    (99, "Новосибирск", 1_005_400),
    (7_000_001, "Томск", 1_007_000),
)
_FIRST_NAMES = ("Анна", "Иван", "Мария", "Сергей", "Елена", "Алексей", "Ольга", "Дмитрий")
_LAST_NAMES = ("Иванова", "Петров", "Смирнова", "Кузнецов", "Попова", "Соколов", "Волкова")


def _unit(seed: int, *parts: object) -> float:
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _units(seed: int, label: str, persons: np.ndarray) -> np.ndarray:
    """One uniform number in [0, 1) per person, keyed by the seed and a label."""
    key = np.uint64(int(_unit(seed, label) * 2**63))
    z = persons.astype(np.uint64) ^ key
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class Profiles:
    """User objects of the world's people, and the regions and cities VK lists."""

    def __init__(self, world: World):
        self.world = world
        self.audience = world.audience
        self.seed = world.seed
        self.city_of_pool = {
            m.name: FIRST_KUZBASS_CITY_ID + i for i, m in enumerate(MUNICIPALITIES)
        }
        self.cities: dict[int, tuple[str, int]] = {
            FIRST_KUZBASS_CITY_ID + i: (m.town_name, KUZBASS_REGION_ID)
            for i, m in enumerate(MUNICIPALITIES)
        }
        self.cities.update({cid: (title, region) for cid, title, region in ELSEWHERE_CITIES})
        self._pool_cities = np.array([self.city_of_pool[m.name] for m in MUNICIPALITIES])

    def users(self, user_ids: list[int], fields: set[str], day: date) -> list[dict]:
        """The user objects of these ids on `day`, with `city` when it is asked for."""
        if not user_ids:
            return []
        persons = self.audience.person_of(np.asarray(user_ids, dtype=np.int64))
        persons = np.clip(persons, 0, self.audience.size - 1)  # wave members: see below
        deactivated = _units(self.seed, "deactivated", persons)
        banned = _units(self.seed, "banned", persons)
        hidden = _units(self.seed, "hidden city", persons)
        away = _units(self.seed, "elsewhere", persons)
        names = _units(self.seed, "name", persons)
        pools = self.audience.pool_index(persons)
        out = []
        for i, user_id in enumerate(user_ids):
            user: dict = {"id": int(user_id)}
            state = None
            city = None
            wave = self.world.wave_of(int(user_id)) if user_id >= WAVE_ID_BASE else None
            if wave is not None:
                gone = wave.deactivated_on is not None and day >= wave.deactivated_on
                state = "banned" if gone else None
                if wave.kind == "nonresident":
                    city = ELSEWHERE_CITIES[int(user_id) % len(ELSEWHERE_CITIES)][0]
            else:
                if deactivated[i] < DEACTIVATED_SHARE:
                    state = "banned" if banned[i] < BANNED_OF_DEACTIVATED else "deleted"
                if hidden[i] >= HIDDEN_CITY_SHARE:
                    if away[i] < ELSEWHERE_SHARE:
                        city = ELSEWHERE_CITIES[int(away[i] * 1e6) % len(ELSEWHERE_CITIES)][0]
                    else:
                        city = int(self._pool_cities[pools[i]])
            if state is not None:
                # VK blanks a removed account's profile
                user.update(first_name="DELETED", last_name="", deactivated=state)
            else:
                k = int(names[i] * 1e6)
                user.update(
                    first_name=_FIRST_NAMES[k % len(_FIRST_NAMES)],
                    last_name=_LAST_NAMES[k % len(_LAST_NAMES)],
                    can_access_closed=True,
                    is_closed=False,
                )
                if "city" in fields and city is not None:
                    user["city"] = {"id": city, "title": self.cities[city][0]}
            out.append(user)
        return out

    def region_cities(self, region_id: int) -> list[dict]:
        return [
            {"id": cid, "title": title}
            for cid, (title, region) in sorted(self.cities.items())
            if region == region_id
        ]

"""Telegram channels and OK groups of the synthetic region, mirroring its VK organizations.

Each network's pages belong to organizations of the VK world (same organization name, so the
registry links them) with their own ids, addresses, audiences and events. Assumptions, not
measurements: most organizations keep an OK group beside their VK page (official pages are
expected on both) with a small share of the VK audience; Telegram channels are run mainly by
regional bodies, municipalities and large institutions, with a larger share where they exist.
"""

from __future__ import annotations

import csv
import io
import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from emulators.vk.world import EVENT_WINDOW_DAYS, REGION_CODE, REGISTRY_HEADER, World, _gauss, _unit

NETWORKS = ("tg", "ok")
# chance that an organization's VK page has a twin on the network: (flagship/head, other)
PRESENCE = {"tg": (0.85, 0.10), "ok": (0.9, 0.8)}
# the twin's audience as a share of the VK page's, drawn uniformly from this range
AUDIENCE_SHARE = {"tg": (0.15, 0.6), "ok": (0.04, 0.2)}
EVENT_COUNTS = {"deleted": 2, "banned": 1, "closed": 2, "renamed": 2, "drop": 2, "jump": 1}
STATUSES = ("ok", "deleted", "banned", "closed")
_SLUG = re.compile(r"[^a-z0-9_]")


@dataclass(frozen=True)
class NetPage:
    """A Telegram channel or OK group and its ground-truth parameters."""

    network: str
    id: int
    username: str | None  # public address at start (Telegram username, OK short name)
    name: str
    organization: str
    sector: str
    municipality: str
    flagship: bool
    vk_id: int  # the organization's VK page this one mirrors
    base_members: int
    trend: float
    noise_sd: float
    registry_ref: str


@dataclass(frozen=True)
class NetState:
    """What the network shows for a page on a date."""

    members_count: int
    status: str  # ok, deleted, banned, closed (private)
    username: str | None
    name: str


@dataclass(frozen=True)
class NetEvent:
    day: date
    page_id: int
    kind: str  # deleted, banned, closed, renamed, drop, jump
    factor: float | None = None
    new_username: str | None = None


class NetworkWorld:
    """One network's pages in the region of a VK World, sharing its clock and growth index."""

    def __init__(self, world: World, network: str):
        if network not in NETWORKS:
            raise ValueError(f"unknown network {network!r}; expected one of {NETWORKS}")
        self.world = world
        self.network = network
        self.start = world.start
        self.pages: list[NetPage] = _generate_pages(world, network)
        self.by_id = {p.id: p for p in self.pages}
        self.events = _generate_events(world.seed, network, self.pages, world.start)
        self._events_by_page: dict[int, list[NetEvent]] = {}
        for event in self.events:
            self._events_by_page.setdefault(event.page_id, []).append(event)
        self._by_username: dict[str, NetPage] = {}
        for page in self.pages:
            if page.username:
                self._by_username[page.username] = page
        for event in self.events:
            if event.new_username:
                self._by_username[event.new_username] = self.by_id[event.page_id]

    def state_on(self, page: NetPage, d: date) -> NetState:
        offset = (d - self.start).days
        members = (
            page.base_members
            + page.trend * self.world.growth_index(offset)
            + page.noise_sd * _gauss(self.world.seed, self.network, "noise", page.id, d.toordinal())
        )
        status, username = "ok", page.username
        for event in self._events_by_page.get(page.id, ()):
            if event.day > d:
                continue
            if event.kind in ("drop", "jump"):
                assert event.factor is not None  # every drop and jump has one
                members *= event.factor
            elif event.kind in ("deleted", "banned", "closed"):
                status = event.kind
            elif event.kind == "renamed":
                username = event.new_username
        if status in ("deleted", "closed") and self.network == "tg":
            username = None  # a deleted or private channel has no public username
        return NetState(max(0, round(members)), status, username, page.name)

    def resolve(self, username: str, d: date) -> NetPage | None:
        """The page a public address points to on date d, if any."""
        page = self._by_username.get(username.strip().lower().lstrip("@"))
        if page is not None and self.state_on(page, d).username == username.strip().lower():
            return page
        return None

    def total_members(self, d: date) -> int:
        """Sum of members over pages that are live (not deleted or banned) on date d."""
        states = (self.state_on(p, d) for p in self.pages)
        return sum(s.members_count for s in states if s.status not in ("deleted", "banned"))

    def registry_rows(self) -> list[dict[str, str]]:
        pages = sorted(self.pages, key=lambda p: (p.municipality, p.sector, p.name))
        return [
            {
                "network": self.network,
                "page_ref": p.registry_ref,
                "title": p.name,
                "organization": p.organization,
                "region_code": REGION_CODE,
                "municipality": p.municipality,
                "sector": p.sector,
                "flagship": "true" if p.flagship else "false",
            }
            for p in pages
        ]


def registry_rows(world: World, networks: tuple[str, ...] = ("vk", *NETWORKS)) -> list[dict]:
    """The region's registry over several networks: VK rows first, then Telegram, then OK."""
    rows = world.registry_rows() if "vk" in networks else []
    for network in NETWORKS:
        if network in networks:
            rows += NetworkWorld(world, network).registry_rows()
    return rows


def write_registry(world: World, path: Path | str, networks: tuple[str, ...]) -> int:
    """Write the multi-network registry CSV in the format gospulse reads; returns the rows."""
    rows = registry_rows(world, networks)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REGISTRY_HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    Path(path).write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return len(rows)


def _slug(text: str) -> str:
    return _SLUG.sub("", text.lower().replace(".", "_").replace("-", "_"))


def _generate_pages(world: World, network: str) -> list[NetPage]:
    rng = random.Random(f"{world.seed}-{network}-pages")
    head_p, other_p = PRESENCE[network]
    low, high = AUDIENCE_SHARE[network]
    pages: list[NetPage] = []
    used_ids: set[int] = set()
    used_names: set[str] = set()
    for vk in sorted(world.pages, key=lambda p: p.id):
        chance = head_p if (vk.flagship or not vk.municipality) else other_p
        if rng.random() >= chance:
            continue
        share = rng.uniform(low, high)
        page_id = _new_id(rng, network, used_ids)
        base = vk.screen_name or f"{network}{vk.id}"
        username = _unique(_slug(base) or f"org{vk.id}", used_names, rng)
        if network == "tg" and not re.match(r"^[a-z]", username):
            username = _unique("k" + username, used_names, rng)
        if network == "tg":
            ref = rng.choice((f"@{username}", f"https://t.me/{username}", username))
        else:
            # OK registries mix numeric group links and custom addresses
            ref = (
                f"https://ok.ru/group/{page_id}"
                if rng.random() < 0.6
                else f"https://ok.ru/{username}"
            )
        pages.append(
            NetPage(
                network=network,
                id=page_id,
                username=username,
                name=vk.name,
                organization=vk.organization,
                sector=vk.sector,
                municipality=vk.municipality,
                flagship=vk.flagship,
                vk_id=vk.id,
                base_members=max(3, round(vk.base_members * share)),
                trend=vk.trend * share * rng.uniform(0.8, 1.6),
                noise_sd=max(0.5, vk.noise_sd * share),
                registry_ref=ref,
            )
        )
    return pages


def _new_id(rng: random.Random, network: str, used: set[int]) -> int:
    while True:
        # Telegram channel ids are 10 digits today; OK group ids are 14
        value = (
            rng.randrange(10**9, 2 * 10**9)
            if network == "tg"
            else rng.randrange(5 * 10**13, 7 * 10**13)
        )
        if value not in used:
            used.add(value)
            return value


def _unique(name: str, used: set[str], rng: random.Random) -> str:
    name = name[:28]
    while len(name) < 5 or name in used:
        name = f"{name}{rng.randrange(10)}"
    used.add(name)
    return name


def _generate_events(seed: int, network: str, pages: list[NetPage], start: date) -> list[NetEvent]:
    rng = random.Random(f"{seed}-{network}-events")
    candidates = [p for p in pages if p.base_members >= 50]
    rng.shuffle(candidates)
    events: list[NetEvent] = []
    names = {p.username for p in pages if p.username}
    for kind, count in EVENT_COUNTS.items():
        for _ in range(count):
            if not candidates:
                break
            page = candidates.pop()
            day = start + timedelta(days=rng.randrange(5, EVENT_WINDOW_DAYS))
            if kind == "drop":
                events.append(NetEvent(day, page.id, kind, factor=rng.uniform(0.55, 0.75)))
            elif kind == "jump":
                events.append(NetEvent(day, page.id, kind, factor=rng.uniform(2.5, 4.0)))
            elif kind == "renamed":
                new = _unique(
                    f"{page.username}_{rng.choice(('official', 'ru', 'news'))}", names, rng
                )
                events.append(NetEvent(day, page.id, kind, new_username=new))
            else:
                events.append(NetEvent(day, page.id, kind))
    return sorted(events, key=lambda e: (e.day, e.page_id))


def unit(*parts: object) -> float:
    """The world's hashed uniform number, for emulators that need stable randomness."""
    return _unit(*parts)

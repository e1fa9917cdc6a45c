"""A deterministic synthetic region of VK pages (Kuzbass, region 42) with a daily clock.

Everything derives from the seed: pages, subscriber trends, hashed daily noise and a fixed set
of events (deletions, bans, closures, renames, drops, jumps) in the first 60 days after start.
The registry depends on the seed only, never on start. Member lists come from a synthetic
population (emulators.vk.audience) with exact ground truth for unique and overlapping audiences.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import math
import random
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from emulators.vk.audience import Audience
from emulators.vk.kuzbass import (
    ADMINISTRATION,
    DK_NAMES,
    MUNICIPALITIES,
    REGIONAL_PAGES,
    SECTOR_SHARES,
    SPORTS,
    TEMPLATES,
    Municipality,
    Template,
)

DEFAULT_START = date(2026, 1, 1)
DEFAULT_PAGES = 2884
REGION_CODE = "42"
# the world writes registries in the format gospulse reads (its registry's columns, in order;
# tests/test_vk_world.py holds the two equal): the emulators import nothing from gospulse
REGISTRY_HEADER = (
    "network",
    "page_ref",
    "title",
    "organization",
    "region_code",
    "municipality",
    "sector",
    "flagship",
)
MONTHLY_GROWTH = 35_000  # region-wide subscribers per month at DEFAULT_PAGES, before events
FLAGSHIP_SHARE = 0.065
EVENT_COUNTS = {"deleted": 4, "banned": 3, "closed": 3, "renamed": 5, "drop": 5, "jump": 2}
EVENT_WINDOW_DAYS = 60
_DK_SLUGS = dict(
    zip(
        DK_NAMES,
        (
            "shakhter",
            "gornyak",
            "yubileyny",
            "oktyabr",
            "stroitel",
            "energetik",
            "metallurg",
            "rodina",
            "pobeda",
            "khimik",
            "zheldor",
            "sovremennik",
        ),
        strict=True,
    )
)
_CLUB_RE = re.compile(r"(club|public|event)(\d+)")


@dataclass(frozen=True)
class Page:
    """A registered VK community and its ground-truth parameters."""

    id: int
    screen_name: str | None  # custom address as of start; None means club<id>/public<id>
    name: str
    organization: str
    sector: str
    municipality: str  # "" for regional-level bodies
    flagship: bool
    verified: bool
    type: str  # "page" (public page) or "group"
    base_members: int
    trend: float  # subscribers per unit of the regional growth index (about one day)
    noise_sd: float
    page_ref: str  # how the registry refers to it

    @property
    def default_screen_name(self) -> str:
        return f"{'public' if self.type == 'page' else 'club'}{self.id}"


@dataclass(frozen=True)
class PageState:
    """What VK shows for a page on a given date."""

    members_count: int
    deactivated: str | None  # None, "deleted" or "banned"
    is_closed: int  # 0 open, 1 closed, 2 private
    screen_name: str
    name: str


@dataclass(frozen=True)
class Event:
    """A ground-truth change to one page, effective from `day` on."""

    day: date
    page_id: int
    kind: str  # deleted, banned, closed, renamed, drop, jump
    factor: float | None = None  # drop/jump: members multiplier
    is_closed: int | None = None  # closed: 1 or 2
    old_screen_name: str | None = None
    new_screen_name: str | None = None


# the user ids of wave members: above every person of the population (emulators.vk.audience)
WAVE_ID_BASE = 1_000_000_000


@dataclass(frozen=True)
class Wave:
    """People who join one page on `day` on top of its own members (a benchmark injects
    them): `kind` bought (accounts VK bans on `deactivated_on`) or nonresident (people who show
    a city outside the region). Their user ids start at `first_id`."""

    page_id: int
    day: date
    size: int
    kind: str  # bought or nonresident
    first_id: int
    deactivated_on: date | None = None


@dataclass
class _Spec:
    title: str
    organization: str
    sector: str
    municipality: str
    slug: str | None
    base: int
    flagship: bool = False
    head: bool = False
    group_share: float = 0.0
    stagnant: bool = False
    extra: dict = field(default_factory=dict)


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) hashed from the parts (stable across runs and platforms)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _gauss(*parts: object) -> float:
    """A standard-normal-ish number hashed from the parts (sum of four uniforms)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()
    total = sum(int.from_bytes(digest[i : i + 4], "big") for i in range(0, 16, 4)) / 2**32
    return (total - 2.0) * math.sqrt(3.0)


class World:
    """The synthetic region: pages, events and each page's state on any date >= start."""

    def __init__(
        self,
        seed: int = 42,
        start: date = DEFAULT_START,
        n_pages: int = DEFAULT_PAGES,
        *,
        members_scale: float = 1.0,
    ):
        """members_scale multiplies every page's subscribers (benchmarks: 2.2 gives ~10 M)."""
        self.seed = seed
        self.start = start
        self.members_scale = members_scale
        pages = _generate_pages(seed, n_pages)
        # events are picked on unscaled sizes, so a scaled world has the same events
        self.events: list[Event] = _generate_events(seed, pages, start)
        self.pages: list[Page] = [_scaled(p, members_scale) for p in pages]
        self.by_id: dict[int, Page] = {p.id: p for p in self.pages}
        self._events_by_page: dict[int, list[Event]] = {}
        for event in self.events:
            self._events_by_page.setdefault(event.page_id, []).append(event)
        self._by_screen_name: dict[str, Page] = {}
        for page in self.pages:
            if page.screen_name:
                self._by_screen_name[page.screen_name] = page
        for event in self.events:
            if event.new_screen_name:
                self._by_screen_name[event.new_screen_name] = self.by_id[event.page_id]
        self._index = [0.0]  # cumulative regional growth index by day offset
        self._lock = threading.Lock()
        government = [p for p in self.pages if not p.municipality and p.sector == "government"]
        # the demo needs the region's main page readable: its list is never hidden
        main = max(government, key=lambda p: p.base_members, default=None)
        self.audience = Audience(seed, self.pages, protected=[main.id] if main else [])
        self.waves: list[Wave] = []

    def add_wave(
        self, page: Page, day: date, size: int, kind: str, deactivated_on: date | None = None
    ) -> Wave:
        """Inject a wave of `size` people joining `page` on `day` (see Wave)."""
        if kind not in ("bought", "nonresident"):
            raise ValueError(f"a wave is bought or nonresident, not {kind!r}")
        first = WAVE_ID_BASE + sum(w.size for w in self.waves)
        wave = Wave(page.id, day, size, kind, first, deactivated_on)
        self.waves.append(wave)
        return wave

    def waves_on(self, page: Page, d: date) -> list[Wave]:
        """The page's waves that have joined by date d."""
        return [w for w in self.waves if w.page_id == page.id and w.day <= d]

    def wave_of(self, user_id: int) -> Wave | None:
        """The wave a user id belongs to, if any."""
        for wave in self.waves:
            if wave.first_id <= user_id < wave.first_id + wave.size:
                return wave
        return None

    def growth_index(self, offset: int) -> float:
        """Cumulative growth index at `offset` days after start (weekday and month effects)."""
        if offset < 0:
            raise ValueError(f"date is {-offset} days before the world's start {self.start}")
        with self._lock:
            while len(self._index) <= offset:
                day = self.start + timedelta(days=len(self._index))
                weekday = 1.1 if day.weekday() < 5 else 0.75  # weekday mean is 1.0
                month = 0.8 + 0.4 * _unit(self.seed, "month", day.year, day.month)
                self._index.append(self._index[-1] + weekday * month)
            return self._index[offset]

    def state_on(self, page: Page, d: date) -> PageState:
        """The page's state on date d (members, status, screen name)."""
        offset = (d - self.start).days
        members = (
            page.base_members
            + page.trend * self.growth_index(offset)
            + page.noise_sd * _gauss(self.seed, "noise", page.id, d.toordinal())
        )
        deactivated, is_closed = None, 0
        screen_name = page.screen_name or page.default_screen_name
        for event in self._events_by_page.get(page.id, ()):
            if event.day > d:
                continue
            # each kind of event carries its own field
            if event.kind in ("drop", "jump"):
                assert event.factor is not None
                members *= event.factor
            elif event.kind in ("deleted", "banned"):
                deactivated = event.kind
            elif event.kind == "closed":
                assert event.is_closed is not None
                is_closed = event.is_closed
            elif event.kind == "renamed":
                assert event.new_screen_name is not None
                screen_name = event.new_screen_name
        if deactivated == "deleted":
            screen_name = page.default_screen_name  # a deleted community frees its address
        joined = sum(w.size for w in self.waves_on(page, d)) if self.waves else 0
        return PageState(
            max(0, round(members)) + joined, deactivated, is_closed, screen_name, page.name
        )

    def resolve(self, screen_name: str, d: date) -> Page | None:
        """The page a screen name (or club<id>/public<id>) points to on date d, if any."""
        name = screen_name.strip().lower()
        match = _CLUB_RE.fullmatch(name)
        if match:
            return self.by_id.get(int(match.group(2)))
        page = self._by_screen_name.get(name)
        if page is not None and self.state_on(page, d).screen_name == name:
            return page
        return None

    def total_members(self, d: date) -> int:
        """Sum of members over pages that are not deleted or banned on date d."""
        states = (self.state_on(p, d) for p in self.pages)
        return sum(s.members_count for s in states if s.deactivated is None)

    def members_hidden(self, page: Page) -> bool:
        """Whether the page's owners hide its member list (groups.getMembers error 15)."""
        return page.id in self.audience.hidden

    def members_readable(self, page: Page, d: date) -> bool:
        """Whether groups.getMembers lists the page on date d: visible list, open, active."""
        state = self.state_on(page, d)
        return not (self.members_hidden(page) or state.deactivated or state.is_closed)

    def members(self, page: Page, d: date) -> np.ndarray:
        """User ids of the page's members on date d: its own, oldest joiner first, then the
        waves' (int64)."""
        waves = self.waves_on(page, d) if self.waves else []
        count = self.state_on(page, d).members_count - sum(w.size for w in waves)
        own = self.audience.user_ids(self.audience.persons(page, count))
        extra = [np.arange(w.first_id, w.first_id + w.size, dtype=np.int64) for w in waves]
        return np.concatenate([own, *extra]) if extra else own

    def exact_unique(self, pages: Iterable[Page], d: date) -> int:
        """Exact number of distinct people following at least one of the pages on date d.

        Counts follow state_on whatever the status: filter with members_readable for coverage."""
        seen = np.zeros(self.audience.size, dtype=bool)
        seen[self.audience.persons_of((p, self.state_on(p, d).members_count) for p in pages)] = True
        return int(np.count_nonzero(seen))

    def exact_overlap(self, page_a: Page, page_b: Page, d: date) -> int:
        """Exact number of people following both pages on date d."""
        a, b = (
            self.audience.persons(p, self.state_on(p, d).members_count) for p in (page_a, page_b)
        )
        return int(np.intersect1d(a, b, assume_unique=True).size)

    def registry_rows(self) -> list[dict[str, str]]:
        """Registry CSV rows (seed-dependent only), regional bodies first."""
        pages = sorted(self.pages, key=lambda p: (p.municipality, p.sector, p.name))
        return [
            {
                "network": "vk",
                "page_ref": p.page_ref,
                "title": p.name,
                "organization": p.organization,
                "region_code": REGION_CODE,
                "municipality": p.municipality,
                "sector": p.sector,
                "flagship": "true" if p.flagship else "false",
            }
            for p in pages
        ]

    def registry_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=REGISTRY_HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.registry_rows())
        return buffer.getvalue()

    def write_registry(self, path: Path | str) -> None:
        Path(path).write_text(self.registry_csv(), encoding="utf-8", newline="")


def _scaled(page: Page, scale: float) -> Page:
    if scale == 1.0:
        return page
    return replace(
        page,
        base_members=max(1, round(page.base_members * scale)),
        trend=page.trend * scale,
        noise_sd=page.noise_sd * scale,
    )


def _sector_counts(n: int) -> dict[str, int]:
    """Split n pages over sectors by share (largest remainder, deterministic)."""
    raw = {s: share * n for s, share in SECTOR_SHARES.items()}
    counts = {s: int(v) for s, v in raw.items()}
    by_remainder = sorted(raw, key=lambda s: (raw[s] - counts[s], s), reverse=True)
    for sector in by_remainder[: n - sum(counts.values())]:
        counts[sector] += 1
    return counts


def _fill(template: Template, muni: Municipality, rng: random.Random) -> tuple[str, str, str]:
    values = {
        "Town": muni.town_name,
        "town": muni.town,
        "gen": muni.genitive,
        "Adj_f": muni.adj_f,
        "Adj_m": muni.stem,
        "slug": muni.slug,
        "n": 0,
        "dk": "",
        "dk_slug": "",
        "sport": "",
        "sport_slug": "",
    }
    if template.max_n:
        # Small places have fewer numbered schools, clinics, libraries.
        limit = max(2, round(template.max_n * min(1.0, (muni.population / 550) ** 0.6)))
        values["n"] = rng.randint(1, limit)
    if "{dk" in template.title:
        dk = rng.choice(DK_NAMES)
        values["dk"], values["dk_slug"] = dk, _DK_SLUGS[dk]
    if "{sport" in template.title:
        values["sport"], values["sport_slug"] = rng.choice(SPORTS)
    return (
        template.title.format(**values),
        template.organization.format(**values),
        template.slug.format(**values)[:32],
    )


def _generate_pages(seed: int, n_pages: int) -> list[Page]:
    rng = random.Random(seed)
    specs: list[_Spec] = []
    titles: set[str] = set()
    for title, org, sector, slug, base, flagship in REGIONAL_PAGES[
        : min(len(REGIONAL_PAGES), max(1, round(n_pages * len(REGIONAL_PAGES) / DEFAULT_PAGES)))
    ]:
        specs.append(_Spec(title, org, sector, "", slug, base, flagship=flagship))
    if n_pages >= 10 * len(MUNICIPALITIES):  # tiny test worlds skip the fixed administrations
        for muni in MUNICIPALITIES:
            title, org, slug = _fill(ADMINISTRATION, muni, rng)
            base = round(52_000 * (muni.population / 550) ** 0.9 * rng.lognormvariate(0, 0.25))
            specs.append(_Spec(title, org, "government", muni.name, slug, base, flagship=True))
    titles.update(s.title for s in specs)

    counts = _sector_counts(n_pages)
    for spec in specs:
        counts[spec.sector] = max(0, counts[spec.sector] - 1)
    counts["education"] += n_pages - len(specs) - sum(counts.values())
    weights = [m.population**0.8 for m in MUNICIPALITIES]
    for sector, count in counts.items():
        templates = TEMPLATES[sector]
        for _ in range(count):
            specs.append(_make_spec(rng, sector, templates, weights, titles))

    _choose_flagships(rng, specs, n_pages)
    return _finish_pages(rng, specs, n_pages)


def _make_spec(
    rng: random.Random,
    sector: str,
    templates: tuple[Template, ...],
    weights: list[float],
    titles: set[str],
) -> _Spec:
    # One region's title pool holds ~10k distinct titles; a federal-size benchmark world would
    # spend minutes drawing duplicates, so past that size a title is numbered after a few tries.
    # Worlds up to 10k pages draw exactly as before (the demo world must not change).
    huge = len(titles) >= 10_000
    for attempt in range(500):
        muni = rng.choices(MUNICIPALITIES, weights)[0]
        fitting = [t for t in templates if t.fits(muni)]
        template = rng.choices(fitting, [t.weight for t in fitting])[0]
        title, org, slug = _fill(template, muni, rng)
        if huge and attempt >= 2:  # numbered by the page count, so unique at once
            title, slug = f"{title} ({len(titles)})", f"{slug[:24]}_{len(titles)}"
        elif attempt > 400:  # pool exhausted: make the title unique
            title, slug = f"{title} ({attempt})", f"{slug[:26]}_{attempt}"
        if title in titles:
            continue
        titles.add(title)
        median = template.median * (muni.population / 100) ** 0.25
        base = max(12, min(150_000, round(median * rng.lognormvariate(0, 0.9))))
        return _Spec(
            title,
            org,
            sector,
            muni.name,
            slug,
            base,
            head=template.head,
            group_share=template.group_share,
        )
    raise RuntimeError(f"cannot make a unique {sector} page")


def _choose_flagships(rng: random.Random, specs: list[_Spec], n_pages: int) -> None:
    """Mark ~6.5% flagships: fixed ones, then heads of departments, then the largest pages."""
    target = round(FLAGSHIP_SHARE * n_pages)
    missing = target - sum(s.flagship for s in specs)
    heads = [s for s in specs if s.head and not s.flagship]
    for spec in rng.sample(heads, max(0, min(missing, len(heads)))):
        spec.flagship = True
    missing = target - sum(s.flagship for s in specs)
    others = sorted((s for s in specs if not s.flagship), key=lambda s: -s.base)
    for spec in others[: max(0, missing)]:
        spec.flagship = True
    # A few municipal flagships are neglected pages under 500 subscribers (compliance cases).
    municipal = [s for s in specs if s.flagship and s.municipality and s.sector != "government"]
    for spec in rng.sample(municipal, min(5, max(1, len(municipal) // 10)) if municipal else 0):
        spec.base = rng.randint(120, 460)
        spec.stagnant = True


def _finish_pages(rng: random.Random, specs: list[_Spec], n_pages: int) -> list[Page]:
    ids = rng.sample(range(100_000_000, 230_000_000), len(specs))
    slugs: set[str] = set()
    trends = []
    for spec in specs:
        # Relative growth per page: mostly positive, a tail of pages slowly losing subscribers.
        rate = 0.0 if spec.stagnant else rng.gauss(1.0, 1.0)
        trends.append(spec.base * rate)
    # In small worlds one big page with a negative rate can cancel the rest; the floor keeps
    # the scale sane there and never binds in full-size worlds (rates average 1).
    floor = 0.5 * sum(spec.base for spec in specs)
    scale = MONTHLY_GROWTH / 30.44 * (n_pages / DEFAULT_PAGES) / max(sum(trends), floor, 1.0)
    pages = []
    for spec, page_id, trend in zip(specs, ids, trends, strict=True):
        slug = spec.slug
        custom = spec.municipality == "" or spec.flagship or rng.random() > 0.12
        if not custom or slug in slugs:
            slug = None
        if slug:
            slugs.add(slug)
        page_type = "group" if rng.random() < spec.group_share else "page"
        verified = rng.random() < (0.75 if spec.flagship else 0.04)
        page = Page(
            id=page_id,
            screen_name=slug,
            name=spec.title,
            organization=spec.organization,
            sector=spec.sector,
            municipality=spec.municipality,
            flagship=spec.flagship,
            verified=verified,
            type=page_type,
            base_members=spec.base,
            trend=trend * scale,
            noise_sd=0.4 + 0.00012 * spec.base,
            page_ref="",
        )
        pages.append(_with_ref(page, rng))
    return pages


def _with_ref(page: Page, rng: random.Random) -> Page:
    """Pick a realistic registry reference: screen name, URL, numeric id or clubN/publicN URL."""
    by_id = [
        (str(page.id), 12),
        (f"vk.ru/club{page.id}", 10),
        (f"https://vk.com/public{page.id}", 8),
        (f"https://vk.com/club{page.id}", 5),
    ]
    by_name = []
    if page.screen_name:
        by_name = [
            (page.screen_name, 35),
            (f"https://vk.com/{page.screen_name}", 25),
            (f"https://vk.ru/{page.screen_name}", 5),
        ]
    options = by_name + by_id
    ref = rng.choices([o for o, _ in options], [w for _, w in options])[0]
    return replace(page, page_ref=ref)


def _generate_events(seed: int, pages: list[Page], start: date) -> list[Event]:
    """Pick the fixed event set; pages and day offsets depend on the seed only."""
    rng = random.Random(f"{seed}:events")
    taken: set[int] = set()
    names = {p.screen_name for p in pages if p.screen_name}
    ordinary = [p for p in pages if not p.flagship and p.municipality]
    rules = {
        "deleted": lambda p: 30 <= p.base_members <= 900,
        "banned": lambda p: 30 <= p.base_members <= 900,
        "closed": lambda p: p.type == "group" and 50 <= p.base_members <= 3000,
        "renamed": lambda p: p.screen_name is not None and 100 <= p.base_members <= 20_000,
        "drop": lambda p: 400 <= p.base_members <= 3000,
        "jump": lambda p: 80 <= p.base_members <= 600,
    }
    events = []
    for kind, count in EVENT_COUNTS.items():
        candidates = [p for p in ordinary if rules[kind](p) and p.id not in taken]
        for page in rng.sample(candidates, min(count, len(candidates))):
            taken.add(page.id)
            day = start + timedelta(days=rng.randint(3, EVENT_WINDOW_DAYS - 3))
            if kind == "drop":
                events.append(Event(day, page.id, kind, factor=round(rng.uniform(0.6, 0.8), 3)))
            elif kind == "jump":
                events.append(Event(day, page.id, kind, factor=4.0))
            elif kind == "closed":
                events.append(Event(day, page.id, kind, is_closed=rng.choice((1, 1, 2))))
            elif kind == "renamed":
                assert page.screen_name is not None  # the rule for "renamed" asks for one
                new = _new_screen_name(page.screen_name, rng, names)
                events.append(
                    Event(day, page.id, kind, old_screen_name=page.screen_name, new_screen_name=new)
                )
            else:
                events.append(Event(day, page.id, kind))
    return sorted(events, key=lambda e: (e.day, e.page_id))


def _new_screen_name(old: str, rng: random.Random, names: set[str]) -> str:
    for suffix in rng.sample(["_official", "_info", "42", "_news", "_kuzbass", "_online"], 6):
        candidate = f"{old[: 32 - len(suffix)]}{suffix}"
        if candidate not in names:
            names.add(candidate)
            return candidate
    raise RuntimeError(f"no free new screen name for {old}")


def main(argv: list[str] | None = None) -> int:
    """CLI: write the registry CSV or print a short summary of the world."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-registry", type=Path, help="write the registry CSV here")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--n-pages", type=int, default=DEFAULT_PAGES)
    parser.add_argument("--members-scale", type=float, default=1.0)
    parser.add_argument("--audience", action="store_true", help="also count unique people")
    parser.add_argument(
        "--networks", default="vk", help="networks in the registry: vk, or e.g. vk,tg,ok"
    )
    args = parser.parse_args(argv)
    world = World(seed=args.seed, n_pages=args.n_pages, members_scale=args.members_scale)
    if args.write_registry:
        from emulators.networld import write_registry

        networks = tuple(n.strip() for n in args.networks.split(",") if n.strip())
        n = write_registry(world, args.write_registry, networks)
        print(f"wrote {n} rows ({', '.join(networks)}) to {args.write_registry}")
        return 0
    d30 = world.start + timedelta(days=30)
    print(
        f"{len(world.pages)} pages, {len(world.events)} events; members "
        f"{world.total_members(world.start):,} on {world.start}, "
        f"{world.total_members(d30):,} on {d30}"
    )
    if args.audience:
        total = sum(world.state_on(p, world.start).members_count for p in world.pages)
        unique = world.exact_unique(world.pages, world.start)
        print(
            f"all pages on {world.start}: {total:,} subscriptions, {unique:,} unique people, "
            f"duplication {total / unique:.3f}; {len(world.audience.hidden)} hidden lists"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

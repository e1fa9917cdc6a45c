"""The synthetic Kuzbass world: determinism, shape, growth calibration, events, registry."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from emulators.vk.kuzbass import MUNICIPALITIES, SECTOR_SHARES
from emulators.vk.world import DEFAULT_START, EVENT_COUNTS, REGISTRY_HEADER, World, main
from gospulse.registry.pages import HEADER

REGISTRY = Path(__file__).resolve().parents[1] / "registry" / "demo_42_kuzbass.csv"


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=42)


def test_same_seed_same_world(world) -> None:
    again = World(seed=42)
    days = [world.start + timedelta(days=k) for k in (0, 1, 17, 45, 200)]
    for page in world.pages[::97]:
        for day in days:
            assert world.state_on(page, day) == again.state_on(page, day)
    assert again.events == world.events
    assert World(seed=7).registry_csv() != world.registry_csv()


def test_size_ids_and_screen_names(world) -> None:
    assert len(world.pages) == 2884
    ids = [p.id for p in world.pages]
    assert len(set(ids)) == len(ids) and all(100_000_000 <= i < 1_000_000_000 for i in ids)
    names = [p.screen_name for p in world.pages if p.screen_name]
    assert len(set(names)) == len(names) and 0.8 < len(names) / len(ids) < 0.95
    assert all(len(n) <= 32 and n.isascii() for n in names)


def test_sectors_municipalities_and_flagships(world) -> None:
    sectors = Counter(p.sector for p in world.pages)
    assert set(sectors) == set(SECTOR_SHARES)
    assert [s for s, _ in sectors.most_common(2)] == ["education", "culture"]
    municipalities = {p.municipality for p in world.pages}
    assert municipalities == {m.name for m in MUNICIPALITIES} | {""}
    flagships = [p for p in world.pages if p.flagship]
    assert 0.05 <= len(flagships) / len(world.pages) <= 0.08
    small = [p for p in flagships if world.state_on(p, world.start).members_count < 500]
    assert 1 <= len(small) <= 15


def test_members_are_heavy_tailed(world) -> None:
    counts = sorted(world.state_on(p, world.start).members_count for p in world.pages)
    assert 150 <= counts[len(counts) // 2] <= 900
    assert 2 <= sum(c >= 100_000 for c in counts) <= 6 and counts[-1] <= 400_000
    assert 2_000_000 <= sum(counts) <= 8_000_000


def test_monthly_growth_is_calibrated(world) -> None:
    totals = [world.total_members(world.start + timedelta(days=k)) for k in (0, 30, 60)]
    months = [b - a for a, b in pairwise(totals)]
    assert all(25_000 <= m <= 45_000 for m in months), months


def test_weekends_grow_slower(world) -> None:
    steps = [world.growth_index(k + 1) - world.growth_index(k) for k in range(28)]
    days = [world.start + timedelta(days=k + 1) for k in range(28)]
    weekday = [s for s, d in zip(steps, days, strict=True) if d.weekday() < 5]
    weekend = [s for s, d in zip(steps, days, strict=True) if d.weekday() >= 5]
    assert max(weekend) < min(weekday)


def test_any_date_after_start_but_not_before(world) -> None:
    page = world.pages[0]
    assert world.state_on(page, date(2027, 6, 1)).members_count > 0
    with pytest.raises(ValueError):
        world.state_on(page, world.start - timedelta(days=1))


def test_events_are_ground_truth(world) -> None:
    assert Counter(e.kind for e in world.events) == Counter(EVENT_COUNTS)
    assert len({e.page_id for e in world.events}) == len(world.events)
    for ev in world.events:
        assert world.start < ev.day < world.start + timedelta(days=60)
        page = world.by_id[ev.page_id]
        before = world.state_on(page, ev.day - timedelta(days=1))
        after = world.state_on(page, ev.day)
        if ev.kind in ("deleted", "banned"):
            assert before.deactivated is None and after.deactivated == ev.kind
        elif ev.kind == "closed":
            assert before.is_closed == 0 and after.is_closed == ev.is_closed
        elif ev.kind == "renamed":
            assert (before.screen_name, after.screen_name) == (
                ev.old_screen_name,
                ev.new_screen_name,
            )
            assert world.resolve(ev.old_screen_name, ev.day) is None
            assert world.resolve(ev.new_screen_name, ev.day) is page
        elif ev.kind == "drop":
            assert 0.55 <= after.members_count / before.members_count <= 0.85
        else:
            assert after.members_count / before.members_count >= 3.0


def test_registry_rows(world) -> None:
    rows = list(csv.DictReader(io.StringIO(world.registry_csv())))
    assert tuple(rows[0]) == REGISTRY_HEADER and len(rows) == 2884
    assert REGISTRY_HEADER == HEADER  # the emulator writes what gospulse's registry reads
    assert {r["network"] for r in rows} == {"vk"} and {r["region_code"] for r in rows} == {"42"}
    assert {r["flagship"] for r in rows} == {"true", "false"}
    refs = [r["page_ref"] for r in rows]
    assert any(r.isdigit() for r in refs)
    assert any(r.startswith("https://vk.com/public") for r in refs)
    assert any(r.startswith("vk.ru/club") for r in refs)
    assert any(
        r.startswith("https://vk.com/") and not r[15:].startswith(("club", "public")) for r in refs
    )
    assert any(r.replace("_", "").isalnum() and not r.isdigit() for r in refs)


def test_registry_does_not_depend_on_start(world) -> None:
    assert World(seed=42, start=date(2026, 3, 14)).registry_csv() == world.registry_csv()


def test_committed_registry_matches_generator(world, tmp_path) -> None:
    from emulators.networld import write_registry

    generated = tmp_path / "r.csv"
    write_registry(world, generated, ("vk", "tg", "ok"))
    committed = REGISTRY.read_text(encoding="utf-8")
    assert committed == generated.read_text(encoding="utf-8")
    # the VK part is exactly the VK world's own registry
    vk_lines = [line for line in committed.splitlines(keepends=True) if line.startswith("vk,")]
    assert "".join(vk_lines) == world.registry_csv().split("\n", 1)[1]
    assert world.start == DEFAULT_START


def test_cli_writes_registry(tmp_path) -> None:
    target = tmp_path / "r.csv"
    assert main(["--write-registry", str(target), "--n-pages", "80", "--seed", "3"]) == 0
    assert target.read_bytes() == World(seed=3, n_pages=80).registry_csv().encode("utf-8")
    assert b"\r\n" not in target.read_bytes()


def test_tiny_worlds_work() -> None:
    tiny = World(n_pages=40)
    assert len(tiny.pages) == 40 and tiny.events
    assert tiny.total_members(tiny.start + timedelta(days=30)) > 0

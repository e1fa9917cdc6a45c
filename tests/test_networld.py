"""The Telegram and OK pages of the synthetic region: linked organizations, events, registry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from emulators.networld import NetworkWorld, write_registry
from emulators.vk.world import World
from gospulse.registry.pages import validate_registry


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=5, n_pages=400)


@pytest.mark.parametrize("network", ["tg", "ok"])
def test_pages_mirror_vk_organizations(world, network):
    net = NetworkWorld(world, network)
    vk_orgs = {p.id: p.organization for p in world.pages}
    assert net.pages
    for page in net.pages:
        assert vk_orgs[page.vk_id] == page.organization
    assert len({p.id for p in net.pages}) == len(net.pages)
    assert len({p.username for p in net.pages}) == len(net.pages)
    # deterministic from the seed
    again = NetworkWorld(World(seed=5, n_pages=400), network)
    assert [(p.id, p.username, p.base_members) for p in again.pages] == [
        (p.id, p.username, p.base_members) for p in net.pages
    ]


def test_network_shares_follow_the_stated_assumptions(world):
    tg, ok = NetworkWorld(world, "tg"), NetworkWorld(world, "ok")
    vk_total = world.total_members(world.start)
    # OK: most organizations, small audiences; Telegram: fewer channels, bigger share each
    assert len(ok.pages) > len(tg.pages)
    assert 0.02 < ok.total_members(world.start) / vk_total < 0.2
    assert 0.05 < tg.total_members(world.start) / vk_total < 0.5


@pytest.mark.parametrize("network", ["tg", "ok"])
def test_events_change_state(world, network):
    net = NetworkWorld(world, network)
    kinds = {e.kind for e in net.events}
    assert {"deleted", "banned", "closed", "renamed", "drop", "jump"} <= kinds
    for event in net.events:
        page = net.by_id[event.page_id]
        before = net.state_on(page, event.day - timedelta(days=1))
        after = net.state_on(page, event.day)
        if event.kind in ("deleted", "banned", "closed"):
            assert before.status == "ok" and after.status == event.kind
        elif event.kind == "renamed":
            assert after.username == event.new_username
            assert net.resolve(event.new_username, event.day) is page
            assert net.resolve(page.username, event.day) is None
        elif event.kind == "drop":
            assert after.members_count < before.members_count * 0.8
        elif event.kind == "jump":
            assert after.members_count > before.members_count * 2


def test_region_registry_is_valid_and_links_networks(world, tmp_path):
    path = tmp_path / "42_all.csv"
    n = write_registry(world, path, ("vk", "tg", "ok"))
    result = validate_registry(path)
    assert result.errors == []
    assert len(result.pages) == n
    by_network = {net: [p for p in result.pages if p.network == net] for net in ("vk", "tg", "ok")}
    assert all(by_network.values())
    vk_orgs = {p.organization for p in by_network["vk"]}
    assert {p.organization for p in by_network["tg"] + by_network["ok"]} <= vk_orgs

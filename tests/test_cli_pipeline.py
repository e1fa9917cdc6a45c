"""The `gospulse` command end to end: extract and build configured only through env vars."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from emulators.vk.server import VkEmulator
from emulators.vk.world import World
from gospulse.cli import main
from gospulse.serving.layout import published_path
from gospulse.serving.publish import open_published, read_publication
from gospulse.transform.run import NODE_RESULTS, dbt_state_dir

TOKEN = "cli-token"
# not a test of VK's rate limit: the client (GOSPULSE_VK_RPS) and the emulator agree on more
RPS = 25.0


@pytest.mark.slow
def test_extract_then_build_from_the_command_line(tmp_path, monkeypatch, capsys):
    world = World(seed=3, start=date(2026, 5, 1), n_pages=50)
    world.write_registry(tmp_path / "42.csv")
    warehouse = tmp_path / "wh" / "gospulse.duckdb"
    with VkEmulator(world, rate_limit=RPS, tokens={TOKEN}) as emulator:
        monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
        monkeypatch.setenv("GOSPULSE_REGISTRY", str(tmp_path / "42.csv"))
        monkeypatch.setenv("GOSPULSE_VK_API_URL", emulator.base_url)
        monkeypatch.setenv("VK_TOKEN", TOKEN)
        monkeypatch.setenv("GOSPULSE_VK_RPS", str(RPS))
        for day in ("2026-05-01", "2026-05-02"):
            emulator.set_date(date.fromisoformat(day))
            assert main(["extract", "--date", day]) == 0
            assert f"vk {day}: success — 50 ok" in capsys.readouterr().out
        monkeypatch.setenv("GOSPULSE_AUDIENCE_SECRET", "cli-test-audience-secret")
        assert main(["audience", "--date", "2026-05-02"]) == 0
        assert "lists read" in capsys.readouterr().out
        assert main(["build"]) == 0
        out = capsys.readouterr()
        assert "registry: 50 pages loaded, 0 bad rows skipped" in out.err
        assert "0 failed" in out.out
        # a CLI build publishes the read-only copy too, dated by the newest snapshot
        assert f"published read-only copy: {published_path(warehouse)}" in out.err
        copy = open_published(published_path(warehouse))
        assert read_publication(copy)["snapshot_date"] == date(2026, 5, 2)
        copy.close()
        assert main(["docs"]) == 0
        site = warehouse.parent / "docs" / "dbt"
        assert f"dbt docs written to {site}" in capsys.readouterr().out
        manifest = (site / "manifest.json").read_text(encoding="utf-8")
        assert (site / "index.html").exists() and "mart_region_growth" in manifest
        readable = [p for p in world.pages if world.members_readable(p, date(2026, 5, 2))]
        a, b = sorted(readable, key=lambda p: -world.state_on(p, date(2026, 5, 2)).members_count)[
            :2
        ]
        assert main(["overlap", a.page_ref, str(b.id)]) == 0
        text = capsys.readouterr().out
        exact = world.exact_overlap(a, b, date(2026, 5, 2))
        assert "shared: ≈" in text and "also follow B" in text
        from gospulse.audience.overlap import page_overlap

        shared = page_overlap(a.page_ref, str(b.id), warehouse=warehouse).shared
        assert shared.lower <= exact <= shared.upper
        assert f"≈{shared.value:,.0f}" in text
        # scopes: a sector lies inside its region, so all of it is shared
        day = date(2026, 5, 2)
        education = [p for p in readable if p.sector == "education"]
        both = page_overlap("region=42", "sector=education", warehouse=warehouse)
        exact_education = world.exact_unique(education, day)
        assert both.shared.lower <= exact_education <= both.shared.upper
        assert both.share_of_b == pytest.approx(1.0, abs=0.02)
        assert both.page_b == f"sector=education ({len(education)} of " + (
            f"{sum(p.sector == 'education' for p in world.pages)} pages' lists)"
        )
        assert main(["overlap", "sector=education", "sector=culture"]) == 0
        assert "sector=culture" in capsys.readouterr().out
        assert main(["overlap", "sector=astrology", "region=42"]) == 1
        assert "no page of it has a usable member-list sketch" in capsys.readouterr().err
        # a token VK refuses: the run is recorded failed, every page gets an error row saying
        # why, and the token itself is printed nowhere
        monkeypatch.setenv("VK_TOKEN", "bad-token")
        assert main(["extract", "--date", "2026-05-03"]) == 1
        printed = capsys.readouterr()
        assert "vk 2026-05-03: failed" in printed.out
        assert "rejected the access token" in printed.out + printed.err
        assert "bad-token" not in printed.out + printed.err
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select count(*) from marts.mart_page_daily").fetchone() == (100,)
        assert con.execute(
            "select status, count(*) from raw.page_snapshots where snapshot_date = '2026-05-03' "
            "group by 1"
        ).fetchall() == [("error", 50)]
        assert con.execute(
            "select status from raw.extract_runs where snapshot_date = '2026-05-03'"
        ).fetchall() == [("failed",)]
    finally:
        con.close()


def test_page_buckets_need_full_refresh(capsys):
    assert main(["build", "--page-buckets", "8"]) == 2
    assert "--page-buckets goes with --full-refresh" in capsys.readouterr().err


def test_extract_rejects_unknown_networks(capsys):
    assert main(["extract", "--date", "2026-05-01", "--networks", "vk,fb"]) == 2
    assert "unknown network(s) fb" in capsys.readouterr().err


@pytest.mark.slow
def test_extract_all_networks_then_top_across_networks(tmp_path, monkeypatch, capsys):
    from emulators.networld import NetworkWorld, write_registry
    from emulators.ok.server import DEFAULT_APP_KEY, DEFAULT_APP_SECRET, OkEmulator
    from emulators.telegram.server import TelegramEmulator

    world = World(seed=3, start=date(2026, 5, 1), n_pages=80)
    tg_world, ok_world = NetworkWorld(world, "tg"), NetworkWorld(world, "ok")
    write_registry(world, tmp_path / "42.csv", ("vk", "tg", "ok"))
    warehouse = tmp_path / "wh" / "gospulse.duckdb"
    with (
        VkEmulator(world, rate_limit=RPS, tokens={TOKEN}) as vk,
        TelegramEmulator(tg_world) as tg,
        OkEmulator(ok_world, rate_limit=20.0, tokens={TOKEN}) as ok,
    ):
        for name, value in {
            "GOSPULSE_WAREHOUSE": str(warehouse),
            "GOSPULSE_REGISTRY": str(tmp_path / "42.csv"),
            "GOSPULSE_VK_API_URL": vk.base_url,
            "VK_TOKEN": TOKEN,
            "GOSPULSE_VK_RPS": str(RPS),
            "GOSPULSE_TG_API_URL": tg.base_url,
            "GOSPULSE_TG_RPS": "20",
            "GOSPULSE_OK_API_URL": ok.base_url,
            "GOSPULSE_OK_RPS": "20",
            "OK_APP_KEY": DEFAULT_APP_KEY,
            "OK_ACCESS_TOKEN": TOKEN,
            "OK_APP_SECRET": DEFAULT_APP_SECRET,
        }.items():
            monkeypatch.setenv(name, value)
        for day in ("2026-05-01", "2026-05-31"):
            for emulator in (vk, tg, ok):
                emulator.set_date(date.fromisoformat(day))
            assert main(["extract", "--date", day, "--networks", "vk,tg,ok"]) == 0
            out = capsys.readouterr().out
            for network in ("vk", "tg", "ok"):
                assert f"{network} {day}: success — " in out
        assert main(["build", "--test-all-history"]) == 0
        assert "0 failed" in capsys.readouterr().out
    # the audit's uniqueness tests group every day, not only the days the build rewrote
    results = dbt_state_dir(warehouse) / "target" / NODE_RESULTS
    audited = [
        r["compiled_code"]
        for r in json.loads(results.read_text(encoding="utf-8"))["results"]
        if r["unique_id"].startswith("test.gospulse.unique_combination_int_dq_page_days")
    ]
    assert audited and "rebuilt" not in audited[0]
    # the days May 2 .. May 31: growth from members_on(May 1), the first extracted day
    args = ["top", "--start", "2026-05-02", "--end", "2026-05-31", "--n", "500"]
    assert main([*args, "--network", "all", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    networks = [line.split(",")[1] for line in lines]
    assert set(networks) == {"vk", "tg", "ok"}  # one ranking across networks
    ranks = [int(line.split(",")[0]) for line in lines]
    assert ranks == list(range(1, len(lines) + 1))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        totals = dict(
            con.execute(
                "select network, members_total from marts.mart_region_growth "
                "where month_start = date '2026-05-01'"
            ).fetchall()
        )
        orgs = con.execute(
            "select count(*) from marts.mart_organization_growth "
            "where network = 'all' and pages_total >= 2 and month_start = date '2026-05-01'"
        ).fetchone()[0]
    finally:
        con.close()
    day = date(2026, 5, 31)
    expected = {
        "vk": sum(
            s.members_count
            for s in (world.state_on(p, day) for p in world.pages)
            if s.deactivated is None and not s.is_closed
        ),
        "tg": sum(
            s.members_count
            for s in (tg_world.state_on(p, day) for p in tg_world.pages)
            if s.status == "ok"
        ),
        "ok": sum(
            s.members_count
            for s in (ok_world.state_on(p, day) for p in ok_world.pages)
            if s.status == "ok"
        ),
    }
    # members_on counts ok snapshots only: closed, deleted and banned pages are not summed
    assert {k: totals[k] for k in expected} == expected
    assert totals["all"] == sum(expected.values())
    assert orgs > 0  # organizations with pages on several networks get a combined total

"""Data from the networks' emulators is marked simulated from the run record to the report.

An extractor talking to an address on this machine (where the emulators listen; the real APIs
never do) records its run as simulated; the published copy says so, and every report read from
it carries "Все данные смоделированы" whether or not its caller asked."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from emulators.vk.server import VkEmulator
from emulators.vk.world import World
from extractors.base import is_loopback_url
from extractors.vk.client import VkClient
from gospulse.extract.pipeline import extract_vk
from gospulse.raw.warehouse import ExtractRun, connect, record_run
from gospulse.registry.pages import validate_registry
from gospulse.serving.layout import published_path
from gospulse.serving.publish import is_simulated, open_published, publish_marts

DAY = date(2026, 3, 1)
TOKEN = "simulated-token"


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/method/", True),
        ("http://localhost:9000", True),
        ("http://[::1]:9000/fb.do", True),
        ("http://127.8.0.1/", True),
        ("https://api.vk.ru/method/", False),
        ("https://api.ok.ru/fb.do", False),
        ("http://10.0.0.5/", False),
        ("not a url", False),
    ],
)
def test_only_this_machines_addresses_are_loopback(url, loopback):
    assert is_loopback_url(url) is loopback


def published_simulated(warehouse) -> bool:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists marts")
        con.execute("create table if not exists marts.mart_x as select 42 as region_code")
    publish_marts(warehouse, run_id="r", snapshot_date=DAY)
    con = open_published(published_path(warehouse))
    try:
        return is_simulated(con)
    finally:
        con.close()


def test_a_run_against_the_emulator_is_simulated_through_to_the_publication(tmp_path):
    world = World(seed=5, start=DAY, n_pages=12)
    world.write_registry(tmp_path / "42.csv")
    registry = validate_registry(tmp_path / "42.csv")
    warehouse = tmp_path / "w" / "gospulse.duckdb"
    with VkEmulator(world, rate_limit=1000, tokens={TOKEN}) as emulator:
        emulator.set_date(DAY)
        client = VkClient(TOKEN, base_url=emulator.base_url, requests_per_second=1000)
        extract_vk(DAY, registry=registry, warehouse=warehouse, client=client)
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select simulated from raw.extract_runs").fetchall() == [(True,)]
    assert published_simulated(warehouse)


def test_runs_against_the_networks_publish_unmarked(tmp_path):
    warehouse = tmp_path / "w" / "gospulse.duckdb"
    with connect(warehouse) as con:
        now = datetime.now()
        record_run(con, ExtractRun("r1", "vk", DAY, now, now, 1, 1, 0, 0, 1, 0, 0, 0.0, "success"))
    assert not published_simulated(warehouse)

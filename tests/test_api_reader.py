"""The API's connection per published generation: a swap is seen by the next request, the old
generation closes when its last request ends, and before any publication the API answers 503."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from gospulse.api.app import create_app
from gospulse.api.reader import PublishedReader
from gospulse.api.tokens import TokenStore
from gospulse.serving.layout import published_path
from gospulse.serving.publish import publish_marts


def _warehouse(path: Path, rows: int) -> Path:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.mart_region_growth as "
        "select (range % 2) * 12 + 42 as region_code, range as n from range(?)",
        [rows],
    )
    con.close()
    return path


def test_the_api_follows_publications_and_says_503_before_the_first(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    store = TokenStore(tmp_path / "tokens.json")
    token, _ = store.add("bi", "42")
    client = TestClient(create_app(published_path(warehouse), store))
    headers = {"Authorization": f"Bearer {token}"}

    r = client.get("/health")
    assert r.status_code == 503
    assert "no published marts" in r.json()["detail"]
    assert client.get("/marts/mart_region_growth", headers=headers).status_code == 503
    # no mart is known at start-up: the spec offers the route that takes any name
    assert [p for p in client.get("/openapi.json").json()["paths"] if "/marts/" in p] == [
        "/marts/{mart}"
    ]

    publish_marts(_warehouse(warehouse, 4), run_id="r1", snapshot_date=date(2025, 3, 1))
    body = client.get("/marts/mart_region_growth", headers=headers).json()
    assert (body["run_id"], body["total"]) == ("r1", 2)
    assert {row["region_code"] for row in body["rows"]} == {42}

    publish_marts(_warehouse(warehouse, 10), run_id="r2", snapshot_date=date(2025, 3, 2))
    body = client.get("/marts/mart_region_growth", headers=headers).json()
    assert (body["run_id"], body["total"]) == ("r2", 5)
    assert client.get("/health").json()["run_id"] == "r2"


def test_an_old_generation_stays_open_for_its_cursor_then_closes(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    publish_marts(_warehouse(warehouse, 3), run_id="r1", snapshot_date=date(2025, 3, 1))
    reader = PublishedReader(published_path(warehouse))
    with reader.cursor() as old:
        publish_marts(_warehouse(warehouse, 6), run_id="r2", snapshot_date=date(2025, 3, 2))
        with reader.cursor() as new:
            assert new.execute("select count(*) from marts.mart_region_growth").fetchone() == (6,)
        # the request that started before the swap finishes on its own, complete, generation
        assert old.execute("select count(*) from marts.mart_region_growth").fetchone() == (3,)
        first = old
    # its generation was retired and closed once the cursor was done
    with pytest.raises(duckdb.ConnectionException):
        first.execute("select 1")
    with reader.cursor() as cur:
        assert cur.execute("select run_id from meta.publication").fetchone() == ("r2",)
    reader.close()

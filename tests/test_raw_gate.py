"""The raw batch gate (Great Expectations): each check fires on bad data, a rejected batch is
not loaded, and the marts are not rebuilt on it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import duckdb
import pytest

from emulators.vk.server import Faults, VkEmulator
from emulators.vk.world import World
from expectations.raw_batch import validate_batch
from extractors.vk.client import VkClient
from gospulse.config.task_results import BuildVerdict, NetworkLoad
from gospulse.extract.pipeline import extract_vk, load_registry_into_warehouse, read_registry
from gospulse.orchestration import tasks
from gospulse.raw.warehouse import SnapshotRow
from gospulse.transform.run import build

DAY = date(2026, 4, 2)
TOKEN = "gate-test-token"


def _rows(n: int = 10) -> list[SnapshotRow]:
    return [SnapshotRow("vk", str(100 + i), DAY, 1000 + i, "ok") for i in range(n)]


def _gate(rows, expected=10, docs_dir=None):
    return validate_batch(
        rows,
        network="vk",
        snapshot_date=DAY,
        expected_rows=expected,
        max_error_share=0.2,
        docs_dir=docs_dir,
    )


def test_a_good_batch_passes_and_writes_data_docs(tmp_path):
    result = _gate(_rows(), docs_dir=tmp_path / "docs")
    assert result.success and result.failures == []
    assert result.checked == 6
    assert result.docs_index and (tmp_path / "docs" / "index.html").exists()
    pages = list((tmp_path / "docs" / "validations").rglob("*.html"))
    assert pages, "a validation page is rendered for the run"


@pytest.mark.parametrize(
    ("bad", "expected", "reason"),
    [
        # a duplicated row: the same page twice on one day
        (lambda rows: [*rows[:9], rows[0]], 10, "share a (network, page_ref, date) key"),
        # a page lost between fetch and load
        (lambda rows: rows[:9], 10, "9 rows, expected 10"),
        # a negative count from a broken parser
        (lambda rows: [replace(rows[0], members_count=-5), *rows[1:]], 10, "negative members"),
        # a status outside the vocabulary
        (lambda rows: [replace(rows[0], status="frozen"), *rows[1:]], 10, "unknown status"),
        # a half-failed extraction
        (
            lambda rows: (
                [replace(r, status="error", members_count=None) for r in rows[:5]] + rows[5:]
            ),
            10,
            "5 of 10 pages failed (50%), 20% allowed",
        ),
    ],
    ids=["duplicate", "missing_row", "negative", "unknown_status", "half_failed"],
)
def test_each_check_fires_on_bad_data(bad, expected, reason):
    result = _gate(bad(_rows()), expected)
    assert not result.success
    assert any(reason in f for f in result.failures), result.failures


def test_error_share_under_the_threshold_passes():
    rows = _rows()
    rows[0] = replace(rows[0], status="error", members_count=None)
    assert _gate(rows).success  # one page in ten failing is a normal day


@pytest.mark.slow
def test_a_half_failed_batch_is_not_loaded_and_marts_are_held(tmp_path, monkeypatch):
    world = World(seed=8, start=date(2026, 4, 1), n_pages=40)
    registry_path = tmp_path / "42.csv"
    world.write_registry(registry_path)
    registry = read_registry(registry_path)
    warehouse = tmp_path / "w" / "gospulse.duckdb"
    monkeypatch.setenv("GOSPULSE_REGISTRY", str(registry_path))
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    with VkEmulator(world, rate_limit=50.0, tokens={TOKEN}) as emulator:
        client = VkClient(TOKEN, base_url=emulator.base_url, requests_per_second=50.0)
        emulator.set_date(date(2026, 4, 1))
        assert (
            extract_vk(
                date(2026, 4, 1), registry=registry, warehouse=warehouse, client=client
            ).status
            == "success"
        )
        load_registry_into_warehouse(registry, warehouse)
        assert build(warehouse).success
        # the next day, VK refuses half of the pages
        emulator.set_date(DAY)
        emulator.faults = Faults(page_errors={p.id: 15 for p in world.pages[::2]})
        summary = extract_vk(DAY, registry=registry, warehouse=warehouse, client=client)
    assert summary.status == "rejected"
    assert "raw gate failed" in summary.message and "pages failed (50%)" in summary.message
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        loaded = con.execute(
            "select status, count(*), min(error) from raw.page_snapshots where snapshot_date = ? "
            "group by 1",
            [DAY],
        ).fetchall()
        run = con.execute(
            "select status, message from raw.extract_runs where snapshot_date = ?", [DAY]
        ).fetchone()
    finally:
        con.close()
    # nothing of the bad batch reached the warehouse; each page's day says why it has no data
    [(status, pages, error)] = loaded
    assert (status, pages) == ("error", len(registry.pages))
    assert "rejected by the raw gate (raw gate failed" in error
    assert run[0] == "rejected" and "raw gate failed" in run[1]
    staged = warehouse.parent / "staging" / "vk" / str(DAY)
    assert list(staged.rglob("batch-*.json")), "the rejected batch is kept for inspection"
    docs = warehouse.parent / "quality" / "data_docs" / "vk" / str(DAY) / "index.html"
    assert docs.exists()

    before = _mart_dates(warehouse)
    # the daily DAG's path: its registry load holds (and skips the dbt tasks), and the verdict
    # of the skipped dbt tasks is a held build
    extracts = {"vk": NetworkLoad.of_run(summary)}
    prepared = tasks.prepare_dbt(extracts)
    assert prepared.held and "raw gate failed" in prepared.held
    held = tasks.dbt_verdict(extracts, {"load_registry": "skipped"})
    assert held == BuildVerdict(held=prepared.held)
    assert _mart_dates(warehouse) == before  # the previous marts stay
    text_error = None
    try:
        tasks.summarize(extracts, None, held)
    except RuntimeError as exc:
        text_error = str(exc)
    assert (
        text_error and "marts NOT rebuilt" in text_error and "no usable data from VK" in text_error
    )


def _mart_dates(warehouse) -> list:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "select max(snapshot_date), count(*) from marts.mart_page_daily"
        ).fetchall()
    finally:
        con.close()


def test_the_threshold_lives_with_the_other_dq_thresholds(monkeypatch):
    from expectations.raw_batch import configured_max_error_share, max_error_share_from_env

    monkeypatch.delenv("GOSPULSE_RAW_GATE_MAX_ERROR_SHARE", raising=False)
    assert configured_max_error_share() == 0.2  # vars.dq.raw_gate in dbt_project.yml
    assert max_error_share_from_env() == 0.2
    monkeypatch.setenv("GOSPULSE_RAW_GATE_MAX_ERROR_SHARE", "0.5")
    assert max_error_share_from_env() == 0.5
    monkeypatch.setenv("GOSPULSE_RAW_GATE_MAX_ERROR_SHARE", "1.5")
    with pytest.raises(ValueError, match=r"GOSPULSE_RAW_GATE_MAX_ERROR_SHARE=.*share in \[0, 1\]"):
        max_error_share_from_env()

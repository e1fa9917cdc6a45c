"""The per-network task bodies: a network that cannot start is recorded, and the summary says so."""

from __future__ import annotations

import socket
from datetime import date

import duckdb
import pytest

from gospulse.config.task_results import (
    AudienceOutcome,
    BatchRef,
    BuildVerdict,
    IncidentAlerts,
    NetworkLoad,
)
from gospulse.orchestration import tasks

REGISTRY = """network,page_ref,title,organization,region_code,municipality,sector,flagship
vk,club101,Минздрав Кузбасса,Минздрав,42,,health,true
vk,kuzbass_sport,Минспорт Кузбасса,Минспорт,42,,sport,false
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(tmp_path, monkeypatch):
    registry = tmp_path / "42.csv"
    registry.write_text(REGISTRY, encoding="utf-8")
    warehouse = tmp_path / "w" / "gospulse.duckdb"
    monkeypatch.setenv("GOSPULSE_REGISTRY", str(registry))
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("GOSPULSE_VK_API_URL", f"http://127.0.0.1:{_closed_port()}/method/")
    monkeypatch.setenv("GOSPULSE_VK_MAX_RETRIES", "0")
    monkeypatch.setenv("VK_TOKEN", "task-test-token")
    return warehouse


def _stored(warehouse):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select page_ref, status, members_count, error from raw.page_snapshots"
        ).fetchall()
        run = con.execute("select network, status, message from raw.extract_runs").fetchall()
    finally:
        con.close()
    return rows, run


def test_unreachable_network_is_recorded_as_failed(env):
    refs = tasks.plan_network("vk", "2026-05-01T03:00:00+07:00")
    for ref in refs:
        tasks.fetch_network(ref, ref.token, 1)
    summary = tasks.load_network(refs)
    assert summary.status == "failed"
    assert summary.unresolved == 1  # the name could not be resolved either
    rows, run = _stored(env)
    # the page registered by id is recorded failed, never as 0 members
    assert [(r[0], r[1], r[2]) for r in rows] == [("101", "error", None)]
    assert run[0][:2] == ("vk", "failed")
    assert "task-test-token" not in run[0][2]


def test_network_that_cannot_start_is_recorded_with_the_reason(env, monkeypatch):
    monkeypatch.delenv("VK_TOKEN")
    refs = tasks.plan_network("vk", "2026-05-01T03:00:00+07:00")
    assert [r.index for r in refs] == [-1]  # nothing to fetch: planning failed
    summary = tasks.load_network(refs)
    assert summary.status == "failed"
    assert "could not start: VkAuthError: no VK token" in summary.message
    rows, run = _stored(env)
    assert [(r[0], r[1], r[2]) for r in rows] == [("101", "error", None)]
    assert "could not start" in rows[0][3]
    assert run[0][:2] == ("vk", "failed")


def test_networks_without_pages_are_skipped(env):
    refs = tasks.plan_network("ok", "2026-05-01T03:00:00+07:00")
    assert refs == [BatchRef("ok", plan=None, index=-1, token=0)]
    assert tasks.load_network(refs) == NetworkLoad(
        "ok", status="skipped", message="no pages registered"
    )


def _extract(network: str, status: str, message: str = "") -> NetworkLoad:
    return NetworkLoad(
        network,
        snapshot_date=str(date(2026, 5, 1)),
        status=status,
        message=message,
        pages_ok=10 if status != "failed" else 0,
        pages_unavailable=1,
        pages_failed=0 if status == "success" else 5,
        unresolved=0,
        requests=3,
        retries=0,
    )


def test_summary_names_incomplete_networks_and_fails_on_a_dead_one():
    build = BuildVerdict(summary="dbt build: 22 models")
    audience = AudienceOutcome(enabled=False, reason="off")
    text = tasks.summarize(
        {"vk": _extract("vk", "success"), "tg": _extract("tg", "partial", "5 deferred")},
        audience,
        build,
    )
    assert "incomplete networks: Telegram" in text
    assert "VK success" in text and "5 deferred" in text
    with pytest.raises(RuntimeError, match="no usable data from Odnoklassniki"):
        tasks.summarize(
            {"vk": _extract("vk", "success"), "ok": _extract("ok", "failed", "HTTP 502")},
            audience,
            build,
        )
    with pytest.raises(RuntimeError, match="no usable data from Telegram"):
        tasks.summarize({"vk": _extract("vk", "success"), "tg": None}, None, None)
    complete = tasks.summarize(
        {
            "vk": _extract("vk", "success"),
            "ok": NetworkLoad("ok", status="skipped", message="no pages registered"),
        },
        audience,
        build,
    )
    assert "all networks complete" in complete


def test_summary_tells_the_audience_and_the_alerts_sent():
    build = BuildVerdict(summary="dbt build: 22 models")
    audience = AudienceOutcome(
        enabled=True, snapshot_date="2026-05-01", pages_ok=4, pages_hidden=1, pages_failed=2
    )
    alerts = IncidentAlerts(new=3, sent={"webhook": 3}, failed={"email": "SMTP 554"})
    text = tasks.summarize({"vk": _extract("vk", "success")}, audience, build, alerts)
    assert "audience: 4 lists read, 1 hidden, 0 over budget, 2 failed. " in text
    assert text.endswith(". alerts: 3 new incidents, 3 by webhook; email FAILED: SMTP 554")
    quiet = tasks.summarize(
        {"vk": _extract("vk", "success")}, None, build, tasks.notify_incidents(None)
    )
    assert "audience: step did not finish. " in quiet
    assert quiet.endswith(". alerts: 0 new incidents, none sent")

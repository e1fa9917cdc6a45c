"""Airflow operations without a scheduler: token pools and task ids, which token fetches which
batch, masking inputs, pools, the deadline callback and the past-date guard."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime
from email.header import decode_header, make_header

import pytest

from emulators.vk.server import VkEmulator
from emulators.vk.world import World
from gospulse.config.dates import PastSnapshotError, check_snapshot_lag
from gospulse.config.task_results import BuildVerdict, PreparedDbt
from gospulse.extract.networks import extractor_for
from gospulse.extract.token_lists import TokenSlotError
from gospulse.orchestration import tasks
from gospulse.orchestration.deadlines import DeadlineConfigError, daily_run_late, deadline_hours
from gospulse.orchestration.local import DAGS_FOLDER
from gospulse.orchestration.pools import wanted_pools
from gospulse.orchestration.token_slots import deal, spread, token_count
from tests.alert_receivers import HttpReceiver, SmtpReceiver

COUNT_VARS = ("GOSPULSE_VK_TOKEN_COUNT", "GOSPULSE_TG_SESSION_COUNT", "GOSPULSE_OK_TOKEN_COUNT")


def _daily(monkeypatch, counts: dict[str, str]):
    from airflow.dag_processing.dagbag import DagBag

    for var in COUNT_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in counts.items():
        monkeypatch.setenv(var, value)
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    return bag.dags


def test_one_fetch_task_and_pool_per_token_at_counts_1_and_3(monkeypatch):
    dags = _daily(monkeypatch, {"GOSPULSE_VK_TOKEN_COUNT": "3"})
    daily = dags["gospulse_daily"]
    fetch = {t.task_id: t for t in daily.tasks if ".fetch_batch" in t.task_id}
    assert {k: t.pool for k, t in fetch.items()} == {
        "vk.fetch_batch_t0": "vk_token_0",
        "vk.fetch_batch_t1": "vk_token_1",
        "vk.fetch_batch_t2": "vk_token_2",
        "tg.fetch_batch_t0": "tg_session_0",
        "ok.fetch_batch_t0": "ok_token_0",
    }
    for i in range(3):
        task = fetch[f"vk.fetch_batch_t{i}"]
        # each token's task gets its own share of the plan and nothing else
        assert task.upstream_task_ids == {f"vk.batches_t{i}"}
        assert task.partial_kwargs["op_kwargs"] == {"token": i, "tokens": 3}
        assert daily.get_task(f"vk.batches_t{i}").upstream_task_ids == {"vk.plan_batches"}
        assert f"vk.fetch_batch_t{i}" in daily.get_task("vk.load_snapshots").upstream_task_ids
    # every pool the DAG names is one `gospulse airflow pools` creates, with one slot
    env = {"GOSPULSE_VK_TOKEN_COUNT": "3"}
    pools = {p.name: p.slots for p in wanted_pools(env)}
    assert {t.pool for t in fetch.values()} <= set(pools)
    assert pools == {
        "gospulse_warehouse": 1,
        "vk_token_0": 1,
        "vk_token_1": 1,
        "vk_token_2": 1,
        "tg_session_0": 1,
        "ok_token_0": 1,
    }
    single = _daily(monkeypatch, {})["gospulse_daily"]
    assert [t.task_id for t in single.tasks if t.task_id.startswith("vk.fetch")] == [
        "vk.fetch_batch_t0"
    ]


def test_assets_schedule_and_deadline_are_declared(monkeypatch):
    from airflow.sdk import AssetOrTimeSchedule

    from gospulse.orchestration.assets import gospulse_export_bundle, gospulse_marts

    dags = _daily(monkeypatch, {"GOSPULSE_DAILY_DEADLINE_HOURS": "2.5"})
    daily, federal = dags["gospulse_daily"], dags["gospulse_federal"]
    assert daily.get_task("publish_marts").outlets == [gospulse_marts]
    assert daily.get_task("write_export_bundle").outlets == [gospulse_export_bundle]
    assert [t.task_id for t in daily.tasks if t.outlets] == ["publish_marts", "write_export_bundle"]
    assert isinstance(federal.timetable, AssetOrTimeSchedule)
    assert federal.timetable.asset_condition == gospulse_export_bundle
    assert federal.timetable.timetable.expression == "0 9 * * *"
    [deadline] = daily.deadline
    assert deadline.interval.total_seconds() == 2.5 * 3600
    assert deadline.callback.path == "gospulse.orchestration.deadlines.daily_run_late"
    assert deadline.callback.kwargs == {"hours": 2.5}
    for dag in dags.values():
        assert dag.doc_md


@pytest.mark.parametrize(
    ("value", "message"), [("two", "expected a whole number"), ("0", "expected at least 1")]
)
def test_a_bad_token_count_names_its_variable(value, message):
    with pytest.raises(TokenSlotError, match=f"GOSPULSE_VK_TOKEN_COUNT.*{message}"):
        token_count("vk", {"GOSPULSE_VK_TOKEN_COUNT": value})


def test_batches_are_dealt_evenly_and_small_plans_split_for_every_token():
    hands = deal(list(range(10)), 3)
    assert hands == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(x for h in hands for x in h) == list(range(10))
    # one 7-page batch, 3 tokens: 3 batches of 3, 2, 2 pages, none lost or repeated
    cut = spread([["a", "b", "c", "d", "e", "f", "g"]], 3)
    assert cut == [["a", "b", "c"], ["d", "e"], ["f", "g"]]
    # enough batches already: left as they are; fewer pages than tokens: one page each
    assert spread([["a"], ["b"], ["c"]], 2) == [["a"], ["b"], ["c"]]
    assert spread([["a", "b"]], 4) == [["a"], ["b"]]


@pytest.fixture
def vk_env(tmp_path, monkeypatch):
    world = World(seed=3, start=date(2026, 5, 1), n_pages=6)
    registry = tmp_path / "42.csv"
    world.write_registry(registry)
    monkeypatch.setenv("GOSPULSE_REGISTRY", str(registry))
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(tmp_path / "w" / "gospulse.duckdb"))
    monkeypatch.setenv("VK_TOKEN", "token-zero,token-one")
    with VkEmulator(world, tokens={"token-zero", "token-one"}) as emulator:
        emulator.set_date(date(2026, 5, 1))
        monkeypatch.setenv("GOSPULSE_VK_API_URL", emulator.base_url)
        yield emulator


def test_each_token_fetches_only_its_own_batches(vk_env):
    refs = tasks.plan_network("vk", "2026-05-01T03:00:00+07:00", token_count=2)
    # six pages, two tokens: the single batch is cut in two and dealt one per token
    assert [(r.index, r.token) for r in refs] == [(0, 0), (1, 1)]
    planned = vk_env.stats.by_token
    assert set(planned) <= {"token-zero"}  # planning uses the first token only
    vk_env.reset_stats()
    [mine] = tasks.batches_of_token(refs, 1)
    assert tasks.fetch_network(mine, 1, 2)
    assert dict(vk_env.stats.by_token) == {"token-one": 1}
    with pytest.raises(ValueError, match="batch 0 is dealt to token 0, not to token 1"):
        tasks.fetch_network(refs[0], 1, 2)
    assert tasks.fetch_network(refs[0], 0, 2)
    # token 0's batch went out with token 0 only (a page's follow-up may add a request)
    after = vk_env.stats.by_token
    assert after["token-one"] == 1 and after["token-zero"] >= 1
    summary = tasks.load_network(refs)
    assert summary.status == "success"
    assert summary.pages_ok + summary.pages_unavailable == len(vk_env.world.pages)


def test_a_token_index_beyond_the_configured_tokens_names_connection_and_count(monkeypatch):
    monkeypatch.setenv("VK_TOKEN", "only-one-token")
    with pytest.raises(TokenSlotError) as err:
        extractor_for("vk", token_index=2, token_count=3)
    text = str(err.value)
    assert "VK token 3 of 3" in text and "holds 1" in text
    assert "'vk_api'" in text and "GOSPULSE_VK_TOKEN_COUNT" in text
    assert "only-one-token" not in text


def test_past_snapshot_dates_are_refused_today_and_yesterday_accepted(monkeypatch):
    monkeypatch.setenv("GOSPULSE_SNAPSHOT_MAX_LAG_DAYS", "1")
    now = datetime(2026, 5, 10, 1, 0, tzinfo=UTC)  # 08:00 on 10 May in Novokuznetsk
    check_snapshot_lag("vk", date(2026, 5, 10), 42, now)
    check_snapshot_lag("vk", date(2026, 5, 9), 42, now)
    with pytest.raises(PastSnapshotError, match=r"vk: snapshot date 2026-05-08 is 2 days"):
        check_snapshot_lag("vk", date(2026, 5, 8), 42, now)
    monkeypatch.setenv("GOSPULSE_SNAPSHOT_MAX_LAG_DAYS", "none")
    check_snapshot_lag("vk", date(2020, 1, 1), 42, now)


def test_a_backfill_day_is_refused_before_anything_is_written(vk_env, monkeypatch, tmp_path):
    monkeypatch.setenv("GOSPULSE_SNAPSHOT_MAX_LAG_DAYS", "1")
    with pytest.raises(PastSnapshotError, match="import-snapshots"):
        tasks.plan_network("vk", "2026-05-01T03:00:00+07:00", token_count=2)
    assert vk_env.stats.requests_total == 0
    assert not (tmp_path / "w" / "staging").exists()


def test_deadline_hours_from_env():
    assert deadline_hours({}) == 4.0
    assert deadline_hours({"GOSPULSE_DAILY_DEADLINE_HOURS": "1.5"}) == 1.5
    assert deadline_hours({"GOSPULSE_DAILY_DEADLINE_HOURS": "off"}) is None
    with pytest.raises(DeadlineConfigError, match="GOSPULSE_DAILY_DEADLINE_HOURS"):
        deadline_hours({"GOSPULSE_DAILY_DEADLINE_HOURS": "-1"})


# the shape Airflow's scheduler hands a deadline callback (models/deadline.py handle_miss)
CONTEXT = {
    "dag_run": {
        "dag_id": "gospulse_daily",
        "dag_run_id": "scheduled__2026-05-10T03:00:00+07:00",
        "logical_date": "2026-05-09T20:00:00Z",
        "queued_at": "2026-05-09T20:00:02Z",
        "state": "running",
    },
    "deadline": {"id": "d1", "deadline_time": "2026-05-10T00:00:02Z"},
}


def test_late_daily_run_is_sent_through_every_alert_channel(monkeypatch):
    bot_token = "123456:late-bot-token"
    webhook, bot, smtp = HttpReceiver(), HttpReceiver(bot_token=bot_token), SmtpReceiver()
    try:
        monkeypatch.setenv("GOSPULSE_ALERT_WEBHOOK_URL", webhook.url + "/hook")
        monkeypatch.setenv("GOSPULSE_ALERT_TG_BOT_TOKEN", bot_token)
        monkeypatch.setenv("GOSPULSE_ALERT_TG_CHAT_ID", "-100777")
        monkeypatch.setenv("GOSPULSE_ALERT_TG_API_URL", bot.url)
        monkeypatch.setenv("GOSPULSE_ALERT_EMAIL_TO", "duty@example.org")
        monkeypatch.setenv("AIRFLOW__SMTP__SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("AIRFLOW__SMTP__SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("AIRFLOW__SMTP__SMTP_STARTTLS", "False")
        monkeypatch.setenv("AIRFLOW__SMTP__SMTP_MAIL_FROM", "gospulse@example.org")
        result = daily_run_late(CONTEXT, 4.0)
    finally:
        webhook.close(), bot.close(), smtp.close()
    assert result["sent"] == ["webhook", "telegram", "email"]
    [(path, payload)] = webhook.requests
    assert path == "/hook" and payload["incidents"] == []
    subject = payload["subject"]
    assert subject.startswith("gospulse daily run late: gospulse_daily run scheduled__2026-05-10")
    assert "queued at 2026-05-09T20:00:02Z" in subject and "after 4 h" in subject
    [(bot_path, message)] = bot.requests
    assert bot_path == f"/bot{bot_token}/sendMessage" and message["chat_id"] == "-100777"
    assert message["text"].startswith(subject)
    [mail] = smtp.messages
    parsed = email.message_from_string(mail["data"])
    assert "duty@example.org" in mail["to"][0]
    assert "daily run late" in str(make_header(decode_header(parsed["Subject"])))


def test_a_failing_alert_channel_fails_the_deadline_callback(monkeypatch):
    webhook = HttpReceiver(status=500)
    try:
        for var in ("GOSPULSE_ALERT_TG_BOT_TOKEN", "GOSPULSE_ALERT_EMAIL_TO"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("GOSPULSE_ALERT_WEBHOOK_URL", webhook.url)
        from gospulse.quality.alerts import NotifierError

        with pytest.raises(NotifierError, match="late-run alert not delivered: webhook: .*500"):
            daily_run_late(CONTEXT, 4.0)
    finally:
        webhook.close()
    assert len(webhook.requests) == 1


def test_marts_are_held_when_no_network_loaded_anything(tmp_path, monkeypatch):
    """A refused backfill day loads nothing: no dbt run, and nothing published under its date."""
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(tmp_path / "absent" / "gospulse.duckdb"))
    extracts = {"vk": None, "tg": None, "ok": None}
    assert tasks.prepare_dbt(extracts) == PreparedDbt(held="no network loaded data in this run")
    held = tasks.dbt_verdict(extracts, {"load_registry": "skipped"})
    assert held == BuildVerdict(held="no network loaded data in this run")
    assert not (tmp_path / "absent").exists()
    from gospulse.serving.publish import publish_after_build

    assert (
        publish_after_build(
            held,
            tmp_path / "absent" / "gospulse.duckdb",
            run_id="r",
            snapshot_date=date(2026, 5, 1),
        ).published
        is False
    )


def test_a_step_announces_what_it_produced_or_skips_with_its_result_in_xcom():
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowSkipException

    from gospulse.config.task_results import ExportBundles, PublishOutcome
    from gospulse.orchestration.assets import (
        announce_bundle,
        announce_marts,
        gospulse_export_bundle,
        gospulse_marts,
    )

    pushed: list[dict] = []
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.append({key: value}))
    events = {gospulse_marts: SimpleNamespace(), gospulse_export_bundle: SimpleNamespace()}
    published = PublishOutcome(
        published=True, path="/p", run_id="r", snapshot_date="2026-03-10", tables=2, rows=9
    )
    assert announce_marts(published, ti, events) == published.to_xcom()
    assert events[gospulse_marts].extra == {
        "snapshot_date": "2026-03-10",
        "run_id": "r",
        "tables": 2,
        "rows": 9,
    }
    bundles = ExportBundles(
        written=True, regions=(42,), paths=("/b/42",), files=9, snapshot_date="2026-03-10"
    )
    announce_bundle(bundles, ti, events)
    assert events[gospulse_export_bundle].extra == {
        "regions": [42],
        "snapshot_date": "2026-03-10",
        "paths": ["/b/42"],
        "files": 9,
    }
    assert pushed == []
    with pytest.raises(AirflowSkipException, match="no gospulse_export_bundle event: marts held"):
        announce_bundle(ExportBundles(written=False, reason="marts held"), ti, {})
    assert pushed == [
        {
            "return_value": {
                "written": False,
                "reason": "marts held",
                "regions": [],
                "paths": [],
                "files": 0,
            }
        }
    ]

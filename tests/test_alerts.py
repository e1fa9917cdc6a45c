"""Incidents reach people once, through every configured channel, against loopback receivers."""

from __future__ import annotations

import email
from datetime import date

import pytest

from gospulse.orchestration.alert_email import EmailNotifier, notifiers_from_env
from gospulse.quality.alerts import (
    TelegramBotNotifier,
    WebhookNotifier,
    load_incidents,
    notify_new_incidents,
)
from gospulse.raw.warehouse import connect
from tests.alert_receivers import HttpReceiver, SmtpReceiver

BOT_TOKEN = "123456:bot-token-for-tests"

INCIDENTS = [
    # scope, network, page_ref, region, title, rule, severity, first, last, value, low, high, status
    ("page", "vk", "101", 42, "Минздрав Кузбасса", "status_change", "critical",
     date(2026, 5, 3), date(2026, 5, 4), None, None, None, "open"),
    ("page", "tg", "555", 42, "Школа № 1", "drop_dod", "warning",
     date(2026, 5, 4), date(2026, 5, 4), 28000.0, 39500.0, 40500.0, "open"),
    ("region", "all", None, 42, None, "region_drop", "critical",
     date(2026, 4, 20), date(2026, 4, 21), 1.0e6, 1.2e6, 1.3e6, "closed"),
]  # fmt: skip


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            """
            create table marts.mart_dq_incidents (
                scope_type varchar, network varchar, page_ref varchar, region_code integer,
                title varchar, rule varchar, severity varchar, first_seen date, last_seen date,
                current_value double, expected_low double, expected_high double, status varchar
            )
            """
        )
        con.executemany(
            "insert into marts.mart_dq_incidents values (?,?,?,?,?,?,?,?,?,?,?,?,?)", INCIDENTS
        )
    return path


def test_incidents_are_listed_most_severe_first(warehouse):
    everything = load_incidents(warehouse)
    assert [i.rule for i in everything] == ["status_change", "region_drop", "drop_dod"]
    assert [i.rule for i in load_incidents(warehouse, open_only=True)] == [
        "status_change",
        "drop_dod",
    ]
    assert [i.rule for i in load_incidents(warehouse, since=date(2026, 5, 4))] == [
        "status_change",
        "drop_dod",
    ]
    line = load_incidents(warehouse, open_only=True)[1].line()
    assert line == (
        "[warning] drop_dod — tg Школа № 1: 28 000 (expected 39 500–40 500); since 2026-05-04"
    )


def test_new_incidents_go_out_once_per_channel(warehouse, caplog):
    hook = HttpReceiver()
    bot = HttpReceiver(bot_token=BOT_TOKEN)
    try:
        channels = [WebhookNotifier(hook.url), TelegramBotNotifier(BOT_TOKEN, "-100777", bot.url)]
        first = notify_new_incidents(warehouse, channels, region_label="42")
        assert first.sent == {"webhook": 2, "telegram": 2} and first.failed == {}
        ((path, payload),) = hook.requests
        assert payload["subject"] == "gospulse 42: 2 new data-quality incidents (1 critical)"
        assert [i["rule"] for i in payload["incidents"]] == ["status_change", "drop_dod"]
        ((bot_path, message),) = bot.requests
        assert bot_path == f"/bot{BOT_TOKEN}/sendMessage" and message["chat_id"] == "-100777"
        assert "[critical] status_change — vk Минздрав Кузбасса" in message["text"]
        # a rerun of the day pages nobody twice
        again = notify_new_incidents(warehouse, channels)
        assert again.sent == {} and len(hook.requests) == 1 and len(bot.requests) == 1
    finally:
        hook.close()
        bot.close()
    assert BOT_TOKEN not in caplog.text


def test_a_failing_channel_is_reported_and_retried_next_run(warehouse):
    broken = HttpReceiver(status=500)
    bot = HttpReceiver(bot_token="other-token")  # rejects our token with 401
    hook = HttpReceiver()
    try:
        result = notify_new_incidents(
            warehouse,
            [
                WebhookNotifier(broken.url),
                TelegramBotNotifier(BOT_TOKEN, "1", bot.url),
            ],
        )
        assert result.sent == {}
        assert result.failed["webhook"] == "webhook answered HTTP 500"
        assert "Unauthorized" in result.failed["telegram"]
        assert BOT_TOKEN not in result.describe()
        # the next run, with the channel fixed, still sends what was never delivered
        assert notify_new_incidents(warehouse, [WebhookNotifier(hook.url)]).sent == {"webhook": 2}
    finally:
        for receiver in (broken, bot, hook):
            receiver.close()


def test_email_goes_through_airflows_smtp_settings(warehouse, monkeypatch):
    smtp = SmtpReceiver()
    try:
        monkeypatch.setenv("AIRFLOW__SMTP__SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("AIRFLOW__SMTP__SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("AIRFLOW__SMTP__SMTP_STARTTLS", "False")
        monkeypatch.setenv("AIRFLOW__SMTP__SMTP_SSL", "False")
        monkeypatch.setenv("AIRFLOW__SMTP__SMTP_MAIL_FROM", "gospulse@example.org")
        result = notify_new_incidents(warehouse, [EmailNotifier(["cur@example.org"])])
    finally:
        smtp.close()
    assert result.sent == {"email": 2}, result.failed
    (mail,) = smtp.messages
    assert "cur@example.org" in mail["to"][0]
    message = email.message_from_string(mail["data"])
    assert "2 new data-quality incidents" in str(
        email.header.make_header(email.header.decode_header(message["Subject"]))
    )
    html_part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    body = html_part.get_payload(decode=True).decode()
    assert "status_change" in body and "Минздрав Кузбасса" in body


def test_channels_come_from_env(monkeypatch):
    for name in ("GOSPULSE_ALERT_WEBHOOK_URL", "GOSPULSE_ALERT_TG_BOT_TOKEN",
                 "GOSPULSE_ALERT_TG_CHAT_ID", "GOSPULSE_ALERT_EMAIL_TO"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert notifiers_from_env() == []
    monkeypatch.setenv("GOSPULSE_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("GOSPULSE_ALERT_TG_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("GOSPULSE_ALERT_TG_CHAT_ID", "-1")
    monkeypatch.setenv("GOSPULSE_ALERT_EMAIL_TO", "a@example.org, b@example.org")
    channels = notifiers_from_env()
    assert [c.channel for c in channels] == ["webhook", "telegram", "email"]
    assert channels[2].to == ["a@example.org", "b@example.org"]
    assert BOT_TOKEN not in repr(channels[1])

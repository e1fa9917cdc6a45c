"""Data-quality incidents: read them from the marts, and send the new ones through notifiers.

An incident is sent once per channel: raw.dq_notifications remembers what went where, so a
rerun of the day does not page anyone twice, and a channel that failed is tried again next run.
Notifiers: a webhook (JSON POST), a Telegram bot message, and email through Airflow's SMTP
settings (gospulse.orchestration.alert_email, which hands it to notifiers_from_env). Tokens and
addresses come from env vars or Airflow connections, never from the repo.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import requests

from gospulse.config import settings
from gospulse.raw.warehouse import bulk_insert, connect

log = logging.getLogger(__name__)

INCIDENT_COLUMNS = (
    "scope_type",
    "network",
    "page_ref",
    "region_code",
    "title",
    "rule",
    "severity",
    "first_seen",
    "last_seen",
    "current_value",
    "expected_low",
    "expected_high",
    "status",
)
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
NOTIFICATIONS_DDL = """
create table if not exists raw.dq_notifications (
    incident_key  varchar not null,
    channel       varchar not null,
    notified_at   timestamp not null,
    primary key (incident_key, channel)
);
"""


class NotifierError(RuntimeError):
    """A channel refused or could not take the message; the text says which and why."""


@dataclass(frozen=True)
class Incident:
    """One row of marts.mart_dq_incidents."""

    scope_type: str
    network: str | None
    page_ref: str | None
    region_code: int | None
    title: str | None
    rule: str
    severity: str
    first_seen: date
    last_seen: date
    current_value: float | None
    expected_low: float | None
    expected_high: float | None
    status: str

    @property
    def key(self) -> str:
        """Stable identity: the same incident keeps its key while it lasts."""
        parts = (self.scope_type, self.network, self.page_ref, self.region_code, self.rule)
        text = "|".join(str(p) for p in (*parts, self.first_seen))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def line(self) -> str:
        """One readable line: severity, what, where, since when, value vs expected."""
        where = self.title or self.page_ref or f"region {self.region_code}"
        net = f"{self.network} " if self.network else ""
        expected = ""
        if self.expected_low is not None or self.expected_high is not None:
            expected = f" (expected {_num(self.expected_low)}–{_num(self.expected_high)})"
        value = f": {_num(self.current_value)}{expected}" if self.current_value is not None else ""
        since = f"since {self.first_seen}" + (
            f", last {self.last_seen}" if self.last_seen != self.first_seen else ""
        )
        return f"[{self.severity}] {self.rule} — {net}{where}{value}; {since}"


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:,.0f}".replace(",", " ") if abs(value) >= 100 else f"{value:g}"


def load_incidents(
    warehouse: Path, *, open_only: bool = False, since: date | None = None
) -> list[Incident]:
    """Incidents from marts.mart_dq_incidents, most severe and most recent first."""
    where, params = [], []
    if open_only:
        where.append("status = 'open'")
    if since is not None:
        where.append("last_seen >= ?")
        params.append(since)
    sql = f"select {', '.join(INCIDENT_COLUMNS)} from marts.mart_dq_incidents"
    if where:
        sql += " where " + " and ".join(where)
    with connect(warehouse, read_only=True) as con:
        rows = con.execute(sql, params).fetchall()
    incidents = [Incident(*row) for row in rows]
    return sorted(
        incidents,
        key=lambda i: (SEVERITY_ORDER.get(i.severity, 9), -i.last_seen.toordinal(), i.rule),
    )


class Notifier(Protocol):
    channel: str

    def send(self, subject: str, incidents: Sequence[Incident]) -> None: ...


def render_text(subject: str, incidents: Sequence[Incident]) -> str:
    return "\n".join([subject, "", *(i.line() for i in incidents)])


@dataclass
class WebhookNotifier:
    """POSTs {"subject", "incidents": [...]} as JSON; any non-2xx answer is an error."""

    url: str
    timeout: float = 10.0
    channel: str = "webhook"

    def send(self, subject: str, incidents: Sequence[Incident]) -> None:
        payload = {
            "subject": subject,
            "incidents": [{**asdict(i), "key": i.key} for i in incidents],
        }
        try:
            response = requests.post(
                self.url,
                data=json.dumps(payload, ensure_ascii=False, default=str).encode(),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise NotifierError(f"webhook unreachable: {type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise NotifierError(f"webhook answered HTTP {response.status_code}")


@dataclass
class TelegramBotNotifier:
    """A message through the Telegram Bot API's sendMessage; the token is never logged."""

    token: str = field(repr=False)
    chat_id: str
    api_url: str = "https://api.telegram.org"
    timeout: float = 10.0
    channel: str = "telegram"
    # Telegram rejects messages over 4096 characters
    max_chars: int = 4000

    def send(self, subject: str, incidents: Sequence[Incident]) -> None:
        text = render_text(subject, incidents)
        if len(text) > self.max_chars:
            text = text[: self.max_chars - 20] + "\n… (truncated)"
        try:
            response = requests.post(
                f"{self.api_url.rstrip('/')}/bot{self.token}/sendMessage",
                json={"chat_id": self.chat_id, "text": text, "disable_web_page_preview": True},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise NotifierError(f"Telegram bot API unreachable: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not body.get("ok"):
            raise NotifierError(
                f"Telegram bot API refused the message: HTTP {response.status_code} "
                f"{body.get('description', '')}".strip()
            )


def notifiers_from_env(*, email: Callable[[list[str]], Notifier]) -> list[Notifier]:
    """Every channel configured by env vars (empty: no alerts are sent, and that is logged).

    `email` makes the email channel for the configured addresses: mail goes out through the
    SMTP settings of the layer that runs gospulse, which this module does not import.
    """
    found: list[Notifier] = []
    webhook = settings.read("GOSPULSE_ALERT_WEBHOOK_URL")
    if webhook:
        found.append(WebhookNotifier(webhook))
    bot, chat = (
        settings.read("GOSPULSE_ALERT_TG_BOT_TOKEN"),
        settings.read("GOSPULSE_ALERT_TG_CHAT_ID"),
    )
    if bot and chat:
        found.append(
            TelegramBotNotifier(bot, chat, api_url=settings.read("GOSPULSE_ALERT_TG_API_URL"))
        )
    addresses = settings.read("GOSPULSE_ALERT_EMAIL_TO")
    if addresses:
        found.append(email(list(addresses)))
    return found


@dataclass
class NotifyResult:
    """What was sent where, and which channels failed (with the reason)."""

    new: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{self.new} new incidents"]
        parts += [f"{n} sent by {c}" for c, n in self.sent.items()]
        parts += [f"{c} FAILED ({why})" for c, why in self.failed.items()]
        return "; ".join(parts)


def notify_new_incidents(
    warehouse: Path, notifiers: Sequence[Notifier], *, region_label: str = ""
) -> NotifyResult:
    """Send each open incident not yet sent on a channel; one failing channel spares the rest."""
    incidents = load_incidents(warehouse, open_only=True)
    result = NotifyResult()
    if not notifiers:
        log.warning("no alert channel configured: %d open incidents not sent", len(incidents))
    with connect(warehouse) as con:
        con.execute(NOTIFICATIONS_DDL)
        done = set(con.execute("select incident_key, channel from raw.dq_notifications").fetchall())
        for notifier in notifiers:
            pending = [i for i in incidents if (i.key, notifier.channel) not in done]
            result.new = max(result.new, len(pending))
            if not pending:
                continue
            critical = sum(i.severity == "critical" for i in pending)
            subject = (
                f"gospulse{(' ' + region_label) if region_label else ''}: {len(pending)} new "
                f"data-quality incidents ({critical} critical)"
            )
            try:
                notifier.send(subject, pending)
            except NotifierError as exc:
                log.error("alert channel %s failed: %s", notifier.channel, exc)
                result.failed[notifier.channel] = str(exc)
                continue
            now = datetime.now()
            bulk_insert(
                con, "raw.dq_notifications", [(i.key, notifier.channel, now) for i in pending]
            )
            result.sent[notifier.channel] = len(pending)
    return result

"""Alert email through Airflow's [smtp] settings, and the alert channels with it.

gospulse.quality.alerts sends the incidents and knows the webhook and Telegram channels; sending
mail needs Airflow's SMTP configuration, so the email channel lives here and is handed to
gospulse.quality.alerts.notifiers_from_env.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from gospulse.quality import alerts
from gospulse.quality.alerts import Incident, Notifier, NotifierError


@dataclass
class EmailNotifier:
    """Email through Airflow's [smtp] settings (airflow.utils.email.send_email)."""

    to: list[str]
    channel: str = "email"

    def send(self, subject: str, incidents: Sequence[Incident]) -> None:
        from airflow.utils.email import send_email

        body = "<ul>" + "".join(f"<li>{html.escape(i.line())}</li>" for i in incidents) + "</ul>"
        try:
            send_email(self.to, subject, f"<p>{html.escape(subject)}</p>{body}")
        except Exception as exc:  # noqa: BLE001 — smtplib and config errors alike, reported
            raise NotifierError(f"email not sent: {type(exc).__name__}: {exc}") from exc


def notifiers_from_env() -> list[Notifier]:
    """Every alert channel configured by env vars, email through Airflow's SMTP settings."""
    return alerts.notifiers_from_env(email=EmailNotifier)

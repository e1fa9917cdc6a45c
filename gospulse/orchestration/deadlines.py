"""The daily run's deadline: when it is still not done N hours after it was queued, say so.

Airflow 3 evaluates DeadlineAlerts in the scheduler; a missed one queues the callback below,
which an executor worker runs (SyncCallback) with the run's details as `context`. It reuses the
incident alert channels (webhook, Telegram bot, email) configured by GOSPULSE_ALERT_* env vars.
"""

from __future__ import annotations

import logging
from datetime import timedelta

# the task SDK's __init__.pyi (1.3.2) leaves out these names, which its __init__ exports
from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback  # type: ignore[attr-defined]

from gospulse.config import settings

log = logging.getLogger(__name__)

HOURS_ENV = "GOSPULSE_DAILY_DEADLINE_HOURS"


class DeadlineConfigError(ValueError):
    """GOSPULSE_DAILY_DEADLINE_HOURS is not a positive number."""


def deadline_hours(env: dict[str, str] | None = None) -> float | None:
    """Hours after queueing by which the daily run must be done (parse time, not secret).

    "off" declares no deadline: `airflow dags test` in Airflow 3.3.2 crashes when a run with
    a deadline succeeds (it looks the alerts up by the DAG's unserialized definitions), so
    gospulse/orchestration/local.py turns it off there; schedulers evaluate it normally.
    """
    try:
        hours = settings.read(HOURS_ENV, env)
    except settings.SettingError as exc:
        raise DeadlineConfigError(str(exc)) from None
    return None if hours is settings.OFF else hours


def daily_deadline(hours: float | None = None) -> DeadlineAlert | None:
    """The DeadlineAlert gospulse_daily carries: late `hours` after the run was queued."""
    hours = deadline_hours() if hours is None else hours
    if hours is None:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=hours),
        callback=SyncCallback(daily_run_late, kwargs={"hours": hours}),
        name="gospulse_daily_late",
    )


def late_message(context: dict, hours: float) -> str:
    """One line naming the run, when it was queued and what the deadline was."""
    run = context.get("dag_run") or {}
    deadline = (context.get("deadline") or {}).get("deadline_time")
    return (
        f"gospulse daily run late: {run.get('dag_id', 'gospulse_daily')} run "
        f"{run.get('dag_run_id', '?')} (logical date {run.get('logical_date', '?')}) queued at "
        f"{run.get('queued_at', '?')} is still {run.get('state', 'unfinished')} after "
        f"{hours:g} h (deadline {deadline}); today's counts and marts are not published yet"
    )


def daily_run_late(context: dict, hours: float) -> dict:
    """The deadline callback: send the late message through every configured alert channel.

    A channel that fails is logged and the callback fails, so Airflow records it as failed;
    no channel configured is logged as a warning (nobody would hear about the late run).
    """
    from gospulse.orchestration.alert_email import notifiers_from_env
    from gospulse.quality.alerts import NotifierError

    subject = late_message(context, hours)
    log.warning("%s", subject)
    notifiers = notifiers_from_env()
    if not notifiers:
        log.warning("no alert channel configured (GOSPULSE_ALERT_*): the late run is only logged")
    sent, failed = [], {}
    for notifier in notifiers:
        try:
            notifier.send(subject, [])
            sent.append(notifier.channel)
        except NotifierError as exc:
            failed[notifier.channel] = str(exc)
            log.error("late-run alert through %s failed: %s", notifier.channel, exc)
    if failed:
        raise NotifierError(
            "late-run alert not delivered: "
            + "; ".join(f"{channel}: {why}" for channel, why in failed.items())
        )
    return {"subject": subject, "sent": sent}

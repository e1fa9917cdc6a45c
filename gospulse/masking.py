"""Register secrets with Airflow's secrets masker so a log line that holds one shows ***."""

from __future__ import annotations

import sys


def mask_secrets(*values: str | None) -> None:
    """Mask each value and each of its comma-separated parts (one token of a list may be logged).

    Inside a task this also tells the supervisor, which writes the task log. Outside Airflow
    (the CLI) there is no masker to feed, and importing one would cost seconds, so nothing
    happens unless Airflow's task SDK is already loaded in this process.
    """
    if "airflow.sdk" not in sys.modules:
        return
    from airflow.sdk.log import mask_secret

    for value in values:
        if not value:
            continue
        for part in {value, *(p.strip() for p in value.split(","))}:
            if part:
                mask_secret(part)

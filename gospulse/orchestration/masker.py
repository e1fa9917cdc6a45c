"""Airflow's secrets masker behind gospulse.config.masking: gospulse.orchestration adds it on
import."""

from __future__ import annotations

import sys


def mask_in_airflow(secret: str) -> None:
    """Register one secret with Airflow's masker; inside a task this also tells the supervisor,
    which writes the task log.

    Outside Airflow there is no masker to feed, and importing one would cost seconds, so nothing
    happens unless Airflow's task SDK is already loaded in this process.
    """
    if "airflow.sdk" not in sys.modules:
        return
    from airflow.sdk.log import mask_secret

    mask_secret(secret)

"""A network's credentials from its Airflow connection, handed to gospulse.extract.networks."""

from __future__ import annotations

import logging

from gospulse.config.masking import mask_secrets
from gospulse.extract.networks import CONNECTION_IDS, Credentials

log = logging.getLogger(__name__)


def airflow_credentials(network: str) -> Credentials:
    """The network's Airflow connection (login, password, extra) when one exists, else empty.

    Inside a task, Connection.get asks the task SDK, which reads `AIRFLOW_CONN_<ID>` (JSON or
    URI form), the secrets backend or the metadata DB. Airflow masks the password and the extra
    as whole strings; the single tokens of a list and the values inside the extra are masked
    here, since a client may log one of them alone.
    """
    conn_id = CONNECTION_IDS[network]
    try:
        from airflow.sdk import Connection

        conn = Connection.get(conn_id)
    except Exception as exc:  # noqa: BLE001 — absent connection: env vars may still configure it
        log.info("no Airflow connection %r (%s); using env vars", conn_id, type(exc).__name__)
        return Credentials()
    values = {"login": conn.login or "", "password": conn.password or ""}
    extra = conn.extra_dejson or {}
    values.update({k: str(v) for k, v in extra.items() if v is not None})
    # the login of vk_api/ok_api is an app id or key: not secret, but harmless to hide too
    mask_secrets(*(v for k, v in values.items() if k != "login"))
    return Credentials(values)

"""Which extractor reads which network, configured from env vars or Airflow connections.

Secrets are looked up here and handed to the clients; nothing in this module logs them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from extractors.base import NetworkExtractor

log = logging.getLogger(__name__)

NETWORKS = ("vk", "tg", "ok")
NETWORK_NAMES = {"vk": "VK", "tg": "Telegram", "ok": "Odnoklassniki"}
# Airflow connection ids that hold each network's credentials
CONNECTION_IDS = {"vk": "vk_api", "tg": "telegram", "ok": "ok_api"}


class NetworkConfigError(ValueError):
    """A network was asked for without what it needs (credentials, a known name)."""


@dataclass
class Credentials:
    """A network's secrets as found; values never appear in repr or logs."""

    values: dict[str, str] = field(default_factory=dict, repr=False)

    def get(self, key: str) -> str | None:
        return self.values.get(key) or None


def parse_networks(text: str | None) -> list[str]:
    """'vk,tg,ok' → ['vk', 'tg', 'ok']; an unknown network is an error naming it."""
    names = [n.strip().lower() for n in (text or ",".join(NETWORKS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in NETWORKS]
    if unknown:
        raise NetworkConfigError(
            f"unknown network(s) {', '.join(unknown)}; expected some of {', '.join(NETWORKS)}"
        )
    return list(dict.fromkeys(names))


def airflow_credentials(network: str) -> Credentials:
    """The network's Airflow connection (login, password, extra) when one exists, else empty."""
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
    return Credentials(values)


def extractor_for(network: str, credentials: Credentials | None = None) -> NetworkExtractor:
    """The network's extractor; env vars win over the Airflow connection's values."""
    creds = credentials or Credentials()
    if network == "vk":
        from extractors.vk.extract import VkExtractor
        from gospulse.pipeline import vk_client_from_env

        return VkExtractor(vk_client_from_env(os.environ.get("VK_TOKEN") or creds.get("password")))
    if network == "tg":
        from extractors.telegram.extract import telegram_extractor_from_env

        return telegram_extractor_from_env(
            api_id=os.environ.get("TG_API_ID") or creds.get("login"),
            api_hash=os.environ.get("TG_API_HASH") or creds.get("password"),
            session=os.environ.get("TG_SESSION") or creds.get("session"),
        )
    if network == "ok":
        from extractors.ok.client import ok_client_from_env
        from extractors.ok.extract import OkExtractor

        return OkExtractor(
            ok_client_from_env(
                application_key=os.environ.get("OK_APP_KEY") or creds.get("login"),
                access_token=os.environ.get("OK_ACCESS_TOKEN") or creds.get("password"),
                session_secret_key=os.environ.get("OK_SESSION_SECRET")
                or creds.get("session_secret_key"),
                application_secret_key=os.environ.get("OK_APP_SECRET")
                or creds.get("application_secret_key"),
            )
        )
    raise NetworkConfigError(f"unknown network {network!r}")

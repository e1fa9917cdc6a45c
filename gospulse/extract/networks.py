"""Which extractor reads which network, configured from env vars or Airflow connections.

Secrets are looked up here and handed to the clients; nothing in this module logs them, and
every secret found is registered with the log masker (gospulse.config.masking) so that nothing else
can either. The Airflow connection is read by gospulse.orchestration.connections, which hands
its values in as Credentials.
With several tokens per network (one Airflow pool each), a fetch task uses only its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from extractors.base import NetworkExtractor
from extractors.vk.pool import split_tokens
from gospulse.config import settings
from gospulse.config.masking import mask_secrets
from gospulse.extract.token_lists import COUNT_ENV, pick

NETWORKS = ("vk", "tg", "ok")
NETWORK_NAMES = {"vk": "VK", "tg": "Telegram", "ok": "Odnoklassniki"}
# Airflow connection ids that hold each network's credentials
CONNECTION_IDS = {"vk": "vk_api", "tg": "telegram", "ok": "ok_api"}
# env vars that hold secrets (they win over the connection's values)
SECRET_ENV = {
    "vk": ("VK_TOKEN",),
    "tg": ("TG_API_HASH", "TG_SESSION"),
    "ok": ("OK_ACCESS_TOKEN", "OK_APP_SECRET", "OK_SESSION_SECRET"),
}


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


def _secret_env(network: str) -> None:
    mask_secrets(*(settings.read(name) for name in SECRET_ENV[network]))


def _one_of(
    value: str | None, index: int | None, count: int | None, what: str, source: str
) -> str | None:
    """The whole setting, or token `index` of its comma-separated list when one is asked for.

    With a count of 1 the task keeps the whole list: one process then spreads its requests over
    every listed token with one rate limiter each (VkClientPool), as before pools existed.
    """
    if index is None or (count or 1) == 1:
        return value
    return pick(split_tokens(value), index, count or 1, what=what, source=source)


def _source(network: str, env_name: str) -> str:
    conn = CONNECTION_IDS[network]
    return f"{env_name} / connection {conn!r} (count from {COUNT_ENV[network]})"


def extractor_for(
    network: str,
    credentials: Credentials | None = None,
    *,
    token_index: int | None = None,
    token_count: int | None = None,
) -> NetworkExtractor:
    """The network's extractor; env vars win over the Airflow connection's values.

    With `token_index`, only that token (Telegram: session) of the comma-separated list is
    used, so the fetch task running in pool `<prefix>_<index>` spends only its own allowance.
    """
    creds = credentials or Credentials()
    _secret_env(network)
    if network == "vk":
        from extractors.vk.extract import VkExtractor
        from gospulse.extract.pipeline import vk_client_from_env

        tokens = settings.read("VK_TOKEN") or creds.get("password")
        token = _one_of(tokens, token_index, token_count, "VK token", _source("vk", "VK_TOKEN"))
        return VkExtractor(vk_client_from_env(token))
    if network == "tg":
        from extractors.telegram.extract import telegram_extractor_from_env

        sessions = settings.read("TG_SESSION") or creds.get("session")
        return telegram_extractor_from_env(
            api_id=settings.read("TG_API_ID") or creds.get("login"),
            api_hash=settings.read("TG_API_HASH") or creds.get("password"),
            session=_one_of(
                sessions, token_index, token_count, "Telegram session", _source("tg", "TG_SESSION")
            )
            if sessions
            else None,
        )
    if network == "ok":
        from extractors.ok.client import ok_client_from_env
        from extractors.ok.extract import OkExtractor

        tokens = settings.read("OK_ACCESS_TOKEN") or creds.get("password")
        # a session secret belongs to one access token: several come in the same order
        session_secrets = settings.read("OK_SESSION_SECRET") or creds.get("session_secret_key")
        where = _source("ok", "OK_ACCESS_TOKEN")
        return OkExtractor(
            ok_client_from_env(
                application_key=settings.read("OK_APP_KEY") or creds.get("login"),
                access_token=_one_of(tokens, token_index, token_count, "OK token", where)
                if tokens
                else None,
                session_secret_key=_one_of(
                    session_secrets, token_index, token_count, "OK session secret", where
                )
                if session_secrets
                else None,
                application_secret_key=settings.read("OK_APP_SECRET")
                or creds.get("application_secret_key"),
            )
        )
    raise NetworkConfigError(f"unknown network {network!r}")

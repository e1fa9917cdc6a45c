"""A network's API tokens (Telegram: sessions) as a configured list: the setting that counts
them, and the one token a task is given.

Below the orchestration layer so that the networks module, which hands a fetch task its own
token, and the Airflow pools, one per token (gospulse.orchestration.token_slots), read the
same count and fail with the same error.
"""

from __future__ import annotations

from collections.abc import Sequence

# env var holding each network's token (or Telegram session) count
COUNT_ENV = {
    "vk": "GOSPULSE_VK_TOKEN_COUNT",
    "tg": "GOSPULSE_TG_SESSION_COUNT",
    "ok": "GOSPULSE_OK_TOKEN_COUNT",
}


class TokenSlotError(ValueError):
    """A token count or token index that does not fit what is configured."""


def pick(values: Sequence[str], index: int, count: int, *, what: str, source: str) -> str:
    """Value `index` of a configured list; a missing one is an error naming where it was read."""
    if index >= count:
        raise TokenSlotError(f"token index {index} is beyond the configured count {count}")
    if index >= len(values):
        raise TokenSlotError(
            f"{what} {index + 1} of {count} is wanted, but {source} holds "
            f"{len(values)}; add tokens there or lower the count"
        )
    return values[index]

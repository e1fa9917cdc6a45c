"""One Airflow pool per API token: how many tokens a network has, their pools, who fetches what.

A network's token count is a non-secret number read at parse time (the tokens themselves stay
in connections and are only read inside a running task); the DAG makes one mapped fetch task
per token, each in its own pool, and the plan's batches are dealt out to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from gospulse.config import settings
from gospulse.extract.token_lists import COUNT_ENV, TokenSlotError

T = TypeVar("T")

# the prefix of each network's pools: vk_token_0, vk_token_1, …
POOL_PREFIX = {"vk": "vk_token", "tg": "tg_session", "ok": "ok_token"}


def token_count(network: str, env: dict[str, str] | None = None) -> int:
    """The network's number of tokens from GOSPULSE_<NET>_TOKEN_COUNT (default 1)."""
    try:
        return settings.read(COUNT_ENV[network], env)
    except settings.SettingError as exc:
        raise TokenSlotError(str(exc)) from None


def pool_name(network: str, index: int) -> str:
    """The pool that token `index` of the network runs in, e.g. vk_token_0."""
    return f"{POOL_PREFIX[network]}_{index}"


def fetch_task_id(index: int) -> str:
    """The fetch task of token `index` inside the network's task group."""
    return f"fetch_batch_t{index}"


def share_task_id(index: int) -> str:
    """The task that picks token `index`'s batches out of the plan."""
    return f"batches_t{index}"


def deal(items: Sequence[T], tokens: int) -> list[list[T]]:
    """Deal items round-robin to `tokens` hands: sizes differ by at most one."""
    if tokens < 1:
        raise TokenSlotError(f"cannot deal batches to {tokens} tokens")
    return [list(items[i::tokens]) for i in range(tokens)]


def spread(batches: list[list[str]], tokens: int) -> list[list[str]]:
    """Re-cut batches so that every token gets work when there are fewer batches than tokens.

    A small region fits one batch; with several tokens it is split into `tokens` equal parts
    (as many as there are pages), so each token's task fetches its share at the same time.
    """
    if len(batches) >= tokens:
        return batches
    refs = [r for b in batches for r in b]
    parts = min(tokens, len(refs))
    if parts <= 1:
        return batches
    size, extra = divmod(len(refs), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (i < extra)
        out.append(refs[start:end])
        start = end
    return out

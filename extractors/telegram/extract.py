"""Telegram daily snapshot over MTProto: usernames resolved once, one getFullChannel per channel.

Everything here takes a TelegramCaller and returns records; writing to the warehouse is the
pipeline's job. A batch is what one worker reads in one go (200 channels by default, about
3.5 minutes at the default pace); a long FLOOD_WAIT defers the rest of its batch, recorded as
errors that say so and counted in BatchResult.deferred.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from telethon import errors
from telethon.tl import functions, types

from extractors.base import (
    BatchResult,
    NetworkExtractor,
    PageAddress,
    Resolution,
    chunked,
    sorted_unique,
)
from extractors.telegram.client import (
    ENV_API_ID,
    ENV_API_URL,
    ENV_MAX_FLOOD_WAIT,
    ENV_RPS,
    ENV_SESSION,
    FloodDeferred,
    TelegramCaller,
    TelegramUnavailable,
    env_number,
    telegram_client_from_env,
    telegram_setting,
)
from extractors.telegram.records import (
    resolution_from_error,
    resolution_from_peer,
    snapshot_from_error,
    snapshot_from_full,
    unavailable_snapshot,
)
from gospulse.raw.warehouse import SnapshotRow

log = logging.getLogger(__name__)

BATCH_SIZE = 200
ENV_SOURCE = "GOSPULSE_TG_SOURCE"
RESOLVE = "contacts.resolveUsername"
GET_FULL_CHANNEL = "channels.getFullChannel"


class TelegramExtractor:
    """Channel subscriber counts through the Telegram API (telethon), as NetworkExtractor."""

    network = "tg"

    def __init__(self, caller: TelegramCaller, *, batch_size: int = BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.caller = caller
        self.batch_size = batch_size

    @property
    def simulated(self) -> bool:
        # the loopback sender speaks to the emulator over HTTP; the real API is MTProto
        return self.caller.is_loopback

    def counters(self) -> dict[str, float]:
        return self.caller.stats.counters()

    def resolve(self, names: Sequence[str]) -> list[Resolution]:
        """contacts.resolveUsername per name; after a long flood wait the rest are errors."""
        out: list[Resolution] = []
        stop: str | None = None
        for name in names:
            if stop:
                out.append(Resolution(name, None, "error", stop))
                continue
            try:
                resolved = self.caller.call(
                    functions.contacts.ResolveUsernameRequest(name), method=RESOLVE
                )
            except (FloodDeferred, TelegramUnavailable) as exc:
                stop = str(exc)
                out.append(Resolution(name, None, "error", stop))
            except errors.RPCError as exc:
                out.append(resolution_from_error(name, exc))
            else:
                out.append(resolution_from_peer(name, resolved))
        return out

    def plan_batches(self, page_refs: Iterable[str]) -> list[list[str]]:
        return chunked(sorted_unique(page_refs), self.batch_size)

    def fetch_batch(
        self,
        page_refs: Sequence[str],
        snapshot_date: date,
        run_id: str | None,
        addresses: Mapping[str, PageAddress],
    ) -> BatchResult:
        """channels.getFullChannel per channel; every id comes back as exactly one row."""
        before = self.counters()
        rows: dict[str, SnapshotRow] = {}
        stop: str | None = None
        deferred = 0
        for ref in dict.fromkeys(page_refs):
            if stop:
                rows[ref] = unavailable_snapshot(ref, snapshot_date, "error", stop, run_id)
                deferred += stop.startswith("deferred")
                continue
            address = addresses.get(ref) or PageAddress()
            request = _full_channel_request(ref, address)
            if isinstance(request, str):
                rows[ref] = unavailable_snapshot(ref, snapshot_date, "error", request, run_id)
                continue
            try:
                result = self.caller.call(request, method=GET_FULL_CHANNEL)
            except FloodDeferred as exc:
                stop = str(exc)
                deferred += 1
                rows[ref] = unavailable_snapshot(ref, snapshot_date, "error", stop, run_id)
            except TelegramUnavailable as exc:
                stop = str(exc)
                rows[ref] = unavailable_snapshot(ref, snapshot_date, "error", stop, run_id)
            except errors.RPCError as exc:
                rows[ref] = snapshot_from_error(ref, exc, snapshot_date, run_id)
            else:
                rows[ref] = snapshot_from_full(ref, result, snapshot_date, run_id)
        if deferred:
            log.warning("%d of %d channels deferred: %s", deferred, len(rows), stop)
        after = self.counters()
        return BatchResult(
            rows=list(rows.values()),
            requests=int(after["requests"] - before["requests"]),
            retries=int(after["retries"] - before["retries"]),
            rate_limited=int(after["rate_limited"] - before["rate_limited"]),
            wait_seconds=after["wait_seconds"] - before["wait_seconds"],
            deferred=deferred,
        )

    def close(self) -> None:
        self.caller.close()


def _full_channel_request(
    ref: str, address: PageAddress
) -> functions.channels.GetFullChannelRequest | str:
    """The request for a channel, or why it cannot be asked."""
    if not address.access_key:
        return (
            f"channel {ref} is registered by numeric id only: Telegram needs the access_hash "
            "that resolving its @username gives; register the channel's @username instead"
        )
    try:
        channel = types.InputChannel(int(ref), int(address.access_key))
    except ValueError:
        return f"channel {ref}: page_ref and access key must be numbers"
    return functions.channels.GetFullChannelRequest(channel)


def source_from_env(*, api_id: str | int | None = None, session: str | None = None) -> str:
    """ "mtproto" or "preview": GOSPULSE_TG_SOURCE, else mtproto when credentials or an
    emulator URL are configured, else preview."""
    chosen = telegram_setting(ENV_SOURCE)
    if chosen:
        return chosen
    configured = (
        api_id
        or session
        or any(telegram_setting(name) for name in (ENV_API_ID, ENV_SESSION, ENV_API_URL))
    )
    return "mtproto" if configured else "preview"


def telegram_extractor_from_env(
    *,
    api_id: str | int | None = None,
    api_hash: str | None = None,
    session: str | None = None,
) -> NetworkExtractor:
    """The configured Telegram extractor: MTProto (telethon) or the public t.me preview."""
    if source_from_env(api_id=api_id, session=session) == "preview":
        from extractors.telegram.preview import preview_extractor_from_env

        return preview_extractor_from_env()
    client = telegram_client_from_env(api_id=api_id, api_hash=api_hash, session=session)
    caller = TelegramCaller(
        client,
        requests_per_second=env_number(ENV_RPS),
        max_flood_wait=env_number(ENV_MAX_FLOOD_WAIT),
    )
    return TelegramExtractor(caller)

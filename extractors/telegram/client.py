"""Telegram MTProto client: the real telethon library, a StringSession, our pacing and flood waits.

Telegram publishes no request limits. Assumption: one account reading one request per second
(GOSPULSE_TG_RPS, default 1.0) stays clear of flood control for channels.getFullChannel; username
resolution is limited far more tightly, which is why names are resolved once and kept.
telethon's own flood sleeping is switched off (flood_sleep_threshold=0) so that every FLOOD_WAIT
reaches us: waits up to GOSPULSE_TG_MAX_FLOOD_WAIT seconds (default 60) are slept and retried,
longer ones defer the rest of the batch (FloodDeferred).

Secrets (TG_API_HASH, TG_SESSION) are handed to telethon and never logged or put in messages.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telethon import TelegramClient, errors
from telethon.sessions import StringSession
from telethon.tl import functions
from telethon.tl.tlobject import TLObject

from extractors.telegram.loopback import LoopbackSender, SenderBase
from extractors.telegram.records import rpc_message
from extractors.vk.session import SlidingWindowLimiter
from gospulse.config import settings

log = logging.getLogger(__name__)

ENV_API_ID = "TG_API_ID"
ENV_API_HASH = "TG_API_HASH"
ENV_SESSION = "TG_SESSION"
ENV_API_URL = "GOSPULSE_TG_API_URL"
ENV_RPS = "GOSPULSE_TG_RPS"
ENV_MAX_FLOOD_WAIT = "GOSPULSE_TG_MAX_FLOOD_WAIT"
DEFAULT_RPS = 1.0
DEFAULT_MAX_FLOOD_WAIT = 60.0
# short flood waits in a row for one request before we give up on it and defer
MAX_FLOOD_RETRIES = 5
_WITHOUT_UPDATES = functions.InvokeWithoutUpdatesRequest.CONSTRUCTOR_ID
LOGIN_HINT = "create one with `gospulse telegram login`"


class TelegramConfigError(ValueError):
    """Telegram was asked for without what it needs; the message names the missing setting."""


class TelegramAuthError(RuntimeError):
    """The session is not (or no longer) logged in: retrying cannot help."""


class TelegramUnavailable(RuntimeError):
    """Telegram (or the emulator) could not be reached, or failed after bounded retries."""


class FloodDeferred(RuntimeError):
    """Telegram asked us to wait longer than we may (FLOOD_WAIT above the maximum)."""

    def __init__(self, seconds: int, method: str):
        super().__init__(f"deferred: FLOOD_WAIT {seconds} s on {method}")
        self.seconds = seconds
        self.method = method


@dataclass
class ClientStats:
    """What the client asked, waited and retried."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    wait_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def add_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def counters(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "wait_seconds": self.wait_seconds,
        }


def env_number(name: str) -> float:
    """A positive number setting (gospulse.config.settings: its default when unset)."""
    return telegram_setting(name)


def telegram_setting(name: str):
    """A setting of the Telegram source (gospulse.config.settings), a bad value as a config
    error."""
    try:
        return settings.read(name)
    except settings.SettingError as exc:
        raise TelegramConfigError(str(exc)) from None


def telegram_client_from_env(
    *,
    api_id: str | int | None = None,
    api_hash: str | None = None,
    session: str | None = None,
    api_url: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> TelegramClient:
    """A TelegramClient from explicit values or TG_API_ID / TG_API_HASH / TG_SESSION.

    With GOSPULSE_TG_API_URL (or api_url) set, the client talks to that emulator through a
    LoopbackSender and needs no credentials. A .session file is never used.
    """
    api_id = api_id or telegram_setting(ENV_API_ID)
    api_hash = api_hash or telegram_setting(ENV_API_HASH)
    session = session or telegram_setting(ENV_SESSION)
    api_url = api_url or telegram_setting(ENV_API_URL)
    if api_url:
        return loopback_client(LoopbackSender(api_url, sleep=sleep))
    missing = [
        name
        for name, value in ((ENV_API_ID, api_id), (ENV_API_HASH, api_hash), (ENV_SESSION, session))
        if not value
    ]
    if missing:
        raise TelegramConfigError(
            f"Telegram MTProto needs {', '.join(missing)} (api_id/api_hash from my.telegram.org, "
            f"a session string: {LOGIN_HINT}); or set {ENV_API_URL} for the emulator"
        )
    try:
        string_session = StringSession(session)
    except Exception:  # noqa: BLE001 - whatever telethon raises, the message must not echo it
        raise TelegramConfigError(
            f"{ENV_SESSION} is not a valid telethon session string; {LOGIN_HINT}"
        ) from None
    return _new_client(string_session, _api_id(api_id), str(api_hash))


def loopback_client(sender: SenderBase) -> TelegramClient:
    """A TelegramClient whose requests go to an emulator through `sender` (no real connect)."""
    # the emulator checks no credentials; telethon only insists that some are set
    client = _new_client(StringSession(), 1, "loopback")
    client._sender = sender
    return client


def _api_id(value: str | int | None) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TelegramConfigError(f"{ENV_API_ID} must be a number") from None


def _new_client(session: StringSession, api_id: int, api_hash: str) -> TelegramClient:
    return TelegramClient(
        session,
        api_id,
        api_hash,
        # every FLOOD_WAIT comes to us; see the module docstring
        flood_sleep_threshold=0,
        # a reader needs no update stream; requests go out wrapped in invokeWithoutUpdates
        receive_updates=False,
        request_retries=3,
        # after telethon's retries on Telegram's 5xx, its last error, not a bare ValueError
        raise_last_call_error=True,
    )


class TelegramCaller:
    """Runs telethon requests synchronously on one event loop owned here, paced and counted."""

    def __init__(
        self,
        client: TelegramClient,
        *,
        requests_per_second: float = DEFAULT_RPS,
        max_flood_wait: float = DEFAULT_MAX_FLOOD_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.max_flood_wait = max_flood_wait
        self.stats = ClientStats()
        self._sleep = sleep
        self._clock = clock
        self._flood_until: dict[int, float] = {}
        self._limiter = SlidingWindowLimiter(requests_per_second, clock=clock, sleep=sleep)
        self._loop = asyncio.new_event_loop()
        self._loopback = isinstance(client._sender, SenderBase)
        self._connected = False

    @property
    def is_loopback(self) -> bool:
        return self._loopback

    def call(self, request: TLObject, *, method: str | None = None) -> Any:
        """Send one request; RPC errors other than flood waits are raised as telethon's.

        Raises FloodDeferred (wait too long), TelegramUnavailable (transport), TelegramAuthError.
        """
        method = method or type(request).__name__
        self._ensure_connected()
        flood_retries = 0
        while True:
            blocked = self._flood_until.get(request.CONSTRUCTOR_ID, 0.0) - self._clock()
            if blocked > 0:
                # Telegram said not before then: asking again would only earn a longer wait
                raise FloodDeferred(math.ceil(blocked), method)
            self.stats.wait_seconds += self._limiter.acquire()
            self.stats.requests += 1
            sender = self.client._sender
            before = (getattr(sender, "retries", 0), getattr(sender, "wait_seconds", 0.0))
            try:
                return self._loop.run_until_complete(self.client(request))
            except errors.FloodWaitError as exc:
                self.stats.rate_limited += 1
                self.stats.add_error("FLOOD_WAIT")
                if exc.seconds > self.max_flood_wait or flood_retries >= MAX_FLOOD_RETRIES:
                    log.warning("%s: FLOOD_WAIT %d s, deferring", method, exc.seconds)
                    self._flood_until[request.CONSTRUCTOR_ID] = self._clock() + exc.seconds
                    raise FloodDeferred(exc.seconds, method) from None
                flood_retries += 1
                log.info("%s: FLOOD_WAIT %d s, waiting", method, exc.seconds)
                self._sleep(exc.seconds)
                self.stats.wait_seconds += exc.seconds
                self.stats.retries += 1
                # telethon remembers the wait (keyed by the request or its invokeWithoutUpdates
                # wrapper) and could refuse the retry by its own clock; we have waited already
                for key in (request.CONSTRUCTOR_ID, _WITHOUT_UPDATES):
                    self.client._flood_waited_requests.pop(key, None)
            except errors.UnauthorizedError as exc:
                raise TelegramAuthError(
                    f"Telegram rejected the session ({rpc_message(exc)}); {LOGIN_HINT}"
                ) from None
            except (TimeoutError, ConnectionError, OSError) as exc:
                self.stats.add_error(type(exc).__name__)
                raise TelegramUnavailable(f"{method}: {exc}") from None
            finally:
                self.stats.retries += getattr(sender, "retries", 0) - before[0]
                self.stats.wait_seconds += getattr(sender, "wait_seconds", 0.0) - before[1]

    def _ensure_connected(self) -> None:
        if self._connected or self._loopback:
            return
        try:
            self._loop.run_until_complete(self.client.connect())
            authorized = self._loop.run_until_complete(self.client.is_user_authorized())
        except (TimeoutError, ConnectionError, OSError) as exc:
            raise TelegramUnavailable(f"cannot connect to Telegram: {exc}") from None
        self._connected = True
        if not authorized:
            raise TelegramAuthError(f"{ENV_SESSION} is not logged in; {LOGIN_HINT}")

    def close(self) -> None:
        """Disconnect and close the event loop; the caller is not used afterwards."""
        if self._loop.is_closed():
            return
        try:
            if self._connected:
                self._loop.run_until_complete(self.client.disconnect())
            elif self._loopback:
                self.client._sender.close()
        finally:
            self._loop.close()

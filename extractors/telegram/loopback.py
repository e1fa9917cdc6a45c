"""Senders that stand in for telethon's MTProtoSender and carry TL bytes to an emulator.

telethon's client calls `sender.send(request)` and awaits the future it returns
(telethon/client/users.py, UserMethods._call). These senders serialise the request exactly as
MTProto would (`bytes(request)`), hand it to the emulator over HTTP (POST <base>/tl) or in
process, and resolve the future with the TL object read back, or with the real telethon error
that `rpc_message_to_error` builds from an rpc_error. Everything above the sender (the client,
its entity cache, its error handling) is the real library.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import requests
from telethon.errors import rpc_message_to_error
from telethon.extensions import BinaryReader
from telethon.tl import types
from telethon.tl.tlobject import TLObject

log = logging.getLogger(__name__)


class LoopbackUnavailable(ConnectionError):
    """The emulator could not be reached or kept failing (connection refused, HTTP 5xx)."""


def decode_answer(data: bytes, request: TLObject) -> TLObject:
    """The result in an answer's TL bytes; an rpc_error becomes telethon's exception (raised)."""
    result = BinaryReader(data).tgread_object()
    if isinstance(result, types.RpcError):
        raise rpc_message_to_error(result, request)
    return result


class SenderBase:
    """What telethon asks of a sender besides send(): connection state and disconnect."""

    def is_connected(self) -> bool:
        return True

    async def connect(self, connection: Any = None) -> bool:
        return True

    async def disconnect(self) -> None:
        return None

    def close(self) -> None:
        """Release what the sender holds (HTTP connections)."""

    def send(self, request: Any, ordered: bool = False) -> Any:
        if isinstance(request, list):
            return [self.send(r) for r in request]
        future = asyncio.get_running_loop().create_future()
        # One request at a time is all the extractor sends, so answering inside send() keeps
        # the event loop free of threads and the order of calls exact.
        try:
            future.set_result(self.exchange(request))
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller, as MTProto does
            future.set_exception(exc)
        return future

    def exchange(self, request: TLObject) -> TLObject:
        raise NotImplementedError


class LoopbackSender(SenderBase):
    """Posts each request's TL bytes to <base_url>/tl, with bounded retries on transport faults."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/tl"
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.retries = 0
        self.wait_seconds = 0.0
        self._sleep = sleep
        self._http = session or requests.Session()
        self._http.headers["Content-Type"] = "application/octet-stream"

    def exchange(self, request: TLObject) -> TLObject:
        body = bytes(request)
        attempt = 0
        while True:
            try:
                response = self._http.post(self.url, data=body, timeout=self.timeout)
                if response.status_code < 500:
                    break
                reason = f"HTTP {response.status_code}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = type(exc).__name__
            if attempt >= self.max_retries:
                raise LoopbackUnavailable(
                    f"Telegram API at {self.url} unavailable after {attempt + 1} attempts "
                    f"({reason})"
                )
            attempt += 1
            self.retries += 1
            pause = min(self.backoff_seconds * 2 ** (attempt - 1), 30.0)
            log.warning(
                "%s: %s, retry %d/%d in %.1fs", self.url, reason, attempt, self.max_retries, pause
            )
            self._sleep(pause)
            self.wait_seconds += pause
        if response.status_code != 200:
            raise LoopbackUnavailable(
                f"Telegram API at {self.url} refused the request: HTTP {response.status_code} "
                f"{response.text[:200]}"
            )
        return decode_answer(response.content, request)

    def close(self) -> None:
        self._http.close()


class InProcessSender(SenderBase):
    """Hands TL bytes to an emulator's handler directly (no HTTP), for fast unit tests.

    handler is e.g. TelegramEmulator.handle_tl: bytes in, (status, bytes) out.
    """

    def __init__(self, handler: Callable[[bytes], tuple[int, bytes]]) -> None:
        self._handler = handler
        self.retries = 0
        self.wait_seconds = 0.0

    def exchange(self, request: TLObject) -> TLObject:
        status, data = self._handler(bytes(request))
        if status != 200:
            raise LoopbackUnavailable(f"in-process Telegram emulator answered HTTP {status}")
        return decode_answer(data, request)

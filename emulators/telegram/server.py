"""A loopback Telegram serving a NetworkWorld: MTProto calls as TL bytes, and t.me pages.

POST /tl takes one serialized TL request (what telethon's `bytes(request)` gives, wrappers such
as invokeWithoutUpdates allowed) and answers 200 with the serialized result, or with the
serialized rpc_error#2144ca19 constructor carrying Telegram's code and message. Transport
faults are HTTP 5xx or a dropped connection. GET /<username> and /s/<username> serve t.me
preview pages (emulators.telegram.pages). Admin: GET /_emulator/stats, GET|POST
/_emulator/state ({"date", "faults", "preview_format", "reset_stats"}).

Methods and errors (core.telegram.org, telethon's errors list):
- contacts.resolveUsername: 400 USERNAME_INVALID (not a possible username), 400
  USERNAME_NOT_OCCUPIED (nobody has it: never used, freed by a rename, a deleted channel or one
  made private);
- channels.getFullChannel: 400 CHANNEL_INVALID (unknown id, or an access_hash that is not this
  account's), 406 CHANNEL_PRIVATE (a private channel; clients report the same answer for a
  deleted one, so the emulator gives it for both);
- any method: 420 FLOOD_WAIT_X (X seconds to wait).
A channel blocked for everyone still answers, with restricted=True and restriction_reason
[platform "all", reason "terms"].

Flood-control budgets are emulator assumptions: Telegram publishes no numbers. Users report
username resolution as by far the tightest limit, so contacts.resolveUsername gets 30 calls per
60 s and channels.getFullChannel 120 per 60 s (both per account; the emulator is one account).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from urllib.parse import urlsplit

from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject

from emulators.http_base import EmulatorHandler, EmulatorServer
from emulators.networld import NetPage, NetworkWorld
from emulators.telegram import pages, tl
from emulators.telegram.tl import RpcFailure
from emulators.vk.world import DEFAULT_START, World

ADMIN_PREFIX = "/_emulator/"
RESOLVE = "contacts.resolveUsername"
GET_FULL_CHANNEL = "channels.getFullChannel"
# (calls, window seconds) per method; see the module docstring
DEFAULT_FLOOD_LIMITS: dict[str, tuple[int, float]] = {
    RESOLVE: (30, 60.0),
    GET_FULL_CHANNEL: (120, 60.0),
}
# codes Telegram sends with these messages
RPC_CODES = {
    "CHANNEL_INVALID": 400,
    "CHANNEL_PRIVATE": 406,
    "CHANNEL_PUBLIC_GROUP_NA": 403,
    "USERNAME_INVALID": 400,
    "USERNAME_NOT_OCCUPIED": 400,
    "INPUT_METHOD_INVALID": 400,
    "INTERNAL": 500,
    "AUTH_KEY_UNREGISTERED": 401,
    "SESSION_REVOKED": 401,
}
# Telegram's username rule: 5-32 characters, a letter first, letters, digits and underscores
_USERNAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{3,30}[a-zA-Z0-9]$")
_METHOD_NAMES = {
    functions.contacts.ResolveUsernameRequest: RESOLVE,
    functions.channels.GetFullChannelRequest: GET_FULL_CHANNEL,
}
# accounts that are not channels, to resolve as users and bots: username -> (id, name, bot)
DEFAULT_ACCOUNTS = {
    "ivan_petrov_nkz": (5_000_000_001, "Иван Петров", False),
    "gosuslugi42_bot": (5_000_000_002, "Госуслуги 42", True),
}


@dataclass
class Faults:
    """Injected failures; all off by default."""

    down: str | None = None  # "500" or "503": every request gets it; "drop": no answer at all
    flood_wait: int = 0  # force FLOOD_WAIT_<flood_wait> on API calls
    flood_wait_calls: int | None = None  # how many calls get it (None: all while set)
    flood_methods: tuple[str, ...] = ()  # limit forced waits to these methods (empty: all)
    delay: float = 0.0  # seconds added to every API call
    page_errors: dict[int, str] = field(default_factory=dict)  # channel id -> RPC message

    @classmethod
    def from_dict(cls, data: dict) -> Faults:
        data = dict(data)
        if "page_errors" in data:
            data["page_errors"] = {int(k): str(v) for k, v in data["page_errors"].items()}
        if "flood_methods" in data:
            data["flood_methods"] = tuple(data["flood_methods"])
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Stats:
    """Request counters; the emulator hands out copies."""

    requests_total: int = 0
    by_method: Counter = field(default_factory=Counter)
    rpc_errors: Counter = field(default_factory=Counter)
    flood_waits: int = 0
    flood_wait_seconds: int = 0
    http_faults: int = 0
    preview_requests: int = 0
    abandoned: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["by_method"], data["rpc_errors"] = dict(self.by_method), dict(self.rpc_errors)
        return data


class TelegramEmulator(EmulatorServer):
    """A threaded HTTP server answering MTProto calls and t.me pages for a NetworkWorld."""

    faults_type = Faults
    stats_type = Stats

    def __init__(
        self,
        world: NetworkWorld,
        *,
        flood_limits: dict[str, tuple[int, float]] | None = None,
        preview_format: str = "spaced",
        account_seed: int = 1,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        if world.network != "tg":
            raise ValueError(f"a Telegram emulator needs a tg world, got {world.network!r}")
        super().__init__(world, host=host, port=port)
        self.flood_limits = dict(DEFAULT_FLOOD_LIMITS if flood_limits is None else flood_limits)
        self.preview_format = preview_format
        self.account_seed = account_seed
        self.accounts = dict(DEFAULT_ACCOUNTS)
        self._clock = clock
        self._forced_floods = 0

    def handler_class(self) -> type[EmulatorHandler]:
        return _make_handler(self)

    @property
    def base_url(self) -> str:
        """Root of the emulator: <base_url>/tl for MTProto, <base_url>/<name> for pages."""
        return f"http://{self.host}:{self.port}"

    def _faults_changed(self, faults: Faults) -> None:
        self._forced_floods = 0

    def apply_more_state(self, data: dict) -> None:
        if "preview_format" in data:
            if data["preview_format"] not in pages.COUNT_FORMATS:
                raise ValueError(f"preview_format must be one of {pages.COUNT_FORMATS}")
            self.preview_format = data["preview_format"]

    def state(self) -> dict:
        return {
            **super().state(),
            "preview_format": self.preview_format,
            "flood_limits": self.flood_limits,
        }

    def access_hash(self, page_id: int) -> int:
        """The access_hash this emulator's account sees for a channel or user id."""
        return tl.access_hash(self.account_seed, page_id)

    def add_account(self, username: str, name: str, *, bot: bool = False) -> None:
        """A user or bot that owns a username (resolves, but is not a channel)."""
        self.accounts[username.lower()] = (6_000_000_000 + len(self.accounts), name, bot)

    # MTProto over HTTP
    def handle_tl(self, body: bytes) -> tuple[int, bytes]:
        """One /tl request: (HTTP status, TL bytes); 5xx bodies are not TL, status 0 means the
        connection is dropped without an answer."""
        with self._lock:
            self._stats.requests_total += 1
            down = self._faults.down
            if down:
                self._stats.http_faults += 1
                if down == "drop":
                    return 0, b""
                return int(down), b"<html><body><h1>Server error</h1></body></html>"
            delay = self._faults.delay
        if delay:
            time.sleep(delay)
        try:
            request = tl.read_request(body)
        except Exception as exc:  # noqa: BLE001 - any unreadable body is the client's fault
            return 400, f"unreadable TL request: {exc}".encode()
        method = _METHOD_NAMES.get(type(request), type(request).__name__)
        with self._lock:
            self._stats.by_method[method] += 1
        try:
            self._admit(method)
            return 200, tl.encode(self._dispatch(method, request))
        except RpcFailure as err:
            with self._lock:
                self._stats.rpc_errors[err.message] += 1
            return 200, tl.encode_error(err.code, err.message)

    def _admit(self, method: str) -> None:
        """Forced flood waits first, then the method's sliding-window budget."""
        with self._lock:
            faults = self._faults
            forced = faults.flood_wait and (
                not faults.flood_methods or method in faults.flood_methods
            )
            if forced and (
                faults.flood_wait_calls is None or self._forced_floods < faults.flood_wait_calls
            ):
                self._forced_floods += 1
                self._flooded(faults.flood_wait)
            limit = self.flood_limits.get(method)
            if limit is None:
                return
            calls, window = limit
            now = self._clock()
            hits = self._hits.setdefault(method, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= calls:
                self._flooded(max(1, math.ceil(hits[0] + window - now)))
            hits.append(now)

    def _flooded(self, seconds: int) -> None:
        self._stats.flood_waits += 1
        self._stats.flood_wait_seconds += seconds
        self._stats.rpc_errors["FLOOD_WAIT"] += 1
        raise RpcFailure(420, f"FLOOD_WAIT_{seconds}")

    def _dispatch(self, method: str, request: TLObject) -> TLObject:
        if method == RESOLVE:
            return self._resolve_username(request.username)
        if method == GET_FULL_CHANNEL:
            return self._get_full_channel(request.channel)
        raise _rpc("INPUT_METHOD_INVALID")

    def _resolve_username(self, username: str) -> TLObject:
        name = username.strip().lstrip("@")
        if not _USERNAME.match(name):
            raise _rpc("USERNAME_INVALID")
        account = self.accounts.get(name.lower())
        if account is not None:
            user_id, title, bot = account
            return tl.resolved_user(user_id, self.access_hash(user_id), name, title, bot)
        day = self._date
        page = self.world.resolve(name, day)
        if page is None:
            raise _rpc("USERNAME_NOT_OCCUPIED")
        self._check_forced(page)
        return tl.resolved_channel(self._channel(page, day))

    def _get_full_channel(self, channel: TLObject) -> TLObject:
        if not isinstance(channel, types.InputChannel):
            raise _rpc("CHANNEL_INVALID")
        page = self.world.by_id.get(channel.channel_id)
        if page is None or channel.access_hash != self.access_hash(page.id):
            raise _rpc("CHANNEL_INVALID")
        self._check_forced(page)
        day = self._date
        state = self.world.state_on(page, day)
        if state.status in ("deleted", "closed"):
            raise _rpc("CHANNEL_PRIVATE")
        about = f"Официальный канал: {page.organization}"
        return tl.chat_full(self._channel(page, day), about, state.members_count)

    def _channel(self, page: NetPage, day: date) -> types.Channel:
        state = self.world.state_on(page, day)
        return tl.channel_object(
            channel_id=page.id,
            hash_=self.access_hash(page.id),
            title=state.name,
            username=state.username,
            # assumption: flagship bodies carry Telegram's verification mark
            verified=page.flagship,
            banned=state.status == "banned",
            created=tl.epoch(self.world.start),
        )

    def _check_forced(self, page: NetPage) -> None:
        message = self._faults.page_errors.get(page.id)
        if message is not None:
            raise _rpc(message)

    # t.me pages
    def handle_page(self, path: str) -> tuple[int, dict[str, str], str]:
        """GET /<username> or /s/<username>: (status, extra headers, HTML)."""
        with self._lock:
            self._stats.preview_requests += 1
            down = self._faults.down
            if down:
                self._stats.http_faults += 1
                if down == "drop":
                    return 0, {}, ""
                return int(down), {}, "<html><body><h1>Server error</h1></body></html>"
        parts = [p for p in path.split("/") if p]
        feed = len(parts) == 2 and parts[0] == "s"
        if not parts or len(parts) > 2 or (len(parts) == 2 and not feed):
            return 404, {}, "<html><body>Not Found</body></html>"
        username = parts[-1]
        day = self._date
        page = self.world.resolve(username, day) if _USERNAME.match(username) else None
        if page is None or self.world.state_on(page, day).status != "ok":
            if feed:  # t.me/s/ sends anything that is not a readable channel to the plain page
                return 302, {"Location": f"/{username}"}, ""
            if page is not None:  # banned: see pages' docstring
                return 200, {}, pages.blocked_page(username, page.name, tl.TERMS_TEXT)
            account = self.accounts.get(username.lower())
            if account is not None:
                _, title, bot = account
                monthly = 1_234 if bot else None
                return 200, {}, pages.account_page(username, title, monthly_users=monthly)
            return 200, {}, pages.missing_page(username)
        state = self.world.state_on(page, day)
        if feed:
            return 200, {}, pages.feed_page(username, state.name, state.members_count)
        about = f"Официальный канал: {page.organization}"
        html = pages.channel_page(
            username,
            state.name,
            state.members_count,
            verified=page.flagship,
            about=about,
            fmt=self.preview_format,
        )
        return 200, {}, html


def _rpc(message: str) -> RpcFailure:
    return RpcFailure(RPC_CODES.get(message, 400), message)


def _make_handler(telegram: TelegramEmulator) -> type[EmulatorHandler]:
    class _Handler(EmulatorHandler):
        emulator = telegram

        def route(self, body: bytes) -> None:
            path = urlsplit(self.path).path
            if path.startswith(ADMIN_PREFIX):
                return self.admin(path[len(ADMIN_PREFIX) :], body)
            if path == "/tl":
                if self.command != "POST":
                    return self.send_bytes(405, b"POST TL bytes here", "text/plain")
                status, data = telegram.handle_tl(body)
                ctype = "application/octet-stream" if status == 200 else "text/html"
                return self._answer(status, data, ctype)
            if self.command != "GET":
                return self.send_bytes(405, b"", "text/plain")
            status, headers, html = telegram.handle_page(path)
            self._answer(status, html.encode("utf-8"), "text/html; charset=utf-8", headers)

        def _answer(
            self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None
        ) -> None:
            if status == 0:
                # hang up without an answer, as a dead proxy or a reset connection does
                self.close_connection = True
                return
            self.send_bytes(status, data, ctype, headers)

    return _Handler


def main(argv: list[str] | None = None) -> None:
    """CLI: serve a world's Telegram channels until killed."""
    parser = argparse.ArgumentParser(description="Telegram emulator for a synthetic region")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--date", type=date.fromisoformat, help="world date to serve")
    parser.add_argument("--start", type=date.fromisoformat, help="world start date")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--n-pages", type=int, default=2884, help="VK pages of the world")
    parser.add_argument("--resolve-limit", type=int, default=DEFAULT_FLOOD_LIMITS[RESOLVE][0])
    parser.add_argument(
        "--full-channel-limit", type=int, default=DEFAULT_FLOOD_LIMITS[GET_FULL_CHANNEL][0]
    )
    parser.add_argument("--preview-format", choices=pages.COUNT_FORMATS, default="spaced")
    args = parser.parse_args(argv)
    start = args.start or min(DEFAULT_START, args.date or DEFAULT_START)
    world = NetworkWorld(World(seed=args.seed, start=start, n_pages=args.n_pages), "tg")
    emulator = TelegramEmulator(
        world,
        flood_limits={
            RESOLVE: (args.resolve_limit, DEFAULT_FLOOD_LIMITS[RESOLVE][1]),
            GET_FULL_CHANNEL: (args.full_channel_limit, DEFAULT_FLOOD_LIMITS[GET_FULL_CHANNEL][1]),
        },
        preview_format=args.preview_format,
        host=args.host,
        port=args.port,
    )
    emulator.set_date(args.date or start)
    emulator.start()
    print(
        f"Telegram emulator: {len(world.pages)} channels, date {emulator.date}, {emulator.base_url}"
    )
    sys.stdout.flush()
    try:
        emulator.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()

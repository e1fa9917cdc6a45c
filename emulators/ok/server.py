"""A loopback OK REST API emulator serving the OK groups of a NetworkWorld over HTTP.

What follows OK's documentation (see extractors/ok/client.py and records.py for the URLs):
- one endpoint, /fb.do, by GET or POST (query and form parameters are merged);
- application_key, sig and access_token checked in that order: an unknown key is
  101 PARAM_API_KEY, an unknown token 103 PARAM_SESSION_KEY, a missing signature
  104 "PARAM_SIGNATURE : No signature specified", a wrong one 104 "Invalid signature". The sig
  is verified with MD5(access_token + application_secret_key), or the application secret for a
  call without a session (group.getInfo and url.getInfo allow one);
- errors: HTTP 200, the `invocation-error` header and {"error_code", "error_msg",
  "error_data": null}, the message written "NAME : description" as OK writes it;
- group.getInfo(uids, fields) answers a JSON array of group objects holding the requested
  fields (uid always): name, shortname, members_count, access_type (OPEN or CLOSED);
- url.getInfo(url) answers {"objectId", "objectIdStr", "type": "GROUP"} for
  https://ok.ru/<shortname> and https://ok.ru/group/<id>.

Assumptions, as OK documents none of them:
- at most MAX_UIDS (100) uids per group.getInfo call, more is 100 PARAM; a uid that is not a
  number fails the whole call with 100 PARAM; ids OK does not know are left out of the array;
- a deleted group is served with status DELETED, a blocked one with status BLOCKED and
  blocked true, live groups with status ACTIVE; neither deleted nor blocked ones show
  members_count;
- url.getInfo of an address nobody has is 300 NOT_FOUND;
- the per-token rate limit answers 8 FLOOD_BLOCKED.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emulators.http_base import EmulatorHandler, EmulatorServer
from emulators.networld import NetPage, NetworkWorld
from emulators.vk.world import DEFAULT_PAGES, DEFAULT_START, World

# code -> (name, description) from https://apiok.ru/en/dev/errors
ERRORS = {
    1: ("UNKNOWN", "Unknown error"),
    2: ("SERVICE", "Service temporarily unavailable"),
    3: ("METHOD", "Method does not exist"),
    4: ("REQUEST", "Failed to process the request, as it is incorrect"),
    8: ("FLOOD_BLOCKED", "Method execution is blocked due to flood"),
    10: ("PERMISSION_DENIED", "Permission is denied"),
    11: ("LIMIT_REACHED", "Request call limit is reached"),
    100: ("PARAM", "Missing or incorrect parameter"),
    101: (
        "PARAM_API_KEY",
        "The application_key parameter is not indicated or indicated incorrectly",
    ),
    102: ("PARAM_SESSION_EXPIRED", "Session key has expired"),
    103: ("PARAM_SESSION_KEY", "Invalid session key"),
    104: ("PARAM_SIGNATURE", "Invalid signature"),
    160: ("PARAM_GROUP_ID", "Invalid group identifier"),
    300: ("NOT_FOUND", "Requested information is not found"),
    455: ("FRIEND_RESTRICTION", "Cannot perform the operation because of the friend's settings"),
    456: ("GROUP_RESTRICTION", "Cannot perform the operation because of group restrictions"),
    9999: ("SYSTEM", "Critical system error"),
}
MAX_UIDS = 100
DEFAULT_APP_KEY = "CBAGOSPULSEEMULATOR"
DEFAULT_APP_SECRET = "emulator-app-secret"
ADMIN_PREFIX = "/_emulator/"
_OK_URL = re.compile(
    r"^(?:https?://)?(?:www\.|m\.)?(?:ok\.ru|odnoklassniki\.ru)/([^?#]+?)/?$", re.I
)


class OkCallError(Exception):
    """An OK error answer for one request."""

    def __init__(self, code: int, detail: str = ""):
        name, text = ERRORS.get(code, ERRORS[1])
        self.code = code
        self.msg = f"{name} : {detail or text}"
        super().__init__(self.msg)


@dataclass
class Faults:
    """Injected failures, drawn from a seeded RNG so runs repeat."""

    api_error_rate: float = 0.0  # per API call that passed authentication
    api_error_codes: tuple[int, ...] = (2, 1, 9999)
    http_error_rate: float = 0.0  # per HTTP request
    http_error_codes: tuple[int, ...] = (500, 502, 503)
    delay: float = 0.0  # seconds added to every API request
    page_errors: dict[int, int] = field(default_factory=dict)  # group id -> error code
    down: bool = False  # every API request gets a 503
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> Faults:
        data = dict(data)
        for key in ("api_error_codes", "http_error_codes"):
            if key in data:
                data[key] = tuple(int(c) for c in data[key])
        if "page_errors" in data:
            data["page_errors"] = {int(k): int(v) for k, v in data["page_errors"].items()}
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Stats:
    """Request counters; the emulator hands out copies. Tokens appear only as hash prefixes."""

    requests_total: int = 0
    by_method: Counter = field(default_factory=Counter)
    by_token: Counter = field(default_factory=Counter)
    by_error: Counter = field(default_factory=Counter)
    rate_limited: int = 0
    max_in_window: int = 0  # the most requests one token had in any window
    http_faults: int = 0
    api_faults: int = 0
    abandoned: int = 0  # responses the client hung up before receiving

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("by_method", "by_token", "by_error"):
            data[key] = {str(k): v for k, v in getattr(self, key).items()}
        return data


def token_label(token: str) -> str:
    return hashlib.md5(token.encode()).hexdigest()[:8] if token else "(no session)"


def expected_signature(params: dict[str, str], secret: str) -> str:
    signed = "".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sig", "access_token"))
    return hashlib.md5((signed + secret).encode("utf-8")).hexdigest()


class OkEmulator(EmulatorServer):
    """A threaded HTTP server speaking OK's REST API for a NetworkWorld, with a clock and faults."""

    faults_type = Faults
    stats_type = Stats

    def __init__(
        self,
        world: NetworkWorld,
        *,
        rate_limit: float = 3.0,
        window: float = 1.0,
        app_key: str = DEFAULT_APP_KEY,
        app_secret: str = DEFAULT_APP_SECRET,
        tokens: set[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        if world.network != "ok":
            raise ValueError(f"an OK emulator needs the ok world, got {world.network!r}")
        super().__init__(world, host=host, port=port)
        self.rate_limit = rate_limit
        self.window = window
        self.app_key = app_key
        self.app_secret = app_secret
        self.tokens = tokens  # None: any token, as long as the signature fits it
        self._methods = {"group.getInfo": self._group_get_info, "url.getInfo": self._url_get_info}

    def handler_class(self) -> type[EmulatorHandler]:
        return _make_handler(self)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/fb.do"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.port}{ADMIN_PREFIX}"

    # request handling
    def handle(self, params: dict[str, str]) -> tuple[int, Any]:
        """Process one fb.do request; returns (HTTP status, JSON body, or None for a 5xx page)."""
        method = params.get("method", "")
        token = params.get("access_token", "")
        with self._lock:
            self._stats.requests_total += 1
            self._stats.by_method[method] += 1
            self._stats.by_token[token_label(token)] += 1
            faults = self._faults
            if faults.down:
                self._stats.http_faults += 1
                return 503, None
            if faults.http_error_rate and self._rng.random() < faults.http_error_rate:
                self._stats.http_faults += 1
                return self._rng.choice(faults.http_error_codes), None
        if faults.delay:
            time.sleep(faults.delay)
        try:
            return 200, self._dispatch(method, params, token)
        except OkCallError as err:
            with self._lock:
                self._stats.by_error[err.code] += 1
            return 200, {"error_code": err.code, "error_msg": err.msg, "error_data": None}

    def _dispatch(self, method: str, params: dict[str, str], token: str) -> Any:
        if params.get("application_key") != self.app_key:
            raise OkCallError(101)
        if token and self.tokens is not None and token not in self.tokens:
            raise OkCallError(103)
        sig = params.get("sig", "").lower()
        if not sig:
            raise OkCallError(104, "No signature specified")
        secret = (
            hashlib.md5((token + self.app_secret).encode()).hexdigest()
            if token
            else self.app_secret
        )
        if sig != expected_signature(params, secret):
            raise OkCallError(104)
        if not self._admit(token or f"app:{self.app_key}"):
            raise OkCallError(8)
        if not method:
            raise OkCallError(100, "method is required")
        if method not in self._methods:
            raise OkCallError(3)
        with self._lock:
            faults = self._faults
            if faults.api_error_rate and self._rng.random() < faults.api_error_rate:
                self._stats.api_faults += 1
                raise OkCallError(self._rng.choice(faults.api_error_codes))
        return self._methods[method](params)

    def _admit(self, key: str) -> bool:
        """Sliding-window limit per token: at most rate_limit requests in any window seconds."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.rate_limit:
                self._stats.rate_limited += 1
                return False
            hits.append(now)
            self._stats.max_in_window = max(self._stats.max_in_window, len(hits))
            return True

    # methods
    def _group_get_info(self, params: dict[str, str]) -> list[dict]:
        uids = [u.strip() for u in params.get("uids", "").split(",") if u.strip()]
        if not uids:
            raise OkCallError(100, "Missing required parameter uids")
        fields = {
            f.strip().lower().removeprefix("group.")
            for f in params.get("fields", "").split(",")
            if f.strip()
        }
        if not fields:
            raise OkCallError(100, "Missing required parameter fields")
        if len(uids) > MAX_UIDS:
            raise OkCallError(100, f"Too many uids: {len(uids)}, max {MAX_UIDS}")
        day = self._date  # one date for the whole call, even if the clock moves meanwhile
        pages: dict[int, NetPage] = {}
        for uid in uids:
            if not uid.isdigit():
                raise OkCallError(100, f"Invalid uids value: {uid}")
            page = self.world.by_id.get(int(uid))
            if page is None:
                continue
            forced = self._faults.page_errors.get(page.id)
            if forced is not None:
                raise OkCallError(forced)
            pages.setdefault(page.id, page)
        return [self._group_object(p, fields, day) for p in pages.values()]

    def _url_get_info(self, params: dict[str, str]) -> dict:
        url = params.get("url", "").strip()
        if not url:
            raise OkCallError(100, "Missing required parameter url")
        match = _OK_URL.match(url)
        if match is None:
            raise OkCallError(100, f"Invalid url: {url}")
        path = match.group(1)
        page: NetPage | None
        if path.lower().startswith("group/") and path[6:].isdigit():
            page = self.world.by_id.get(int(path[6:]))
        elif "/" in path:
            page = None
        else:
            page = self.world.resolve(path, self._date)
        if page is None:
            raise OkCallError(300)
        forced = self._faults.page_errors.get(page.id)
        if forced is not None:
            raise OkCallError(forced)
        return {"objectId": page.id, "objectIdStr": str(page.id), "type": "GROUP"}

    def _group_object(self, page: NetPage, fields: set[str], day: date) -> dict:
        state = self.world.state_on(page, day)
        gone = state.status in ("deleted", "banned")
        values: dict[str, Any] = {
            "name": state.name,
            "shortname": state.username,
            "members_count": None if gone else state.members_count,
            "access_type": "CLOSED" if state.status == "closed" else "OPEN",
            "private": state.status == "closed",
            "status": {"deleted": "DELETED", "banned": "BLOCKED"}.get(state.status, "ACTIVE"),
            "blocked": state.status == "banned",
        }
        obj: dict[str, Any] = {"uid": str(page.id)}
        for name in sorted(fields & values.keys()):
            # OK leaves out fields a group has no value for (a group without a short address)
            if values[name] is not None:
                obj[name] = values[name]
        return obj


def _make_handler(ok: OkEmulator) -> type[EmulatorHandler]:
    class _Handler(EmulatorHandler):
        emulator = ok
        json_content_type = "application/json;charset=utf-8"  # as OK writes it

        def route(self, body: bytes) -> None:
            url = urlsplit(self.path)
            if url.path.startswith(ADMIN_PREFIX):
                return self.admin(url.path[len(ADMIN_PREFIX) :], body)
            if url.path.rstrip("/") != "/fb.do":
                return self.send_json(404, {"error": "not found"})
            params = _form(url.query)
            if "json" not in (self.headers.get("Content-Type") or ""):
                params.update(_form(body.decode("utf-8", "replace")))
            status, payload = ok.handle(params)
            headers = {}
            if isinstance(payload, dict) and "error_code" in payload:
                headers["invocation-error"] = str(payload["error_code"])
            self.send_json(status, payload, headers)

    return _Handler


def _form(text: str) -> dict[str, str]:
    return {k: ",".join(v) for k, v in parse_qs(text, keep_blank_values=True).items()}


def main(argv: list[str] | None = None) -> None:
    """CLI: serve the OK groups of a synthetic region until killed."""
    parser = argparse.ArgumentParser(description="OK API emulator for a synthetic region")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--date", type=date.fromisoformat, help="world date to serve")
    parser.add_argument("--start", type=date.fromisoformat, help="world start date")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--n-pages", type=int, default=DEFAULT_PAGES, help="VK pages in the region")
    parser.add_argument("--rate-limit", type=float, default=3.0, help="requests/s per token")
    parser.add_argument("--app-key", default=DEFAULT_APP_KEY)
    parser.add_argument("--app-secret", default=DEFAULT_APP_SECRET)
    parser.add_argument("--token", action="append", help="accepted token (repeatable)")
    args = parser.parse_args(argv)
    start = args.start or min(DEFAULT_START, args.date or DEFAULT_START)
    world = NetworkWorld(World(seed=args.seed, start=start, n_pages=args.n_pages), "ok")
    emulator = OkEmulator(
        world,
        rate_limit=args.rate_limit,
        app_key=args.app_key,
        app_secret=args.app_secret,
        tokens=set(args.token) if args.token else None,
        host=args.host,
        port=args.port,
    )
    emulator.set_date(args.date or start)
    emulator.start()
    print(f"OK emulator: {len(world.pages)} groups, date {emulator.date}, {emulator.base_url}")
    sys.stdout.flush()
    try:
        emulator.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()

"""A loopback VK API emulator (v5.199) serving a synthetic World over HTTP.

Formats from VKCOM/vk-api-schema (public 5.199 JSON schema):
- groups.getById(group_ids | group_id, fields) -> {"response": {"groups": [groups_group_full],
  "profiles": [...]}} (groups_getById_object_response).
- groups_group_full: id, name, screen_name, is_closed (0 open, 1 closed, 2 private), type
  (group | page | event), deactivated (string), photo_50/100/200, is_admin/is_member/
  is_advertiser and verified (base_bool_int); members_count, verified, activity, description,
  site, status are optional `groups_fields` returned only when requested in `fields`.
- utils.resolveScreenName(screen_name) -> utils_domain_resolved {object_id, type}.
- groups.getMembers(group_id, sort = id_asc, offset, count <= 1000 default 1000, fields, filter)
  -> groups_getMembers_response {count, items: [user id]}; with `fields`,
  groups_getMembers_fields_response {count, items: [user objects]} (emulators/vk/profiles.py);
  api_error_param_group_id (125).
- database.getRegions(country_id, q, offset, count <= 1000) and database.getCities(country_id,
  region_id, q, need_all, offset, count <= 1000 default 100) -> {count, items: [{id, title}]}.
- execute(code) -> base_undefined_response; api_error_compile (12).
- errors.json messages: 1 Unknown error occurred, 3 Unknown method passed, 5 User authorization
  failed, 6 Too many requests per second, 8 Invalid request, 9 Flood control, 10 Internal server
  error, 12 Unable to compile code, 13 Runtime error occurred during code invocation, 15 Access
  denied, 100 One of the parameters specified was missing or invalid.
Behaviours the schema does not fix are documented where they are implemented.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emulators.http_base import EmulatorHandler, EmulatorServer
from emulators.vk import vkscript
from emulators.vk.member_lists import SORTS, MemberLists
from emulators.vk.profiles import COUNTRY_RUSSIA, REGIONS, Profiles
from emulators.vk.vkscript import ApiCallError, ExecuteError
from emulators.vk.world import DEFAULT_START, Page, World

ERROR_MESSAGES = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed",
    6: "Too many requests per second",
    8: "Invalid request",
    9: "Flood control",
    10: "Internal server error",
    15: "Access denied",
    18: "User was deleted or banned",
    29: "Rate limit reached",
    100: "One of the parameters specified was missing or invalid",
    125: "Invalid group id",
    203: "Access to group denied",
}
MAX_GROUP_IDS = 500
MAX_MEMBERS = 1000  # groups.getMembers ids per call
ADMIN_PREFIX = "/_emulator/"
_ACTIVITY = {
    "education": "Образование",
    "culture": "Культура",
    "health": "Медицина",
    "government": "Государственная организация",
    "social_protection": "Общественная организация",
    "sport": "Спорт",
    "youth_policy": "Молодёжное движение",
    "transport": "Транспорт",
    "other": "Государственная организация",
}
Handler = Callable[[dict[str, str]], Any]


def api_error(code: int, detail: str = "") -> ApiCallError:
    """An ApiCallError with VK's official message for the code, plus an optional detail."""
    message = ERROR_MESSAGES.get(code, ERROR_MESSAGES[1])
    return ApiCallError(code, f"{message}: {detail}" if detail else message)


@dataclass
class Faults:
    """Injected failures, drawn from a seeded RNG so runs repeat."""

    api_error_rate: float = 0.0  # per API call (top level and inside execute)
    api_error_codes: tuple[int, ...] = (6, 9, 10, 1)
    http_error_rate: float = 0.0  # per HTTP request
    http_error_codes: tuple[int, ...] = (500, 502, 503)
    delay: float = 0.0  # seconds added to every API request
    page_errors: dict[int, int] = field(default_factory=dict)  # group id -> error code
    # group id -> the members_count answered instead of the world's (absurd values: -5, 1e30,
    # true, 1.5, "12"), as a broken or hostile API might
    page_values: dict[int, Any] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> Faults:
        data = dict(data)
        for key in ("api_error_codes", "http_error_codes"):
            if key in data:
                data[key] = tuple(int(c) for c in data[key])
        if "page_errors" in data:
            data["page_errors"] = {int(k): int(v) for k, v in data["page_errors"].items()}
        if "page_values" in data:
            data["page_values"] = {int(k): v for k, v in data["page_values"].items()}
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Stats:
    """Request counters; the emulator hands out copies."""

    requests_total: int = 0
    by_method: Counter = field(default_factory=Counter)
    by_token: Counter = field(default_factory=Counter)
    rate_limited: int = 0
    api_calls_in_execute: int = 0
    http_faults: int = 0
    api_faults: int = 0
    abandoned: int = 0  # responses the client hung up before receiving

    def to_dict(self) -> dict:
        data = asdict(self)
        data["by_method"], data["by_token"] = dict(self.by_method), dict(self.by_token)
        return data


class VkEmulator(EmulatorServer):
    """A threaded HTTP server speaking the VK API for a World, with a clock and faults."""

    faults_type = Faults
    stats_type = Stats

    def __init__(
        self,
        world: World,
        *,
        rate_limit: float = 3.0,
        window: float = 1.0,
        tokens: set[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        super().__init__(world, host=host, port=port)
        self.rate_limit = rate_limit
        self.window = window
        self.tokens = tokens
        self._methods: dict[str, Handler] = {
            "groups.getById": self._groups_get_by_id,
            "utils.resolveScreenName": self._resolve_screen_name,
            "groups.getMembers": self._groups_get_members,
            "database.getRegions": self._database_get_regions,
            "database.getCities": self._database_get_cities,
        }
        self._member_lists = MemberLists(world)
        self.profiles = Profiles(world)

    def handler_class(self) -> type[EmulatorHandler]:
        return _make_handler(self)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/method/"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.port}{ADMIN_PREFIX}"

    def register_method(self, name: str, handler: Handler) -> None:
        """Add a method (e.g. a test-only list method); handler gets string params."""
        self._methods[name] = handler

    # request handling
    def handle(self, method: str, params: dict[str, str]) -> tuple[int, dict | None]:
        """Process one /method/ request; returns (HTTP status, JSON body or None for 5xx)."""
        token = params.get("access_token", "")
        with self._lock:
            self._stats.requests_total += 1
            self._stats.by_method[method] += 1
            self._stats.by_token[token] += 1
            faults = self._faults
            http_fault = faults.http_error_rate and self._rng.random() < faults.http_error_rate
            if http_fault:
                self._stats.http_faults += 1
                return self._rng.choice(faults.http_error_codes), None
        if faults.delay:
            time.sleep(faults.delay)
        try:
            return 200, self._dispatch(method, params, token)
        except (ApiCallError, ExecuteError) as err:
            return 200, {"error": _error_body(err.code, err.msg, method, params)}

    def _dispatch(self, method: str, params: dict[str, str], token: str) -> dict:
        # Real messages for missing and unknown tokens, as VK returns them (error 5 in both).
        if not token:
            raise ApiCallError(5, "User authorization failed: no access_token passed.")
        if self.tokens is not None and token not in self.tokens:
            raise ApiCallError(5, "User authorization failed: invalid access_token (4).")
        if not self._admit(token):
            raise api_error(6)
        if not params.get("v"):
            raise api_error(8, "v is required")
        if method == "execute":
            # Extra request params are visible to the script as `Args`, as on VK.
            args = {k: v for k, v in params.items() if k not in ("code", "access_token", "v")}
            return vkscript.run(params.get("code", ""), self._call_in_execute, args=args)
        if method not in self._methods:
            raise api_error(3)
        return {"response": self._call(method, params)}

    def _admit(self, token: str) -> bool:
        """Sliding-window limit per token: at most rate_limit requests in any window seconds."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(token, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.rate_limit:
                self._stats.rate_limited += 1
                return False
            hits.append(now)
            return True

    def _call_in_execute(self, method: str, params: dict) -> Any:
        with self._lock:
            self._stats.api_calls_in_execute += 1
        if method == "execute" or method not in self._methods:
            raise api_error(3)
        return self._call(method, _stringify(params))

    def _call(self, method: str, params: dict[str, str]) -> Any:
        with self._lock:
            faults = self._faults
            if faults.api_error_rate and self._rng.random() < faults.api_error_rate:
                self._stats.api_faults += 1
                raise api_error(self._rng.choice(faults.api_error_codes))
        return self._methods[method](params)

    # methods
    def _groups_get_by_id(self, params: dict[str, str]) -> dict:
        refs = [
            r.strip()
            for r in (params.get("group_ids") or params.get("group_id") or "").split(",")
            if r.strip()
        ]
        if not refs:
            raise api_error(100, "group_ids is undefined")
        if len(refs) > MAX_GROUP_IDS:
            raise api_error(100, f"group_ids is too long, max {MAX_GROUP_IDS}")
        fields = {f.strip() for f in params.get("fields", "").split(",") if f.strip()}
        day = self._date  # one date for the whole call, even if the clock moves meanwhile
        pages: dict[int, Page] = {}
        for ref in refs:
            page = self._lookup(ref, day)
            # Unknown numeric ids are left out of `groups`; an unknown screen name fails the
            # call with error 100 "group_ids is undefined" - the message scripts match to detect
            # a non-existing group (e.g. OpenVK's VK-compatible groups.getById and several
            # vk_api users' scripts). Real VK's mixed-batch behaviour is not documented.
            if page is None and not ref.lstrip("-").isdigit():
                raise api_error(100, "group_ids is undefined")
            if page is not None:
                self._check_forced(page)
                pages.setdefault(page.id, page)
        if not pages:
            raise api_error(100, "group_ids is undefined")
        groups = [self._group_object(p, fields, day) for p in pages.values()]
        return {"groups": groups, "profiles": []}

    def _resolve_screen_name(self, params: dict[str, str]) -> dict | list:
        name = params.get("screen_name", "").strip()
        if not name:
            raise api_error(100, "screen_name is undefined")
        page = self.world.resolve(name, self._date)
        # Not found -> an empty array, not an error (VK clients such as
        # Elorucov/Laney's VKAPILib treat `"response": []` as "not found").
        if page is None:
            return []
        self._check_forced(page)
        # Communities resolve with type "group" whatever their kind (clients test
        # `type == "group"`, e.g. APIdog's execute code).
        return {"object_id": page.id, "type": "group"}

    def _groups_get_members(self, params: dict[str, str]) -> dict:
        # `filter` (friends, managers, ...) is ignored: the emulator has no roles.
        ref = (params.get("group_id") or "").strip()
        if not ref:
            raise api_error(100, "group_id is undefined")
        offset = _int_param(params, "offset", 0)
        count = min(_int_param(params, "count", MAX_MEMBERS), MAX_MEMBERS)  # VK caps, no error
        sort = params.get("sort") or "id_asc"
        if sort not in SORTS:
            raise api_error(100, f"sort should be one of {', '.join(SORTS)}")
        day = self._date
        page = self._lookup(ref, day)
        if page is None:
            # An unknown id is 125 (the schema's only error for this method); an unknown screen
            # name is 100 "group_id not domain", the message VK users' getMembers scripts match.
            if ref.lstrip("-").isdigit():
                raise api_error(125)
            raise api_error(100, "group_id not domain")
        self._check_forced(page)
        state = self.world.state_on(page, day)
        # Assumptions (VK documents none of these messages; clients match them as seen live):
        # a banned community gives 15 "group is blocked" (as wall.get does), a deleted one the
        # same code with "group is deleted"; hidden lists and closed/private communities give
        # 15 "group hide members". Consumers should branch on the code, not the text.
        if state.deactivated == "banned":
            raise api_error(15, "group is blocked")
        if state.deactivated:
            raise api_error(15, "group is deleted")
        if not self.world.members_readable(page, day):  # hidden list, closed or private
            raise api_error(15, "group hide members")
        total = state.members_count
        # id_asc is VK's default and is served exactly; time_asc/time_desc (join order) need
        # moderator rights on VK - the emulator serves them to anyone.
        waves = self.world.waves_on(page, day) if self.world.waves else []
        if waves:
            # wave members' ids are above everyone else's and they joined last: they end the
            # list in id_asc and time_asc order (the other orders are not served with waves)
            own = total - sum(w.size for w in waves)
            items = self._member_lists.slice(page, own, sort, offset, count)
            extra = [i for w in waves for i in range(w.first_id, w.first_id + w.size)]
            items += extra[max(0, offset - own) : max(0, offset + count - own)]
        else:
            items = self._member_lists.slice(page, total, sort, offset, count)
        fields = {f.strip() for f in (params.get("fields") or "").split(",") if f.strip()}
        if fields:
            return {"count": total, "items": self.profiles.users(items, fields, day)}
        return {"count": total, "items": items}

    def _database_get_regions(self, params: dict[str, str]) -> dict:
        _check_country(params)
        q = (params.get("q") or "").strip().lower()
        items = [{"id": i, "title": t} for i, t in REGIONS if q in t.lower()]
        return _paged(items, params, default_count=100)

    def _database_get_cities(self, params: dict[str, str]) -> dict:
        _check_country(params)
        region = _int_param(params, "region_id", 0)
        q = (params.get("q") or "").strip().lower()
        items = [c for c in self.profiles.region_cities(region) if q in c["title"].lower()]
        return _paged(items, params, default_count=100)

    def _lookup(self, ref: str, day: date) -> Page | None:
        if ref.lstrip("-").isdigit():
            return self.world.by_id.get(int(ref.lstrip("-")))
        return self.world.resolve(ref, day)

    def _check_forced(self, page: Page) -> None:
        code = self._faults.page_errors.get(page.id)
        if code is not None:
            raise api_error(code)

    def _group_object(self, page: Page, fields: set[str], day: date) -> dict:
        state = self.world.state_on(page, day)
        obj: dict[str, Any] = {
            "id": page.id,
            # Assumption: deleted communities show the name "DELETED" as deleted users do;
            # banned ones keep their name.
            "name": "DELETED" if state.deactivated == "deleted" else state.name,
            "screen_name": state.screen_name,
            "is_closed": state.is_closed,
            "type": page.type,
        }
        if state.deactivated:
            obj["deactivated"] = state.deactivated
        obj.update(is_admin=0, is_member=0, is_advertiser=0)
        obj.update(_photos(page.id, bool(state.deactivated)))
        # Deactivated communities report no counters.
        if "members_count" in fields and not state.deactivated:
            obj["members_count"] = self._faults.page_values.get(page.id, state.members_count)
        if "verified" in fields:
            obj["verified"] = int(page.verified)
        if "activity" in fields:
            obj["activity"] = _ACTIVITY[page.sector]
        if "description" in fields:
            obj["description"] = f"Официальная страница: {page.organization}"
        for name in ("site", "status"):
            if name in fields:
                obj[name] = ""
        return obj


def _photos(group_id: int, deactivated: bool) -> dict[str, str]:
    if deactivated:
        return {f"photo_{s}": f"https://vk.com/images/community_{s}.png" for s in (50, 100, 200)}
    digest = hashlib.md5(str(group_id).encode()).hexdigest()
    return {
        f"photo_{s}": f"https://sun{group_id % 9 + 1}-{group_id % 97}.userapi.com/s/v1/ig2/"
        f"{digest}.jpg?size={s}x{s}&quality=95&crop=0,0,400,400&ava=1"
        for s in (50, 100, 200)
    }


def _check_country(params: dict[str, str]) -> None:
    # the emulator knows Russia only; VK answers other countries with their own lists
    if _int_param(params, "country_id", 0) != COUNTRY_RUSSIA:
        raise api_error(100, "country_id is undefined")


def _paged(items: list[dict], params: dict[str, str], *, default_count: int) -> dict:
    offset = _int_param(params, "offset", 0)
    count = min(_int_param(params, "count", default_count), 1000)
    return {"count": len(items), "items": items[offset : offset + count]}


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    """A non-negative integer parameter, or error 100 naming it."""
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise api_error(100, f"{name} not integer") from None
    if value < 0:
        raise api_error(100, f"{name} should be positive")
    return value


def _stringify(params: dict) -> dict[str, str]:
    """Params from VKScript as the API receives them: arrays comma-joined, booleans 1/0."""
    out = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list):
            out[key] = ",".join(vkscript.to_string(v) for v in value)
        elif isinstance(value, bool):
            out[key] = "1" if value else "0"
        else:
            out[key] = vkscript.to_string(value)
    return out


def _error_body(code: int, msg: str, method: str, params: dict[str, str]) -> dict:
    # VK echoes the request without the token, then method and oauth.
    echoed = [{"key": k, "value": v} for k, v in params.items() if k != "access_token"]
    echoed += [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    return {"error_code": code, "error_msg": msg, "request_params": echoed}


def _make_handler(vk: VkEmulator) -> type[EmulatorHandler]:
    class _Handler(EmulatorHandler):
        emulator = vk

        def route(self, body: bytes) -> None:
            url = urlsplit(self.path)
            if url.path.startswith(ADMIN_PREFIX):
                return self.admin(url.path[len(ADMIN_PREFIX) :], body)
            if not url.path.startswith("/method/"):
                return self.send_json(404, {"error": "not found"})
            params = _form(url.query)
            if "json" not in (self.headers.get("Content-Type") or ""):
                params.update(_form(body.decode("utf-8", "replace")))
            status, payload = vk.handle(url.path[len("/method/") :], params)
            self.send_json(status, payload)

    return _Handler


def _form(text: str) -> dict[str, str]:
    # Repeated keys (a list sent by requests) join with commas, as VK reads array params.
    return {k: ",".join(v) for k, v in parse_qs(text, keep_blank_values=True).items()}


def main(argv: list[str] | None = None) -> None:
    """CLI: serve a World until killed."""
    parser = argparse.ArgumentParser(description="VK API emulator for a synthetic region")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--date", type=date.fromisoformat, help="world date to serve")
    parser.add_argument("--start", type=date.fromisoformat, help="world start date")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--n-pages", type=int, default=2884)
    parser.add_argument("--members-scale", type=float, default=1.0, help="x subscribers")
    parser.add_argument("--rate-limit", type=float, default=3.0)
    parser.add_argument("--token", action="append", help="accepted token (repeatable)")
    args = parser.parse_args(argv)
    # The clock can only move forward from start, so start no later than the first served date.
    start = args.start or min(DEFAULT_START, args.date or DEFAULT_START)
    world = World(
        seed=args.seed, start=start, n_pages=args.n_pages, members_scale=args.members_scale
    )
    tokens = set(args.token) if args.token else None
    emulator = VkEmulator(
        world, rate_limit=args.rate_limit, tokens=tokens, host=args.host, port=args.port
    )
    emulator.set_date(args.date or start)
    emulator.start()
    print(f"VK emulator: {len(world.pages)} pages, date {emulator.date}, {emulator.base_url}")
    sys.stdout.flush()
    try:
        emulator.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()

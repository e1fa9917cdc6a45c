"""OK REST API client: signed fb.do calls, a per-token rate limit, bounded retries, fail-fast auth.

Facts from OK's documentation (https://apiok.ru/en/dev/methods):
- every method is served at https://api.ok.ru/fb.do?method=<name>, by GET or POST;
- common parameters: application_key (required), sig (required), access_token (the user
  session; required, optional or forbidden depending on the method), format (json);
- sig = lowercase MD5 of the parameters sorted by key and joined as `key=value` with no
  separator, followed by the secret; sig and access_token are left out of the list. The secret
  is session_secret_key, or MD5(access_token + application_secret_key) in lower case when the
  session secret is not given, or application_secret_key itself for a call without session.
  The known-answer example in the aiookru docs (https://konstantintogoi.github.io/aiookru/api)
  reproduces with this rule.
- errors (https://apiok.ru/en/dev/errors): the `invocation-error` HTTP header carries the code
  and the body is {"error_code", "error_msg", "error_data"}; 1 UNKNOWN, 2 SERVICE (temporarily
  unavailable), 8 FLOOD_BLOCKED, 10 PERMISSION_DENIED, 11 LIMIT_REACHED, 100 PARAM,
  101 PARAM_API_KEY, 102 PARAM_SESSION_EXPIRED, 103 PARAM_SESSION_KEY, 104 PARAM_SIGNATURE.
  Codes the English page cuts off (160 PARAM_GROUP_ID, 200 PARAM_PERMISSION,
  210 PARAM_APPLICATION_DISABLED, 300 NOT_FOUND, 453 SESSION_REQUIRED, 455 FRIEND_RESTRICTION,
  456 GROUP_RESTRICTION, 9999 SYSTEM) are taken from public mirrors of the same table.
  Real error_msg values read "NAME : text" (e.g. "PARAM_SIGNATURE : No signature specified").

Assumptions (OK documents none of these):
- OK publishes no per-second limit; GOSPULSE_OK_RPS defaults to DEFAULT_RPS (3/s per token),
  the same budget VK grants, and 8 FLOOD_BLOCKED / 11 LIMIT_REACHED are treated as "slow
  down": retried with backoff and counted as rate_limited.
- 1 UNKNOWN, 2 SERVICE and 9999 SYSTEM are transient; HTTP 5xx, timeouts and unreadable bodies
  too. Auth, signature, app-key and permission errors stop the run (OkAuthError).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from extractors.shared_window import SharedStarts
from extractors.vk.session import SlidingWindowLimiter
from gospulse.config import settings

log = logging.getLogger(__name__)

OK_DEFAULT_URL = "https://api.ok.ru/fb.do"
DEFAULT_RPS = 3.0
RATE_LIMIT_ERRORS = frozenset({8, 11})  # FLOOD_BLOCKED, LIMIT_REACHED
RETRYABLE_ERRORS = frozenset({1, 2, 9999}) | RATE_LIMIT_ERRORS  # UNKNOWN, SERVICE, SYSTEM
# PERMISSION_DENIED, PARAM_API_KEY, PARAM_SESSION_EXPIRED, PARAM_SESSION_KEY, PARAM_SIGNATURE,
# PARAM_PERMISSION, PARAM_APPLICATION_DISABLED, SESSION_REQUIRED
AUTH_ERRORS = frozenset({10, 101, 102, 103, 104, 200, 210, 453})
_UNSIGNED = ("sig", "access_token")


class OkAuthError(RuntimeError):
    """OK rejected the application key, token or signature: retrying cannot help."""


class OkRequestFailed(RuntimeError):
    """A request still failed after all retries (network down, persistent 5xx or throttling)."""


class OkApiError(RuntimeError):
    """OK answered this call with an error that retrying will not change (e.g. 100 PARAM)."""

    def __init__(self, method: str, code: int, message: str):
        super().__init__(f"{method}: OK error [{code}] {message}")
        self.method, self.code, self.message = method, code, message


@dataclass
class ClientStats:
    """What the client asked, got and retried."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    wait_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def add_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def session_secret(access_token: str, application_secret_key: str) -> str:
    """The secret OK signs session calls with when no session_secret_key is given."""
    return md5_hex(access_token + application_secret_key).lower()


def signature(params: Mapping[str, str], secret: str) -> str:
    """OK's sig: MD5 of the sorted key=value pairs (sig and access_token left out) + secret."""
    signed = "".join(f"{k}={params[k]}" for k in sorted(params) if k not in _UNSIGNED)
    return md5_hex(signed + secret).lower()


def _as_param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def endpoint_url(base_url: str | None) -> str:
    """fb.do under `base_url` (a proxy or the emulator); OK's own endpoint by default."""
    if not base_url:
        return OK_DEFAULT_URL
    if base_url.rstrip("/").endswith("fb.do"):
        return base_url.rstrip("/")
    return base_url.rstrip("/") + "/fb.do"


class OkClient:
    """Signed calls to OK's fb.do within one token's rate limit (use one client per token)."""

    def __init__(
        self,
        application_key: str,
        access_token: str,
        session_secret_key: str | None = None,
        application_secret_key: str | None = None,
        *,
        base_url: str | None = None,
        requests_per_second: float = DEFAULT_RPS,
        max_retries: int = 5,
        backoff_seconds: float = 0.5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not application_key:
            raise OkAuthError("no OK application key: set OK_APP_KEY or the ok_api connection")
        if session_secret_key:
            secret = session_secret_key
        elif application_secret_key:
            # without a session OK signs with the application secret itself
            secret = (
                session_secret(access_token, application_secret_key)
                if access_token
                else application_secret_key
            )
        else:
            raise OkAuthError(
                "no OK secret: set OK_SESSION_SECRET or OK_APP_SECRET (or the ok_api connection)"
            )
        self._application_key = application_key
        self._access_token = access_token
        self._secret = secret
        self.url = endpoint_url(base_url)
        # the limiter's margin per window: OK's window is unknown and its clock is not ours
        shared = SharedStarts.for_token(self.url, access_token or application_key)
        self._limiter = SlidingWindowLimiter(requests_per_second, shared=shared)
        self._http = requests.Session()
        self._http.headers["User-Agent"] = "gospulse (+https://github.com/gospulse)"
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self.stats = ClientStats()

    def __repr__(self) -> str:
        return f"OkClient(url={self.url!r}, application_key={self._application_key!r})"

    def signed_params(self, method: str, params: Mapping[str, Any]) -> dict[str, str]:
        """The full parameter set of one call, signed; the token goes last and unsigned."""
        out = {k: _as_param(v) for k, v in params.items() if v is not None}
        out.update(application_key=self._application_key, format="json", method=method)
        out["sig"] = signature(out, self._secret)
        if self._access_token:
            out["access_token"] = self._access_token
        return out

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """One API call with retries; raises OkAuthError, OkApiError or OkRequestFailed."""
        params = params or {}
        attempt = 0
        while True:
            try:
                return self._send(method, params)
            except _Retryable as exc:
                if attempt >= self.max_retries:
                    raise OkRequestFailed(
                        f"{method}: {exc} (after {attempt + 1} attempts)"
                    ) from None
                reason = str(exc)
            attempt += 1
            self.stats.retries += 1
            pause = min(self.backoff_seconds * 2 ** (attempt - 1), 30.0)
            log.warning(
                "%s: %s, retry %d/%d in %.2fs", method, reason, attempt, self.max_retries, pause
            )
            self._sleep(pause)
            self.stats.wait_seconds += pause

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, params: Mapping[str, Any]) -> Any:
        data = self.signed_params(method, params)
        self.stats.wait_seconds += self._limiter.acquire()
        self.stats.requests += 1
        try:
            response = self._http.post(self.url, data=data, timeout=self.timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            kind = type(exc).__name__
            self.stats.add_error(kind)
            raise _Retryable(f"{kind} talking to {self.url}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error_code" in body:
            return self._api_error(method, body)
        if response.status_code >= 500:
            self.stats.add_error(f"http_{response.status_code}")
            raise _Retryable(f"HTTP {response.status_code} from {self.url}")
        if response.status_code >= 400:
            self.stats.add_error(f"http_{response.status_code}")
            raise OkRequestFailed(f"{method}: HTTP {response.status_code} from {self.url}")
        if body is None:
            # a proxy's error page or a truncated answer
            self.stats.add_error("bad_response")
            raise _Retryable(f"unreadable response from {self.url}")
        return body

    def _api_error(self, method: str, body: dict) -> Any:
        try:
            code = int(body["error_code"])
        except (TypeError, ValueError):
            code = 1
        message = str(body.get("error_msg") or "")
        self.stats.add_error(f"api_{code}")
        if code in AUTH_ERRORS:
            raise OkAuthError(
                f"OK rejected the credentials ([{code}] {message}); check OK_APP_KEY, "
                "OK_ACCESS_TOKEN and OK_SESSION_SECRET / OK_APP_SECRET or the ok_api connection"
            )
        if code in RATE_LIMIT_ERRORS:
            self.stats.rate_limited += 1
        if code in RETRYABLE_ERRORS:
            raise _Retryable(f"OK error [{code}] {message}")
        raise OkApiError(method, code, message)


class _Retryable(Exception):
    """A failure worth another attempt (internal to the client)."""


def ok_client_from_env(
    application_key: str | None = None,
    access_token: str | None = None,
    session_secret_key: str | None = None,
    application_secret_key: str | None = None,
    *,
    base_url: str | None = None,
    requests_per_second: float | None = None,
    max_retries: int | None = None,
    **kwargs: Any,
) -> OkClient:
    """An OkClient from explicit values (e.g. an Airflow connection), else the environment.

    OK_APP_KEY, OK_ACCESS_TOKEN, OK_SESSION_SECRET or OK_APP_SECRET, GOSPULSE_OK_API_URL,
    GOSPULSE_OK_RPS and GOSPULSE_OK_MAX_RETRIES.
    """

    def pick(value: str | None, name: str) -> str | None:
        # an empty connection field falls back to the environment, like an absent one
        return value or settings.read(name) or None

    return OkClient(
        pick(application_key, "OK_APP_KEY") or "",
        pick(access_token, "OK_ACCESS_TOKEN") or "",
        pick(session_secret_key, "OK_SESSION_SECRET"),
        pick(application_secret_key, "OK_APP_SECRET"),
        base_url=pick(base_url, "GOSPULSE_OK_API_URL"),
        requests_per_second=(
            requests_per_second
            if requests_per_second is not None
            else settings.read("GOSPULSE_OK_RPS")
        ),
        max_retries=(
            max_retries if max_retries is not None else settings.read("GOSPULSE_OK_MAX_RETRIES")
        ),
        **kwargs,
    )

"""VK API client: the real vk_api library, packed calls via execute, retries and fail-fast auth."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jconfig
import requests
import vk_api
from vk_api.exceptions import ApiError, ApiHttpError
from vk_api.requests_pool import VkRequestsPool

from extractors.shared_window import SharedStarts
from extractors.vk.session import VK_DEFAULT_BASE, SlidingWindowLimiter, VkEndpointSession

log = logging.getLogger(__name__)

API_VERSION = "5.199"
CALLS_PER_EXECUTE = 25
# 1 unknown error, 6 too many requests per second, 9 flood control, 10 internal server error
RETRYABLE_API_ERRORS = frozenset({1, 6, 9, 10})
AUTH_ERRORS = frozenset({5})


class VkAuthError(RuntimeError):
    """VK rejected the token: retrying cannot help, the run must stop and say so."""


class VkRequestFailed(RuntimeError):
    """A request still failed after all retries (network down, persistent 5xx or API error)."""


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


@dataclass(frozen=True)
class CallResult:
    """One API call inside an execute: its value, or VK's error object for that call."""

    value: Any = None
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class VkClient:
    """Calls VK methods in packs of 25 through `execute`, within the token's rate limit."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        requests_per_second: float = 3.0,
        max_retries: int = 5,
        backoff_seconds: float = 0.5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        limiter: SlidingWindowLimiter | None = None,
    ) -> None:
        """`limiter` is shared by clients of one token (VkClientPool); else one per client."""
        if not token:
            raise VkAuthError("no VK token: set VK_TOKEN or the vk_api Airflow connection")
        base_url = base_url or VK_DEFAULT_BASE
        if limiter is None:
            shared = SharedStarts.for_token(base_url, token)
            limiter = SlidingWindowLimiter(requests_per_second, shared=shared)
        self._session = VkEndpointSession(base_url, limiter, timeout=timeout)
        self._vk = vk_api.VkApi(
            token=token, api_version=API_VERSION, session=self._session, config=jconfig.MemoryConfig
        )
        # our session limits the rate; vk_api's own delay counts from the end of the previous
        # request and would keep us well under the allowance
        self._vk.RPS_DELAY = 0
        # vk_api retries error 6 forever; we retry a bounded number of times and count it
        self._vk.error_handlers.pop(vk_api.vk_api.TOO_MANY_RPS_CODE, None)
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self.stats = ClientStats()

    @property
    def base_url(self) -> str:
        return self._session.base_url

    def execute_calls(self, method: str, params: Sequence[dict[str, Any]]) -> list[CallResult]:
        """Run up to 25 calls of one method as a single execute request, with retries."""
        if not 0 < len(params) <= CALLS_PER_EXECUTE:
            raise ValueError(f"execute takes 1..{CALLS_PER_EXECUTE} calls, got {len(params)}")
        return self._with_retries(method, lambda: self._pooled(method, params))

    def execute_all(self, method: str, params: Sequence[dict[str, Any]]) -> list[CallResult]:
        """Run any number of calls, 25 per execute; re-send calls that failed transiently.

        A request that fails for good yields an error result for each of its calls, with
        error_code None and the reason; an auth error stops everything (VkAuthError).
        """
        results: list[CallResult | None] = [None] * len(params)
        todo = list(range(len(params)))
        attempt = 0
        while todo:
            again: list[int] = []
            for start in range(0, len(todo), CALLS_PER_EXECUTE):
                pack = todo[start : start + CALLS_PER_EXECUTE]
                try:
                    answers = self.execute_calls(method, [params[i] for i in pack])
                except VkRequestFailed as exc:
                    for i in pack:
                        results[i] = CallResult(error={"error_code": None, "error_msg": str(exc)})
                    continue
                for i, answer in zip(pack, answers, strict=True):
                    code = (answer.error or {}).get("error_code")
                    if code in RETRYABLE_API_ERRORS and attempt < self.max_retries:
                        self.stats.add_error(f"call_{code}")
                        again.append(i)
                    else:
                        results[i] = answer
            if again:
                attempt += 1
                self.stats.retries += 1
                pause = min(self.backoff_seconds * 2 ** (attempt - 1), 30.0)
                self._sleep(pause)
                self.stats.wait_seconds += pause
            todo = again
        return [r for r in results if r is not None]

    def close(self) -> None:
        """Close the HTTP connections."""
        self._session.close()

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """One plain API call (no execute), with the same retries."""
        return self._with_retries(method, lambda: self._vk.method(method, params))

    def _pooled(self, method: str, params: Sequence[dict[str, Any]]) -> list[CallResult]:
        pool = VkRequestsPool(self._vk)
        pending = [pool.method(method, dict(p)) for p in params]
        pool.execute()
        return [CallResult(value=r._result) if r.ok else CallResult(error=r.error) for r in pending]

    def _with_retries(self, method: str, send: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            before = self._session.requests_sent
            waited = self._session.wait_seconds
            try:
                return send()
            except ApiError as exc:
                code = exc.code
                self.stats.add_error(f"api_{code}")
                if code in AUTH_ERRORS:
                    raise VkAuthError(
                        f"VK rejected the access token ([{code}] {exc.error.get('error_msg')}); "
                        "check VK_TOKEN or the vk_api connection"
                    ) from None
                if code == 6:
                    self.stats.rate_limited += 1
                if code not in RETRYABLE_API_ERRORS or attempt >= self.max_retries:
                    raise VkRequestFailed(
                        f"{method}: VK error [{code}] {exc.error.get('error_msg')}"
                    ) from None
                reason = f"VK error {code}"
            except ApiHttpError as exc:
                status = exc.response.status_code
                self.stats.add_error(f"http_{status}")
                if status < 500 or attempt >= self.max_retries:
                    raise VkRequestFailed(f"{method}: HTTP {status} from {self.base_url}") from None
                reason = f"HTTP {status}"
            except (requests.Timeout, requests.ConnectionError) as exc:
                self.stats.add_error(type(exc).__name__)
                if attempt >= self.max_retries:
                    raise VkRequestFailed(
                        f"{method}: {type(exc).__name__} talking to {self.base_url} "
                        f"after {attempt + 1} attempts"
                    ) from None
                reason = type(exc).__name__
            except ValueError as exc:
                # a body that is not JSON: a proxy error page or a truncated response
                self.stats.add_error("bad_response")
                if attempt >= self.max_retries:
                    raise VkRequestFailed(f"{method}: unreadable response ({exc})") from None
                reason = "unreadable response"
            finally:
                self.stats.requests += self._session.requests_sent - before
                self.stats.wait_seconds += self._session.wait_seconds - waited
            attempt += 1
            self.stats.retries += 1
            pause = min(self.backoff_seconds * 2 ** (attempt - 1), 30.0)
            log.warning(
                "%s: %s, retry %d/%d in %.1fs", method, reason, attempt, self.max_retries, pause
            )
            self._sleep(pause)
            self.stats.wait_seconds += pause

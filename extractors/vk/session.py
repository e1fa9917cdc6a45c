"""The HTTP layer under vk_api: a configurable endpoint and a per-token rate limit.

vk_api always posts to https://api.vk.ru/method/; it accepts a custom requests.Session, so this
session rewrites that base to the configured one (a proxy or the loopback emulator) and spaces
requests so that no sliding one-second window holds more than the token's allowance.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import requests

from extractors.shared_window import SharedStarts

VK_DEFAULT_BASE = "https://api.vk.ru/method/"
# added to every window: the delay between our start and the server's arrival time, which
# varies with the machine's load; a smaller margin let the VK emulator see one request too many
# in a second, now and then, on busy cores (docs/perf-notes/extraction.md, pacing)
WINDOW_MARGIN_S = 0.1


class SlidingWindowLimiter:
    """At most `rate` request starts in any window of `period` seconds (thread-safe)."""

    def __init__(
        self,
        rate: float,
        period: float = 1.0,
        *,
        margin: float = WINDOW_MARGIN_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        shared: SharedStarts | None = None,
    ) -> None:
        """`shared` keeps the starts in a file, so other processes using the token count them."""
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        # a fractional rate (2.5/s) becomes 5 requests per 2 s, keeping the long-run average
        slots = max(1, int(rate)) if float(rate).is_integer() else max(1, round(rate * 2))
        self._slots = slots
        self._window = slots / rate * period + margin
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._shared = shared

    def acquire(self) -> float:
        """Block until a request may start; return the seconds waited."""
        if self._shared is not None:
            with self._lock:
                return self._shared.acquire(self._slots, self._window, self._sleep)
        waited = 0.0
        with self._lock:
            now = self._clock()
            while self._starts and self._starts[0] + self._window <= now:
                self._starts.popleft()
            if len(self._starts) >= self._slots:
                pause = self._starts[0] + self._window - now
                self._sleep(pause)
                waited = pause
                # slept until the oldest start left the window; re-reading the clock could
                # round to just short of it
                self._starts.popleft()
                now = max(self._clock(), now + pause)
            self._starts.append(now)
            return waited


class VkEndpointSession(requests.Session):
    """A requests.Session that sends vk_api's calls to `base_url`, rate-limited."""

    def __init__(self, base_url: str, limiter: SlidingWindowLimiter, *, timeout: float = 30.0):
        super().__init__()
        if not base_url.endswith("/"):
            base_url += "/"
        self.base_url = base_url
        self.limiter = limiter
        self.timeout = timeout
        self.requests_sent = 0
        self.wait_seconds = 0.0
        self.headers["User-Agent"] = "gospulse (+https://github.com/gospulse)"

    def request(self, method, url, *args, **kwargs):
        if isinstance(url, str) and url.startswith(VK_DEFAULT_BASE):
            url = self.base_url + url[len(VK_DEFAULT_BASE) :]
        self.wait_seconds += self.limiter.acquire()
        self.requests_sent += 1
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)

"""Several VK tokens behind one client: execute requests spread over tokens, each in its limit.

VK's allowance is per token (3 requests/s), so a federal deployment with N tokens can read N
times faster. Each token gets its own sliding-window limiter, shared by a few connections so a
slow response does not hold the token's next request back (VK counts requests started, not
requests in flight). Callers see VkClient's interface: execute_all, execute_calls, call, stats.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

from extractors.shared_window import SharedStarts
from extractors.vk.client import CALLS_PER_EXECUTE, CallResult, ClientStats, VkAuthError, VkClient
from extractors.vk.session import VK_DEFAULT_BASE, SlidingWindowLimiter


def split_tokens(value: str | None) -> list[str]:
    """Tokens from one setting: several may be given comma-separated (VK_TOKEN, a connection)."""
    seen: dict[str, None] = {}
    for token in (value or "").split(","):
        if token.strip():
            seen.setdefault(token.strip(), None)
    return list(seen)


class VkClientPool:
    """VkClient's interface over several tokens and connections per token."""

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        base_url: str | None = None,
        requests_per_second: float = 3.0,
        connections_per_token: int = 2,
        **client_options: Any,
    ) -> None:
        tokens = split_tokens(",".join(tokens))
        if not tokens:
            raise VkAuthError("no VK token: set VK_TOKEN or the vk_api Airflow connection")
        if connections_per_token < 1:
            raise ValueError(f"connections_per_token must be >= 1, got {connections_per_token}")
        self.tokens = len(tokens)
        self._clients: list[VkClient] = []
        for token in tokens:
            shared = SharedStarts.for_token(base_url or VK_DEFAULT_BASE, token)
            limiter = SlidingWindowLimiter(requests_per_second, shared=shared)
            self._clients += [
                VkClient(token, base_url=base_url, limiter=limiter, **client_options)
                for _ in range(connections_per_token)
            ]
        self._idle: queue.Queue[VkClient] = queue.Queue()
        # round-robin over tokens first, so a short job still uses every token
        for i in range(connections_per_token):
            for t in range(len(tokens)):
                self._idle.put(self._clients[t * connections_per_token + i])
        self._executor = ThreadPoolExecutor(len(self._clients), thread_name_prefix="vk-token")

    @property
    def parallelism(self) -> int:
        """How many execute requests can be under way at once."""
        return len(self._clients)

    @property
    def base_url(self) -> str:
        return self._clients[0].base_url

    @property
    def stats(self) -> ClientStats:
        """The sum over every token's clients (a fresh object: read it, do not keep it)."""
        total = ClientStats()
        for client in self._clients:
            s = client.stats
            for f in fields(ClientStats):
                if f.name != "errors":
                    setattr(total, f.name, getattr(total, f.name) + getattr(s, f.name))
            for kind, n in s.errors.items():
                total.errors[kind] = total.errors.get(kind, 0) + n
        return total

    @contextmanager
    def _client(self) -> Iterator[VkClient]:
        client = self._idle.get()
        try:
            yield client
        finally:
            self._idle.put(client)

    def execute_calls(self, method: str, params: Sequence[dict[str, Any]]) -> list[CallResult]:
        """Up to 25 calls as one execute request on whichever token is free."""
        with self._client() as client:
            return client.execute_calls(method, params)

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """One plain API call on whichever token is free."""
        with self._client() as client:
            return client.call(method, params)

    def execute_all(self, method: str, params: Sequence[dict[str, Any]]) -> list[CallResult]:
        """Any number of calls, 25 per execute, the requests spread over the tokens.

        Results come back in the order of `params`; each pack retries as VkClient.execute_all
        does. An auth error on any token stops everything (VkAuthError).
        """
        packs = [
            list(params[i : i + CALLS_PER_EXECUTE])
            for i in range(0, len(params), CALLS_PER_EXECUTE)
        ]

        def run(pack: list[dict[str, Any]]) -> list[CallResult]:
            with self._client() as client:
                return client.execute_all(method, pack)

        futures = [self._executor.submit(run, pack) for pack in packs]
        results: list[CallResult] = []
        failure: BaseException | None = None
        for future in futures:
            try:
                results += future.result()
            except BaseException as exc:  # collected so every request finishes first
                failure = failure or exc
        if failure is not None:
            raise failure
        return results

    def close(self) -> None:
        """Stop the worker threads and close every connection."""
        self._executor.shutdown(wait=True)
        for client in self._clients:
            client.close()

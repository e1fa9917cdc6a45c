"""A token's recent request starts, kept in a file so every process on the host honours one limit.

A network counts requests per token, not per process. Airflow runs each task in its own process:
the task that resolves names and the fetch task that follows it a moment later both use the same
token, and two in-process limiters would each think the window is empty. Each token (at one
endpoint) gets a small file holding the wall-clock times of its last few request starts, read and
rewritten under an exclusive lock. Hosts do not share it: across Celery hosts the token's
Airflow pool keeps a token on one task at a time, and a rare rate-limit answer is retried.

The file name is a hash of the endpoint and the token: the token itself is never written.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gospulse.config import settings

log = logging.getLogger(__name__)

DIR_ENV = "GOSPULSE_RATE_DIR"
OFF = "off"


def ledger_dir(env: dict[str, str] | None = None) -> Path | None:
    """Where the ledgers live (GOSPULSE_RATE_DIR), or None when it is set to 'off'."""
    directory = settings.read(DIR_ENV, env)
    if directory is settings.OFF:
        return None
    if directory:
        return Path(directory)
    return Path(tempfile.gettempdir()) / f"gospulse-rate-{os.getuid()}"


class SharedStarts:
    """The request starts of one token at one endpoint, shared by every process on this host."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._clock = clock
        # the start this process last recorded: what other processes see of it in the ledger
        self.last_start: float | None = None

    @classmethod
    def for_token(
        cls, endpoint: str, token: str, directory: Path | None = None
    ) -> SharedStarts | None:
        """The ledger of `token` at `endpoint`, or None when ledgers are switched off."""
        directory = ledger_dir() if directory is None else directory
        if directory is None:
            return None
        # "…/method" and "…/method/" are one endpoint (the pool and a lone client may differ)
        digest = hashlib.sha256(f"{endpoint.rstrip('/')}\n{token}".encode()).hexdigest()[:32]
        return cls(directory / f"{digest}.starts")

    def acquire(self, slots: int, window: float, sleep: Callable[[float], None]) -> float:
        """Wait until fewer than `slots` starts lie in the last `window` seconds, record one.

        Returns the seconds waited. The lock is held while waiting, so processes queue in turn.
        """
        with open(self.path, "a+", encoding="ascii") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            starts = self._read(f.read())
            now = self._clock()
            starts = self._recent(starts, now, window)
            waited = 0.0
            if len(starts) >= slots:
                pause = starts[-slots] + window - now
                sleep(pause)
                waited = pause
                now = max(self._clock(), now + pause)
                starts = self._recent(starts, now, window)
            starts.append(now)
            self.last_start = now
            f.seek(0)
            f.truncate()
            f.write(" ".join(repr(s) for s in starts[-slots:]))
            f.flush()
            return waited

    def _read(self, text: str) -> list[float]:
        starts: list[float] = []
        for word in text.split():
            try:
                starts.append(float(word))
            except ValueError:
                # a torn or foreign file: forget it rather than stop extraction; the network's
                # own rate-limit answer is retried if we now go one request over
                log.warning("rate ledger %s unreadable, starting it afresh", self.path)
                return []
        return sorted(starts)

    @staticmethod
    def _recent(starts: list[float], now: float, window: float) -> list[float]:
        # a start later than now means the wall clock stepped back; it says nothing about now
        return [s for s in starts if now - window < s <= now]

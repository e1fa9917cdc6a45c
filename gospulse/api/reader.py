"""One open read-only connection per published file generation, shared by request threads.

Opening the published copy costs tens of milliseconds, more than most queries, so the server
keeps it open and hands each request its own cursor. The file is stat-ed on every request: when
a publication swapped in a new inode, the next request opens it, and the old generation is
closed once its last request finishes. What is worth computing once per publication (the values a
mart's filters hold) is kept in that generation's memo and goes with it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from gospulse.serving.publish import open_published


class NotPublished(FileNotFoundError):
    """No published copy exists yet (the API answers 503)."""


@dataclass
class _Generation:
    stamp: tuple[int, int]
    con: duckdb.DuckDBPyConnection
    users: int = 0
    retired: bool = False
    memo: dict[Any, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reading:
    """A cursor on one published generation and that generation's memo."""

    con: duckdb.DuckDBPyConnection
    memo: dict[Any, Any]


class PublishedReader:
    """Cursors on the current published copy; NotPublished while none is published."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._current: _Generation | None = None

    def _retire(self, gen: _Generation) -> None:
        gen.retired = True
        if gen.users == 0:
            gen.con.close()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the newest published copy, with the published database in use."""
        with self.reading() as reading:
            yield reading.con

    @contextmanager
    def reading(self) -> Iterator[Reading]:
        """A cursor on the newest published copy with the memo of that copy: what a request
        stores there is seen by the requests that read the same publication, and by no later
        one (entries are computed from the copy alone, so two requests racing to fill one
        store the same value)."""
        with self._lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                raise NotPublished(
                    f"no published marts at {self.path}: run a build and publish first"
                ) from None
            stamp = (st.st_ino, st.st_mtime_ns)
            if self._current is None or self._current.stamp != stamp:
                fresh = _Generation(stamp, open_published(self.path))
                if self._current is not None:
                    self._retire(self._current)
                self._current = fresh
            gen = self._current
            gen.users += 1
        try:
            cur = gen.con.cursor()
            try:
                # a cursor is a new connection to the same instance: it starts in memory
                cur.execute("use published")
                yield Reading(cur, gen.memo)
            finally:
                cur.close()
        finally:
            with self._lock:
                gen.users -= 1
                if gen.retired and gen.users == 0:
                    gen.con.close()

    def close(self) -> None:
        """Close the current generation (server shutdown)."""
        with self._lock:
            if self._current is not None:
                self._retire(self._current)
                self._current = None

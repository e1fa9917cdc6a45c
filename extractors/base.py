"""What every network's extractor gives the pipeline: resolutions, batches and batch results.

The pipeline (gospulse.extract.pipeline) plans, fetches and loads any network the same way; a
network module only knows its API. Extractors never touch the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from gospulse.raw.warehouse import SnapshotRow


@dataclass(frozen=True)
class Resolution:
    """What a registry name resolved to: a stable page id, or a status saying why not.

    access_key is what the network needs beside the id to address the page later (Telegram's
    access_hash); it is stored with the mapping so the name is never resolved again.
    """

    screen_name: str
    page_ref: str | None
    status: str  # ok, not_found, closed, error
    error: str | None = None
    access_key: str | None = None


@dataclass
class BatchResult:
    """Snapshot rows of one batch and the client's counters while reading it.

    deferred counts pages not asked at all because the network told us to wait longer than we
    may (Telegram FLOOD_WAIT); they are in rows with status error and say so.
    """

    rows: list[SnapshotRow] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    wait_seconds: float = 0.0
    deferred: int = 0


@dataclass(frozen=True)
class PageAddress:
    """How to reach a resolved page: the registry name it came from and the network's key.

    Telegram's MTProto source needs access_key (the access_hash) beside the channel id; the
    public-preview source needs the username; VK and OK need only the id.
    """

    screen_name: str | None = None
    access_key: str | None = None


# the largest count raw.page_snapshots.members_count (BIGINT) holds
MAX_COUNT = 2**63 - 1


def checked_count(value: object, field: str) -> tuple[int | None, str | None]:
    """A subscriber count as an API answered it, or None and why it is not one.

    Only a JSON integer from 0 to MAX_COUNT is a count: `true`, `1.5`, `"12"`, `-5` or 10**30
    are an answer we cannot store, so the page gets an error row saying so, and the other
    pages of its batch load as usual.
    """
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value, None
    return None, f"{field} {value!r:.40} is not a count (a whole number from 0 to 2^63-1)"


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def sorted_unique(page_refs: Iterable[str]) -> list[str]:
    """Ids in a stable order (numeric ids by length then text), duplicates dropped."""
    return sorted(set(page_refs), key=lambda r: (len(r), r))


def is_loopback_url(url: str) -> bool:
    """True for an address on this machine: the networks' emulators listen there, the real
    APIs never do."""
    import ipaddress
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkExtractor(Protocol):
    """One network's daily-count extractor, as the pipeline drives it."""

    network: str

    @property
    def simulated(self) -> bool:
        """True when it talks to an emulator on this machine, not to the network."""
        ...

    def counters(self) -> dict[str, float]:
        """Running totals: requests, retries, rate_limited, wait_seconds."""
        ...

    def resolve(self, names: Sequence[str]) -> list[Resolution]:
        """Resolve registry names to stable ids, one Resolution per name, in order."""
        ...

    def plan_batches(self, page_refs: Iterable[str]) -> list[list[str]]:
        """Split ids into batches; each batch is one unit of work (one mapped Airflow task)."""
        ...

    def fetch_batch(
        self,
        page_refs: Sequence[str],
        snapshot_date: date,
        run_id: str | None,
        addresses: Mapping[str, PageAddress],
    ) -> BatchResult:
        """Read one batch; every id comes back as exactly one row (a status, never a lost id)."""
        ...

    def close(self) -> None:
        """Release connections (Telegram sessions); the extractor is not used afterwards."""
        ...

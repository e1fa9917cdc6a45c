"""Hand every secret gospulse reads to the log maskers, so a log line that holds one shows ***.

The maskers belong to what runs gospulse: the orchestration layer adds Airflow's secrets masker
when it is imported (gospulse.orchestration.masker). In a process that never imports it there
is no masker, and masking does nothing.
"""

from __future__ import annotations

from collections.abc import Callable

_maskers: list[Callable[[str], None]] = []


def add_masker(masker: Callable[[str], None]) -> None:
    """Send every secret masked from now on to `masker` too (once, however often added)."""
    if masker not in _maskers:
        _maskers.append(masker)


def mask_secrets(*values: str | None) -> None:
    """Mask each value and each of its comma-separated parts (one token of a list may be logged)."""
    if not _maskers:
        return
    for value in values:
        if not value:
            continue
        for part in {value, *(p.strip() for p in value.split(","))}:
            if part:
                for masker in _maskers:
                    masker(part)

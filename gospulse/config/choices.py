"""A value a person typed for a filter (region, sector, municipality, network) checked against
the values the data holds: an unknown one is an error listing them, with the closest first,
never an empty answer that reads as "nothing grew"."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# a municipality list can run to thousands: an answer names the closest ones
LISTED = 40


class UnknownChoice(ValueError):
    """A filter value the data does not hold; the message lists the known ones, and `known`
    holds them closest first (at most LISTED), for callers that answer in structured form."""

    def __init__(self, message: str, kind: str, value: str, known: list[str]):
        super().__init__(message)
        self.kind = kind
        self.value = value
        self.known = known


def _similarity(value: str, option: str) -> float:
    return difflib.SequenceMatcher(None, value, option).ratio()


def closest_first(value: str, options: Iterable[str]) -> list[str]:
    """`options` from the most to the least similar to `value` (difflib's ratio, then by name)."""
    return sorted(set(options), key=lambda option: (-_similarity(value, option), option))


def known_choice(kind: str, value: str, known: Iterable[str]) -> str:
    """`value` when it is one of `known`; else UnknownChoice naming the closest known values."""
    options = sorted({str(k) for k in known})
    if value in options:
        return value
    ordered = closest_first(value, options)
    # difflib.get_close_matches' choice (three at most, ratio 0.5 or more), in the same order
    close = [option for option in ordered[:3] if _similarity(value, option) >= 0.5]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    listed = ", ".join(options[:LISTED]) + (", …" if len(options) > LISTED else "")
    raise UnknownChoice(
        f"unknown {kind} {value!r}{hint} (known: {listed or 'none'})",
        kind,
        value,
        ordered[:LISTED],
    )

"""A value a person typed for a filter (region, sector, municipality, network) checked against
the values the data holds: an unknown one is an error listing them, with the closest first,
never an empty answer that reads as "nothing grew"."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UnknownChoice(ValueError):
    """A filter value the data does not hold; the message lists the known ones."""


def known_choice(kind: str, value: str, known: Iterable[str]) -> str:
    """`value` when it is one of `known`; else UnknownChoice naming the closest known values."""
    options = sorted({str(k) for k in known})
    if value in options:
        return value
    close = difflib.get_close_matches(value, options, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    listed = ", ".join(options[:40]) + (", …" if len(options) > 40 else "")
    raise UnknownChoice(f"unknown {kind} {value!r}{hint} (known: {listed or 'none'})")

"""Text that people open in Excel or LibreOffice: no cell may start a formula.

A title, organization or any text that came from outside (a registry row, an API answer) and
starts with `=`, `+`, `-` or `@`, or with a tab or carriage return, would be read by a
spreadsheet as a formula (`=cmd|' /C calc'!A0`). Every CSV (and, later, XLSX) that gospulse
writes for people passes its text cells through `neutralized`, which puts a `'` in front: the
cell shows the text as written. Machine formats (JSON, Parquet, the bundles) keep the values.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralized(value: Any) -> Any:
    """The value, with a `'` in front when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A CSV for people: the header, then the rows with every text cell neutralized. Lines end
    with CRLF (RFC 4180), so a field holding a lone CR or LF is quoted, not a broken row."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralized(h) for h in header])
    writer.writerows([neutralized(v) for v in row] for row in rows)

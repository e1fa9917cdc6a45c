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
from datetime import date
from decimal import Decimal
from typing import Any, BinaryIO, TextIO

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


def excel_cell(value: Any) -> Any:
    """A value as Russian Excel reads it from a `;`-separated CSV: a decimal comma, a date as
    ДД.ММ.ГГГГ, formula starts neutralized."""
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, float | Decimal):
        return format(value, "f").rstrip("0").rstrip(".").replace(".", ",") or "0"
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return neutralized(value)


def write_excel_csv(out: BinaryIO, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A CSV that Russian Excel opens by a double click: UTF-8 with a byte-order mark (without
    it Excel reads cp1251), `;` between fields (the Russian list separator), CRLF line ends."""
    import io

    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralized(h) for h in header])
    writer.writerows([excel_cell(v) for v in row] for row in rows)
    text.flush()
    text.detach()

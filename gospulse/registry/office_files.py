"""Tables as offices save them: CSV or XLSX, read the same way for registries and histories.

Russian offices keep registries in Excel and save CSV as cp1251 with `;` between fields and
Russian column names. Every reader here accepts UTF-8 (with or without a byte-order mark) and
cp1251, a `,` `;` or tab separator, and headers in English or Russian; an XLSX workbook's first
sheet is read directly. Line numbers are those of the file as the user sees it: the CSV line
where a record starts, or the sheet's row.
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

SEPARATORS = (",", ";", "\t")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
# bytes read to tell UTF-8 from cp1251: enough for a header and many rows
_SNIFF_BYTES = 1 << 20
# a field this long is still read, so that the row it is in can be refused on its own
# rather than the file failing at the csv module's default limit
FIELD_LIMIT = 64 << 20
MAX_FIELD_BYTES = 64 * 1024
csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))


class TableFileError(ValueError):
    """The file as a whole cannot be read as a table (missing, unreadable, no usable header)."""


def normalized_name(text: str) -> str:
    """A column name or value as compared: trimmed, lower case, `ё` as `е`, `_` and runs of
    spaces as one space."""
    return " ".join(text.replace("\ufeff", "").replace("_", " ").lower().replace("ё", "е").split())


def detect_encoding(path: Path) -> str:
    """'utf-8-sig' or 'utf-16' for a byte-order mark (Excel's "Unicode text" is UTF-16),
    'utf-8' for text that decodes as UTF-8, else 'cp1251' (Excel's "CSV" on a Russian Windows).
    A file with NUL bytes and no UTF-16 mark is no text table: TableFileError."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise TableFileError(
            f"{path}: binary data, not a text table (save it as CSV, or give the .xlsx file)"
        )
    try:
        # the sample may end inside a multi-byte character: an incremental decoder waits for it
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1251"
    return "utf-8"


def sniff_separator(header_line: str) -> str:
    """The separator the header line uses most (`,` when none is used)."""
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def is_xlsx(path: Path) -> bool:
    return path.suffix.lower() in XLSX_SUFFIXES


@dataclass(frozen=True)
class Header:
    """A table's header: each column's canonical name (None for a column nobody asked for)."""

    path: Path
    names: tuple[str | None, ...]
    written: tuple[str, ...]
    separator: str
    encoding: str

    def position(self, name: str) -> int:
        return self.names.index(name)

    @property
    def ignored(self) -> list[str]:
        return [w for w, n in zip(self.written, self.names, strict=True) if n is None and w]


def canonical_header(
    path: Path,
    written: list[str],
    aliases: Mapping[str, tuple[str, ...]],
    required: tuple[str, ...],
    *,
    separator: str,
    encoding: str,
) -> Header:
    """Map the written column names to canonical ones through `aliases` (canonical -> other
    spellings); a required column that is missing, or a column named twice, is a TableFileError."""
    lookup: dict[str, str] = {}
    for canonical, others in aliases.items():
        for spelling in (canonical, *others):
            lookup[normalized_name(spelling)] = canonical
    names = [lookup.get(normalized_name(w)) for w in written]
    doubled = sorted({n for n in names if n is not None and names.count(n) > 1})
    if doubled:
        raise TableFileError(f"{path}: header names {', '.join(doubled)} more than once")
    missing = [c for c in required if c not in names]
    if missing:
        spelled = "; ".join(
            f"{c} ({' / '.join(aliases[c][:2])})" if aliases.get(c) else c for c in missing
        )
        raise TableFileError(
            f"{path}: header lacks {spelled}; expected columns {', '.join(required)} "
            f"(the header read: {', '.join(w for w in written if w) or 'nothing'})"
        )
    return Header(path, tuple(names), tuple(written), separator, encoding)


def cell_text(value: object) -> str:
    """An XLSX cell as the text a CSV would hold: dates as YYYY-MM-DD, whole numbers without
    a fraction, booleans as true/false, empty cells as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise TableFileError(f"{path}: cannot read as an XLSX workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [cell_text(v) for v in row]
    finally:
        book.close()


def _text_stream(path: Path, encoding: str) -> io.TextIOWrapper:
    # newline="" hands line breaks to the csv module, which splits records only on CR and LF:
    # a U+2028 or U+0085 inside a title stays inside its field
    return open(path, encoding=encoding, newline="", errors="strict")


def _separator_of(path: Path, encoding: str) -> str:
    try:
        with _text_stream(path, encoding) as fh:
            return sniff_separator(fh.readline())
    except UnicodeError as exc:
        raise TableFileError(f"{path}: line 1: not {encoding} text ({exc})") from None


def read_rows(path: Path) -> tuple[str, str, Iterator[tuple[int, list[str]]]]:
    """(encoding, separator, rows): every record of a CSV or of an XLSX's first sheet with the
    line (or sheet row) it starts on, the header included. Raises TableFileError when the file
    cannot be opened."""
    path = Path(path)
    if not path.is_file():
        raise TableFileError(f"{path}: no such file")
    if is_xlsx(path):
        return "xlsx", "", _xlsx_rows(path)
    encoding = detect_encoding(path)
    separator = _separator_of(path, encoding)

    def records() -> Iterator[tuple[int, list[str]]]:
        with _text_stream(path, encoding) as fh:
            reader = csv.reader(fh, delimiter=separator)
            start = 1
            try:
                for values in reader:
                    yield start, values
                    start = reader.line_num + 1
            except UnicodeError as exc:
                raise TableFileError(f"{path}: line {start}: not {encoding} text ({exc})") from None
            except csv.Error as exc:
                raise TableFileError(f"{path}: line {start}: {exc}") from None

    return encoding, separator, records()


@dataclass(frozen=True)
class EngineCopy:
    """A table as DuckDB's CSV reader takes it: UTF-8, with its separator."""

    path: Path
    separator: str
    encoding: str


def engine_copy(path: Path, workdir: Path) -> EngineCopy:
    """The file itself when it is UTF-8 CSV; else a UTF-8 CSV copy in `workdir` with the same
    line structure (a cp1251 file transcoded, an XLSX sheet written out row by row)."""
    path = Path(path)
    if not path.is_file():
        raise TableFileError(f"{path}: no such file")
    copy = workdir / "table.csv"
    if is_xlsx(path):
        with open(copy, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            for _, values in _xlsx_rows(path):
                writer.writerow(values)
        return EngineCopy(copy, ",", "xlsx")
    encoding = detect_encoding(path)
    separator = _separator_of(path, encoding)
    if encoding == "utf-8":
        return EngineCopy(path, separator, encoding)
    with _text_stream(path, encoding) as src, open(copy, "w", encoding="utf-8", newline="") as out:
        try:
            shutil.copyfileobj(src, out, 1 << 20)
        except UnicodeError as exc:
            raise TableFileError(f"{path}: not {encoding} text ({exc})") from None
    return EngineCopy(copy, separator, encoding)


def scratch_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="gospulse-table-")

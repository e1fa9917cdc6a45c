"""Resident population per territory and year: Rosstat's annual bulletin «Численность населения
Российской Федерации по муниципальным образованиям на 1 января», one region at a time.

A file (CSV or XLSX, as offices save them: gospulse.registry.office_files) lists territories by
OKTMO code with their level, parent, population and year. It is validated row by row: a bad row gets
an error naming its line and reason and the good rows proceed, but a row whose parent was rejected
is rejected too, so no orphan is stored. One region's rows of the file's years replace what
raw.population holds for them, in one transaction. May import gospulse.registry.office_files,
gospulse.config.regions, gospulse.registry.pages (its row errors), gospulse.raw.warehouse and the
standard library.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from gospulse.config.regions import REGIONS, BadOktmo, normalize_oktmo
from gospulse.raw.warehouse import bulk_insert, connect
from gospulse.registry.office_files import (
    MAX_FIELD_BYTES,
    TableFileError,
    canonical_header,
    normalized_name,
    read_rows,
)
from gospulse.registry.pages import RowError

COLUMNS = ("oktmo", "name", "level", "parent_oktmo", "population", "year")
# parent_oktmo may be left out: a file that holds only a region row has no parents to give
REQUIRED = ("oktmo", "name", "level", "population", "year")
# the column names offices write, each beside its canonical name
ALIASES = {
    "oktmo": ("октмо", "код октмо", "код по октмо"),
    "name": (
        "наименование",
        "название",
        "муниципальное образование",
        "наименование муниципального образования",
        "территория",
    ),
    "level": ("уровень", "уровень территории"),
    "parent_oktmo": ("октмо родителя", "родитель", "код октмо родителя", "parent"),
    "population": (
        "численность",
        "население",
        "численность населения",
        "численность населения, человек",
        "численность постоянного населения",
    ),
    "year": ("год", "на 1 января года"),
}
LEVELS = ("region", "municipality", "settlement")
# the words Rosstat and the offices use for a territory's level, each to its level (compared
# as office_files.normalized_name leaves them: lower case, ё as е)
LEVEL_ALIASES = {
    "регион": "region",
    "субъект": "region",
    "субъект рф": "region",
    "субъект российской федерации": "region",
    "муниципальное образование": "municipality",
    "муниципалитет": "municipality",
    "мо": "municipality",
    "муниципальный район": "municipality",
    "городской округ": "municipality",
    "муниципальный округ": "municipality",
    "поселение": "settlement",
    "городское поселение": "settlement",
    "сельское поселение": "settlement",
    "населенный пункт": "settlement",
}
EARLIEST_YEAR = 1990
# more than the whole country: a figure above it is a typo or a sum, not a territory
MAX_POPULATION = 150_000_000
# the thousands separators Russian Excel writes: space, no-break space, narrow no-break space,
# thin space, figure space
_SEPARATORS = str.maketrans("", "", " \u00a0\u202f\u2009\u2007")
_WHOLE = re.compile(r"[+-]?\d+")
# how many region rows an error lists before it only counts them
_LISTED_REGIONS = 10

Key = tuple[str, int]


class PopulationFileError(TableFileError):
    """The file as a whole cannot be imported: missing, not a table, no usable header, no
    region row to import, or territories the warehouse holds under another region."""


@dataclass(frozen=True)
class Territory:
    """One valid row: a territory's population on 1 January of `year`."""

    oktmo: str
    name: str
    level: str
    parent_oktmo: str | None
    population: int
    year: int
    source_line: int
    # the OKTMO of the region row it descends from, once the parents are checked
    region_oktmo: str | None = None

    @property
    def key(self) -> Key:
        return (self.oktmo, self.year)


@dataclass
class PopulationFile:
    """A population file's valid territories (parents checked) and rejected rows."""

    path: Path
    territories: list[Territory]
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class PopulationImport:
    """What an import stored: one region's territories of some years."""

    path: Path
    region_code: int
    region_oktmo: str
    stored: int
    skipped_other_regions: int
    errors: tuple[RowError, ...]
    years: tuple[int, ...]

    def describe(self) -> str:
        years = ", ".join(str(y) for y in self.years)
        text = (
            f"population: {self.stored} territories of region {self.region_code} for {years} "
            f"stored, {len(self.errors)} bad rows skipped"
        )
        if self.skipped_other_regions:
            text += f", {self.skipped_other_regions} rows of other regions skipped"
        return text


def normalize_level(text: str) -> str:
    """A level as written (English or Russian, any case) as region, municipality or settlement;
    text that names no level comes back normalized, for the caller to refuse."""
    level = normalized_name(text)
    return LEVEL_ALIASES.get(level, level)


def parse_whole(text: str) -> int:
    """A whole number as Russian offices write it (thousands separated by spaces of any kind);
    ValueError when it is none."""
    digits = text.strip().translate(_SEPARATORS)
    if not _WHOLE.fullmatch(digits):
        raise ValueError(text)
    return int(digits)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _oktmo(text: str, column: str) -> str:
    """normalize_oktmo, its error naming the column (and a long value cut short)."""
    # Excel keeps a code typed into a cell as a number and drops its leading zero (01000000,
    # the Altai Krai, becomes 1000000): normalize_oktmo gives a 7- or 10-digit code that zero
    # back, since no OKTMO code starts with 00
    if len(text) <= 40:
        with suppress(BadOktmo):
            return normalize_oktmo(text)
    raise BadOktmo(
        f"{column} {_shown(text)} is not an OKTMO code (8 or 11 digits; 7 or 10 when "
        "Excel dropped the leading zero)"
    )


def _parse_row(row: dict[str, str], line: int, latest_year: int) -> Territory:
    problems: list[str] = []
    oktmo = parent = None
    raw_oktmo = row.get("oktmo", "").strip()
    if not raw_oktmo:
        problems.append("missing oktmo")
    else:
        try:
            oktmo = _oktmo(raw_oktmo, "oktmo")
        except BadOktmo as exc:
            problems.append(str(exc))
    name = " ".join(row.get("name", "").split())
    if not name:
        problems.append("missing name")
    raw_level = row.get("level", "")
    level = normalize_level(raw_level)
    if level not in LEVELS:
        problems.append(f"unknown level {_shown(raw_level)} (expected {', '.join(LEVELS)})")
    if raw_parent := row.get("parent_oktmo", "").strip():
        try:
            parent = _oktmo(raw_parent, "parent_oktmo")
        except BadOktmo as exc:
            problems.append(str(exc))
    if level == "region":
        if oktmo is not None and not (len(oktmo) == 8 and oktmo.endswith("000000")):
            problems.append(f"a region row's OKTMO is XX000000, not {oktmo}")
        if raw_parent:
            problems.append(f"a region row has no parent, got parent_oktmo {_shown(raw_parent)}")
    elif level in LEVELS and not raw_parent:
        problems.append(f"a {level} row needs its parent_oktmo")
    elif oktmo is not None and parent is not None:
        if parent == oktmo:
            problems.append(f"OKTMO {oktmo} is given as its own parent")
        elif parent[:2] != oktmo[:2]:
            problems.append(
                f"OKTMO {oktmo} and its parent {parent} are of different regions "
                f"(first two digits {oktmo[:2]} and {parent[:2]})"
            )
    population = None
    raw_population = row.get("population", "")
    if not raw_population.strip():
        problems.append("missing population")
    else:
        try:
            population = parse_whole(raw_population)
        except ValueError:
            problems.append(f"population {_shown(raw_population)} is not a whole number")
        else:
            if population < 0:
                problems.append(f"population {population} is negative")
            elif population > MAX_POPULATION:
                problems.append(
                    f"population {population} is above {MAX_POPULATION}, more than all Russia"
                )
    year = None
    raw_year = row.get("year", "")
    if not raw_year.strip():
        problems.append("missing year")
    else:
        try:
            year = parse_whole(raw_year)
        except ValueError:
            problems.append(f"year {_shown(raw_year)} is not a whole number")
        else:
            if not EARLIEST_YEAR <= year <= latest_year:
                problems.append(f"year {year} outside {EARLIEST_YEAR}..{latest_year}")
    if problems:
        raise ValueError("; ".join(problems))
    assert oktmo is not None and population is not None and year is not None
    return Territory(oktmo, name, level, parent, population, year, line)


def _check_parents(
    territories: list[Territory], rejected: dict[Key, int]
) -> tuple[list[Territory], list[RowError]]:
    """The rows whose chain of parents reaches a region row of the same file and year, each
    with that region's OKTMO; the others as errors: a missing or rejected parent, a loop, or a
    parent that is itself such a row."""
    by_key = {t.key: t for t in territories}
    region: dict[Key, str] = {}
    reason: dict[Key, str] = {}
    for start in territories:
        path: list[Territory] = []  # rows not decided yet, each the child of the next
        node = start
        while node.key not in region and node.key not in reason:
            if node.level == "region":
                region[node.key] = node.oktmo
                break
            if node in path:
                # every row of the loop is refused; the rows below it follow as children
                loop = path[path.index(node) :]
                lines = ", ".join(str(m.source_line) for m in loop)
                for member in loop:
                    reason[member.key] = f"its parents loop back to it (lines {lines})"
                path = path[: path.index(node)]
                break
            path.append(node)
            assert node.parent_oktmo is not None  # _parse_row refuses a child without one
            parent_key = (node.parent_oktmo, node.year)
            parent = by_key.get(parent_key)
            if parent is None:
                if parent_key in rejected:
                    reason[node.key] = (
                        f"parent OKTMO {node.parent_oktmo} (line {rejected[parent_key]}) "
                        "was rejected"
                    )
                else:
                    reason[node.key] = (
                        f"parent OKTMO {node.parent_oktmo} is not a row of this file "
                        f"for {node.year}"
                    )
                path.pop()
                break
            node = parent
        for child in reversed(path):
            assert child.parent_oktmo is not None  # path holds no region row
            parent_key = (child.parent_oktmo, child.year)
            if parent_key in region:
                region[child.key] = region[parent_key]
            else:
                reason[child.key] = (
                    f"parent OKTMO {child.parent_oktmo} (line {by_key[parent_key].source_line}) "
                    "was rejected"
                )
    kept = [replace(t, region_oktmo=region[t.key]) for t in territories if t.key in region]
    errors = [RowError(t.source_line, reason[t.key]) for t in territories if t.key in reason]
    return kept, errors


def validate_population(path: Path | str, *, today: date | None = None) -> PopulationFile:
    """Validate a population file (CSV in UTF-8 or cp1251 with any usual separator, or XLSX)
    row by row, then each row's parent; raises PopulationFileError if the file as a whole is
    unusable."""
    path = Path(path)
    latest_year = (today or date.today()).year + 1
    try:
        encoding, separator, records = read_rows(path)
        first = next(records, None)
        if first is None:
            raise PopulationFileError(f"{path}: empty file, expected header {','.join(COLUMNS)}")
        header = canonical_header(
            path, first[1], ALIASES, REQUIRED, separator=separator, encoding=encoding
        )
        width = len(header.names)
        territories: list[Territory] = []
        errors: list[RowError] = []
        seen: dict[Key, int] = {}
        rejected: dict[Key, int] = {}
        for line, values in records:
            if not any(v.strip() for v in values):
                continue
            if encoding == "xlsx":
                # a sheet's row ends at its last filled cell, or runs on into formatted ones
                values = (values + [""] * width)[: max(width, _last_filled(values))]
            if any(len(v.encode()) > MAX_FIELD_BYTES for v in values):
                errors.append(RowError(line, f"a field longer than {MAX_FIELD_BYTES // 1024} KB"))
                continue
            if len(values) != width:
                errors.append(RowError(line, f"expected {width} columns, found {len(values)}"))
                continue
            row = {n: v for n, v in zip(header.names, values, strict=True) if n is not None}
            try:
                territory = _parse_row(row, line, latest_year)
            except ValueError as exc:
                errors.append(RowError(line, str(exc)))
                key = _key_of(row)
                if key is not None:
                    rejected.setdefault(key, line)
                continue
            if territory.key in seen:
                errors.append(
                    RowError(
                        line,
                        f"OKTMO {territory.oktmo} for {territory.year} repeats line "
                        f"{seen[territory.key]}",
                    )
                )
                continue
            seen[territory.key] = line
            territories.append(territory)
    except PopulationFileError:
        raise
    except TableFileError as exc:
        raise PopulationFileError(str(exc)) from None
    kept, orphans = _check_parents(territories, rejected)
    return PopulationFile(path, kept, sorted(errors + orphans, key=lambda e: e.line))


def _last_filled(values: list[str]) -> int:
    return max((i + 1 for i, v in enumerate(values) if v.strip()), default=0)


def _key_of(row: dict[str, str]) -> Key | None:
    """A rejected row's (oktmo, year), when both can be read: its children name it."""
    try:
        return (_oktmo(row.get("oktmo", "").strip(), "oktmo"), parse_whole(row.get("year", "")))
    except ValueError:
        return None


def choose_region(file: PopulationFile, oktmo: str | None = None) -> str:
    """The OKTMO of the region row to import: the file's only one, or `oktmo`, which must be
    one of its region rows; PopulationFileError otherwise."""
    regions: dict[str, Territory] = {}
    for t in file.territories:
        if t.level == "region":
            regions.setdefault(t.oktmo, t)
    rejected = f" ({len(file.errors)} rows were rejected)" if file.errors else ""
    if not regions:
        raise PopulationFileError(
            f"{file.path}: no valid region row (level region, OKTMO XX000000){rejected}"
        )
    listed = "; ".join(
        f"{t.oktmo} {t.name} (line {t.source_line})"
        for t in list(regions.values())[:_LISTED_REGIONS]
    )
    if len(regions) > _LISTED_REGIONS:
        listed += f"; {len(regions) - _LISTED_REGIONS} more"
    if oktmo is None:
        if len(regions) > 1:
            raise PopulationFileError(
                f"{file.path}: {len(regions)} region rows, name the one to import with "
                f"--oktmo: {listed}"
            )
        return next(iter(regions))
    code = normalize_oktmo(oktmo)
    if code not in regions:
        raise PopulationFileError(
            f"{file.path}: OKTMO {code} is no region row of this file{rejected}; "
            f"its region rows: {listed}"
        )
    return code


def store_population(
    file: PopulationFile, warehouse: Path, *, region_code: int, oktmo: str | None = None
) -> PopulationImport:
    """Store the chosen region's territories as region `region_code`, replacing in one
    transaction what raw.population holds of that region for the years they cover."""
    if region_code not in REGIONS:
        raise ValueError(f"unknown region code {region_code}")
    region_oktmo = choose_region(file, oktmo)
    rows = [t for t in file.territories if t.region_oktmo == region_oktmo]
    years = tuple(sorted({t.year for t in rows}))
    loaded_at = datetime.now()
    with connect(warehouse) as con:
        con.execute("begin transaction")
        try:
            con.execute(
                "create or replace temp table _population_in as "
                "select * from raw.population limit 0"
            )
            bulk_insert(
                con,
                "_population_in",
                [
                    (
                        region_code,
                        t.oktmo,
                        t.name,
                        t.level,
                        t.parent_oktmo,
                        t.population,
                        t.year,
                        file.path.name,
                        t.source_line,
                        loaded_at,
                    )
                    for t in rows
                ],
            )
            _refuse_other_regions(con, file.path, region_code, region_oktmo)
            con.execute(
                "delete from raw.population where region_code = ? "
                "and year in (select distinct year from _population_in)",
                [region_code],
            )
            con.execute("insert into raw.population select * from _population_in")
            con.execute("drop table _population_in")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    return PopulationImport(
        path=file.path,
        region_code=region_code,
        region_oktmo=region_oktmo,
        stored=len(rows),
        skipped_other_regions=len(file.territories) - len(rows),
        errors=tuple(file.errors),
        years=years,
    )


def _refuse_other_regions(con, path: Path, region_code: int, region_oktmo: str) -> None:
    """An OKTMO code belongs to one region, and a region to one region row: a file stored under
    the wrong --region would otherwise replace another region's figures."""
    clash = con.execute(
        "select p.oktmo, p.region_code, any_value(p.name) from raw.population p "
        "where p.region_code <> ? and p.oktmo in (select oktmo from _population_in) "
        "group by all order by p.oktmo limit 1",
        [region_code],
    ).fetchone()
    if clash:
        raise PopulationFileError(
            f"{path}: OKTMO {clash[0]} ({clash[2]}) is stored for region {clash[1]}, not "
            f"{region_code}: is --region right?"
        )
    other = con.execute(
        "select oktmo, any_value(name) from raw.population "
        "where region_code = ? and level = 'region' and oktmo <> ? group by all limit 1",
        [region_code, region_oktmo],
    ).fetchone()
    if other:
        raise PopulationFileError(
            f"{path}: region {region_code}'s stored region row is OKTMO {other[0]} "
            f"({other[1]}), this file's is {region_oktmo}: is --region right?"
        )


def import_population(
    path: Path | str,
    warehouse: Path,
    *,
    region_code: int,
    oktmo: str | None = None,
    today: date | None = None,
) -> PopulationImport:
    """Validate a population file and store one region's territories (see store_population);
    bad rows are returned with their lines, never stored. Raises PopulationFileError (naming
    the file) when the file as a whole cannot be imported; nothing is written then."""
    return store_population(
        validate_population(path, today=today),
        Path(warehouse),
        region_code=region_code,
        oktmo=oktmo,
    )

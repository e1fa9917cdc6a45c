"""A bundle's manifest.json read as untrusted input: strict types, names and dates.

A region's bundle comes from outside the federal server. Nothing in it is trusted until it
passes parse_manifest: every field the loader uses has its JSON type checked exactly (an
integer is not `true` or `1.0`), every file name has the one shape docs/bundle_contract.md
allows (so it can neither leave the bundle nor carry SQL), the region is the folder's, the
dates are plausible, and a bundle lists at least one mart. What the loader does with the
result never turns a manifest value into SQL text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta

from gospulse.serving.bundle import SCHEMA_VERSION

# bundle schema versions this loader reads (docs/bundle_contract.md)
SUPPORTED_SCHEMA_VERSIONS = frozenset({2, 3, SCHEMA_VERSION})
EARLIEST_DATE = date(2000, 1, 1)
# `<created_at UTC>_<run id made safe>_<8 hex>`, as gospulse.serving.bundle._bundle_id writes
BUNDLE_ID = re.compile(r"\d{8}T\d{6}Z_[A-Za-z0-9_.-]{1,60}_[0-9a-f]{8}")
MART_NAME = re.compile(r"mart_[a-z0-9_]{1,58}")
MART_FILE = re.compile(r"marts/(mart_[a-z0-9_]{1,58})\.parquet")
SKETCH_FILE = re.compile(r"sketches/([a-z]{2,8})_(\d{4}-\d{2}-\d{2})\.gphl")
REPORT_FILE = re.compile(r"reports/(\d{4}-(?:0[1-9]|1[0-2]))/report\.(?:html|xlsx)")
SHA256 = re.compile(r"[0-9a-f]{64}")
# the LATEST pointer: `<snapshot date>/<bundle id>`, relative to the region's folder
LATEST = re.compile(r"(\d{4}-\d{2}-\d{2})/(" + BUNDLE_ID.pattern + r")")


class ManifestError(ValueError):
    """The manifest (or LATEST) breaks the bundle contract; the message says where."""


@dataclass(frozen=True)
class BundleFile:
    """One file a manifest lists, as the loader may use it."""

    name: str
    kind: str  # mart | sketch | report
    mart: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """The fields of a manifest the federal loader relies on, all checked."""

    schema_version: int
    bundle_id: str
    region_code: int
    snapshot_date: date
    files: tuple[BundleFile, ...]

    @property
    def reports(self) -> tuple[BundleFile, ...]:
        return tuple(f for f in self.files if f.kind == "report")

    @property
    def marts(self) -> tuple[BundleFile, ...]:
        return tuple(f for f in self.files if f.kind == "mart")

    @property
    def sketches(self) -> tuple[BundleFile, ...]:
        return tuple(f for f in self.files if f.kind == "sketch")


def _int(value: object, where: str, *, minimum: int = 0) -> int:
    # bool is an int in Python and 1.0 compares equal to 1: neither is a JSON integer here
    if type(value) is not int or value < minimum:
        raise ManifestError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _str(value: object, where: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ManifestError(f"{where} must match {pattern.pattern}, got {value!r:.80}")
    return value


def plausible_date(text: object, where: str, today: date) -> date:
    """A `YYYY-MM-DD` date from 2000-01-01 to the day after `today`."""
    try:
        day = date.fromisoformat(_str(text, where, re.compile(r"\d{4}-\d{2}-\d{2}")))
    except ValueError as exc:
        raise ManifestError(f"{where} is not a date: {text!r}") from exc
    if not EARLIEST_DATE <= day <= today + timedelta(days=1):
        raise ManifestError(
            f"{where} {day} is not plausible: before {EARLIEST_DATE} or after {today} + 1 day"
        )
    return day


def parse_latest(text: str, today: date) -> tuple[date, str]:
    """LATEST's `<snapshot date>/<bundle id>`; any other shape (`..`, absolute, a link
    elsewhere) is refused before anything is fetched."""
    value = text.strip()
    match = LATEST.fullmatch(value)
    if match is None:
        raise ManifestError(f"LATEST must be <YYYY-MM-DD>/<bundle id>, got {value!r:.80}")
    return plausible_date(match.group(1), "LATEST's date", today), match.group(2)


def _file(entry: object, index: int) -> BundleFile:
    where = f"files[{index}]"
    if not isinstance(entry, dict):
        raise ManifestError(f"{where} must be an object, got {type(entry).__name__}")
    kind = entry.get("kind")
    if kind == "mart":
        name = _str(entry.get("name"), f"{where}.name", MART_FILE)
        mart = _str(entry.get("mart"), f"{where}.mart", MART_NAME)
        matched = MART_FILE.fullmatch(name)
        assert matched is not None  # _str checked the name against it
        if matched.group(1) != mart:
            raise ManifestError(f"{where}: file {name} does not hold mart {mart}")
    elif kind == "sketch":
        name = _str(entry.get("name"), f"{where}.name", SKETCH_FILE)
        mart = _str(entry.get("mart"), f"{where}.mart", MART_NAME)
    elif kind == "report":
        # a closed month's report (schema 3): kept as a file, never read into the warehouse
        name = _str(entry.get("name"), f"{where}.name", REPORT_FILE)
        month = _str(entry.get("month"), f"{where}.month", re.compile(r"\d{4}-\d{2}"))
        matched = REPORT_FILE.fullmatch(name)
        assert matched is not None  # _str checked the name against it
        if matched.group(1) != month:
            raise ManifestError(f"{where}: file {name} is not the report of {month}")
        mart = ""
    else:
        raise ManifestError(f"{where}.kind must be mart, sketch or report, got {kind!r:.40}")
    return BundleFile(
        name=name,
        kind=kind,
        mart=mart,
        rows=_int(entry.get("rows"), f"{where}.rows"),
        bytes=_int(entry.get("bytes"), f"{where}.bytes"),
        sha256=_str(entry.get("sha256"), f"{where}.sha256", SHA256),
    )


def parse_manifest(raw: bytes, *, region_code: int, today: date) -> Manifest:
    """The manifest of a bundle found under `region=<region_code>`, or ManifestError."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"not UTF-8 JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"must be a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ManifestError(
            f"schema_version {version!r} not supported "
            f"(this loader reads the integers {sorted(SUPPORTED_SCHEMA_VERSIONS)})"
        )
    region = data.get("region")
    if not isinstance(region, dict):
        raise ManifestError("region must be an object with an integer code")
    code = _int(region.get("code"), "region.code", minimum=1)
    if code != region_code:
        raise ManifestError(f"region.code {code} is not the folder's region {region_code}")
    files = data.get("files")
    if not isinstance(files, list):
        raise ManifestError("files must be a list")
    parsed = tuple(_file(entry, i) for i, entry in enumerate(files))
    names = [f.name for f in parsed]
    if len(set(names)) != len(names):
        raise ManifestError("files lists a file twice")
    marts = [f.mart for f in parsed if f.kind == "mart"]
    if not marts:
        raise ManifestError("files lists no mart: an empty bundle replaces nothing")
    if len(set(marts)) != len(marts):
        raise ManifestError("files lists a mart twice")
    return Manifest(
        schema_version=version,
        bundle_id=_str(data.get("bundle_id"), "bundle_id", BUNDLE_ID),
        region_code=code,
        snapshot_date=plausible_date(data.get("snapshot_date"), "snapshot_date", today),
        files=parsed,
    )

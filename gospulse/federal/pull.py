"""Pull regions' latest export bundles, verify them, and load them into a federal DuckDB.

Sources are bundle roots as fsspec URLs: a local path, `http(s)://host/root` (a static file
server; each region's LATEST is fetched by name since HTTP cannot list reliably, so the
regions to try are every code of gospulse.regions), or `s3://bucket/prefix` (endpoint from
$GOSPULSE_S3_ENDPOINT_URL for S3-compatible storage).

Per region: read LATEST, download the bundle into a temp dir, check the manifest's
schema_version against SUPPORTED_SCHEMA_VERSIONS and every file's size, sha256 and row
count. A bundle failing any check is rejected with the region, bundle and file in the reason
and nothing of that region changes; a good one replaces the region's rows in every
`bundles.<mart>` table in one transaction. Every attempt is a row of bundles.pulls.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import fsspec

from gospulse.audience.federal import BadSketchBundle, RegionSketch
from gospulse.regions import REGIONS
from gospulse.serving.bundle import MANIFEST, SCHEMA_VERSION, sha256_file
from gospulse.serving.layout import LATEST_FILE

# Bundle schema versions this loader reads. Version 1 is the first published contract.
SUPPORTED_SCHEMA_VERSIONS = frozenset({SCHEMA_VERSION})
S3_ENDPOINT_ENV = "GOSPULSE_S3_ENDPOINT_URL"
SOURCES_ENV = "GOSPULSE_FEDERAL_SOURCES"

PULLS_DDL = """
create schema if not exists bundles;
create schema if not exists marts;
create table if not exists bundles.pulls (
    pulled_at timestamp not null,
    source varchar not null,
    region_code integer not null,
    bundle_id varchar,
    snapshot_date date,
    status varchar not null,  -- loaded | unchanged | rejected
    reason varchar
);
create table if not exists bundles.region_sketches (
    bundle_region_code integer not null,
    bundle_id varchar not null,
    network varchar not null,
    audience_date date not null,
    hll_lg_k integer not null,
    sketch blob not null
);
create table if not exists bundles.loaded (
    region_code integer primary key,
    bundle_id varchar not null,
    snapshot_date date not null,
    schema_version integer not null,
    source varchar not null,
    loaded_at timestamp not null
);
"""


class BundleRejected(Exception):
    """A bundle that fails verification; the message names region, bundle and file."""


@dataclass(frozen=True)
class PullResult:
    """What happened to one region's latest bundle from one source."""

    source: str
    region_code: int
    bundle_id: str | None
    status: str
    reason: str | None = None
    snapshot_date: str | None = None

    def describe(self) -> str:
        tail = f": {self.reason}" if self.reason else ""
        return f"region {self.region_code:02d} {self.bundle_id or '-'} {self.status}{tail}"


def parse_sources(value: str | None) -> list[str]:
    """Sources from a comma- or whitespace-separated string (as in GOSPULSE_FEDERAL_SOURCES)."""
    if not value:
        return []
    return [s for s in value.replace(",", " ").split() if s]


def _filesystem(source: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem of a source and the root path inside it."""
    options: dict = {}
    if source.startswith("s3://"):
        endpoint = os.environ.get(S3_ENDPOINT_ENV)
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
    fs, root = fsspec.core.url_to_fs(source, **options)
    if source.startswith(("http://", "https://")):
        root = source  # the http filesystem takes whole URLs
    return fs, root.rstrip("/")


def _region_codes(fs: fsspec.AbstractFileSystem, root: str, source: str) -> list[int]:
    """Regions with a bundle directory under a source."""
    if source.startswith(("http://", "https://")):
        # static servers have no reliable listing; ask every region for its LATEST
        return sorted(REGIONS)
    codes = []
    for entry in fs.ls(root, detail=False):
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith("region=") and name[7:].isdigit():
            codes.append(int(name[7:]))
    return sorted(codes)


def pull(sources: list[str], federal_warehouse: Path | str) -> list[PullResult]:
    """Pull every region's latest bundle from every source into the federal warehouse.

    Returns one result per region found. Regions missing from a source are not errors; an
    unreachable source raises (a typo in the source list must not look like an empty pull).
    """
    if not sources:
        raise ValueError(f"no bundle sources given (set {SOURCES_ENV} or pass --from)")
    federal_warehouse = Path(federal_warehouse)
    if federal_warehouse.stem in ("bundles", "marts"):
        # DuckDB names the catalog after the file; it would shadow the schema of that name
        raise ValueError(f"federal warehouse {federal_warehouse}: a file named after the "
                         "schema bundles or marts makes DuckDB names ambiguous")  # fmt: skip
    federal_warehouse.parent.mkdir(parents=True, exist_ok=True)
    results: list[PullResult] = []
    con = duckdb.connect(str(federal_warehouse))
    try:
        con.execute(PULLS_DDL)
        for source in sources:
            fs, root = _filesystem(source)
            if not source.startswith(("http://", "https://")) and not fs.exists(root):
                raise FileNotFoundError(f"bundle source {source} does not exist")
            for code in _region_codes(fs, root, source):
                result = _pull_region(con, fs, root, source, code)
                if result is None:
                    continue
                results.append(result)
                con.execute(
                    "insert into bundles.pulls values (?,?,?,?,?,?,?)",
                    [datetime.now(UTC).replace(tzinfo=None), source, code, result.bundle_id,
                     result.snapshot_date, result.status, result.reason],
                )  # fmt: skip
    finally:
        con.close()
    return results


def _pull_region(
    con: duckdb.DuckDBPyConnection,
    fs: fsspec.AbstractFileSystem,
    root: str,
    source: str,
    code: int,
) -> PullResult | None:
    region_root = f"{root}/region={code:02d}"
    try:
        latest = fs.cat_file(f"{region_root}/{LATEST_FILE}").decode("utf-8").strip()
    except FileNotFoundError:
        return None  # this source has nothing for the region
    bundle_id = latest.rsplit("/", 1)[-1]
    known = con.execute(
        "select bundle_id, snapshot_date from bundles.loaded where region_code = ?", [code]
    ).fetchone()
    if known and known[0] == bundle_id:
        return PullResult(source, code, bundle_id, "unchanged")
    with tempfile.TemporaryDirectory(prefix=f"gospulse-bundle-{code:02d}-") as tmp:
        try:
            manifest = _download_and_verify(fs, f"{region_root}/{latest}", Path(tmp), code)
            # a LATEST moved back (restored backup, second source lagging) must not replace
            # newer data; a rerun of the same day does
            if known and str(manifest["snapshot_date"]) < known[1].isoformat():
                raise BundleRejected(
                    f"region {code:02d} bundle {bundle_id}: snapshot {manifest['snapshot_date']} "
                    f"is older than the loaded {known[1].isoformat()} (bundle {known[0]})"
                )
            _load(con, Path(tmp), manifest, source)
        except BundleRejected as exc:
            return PullResult(source, code, bundle_id, "rejected", str(exc))
    return PullResult(source, code, bundle_id, "loaded", None, manifest["snapshot_date"])


def _download_and_verify(
    fs: fsspec.AbstractFileSystem, remote: str, local: Path, code: int
) -> dict:
    """Download a bundle into `local` and check it against its manifest; the manifest."""
    where = f"region {code:02d} bundle {remote.rsplit('/', 1)[-1]}"
    try:
        raw = fs.cat_file(f"{remote}/{MANIFEST}")
    except FileNotFoundError as exc:
        raise BundleRejected(f"{where}: {MANIFEST} missing") from exc
    try:
        manifest = json.loads(raw.decode("utf-8"))
        version = manifest["schema_version"]
        files = manifest["files"]
        region = int(manifest["region"]["code"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleRejected(f"{where}: {MANIFEST} unreadable ({exc})") from exc
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise BundleRejected(
            f"{where}: schema_version {version} not supported "
            f"(this loader reads {sorted(SUPPORTED_SCHEMA_VERSIONS)})"
        )
    if region != code:
        raise BundleRejected(f"{where}: manifest is for region {region}")
    for entry in files:
        name = entry["name"]
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", str(entry.get("mart", ""))):
            # the mart name becomes a table name in the federal warehouse
            raise BundleRejected(f"{where}: file {name} has an invalid mart name "
                                 f"{entry.get('mart')!r}")  # fmt: skip
        if name.startswith("/") or ".." in name.split("/"):
            raise BundleRejected(f"{where}: file name {name!r} escapes the bundle")
        target = local / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fs.get_file(f"{remote}/{name}", str(target))
        except FileNotFoundError as exc:
            raise BundleRejected(f"{where}: file {name} missing") from exc
        size = target.stat().st_size
        if size != entry["bytes"]:
            raise BundleRejected(f"{where}: file {name} has {size} bytes, manifest says "
                                 f"{entry['bytes']}")  # fmt: skip
        digest = sha256_file(target)
        if digest != entry["sha256"]:
            raise BundleRejected(f"{where}: file {name} sha256 {digest} does not match "
                                 f"manifest {entry['sha256']}")  # fmt: skip
        if entry["kind"] == "mart":
            try:
                (rows,) = duckdb.sql(
                    f"select count(*) from read_parquet('{target.as_posix()}')"
                ).fetchone()
            except duckdb.Error as exc:
                raise BundleRejected(f"{where}: file {name} is not readable Parquet "
                                     f"({exc})") from exc  # fmt: skip
            if rows != entry["rows"]:
                raise BundleRejected(f"{where}: file {name} has {rows} rows, manifest says "
                                     f"{entry['rows']}")  # fmt: skip
        elif entry["kind"] == "sketch":
            try:
                sketch = RegionSketch.from_bytes(target.read_bytes())
            except BadSketchBundle as exc:
                raise BundleRejected(f"{where}: file {name}: {exc}") from exc
            if sketch.region_code != code:
                raise BundleRejected(f"{where}: file {name} is a sketch of region "
                                     f"{sketch.region_code}")  # fmt: skip
        else:
            raise BundleRejected(f"{where}: file {name} has unknown kind {entry['kind']!r}")
    return manifest


def _load(con: duckdb.DuckDBPyConnection, local: Path, manifest: dict, source: str) -> None:
    """Replace the region's rows in every bundles table, all in one transaction."""
    code = int(manifest["region"]["code"])
    bundle_id = manifest["bundle_id"]
    con.execute("begin transaction")
    try:
        for entry in manifest["files"]:
            if entry["kind"] != "mart":
                continue
            table = f'bundles."{entry["mart"]}"'
            path = (local / entry["name"]).as_posix()
            select = (
                f"select *, {code}::integer as bundle_region_code, "
                f"'{_sql_str(bundle_id)}'::varchar as bundle_id from read_parquet('{path}')"
            )
            # the first region creates the table with the bundle's columns; later ones insert
            # by name so a column order difference cannot swap values
            con.execute(f"create table if not exists {table} as {select} limit 0")
            _add_new_columns(con, entry["mart"], select)
            con.execute(f"delete from {table} where bundle_region_code = ?", [code])
            con.execute(f"insert into {table} by name {select}")
        con.execute("delete from bundles.region_sketches where bundle_region_code = ?", [code])
        for entry in manifest["files"]:
            if entry["kind"] != "sketch":
                continue
            sketch = RegionSketch.from_bytes((local / entry["name"]).read_bytes())
            con.execute(
                "insert into bundles.region_sketches values (?,?,?,?,?,?)",
                [code, bundle_id, sketch.network, sketch.audience_date, sketch.lg_k,
                 sketch.sketch],
            )  # fmt: skip
        con.execute(
            "insert or replace into bundles.loaded values (?,?,?,?,?,?)",
            [code, bundle_id, manifest["snapshot_date"], manifest["schema_version"], source,
             datetime.now(UTC).replace(tzinfo=None)],
        )  # fmt: skip
        con.execute("commit")
    except duckdb.Error as exc:
        con.execute("rollback")
        raise BundleRejected(
            f"region {code:02d} bundle {bundle_id}: load failed, previous data kept ({exc})"
        ) from exc
    except BaseException:
        con.execute("rollback")
        raise


def _add_new_columns(con: duckdb.DuckDBPyConnection, mart: str, select: str) -> None:
    """Give a bundles table the columns a newer compatible bundle added (contract: additive).

    Rows of regions that sent older bundles get NULL there until they send a newer one.
    """
    have = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'bundles' and table_name = ?",
            [mart],
        ).fetchall()
    }
    for name, type_, *_ in con.execute(f"describe {select}").fetchall():
        if name not in have:
            con.execute(f'alter table bundles."{mart}" add column "{name}" {type_}')


def _sql_str(value: str) -> str:
    return value.replace("'", "''")

"""Pull regions' latest export bundles, verify them, and load them into a federal DuckDB.

Sources are bundle roots as fsspec URLs: a local path, `http(s)://host/root` (a static file
server; each region's LATEST is fetched by name since HTTP cannot list reliably, so the
regions to try are every code of gospulse.regions), or `s3://bucket/prefix` (endpoint from
$GOSPULSE_S3_ENDPOINT_URL for S3-compatible storage).

A bundle is untrusted input. Per region: LATEST must name `<date>/<bundle id>` inside the
region's folder; the manifest must pass gospulse.federal.manifest.parse_manifest (strict types,
the folder's region, plausible dates, at least one mart); on a local source no path may be or
pass through a symbolic link; every file is downloaded under a name of ours and checked for
size, sha256 and row count, and every mart row must belong to the region. No value from a
bundle becomes SQL text: files are read by path as a bound parameter, and the bundle id and
region are bound too. A bundle failing any check is rejected with the region, bundle and file
in the reason and nothing of that region changes; a good one replaces the region's rows in
every `bundles.<mart>` table in one transaction. Every attempt is a row of bundles.pulls, and
one region's bad bundle never stops the others.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import fsspec
from fsspec.implementations.local import LocalFileSystem

from gospulse.audience.federal import BadSketchBundle, RegionSketch
from gospulse.config import settings
from gospulse.config.regions import REGIONS
from gospulse.federal.manifest import (
    BundleFile,
    Manifest,
    ManifestError,
    parse_latest,
    parse_manifest,
)
from gospulse.serving.bundle import MANIFEST, REPORTS_DIR, sha256_file
from gospulse.serving.layout import LATEST_FILE

log = logging.getLogger(__name__)

# what a mart column may be called and hold: the names become identifiers of the federal
# warehouse's tables, the types column definitions
COLUMN_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
COLUMN_TYPES = frozenset(
    {"VARCHAR", "DATE", "BIGINT", "INTEGER", "BOOLEAN", "TIMESTAMP", "DOUBLE", "BLOB"}
)
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
        endpoint = settings.read(S3_ENDPOINT_ENV)
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


def pull(
    sources: list[str], federal_warehouse: Path | str, *, today: date | None = None
) -> list[PullResult]:
    """Pull every region's latest bundle from every source into the federal warehouse.

    Returns one result per region found. Regions missing from a source are not errors; an
    unreachable source raises (a typo in the source list must not look like an empty pull).
    `today` (default: the UTC date) bounds the snapshot dates a bundle may carry.
    """
    today = today or datetime.now(UTC).date()
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
                listed = not source.startswith(("http://", "https://"))
                result = _pull_region(
                    con, fs, root, source, code, listed=listed, today=today,
                    reports_root=federal_warehouse.parent / REPORTS_DIR,
                )  # fmt: skip
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
    *,
    listed: bool,
    today: date,
    reports_root: Path,
) -> PullResult | None:
    """One region's latest bundle: loaded, unchanged or rejected (with the reason); None when
    a source that cannot list (HTTP) has nothing for the region."""
    region_root = f"{root}/region={code:02d}"
    try:
        _local_guard(fs, region_root, f"{region_root}/{LATEST_FILE}")
        day, bundle_id = parse_latest(fs.cat_file(f"{region_root}/{LATEST_FILE}").decode(), today)
    except FileNotFoundError:
        if not listed:
            return None  # a server without listings: this region has no bundle there
        return PullResult(source, code, None, "rejected",
                          f"region {code:02d}: {LATEST_FILE} missing: the region's folder "
                          "points to no bundle")  # fmt: skip
    except (ManifestError, BundleRejected, UnicodeDecodeError) as exc:
        return PullResult(source, code, None, "rejected", f"region {code:02d}: {exc}")
    known = con.execute(
        "select bundle_id, snapshot_date from bundles.loaded where region_code = ?", [code]
    ).fetchone()
    if known and known[0] == bundle_id:
        return PullResult(source, code, bundle_id, "unchanged")
    where = f"region {code:02d} bundle {bundle_id}"
    try:
        with tempfile.TemporaryDirectory(prefix=f"gospulse-bundle-{code:02d}-") as tmp:
            remote = f"{region_root}/{day.isoformat()}/{bundle_id}"
            manifest, local = _download_and_verify(fs, region_root, remote, Path(tmp), code, today)
            if manifest.bundle_id != bundle_id or manifest.snapshot_date != day:
                named = f"{manifest.snapshot_date}/{manifest.bundle_id}"
                raise BundleRejected(f"{where}: {LATEST_FILE} names it, the manifest {named}")
            # a LATEST moved back (restored backup, second source lagging) must not replace
            # newer data; a rerun of the same day does. A loaded date that is itself
            # implausible (stored before dates were checked) holds nothing back.
            loaded = known[1] if known else None
            if loaded and loaded <= today + timedelta(days=1) and day < loaded:
                assert known is not None  # loaded came from it
                raise BundleRejected(
                    f"{where}: snapshot {day} is older than the loaded {loaded} (bundle {known[0]})"
                )
            _load(con, local, manifest, source)
            _keep_reports(local, manifest, reports_root)
    except (BundleRejected, ManifestError) as exc:
        reason = str(exc) if str(exc).startswith("region ") else f"{where}: {exc}"
        return PullResult(source, code, bundle_id, "rejected", reason)
    except Exception as exc:  # a hostile bundle must not stop the other regions' pulls
        log.exception("%s: unexpected error while verifying or loading", where)
        return PullResult(source, code, bundle_id, "rejected",
                          f"{where}: {type(exc).__name__}: {exc}")  # fmt: skip
    return PullResult(source, code, bundle_id, "loaded", None, day.isoformat())


def _keep_reports(local: dict[str, Path], manifest: Manifest, reports_root: Path) -> None:
    """A loaded bundle's reports, under <reports root>/region=<code>/<month>/ by names the
    manifest check allowed (report.html, report.xlsx), never opened or served from here."""
    for entry in manifest.reports:
        month, name = entry.name.split("/")[1:]
        folder = reports_root / f"region={manifest.region_code:02d}" / month
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local[entry.name], folder / name)


def _local_guard(fs: fsspec.AbstractFileSystem, region_root: str, path: str) -> None:
    """On a local source, `path` and every folder above it up to the region's folder are plain
    (no symbolic link), and the path resolves inside the region's folder."""
    if not isinstance(fs, LocalFileSystem):
        return  # object stores and HTTP have no links
    base, target = Path(region_root), Path(path)
    if base.is_symlink():
        raise BundleRejected(f"{base.name} is a symbolic link")
    inside = base
    for part in target.relative_to(base).parts:
        inside = inside / part
        if inside.is_symlink():
            raise BundleRejected(f"{inside.relative_to(base)} is a symbolic link")
    if not target.resolve().is_relative_to(base.resolve()):
        raise BundleRejected(f"{target.relative_to(base)} resolves outside the region's folder")


def _download_and_verify(
    fs: fsspec.AbstractFileSystem,
    region_root: str,
    remote: str,
    local: Path,
    code: int,
    today: date,
) -> tuple[Manifest, dict[str, Path]]:
    """Download a bundle's files under names of our own and check each against the manifest.

    Returns the manifest and where each listed file was put. Parquet is read by DuckDB with the
    local path as a bound parameter; every mart must carry region_code, equal to `code` on
    every row, and only column names and types the contract allows."""
    try:
        _local_guard(fs, region_root, f"{remote}/{MANIFEST}")
        raw = fs.cat_file(f"{remote}/{MANIFEST}")
    except FileNotFoundError as exc:
        raise BundleRejected(f"{MANIFEST} missing") from exc
    try:
        manifest = parse_manifest(raw, region_code=code, today=today)
    except ManifestError as exc:
        raise BundleRejected(f"{MANIFEST}: {exc}") from exc
    paths: dict[str, Path] = {}
    for index, entry in enumerate(manifest.files):
        suffix = {"mart": "parquet", "sketch": "sketch", "report": "report"}[entry.kind]
        target = local / f"{index:04d}.{suffix}"
        try:
            _local_guard(fs, region_root, f"{remote}/{entry.name}")
            fs.get_file(f"{remote}/{entry.name}", str(target))
        except FileNotFoundError as exc:
            raise BundleRejected(f"file {entry.name} missing") from exc
        size = target.stat().st_size
        if size != entry.bytes:
            raise BundleRejected(f"file {entry.name} has {size} bytes, manifest says {entry.bytes}")
        digest = sha256_file(target)
        if digest != entry.sha256:
            raise BundleRejected(f"file {entry.name} sha256 {digest} does not match "
                                 f"manifest {entry.sha256}")  # fmt: skip
        if entry.kind == "mart":
            _verify_mart(target, entry, code)
        elif entry.kind == "report":
            pass  # a file for people, kept as it came (size and sha256 checked above)
        else:
            try:
                sketch = RegionSketch.from_bytes(target.read_bytes())
            except BadSketchBundle as exc:
                raise BundleRejected(f"file {entry.name}: {exc}") from exc
            if sketch.region_code != code:
                raise BundleRejected(f"file {entry.name} is a sketch of region "
                                     f"{sketch.region_code}")  # fmt: skip
        paths[entry.name] = target
    return manifest, paths


def _verify_mart(path: Path, entry: BundleFile, code: int) -> None:
    """Rows as listed, columns of the contract's names and types, every row of region `code`."""
    con = duckdb.connect()
    try:
        columns = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
        for name, type_, *_ in columns:
            if not COLUMN_NAME.fullmatch(name) or type_ not in COLUMN_TYPES:
                raise BundleRejected(f"file {entry.name}: column {name!r:.70} of type "
                                     f"{type_!r:.40} is not one a mart may have")  # fmt: skip
        if "region_code" not in {name for name, *_ in columns}:
            raise BundleRejected(f"file {entry.name} has no region_code column")
        row = con.execute(
            "select count(*), count(*) filter (where region_code is distinct from ?) "
            "from read_parquet(?)",
            [code, str(path)],
        ).fetchone()
        assert row is not None
        rows, foreign = row
    except duckdb.Error as exc:
        raise BundleRejected(f"file {entry.name} is not readable Parquet ({exc})") from exc
    finally:
        con.close()
    if rows != entry.rows:
        raise BundleRejected(f"file {entry.name} has {rows} rows, manifest says {entry.rows}")
    if foreign:
        raise BundleRejected(f"file {entry.name}: {foreign} rows are not of region {code:02d}")


def _load(
    con: duckdb.DuckDBPyConnection, local: dict[str, Path], manifest: Manifest, source: str
) -> None:
    """Replace the region's rows in every bundles table, all in one transaction. Values from
    the bundle are bound parameters; a table name is a mart name the manifest check allowed."""
    code, bundle_id = manifest.region_code, manifest.bundle_id
    con.execute("begin transaction")
    try:
        for entry in manifest.marts:
            table = f'bundles."{entry.mart}"'
            select = (
                "select *, ?::integer as bundle_region_code, ?::varchar as bundle_id "
                "from read_parquet(?)"
            )
            params = [code, bundle_id, str(local[entry.name])]
            # the first region creates the table with the bundle's columns; later ones insert
            # by name so a column order difference cannot swap values
            con.execute(f"create table if not exists {table} as {select} limit 0", params)
            _add_new_columns(con, entry.mart, select, params)
            con.execute(f"delete from {table} where bundle_region_code = ?", [code])
            con.execute(f"insert into {table} by name {select}", params)
        con.execute("delete from bundles.region_sketches where bundle_region_code = ?", [code])
        for entry in manifest.sketches:
            sketch = RegionSketch.from_bytes(local[entry.name].read_bytes())
            con.execute(
                "insert into bundles.region_sketches values (?,?,?,?,?,?)",
                [code, bundle_id, sketch.network, sketch.audience_date, sketch.lg_k,
                 sketch.sketch],
            )  # fmt: skip
        con.execute(
            "insert or replace into bundles.loaded values (?,?,?,?,?,?)",
            [code, bundle_id, manifest.snapshot_date, manifest.schema_version, source,
             datetime.now(UTC).replace(tzinfo=None)],
        )  # fmt: skip
        con.execute("commit")
    except duckdb.Error as exc:
        con.execute("rollback")
        raise BundleRejected(f"load failed, previous data kept ({exc})") from exc
    except BaseException:
        con.execute("rollback")
        raise


def _add_new_columns(con: duckdb.DuckDBPyConnection, mart: str, select: str, params: list) -> None:
    """Give a bundles table the columns a newer compatible bundle added (contract: additive).

    Rows of regions that sent older bundles get NULL there until they send a newer one. The
    names and types were checked against COLUMN_NAME and COLUMN_TYPES (_verify_mart).
    """
    have = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'bundles' and table_name = ?",
            [mart],
        ).fetchall()
    }
    for name, type_, *_ in con.execute(f"describe {select}", params).fetchall():
        if name not in have:
            con.execute(f'alter table bundles."{mart}" add column "{name}" {type_}')

"""Export bundles: what a region hands to the federal level after each daily run.

A bundle is a directory of Parquet files (one per mart of the `marts` schema), the region's
audience union sketches (RegionSketch bytes, see gospulse.audience.federal) and a
`manifest.json` that lists every file with its size, sha256, row count and columns. The
contract is docs/bundle_contract.md; SCHEMA_VERSION changes whenever it does.

A bundle is built in a hidden temp directory next to its final place and renamed into
`<root>/region=<code>/<snapshot date>/<bundle id>/`, so a reader never sees half of one; an
existing bundle is never overwritten (a rerun of a day gets a new bundle id). LATEST is
replaced atomically afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from gospulse.audience.federal import RegionSketch
from gospulse.config.regions import get_region
from gospulse.raw.warehouse import connect
from gospulse.serving.layout import LATEST_FILE, region_dir
from gospulse.serving.publish import is_build_state
from gospulse.serving.read_views import VIEW_NAMES

# Bump on any change to the files, columns or meaning listed in docs/bundle_contract.md.
# 2: every mart file carries region_code, and the page-level marts hold the region's pages only
# 3: the region's newest closed-month report (HTML and XLSX) travels as kind "report"
SCHEMA_VERSION = 4
REPORTS_DIR = "reports"
MANIFEST = "manifest.json"
MARTS_DIR = "marts"
SKETCHES_DIR = "sketches"
SKETCH_MART = "mart_audience_region_sketches"
# where a page's region comes from for marts keyed by page (the API scopes them the same way)
PAGE_REGION_MART = "mart_page_health"


@dataclass(frozen=True)
class BundleInfo:
    """Where a bundle was written and what its manifest says."""

    path: Path
    bundle_id: str
    manifest: dict


def producer_version() -> str:
    """The gospulse version that wrote a bundle, for the manifest."""
    try:
        return version("gospulse")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0+unknown"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large marts do not sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _bundle_id(created_at: datetime, run_id: str) -> str:
    # Sortable by time; the run id tells which DAG run wrote it; the random tail keeps two
    # writes in the same second of the same run apart.
    safe_run = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)[:60] or "run"
    return f"{created_at:%Y%m%dT%H%M%SZ}_{safe_run}_{uuid.uuid4().hex[:8]}"


def write_bundle(
    db_path: Path | str,
    bundle_root: Path | str,
    *,
    region_code: int,
    snapshot_date: date,
    run_id: str,
) -> BundleInfo:
    """Write one region's export bundle from the `marts` schema of a DuckDB file.

    Every mart file holds the region's rows only, with region_code: marts with that column
    are filtered on it; the page-level ones (daily series and growth, keyed by page) keep the
    pages PAGE_REGION_MART places in the region, with its region_code added, so a warehouse
    of several regions hands each its own pages. Returns the final bundle directory; LATEST
    of the region points to it afterwards.
    """
    region = get_region(region_code)
    created_at = datetime.now(UTC).replace(microsecond=0)
    bundle_id = _bundle_id(created_at, run_id)
    day_dir = region_dir(bundle_root, region_code) / snapshot_date.isoformat()
    day_dir.mkdir(parents=True, exist_ok=True)
    final = day_dir / bundle_id
    tmp = day_dir / f".tmp-{bundle_id}"
    tmp.mkdir()
    try:
        files, covered = _write_files(Path(db_path), tmp, region_code)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "bundle_id": bundle_id,
            "region": {
                "code": region.code,
                "name": region.name,
                "federal_district": region.federal_district,
            },
            "snapshot_date": snapshot_date.isoformat(),
            "date_range": covered,
            "created_at": created_at.isoformat().replace("+00:00", "Z"),
            "run_id": run_id,
            "producer": {"name": "gospulse", "version": producer_version()},
            "files": files,
        }
        (tmp / MANIFEST).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        if final.exists():  # cannot happen with a random id; never overwrite if it does
            raise FileExistsError(f"bundle {final} already exists")
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _point_latest(region_dir(bundle_root, region_code), final)
    return BundleInfo(path=final, bundle_id=bundle_id, manifest=manifest)


def _point_latest(region_root: Path, bundle: Path) -> None:
    """Replace LATEST with the bundle's path relative to the region dir, atomically."""
    pointer = region_root / LATEST_FILE
    tmp = region_root / f".{LATEST_FILE}.{uuid.uuid4().hex}"
    tmp.write_text(bundle.relative_to(region_root).as_posix() + "\n", encoding="utf-8")
    os.replace(tmp, pointer)


def _write_files(db_path: Path, out: Path, region_code: int) -> tuple[list[dict], dict]:
    """Parquet per mart and the sketch files; their manifest entries and the dates covered."""
    (out / MARTS_DIR).mkdir()
    files: list[dict] = []
    with connect(db_path, read_only=True) as con:
        marts = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' order by table_name"
            ).fetchall()
            # a view computed when read (mart_growth_ranking) is not shipped: a federal reader
            # ranks the region's growth and registry itself. A mart dbt made a view (in a
            # warehouse; the published copy holds it as a table) is.
            if name not in VIEW_NAMES
        ]
        if not marts:
            raise ValueError(f"{db_path} has no tables in schema marts: nothing to bundle")
        for mart in marts:
            # a bundle made from a warehouse (gospulse federal bundle) leaves build state out
            # as the published copy does
            columns = [
                (column, dtype)
                for column, dtype in con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                    [mart],
                ).fetchall()
                if not is_build_state(column)
            ]
            select = _region_rows(mart, [c for c, _ in columns], marts)
            if not any(c == "region_code" for c, _ in columns):
                columns = [*columns, ("region_code", "INTEGER")]
            relative = f"{MARTS_DIR}/{mart}.parquet"
            target = out / relative
            con.execute(
                f"copy ({select}) to '{target.as_posix()}' (format parquet, compression zstd)",
                {"code": region_code},
            )
            row = con.execute(
                "select count(*) from read_parquet(?)", [target.as_posix()]
            ).fetchone()
            assert row is not None
            (rows,) = row
            files.append(
                _entry(target, relative, kind="mart", mart=mart, rows=rows, columns=columns)
            )
        covered = _date_range(con, out / MARTS_DIR / "mart_page_daily.parquet")
    for sketch in _latest_sketches(db_path, region_code, marts):
        relative = f"{SKETCHES_DIR}/{sketch.network}_{sketch.audience_date.isoformat()}.gphl"
        target = out / relative
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(sketch.to_bytes())
        entry = _entry(target, relative, kind="sketch", mart=SKETCH_MART, rows=1, columns=[])
        entry.update(network=sketch.network, audience_date=sketch.audience_date.isoformat())
        files.append(entry)
    for path, month in _newest_report(db_path, region_code):
        relative = f"{REPORTS_DIR}/{month}/{path.name}"
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        entry = _entry(target, relative, kind="report", mart="", rows=0, columns=[])
        del entry["mart"]
        entry["month"] = month
        files.append(entry)
    return files, covered


def _newest_report(db_path: Path, region_code: int) -> list[tuple[Path, str]]:
    """The region's newest closed-month report beside the published copy: (file, month)."""
    from gospulse.serving.layout import report_dir

    region = report_dir(db_path, region_code, "0000-00").parent
    months = sorted(
        (d.name for d in region.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]") if d.is_dir()),
        reverse=True,
    )
    for month in months:
        found = [region / month / n for n in ("report.html", "report.xlsx")]
        if all(f.is_file() for f in found):
            return [(f, month) for f in found]
    return []


def _region_rows(mart: str, columns: list[str], marts: list[str]) -> str:
    """The query of one region's rows of a mart ($code): the given columns (names from the
    catalog), each row with its region_code."""
    table = f'marts."{mart}"'
    picked = ", ".join(f'm."{c}"' for c in columns)
    if "region_code" in columns:
        return f"select {picked} from {table} m where m.region_code = $code"
    if {"network", "page_ref"} <= set(columns) and PAGE_REGION_MART in marts:
        return (
            f"select {picked}, p.region_code from {table} m join (select distinct network, "
            f"page_ref, region_code from marts.{PAGE_REGION_MART} where region_code = $code) p "
            "using (network, page_ref)"
        )
    raise ValueError(
        f"mart {mart} has neither region_code nor pages placed by {PAGE_REGION_MART}: "
        "it cannot be cut to one region"
    )


def _entry(path: Path, relative: str, *, kind: str, mart: str, rows: int, columns: list) -> dict:
    return {
        "name": relative,
        "kind": kind,
        "mart": mart,
        "rows": int(rows),
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "columns": [{"name": c, "type": t} for c, t in columns],
    }


def _date_range(con, daily: Path) -> dict:
    """First and last snapshot date of the region's daily series, the span the bundle
    describes (nulls without the mart)."""
    if not daily.exists():
        return {"first": None, "last": None}
    first, last = con.execute(
        "select min(snapshot_date), max(snapshot_date) from read_parquet(?)", [daily.as_posix()]
    ).fetchone()
    return {
        "first": first.isoformat() if first else None,
        "last": last.isoformat() if last else None,
    }


def _latest_sketches(db_path: Path, region_code: int, marts: list[str]) -> list[RegionSketch]:
    """The region's union sketches of its latest audience date (none without the mart)."""
    if SKETCH_MART not in marts:
        return []
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            f"""
            select region_code, network, audience_date, hll_lg_k, union_hll_sketch
            from marts.{SKETCH_MART}
            where region_code = $code and union_hll_sketch is not null
              and audience_date = (select max(audience_date) from marts.{SKETCH_MART}
                                   where region_code = $code)
            order by network
            """,
            {"code": region_code},
        ).fetchall()
    return [
        RegionSketch(region_code=c, network=n, audience_date=d, lg_k=k, sketch=bytes(b))
        for c, n, d, k, b in rows
    ]

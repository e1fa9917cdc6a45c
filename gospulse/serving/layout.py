"""Where published artefacts live next to a warehouse, so every reader finds them the same way.

    <warehouse dir>/published/gospulse_marts.duckdb read-only copy of the marts (atomic swap)
    <warehouse dir>/published/reports/region=<code>/<YYYY-MM>/   a closed month's report
    <bundle root>/region=<code>/<snapshot date>/<bundle id>/manifest.json + files
    <bundle root>/region=<code>/LATEST              relative path of the newest complete bundle

The bundle root is $GOSPULSE_BUNDLE_DIR, else <warehouse dir>/bundles.
"""

from __future__ import annotations

from pathlib import Path

from gospulse.config import settings

BUNDLE_DIR_ENV = "GOSPULSE_BUNDLE_DIR"
PUBLISHED_DIR = "published"
# not "marts.duckdb": DuckDB names a database after its file, and a catalog called "marts"
# makes every `marts.<table>` in a BI tool an ambiguous reference (catalog or schema)
PUBLISHED_FILE = "gospulse_marts.duckdb"
LATEST_FILE = "LATEST"
REPORTS_DIR = "reports"


def published_path(warehouse: Path | str) -> Path:
    """The read-only copy of a warehouse's marts that BI tools and the API open."""
    return Path(warehouse).resolve().parent / PUBLISHED_DIR / PUBLISHED_FILE


def report_dir(published: Path | str, region_code: int, month: str) -> Path:
    """Where a region's report of a closed month (YYYY-MM) is kept, beside the published copy
    it was written from."""
    return Path(published).parent / REPORTS_DIR / f"region={int(region_code):02d}" / month


def bundle_root(warehouse: Path | str) -> Path:
    """Where a region's export bundles are written: $GOSPULSE_BUNDLE_DIR or next to the file."""
    override = settings.read(BUNDLE_DIR_ENV)
    return Path(override) if override else Path(warehouse).resolve().parent / "bundles"


def region_dir(root: Path | str, region_code: int) -> Path:
    """All bundles of one region."""
    return Path(root) / f"region={int(region_code):02d}"


def latest_bundle(root: Path | str, region_code: int) -> Path | None:
    """The newest complete bundle directory of a region, or None when none was written yet."""
    pointer = region_dir(root, region_code) / LATEST_FILE
    if not pointer.is_file():
        return None
    bundle = region_dir(root, region_code) / pointer.read_text(encoding="utf-8").strip()
    if not (bundle / "manifest.json").is_file():
        raise FileNotFoundError(f"{pointer} names {bundle}, which holds no manifest.json")
    return bundle

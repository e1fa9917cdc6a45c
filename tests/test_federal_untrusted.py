"""The federal pull treats a region's bundle as untrusted input: each attack a probe tried on
it is refused with a reason in bundles.pulls, nothing of that region changes, and the other
regions of the same pull still load.

Bundles here are written by the real writer (gospulse.serving.bundle.write_bundle) from small
hand-made regional warehouses (no dbt needed), then tampered with as an attacker would.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from gospulse.federal.manifest import ManifestError, parse_latest, parse_manifest
from gospulse.federal.pull import pull
from gospulse.serving.bundle import MANIFEST, write_bundle
from gospulse.serving.layout import LATEST_FILE, region_dir

SNAPSHOT = date(2025, 3, 10)
TODAY = date(2025, 3, 11)


def regional_warehouse(path: Path, code: int, pages: dict[str, int] | None = None) -> Path:
    """A warehouse with three marts: one with region_code, two keyed by page (placed in their
    region by mart_page_health). `pages` maps page_ref to its region (default: 2 of `code`)."""
    pages = pages or {f"{code}01": code, f"{code}02": code}
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        con.execute(
            "create table marts.mart_region_growth as select ?::integer as region_code, "
            "'vk' as network, date '2025-03-01' as month_start, ?::bigint as growth",
            [code, code * 10],
        )
        con.execute(
            "create table marts.mart_page_health "
            "(network varchar, page_ref varchar, region_code integer)"
        )
        con.execute(
            "create table marts.mart_page_daily "
            "(network varchar, page_ref varchar, snapshot_date date, members_count bigint)"
        )
        for ref, region in pages.items():
            con.execute("insert into marts.mart_page_health values ('vk', ?, ?)", [ref, region])
            con.execute(
                "insert into marts.mart_page_daily values ('vk', ?, ?, 100), ('vk', ?, ?, 110)",
                [ref, SNAPSHOT - timedelta(days=1), ref, SNAPSHOT],
            )
    finally:
        con.close()
    return path


def good_bundle(root: Path, tmp: Path, code: int, day: date = SNAPSHOT, run: str = "r"):
    warehouse = tmp / f"r{code}-{run}.duckdb"
    if not warehouse.exists():
        regional_warehouse(warehouse, code)
    return write_bundle(warehouse, root, region_code=code, snapshot_date=day, run_id=run)


def rewrite_manifest(bundle_path: Path, change) -> None:
    manifest = json.loads((bundle_path / MANIFEST).read_text(encoding="utf-8"))
    change(manifest)
    (bundle_path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def describe_file(manifest: dict, name: str, path: Path) -> None:
    """Make the manifest entry of `name` agree with the file now at `path` (an attacker can)."""
    entry = next(f for f in manifest["files"] if f["name"] == name)
    entry["bytes"] = path.stat().st_size
    entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (entry["rows"],) = duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchone()


def results(root: Path, wh: Path, today: date = TODAY) -> dict[int, tuple[str, str | None]]:
    return {r.region_code: (r.status, r.reason) for r in pull([str(root)], wh, today=today)}


def loaded(wh: Path) -> dict[int, str]:
    with duckdb.connect(str(wh), read_only=True) as con:
        return dict(con.execute("select region_code, bundle_id from bundles.loaded").fetchall())


def pulls_logged(wh: Path) -> list[tuple]:
    with duckdb.connect(str(wh), read_only=True) as con:
        return con.execute(
            "select region_code, status, reason from bundles.pulls order by pulled_at, 1"
        ).fetchall()


@pytest.fixture
def root_and_wh(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "bundles", tmp_path / "federal.duckdb"


def assert_rejected_and_others_loaded(root: Path, wh: Path, tmp: Path, reason: str) -> None:
    """Region 42 (tampered) is refused with `reason`; region 54, pulled with it, loads."""
    good_bundle(root, tmp, 54)
    got = results(root, wh)
    assert got[54] == ("loaded", None), got
    status, why = got[42]
    assert status == "rejected" and reason in why, why
    assert 42 not in loaded(wh)
    assert (42, "rejected", why) in pulls_logged(wh)


# --- no manifest value becomes SQL ---------------------------------------------------------


def test_a_quote_in_a_file_name_runs_no_sql_and_writes_no_file(root_and_wh, tmp_path):
    root, wh = root_and_wh
    bundle = good_bundle(root, tmp_path, 42)
    pwned = tmp_path / "pwned.csv"
    evil = f"marts/x.parquet') ; copy (select 1) to '{pwned}' ; select ('"

    def inject(manifest):
        manifest["files"][0]["name"] = evil

    rewrite_manifest(bundle.path, inject)
    os.makedirs(bundle.path / "marts" / "x.parquet') ; copy (select 1) to '", exist_ok=True)
    assert_rejected_and_others_loaded(root, wh, tmp_path, "files[0].name must match")
    assert not pwned.exists()


def test_a_column_name_from_parquet_never_becomes_sql(root_and_wh, tmp_path):
    root, wh = root_and_wh
    bundle = good_bundle(root, tmp_path, 42)
    target = bundle.path / "marts" / "mart_region_growth.parquet"
    duckdb.sql(
        'copy (select 42::integer as region_code, 1 as "x"" integer); drop table '
        f"bundles.loaded; --\") to '{target}' (format parquet)"
    )
    rewrite_manifest(
        bundle.path, lambda m: describe_file(m, "marts/mart_region_growth.parquet", target)
    )
    assert_rejected_and_others_loaded(root, wh, tmp_path, "is not one a mart may have")


# --- rows of the bundle's own region only --------------------------------------------------


def test_rows_of_another_region_are_refused(root_and_wh, tmp_path):
    root, wh = root_and_wh
    bundle = good_bundle(root, tmp_path, 42)
    other = good_bundle(tmp_path / "elsewhere", tmp_path, 49)
    target = bundle.path / "marts" / "mart_region_growth.parquet"
    target.write_bytes((other.path / "marts" / "mart_region_growth.parquet").read_bytes())
    rewrite_manifest(
        bundle.path, lambda m: describe_file(m, "marts/mart_region_growth.parquet", target)
    )
    assert_rejected_and_others_loaded(root, wh, tmp_path, "1 rows are not of region 42")


def test_a_manifest_naming_another_region_is_refused(root_and_wh, tmp_path):
    root, wh = root_and_wh
    bundle = good_bundle(root, tmp_path, 42)
    rewrite_manifest(bundle.path, lambda m: m["region"].update(code=49))
    assert_rejected_and_others_loaded(root, wh, tmp_path, "region.code 49 is not the folder's")


def test_a_mart_file_linked_to_another_regions_file_is_refused(root_and_wh, tmp_path):
    root, wh = root_and_wh
    bundle = good_bundle(root, tmp_path, 42)
    other = good_bundle(root, tmp_path, 49)
    target = bundle.path / "marts" / "mart_page_daily.parquet"
    target.unlink()
    target.symlink_to(other.path / "marts" / "mart_page_daily.parquet")
    rewrite_manifest(
        bundle.path, lambda m: describe_file(m, "marts/mart_page_daily.parquet", target)
    )
    got = results(root, wh)
    assert got[49] == ("loaded", None)
    assert got[42][0] == "rejected"
    assert "marts/mart_page_daily.parquet is a symbolic link" in got[42][1]


def test_a_bundle_folder_linked_elsewhere_is_refused(root_and_wh, tmp_path):
    root, wh = root_and_wh
    outside = good_bundle(tmp_path / "outside", tmp_path, 42)
    day = region_dir(root, 42) / SNAPSHOT.isoformat()
    day.mkdir(parents=True)
    (day / outside.bundle_id).symlink_to(outside.path)
    (region_dir(root, 42) / LATEST_FILE).write_text(f"{SNAPSHOT}/{outside.bundle_id}\n")
    assert_rejected_and_others_loaded(root, wh, tmp_path, "is a symbolic link")


# --- LATEST, dates, contents ---------------------------------------------------------------


@pytest.mark.parametrize(
    "pointer",
    ["../../region=49/2025-03-10/x", "/etc", "2025-03-10/../../../etc", "2025-03-10"],
)
def test_latest_pointing_outside_the_region_is_refused(root_and_wh, tmp_path, pointer):
    root, wh = root_and_wh
    good_bundle(root, tmp_path, 42)
    (region_dir(root, 42) / LATEST_FILE).write_text(pointer + "\n")
    assert_rejected_and_others_loaded(root, wh, tmp_path, "LATEST must be <YYYY-MM-DD>/")


def test_a_missing_latest_is_reported(root_and_wh, tmp_path):
    root, wh = root_and_wh
    good_bundle(root, tmp_path, 42)
    (region_dir(root, 42) / LATEST_FILE).unlink()
    assert_rejected_and_others_loaded(root, wh, tmp_path, "LATEST missing")


def test_a_bundle_from_the_future_is_refused_and_locks_nothing_out(root_and_wh, tmp_path):
    root, wh = root_and_wh
    good_bundle(root, tmp_path, 42, day=date(2999, 1, 1), run="future")
    assert_rejected_and_others_loaded(root, wh, tmp_path, "2999-01-01 is not plausible")
    real = good_bundle(root, tmp_path, 42, run="real")
    assert results(root, wh)[42] == ("loaded", None)
    assert loaded(wh)[42] == real.bundle_id


def test_an_implausible_date_loaded_before_the_checks_holds_nothing_back(root_and_wh, tmp_path):
    root, wh = root_and_wh
    good_bundle(root, tmp_path, 54)
    results(root, wh)  # creates the federal tables
    with duckdb.connect(str(wh)) as con:  # as an older release stored it
        con.execute("insert into bundles.loaded values (42, 'x', date '2999-01-01', 1, 's', now())")
    good_bundle(root, tmp_path, 42)
    assert results(root, wh)[42] == ("loaded", None)


def test_a_date_before_2000_is_refused(root_and_wh, tmp_path):
    root, wh = root_and_wh
    good_bundle(root, tmp_path, 42, day=date(1999, 12, 31))
    assert_rejected_and_others_loaded(root, wh, tmp_path, "1999-12-31 is not plausible")


def test_a_manifest_listing_no_mart_is_refused(root_and_wh, tmp_path):
    root, wh = root_and_wh
    bundle = good_bundle(root, tmp_path, 42)
    rewrite_manifest(bundle.path, lambda m: m.update(files=[]))
    assert_rejected_and_others_loaded(root, wh, tmp_path, "lists no mart")


@pytest.mark.parametrize("version", [True, 2.0, "2", None, 1])
def test_schema_version_must_be_the_integer_this_loader_reads(root_and_wh, tmp_path, version):
    root, wh = root_and_wh
    bundle = good_bundle(root, tmp_path, 42)
    rewrite_manifest(bundle.path, lambda m: m.update(schema_version=version))
    assert_rejected_and_others_loaded(root, wh, tmp_path, f"schema_version {version!r} not")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda f: f.pop("bytes"), "files[0].bytes must be an integer"),
        (lambda f: f.update(bytes=True), "files[0].bytes must be an integer"),
        (lambda f: f.update(rows=1.0), "files[0].rows must be an integer"),
        (lambda f: f.update(name=7), "files[0].name must match"),
        (lambda f: f.update(kind="script"), "files[0].kind must be mart, sketch or report"),
        (lambda f: f.update(sha256="ab"), "files[0].sha256 must match"),
    ],
    ids=["no-bytes", "bool-bytes", "float-rows", "int-name", "bad-kind", "short-sha"],
)
def test_a_malformed_file_entry_rejects_its_region_only(root_and_wh, tmp_path, change, reason):
    root, wh = root_and_wh
    bundle = good_bundle(root, tmp_path, 42)
    rewrite_manifest(bundle.path, lambda m: change(m["files"][0]))
    assert_rejected_and_others_loaded(root, wh, tmp_path, reason)


def test_a_manifest_that_is_not_json_rejects_its_region_only(root_and_wh, tmp_path):
    root, wh = root_and_wh
    bundle = good_bundle(root, tmp_path, 42)
    (bundle.path / MANIFEST).write_bytes(b"\xff{not json")
    assert_rejected_and_others_loaded(root, wh, tmp_path, "not UTF-8 JSON")


def with_report(warehouse_file: Path, code: int, month: str = "2025-02") -> dict[str, bytes]:
    """A closed month's report beside a regional warehouse, as the daily run leaves it."""
    from gospulse.serving.layout import report_dir

    folder = report_dir(warehouse_file, code, month)
    folder.mkdir(parents=True)
    files = {"report.html": "<!DOCTYPE html><p>Госпаблики</p>".encode(), "report.xlsx": b"PK\x03"}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return files


def test_a_closed_months_report_travels_in_the_bundle_and_is_kept(root_and_wh, tmp_path):
    root, wh = root_and_wh
    warehouse = regional_warehouse(tmp_path / "r42-r.duckdb", 42)
    sent = with_report(warehouse, 42, "2025-01")
    newest = with_report(warehouse, 42, "2025-02")
    bundle = good_bundle(root, tmp_path, 42)
    reports = [f for f in bundle.manifest["files"] if f["kind"] == "report"]
    assert sorted((f["name"], f["month"]) for f in reports) == [
        ("reports/2025-02/report.html", "2025-02"),
        ("reports/2025-02/report.xlsx", "2025-02"),
    ]
    assert sent == newest  # same content, only the newest month goes
    assert results(root, wh)[42] == ("loaded", None)
    kept = wh.parent / "reports" / "region=42" / "2025-02"
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == newest


@pytest.mark.parametrize(
    ("name", "month", "reason"),
    [
        ("reports/2025-02/../../../evil.html", "2025-02", "files[2].name must match"),
        ("reports/2025-13/report.html", "2025-13", "files[2].name must match"),
        ("reports/2025-02/report.exe", "2025-02", "files[2].name must match"),
        ("reports/2025-02/report.html", "2025-01", "is not the report of 2025-01"),
    ],
    ids=["dot-dot", "month-13", "other-file", "other-month"],
)
def test_a_report_entry_of_another_shape_rejects_its_region_only(
    root_and_wh, tmp_path, name, month, reason
):
    root, wh = root_and_wh
    bundle = good_bundle(root, tmp_path, 42)

    def add_report(manifest):
        manifest["files"].insert(
            2, {"name": name, "kind": "report", "month": month, "rows": 0, "bytes": 1,
                "sha256": "0" * 64, "columns": []},
        )  # fmt: skip

    rewrite_manifest(bundle.path, add_report)
    assert_rejected_and_others_loaded(root, wh, tmp_path, reason)


# --- what the writer hands over ------------------------------------------------------------


def test_page_level_marts_of_a_multi_region_warehouse_hold_each_regions_pages(tmp_path):
    warehouse = regional_warehouse(tmp_path / "two.duckdb", 42, pages={"a": 42, "b": 42, "c": 49})
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into marts.mart_region_growth values (49, 'vk', '2025-03-01', 3)")
    for code, refs in ((42, ["a", "b"]), (49, ["c"])):
        info = write_bundle(warehouse, tmp_path / "b", region_code=code, snapshot_date=SNAPSHOT,
                            run_id="r")  # fmt: skip
        for mart in ("mart_page_daily", "mart_region_growth"):
            rows = duckdb.sql(
                f"select distinct region_code from read_parquet('{info.path}/marts/{mart}.parquet')"
            ).fetchall()
            assert rows == [(code,)], (code, mart)
        daily = info.path / "marts" / "mart_page_daily.parquet"
        pages = duckdb.sql(f"select distinct page_ref from read_parquet('{daily}') order by 1")
        assert [p for (p,) in pages.fetchall()] == refs
    got = results(tmp_path / "b", tmp_path / "f.duckdb")
    assert got == {42: ("loaded", None), 49: ("loaded", None)}


def test_a_mart_that_cannot_be_cut_to_a_region_is_not_exported(tmp_path):
    warehouse = regional_warehouse(tmp_path / "w.duckdb", 42)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table marts.mart_loose as select 1 as n")
    with pytest.raises(ValueError, match="mart_loose has neither region_code"):
        write_bundle(warehouse, tmp_path / "b", region_code=42, snapshot_date=SNAPSHOT, run_id="r")


# --- the parser alone ----------------------------------------------------------------------


def test_latest_and_manifest_parsers_name_what_is_wrong():
    assert parse_latest("2025-03-10/20250310T010203Z_run_0123abcd\n", TODAY) == (
        SNAPSHOT,
        "20250310T010203Z_run_0123abcd",
    )
    with pytest.raises(ManifestError, match="LATEST's date 2031-01-01 is not plausible"):
        parse_latest("2031-01-01/20310101T010203Z_run_0123abcd", TODAY)
    with pytest.raises(ManifestError, match="must be a JSON object, got list"):
        parse_manifest(b"[]", region_code=42, today=TODAY)
    with pytest.raises(ManifestError, match="region must be an object"):
        parse_manifest(b'{"schema_version": 2, "region": 42}', region_code=42, today=TODAY)


def test_an_unexpected_fault_in_one_bundle_rejects_that_region_only(root_and_wh, tmp_path):
    # a folder where the manifest should be: no check names this, the pull must still go on
    root, wh = root_and_wh
    bundle = good_bundle(root, tmp_path, 42)
    (bundle.path / MANIFEST).unlink()
    (bundle.path / MANIFEST).mkdir()
    assert_rejected_and_others_loaded(root, wh, tmp_path, "IsADirectoryError")


def test_the_daily_task_writes_one_bundle_per_region_of_the_registry(tmp_path, monkeypatch):
    from gospulse.config.task_results import PublishOutcome
    from gospulse.orchestration.tasks import write_export_bundle
    from gospulse.serving.layout import bundle_root, latest_bundle
    from gospulse.serving.publish import publish_marts

    warehouse = regional_warehouse(
        tmp_path / "gospulse.duckdb", 42, pages={"4201": 42, "4202": 42, "5401": 54}
    )
    publish_marts(warehouse, run_id="r", snapshot_date=SNAPSHOT)
    registry = tmp_path / "registry.csv"
    registry.write_text(
        "network,page_ref,title,organization,region_code,municipality,sector,flagship\n"
        "vk,4201,Школа,Школа,42,,education,false\n"
        "vk,4202,Музей,Музей,42,,culture,true\n"
        "vk,5401,Театр,Театр,54,,culture,false\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("GOSPULSE_REGISTRY", str(registry))
    # 42 and 54 keep different time zones: the run follows 42's calendar, as configured
    monkeypatch.setenv("GOSPULSE_REGION", "42")
    result = write_export_bundle(
        PublishOutcome(published=True), "run-1", "2025-03-09T20:00:00+00:00"
    )
    assert result.written and result.regions == (42, 54)
    assert result.snapshot_date == "2025-03-10"
    for code, pages in ((42, ["4201", "4202"]), (54, ["5401"])):
        bundle = latest_bundle(bundle_root(warehouse), code)
        assert str(bundle) in result.paths
        daily = bundle / "marts" / "mart_page_daily.parquet"
        got = duckdb.sql(f"select distinct page_ref from read_parquet('{daily}') order by 1")
        assert [p for (p,) in got.fetchall()] == pages

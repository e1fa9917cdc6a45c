"""Export bundles and the federal roll-up on bundles written by the real pipeline.

Four regional warehouses are built once by real dbt (tests/federal_fixtures.py). Their
bundles are pulled from a local root, a static HTTP server and an S3 server (moto) into a
federal DuckDB; then bad bundles (a flipped byte, an old schema version, a missing file)
are rejected with reasons naming region and file, while the previous data of those regions
stays and a new region loads.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from gospulse.cli.federal import add_commands
from gospulse.federal.pull import pull
from gospulse.federal.run import run_federal_pull
from gospulse.serving.bundle import MANIFEST, SCHEMA_VERSION, sha256_file, write_bundle
from gospulse.serving.layout import latest_bundle, region_dir
from gospulse.serving.publish import is_build_state
from tests.federal_fixtures import build_region_warehouse, region_members, region_population

pytestmark = pytest.mark.slow

SNAPSHOT = date(2025, 3, 10)
# Kuzbass and Novosibirsk share the Siberian district; Moscow is Central; Magadan Far East
FIRST = {42: 0, 54: 1, 77: 2}
LATE = 49  # a region whose first bundle arrives with the bad ones
DISTRICT = {42: "SibFD", 54: "SibFD", 77: "CFD", 49: "FEFD"}


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Regional warehouses with marts, built in two threads (dbt runs as a subprocess)."""
    base = tmp_path_factory.mktemp("regions")
    plan = {**FIRST, LATE: 3}
    with ThreadPoolExecutor(2) as pool:
        built = pool.map(
            lambda item: (item[0], build_region_warehouse(base / f"r{item[0]}.duckdb", *item)),
            plan.items(),
        )
        return dict(built)


def bundle(warehouses: dict[int, Path], root: Path, code: int, run_id: str = "test"):
    return write_bundle(
        warehouses[code], root, region_code=code, snapshot_date=SNAPSHOT, run_id=run_id
    )


def regional(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def federal(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def rollup(regions, tmp_path_factory) -> SimpleNamespace:
    """Round 1: good bundles of three regions. Round 2: bad new bundles for them + region 49."""
    root = tmp_path_factory.mktemp("bundles")
    wh = tmp_path_factory.mktemp("federal") / "federal.duckdb"
    first = {code: bundle(regions, root, code) for code in FIRST}
    round1 = run_federal_pull([str(root)], wh)
    growth1 = federal(wh, "select * from bundles.mart_region_growth order by all")
    loaded1 = federal(wh, "select region_code, bundle_id from bundles.loaded order by 1")

    # 42: one byte of a Parquet file flipped after the manifest was written
    bad = bundle(regions, root, 42, "corrupt")
    target = bad.path / "marts" / "mart_region_growth.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    # 54: written by an older producer
    old = bundle(regions, root, 54, "old")
    manifest = json.loads((old.path / MANIFEST).read_text(encoding="utf-8"))
    manifest["schema_version"] = 0
    (old.path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    # 77: a file lost on the way
    partial = bundle(regions, root, 77, "partial")
    (partial.path / "marts" / "mart_page_daily.parquet").unlink()
    bundle(regions, root, LATE)
    round2 = run_federal_pull([str(root)], wh)
    return SimpleNamespace(
        root=root, wh=wh, first=first, round1=round1, round2=round2, growth1=growth1,
        loaded1=loaded1, bad=bad, old=old, partial=partial,
    )  # fmt: skip


# --- bundles --------------------------------------------------------------------------------


def test_bundle_manifest_describes_every_file(regions, tmp_path):
    info = bundle(regions, tmp_path, 42, "scheduled__2025-03-10T03:00:00+07:00")
    manifest = json.loads((info.path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["region"] == {
        "code": 42,
        "name": "Кемеровская область — Кузбасс",
        "federal_district": "SibFD",
    }
    assert manifest["snapshot_date"] == "2025-03-10"
    assert manifest["date_range"] == {"first": "2024-12-25", "last": "2025-03-10"}
    on_disk = sorted(
        p.relative_to(info.path).as_posix() for p in info.path.rglob("*") if p.is_file()
    )
    assert on_disk == sorted([f["name"] for f in manifest["files"]] + [MANIFEST])
    marts = {f["mart"]: f for f in manifest["files"] if f["kind"] == "mart"}
    warehouse_marts = regional(
        regions[42],
        "select table_name from information_schema.tables where table_schema = 'marts'",
    )
    assert set(marts) == {name for (name,) in warehouse_marts}
    for entry in manifest["files"]:
        path = info.path / entry["name"]
        assert entry["sha256"] == sha256_file(path)
        assert entry["bytes"] == path.stat().st_size
    for mart, entry in marts.items():
        (expected,) = regional(regions[42], f"select count(*) from marts.{mart}")[0]
        assert entry["rows"] == expected, mart
        # the fixtures read no member list with its members' fields: no growth quality
        assert expected > 0 or mart == "mart_growth_quality", mart
        columns = regional(
            regions[42],
            "select column_name from information_schema.columns where table_schema = 'marts' "
            f"and table_name = '{mart}' order by ordinal_position",
        )
        # page-level marts gain the region their pages are placed in (schema version 2); build
        # state stays in the region's warehouse (schema version 4)
        added = [] if ("region_code",) in columns else ["region_code"]
        public = [c for (c,) in columns if not is_build_state(c)]
        assert [c["name"] for c in entry["columns"]] == public + added
    # the warehouse keeps its build state, the bundle does not carry it
    held = [
        c
        for (c,) in regional(
            regions[42],
            "select column_name from information_schema"
            ".columns where table_name = 'mart_page_growth'",
        )
    ]
    assert "built_at" in held
    assert "built_at" not in [c["name"] for c in marts["mart_page_growth"]["columns"]]
    sketches = [f for f in manifest["files"] if f["kind"] == "sketch"]
    assert [(s["network"], s["audience_date"]) for s in sketches] == [("vk", "2025-03-10")]
    assert latest_bundle(tmp_path, 42) == info.path


def test_rerun_of_a_day_makes_a_new_bundle_and_keeps_the_old(regions, tmp_path):
    one = bundle(regions, tmp_path, 54)
    before = {p: p.read_bytes() for p in one.path.rglob("*") if p.is_file()}
    two = bundle(regions, tmp_path, 54)
    assert two.path != one.path and two.path.parent == one.path.parent
    assert {p: p.read_bytes() for p in one.path.rglob("*") if p.is_file()} == before
    assert latest_bundle(tmp_path, 54) == two.path
    # no temp directory or pointer is left behind
    leftovers = [p.name for p in region_dir(tmp_path, 54).rglob(".*")]
    assert leftovers == []


def test_bundle_of_a_warehouse_without_marts_fails_and_leaves_nothing(tmp_path):
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(ValueError, match="no tables in schema marts"):
        write_bundle(empty, tmp_path / "b", region_code=42, snapshot_date=SNAPSHOT, run_id="x")
    assert latest_bundle(tmp_path / "b", 42) is None
    assert list((region_dir(tmp_path / "b", 42) / SNAPSHOT.isoformat()).iterdir()) == []


# --- pull, verify, load ---------------------------------------------------------------------


def test_first_pull_loads_every_region(rollup):
    assert rollup.round1.loaded == tuple(sorted(FIRST))
    assert rollup.round1.rejected == {}
    assert rollup.loaded1 == [(c, rollup.first[c].bundle_id) for c in sorted(FIRST)]


def test_bad_bundles_are_rejected_with_reasons(rollup):
    rejected = rollup.round2.rejected
    assert set(rejected) == {"42", "54", "77"}
    assert f"region 42 bundle {rollup.bad.bundle_id}" in rejected["42"]
    assert "file marts/mart_region_growth.parquet sha256" in rejected["42"]
    assert "schema_version 0 not supported" in rejected["54"]
    assert "file marts/mart_page_daily.parquet missing" in rejected["77"]
    assert rollup.round2.loaded == (LATE,)
    log = federal(
        rollup.wh,
        "select region_code, status, bundle_id, reason from bundles.pulls "
        "where status = 'rejected' order by region_code",
    )
    assert [(c, s, b) for c, s, b, _ in log] == [
        (42, "rejected", rollup.bad.bundle_id),
        (54, "rejected", rollup.old.bundle_id),
        (77, "rejected", rollup.partial.bundle_id),
    ]
    assert all(reason for *_, reason in log)


def test_rejected_regions_keep_their_previous_data(rollup, regions):
    loaded = dict(federal(rollup.wh, "select region_code, bundle_id from bundles.loaded"))
    for code in FIRST:
        assert loaded[code] == rollup.first[code].bundle_id
    growth = federal(
        rollup.wh,
        "select * from bundles.mart_region_growth where bundle_region_code <> ? order by all",
        [LATE],
    )
    assert growth == rollup.growth1
    # the loaded rows are exactly the regional mart's
    for code, warehouse in regions.items():
        expected = regional(
            warehouse,
            "select * exclude (filled_built_at, built_at) from marts.mart_page_growth order by all",
        )
        got = federal(
            rollup.wh,
            "select * exclude (bundle_region_code, bundle_id, region_code) "
            "from bundles.mart_page_growth where bundle_region_code = ? order by all",
            [code],
        )
        assert got == expected, code


def test_pull_again_without_new_bundles_changes_nothing(rollup):
    # the bad bundles are still LATEST: rejected again; region 49 is unchanged
    again = run_federal_pull([str(rollup.root)], rollup.wh)
    assert again.unchanged == (LATE,)
    assert set(again.rejected) == {"42", "54", "77"}


# --- federal marts --------------------------------------------------------------------------


def _regional_growth(regions: dict[int, Path]) -> list[tuple]:
    rows = []
    for code, warehouse in regions.items():
        rows += [
            (code, *r)
            for r in regional(
                warehouse,
                "select network, month_start, growth, members_total, comparable_members_start "
                "from marts.mart_region_growth",
            )
        ]
    return rows


def test_national_and_district_growth_are_sums_of_regions(rollup, regions):
    rows = _regional_growth(regions)
    national: dict[tuple, list[int]] = {}
    district: dict[tuple, list[int]] = {}
    for code, network, month, growth, total, start in rows:
        for acc, key in (
            (national, (network, month)),
            (district, (DISTRICT[code], network, month)),
        ):  # noqa: E501
            s = acc.setdefault(key, [None, None, None, 0])
            # SQL sum: nulls skipped, all-null is null (the first month has no growth)
            for i, value in enumerate((growth, total, start)):
                if value is not None:
                    s[i] = (s[i] or 0) + value
            s[3] += 1
    got = federal(
        rollup.wh,
        "select network, month_start, growth, members_total, comparable_members_start, "
        "regions, growth_pct from marts.mart_national_growth",
    )
    assert len(got) == len(national)
    for network, month, growth, total, start, n, pct in got:
        assert [growth, total, start, n] == national[(network, month)]
        assert pct == (pytest.approx(growth / start) if start else None)
    got = federal(
        rollup.wh,
        "select federal_district, network, month_start, growth, members_total, "
        "comparable_members_start, regions from marts.mart_district_growth",
    )
    assert {(d, n, m): [g, t, s, r] for d, n, m, g, t, s, r in got} == district
    assert {d for d, *_ in got} == {"SibFD", "CFD", "FEFD"}


def test_region_ranking_orders_regions_by_growth(rollup, regions):
    rows = _regional_growth(regions)
    network, month = "vk", date(2025, 2, 1)
    expected = sorted(
        ((g, c) for c, n, m, g, *_ in rows if (n, m) == (network, month)), reverse=True
    )
    got = federal(
        rollup.wh,
        "select rank_abs, region_code, growth from marts.mart_region_ranking "
        "where network = ? and month_start = ? order by rank_abs",
        [network, month],
    )
    assert [(g, c) for _, c, g in got] == expected
    assert [r for r, *_ in got] == [1, 2, 3, 4]  # growth scales with the region index


def test_regions_rank_by_reach_within_the_sketch_bounds(rollup):
    # every region's two sketched pages hold 5 000 people; the populations grow with the index
    plan = {**FIRST, LATE: 3}
    got = federal(
        rollup.wh,
        "select rank_reach, region_code, population, reach, reach_lower, reach_upper, "
        "rank_subscriptions from marts.mart_region_reach_ranking "
        "where network = 'vk' and audience_date = ? order by rank_reach",
        [SNAPSHOT],
    )
    assert [(rank, code) for rank, code, *_ in got] == [(1, 42), (2, 54), (3, 77), (4, 49)]
    for _, code, population, reach, lower, upper, _ in got:
        assert population == region_population(plan[code])
        assert lower <= 5000 / population <= upper, code
        assert reach == pytest.approx(5000 / population, rel=0.03)


def test_national_unique_audience_bounds_the_exact_union(rollup):
    members = [region_members(i) for i in range(4)]
    exact_national = len(frozenset().union(*(m for ms in members for m in ms)))
    exact_sib = len(frozenset().union(*members[0], *members[1]))
    got = {
        (scope, value): (regions, total, est, lo, hi)
        for scope, value, regions, total, est, lo, hi in federal(
            rollup.wh,
            "select scope_type, scope_value, regions, sum_of_regions, unique_estimate, "
            "unique_lower, unique_upper from marts.mart_national_audience "
            "where network = 'vk' and audience_date = ?",
            [SNAPSHOT],
        )
    }
    regions, total, est, lo, hi = got[("national", "RU")]
    assert regions == 4
    assert lo <= exact_national <= hi
    assert total > hi  # adding regions up double-counts the shared members
    regions, total, est, lo, hi = got[("district", "SibFD")]
    assert regions == 2 and lo <= exact_sib <= hi


# --- other sources --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def good_root(regions, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("good")
    for code in (42, 77):
        bundle(regions, root, code)
    return root


def _loaded(warehouse: Path) -> dict[int, int]:
    return dict(
        federal(
            warehouse,
            "select bundle_region_code, count(*) from bundles.mart_region_growth group by 1",
        )
    )


def test_pull_over_http(good_root, regions, tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(good_root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        results = pull([url], tmp_path / "f.duckdb")
    finally:
        server.shutdown()
        server.server_close()
    assert [(r.region_code, r.status) for r in results] == [(42, "loaded"), (77, "loaded")]
    expected = {c: regional(regions[c], "select count(*) from marts.mart_region_growth")[0][0]
                for c in (42, 77)}  # fmt: skip
    assert _loaded(tmp_path / "f.duckdb") == expected


def test_pull_from_s3_compatible_storage(good_root, regions, tmp_path, monkeypatch):
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for var, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "GOSPULSE_S3_ENDPOINT_URL": endpoint,
        }.items():
            monkeypatch.setenv(var, value)
        import s3fs

        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, skip_instance_cache=True)
        fs.mkdir("regions")
        fs.put(str(good_root) + "/", "regions/daily/", recursive=True)
        results = pull(["s3://regions/daily"], tmp_path / "f.duckdb")
    finally:
        server.stop()
    assert [(r.region_code, r.status) for r in results] == [(42, "loaded"), (77, "loaded")]
    assert set(_loaded(tmp_path / "f.duckdb")) == {42, 77}


def test_missing_source_is_an_error_not_an_empty_pull(tmp_path):
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        pull([str(tmp_path / "does-not-exist")], tmp_path / "f.duckdb")
    with pytest.raises(ValueError, match="GOSPULSE_FEDERAL_SOURCES"):
        pull([], tmp_path / "f.duckdb")


# --- CLI and DAG ----------------------------------------------------------------------------


def test_cli_bundle_and_federal_pull(regions, tmp_path, capsys):
    import argparse

    parser = argparse.ArgumentParser(prog="gospulse")
    add_commands(parser.add_subparsers(dest="command", required=True))
    root, wh = tmp_path / "b", tmp_path / "fed.duckdb"
    args = parser.parse_args(
        ["bundle", "--region", "77", "--date", "2025-03-10", "--warehouse",
         str(regions[77]), "--root", str(root)]
    )  # fmt: skip
    assert args.func(args) == 0
    assert latest_bundle(root, 77) is not None
    args = parser.parse_args(["federal", "pull", "--from", str(root), "--warehouse", str(wh)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "region 77" in out and "loaded" in out and "mart_national_growth" in out
    # a corrupted bundle makes the command fail (exit 1) and say why
    corrupt = write_bundle(regions[77], root, region_code=77, snapshot_date=SNAPSHOT, run_id="c")
    (corrupt.path / "sketches" / "vk_2025-03-10.gphl").write_bytes(b"junk")
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert f"region 77 {corrupt.bundle_id} rejected" in out
    assert "file sketches/vk_2025-03-10.gphl has 4 bytes" in out


def test_federal_dag_run(good_root, tmp_path, airflow_metadata):
    from gospulse.orchestration.local import run_dag

    wh = tmp_path / "federal.duckdb"
    env = {"GOSPULSE_FEDERAL_SOURCES": str(good_root), "GOSPULSE_FEDERAL_WAREHOUSE": str(wh)}
    run_dag(
        "gospulse_federal",
        datetime(2026, 3, 10, 2, 0, tzinfo=UTC),
        tmp_path / "af",
        env,
        metadata_from=airflow_metadata,
    )
    assert set(_loaded(wh)) == {42, 77}
    statuses = federal(wh, "select region_code, status from bundles.pulls order by 1")
    assert statuses == [(42, "loaded"), (77, "loaded")]


def test_contract_lists_every_bundle_column(regions, tmp_path):
    contract = (Path(__file__).parent.parent / "docs" / "bundle_contract.md").read_text(
        encoding="utf-8"
    )
    info = bundle(regions, tmp_path, 42)
    for entry in info.manifest["files"]:
        if entry["kind"] != "mart":
            continue
        heading = f"### `marts/{entry['mart']}.parquet`"
        assert heading in contract, entry["mart"]
        section = contract.split(heading, 1)[1].split("\n### ", 1)[0]
        for column in entry["columns"]:
            assert f"| `{column['name']}` |" in section, (entry["mart"], column["name"])


def test_a_bundle_with_an_added_column_loads_next_to_older_ones(regions, tmp_path):
    # the contract's compatible change: a mart gains a column; regions upgrade one by one
    root, wh = tmp_path / "b", tmp_path / "fed.duckdb"
    # 42 loads first and creates the table without the column; 54 brings it
    bundle(regions, root, 42)
    newer = tmp_path / "r54.duckdb"
    shutil.copy(regions[54], newer)
    with duckdb.connect(str(newer)) as con:
        con.execute("alter table marts.mart_region_growth add column pages_new integer")
        con.execute("update marts.mart_region_growth set pages_new = 7")
    write_bundle(newer, root, region_code=54, snapshot_date=SNAPSHOT, run_id="newer")
    results = pull([str(root)], wh)
    assert [(r.region_code, r.status) for r in results] == [(42, "loaded"), (54, "loaded")]
    got = federal(
        wh,
        "select bundle_region_code, count(*), min(pages_new), max(pages_new) "
        "from bundles.mart_region_growth group by 1 order by 1",
    )
    n42 = regional(regions[42], "select count(*) from marts.mart_region_growth")[0][0]
    n54 = regional(regions[54], "select count(*) from marts.mart_region_growth")[0][0]
    assert got == [(42, n42, None, None), (54, n54, 7, 7)]


def test_a_manifest_naming_a_table_it_should_not_is_rejected(tmp_path):
    # a tiny hand-made marts schema: this test is about the manifest, not the marts
    wh = tmp_path / "tiny.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.mart_region_growth as select 42 as region_code")
    info = write_bundle(wh, tmp_path / "b", region_code=42, snapshot_date=SNAPSHOT, run_id="x")
    manifest = json.loads((info.path / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"][0]["mart"] = 'x" as select 1; drop table bundles.loaded; --'
    (info.path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    (result,) = pull([str(tmp_path / "b")], tmp_path / "fed.duckdb")
    assert result.status == "rejected"
    assert "files[0].mart must match mart_[a-z0-9_]{1,58}" in result.reason
    assert federal(tmp_path / "fed.duckdb", "select count(*) from bundles.loaded") == [(0,)]


def test_an_older_bundle_never_replaces_newer_data(regions, tmp_path):
    root, wh = tmp_path / "root", tmp_path / "fed.duckdb"
    newer = write_bundle(regions[54], root, region_code=54, snapshot_date=SNAPSHOT, run_id="newer")
    assert pull([str(root)], wh)[0].status == "loaded"
    older = write_bundle(
        regions[54], root, region_code=54, snapshot_date=date(2025, 3, 9), run_id="older"
    )
    assert latest_bundle(root, 54) == older.path  # LATEST moved back
    (result,) = pull([str(root)], wh)
    assert result.status == "rejected"
    assert "snapshot 2025-03-09 is older than the loaded 2025-03-10" in result.reason
    assert federal(wh, "select bundle_id from bundles.loaded where region_code = 54") == [
        (newer.bundle_id,)
    ]

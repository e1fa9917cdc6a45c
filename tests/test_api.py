"""The HTTP API over a published copy of real dbt marts: auth and region scoping, formats,
pagination, filters, rate limit, bundle download, the CLI, each mart's own filters in the spec,
a schemathesis run over it, and a bounded load on loopback."""

from __future__ import annotations

import argparse
import io
import json
import socket
import subprocess
import sys
import tarfile
import threading
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import duckdb
import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gospulse.api.app import create_app
from gospulse.api.queries import Filters, UnsupportedFilter, build_query
from gospulse.api.ratelimit import RateLimiter
from gospulse.api.tokens import TokenFileError, TokenStore, parse_regions
from gospulse.cli.api import add_commands
from gospulse.registry.pages import normalize_sector
from gospulse.serving.layout import LATEST_FILE, region_dir
from gospulse.serving.publish import publish_marts
from tests.conftest import copy_warehouse
from tests.warehouse_fixtures import LAST_DAY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(built_world: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("api")
    warehouse = copy_warehouse(built_world, root)
    pub = publish_marts(warehouse, run_id="run-1", snapshot_date=LAST_DAY)
    store = TokenStore(root / "tokens.json")
    kuzbass, _ = store.add("kuzbass-bi", "42")
    federal, _ = store.add("federal", "*")
    both, _ = store.add("siberia", "42,54")
    # may read a region no mart holds, beside one they do
    with_absent, _ = store.add("kuzbass-and-77", "42,77")
    revoked, record = store.add("old", "*")
    store.revoke(record.token_id)
    bundles = root / "bundles"
    app = create_app(pub.path, store, bundle_dir=bundles, rate=1000, burst=1000)
    return SimpleNamespace(
        root=root,
        published=pub.path,
        store=store,
        bundles=bundles,
        client=TestClient(app),
        app=app,
        tokens={
            "42": kuzbass,
            "*": federal,
            "42,54": both,
            "42,77": with_absent,
            "revoked": revoked,
        },
    )


# the ranking view answers only with a period asked for: this one holds all of the world's
SINCE = {"from": "1900-01-01"}


def ranked(mart: str) -> dict[str, str]:
    """SINCE for the ranking view, nothing for a stored mart (some have no date to filter)."""
    return SINCE if mart == "mart_growth_ranking" else {}


def test_the_ranking_view_needs_a_period(world: SimpleNamespace) -> None:
    """Unbounded, the view would rank all history per request: its route requires `from`, and
    the query builder refuses it too (a mart published after the app started has no route of
    its own)."""
    r = get(world, "/marts/mart_growth_ranking", region=42)
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["query", "from"] and problem["msg"] == "Field required"
    spec = world.client.get("/openapi.json").json()
    [param] = [
        p
        for p in spec["paths"]["/marts/mart_growth_ranking"]["get"]["parameters"]
        if p["name"] == "from"
    ]
    assert param["required"] is True
    marts = {"mart_growth_ranking": [("period_start", "DATE"), ("period_end", "DATE")]}
    with pytest.raises(UnsupportedFilter, match="computed when read") as refused:
        build_query(marts, "mart_growth_ranking", Filters())
    assert refused.value.parameters == ("from",)
    assert build_query(marts, "mart_growth_ranking", Filters(date_from=date(2025, 1, 1))).params


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def db(world: SimpleNamespace, sql: str, params: list | None = None) -> list[tuple]:
    """The published copy read directly, to compare the API against."""
    con = duckdb.connect(str(world.published), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def get(world: SimpleNamespace, path: str, token: str | None = "*", **params) -> httpx.Response:
    headers = auth(world.tokens.get(token, token)) if token else {}
    return world.client.get(path, headers=headers, params=params)


# --- auth and scoping --------------------------------------------------------------------------


def test_health_needs_no_token_and_names_the_run(world: SimpleNamespace) -> None:
    r = world.client.get("/health")
    assert r.status_code == 200
    assert r.json()["run_id"] == "run-1"
    assert r.json()["snapshot_date"] == LAST_DAY.isoformat()


@pytest.mark.parametrize("path", ["/marts", "/marts/mart_region_growth", "/bundles/42/latest"])
def test_no_bad_or_revoked_token_is_401(world: SimpleNamespace, path: str) -> None:
    for token in (None, "gsp_nothere_secret", "not-a-token", "revoked"):
        r = get(world, path, token)
        assert r.status_code == 401, (token, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
    # a known id with a wrong secret
    token_id = world.tokens["*"].split("_")[1]
    assert get(world, path, f"gsp_{token_id}_wrongsecret").status_code == 401


def test_region_scope_matrix(world: SimpleNamespace) -> None:
    mart = "/marts/mart_region_growth"
    cases = [("42", 42, 200), ("42", 54, 403), ("42,54", 54, 200), ("*", 54, 200), ("*", 42, 200)]
    for token, region, status in cases:
        r = get(world, mart, token, region=region)
        assert r.status_code == status, (token, region, r.text)
        if status == 200:
            assert {row["region_code"] for row in r.json()["rows"]} == {region}
        else:
            assert f"region {region}" in r.json()["detail"]
    assert get(world, "/bundles/54/latest", "42").status_code == 403


def test_unscoped_queries_are_filtered_to_the_tokens_regions(world: SimpleNamespace) -> None:
    total_42 = db(world, "select count(*) from marts.mart_growth_ranking where region_code = 42")
    total_all = db(world, "select count(*) from marts.mart_growth_ranking")
    assert 0 < total_42[0][0] < total_all[0][0]
    scoped = get(world, "/marts/mart_growth_ranking", "42", limit=1000, **SINCE).json()
    assert scoped["total"] == total_42[0][0]
    assert {row["region_code"] for row in scoped["rows"]} == {42}
    everything = get(world, "/marts/mart_growth_ranking", "*", **SINCE).json()
    assert everything["total"] == total_all[0][0]


def test_marts_without_region_code_are_scoped_through_their_pages(world: SimpleNamespace) -> None:
    pages_42 = {
        r[0]
        for r in db(world, "select page_ref from marts.mart_page_health where region_code = 42")
    }
    first = get(world, "/marts/mart_page_daily", "42", limit=1000).json()
    rows = first["rows"]
    offset = 1000
    while offset < first["total"]:
        rows += get(world, "/marts/mart_page_daily", "42", limit=1000, offset=offset).json()["rows"]
        offset += 1000
    assert {r["page_ref"] for r in rows} == pages_42
    assert "110" not in pages_42  # region 54's page exists and is hidden
    assert get(world, "/marts/mart_page_daily", "42", region=54).status_code == 403


# --- formats -----------------------------------------------------------------------------------


def test_json_csv_and_parquet_hold_the_same_page(world: SimpleNamespace, tmp_path: Path) -> None:
    params = {"limit": 25, "offset": 5, "region": 42}
    as_json = get(world, "/marts/mart_page_growth", **params).json()
    as_csv = get(world, "/marts/mart_page_growth", format="csv", **params)
    as_parquet = get(world, "/marts/mart_page_growth", format="parquet", **params)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_parquet.headers["content-type"] == "application/vnd.apache.parquet"
    assert as_csv.headers["x-total-count"] == as_parquet.headers["x-total-count"]
    assert int(as_csv.headers["x-total-count"]) == as_json["total"]
    assert 'rel="next"' in as_parquet.headers["link"]

    parquet = tmp_path / "page.parquet"
    parquet.write_bytes(as_parquet.content)
    csv_file = tmp_path / "page.csv"
    csv_file.write_text(as_csv.text)
    con = duckdb.connect()
    cols = [c["name"] for c in as_json["columns"]]
    from_parquet = con.execute(f"select * from read_parquet('{parquet}')").fetchall()
    described = [d[0] for d in con.description]
    from_csv = con.execute(
        f"select * from read_csv('{csv_file}', header=true, "
        f"types={{'page_ref': 'VARCHAR', 'growth_pct': 'DOUBLE'}})"
    ).fetchall()
    assert described == cols
    assert len(from_parquet) == len(from_csv) == len(as_json["rows"]) == 25
    for pq_row, csv_row, js_row in zip(from_parquet, from_csv, as_json["rows"], strict=True):
        expected = [js_row[c] for c in cols]
        as_text = [v.isoformat() if isinstance(v, date) else v for v in pq_row]
        assert as_text == expected
        assert [v.isoformat() if isinstance(v, date) else v for v in csv_row] == expected


def test_accept_header_picks_the_format(world: SimpleNamespace) -> None:
    token = auth(world.tokens["*"])
    r = world.client.get("/marts/mart_region_growth", headers={**token, "Accept": "text/csv"})
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0].startswith("region_code,network,month_start")
    r = world.client.get(
        "/marts/mart_region_growth",
        headers={**token, "Accept": "application/vnd.apache.parquet"},
    )
    assert r.content[:4] == b"PAR1"
    # ?format= wins over Accept
    r = world.client.get(
        "/marts/mart_region_growth",
        headers={**token, "Accept": "text/csv"},
        params={"format": "json"},
    )
    assert r.json()["mart"] == "mart_region_growth"


# --- pagination and filters --------------------------------------------------------------------


def test_following_next_links_returns_every_row_once_in_a_stable_order(
    world: SimpleNamespace,
) -> None:
    expected = db(world, "select count(*) from marts.mart_region_growth")[0][0]
    url = "/marts/mart_region_growth?limit=3"
    seen = []
    while url:
        body = world.client.get(url, headers=auth(world.tokens["*"])).json()
        assert body["total"] == expected
        seen += [json.dumps(r, sort_keys=True) for r in body["rows"]]
        url = body["next"]
        # relative to the server: a Host header chosen by the caller never reaches the link
        assert url is None or url.startswith("/marts/mart_region_growth?")
    assert len(seen) == expected == len(set(seen))
    again = get(world, "/marts/mart_region_growth", limit=expected).json()["rows"]
    assert [json.dumps(r, sort_keys=True) for r in again] == seen


@pytest.mark.parametrize(
    ("mart", "params", "where", "args"),
    [
        ("mart_growth_ranking", {"sector": "health", **SINCE}, "sector = ?", ["health"]),
        (
            "mart_growth_ranking",
            {"municipality": "kemerovo", **SINCE},
            "municipality = ?",
            ["kemerovo"],
        ),
        (
            "mart_growth_ranking",
            {"from": "2025-02-01", "to": "2025-02-28", "region": 42},
            "period_start >= ? and period_end <= ? and region_code = ?",
            [date(2025, 2, 1), date(2025, 2, 28), 42],
        ),
        ("mart_region_growth", {"network": "all"}, "network = ?", ["all"]),
        (
            "mart_page_growth",
            {"from": "2025-01-01", "to": "2025-01-31"},
            "period_start >= ? and period_end <= ?",
            [date(2025, 1, 1), date(2025, 1, 31)],
        ),
        (
            "mart_region_growth",
            {"from": "2025-02-01", "region": 54},
            "month_start >= ? and region_code = ?",
            [date(2025, 2, 1), 54],
        ),
        ("mart_page_daily", {"to": "2024-12-27"}, "snapshot_date <= ?", [date(2024, 12, 27)]),
    ],
)
def test_filters_match_the_published_rows(
    world: SimpleNamespace, mart: str, params: dict, where: str, args: list
) -> None:
    expected = db(world, f"select count(*) from marts.{mart} where {where}", args)[0][0]
    everything = db(world, f"select count(*) from marts.{mart}")[0][0]
    assert 0 < expected < everything
    assert get(world, f"/marts/{mart}", **params).json()["total"] == expected


def test_bad_filters_are_400_or_422_with_a_reason(world: SimpleNamespace) -> None:
    # a filter the mart has no column for: 422, naming the filters it has
    r = get(world, "/marts/mart_page_daily", sector="health")
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["query", "sector"]
    assert (
        "no column 'sector'" in problem["msg"] and "its filters: region, from, to" in problem["msg"]
    )
    r = get(world, "/marts/mart_audience", municipality="kemerovo")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "municipality"]
    # a parameter no endpoint takes is refused, not ignored (it returned every row)
    r = get(world, "/marts/mart_growth_ranking", scope_type="flagship", **SINCE)
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["query", "scope_type"] and "takes format, from" in problem["msg"]
    assert get(world, "/marts", limit=5).status_code == 422
    r = get(world, "/marts/mart_region_growth", **{"from": "2025-03-01", "to": "2025-01-01"})
    assert r.status_code == 400
    assert "after" in r.json()["detail"]
    assert get(world, "/marts/raw.page_snapshots").status_code == 422
    assert get(world, "/marts/mart_region_growth", region=0).status_code == 422
    assert get(world, "/marts/mart_region_growth", limit=1001).status_code == 422
    # injection attempts are just values, refused as a sector the mart does not hold
    r = get(world, "/marts/mart_growth_ranking", sector="x' or 1=1 --", **SINCE)
    assert r.status_code == 422
    assert r.json()["detail"][0]["input"] == "x' or 1=1 --"


def _refusal(r: httpx.Response, parameter: str) -> dict:
    """The one problem of a 422 for an unknown filter value, in FastAPI's validation shape."""
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["query", parameter] and problem["type"] == "value_error"
    assert problem["msg"].startswith(f"unknown {parameter} ")
    return problem


def _held(world: SimpleNamespace, mart: str, column: str, regions: tuple[int, ...]) -> set[str]:
    """The values a mart holds in a column within some regions, read from the published copy
    (a mart without region_code has its pages' regions in mart_page_health)."""
    if "region_code" in _mart_columns(world)[mart]:
        source, region = f"marts.{mart} as m", "m.region_code"
    else:
        source = (
            f"marts.{mart} as m join (select distinct network, page_ref, region_code "
            f"from marts.mart_page_health) as h using (network, page_ref)"
        )
        region = "h.region_code"
    value = region if column == "region_code" else f"m.{column}"
    marks = ", ".join("?" * len(regions))
    where = f"{region} in ({marks}) and {value} is not null"
    rows = db(world, f"select distinct {value} from {source} where {where}", list(regions))
    return {str(v) for (v,) in rows}


def test_an_unknown_filter_value_is_a_422_naming_the_known_ones_closest_first(
    world: SimpleNamespace,
) -> None:
    """A misspelt sector, municipality, region or network reads as "nothing grew" when answered
    with an empty page: it is refused, with what the mart holds, the closest first."""
    everywhere = (42, 54)
    cases = [
        ("mart_growth_ranking", "sector", "helth", "health", "sector"),
        ("mart_growth_ranking", "municipality", "kemerovoo", "kemerovo", "municipality"),
        ("mart_registry_versions", "sector", "sprot", "sport", "sector"),
        ("mart_region_growth", "region", "77", None, "region_code"),
    ]
    for mart, parameter, asked, closest, column in cases:
        problem = _refusal(
            get(world, f"/marts/{mart}", **{parameter: asked}, **ranked(mart)), parameter
        )
        assert problem["input"] == asked
        known = problem["ctx"]["known"]
        assert set(known) == _held(world, mart, column, everywhere), (mart, parameter)
        if closest is not None:
            assert known[0] == closest and f"did you mean {closest}" in problem["msg"]
        assert all(value in problem["msg"] for value in known)
    # an enum value of the spec that this mart holds no rows of
    problem = _refusal(get(world, "/marts/mart_page_growth", network="all"), "network")
    assert problem["ctx"]["known"] == ["vk"]
    # values the mart holds are answered as before
    assert get(world, "/marts/mart_growth_ranking", sector="health", **SINCE).json()["total"] > 0


def test_a_sector_in_any_spelling_answers_like_its_stored_name(world: SimpleNamespace) -> None:
    """The marts store sectors as the registry names them (`health`); a Russian name or another
    case finds the same rows."""
    ranking = "/marts/mart_growth_ranking"
    expected = get(world, ranking, sector="health", limit=1000, **SINCE).json()
    assert expected["total"] > 0
    for spelling in ("здравоохранение", "Здравоохранение", "HEALTH", " health "):
        body = get(world, ranking, sector=spelling, limit=1000, **SINCE).json()
        assert (body["total"], body["rows"]) == (expected["total"], expected["rows"]), spelling


def test_spellings_and_known_values_follow_a_new_publication(
    world: SimpleNamespace, built_world: Path, tmp_path: Path
) -> None:
    """The known values are read once per publication: a sector that a later publication
    brings is found in every spelling (`social_protection`, the registry's Russian names) as
    soon as that publication is swapped in."""
    warehouse = copy_warehouse(built_world, tmp_path)
    first = publish_marts(warehouse, run_id="run-a", snapshot_date=LAST_DAY)
    client = TestClient(create_app(first.path, world.store))
    headers = auth(world.tokens["*"])
    ranking = "/marts/mart_growth_ranking"
    r = client.get(ranking, headers=headers, params={"sector": "social_protection", **SINCE})
    assert "social protection" not in _refusal(r, "sector")["ctx"]["known"]
    (administration,) = db(
        SimpleNamespace(published=first.path),
        "select count(*) from marts.mart_growth_ranking where sector = 'administration'",
    )[0]

    # the ranking view takes its sectors from the registry's versions
    con = duckdb.connect(str(warehouse))
    try:
        relabelled = con.execute(
            "update intermediate.int_registry_pages_resolved set sector = 'social protection' "
            "where sector = 'administration'"
        ).fetchone()[0]
    finally:
        con.close()
    assert relabelled > 0 and administration > 0
    publish_marts(warehouse, run_id="run-b", snapshot_date=LAST_DAY)
    params = {"sector": "social protection", "limit": 1000, **SINCE}
    expected = client.get(ranking, headers=headers, params=params).json()
    assert (expected["run_id"], expected["total"]) == ("run-b", administration)
    for spelling in ("social_protection", "Social_Protection", "социальная защита", "соцзащита"):
        body = client.get(ranking, headers=headers, params={**params, "sector": spelling}).json()
        assert body["rows"] == expected["rows"], spelling
    r = client.get(ranking, headers=headers, params={"sector": "administration", **SINCE})
    assert "administration" not in _refusal(r, "sector")["ctx"]["known"]


def test_a_region_scoped_token_never_learns_of_other_regions(world: SimpleNamespace) -> None:
    """Another region's code is a 403 whether the mart holds it or not (as before); a region
    the token may read but the mart lacks, or a value held only elsewhere, is a 422 whose list
    holds the token's regions only."""
    for mart in ("mart_growth_ranking", "mart_page_daily"):
        for region in (54, 77):
            r = get(world, f"/marts/{mart}", "42", region=region, **SINCE)
            assert r.status_code == 403 and f"may not read region {region}" in r.json()["detail"]
        # 54 is held (and 42, 54 by the federal token), 77 by no mart
        problem = _refusal(get(world, f"/marts/{mart}", "42,77", region=77, **SINCE), "region")
        assert problem["ctx"]["known"] == ["42"] and "54" not in problem["msg"]
    problem = _refusal(get(world, "/marts/mart_growth_ranking", "*", region=77, **SINCE), "region")
    assert problem["ctx"]["known"] == ["42", "54"]
    # a mart without rows of region 54, asked by a token that may read it
    problem = _refusal(get(world, "/marts/mart_dq_incidents", "42,54", region=54), "region")
    assert problem["ctx"]["known"] == ["42"]

    # novosibirsk is region 54's: to a token of 42 it is as unknown as a typo
    assert "novosibirsk" in _held(world, "mart_growth_ranking", "municipality", (54,))
    for token, asked in (("42", {}), ("42,54", {"region": 42})):
        r = get(
            world,
            "/marts/mart_growth_ranking",
            token,
            municipality="novosibirsk",
            **asked,
            **SINCE,
        )
        problem = _refusal(r, "municipality")
        assert set(problem["ctx"]["known"]) == _held(
            world, "mart_growth_ranking", "municipality", (42,)
        )
        assert "novosibirsk" not in problem["ctx"]["known"]
        assert "novosibirsk" not in problem["msg"].removeprefix(
            "unknown municipality 'novosibirsk'"
        )
    ok = get(world, "/marts/mart_growth_ranking", "42,54", municipality="novosibirsk", **SINCE)
    assert ok.status_code == 200 and ok.json()["total"] > 0


def test_mart_list_has_columns_counts_and_filters(world: SimpleNamespace) -> None:
    body = get(world, "/marts").json()
    marts = {m["name"]: m for m in body["marts"]}
    names = {
        r[0]
        for r in db(world, "select table_name from duckdb_tables() where schema_name = 'marts'")
    }
    assert set(marts) == names | {"mart_growth_ranking"}
    ranking = marts["mart_growth_ranking"]
    # a view computed when read has no count: counting it would rank all history
    assert ranking["rows"] is None
    assert (
        marts["mart_page_daily"]["rows"]
        == db(world, "select count(*) from marts.mart_page_daily")[0][0]
    )
    assert {"region", "from", "to", "network", "sector", "municipality"} <= set(ranking["filters"])
    assert "sector" not in marts["mart_page_daily"]["filters"]
    assert ranking["columns"][0] == {"name": "period_type", "type": "VARCHAR"}


# --- bundles -----------------------------------------------------------------------------------


def test_latest_bundle_is_downloadable_or_404(world: SimpleNamespace) -> None:
    assert get(world, "/bundles/42/latest", "42").status_code == 404
    bundle = region_dir(world.bundles, 42) / "2025-03-10" / "b-0001"
    bundle.mkdir(parents=True)
    (bundle / "manifest.json").write_text('{"schema_version": 1}')
    (bundle / "mart_region_growth.parquet").write_bytes(b"PAR1 fixture")
    (region_dir(world.bundles, 42) / LATEST_FILE).write_text("2025-03-10/b-0001\n")
    r = get(world, "/bundles/42/latest", "42")
    assert r.status_code == 200
    assert r.headers["x-bundle-id"] == "b-0001"
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert files == {
        "b-0001/manifest.json": b'{"schema_version": 1}',
        "b-0001/mart_region_growth.parquet": b"PAR1 fixture",
    }


def test_a_regions_bundle_holds_its_own_pages_only(world: SimpleNamespace, tmp_path: Path) -> None:
    """The fixture world registers pages of 42 and of 54 (page 110): each region's bundle,
    written from the one published copy, and served to a token of that region, holds its own
    pages' daily rows only."""
    from gospulse.serving.bundle import write_bundle

    bundles = tmp_path / "bundles"
    for code in (42, 54):
        write_bundle(world.published, bundles, region_code=code, snapshot_date=LAST_DAY,
                     run_id="r")  # fmt: skip
    app = TestClient(create_app(world.published, world.store, bundle_dir=bundles))
    pages = {}
    for code, token in ((42, "42"), (54, "42,54")):
        r = app.get(f"/bundles/{code}/latest", headers=auth(world.tokens[token]))
        assert r.status_code == 200
        with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
            [member] = [m for m in tar.getmembers() if m.name.endswith("mart_page_daily.parquet")]
            daily = tmp_path / f"daily-{code}.parquet"
            daily.write_bytes(tar.extractfile(member).read())
        rows = duckdb.sql(
            f"select distinct region_code, page_ref from read_parquet('{daily}') order by 2"
        ).fetchall()
        assert {region for region, _ in rows} == {code}
        pages[code] = {page for _, page in rows}
    assert pages[54] == {"110"} and "110" not in pages[42] and len(pages[42]) >= 7
    assert app.get("/bundles/54/latest", headers=auth(world.tokens["42"])).status_code == 403


def test_links_never_come_from_the_host_header(world: SimpleNamespace) -> None:
    headers = {**auth(world.tokens["*"]), "Host": "evil.example"}
    r = world.client.get("/marts/mart_region_growth?limit=2&format=csv", headers=headers)
    assert r.status_code == 200 and "evil.example" not in r.headers["link"]
    assert r.headers["link"].startswith("</marts/mart_region_growth?")
    based = TestClient(
        create_app(world.published, world.store, base_url="https://api.region42.example/")
    )
    body = based.get("/marts/mart_region_growth?limit=2", headers=headers).json()
    assert body["next"].startswith("https://api.region42.example/marts/mart_region_growth?")


def test_a_corrupt_token_file_is_a_503_naming_it(world: SimpleNamespace, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("{not json", encoding="utf-8")
    client = TestClient(create_app(world.published, TokenStore(path)))
    r = client.get("/marts", headers=auth("gsp_0000_secret"))
    assert r.status_code == 503
    assert "tokens cannot be checked" in r.json()["detail"] and str(path) in r.json()["detail"]


# --- rate limit --------------------------------------------------------------------------------


def test_rate_limit_per_token_answers_429_with_retry_after(world: SimpleNamespace) -> None:
    app = create_app(world.published, world.store, rate=0.5, burst=3)
    client = TestClient(app)
    statuses = [
        client.get("/marts", headers=auth(world.tokens["42"])).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    r = client.get("/marts", headers=auth(world.tokens["42"]))
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    # another token has its own bucket
    assert client.get("/marts", headers=auth(world.tokens["*"])).status_code == 200


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 2, clock=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a")] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] = 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("b") == 0.0
    with pytest.raises(ValueError, match="rate must be > 0"):
        RateLimiter(0, 1)


# --- tokens and CLI ----------------------------------------------------------------------------


def test_token_file_holds_hashes_only(world: SimpleNamespace) -> None:
    text = (world.root / "tokens.json").read_text()
    for token in world.tokens.values():
        assert token.split("_", 2)[2] not in text
    assert (world.root / "tokens.json").stat().st_mode & 0o077 == 0
    clients = {c.client: c for c in world.store.list()}
    assert clients["siberia"].regions == ("42", "54")
    assert clients["old"].revoked_at is not None
    with pytest.raises(TokenFileError, match="bad region code '100'"):
        parse_regions("42,100")
    with pytest.raises(TokenFileError, match="no token 'nope'"):
        world.store.revoke("nope")


def test_cli_token_add_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    tokens = tmp_path / "t.json"

    def run(*argv: str) -> str:
        args = parser.parse_args(["api", "token", *argv, "--tokens", str(tokens)])
        assert args.func(args) == 0
        return capsys.readouterr().out

    out = run("add", "--client", "metabase", "--regions", "42")
    token = out.splitlines()[1]
    client = TokenStore(tokens).verify(token)
    assert client is not None and client.client == "metabase"
    listing = run("list")
    assert "metabase" in listing and "regions=42" in listing and token not in listing
    run("revoke", client.token_id)
    assert TokenStore(tokens).verify(token) is None
    assert "revoked" in run("list")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_serve_answers_on_loopback(world: SimpleNamespace) -> None:
    port = _free_port()
    code = (
        "import argparse, sys\n"
        "from gospulse.cli.api import add_commands\n"
        "p = argparse.ArgumentParser(); add_commands(p.add_subparsers(dest='c'))\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
    )
    argv = ["api", "serve", "--port", str(port), "--published", str(world.published)]
    argv += ["--tokens", str(world.root / "tokens.json")]
    server = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.ConnectError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "api serve did not start in 30 s"
                time.sleep(0.2)
        assert r.json()["run_id"] == "run-1"
        r = httpx.get(
            f"http://127.0.0.1:{port}/marts/mart_region_growth",
            headers=auth(world.tokens["42"]),
            params={"format": "csv"},
        )
        assert r.status_code == 200 and r.text.startswith("region_code,")
    finally:
        server.terminate()
        server.wait(timeout=10)


# --- the whole spec, fuzzed --------------------------------------------------------------------

PAGING = {"limit", "offset", "format"}


def _mart_columns(world: SimpleNamespace) -> dict[str, set[str]]:
    """Each mart of the published copy with its columns, read from DuckDB's catalog."""
    columns: dict[str, set[str]] = {}
    for table, column in db(
        world, "select table_name, column_name from duckdb_columns() where schema_name = 'marts'"
    ):
        columns.setdefault(table, set()).add(column)
    return columns


def test_the_spec_lists_each_marts_own_filters(world: SimpleNamespace) -> None:
    """Each mart has a path of its own in /openapi.json whose filters are exactly the ones the
    mart takes: a listed filter is answered, an unlisted one refused with 422 (schemathesis
    found `municipality` offered on mart_audience, which refuses it)."""
    spec = world.client.get("/openapi.json").json()
    columns = _mart_columns(world)
    listed = {
        path.removeprefix("/marts/"): {p["name"] for p in op["get"]["parameters"]} - PAGING
        for path, op in spec["paths"].items()
        if path.startswith("/marts/")
    }
    assert set(listed) == set(columns)
    index = {m["name"]: set(m["filters"]) for m in get(world, "/marts").json()["marts"]}
    probe = {
        "region": 42,
        "from": "2025-01-01",
        "to": "2025-12-31",
        "network": "vk",
        "sector": "health",
        "municipality": "kemerovo",
    }
    for mart, has in columns.items():
        answers = {
            f: get(world, f"/marts/{mart}", **{**ranked(mart), f: v}).status_code
            for f, v in probe.items()
        }
        assert set(answers.values()) <= {200, 422}, (mart, answers)
        assert listed[mart] == {f for f, status in answers.items() if status == 200}, mart
        assert listed[mart] == index[mart], mart
        named = {"network", "sector", "municipality"}
        assert listed[mart] & named == has & named, mart
    # marts differ, so a spec offering every filter everywhere could not pass the loop above
    assert "municipality" not in listed["mart_audience"]
    assert {"sector", "municipality"} <= listed["mart_growth_ranking"]


# the filters whose values must be ones the mart holds, each with its column
VALUED = {
    "region": "region_code",
    "network": "network",
    "sector": "sector",
    "municipality": "municipality",
}


def _accepted_unless_backwards_or_not_held(world: SimpleNamespace, regions: tuple[int, ...]):
    """schemathesis' positive-data check, except for the two rejections the spec cannot
    express: a period whose `from` is after its `to` may be a 400 saying so, and a value of a
    filter that the mart does not hold in the token's `regions` a 422 listing those it holds
    (the held values are data, and which regions a token sees is not in the spec). Either is
    confirmed against the published copy, read directly."""

    def check(ctx, response, case) -> bool | None:
        query = case.query or {}
        backwards = "from" in query and "to" in query and str(query["from"]) > str(query["to"])
        if backwards and response.status_code == 400:
            assert "is after" in response.json()["detail"], response.text
            return True
        if response.status_code == 422 and case.operation.path.startswith("/marts/"):
            [problem] = response.json()["detail"]
            parameter = problem["loc"][-1]
            if parameter in VALUED and "ctx" in problem:
                mart = case.operation.path.removeprefix("/marts/")
                # a region is checked against the token's; other values within the region asked
                within = (int(query["region"]),) if "region" in query else regions
                held = _held(
                    world, mart, VALUED[parameter], regions if parameter == "region" else within
                )
                value = str(query[parameter])
                spellings = {value, normalize_sector(value)} if parameter == "sector" else {value}
                assert held and not spellings & held, (mart, parameter, value, held)
                assert set(problem["ctx"]["known"]) == held, response.text
                return True
        return positive_data_acceptance(ctx, response, case)

    return check


def test_openapi_spec_holds_with_a_valid_token(world: SimpleNamespace) -> None:
    """Every operation, fuzzed from the spec with a valid token: no 5xx, responses conform, and
    data the spec allows is not refused (no 400 or 422 for a filter the spec offers)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {
        "/health",
        "/marts",
        "/bundles/{region}/latest",
        "/reports/{region}/{month}",
        *(f"/marts/{mart}" for mart in _mart_columns(world)),
    }
    headers = auth(world.tokens["42,54"])
    accepted = _accepted_unless_backwards_or_not_held(world, (42, 54))
    calls: list[tuple[str, int]] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            response = case.call_and_validate(
                headers=headers,
                excluded_checks=[positive_data_acceptance],
                additional_checks=[accepted],
            )
            calls.append((case.operation.path, response.status_code))

        check()
    assert {path for path, _ in calls} == {op.path for op in operations}
    assert all(status < 500 for _, status in calls)
    assert any(path.startswith("/marts/") and status == 200 for path, status in calls)


# --- bounded load on loopback ------------------------------------------------------------------

LOAD_REQUESTS = 300
LOAD_CLIENTS = 4
LOAD_SECONDS = 20.0


def _serving(app) -> tuple[str, object, threading.Thread]:
    """uvicorn serving `app` on a loopback socket bound here (no free-port race)."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    host, port = sock.getsockname()
    return f"http://{host}:{port}", server, thread


def _load_mix(world: SimpleNamespace) -> list[tuple[str, str, dict, str | None, int, object]]:
    """(label, path, params, token, status, check) for each kind of request: pages of every mart,
    a scoped token, CSV, Parquet, the index, and the refusals that must stay refusals. Each
    check compares an answer with the published copy read directly, and returns what is wrong."""
    columns = _mart_columns(world)
    counts = {m: db(world, f"select count(*) from marts.{m}")[0][0] for m in columns}
    ranking_42 = db(world, "select count(*) from marts.mart_growth_ranking where region_code = 42")

    def page(mart: str, total: int, limit: int, region: int | None = None):
        def check(r: httpx.Response) -> str | None:
            body = r.json()
            if (body["mart"], body["run_id"], body["total"]) != (mart, "run-1", total):
                return f"{body['mart']} {body['run_id']} total {body['total']} != {total}"
            if len(body["rows"]) != min(limit, total):
                return f"{len(body['rows'])} rows of {total} at limit {limit}"
            if region is not None and {row["region_code"] for row in body["rows"]} != {region}:
                return "rows of another region"
            return None

        return check

    def csv_page(mart: str, limit: int):
        def check(r: httpx.Response) -> str | None:
            header, *rows = r.text.splitlines()
            if r.headers["x-total-count"] != str(counts[mart]):
                return f"X-Total-Count {r.headers['x-total-count']} != {counts[mart]}"
            if set(header.split(",")) != columns[mart]:
                return f"header {header!r}"
            if len(rows) != min(limit, counts[mart]):
                return f"{len(rows)} rows of {counts[mart]} at limit {limit}"
            return None

        return check

    def parquet(r: httpx.Response) -> str | None:
        ok = r.content[:4] == r.content[-4:] == b"PAR1"
        return None if ok else "not a Parquet file"

    def marts_index(r: httpx.Response) -> str | None:
        names = {m["name"] for m in r.json()["marts"]}
        return None if names == set(columns) else f"marts {sorted(names)}"

    def health(r: httpx.Response) -> str | None:
        return None if r.json()["run_id"] == "run-1" else f"run {r.json()['run_id']}"

    def refused(r: httpx.Response) -> str | None:
        return None if r.json()["detail"] else "no reason given"

    # a CSV page that holds part of its mart, JSON pages that hold part or all of theirs
    assert counts["mart_region_growth"] > 10 and counts["mart_growth_ranking"] > 50
    mix = [
        (f"{m} json", f"/marts/{m}", {"limit": 50, **ranked(m)}, "*", 200, page(m, counts[m], 50))
        for m in columns
    ]
    mix += [
        (
            "ranking scoped",
            "/marts/mart_growth_ranking",
            {"limit": 200, **SINCE},
            "42",
            200,
            page("mart_growth_ranking", ranking_42[0][0], 200, region=42),
        ),
        (
            "region_growth csv",
            "/marts/mart_region_growth",
            {"format": "csv", "limit": 10},
            "*",
            200,
            csv_page("mart_region_growth", 10),
        ),
        (
            "page_growth parquet",
            "/marts/mart_page_growth",
            {"format": "parquet"},
            "*",
            200,
            parquet,
        ),
        ("mart list", "/marts", {}, "42,54", 200, marts_index),
        ("health", "/health", {}, None, 200, health),
        ("unoffered filter", "/marts/mart_audience", {"municipality": "x"}, "*", 422, refused),
        ("other region", "/marts/mart_region_growth", {"region": 54}, "42", 403, refused),
        ("no token", "/marts/mart_page_daily", {}, None, 401, refused),
    ]
    return mix


def test_a_bounded_loopback_load_is_answered_without_one_error(world: SimpleNamespace) -> None:
    """The real app under uvicorn on 127.0.0.1, LOAD_CLIENTS threads sending up to
    LOAD_REQUESTS requests of a fixed mix, stopping at LOAD_SECONDS: every answer has its
    expected status and a body that agrees with the published copy. Concurrent requests share
    one DuckDB connection through per-request cursors, which this exercises; how fast it
    answers is bench/bench_api_load.py's business, not asserted here."""
    app = create_app(world.published, world.store, rate=1e6, burst=10**6)
    mix = _load_mix(world)
    base, server, thread = _serving(app)
    answered: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(LOAD_REQUESTS))
    deadline = time.monotonic() + LOAD_SECONDS

    def client() -> None:
        with httpx.Client(base_url=base, timeout=10) as http:
            for n in counter:
                if time.monotonic() > deadline:
                    return
                label, path, params, token, status, check = mix[n % len(mix)]
                headers = auth(world.tokens[token]) if token else {}
                try:
                    r = http.get(path, params=params, headers=headers)
                    wrong = (
                        check(r) if r.status_code == status else f"{r.status_code}: {r.text[:200]}"
                    )
                except Exception as exc:  # a dropped connection is an error like any other
                    wrong = repr(exc)
                with lock:
                    answered.append(label)
                    if wrong:
                        errors.append(f"{label}: {wrong}")

    try:
        clients = [threading.Thread(target=client) for _ in range(LOAD_CLIENTS)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(LOAD_SECONDS + 15)
    finally:
        server.should_exit = True
        thread.join(10)
    assert errors == [], errors[:5]
    assert {label for label, *_ in mix} <= set(answered)

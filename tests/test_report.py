"""gospulse report on the fixture world (built once by dbt for the session, published here):
the TOP sheet in the order computed by hand from the world's definition, every flagship at or
under 500 listed, the month's totals those of mart_region_growth, `report --month` agreeing
with `top --month`, no formula in the workbook, a self-contained page that Chromium renders."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from openpyxl import load_workbook

from gospulse.cli import main
from gospulse.config.periods import parse_month
from gospulse.config.task_results import MonthlyReports, PublishOutcome
from gospulse.raw.warehouse import connect
from gospulse.serving.publish import publish_marts
from tests.conftest import copy_warehouse
from tests.warehouse_fixtures import PAGES, Page

pytestmark = pytest.mark.slow  # the world comes built by dbt, though nothing here starts dbt

MONTH = "2025-02"
REGION_NAME = "Кемеровская область — Кузбасс"
EVIL_TITLE = '=HYPERLINK("http://evil.example","Кликни")'


@pytest.fixture(scope="module")
def warehouse(built_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = copy_warehouse(built_world, tmp_path_factory.mktemp("report"))
    with connect(copy) as con:
        (last_day,) = con.execute("select max(snapshot_date) from raw.page_snapshots").fetchone()
        # a title a spreadsheet would run, as a registry may hold it
        con.execute(
            "update intermediate.int_registry_pages_resolved set title = ? "
            "where registry_ref = '106'",
            [EVIL_TITLE],
        )
        add_reach(con)
        add_growth_quality(con)
    publish_marts(copy, run_id="report-test", snapshot_date=last_day)
    return copy


REACH_DAY = date(2025, 2, 20)
# made-up: (oktmo, name, level, residents, unique VK people with their bounds)
TERRITORIES = [
    ("32000000", REGION_NAME, "region", 200_000, (50_000.0, 48_000.0, 52_000.0)),
    ("32701000", "Кемеровский городской округ", "municipality", 40_000,
     (12_000.0, 11_500.0, 12_500.0)),
    ("32731000", "Новокузнецкий городской округ", "municipality", 50_000,
     (5_000.0, 4_800.0, 5_200.0)),
]  # fmt: skip


def add_growth_quality(con) -> None:
    """The world reads no member lists: February's growth quality of two pages as a build
    would leave it, one bought, one from elsewhere, and an ordinary one."""
    for ref, mark, new, gone, away, away_share in (
        ("101", "suspect_growth", 1500.0, 1200.0, 10, 0.02),
        ("103", "nonresident_growth", 800.0, 5.0, 700, 0.875),
        ("104", "ok", 300.0, 3.0, 10, 0.04),
    ):
        con.execute(
            "insert into marts.mart_growth_quality by name select 'vk' as network, "
            "? as page_ref, 42 as region_code, 'month' as period_type, "
            "date '2025-02-01' as period_start, date '2025-02-28' as period_end, "
            "? as new_members, ? as new_deactivated, ? / ? as deactivated_share_of_new, "
            "? as nonresidents_growth, ? as nonresident_share_of_growth, "
            "? = 'suspect_growth' as is_suspect_growth, "
            "? = 'nonresident_growth' as is_nonresident_growth, ? as quality_mark, "
            "now() as built_at",
            [ref, new, gone, gone, new, away, away_share, mark, mark, mark],
        )


def add_reach(con) -> None:
    """The world reads no member lists: the audience of one date as a build would leave it,
    and the population of its territories."""
    for line, (oktmo, name, level, residents, (estimate, lower, upper)) in enumerate(
        TERRITORIES, start=2
    ):
        con.execute(
            "insert into raw.population values (42, ?, ?, ?, ?, ?, 2024, 'p.csv', ?, now())",
            [oktmo, name, level, None if level == "region" else "32000000", residents, line],
        )
        con.execute(
            "insert into intermediate.int_territories (oktmo, region_code, name, level) "
            "values (?, 42, ?, ?)",
            [oktmo, name, level],
        )
        con.execute(
            "insert into marts.mart_audience by name select ? as audience_date, "
            "? as scope_type, ? as scope_value, 42 as region_code, 'vk' as network, "
            "3 as pages_total, 2 as pages_with_sketch, 0 as pages_hidden, "
            "0 as pages_over_budget, 1 as pages_unread, ? as subscriptions, "
            "? as subscriptions_covered, 0.75 as coverage, ? as unique_estimate, "
            "? as unique_lower, ? as unique_upper, now() as built_at",
            [REACH_DAY, "region" if level == "region" else "territory",
             "42" if level == "region" else oktmo, int(estimate * 2), int(estimate * 1.5),
             estimate, lower, upper],
        )  # fmt: skip


@pytest.fixture(scope="module")
def report(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report-out")
    os.environ["GOSPULSE_WAREHOUSE"] = str(warehouse)
    try:
        assert main(["report", "--region", "42", "--month", MONTH, "--out", str(out)]) == 0
    finally:
        del os.environ["GOSPULSE_WAREHOUSE"]
    return out


def members_on(page: Page, day: date) -> int | None:
    """The world's members_on by its definition: the latest ok day at most 3 days back."""
    for back in range(4):
        d = day - timedelta(days=back)
        if d in page.missing or d < date(2024, 12, 25) or d > page.last_day:
            continue
        if page.statuses.get(d, "ok") == "ok":
            return page.members(d)
    return None


def expected_growth(flagship_only: bool) -> list[tuple[str, int]]:
    period = parse_month(MONTH)
    rows = []
    for page in PAGES.values():
        if page.region_code != 42 or page.page_ref is None:
            continue
        if flagship_only and not page.is_flagship:
            continue
        start, end = members_on(page, period.base_day), members_on(page, period.last)
        if start is not None and end is not None:
            pct = (end - start) / start if start else float("-inf")
            title = EVIL_TITLE if page.page_ref == "106" else page.title
            rows.append((title, end - start, pct, page.page_ref))
    rows.sort(key=lambda r: (-r[1], -r[2], r[3]))
    return [(title, growth) for title, growth, *_ in rows[:10]]


def sheet_rows(path: Path, name: str) -> list[tuple]:
    book = load_workbook(path)
    return [row for row in book[name].iter_rows(min_row=4, values_only=True) if row[0] is not None]


def test_the_top_sheets_list_the_pages_in_the_order_computed_by_hand(report):
    book = load_workbook(report / "report.xlsx")
    assert [n for n in book.sheetnames if n.startswith("ТОП")] == [
        "ТОП-10 флагманов",
        "ТОП-10 всех страниц",
    ]
    for name, flagship_only in (("ТОП-10 флагманов", True), ("ТОП-10 всех страниц", False)):
        got = [(r[1], r[6]) for r in sheet_rows(report / "report.xlsx", name)]
        assert got == expected_growth(flagship_only), name
        assert len(got) >= 3


def test_every_flagship_at_or_under_500_is_on_the_flagship_sheet(report):
    last = parse_month(MONTH).last
    under = {
        EVIL_TITLE if page.page_ref == "106" else page.title
        for page in PAGES.values()
        if page.region_code == 42 and page.is_flagship and page.page_ref is not None
        and (members_on(page, last) is None or members_on(page, last) <= 500)
    }  # fmt: skip
    listed = {row[0] for row in sheet_rows(report / "report.xlsx", "Флагманы")}
    assert under and under <= listed


def test_the_months_totals_are_mart_region_growths(report, warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        growth, change, total = con.execute(
            "select growth, growth_change, members_total from marts.mart_region_growth "
            "where region_code = 42 and network = 'all' and month_start = ?",
            [date(2025, 2, 1)],
        ).fetchone()
    (region,) = [r for r in sheet_rows(report / "report.xlsx", "Итоги") if r[0] == REGION_NAME]
    assert region[2:6] == (total, growth, growth - change, change)


def test_report_month_and_top_month_agree(report, warehouse, monkeypatch, capsys):
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    args = ["top", "--month", MONTH, "--region", "42", "--network", "all", "--format", "json"]
    assert main(args) == 0
    top = [(r["title"], r["growth"]) for r in json.loads(capsys.readouterr().out)["rows"]]
    sheet = [(r[1], r[6]) for r in sheet_rows(report / "report.xlsx", "ТОП-10 всех страниц")]
    assert sheet == top


def test_the_tops_mark_growth_quality_and_say_why(report, warehouse, monkeypatch, capsys):
    marks = {r[1]: (r[8], r[9]) for r in sheet_rows(report / "report.xlsx", "ТОП-10 всех страниц")}
    assert marks["Администрация Кемерово"] == (
        "подозрительный прирост",
        "в феврале 2025: из ~1\u00a0500 новых подписчиков ~1\u00a0200 (80,0\u00a0%) позже "
        "удалены или заблокированы ВКонтакте",
    )
    assert marks["Администрация Новокузнецка"] == (
        "прирост не из региона",
        "в феврале 2025: 87,5\u00a0% прироста среди указавших город — подписчики из других "
        "регионов (+700)",
    )
    # an empty cell reads back as None
    assert marks["Школа №1"] == ("в порядке", None)
    # a page without growth-quality months has no mark
    assert {m for title, m in marks.items() if title not in (
        "Администрация Кемерово", "Администрация Новокузнецка", "Школа №1"
    )} == {(None, None)}  # fmt: skip
    page = html.unescape((report / "report.html").read_text(encoding="utf-8"))
    assert "«Администрация Кемерово»: в феврале 2025: из ~1\u00a0500" in page
    # `top --quality` gives the same marks
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    args = ["top", "--month", MONTH, "--region", "42", "--network", "all", "--quality"]
    assert main([*args, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {r["title"]: r["quality"] for r in rows if r["quality"]} == {
        "Администрация Кемерово": "подозрительный прирост",
        "Администрация Новокузнецка": "прирост не из региона",
        "Школа №1": "в порядке",
    }
    assert main(args) == 0
    assert "подозрительный прирост" in capsys.readouterr().out


def test_the_reach_of_the_region_and_its_territories_is_on_the_page_and_a_sheet(report):
    page = (report / "report.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "Это около 25,0\u00a0% жителей региона (от 24,0\u00a0% до 26,0\u00a0%)." in text
    assert "Охват населения во ВКонтакте на 20.02.2025" in text
    # the region first, then its municipalities by reach: Kemerovo 30 %, Novokuznetsk 10 %
    names = [name for _, name, *_ in TERRITORIES]
    at = [text.index(name + " ", text.index("Охват населения")) for name in names]
    assert at == sorted(at)
    assert "30,0\u00a0% (28,8\u00a0%–31,3\u00a0%)" in text
    rows = sheet_rows(report / "report.xlsx", "Охват")
    assert [row[:5] for row in rows] == [
        (REGION_NAME, "32000000", "регион", 200_000, 2024),
        ("Кемеровский городской округ", "32701000", "муниципалитет", 40_000, 2024),
        ("Новокузнецкий городской округ", "32731000", "муниципалитет", 50_000, 2024),
    ]
    assert [row[5:9] for row in rows] == [
        (50_000, 25.0, 24.0, 26.0),
        (12_000, 30.0, 28.75, 31.25),
        (5_000, 10.0, 9.6, 10.4),
    ]
    assert [row[9] for row in rows] == [0.5, 0.6, 0.2]


def test_no_cell_of_the_workbook_is_a_formula(report):
    book = load_workbook(report / "report.xlsx")
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert any(c.value == EVIL_TITLE and c.data_type == "s" for c in cells)


def test_the_page_is_self_contained_russian_and_renders(report, tmp_path):
    page = (report / "report.html").read_text(encoding="utf-8")
    # nothing is fetched: no http(s) or protocol-relative address anywhere in the page
    inert = page.replace(html.escape(EVIL_TITLE), "")  # the registry's text, shown as text
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", inert)
    assert "data:image/png;base64," in page
    assert "подписок" in page and "на 28.02.2025" in page
    assert "Все данные смоделированы" not in page
    for name in ("subscriptions_by_day", "top10_flagships", "growth_by_network",
                 "growth_by_sector"):  # fmt: skip
        assert (report / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI: chromium is not installed (.ci/run installs it)")
        pytest.skip("no chromium on this machine")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=1200,1600", (report / "report.html").as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1600, 1200)
    assert pixels.std() > 0.05  # not a blank page


def test_a_simulated_world_says_so(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    args = ["report", "--region", "42", "--start", "2025-02-03", "--end", "2025-02-16"]
    assert main([*args, "--out", str(tmp_path), "--simulated"]) == 0
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Все данные смоделированы" in page
    # a period that is not a month is compared with as many days before it
    assert "03.02–16.02.2025" in page and "столько же дней перед периодом" in page


def test_the_daily_run_writes_a_closed_months_reports_beside_the_copy(warehouse, monkeypatch):
    from gospulse.orchestration.tasks import write_monthly_reports
    from gospulse.serving.layout import published_path, report_dir

    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    published = PublishOutcome(published=True, snapshot_date="2025-02-27")
    assert write_monthly_reports(published) == MonthlyReports(
        written=False, reason="2025-02-27 does not close its month"
    )
    assert write_monthly_reports(
        PublishOutcome(published=False, reason="dbt failed")
    ) == MonthlyReports(written=False, reason="dbt failed")
    result = write_monthly_reports(PublishOutcome(published=True, snapshot_date="2025-02-28"))
    assert result.written and result.month == "2025-02"
    assert result.regions == (42, 54)
    for code in (42, 54):
        folder = report_dir(published_path(warehouse), code, "2025-02")
        assert (folder / "report.html").exists() and (folder / "report.xlsx").exists()
        assert str(folder / "report.html") in result.paths


def test_the_api_serves_a_closed_months_report_within_the_tokens_regions(
    warehouse, monkeypatch, tmp_path
):
    from fastapi.testclient import TestClient

    from gospulse.api.app import create_app
    from gospulse.api.tokens import TokenStore
    from gospulse.orchestration.tasks import write_monthly_reports
    from gospulse.serving.layout import published_path

    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    assert write_monthly_reports(PublishOutcome(published=True, snapshot_date="2025-02-28")).written
    store = TokenStore(tmp_path / "tokens.json")
    region_42, _ = store.add("ЦУР", "42")
    region_54, _ = store.add("сосед", "54")
    client = TestClient(create_app(published_path(warehouse), store))

    def get(token, path):
        return client.get(path, headers={"Authorization": f"Bearer {token}"})

    page = get(region_42, "/reports/42/2025-02")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "Кемеровская область" in page.text and "февраль 2025" in page.text
    book = get(region_42, "/reports/42/2025-02?format=xlsx")
    assert book.status_code == 200 and book.content.startswith(b"PK")
    assert 'filename="report-42-2025-02.xlsx"' in book.headers["content-disposition"]
    assert get(region_54, "/reports/42/2025-02").status_code == 403
    assert get(region_54, "/reports/54/2025-02").status_code == 200
    missing = get(region_42, "/reports/42/2025-01")
    assert missing.status_code == 404 and "no report of 2025-01" in missing.text
    assert get(region_42, "/reports/42/2025-13").status_code == 422
    assert get(region_42, "/reports/42/2025-02?format=pdf").status_code == 422
    assert client.get("/reports/42/2025-02").status_code == 401

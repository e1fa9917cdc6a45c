"""top_pages over arbitrary ranges on the published copy, without dbt: agrees with the
published view mart_growth_ranking, filters, exclusions, errors."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from gospulse.raw.warehouse import connect
from gospulse.serving.layout import published_path
from gospulse.serving.publish import open_published, publish_marts
from gospulse.serving.ranking import RANK_KEYS, top_pages
from tests.conftest import copy_warehouse


@pytest.fixture(scope="module")
def warehouse(built_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the built world with its marts published, as every build leaves it: top_pages
    reads the published copy."""
    copy = copy_warehouse(built_world, tmp_path_factory.mktemp("ranking"))
    with connect(copy, read_only=True) as con:
        (last_day,) = con.execute("select max(snapshot_date) from raw.page_snapshots").fetchone()
    publish_marts(copy, run_id="test", snapshot_date=last_day)
    return copy


def mart_ranking(warehouse: Path, period_start: date, scope_type: str, scope_value: str, by: str):
    rank = "rank_abs" if by == "abs" else "rank_pct"
    reason = "exclusion_reason" if by == "abs" else "pct_exclusion_reason"
    con = open_published(published_path(warehouse))
    try:
        ranked = con.execute(
            f"select {rank}, network, registry_ref, title, members_start, members_end, growth, "
            f"growth_pct from marts.mart_growth_ranking where period_type = 'month' "
            f"and period_start = ? and scope_type = ? and scope_value = ? and {rank} is not null "
            f"and ranking_network = network order by {rank}",
            [period_start, scope_type, scope_value],
        ).fetchall()
        excluded = con.execute(
            f"select registry_ref, {reason} from marts.mart_growth_ranking "
            f"where period_type = 'month' and period_start = ? and scope_type = ? "
            f"and scope_value = ? and {rank} is null and ranking_network = network "
            f"order by registry_ref",
            [period_start, scope_type, scope_value],
        ).fetchall()
    finally:
        con.close()
    return [dict(zip(RANK_KEYS, row, strict=True)) for row in ranked], excluded


def excluded_pairs(result) -> list[tuple[str, str]]:
    return sorted((e["page_ref"], e["reason"]) for e in result.excluded)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("month_start", "month_end", "by"),
    [(date(2025, 1, 1), date(2025, 1, 31), "abs"), (date(2025, 2, 1), date(2025, 2, 28), "pct")],
)
def test_calendar_month_agrees_with_mart(warehouse, month_start, month_end, by):
    result = top_pages(
        date.fromordinal(month_start.toordinal() - 1),
        month_end,
        region_code=42,
        network="vk",
        by=by,
        n=50,
        warehouse=warehouse,
    )
    ranked, excluded = mart_ranking(warehouse, month_start, "region", "42", by)
    assert result.rows == ranked
    assert len(ranked) >= 6
    assert excluded_pairs(result) == excluded


@pytest.mark.slow
def test_top_n_and_tie_order(warehouse):
    result = top_pages(
        date(2024, 12, 31), date(2025, 1, 31), n=3, region_code=42, warehouse=warehouse
    )
    assert [(r["rank"], r["page_ref"], r["growth"]) for r in result.rows] == [
        (1, "103", 310),
        (2, "104", 310),
        (3, "101", 310),
    ]
    assert set(result.rows[0]) == {
        "rank",
        "network",
        "page_ref",
        "title",
        "members_start",
        "members_end",
        "growth",
        "growth_pct",
    }
    assert excluded_pairs(result) == [
        ("https://vk.com/ghost_page", "unresolved"),
        ("https://vk.com/kuzbass_health", "unknown_end"),
    ]


@pytest.mark.slow
def test_arbitrary_range_with_filters(warehouse):
    # Jan 5 → Feb 7 in culture: 105 grows 95 → 128; 106 and 107 stay flat (page_ref decides)
    culture = top_pages(date(2025, 1, 5), date(2025, 2, 7), sector="culture", warehouse=warehouse)
    assert [
        (r["page_ref"], r["members_start"], r["members_end"], r["growth"]) for r in culture.rows
    ] == [("105", 95, 128, 33), ("106", 5000, 5000, 0), ("107", 800, 800, 0)]
    assert culture.excluded == []
    # flagship pages of region 42 by %, ending inside 102's gap does not matter to them;
    # 105 starts under 100 members, the unresolved flagship is listed too
    flagships = top_pages(
        date(2025, 1, 5),
        date(2025, 2, 7),
        region_code=42,
        flagship_only=True,
        by="pct",
        warehouse=warehouse,
    )
    assert [r["page_ref"] for r in flagships.rows] == ["101", "106", "107"]
    assert excluded_pairs(flagships) == [
        ("105", "below_min_members_for_pct"),
        ("https://vk.com/ghost_page", "unresolved"),
    ]


@pytest.mark.slow
def test_end_inside_a_gap_carries_or_excludes(warehouse):
    # 102 has no rows Jan 28–31: Jan 30 carries Jan 27 (2270), Jan 31 is unknown
    carried = top_pages(
        date(2025, 1, 10),
        date(2025, 1, 30),
        municipality="kemerovo",
        sector="health",
        warehouse=warehouse,
    )
    assert [
        (r["page_ref"], r["members_start"], r["members_end"], r["growth"]) for r in carried.rows
    ] == [("https://vk.com/kuzbass_health", 2100, 2270, 170)]
    unknown = top_pages(
        date(2025, 1, 10),
        date(2025, 1, 31),
        municipality="kemerovo",
        sector="health",
        warehouse=warehouse,
    )
    assert unknown.rows == []
    assert excluded_pairs(unknown) == [("https://vk.com/kuzbass_health", "unknown_end")]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"by": "rel"}, ValueError, "by must be"),
        ({"n": 0}, ValueError, "n must be a positive integer"),
        ({"n": 2.5}, ValueError, "n must be a positive integer"),
        ({"start": date(2025, 2, 1)}, ValueError, "must be before end"),
        ({"start": datetime(2025, 1, 1)}, TypeError, "datetime.date"),
        ({"end": "2025-02-01"}, TypeError, "datetime.date"),
        ({"region_code": "42"}, ValueError, "region_code must be an int"),
    ],
)
def test_bad_arguments_are_rejected_before_dbt_runs(tmp_path, kwargs, error, message):
    args = {"start": date(2025, 1, 1), "end": date(2025, 2, 1), **kwargs}
    with pytest.raises(error, match=message):
        top_pages(args.pop("start"), args.pop("end"), warehouse=tmp_path / "none.duckdb", **args)


def test_missing_warehouse_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no published marts.*run `gospulse build`"):
        top_pages(date(2025, 1, 1), date(2025, 2, 1), warehouse=tmp_path / "none.duckdb")


@pytest.mark.slow  # the world comes built by dbt, though nothing here starts dbt
def test_an_end_after_the_published_days_is_an_error(warehouse):
    # the world's last snapshot is 2025-03-10
    with pytest.raises(
        ValueError, match=r"after the last day of the published marts \(2025-03-10\)"
    ):
        top_pages(date(2025, 3, 1), date(2025, 3, 11), warehouse=warehouse)
    assert top_pages(date(2025, 3, 1), date(2025, 3, 10), warehouse=warehouse).rows


@pytest.mark.slow
def test_cli_top_prints_csv_and_json(warehouse, monkeypatch, capsys):
    import csv
    import io
    import json

    from gospulse.cli import main

    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    # the days Jan 6 .. Feb 7: growth counted from members_on(Jan 5)
    args = ["top", "--start", "2025-01-06", "--end", "2025-02-07", "--sector", "culture"]
    assert main([*args, "--format", "csv"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == [
        "rank",
        "network",
        "page_ref",
        "title",
        "members_start",
        "members_end",
        "growth",
        "growth_pct",
    ]
    assert [(r[0], r[2], r[4], r[5], r[6]) for r in rows[1:]] == [
        ("1", "105", "95", "128", "33"),
        ("2", "106", "5000", "5000", "0"),
        ("3", "107", "800", "800", "0"),
    ]
    # the same rows for Russian Excel: a byte-order mark, Russian headers, `;`, decimal commas
    assert main([*args, "--format", "csv", "--excel"]) == 0
    excel = capsys.readouterr().out
    assert excel.startswith("\ufeffМесто;Соцсеть;Страница;Название;")
    excel_rows = list(csv.reader(io.StringIO(excel.removeprefix("\ufeff")), delimiter=";"))
    assert [(r[0], r[2], r[6]) for r in excel_rows[1:]] == [
        ("1", "105", "33"),
        ("2", "106", "0"),
        ("3", "107", "0"),
    ]
    assert "," in excel_rows[1][7] or excel_rows[1][7].isdigit()
    assert (
        main(
            [
                "top",
                "--start",
                "2025-01-06",
                "--end",
                "2025-02-07",
                "--region",
                "42",
                "--flagship-only",
                "--by",
                "pct",
                "--format",
                "json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert [r["page_ref"] for r in data["rows"]] == ["101", "106", "107"]
    assert {e["page_ref"] for e in data["excluded"]} == {"105", "https://vk.com/ghost_page"}
    assert main([*args, "--format", "table"]) == 0
    table = capsys.readouterr()
    assert table.out.splitlines()[0].split() == rows[0]
    assert "+33" in table.out


@pytest.mark.slow  # the world comes built by dbt, though nothing here starts dbt
def test_an_unknown_filter_value_is_an_error_listing_the_known_ones(warehouse):
    from gospulse.config.choices import UnknownChoice

    start, end = date(2025, 1, 1), date(2025, 2, 1)
    with pytest.raises(UnknownChoice, match=r"unknown region '999' \(known: 42, 54\)"):
        top_pages(start, end, region_code=999, warehouse=warehouse)
    with pytest.raises(UnknownChoice, match="unknown sector 'astrology'.*known: administration"):
        top_pages(start, end, sector="astrology", warehouse=warehouse)
    with pytest.raises(UnknownChoice, match="did you mean culture"):
        top_pages(start, end, sector="cultur", warehouse=warehouse)
    # a municipality of another region is unknown within the region asked for
    with pytest.raises(UnknownChoice, match="unknown municipality 'novosibirsk'"):
        top_pages(start, end, region_code=42, municipality="novosibirsk", warehouse=warehouse)


@pytest.mark.slow
def test_a_sector_is_found_by_its_russian_name_and_any_spelling(warehouse):
    start, end = date(2024, 12, 31), date(2025, 1, 31)
    canonical = top_pages(start, end, sector="health", warehouse=warehouse)
    assert top_pages(start, end, sector="Здравоохранение", warehouse=warehouse) == canonical
    assert canonical.rows or canonical.excluded  # page 102 is the health page


@pytest.mark.slow
def test_cli_top_names_an_unknown_region_and_counts_exclusions_by_reason(
    warehouse, monkeypatch, capsys
):
    from gospulse.cli import main

    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    assert main(["top", "--start", "2025-01-01", "--end", "2025-02-01", "--region", "999"]) == 1
    assert "unknown region '999' (known: 42, 54)" in capsys.readouterr().err
    args = ["top", "--start", "2025-01-06", "--end", "2025-02-07", "--region", "42", "--by", "pct"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "pages excluded: " in err and "below_min_members_for_pct" in err


@pytest.mark.slow  # the world comes built by dbt, though nothing here starts dbt
@pytest.mark.parametrize(("month", "by"), [("2025-01", "abs"), ("2025-02", "pct")])
def test_top_of_a_month_is_the_marts_month(warehouse, monkeypatch, capsys, month, by):
    """`top --month` counts from the previous month's last day, as the ranking view does."""
    import json

    from gospulse.cli import main

    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    args = ["top", "--month", month, "--region", "42", "--network", "vk", "--n", "50"]
    assert main([*args, "--by", by, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    ranked, _ = mart_ranking(warehouse, date.fromisoformat(f"{month}-01"), "region", "42", by)
    assert [(r["page_ref"], r["growth"]) for r in rows] == [
        (r["page_ref"], r["growth"]) for r in ranked
    ]
    assert len(rows) >= 6


def test_a_period_is_a_month_or_both_days(monkeypatch, tmp_path, capsys):
    from gospulse.cli import main

    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(tmp_path / "none.duckdb"))
    assert main(["top", "--month", "2025-13"]) == 2
    assert "is not YYYY-MM" in capsys.readouterr().err
    assert main(["top", "--start", "2025-01-01"]) == 2
    assert "give --month YYYY-MM, or --start and --end" in capsys.readouterr().err
    assert main(["top", "--month", "2025-01", "--start", "2025-01-01", "--end", "2025-01-31"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["top", "--start", "2025-02-01", "--end", "2025-01-31"]) == 2
    assert "starts (2025-02-01) on or before it ends" in capsys.readouterr().err

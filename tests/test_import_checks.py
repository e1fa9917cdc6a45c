"""History imports and registries as people and offices really write them.

Each bad row is refused with the user's file and line and a reason in our words, the rest of
the file is stored, and nothing stored before is lost. Files come as Russian offices save them:
cp1251 with `;`, Russian headers and values, dd.mm.yyyy dates, spaced thousands, XLSX.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from openpyxl import Workbook

from gospulse.cli import main
from gospulse.raw.history_import import import_history
from gospulse.raw.warehouse import SnapshotRow, connect, replace_snapshots
from gospulse.registry.office_files import TableFileError
from gospulse.registry.pages import validate_registry

HEADER = "network,page_ref,snapshot_date,members_count,status"
TODAY = date(2026, 12, 6)


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(path))
    with connect(path) as con:
        for line, ref in enumerate(("101", "102", "103"), start=2):
            con.execute(
                "insert into raw.registry_pages values ('vk', ?, 'id', ?, 'Страница', null, 42, "
                "null, 'health', false, 'r.csv', ?, ?, null)",
                [ref, ref, line, datetime.now()],
            )
    return path


def stored(path):
    with connect(path, read_only=True) as con:
        return con.execute(
            "select page_ref, snapshot_date, members_count, status from raw.page_snapshots "
            "order by all"
        ).fetchall()


def write(tmp_path, lines, name="history.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def by_line(result):
    return {e.line: e.reason for e in result.errors}


def test_each_bad_row_is_refused_with_its_line_and_the_rest_is_stored(tmp_path, warehouse):
    csv = write(
        tmp_path,
        [
            HEADER,
            "vk,101,2026-07-01,1000,ok",  # 2
            "vk,101,2026-07-02,1001",  # 3: the status column is missing
            "vk,101,2026-07-03,1002,ok,surplus",  # 4: one column too many
            "vk,101,2099-01-01,1003,ok",  # 5: a date past tomorrow
            "vk,101,0001-01-01,1004,ok",  # 6: a date before 2000
            "vk,101,2026-07-04,99999999999999999999,ok",  # 7: above BIGINT
            "vk,101,2026-07-05,1005,",  # 8: the status is empty
            "vk,999,2026-07-05,50,ok",  # 9: a page no registry lists
            "vk,102,2026-07-06,1006,ok",  # 10
        ],
    )
    result = import_history(csv, warehouse, today=TODAY)
    errors = by_line(result)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9]
    assert errors[3] == "fewer columns than the header's 5"
    assert errors[4] == "more columns than the header's 5"
    assert errors[5] == "snapshot_date 2099-01-01 outside 2000-01-01..2026-12-07"
    assert errors[6] == "snapshot_date 0001-01-01 outside 2000-01-01..2026-12-07"
    assert errors[7] == (
        "members_count must be a whole number from 0 to 9223372036854775807, "
        "got '99999999999999999999'"
    )
    assert errors[8] == "missing status"
    assert "page vk 999 is in no registry" in errors[9] and "--allow-unregistered" in errors[9]
    # no DuckDB internals reach the user
    assert not any("Conversion" in e or "Error" in e for e in errors.values())
    assert stored(warehouse) == [
        ("101", date(2026, 7, 1), 1000, "ok"),
        ("102", date(2026, 7, 6), 1006, "ok"),
    ]
    assert result.bad_rows == 7 and result.written.written == 2


def test_a_field_over_64_kb_is_one_bad_row_and_reading_goes_on(tmp_path, warehouse):
    csv = write(
        tmp_path,
        [
            HEADER,
            "vk,101,2026-07-01,1000,ok",
            f"vk,101,2026-07-02,1001,{'x' * 1_100_000}",  # 3: a whole line over the line limit
            f'vk,"{"y" * 70_000}",2026-07-02,5,ok',  # 4: a field over 64 KB in a shorter line
            "vk,101,2026-07-03,1002,ok",
        ],
    )
    result = import_history(csv, warehouse, today=TODAY)
    assert by_line(result) == {3: "line longer than 1024 KB", 4: "a field longer than 64 KB"}
    assert [r[1] for r in stored(warehouse)] == [date(2026, 7, 1), date(2026, 7, 3)]


def test_unregistered_pages_are_stored_only_when_allowed(tmp_path, warehouse, capsys):
    csv = write(tmp_path, [HEADER, "vk,999,2026-07-05,50,ok", "vk,101,2026-07-05,10,ok"])
    assert main(["import-snapshots", str(csv)]) == 1
    out = capsys.readouterr()
    assert f"{csv}:2: page vk 999 is in no registry" in out.out
    assert [r[0] for r in stored(warehouse)] == ["101"]
    assert main(["import-snapshots", "--allow-unregistered", str(csv)]) == 0
    assert [r[0] for r in stored(warehouse)] == ["101", "999"]


def test_lines_are_the_files_lines_past_blank_lines_quoted_breaks_and_refused_rows(
    tmp_path, warehouse
):
    csv = write(
        tmp_path,
        [
            HEADER,
            "",  # 2: blank
            'vk,101,2026-07-01,"1 000",ok',  # 3: spaced thousands are a count
            "vk,101,2026-07-02,1,ok,x",  # 4: refused by the reader
            'vk,"10',  # 5-6: a reference with a line break inside quotes
            '1",2026-07-03,7,ok',
            "vk,101,2026-07-01,1001,ok",  # 7: the same page and day as line 3
            "vk,101,2026-07-04,-5,ok",  # 8
        ],
    )
    result = import_history(csv, warehouse, today=TODAY)
    errors = by_line(result)
    assert sorted(errors) == [4, 5, 7, 8]
    assert "malformed page reference" in errors[5]
    assert errors[7] == "duplicate of line 3"
    assert "got '-5'" in errors[8]
    assert stored(warehouse) == [("101", date(2026, 7, 1), 1000, "ok")]


def test_a_day_written_twice_is_found_on_the_first_and_last_dates_accepted(tmp_path, warehouse):
    """Duplicates are found by a bitmap of each page's days from EARLIEST_DATE to the day
    after today: a key on either end of that range, and on two pages at once, still counts."""
    from gospulse.raw.history_import import EARLIEST_DATE

    first, last = EARLIEST_DATE.isoformat(), "2026-12-07"  # TODAY + 1, the latest accepted
    csv = write(
        tmp_path,
        [
            HEADER,
            f"vk,101,{first},10,ok",  # 2
            f"vk,101,{last},11,ok",  # 3
            f"vk,102,{last},20,ok",  # 4
            f"vk,101,{first},12,ok",  # 5: as line 2
            f"vk,102,{last},21,ok",  # 6: as line 4
            f"vk,101,{last},13,ok",  # 7: as line 3
            f"vk,103,{last},30,ok",  # 8: another page, once
        ],
    )
    result = import_history(csv, warehouse, today=TODAY)
    assert by_line(result) == {
        5: "duplicate of line 2",
        6: "duplicate of line 4",
        7: "duplicate of line 3",
    }
    assert [(ref, count) for ref, _, count, _ in stored(warehouse)] == [
        ("101", 10),
        ("101", 11),
        ("102", 20),
        ("103", 30),
    ]


def test_lines_are_exact_in_a_file_the_reader_splits_among_threads(tmp_path, warehouse):
    """Row numbers come from the order DuckDB keeps while it reads in parallel: in a file of
    many buffers, a bad row and a duplicate near its end are still named by their lines."""
    import duckdb

    csv = tmp_path / "history.csv"
    pages, days = 2000, 730  # 1,460,000 rows, well over one read buffer
    with duckdb.connect() as con:
        con.execute(
            "copy (select 'vk' as network, (100000 + p)::varchar as page_ref, "
            "DATE '2024-01-01' + d::integer as snapshot_date, 1000 + d as members_count, "
            "'ok' as status from range($pages) t(p), range($days) s(d)) "
            "to $path (header, delimiter ',')",
            {"pages": pages, "days": days, "path": str(csv)},
        )
    with csv.open() as fh:  # where DuckDB wrote that key, found by reading the lines
        first = next(n for n, line in enumerate(fh, 1) if line.startswith("vk,100007,2024-01-03,"))
    with csv.open("a") as fh:
        fh.write("vk,100007,2024-01-03,5,ok\n")  # the same key again
        fh.write("vk,100008,2024-13-01,5,ok\n")
    result = import_history(csv, warehouse, allow_unregistered=True, today=TODAY)
    rows = pages * days
    assert by_line(result) == {
        rows + 2: f"duplicate of line {first}",
        rows + 3: by_line(result)[rows + 3],
    }
    assert "2024-13-01" in by_line(result)[rows + 3]
    assert result.stored_rows == rows


def test_a_refused_file_loses_nothing_stored_before(tmp_path, warehouse, capsys):
    with connect(warehouse) as con:
        replace_snapshots(con, [SnapshotRow("vk", "101", date(2026, 7, 1), 1000, "ok")])
    before = stored(warehouse)
    not_a_table = tmp_path / "history.csv"
    not_a_table.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(TableFileError, match="binary data"):
        import_history(not_a_table, warehouse, today=TODAY)
    no_header = write(tmp_path, ["a;b", "1;2"], name="other.csv")
    assert main(["import-snapshots", str(no_header)]) == 2
    assert "header lacks network" in capsys.readouterr().err
    all_bad = write(tmp_path, [HEADER, "vk,101,2026-07-01,,error"], name="bad.csv")
    result = import_history(all_bad, warehouse, today=TODAY)
    assert result.written.kept_existing == 1
    assert stored(warehouse) == before


def test_an_office_csv_in_cp1251_with_semicolons_and_russian_headers(tmp_path, warehouse):
    csv = write(
        tmp_path,
        [
            "Сеть;Ссылка;Дата;Подписчики;Статус",
            "ВКонтакте;101;05.07.2026;4\u00a0647;ok",
            "вк;https://vk.com/club102;06.07.2026;12 100;ok",
            "ВК;103;31.02.2026;5;ok",  # 4: no such day
        ],
        encoding="cp1251",
    )
    result = import_history(csv, warehouse, today=TODAY)
    assert by_line(result) == {4: "bad snapshot_date '31.02.2026' (use YYYY-MM-DD or DD.MM.YYYY)"}
    assert stored(warehouse) == [
        ("101", date(2026, 7, 5), 4647, "ok"),
        ("102", date(2026, 7, 6), 12100, "ok"),
    ]


def test_an_xlsx_history_is_read_directly(tmp_path, warehouse):
    book = Workbook()
    sheet = book.active
    sheet.append(["сеть", "ссылка", "дата", "подписчики", "статус"])
    sheet.append(["vk", 101, datetime(2026, 7, 5), 1500, "ok"])
    sheet.append(["vk", 102, "05.07.2026", 2500.0, "ok"])
    sheet.append(["vk", 103, datetime(2026, 7, 5), -1, "ok"])  # row 4
    path = tmp_path / "history.xlsx"
    book.save(path)
    result = import_history(path, warehouse, today=TODAY)
    assert list(by_line(result)) == [4]
    assert stored(warehouse) == [
        ("101", date(2026, 7, 5), 1500, "ok"),
        ("102", date(2026, 7, 5), 2500, "ok"),
    ]


REGISTRY_RU = [
    "Сеть;Ссылка;Название;Организация;Код региона;Муниципалитет;Сфера;Флагман",
    "ВКонтакте;https://vk.com/club1;Минздрав Кузбасса;Минздрав;42;;Здравоохранение;да",
    "Одноклассники;https://ok.ru/group/2;ДК;МБУК;42;;культура;нет",
    "Телеграм;@kuzbass_news;Новости;АНО;42;;социальная защита;Да",
    "vk;3;Школа;МБОУ;42;;образование;может быть",  # 5: neither да nor нет
]


def test_an_office_registry_in_cp1251_with_semicolons_and_russian_names(tmp_path):
    path = write(tmp_path, REGISTRY_RU, name="42.csv", encoding="cp1251")
    result = validate_registry(path)
    assert [(p.network, p.sector, p.is_flagship) for p in result.pages] == [
        ("vk", "health", True),
        ("ok", "culture", False),
        ("tg", "social protection", True),
    ]
    assert [(e.line, e.reason) for e in result.errors] == [
        (5, "flagship must be true or false, got 'может быть'")
    ]


def test_an_xlsx_registry_is_read_directly_and_found_in_a_folder(tmp_path):
    book = Workbook()
    sheet = book.active
    for line in REGISTRY_RU[:3]:
        sheet.append(line.split(";"))
    sheet.append(["vk", 4, "Спорт", "Минспорт", 42, None, "sport", True])
    folder = tmp_path / "registry"
    folder.mkdir()
    book.save(folder / "42.xlsx")
    (folder / "~$42.xlsx").write_bytes(b"lock")  # Excel's lock file beside an open workbook
    from gospulse.registry.pages import load_registry, registry_paths

    result = load_registry(registry_paths(folder))
    assert not result.errors
    assert [(p.ref.value, p.region_code, p.is_flagship) for p in result.pages] == [
        ("1", 42, True),
        ("2", 42, False),
        ("4", 42, True),
    ]


def test_a_line_separator_inside_a_title_keeps_the_row_whole(tmp_path):
    header = "network,page_ref,title,organization,region_code,municipality,sector,flagship"
    path = write(
        tmp_path,
        [
            header,
            "vk,1,Больница\u2028корпус 2,Орг,42,,health,false",
            "vk,2,Школа\u0085№ 1,Орг,42,,education,false",
            "vk,3,Третья,Орг,42,,astrology,false",  # 4
        ],
        name="42.csv",
    )
    result = validate_registry(path)
    assert [p.title for p in result.pages] == ["Больница\u2028корпус 2", "Школа\u0085№ 1"]
    assert [e.line for e in result.errors] == [4]

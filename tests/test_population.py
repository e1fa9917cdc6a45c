"""`gospulse population import`: Rosstat's population by OKTMO territory, one region at a time.

Each bad row is refused with its line and a reason, and so is every row below it; the good rows
of the chosen region replace what is stored for that region and year, nothing else. Every
population figure here is made up for the tests, and so are some settlements' codes and names.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from openpyxl import Workbook

from gospulse.cli import main
from gospulse.raw.population import PopulationFileError, RowError, import_population
from gospulse.raw.warehouse import connect

HEADER = "oktmo,name,level,parent_oktmo,population,year"
TODAY = date(2026, 1, 15)  # years up to 2027 are accepted
# Kemerovo Oblast — Kuzbass (federal subject 42, OKTMO 32); the figures are made up
KUZBASS = [
    "32000000,Кемеровская область — Кузбасс,region,,2 600 000,2025",  # 2
    "32701000,Кемеровский городской округ,municipality,32000000,550 000,2025",  # 3
    "32731000,Новокузнецкий городской округ,municipality,32000000,537 000,2025",  # 4
    "32607000,Беловский муниципальный округ,municipality,32000000,24 000,2025",  # 5
    "32607404,Старобачатское сельское поселение,settlement,32607000,6 100,2025",  # 6
    "32607404101,поселок Старобачаты,settlement,32607404,4 200,2025",  # 7
]
KUZBASS_STORED = [
    (42, "32000000", "Кемеровская область — Кузбасс", "region", None, 2600000, 2025, 2),
    (42, "32607000", "Беловский муниципальный округ", "municipality", "32000000", 24000, 2025, 5),
    (
        42,
        "32607404",
        "Старобачатское сельское поселение",
        "settlement",
        "32607000",
        6100,
        2025,
        6,
    ),
    (42, "32607404101", "поселок Старобачаты", "settlement", "32607404", 4200, 2025, 7),
    (42, "32701000", "Кемеровский городской округ", "municipality", "32000000", 550000, 2025, 3),
    (42, "32731000", "Новокузнецкий городской округ", "municipality", "32000000", 537000, 2025, 4),
]
# the Altai Krai (federal subject 22, OKTMO 01): its codes start with a zero; figures made up
ALTAI = [
    "01000000,Алтайский край,region,,2 100 000,2025",
    "01701000,городской округ город Барнаул,municipality,01000000,625 000,2025",
]


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path):
        pass
    return path


def write(tmp_path, lines, name="population.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def stored(path):
    with connect(path, read_only=True) as con:
        return con.execute(
            "select region_code, oktmo, name, level, parent_oktmo, population, year, source_line "
            "from raw.population order by region_code, year, oktmo"
        ).fetchall()


def by_line(errors):
    return {e.line: e.reason for e in errors}


def test_a_good_file_stores_the_region_with_its_municipalities_and_settlements(tmp_path, warehouse):
    path = write(tmp_path, [HEADER, *KUZBASS])
    result = import_population(path, warehouse, region_code=42, today=TODAY)
    assert (result.stored, result.skipped_other_regions, result.errors) == (6, 0, ())
    assert (result.region_oktmo, result.years) == ("32000000", (2025,))
    assert result.describe() == (
        "population: 6 territories of region 42 for 2025 stored, 0 bad rows skipped"
    )
    assert stored(warehouse) == KUZBASS_STORED
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select distinct source_file from raw.population").fetchall() == [
            ("population.csv",)
        ]


def test_cp1251_with_semicolons_russian_headers_and_russian_levels(tmp_path, warehouse):
    nbsp = "\u00a0"
    path = write(
        tmp_path,
        [
            "Код ОКТМО;Наименование;Уровень;ОКТМО родителя;Численность населения;Год",
            f"32000000;Кемеровская область — Кузбасс;Субъект;;2{nbsp}600{nbsp}000;2025",
            "32701000;Кемеровский городской округ;Городской округ;32000000;550000;2025",
            "32607000;Беловский муниципальный округ;муниципальный округ;32000000;24000;2025",
            "32607404;Старобачатское сельское поселение;Сельское поселение;32607000;6100;2025",
            "32607404101;поселок Старобачаты;Населённый пункт;32607404;4200;2025",
            "32731000;Новокузнецкий городской округ;МО;32000000;537 000;2025",
        ],
        encoding="cp1251",
    )
    result = import_population(path, warehouse, region_code=42, today=TODAY)
    assert result.errors == ()
    assert stored(warehouse) == [
        (*row[:7], line) for row, line in zip(KUZBASS_STORED, (2, 4, 5, 6, 3, 7), strict=True)
    ]


def test_thin_and_narrow_spaces_between_thousands(tmp_path, warehouse):
    path = write(
        tmp_path,
        [
            "октмо\tназвание\tуровень\tродитель\tнаселение\tгод",
            "32000000\tКузбасс\tрегион\t\t2\u2009600\u2009000\t2025",
            "32701000\tКемерово\tмуниципалитет\t32000000\t550\u202f000\t2025",
        ],
    )
    import_population(path, warehouse, region_code=42, today=TODAY)
    assert [(r[1], r[5]) for r in stored(warehouse)] == [
        ("32000000", 2600000),
        ("32701000", 550000),
    ]


def test_xlsx_codes_typed_as_numbers_get_their_leading_zero_back(tmp_path, warehouse):
    book = Workbook()
    sheet = book.active
    sheet.append(["ОКТМО", "Муниципальное образование", "Уровень", "Родитель", "Население", "Год"])
    sheet.append([1000000, "Алтайский край", "регион", None, 2100000, 2025])
    sheet.append(
        [1701000, "городской округ город Барнаул", "городской округ", 1000000, 625000, 2025]
    )
    sheet.append([1701000001, "город Барнаул", "населенный пункт", 1701000, 610000, 2025])
    sheet.append([170100, "Шесть цифр", "городской округ", 1000000, 1, 2025])
    path = tmp_path / "altai.xlsx"
    book.save(path)
    result = import_population(path, warehouse, region_code=22, today=TODAY)
    assert [str(e) for e in result.errors] == [
        "line 5: oktmo '170100' is not an OKTMO code (8 or 11 digits; 7 or 10 when Excel "
        "dropped the leading zero)"
    ]
    assert stored(warehouse) == [
        (22, "01000000", "Алтайский край", "region", None, 2100000, 2025, 2),
        (
            22,
            "01701000",
            "городской округ город Барнаул",
            "municipality",
            "01000000",
            625000,
            2025,
            3,
        ),
        (22, "01701000001", "город Барнаул", "settlement", "01701000", 610000, 2025, 4),
    ]


def test_each_rule_refuses_its_row_with_the_line_and_the_good_rows_are_stored(tmp_path, warehouse):
    long_name = "а" * 40_000  # 80,000 bytes in UTF-8
    path = write(
        tmp_path,
        [
            HEADER,
            "32000000,Кемеровская область — Кузбасс,region,,2600000,2025",  # 2
            "32701000,Кемеровский городской округ,municipality,32000000,550000,2025",  # 3
            "3270A000,Буква в коде,municipality,32000000,1,2025",  # 4
            "327010001,Девять цифр,municipality,32000000,1,2025",  # 5
            "32702000,Район,district,32000000,1,2025",  # 6
            "32703000,Второй регион,region,,1,2025",  # 7
            "33000000,Регион с родителем,region,32000000,1,2025",  # 8
            "32704000,Без родителя,municipality,,1,2025",  # 9
            "32705000,Чужой родитель,municipality,42000000,1,2025",  # 10
            "32706000,Неизвестный родитель,municipality,32999000,1,2025",  # 11
            "32707000,,municipality,32000000,1,2025",  # 12
            "32708000,Не число,municipality,32000000,много,2025",  # 13
            "32709000,Отрицательное,municipality,32000000,-5,2025",  # 14
            "32710000,Слишком много,municipality,32000000,150 000 001,2025",  # 15
            "32711000,Ранний год,municipality,32000000,1,1989",  # 16
            "32712000,Поздний год,municipality,32000000,1,2028",  # 17
            "32713000,Год словами,municipality,32000000,1,двадцать пятый",  # 18
            "32701000,Кемерово ещё раз,municipality,32000000,550000,2025",  # 19
            f"32714000,{long_name},municipality,32000000,1,2025",  # 20
            "32715000,Лишняя колонка,municipality,32000000,1,2025,лишнее",  # 21
            "32716000, ,municipality,32000000,1.5,2025",  # 22
            "",  # 23: blank lines are no rows
            '32731000,Новокузнецкий городской округ,municipality,32000000,"537 000",2025',  # 24
            "32717000,Сам себе родитель,municipality,32717000,1,2025",  # 25
            ",Без кода,municipality,32000000,1,",  # 26
        ],
    )
    result = import_population(path, warehouse, region_code=42, today=TODAY)
    not_oktmo = "is not an OKTMO code (8 or 11 digits; 7 or 10 when Excel dropped the leading zero)"
    assert by_line(result.errors) == {
        4: f"oktmo '3270A000' {not_oktmo}",
        5: f"oktmo '327010001' {not_oktmo}",
        6: "unknown level 'district' (expected region, municipality, settlement)",
        7: "a region row's OKTMO is XX000000, not 32703000",
        8: "a region row has no parent, got parent_oktmo '32000000'",
        9: "a municipality row needs its parent_oktmo",
        10: "OKTMO 32705000 and its parent 42000000 are of different regions "
        "(first two digits 32 and 42)",
        11: "parent OKTMO 32999000 is not a row of this file for 2025",
        12: "missing name",
        13: "population 'много' is not a whole number",
        14: "population -5 is negative",
        15: "population 150000001 is above 150000000, more than all Russia",
        16: "year 1989 outside 1990..2027",
        17: "year 2028 outside 1990..2027",
        18: "year 'двадцать пятый' is not a whole number",
        19: "OKTMO 32701000 for 2025 repeats line 3",
        20: "a field longer than 64 KB",
        21: "expected 6 columns, found 7",
        22: "missing name; population '1.5' is not a whole number",
        25: "OKTMO 32717000 is given as its own parent",
        26: "missing oktmo; missing year",
    }
    assert [e.line for e in result.errors] == sorted(by_line(result.errors))
    assert str(result.errors[0]) == f"line 4: oktmo '3270A000' {not_oktmo}"
    assert result.describe() == (
        "population: 3 territories of region 42 for 2025 stored, 21 bad rows skipped"
    )
    assert [(r[1], r[2], r[7]) for r in stored(warehouse)] == [
        ("32000000", "Кемеровская область — Кузбасс", 2),
        ("32701000", "Кемеровский городской округ", 3),
        ("32731000", "Новокузнецкий городской округ", 24),
    ]


def test_the_parent_column_may_be_left_out_by_a_file_without_children(tmp_path, warehouse):
    lone = write(
        tmp_path, ["oktmo,name,level,population,year", "32000000,Кузбасс,region,2600000,2025"]
    )
    import_population(lone, warehouse, region_code=42, today=TODAY)
    assert stored(warehouse) == [(42, "32000000", "Кузбасс", "region", None, 2600000, 2025, 2)]
    children = write(
        tmp_path,
        [
            "oktmo,name,level,population,year",
            "32000000,Кузбасс,region,2600000,2025",
            "32701000,Кемерово,municipality,550000,2025",
        ],
        "children.csv",
    )
    result = import_population(children, warehouse, region_code=42, today=TODAY)
    assert [str(e) for e in result.errors] == ["line 3: a municipality row needs its parent_oktmo"]


def test_rows_below_a_rejected_row_are_rejected_too(tmp_path, warehouse):
    path = write(
        tmp_path,
        [
            HEADER,
            "32000000,Кемеровская область — Кузбасс,region,,2600000,2025",  # 2
            "32607000,Беловский муниципальный округ,municipality,32000000,двадцать,2025",  # 3
            "32607404,Старобачатское сельское поселение,settlement,32607000,6100,2025",  # 4
            "32607404101,поселок Старобачаты,settlement,32607404,4200,2025",  # 5
            # a child above its parent is as good as one below
            "32619404,Красулинское сельское поселение,settlement,32619000,5000,2025",  # 6
            "32619000,Новокузнецкий муниципальный округ,municipality,32000000,50000,2025",  # 7
            # two rows each the other's parent, and a row below them
            "32619405,Первое,settlement,32619406,1,2025",  # 8
            "32619406,Второе,settlement,32619405,1,2025",  # 9
            "32619405101,Под петлёй,settlement,32619405,1,2025",  # 10
        ],
    )
    result = import_population(path, warehouse, region_code=42, today=TODAY)
    assert by_line(result.errors) == {
        3: "population 'двадцать' is not a whole number",
        4: "parent OKTMO 32607000 (line 3) was rejected",
        5: "parent OKTMO 32607404 (line 4) was rejected",
        8: "its parents loop back to it (lines 8, 9)",
        9: "its parents loop back to it (lines 8, 9)",
        10: "parent OKTMO 32619405 (line 8) was rejected",
    }
    assert [(r[1], r[4], r[7]) for r in stored(warehouse)] == [
        ("32000000", None, 2),
        ("32619000", "32000000", 7),
        ("32619404", "32619000", 6),
    ]


def test_several_region_rows_need_oktmo_to_choose_one(tmp_path, warehouse):
    path = write(tmp_path, [HEADER, *KUZBASS[:2], *ALTAI])
    with pytest.raises(PopulationFileError) as failed:
        import_population(path, warehouse, region_code=42, today=TODAY)
    assert str(failed.value) == (
        f"{path}: 2 region rows, name the one to import with --oktmo: "
        "32000000 Кемеровская область — Кузбасс (line 2); 01000000 Алтайский край (line 4)"
    )
    with pytest.raises(PopulationFileError) as failed:
        import_population(path, warehouse, region_code=42, oktmo="32701000", today=TODAY)
    assert str(failed.value) == (
        f"{path}: OKTMO 32701000 is no region row of this file; its region rows: "
        "32000000 Кемеровская область — Кузбасс (line 2); 01000000 Алтайский край (line 4)"
    )
    assert stored(warehouse) == []

    # the code as Excel leaves it, without its leading zero
    result = import_population(path, warehouse, region_code=22, oktmo="1000000", today=TODAY)
    assert (result.region_oktmo, result.stored, result.skipped_other_regions) == ("01000000", 2, 2)
    assert result.describe() == (
        "population: 2 territories of region 22 for 2025 stored, 0 bad rows skipped, "
        "2 rows of other regions skipped"
    )
    assert [(r[0], r[1]) for r in stored(warehouse)] == [(22, "01000000"), (22, "01701000")]


def test_a_file_without_a_valid_region_row_stores_nothing(tmp_path, warehouse):
    path = write(tmp_path, [HEADER, KUZBASS[1], KUZBASS[2]])
    with pytest.raises(PopulationFileError) as failed:
        import_population(path, warehouse, region_code=42, today=TODAY)
    assert str(failed.value) == (
        f"{path}: no valid region row (level region, OKTMO XX000000) (2 rows were rejected)"
    )
    assert stored(warehouse) == []


def test_a_reimport_replaces_its_region_and_years_only(tmp_path, warehouse):
    kuzbass_2024 = [
        "32000000,Кемеровская область — Кузбасс,region,,2 620 000,2024",
        "32701000,Кемеровский городской округ,municipality,32000000,552 000,2024",
    ]
    first = import_population(
        write(tmp_path, [HEADER, *kuzbass_2024, *KUZBASS], "both.csv"),
        warehouse,
        region_code=42,
        today=TODAY,
    )
    assert (first.stored, first.years) == (8, (2024, 2025))
    assert first.describe().startswith("population: 8 territories of region 42 for 2024, 2025")
    import_population(
        write(tmp_path, [HEADER, *ALTAI], "altai.csv"), warehouse, region_code=22, today=TODAY
    )
    assert len(stored(warehouse)) == 10

    # 2025 again, with fewer territories and new figures
    again = write(
        tmp_path,
        [
            HEADER,
            "32000000,Кемеровская область — Кузбасс,region,,2 590 000,2025",
            "32701000,Кемеровский городской округ,municipality,32000000,548 000,2025",
        ],
        "kuzbass-2025.csv",
    )
    import_population(again, warehouse, region_code=42, today=TODAY)
    assert [(r[0], r[1], r[5], r[6]) for r in stored(warehouse)] == [
        (22, "01000000", 2100000, 2025),
        (22, "01701000", 625000, 2025),
        (42, "32000000", 2620000, 2024),
        (42, "32701000", 552000, 2024),
        (42, "32000000", 2590000, 2025),
        (42, "32701000", 548000, 2025),
    ]


def stored_whole(path):
    with connect(path, read_only=True) as con:
        return con.execute("select * from raw.population order by all").fetchall()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ["oktmo,name,level,parent_oktmo,year", "32000000,Кузбасс,region,,2025"],
            "header lacks population (численность / население); expected columns oktmo, name, "
            "level, population, year (the header read: oktmo, name, level, parent_oktmo, year)",
        ),
        ([], "empty file, expected header oktmo,name,level,parent_oktmo,population,year"),
        (["oktmo,name,name,level,population,year"], "header names name more than once"),
    ],
)
def test_a_file_that_fails_as_a_whole_leaves_the_stored_rows_untouched(
    tmp_path, warehouse, lines, message
):
    import_population(write(tmp_path, [HEADER, *KUZBASS]), warehouse, region_code=42, today=TODAY)
    before = stored_whole(warehouse)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(PopulationFileError) as failed:
        import_population(path, warehouse, region_code=42, today=TODAY)
    assert str(failed.value) == f"{path}: {message}"
    assert stored_whole(warehouse) == before


def test_missing_and_binary_files_fail_as_a_whole(tmp_path, warehouse):
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(PopulationFileError, match=f"^{re.escape(str(missing))}: no such file$"):
        import_population(missing, warehouse, region_code=42)
    binary = tmp_path / "population.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(
        PopulationFileError, match=f"^{re.escape(str(binary))}: binary data, not a text table"
    ):
        import_population(binary, warehouse, region_code=42)
    assert stored(warehouse) == []


def test_a_file_under_the_wrong_region_code_is_refused(tmp_path, warehouse):
    kuzbass = write(tmp_path, [HEADER, *KUZBASS], "kuzbass.csv")
    import_population(kuzbass, warehouse, region_code=42, today=TODAY)
    before = stored_whole(warehouse)
    # the same territories as another subject's: they would be stored twice
    with pytest.raises(PopulationFileError) as failed:
        import_population(kuzbass, warehouse, region_code=43, today=TODAY)
    assert str(failed.value) == (
        f"{kuzbass}: OKTMO 32000000 (Кемеровская область — Кузбасс) is stored for region 42, "
        "not 43: is --region right?"
    )
    # another region's file as Kuzbass: it would replace Kuzbass's figures
    altai = write(tmp_path, [HEADER, *ALTAI], "altai.csv")
    with pytest.raises(PopulationFileError) as failed:
        import_population(altai, warehouse, region_code=42, today=TODAY)
    assert str(failed.value) == (
        f"{altai}: region 42's stored region row is OKTMO 32000000 (Кемеровская область — "
        "Кузбасс), this file's is 01000000: is --region right?"
    )
    assert stored_whole(warehouse) == before


def test_rejected_rows_are_returned_as_row_errors(tmp_path, warehouse):
    path = write(tmp_path, [HEADER, KUZBASS[0], "32701000,Кемерово,municipality,32000000,,2025"])
    result = import_population(path, warehouse, region_code=42, today=TODAY)
    assert result.errors == (RowError(3, "missing population"),)


def test_the_command_line(tmp_path, warehouse, capsys, monkeypatch):
    good = write(tmp_path, [HEADER, *KUZBASS], "good.csv")
    assert (
        main(["population", "import", str(good), "--region", "42", "--warehouse", str(warehouse)])
        == 0
    )
    captured = capsys.readouterr()
    assert captured.err == (
        "population: 6 territories of region 42 for 2025 stored, 0 bad rows skipped\n"
    )
    assert captured.out == ""
    assert stored(warehouse) == KUZBASS_STORED

    # bad rows: listed, the good rows stored, exit 1; the warehouse from GOSPULSE_WAREHOUSE
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(warehouse))
    some_bad = write(
        tmp_path,
        [
            HEADER,
            *KUZBASS[:4],
            "32607000,Беловский муниципальный округ,municipality,32000000,x,2025",
        ],
        "some-bad.csv",
    )
    assert main(["population", "import", str(some_bad), "--region", "42"]) == 1
    assert capsys.readouterr().err == (
        f"{some_bad}: line 6: population 'x' is not a whole number\n"
        "population: 4 territories of region 42 for 2025 stored, 1 bad rows skipped\n"
    )
    assert [r[1] for r in stored(warehouse)] == ["32000000", "32607000", "32701000", "32731000"]

    # the file as a whole, or the arguments: exit 2 and one line, nothing written
    before = stored_whole(warehouse)
    no_column = write(tmp_path, ["oktmo,name,level,year", "32000000,Кузбасс,region,2025"], "n.csv")
    assert main(["population", "import", str(no_column), "--region", "42"]) == 2
    assert capsys.readouterr().err == (
        f"error: {no_column}: header lacks population (численность / население); expected "
        "columns oktmo, name, level, population, year (the header read: oktmo, name, level, "
        "year)\n"
    )
    two = write(tmp_path, [HEADER, *KUZBASS[:2], *ALTAI], "two.csv")
    assert main(["population", "import", str(two), "--region", "42"]) == 2
    assert capsys.readouterr().err == (
        f"error: {two}: 2 region rows, name the one to import with --oktmo: 32000000 "
        "Кемеровская область — Кузбасс (line 2); 01000000 Алтайский край (line 4)\n"
    )
    assert main(["population", "import", str(good), "--region", "99"]) == 2
    assert capsys.readouterr().err == "error: --region 99: no federal subject has this code\n"
    assert main(["population", "import", str(two), "--region", "42", "--oktmo", "3200"]) == 2
    assert capsys.readouterr().err == (
        "error: --oktmo '3200' is not an OKTMO code (8 digits, e.g. 32000000)\n"
    )
    assert stored_whole(warehouse) == before

    # --oktmo picks one region of several
    assert main(["population", "import", str(two), "--region", "22", "--oktmo", "01000000"]) == 0
    assert capsys.readouterr().err == (
        "population: 2 territories of region 22 for 2025 stored, 0 bad rows skipped, "
        "2 rows of other regions skipped\n"
    )
    assert [(r[0], r[1]) for r in stored(warehouse)][:2] == [(22, "01000000"), (22, "01701000")]

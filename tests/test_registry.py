"""Registry validation: every kind of bad row is named with its line; good rows proceed."""

from __future__ import annotations

from datetime import UTC

import pytest

from gospulse.cli import main
from gospulse.registry.pages import (
    HEADER,
    BadReference,
    PageRef,
    RegistryFileError,
    normalize_ref,
    validate_registry,
)


def write(tmp_path, lines, name="42_test.csv"):
    path = tmp_path / name
    path.write_text("\n".join([",".join(HEADER), *lines]) + "\n", encoding="utf-8")
    return path


GOOD = [
    "vk,123456,Минздрав Кузбасса,Минздрав,42,Кемеровский городской округ,health,true",
    "vk,https://vk.com/kuzbass_sport,Спорт Кузбасса,Минспорт,42,,sport,false",
    "vk,vk.ru/club777,Школа № 1,МБОУ СОШ № 1,42,Новокузнецкий городской округ,education,false",
    "tg,@kuzbass_news,Новости,АНО,42,,government,false",
    "ok,https://ok.ru/group/5551234,ДК Шахтёр,МБУК,49,,culture,FALSE",
]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("123", PageRef("id", "123")),
        ("-123", PageRef("id", "123")),
        ("club123", PageRef("id", "123")),
        ("public123", PageRef("id", "123")),
        ("https://vk.com/public55?w=wall", PageRef("id", "55")),
        ("vk.ru/club123", PageRef("id", "123")),
        ("https://vk.com/Kuzbass_Gov", PageRef("screen_name", "kuzbass_gov")),
        ("http://m.vk.com/kuzbass.gov/", PageRef("screen_name", "kuzbass.gov")),
    ],
)
def test_vk_references_normalise(ref, expected):
    assert normalize_ref("vk", ref) == expected


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "   ",
        "0",
        "https://vk.com/",
        "https://vk.com/wall-1_2",
        "id55",
        "club12a",
        "https://ok.ru/group/1",
        "bad name",
        "https://vk.com/a/b",
        "https://example.com/x",
    ],
)
def test_malformed_vk_references_are_rejected(ref):
    with pytest.raises(BadReference):
        normalize_ref("vk", ref)


def test_telegram_and_ok_references():
    assert normalize_ref("tg", "https://t.me/s/kuzbass_news") == PageRef(
        "screen_name", "kuzbass_news"
    )
    assert normalize_ref("tg", "-1001234567") == PageRef("id", "1001234567")
    assert normalize_ref("ok", "ok.ru/group/5551") == PageRef("id", "5551")
    with pytest.raises(BadReference):
        normalize_ref("tg", "@ab")


def test_good_registry_has_no_errors(tmp_path):
    result = validate_registry(write(tmp_path, GOOD))
    assert result.ok
    assert [p.ref for p in result.pages][:3] == [
        PageRef("id", "123456"),
        PageRef("screen_name", "kuzbass_sport"),
        PageRef("id", "777"),
    ]
    assert result.pages[0].is_flagship and not result.pages[4].is_flagship
    assert result.pages[0].registry_ref == "123456"
    assert result.pages[1].municipality is None


def test_many_bad_rows_are_reported_by_line_and_good_rows_proceed(tmp_path):
    bad = [
        "vk,999,Школа,Орг,42,,astrology,false",  # line 7: unknown sector
        "vk,998,Школа,Орг,99,,education,false",  # line 8: unknown region
        "vk,https://vk.com/wall-1_2,Пост,Орг,42,,culture,false",  # line 9: malformed reference
        "vk,club123456,Дубль,Орг,42,,health,false",  # line 10: duplicate of line 2
        "vk,997,,Орг,42,,health,false",  # line 11: missing title
        "vk,996,Школа,Орг,42,,health,maybe",  # line 12: bad flagship
        "fb,996,Школа,Орг,42,,health,false",  # line 13: unknown network
        "vk,995,Школа,Орг,42,health,false",  # line 14: too few columns
        "vk,bad ref,,Орг,abc,,sport,false",  # line 15: several problems
    ]
    result = validate_registry(write(tmp_path, GOOD + bad))
    assert len(result.pages) == len(GOOD)
    by_line = {e.line: e.reason for e in result.errors}
    assert sorted(by_line) == list(range(7, 16))
    assert "unknown sector 'astrology'" in by_line[7]
    assert "unknown region code '99'" in by_line[8]
    assert "malformed page reference" in by_line[9] and "post" in by_line[9]
    assert "duplicate page" in by_line[10] and "line 2" in by_line[10]
    assert by_line[11] == "missing title"
    assert "flagship" in by_line[12]
    assert "unknown network 'fb'" in by_line[13]
    assert "expected 8 columns, found 7" in by_line[14]
    assert all(s in by_line[15] for s in ("malformed", "missing title", "unknown region"))


def test_quoted_fields_with_commas_and_multiline_keep_line_numbers(tmp_path):
    lines = [
        'vk,111,"Больница, корпус 2","ГБУЗ ""ККБ""",42,,health,false',
        'vk,112,"Две\nстроки",Орг,42,,health,false',
        "vk,113,Школа,Орг,42,,nope,false",
    ]
    result = validate_registry(write(tmp_path, lines))
    assert result.pages[0].title == "Больница, корпус 2"
    assert result.pages[0].organization == 'ГБУЗ "ККБ"'
    assert [e.line for e in result.errors] == [5]


def test_file_level_errors(tmp_path):
    with pytest.raises(RegistryFileError, match="no such registry file"):
        validate_registry(tmp_path / "missing.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("network,page\nvk,1\n")
    with pytest.raises(RegistryFileError, match="header lacks"):
        validate_registry(wrong)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(RegistryFileError, match="binary data, not a text table"):
        validate_registry(binary)
    broken_utf16 = tmp_path / "u16.csv"
    broken_utf16.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RegistryFileError, match="header lacks network"):
        validate_registry(broken_utf16)


def test_cli_validate_prints_bad_rows_and_exits_nonzero(tmp_path, capsys):
    path = write(tmp_path, GOOD + ["vk,999,Школа,Орг,42,,astrology,false"])
    assert main(["registry", "validate", str(path)]) == 1
    out = capsys.readouterr()
    assert f"{path}:7: unknown sector 'astrology'" in out.out
    assert "5 valid pages, 1 bad rows" in out.err
    assert main(["registry", "validate", str(write(tmp_path, GOOD, "ok.csv"))]) == 0


def test_regions_table_is_complete_and_consistent():
    from datetime import datetime

    from gospulse.config.dates import snapshot_date_for
    from gospulse.config.regions import REGIONS, get_region

    assert len(REGIONS) == 89  # the federal subjects
    assert get_region(42).federal_district_name == "Сибирский"
    assert get_region(49).timezone == "Asia/Magadan"
    assert {r.federal_district_name for r in REGIONS.values()} >= {"Центральный", "Дальневосточный"}
    # 20:00 UTC is already the next day in Kuzbass (UTC+7) but not in Moscow (UTC+3)
    late = datetime(2026, 3, 9, 20, 0, tzinfo=UTC)
    assert str(snapshot_date_for(late, 42)) == "2026-03-10"
    assert str(snapshot_date_for(late, 77)) == "2026-03-09"
    with pytest.raises(ValueError, match="timezone-aware"):
        snapshot_date_for(datetime(2026, 3, 9, 20, 0), 42)
    with pytest.raises(KeyError, match="unknown region code 99"):
        get_region(99)


def test_sectors_are_read_in_any_spelling_and_by_their_russian_names():
    from gospulse.registry.pages import SECTORS, normalize_sector

    assert normalize_sector("social_protection") == "social protection"
    assert normalize_sector("  Social   Protection ") == "social protection"
    assert normalize_sector("Здравоохранение") == "health"
    assert normalize_sector("Молодёжная политика") == "youth policy"
    assert normalize_sector("астрология") == "астрология"  # no sector: left for the caller
    assert set(SECTORS) >= {normalize_sector(s) for s in ("спорт", "культура", "прочее")}


def test_known_choice_lists_the_known_values_closest_first():
    import pytest

    from gospulse.config.choices import UnknownChoice, known_choice

    assert known_choice("sector", "health", ["health", "sport"]) == "health"
    with pytest.raises(UnknownChoice, match=r"unknown sector 'helth'; did you mean health\?"):
        known_choice("sector", "helth", ["health", "sport"])


def test_an_oktmo_column_is_optional_and_its_codes_are_checked(tmp_path):
    path = tmp_path / "42_oktmo.csv"
    path.write_text(
        ";".join([*HEADER, "ОКТМО"])
        + "\n"
        + "\n".join(
            [
                "vk;1;Школа;МБОУ;42;Кемерово;education;false;32701000",
                "vk;2;Школа;МБОУ;42;;education;false;",
                "vk;3;Школа;МБОУ;42;;education;false;32607404101",
                # Excel dropped the leading zero of the Altai Krai's code
                "vk;4;Школа;МБОУ;22;;education;false;1701000",
                "vk;5;Школа;МБОУ;42;;education;false;3270100",
                "vk;6;Школа;МБОУ;42;;education;false;32-701",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    result = validate_registry(path)
    assert [(p.ref.value, p.oktmo) for p in result.pages] == [
        ("1", "32701000"),
        ("2", None),
        ("3", "32607404101"),
        ("4", "01701000"),
        ("5", "03270100"),
    ]
    assert [str(e) for e in result.errors] == [
        "line 7: '32-701' is not an OKTMO code (digits only)"
    ]
    # a registry without the column has no codes
    assert {p.oktmo for p in validate_registry(write(tmp_path, GOOD)).pages} == {None}

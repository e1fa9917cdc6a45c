"""No text gospulse hands to people in a spreadsheet format can start a formula.

A registry title like `=cmd|' /C calc'!A0` is stored as written; every CSV for people (the
API's CSV, `gospulse top --format csv`) writes it with a `'` in front, so Excel shows text.
Machine formats (JSON here) keep the value as stored.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import duckdb
import pytest
from fastapi.testclient import TestClient

from gospulse.api.app import create_app
from gospulse.api.tokens import TokenStore
from gospulse.serving.publish import publish_marts
from gospulse.serving.spreadsheet import neutralized, write_csv, write_excel_csv

EVIL = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]
PLAIN = ["Музей", "Школа №1", "a=b", "", "'already quoted"]


@pytest.mark.parametrize("text", EVIL)
def test_text_that_starts_a_formula_gets_a_quote_in_front(text):
    assert neutralized(text) == "'" + text


@pytest.mark.parametrize("value", [*PLAIN, -5, 3.5, None, True])
def test_other_values_are_written_as_they_are(value):
    assert neutralized(value) == value


def test_write_csv_neutralizes_every_text_cell_and_the_header():
    out = io.StringIO()
    write_csv(out, ["title", "=n"], [[t, -1] for t in EVIL + PLAIN])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["title", "'=n"]
    assert [r[0] for r in rows[1:]] == ["'" + t for t in EVIL] + PLAIN
    assert {r[1] for r in rows[1:]} == {"-1"}  # a number is not text: left alone


def test_the_apis_csv_holds_no_formula_and_its_json_the_stored_title(tmp_path):
    warehouse = tmp_path / "gospulse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.mart_titles (region_code integer, title varchar)")
        con.executemany("insert into marts.mart_titles values (42, ?)", [[t] for t in EVIL])
    published = publish_marts(warehouse, run_id="r", snapshot_date=date(2025, 3, 10)).path
    store = TokenStore(tmp_path / "tokens.json")
    token, _ = store.add("bi", "*")
    client = TestClient(create_app(published, store))
    headers = {"Authorization": f"Bearer {token}"}
    got = client.get("/marts/mart_titles", params={"format": "csv"}, headers=headers)
    assert got.status_code == 200, got.text
    rows = list(csv.reader(io.StringIO(got.text)))
    assert sorted(r[1] for r in rows[1:]) == sorted("'" + t for t in EVIL)
    data = client.get("/marts/mart_titles", params={"format": "json"}, headers=headers).json()
    assert sorted(r["title"] for r in data["rows"]) == sorted(EVIL)


def test_the_csv_for_russian_excel_has_a_bom_semicolons_decimal_commas_and_no_formula():
    out = io.BytesIO()
    write_excel_csv(
        out,
        ["Название", "Прирост, %", "Дата", "Флагман"],
        [
            ['=HYPERLINK("http://x")', 12.5, date(2026, 7, 5), True],
            ["Школа; №1", 0.0, date(2026, 12, 31), False],
            ["-сбор", -3.25, None, None],
        ],
    )
    raw = out.getvalue()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows == [
        ["Название", "Прирост, %", "Дата", "Флагман"],
        ['\'=HYPERLINK("http://x")', "12,5", "05.07.2026", "да"],
        ["Школа; №1", "0", "31.12.2026", "нет"],
        ["'-сбор", "-3,25", "", ""],
    ]

"""report.xlsx: the report's tables as sheets an analyst can sort, filter and paste from.

Numbers are stored as numbers with formats Excel shows in the reader's locale (a Russian Excel
groups thousands with spaces); dates as dates shown ДД.ММ.ГГГГ. Text is always stored as text:
openpyxl would store a string starting with `=` as a formula, so every text cell is written
with an explicit string type, and a registry title like `=HYPERLINK(...)` stays inert.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from gospulse.report import words
from gospulse.report.data import MULTI_NETWORK, Compared, ReportData
from gospulse.report.numbers import ru_date, ru_period

INT_FORMAT = "#,##0"
SIGNED_FORMAT = "+#,##0;-#,##0;0"
PCT_FORMAT = "0.0"
DATE_FORMAT = "DD.MM.YYYY"


def put(sheet: Worksheet, row: int, column: int, value: Any, number_format: str | None = None):
    """One cell: text as text whatever it starts with, numbers and dates with their format."""
    cell = sheet.cell(row=row, column=column)
    if isinstance(value, str):
        cell.value = value
        cell.data_type = TYPE_STRING
    else:
        cell.value = value
        if isinstance(value, date):
            cell.number_format = DATE_FORMAT
        elif number_format and value is not None:
            cell.number_format = number_format
    return cell


def _table(
    sheet: Worksheet, top: int, header: list[str], rows: list[list[Any]], formats: list[str | None]
) -> int:
    """A header and rows from row `top`; returns the next free row."""
    for column, name in enumerate(header, start=1):
        put(sheet, top, column, name).font = Font(bold=True)
        sheet.cell(row=top, column=column).alignment = Alignment(wrap_text=True, vertical="top")
    for offset, values in enumerate(rows, start=1):
        for column, (value, fmt) in enumerate(zip(values, formats, strict=True), start=1):
            put(sheet, top + offset, column, value, fmt)
    return top + len(rows) + 2


def _widths(sheet: Worksheet, widths: list[int]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _top_sheet(book: Workbook, title: str, heading: str, rows: list[dict], data: ReportData):
    sheet = book.create_sheet(title)
    put(sheet, 1, 1, heading).font = Font(bold=True, size=12)
    header = [
        "Место",
        "Название",
        "Соцсеть",
        "Организация",
        f"Подписчиков на {ru_date(data.period.base_day)}",
        f"Подписчиков на {ru_date(data.period.last)}",
        "Прирост",
        "Прирост, %",
        "Качество прироста",
        "Почему",
    ]
    body = [
        [
            r["rank"],
            r["title"],
            words.network(r["network"]),
            data.organization_label(r["organization"]),
            r["members_start"],
            r["members_end"],
            r["growth"],
            r["growth_pct"],
            words.QUALITY_MARKS[r["quality"]["quality_mark"]] if r.get("quality") else "",
            words.quality_reason(r.get("quality")),
        ]
        for r in rows
    ]
    formats = [None, None, None, None, INT_FORMAT, INT_FORMAT, SIGNED_FORMAT, PCT_FORMAT, None,
               None]  # fmt: skip
    after = _table(sheet, 3, header, body, formats)
    if any(r["organization"] in data.multi_network_organizations for r in rows):
        put(sheet, after, 1, f"{MULTI_NETWORK} — организация ведёт страницы в нескольких соцсетях")
    _widths(sheet, [7, 50, 15, 40, 16, 16, 12, 12, 22, 60])


def _totals_sheet(book: Workbook, data: ReportData) -> None:
    sheet = book.create_sheet("Итоги")
    put(sheet, 1, 1, f"Подписки и прирост: {ru_period(data.period.first, data.period.last)} "
        f"и предыдущий период {ru_period(data.previous.first, data.previous.last)}",
        ).font = Font(bold=True, size=12)  # fmt: skip
    put(sheet, 2, 1, "Подписки — сумма по страницам: человек, подписанный на три страницы, "
        "учтён три раза.")  # fmt: skip
    header = [
        "Группа",
        "Страниц",
        f"Подписок на {ru_date(data.period.last)}",
        "Прирост за период",
        "Прирост за предыдущий период",
        "Разница",
    ]
    formats = [None, INT_FORMAT, INT_FORMAT, SIGNED_FORMAT, SIGNED_FORMAT, SIGNED_FORMAT]
    row = 4
    for key, label, name in (
        ("all", "Регион", lambda k: data.region_name),
        ("network", "Соцсеть", words.network),
        ("municipality", "Муниципалитет", lambda k: k),
        ("sector", "Сфера", words.sector),
    ):
        put(sheet, row, 1, label).font = Font(bold=True)
        row = _table(sheet, row + 1, header, [_compared_row(c, name) for c in data.totals[key]],
                     formats)  # fmt: skip
    _widths(sheet, [45, 10, 18, 18, 24, 14])


def _compared_row(compared: Compared, name) -> list[Any]:
    previous = compared.previous.growth if compared.previous else None
    return [
        name(compared.key),
        compared.current.pages,
        compared.current.members_last,
        compared.current.growth,
        previous,
        compared.difference,
    ]


def _flagships_sheet(book: Workbook, data: ReportData, minimum: int) -> None:
    sheet = book.create_sheet("Флагманы")
    put(sheet, 1, 1, f"Флагманские страницы на {ru_date(data.period.last)} с {minimum} "
        f"подписчиками или меньше либо недоступные: {len(data.flagships_at_risk)} из "
        f"{data.flagships_total}").font = Font(bold=True, size=12)  # fmt: skip
    header = ["Название", "Соцсеть", "Организация", "Муниципалитет", "Подписчиков", "Причина"]
    body = [
        [
            r["title"],
            words.network(r["network"]),
            r["organization"],
            r["municipality"],
            r["members_count"],
            words.FLAGSHIP_REASONS[r["reason"]].format(minimum=minimum),
        ]
        for r in data.flagships_at_risk
    ]
    _table(sheet, 3, header, body, [None, None, None, None, INT_FORMAT, None])
    _widths(sheet, [50, 15, 40, 30, 14, 45])


def _incidents_sheet(book: Workbook, data: ReportData) -> None:
    sheet = book.create_sheet("Инциденты")
    period = ru_period(data.period.first, data.period.last)
    heading = f"Инциденты качества данных, открытые в периоде {period}"
    put(sheet, 1, 1, heading).font = Font(bold=True, size=12)
    header = [
        "Начало",
        "Последний день",
        "Важность",
        "Правило",
        "Соцсеть",
        "Страница",
        "Подробности",
        "Статус",
    ]
    body = [
        [
            r["first_seen"],
            r["last_seen"],
            words.SEVERITIES.get(r["severity"], r["severity"]),
            r["rule"],
            words.network(r["network"]),
            r["title"] or "весь регион",
            r["detail"],
            words.INCIDENT_STATUSES.get(r["status"], r["status"]),
        ]
        for r in data.incidents
    ]
    _table(sheet, 3, header, body, [None] * 8)
    _widths(sheet, [12, 14, 12, 24, 15, 40, 60, 10])


def _reach_sheet(book: Workbook, data: ReportData) -> None:
    sheet = book.create_sheet("Охват")
    day = ru_date(data.reach[0]["audience_date"])
    put(sheet, 1, 1, f"Охват населения во ВКонтакте на {day}").font = Font(bold=True, size=12)
    header = ["Территория", "ОКТМО", "Уровень", "Жителей", "Год численности",
              "Уникальных подписчиков", "Охват, %", "Охват от, %", "Охват до, %",
              "Подписок на жителя", "Покрытие, %"]  # fmt: skip

    def pct(x: float | None) -> float | None:
        return None if x is None else x * 100

    body = [
        [
            r["territory_name"] or "",
            r["oktmo"],
            words.TERRITORY_LEVELS.get(r["territory_level"], r["territory_level"]),
            r["population"],
            r["population_year"],
            None if r["unique_estimate"] is None else round(r["unique_estimate"]),
            pct(r["reach"]),
            pct(r["reach_lower"]),
            pct(r["reach_upper"]),
            r["subscriptions_per_resident"],
            pct(r["coverage"]),
        ]
        for r in data.reach
    ]
    _table(sheet, 3, header, body, [None, None, None, INT_FORMAT, "0", INT_FORMAT, PCT_FORMAT,
                                     PCT_FORMAT, PCT_FORMAT, "0.00", PCT_FORMAT])  # fmt: skip
    _widths(sheet, [45, 14, 15, 12, 10, 14, 10, 10, 10, 12, 12])


def write_xlsx(data: ReportData, path: Path, *, flagship_min_members: int) -> Path:
    book = Workbook()
    first = book.active
    assert first is not None  # a new workbook holds one empty sheet
    book.remove(first)
    period = ru_period(data.period.first, data.period.last)
    _top_sheet(book, "ТОП-10 флагманов", f"ТОП-10 флагманских страниц по приросту, {period}",
               data.top_flagships, data)  # fmt: skip
    _top_sheet(book, "ТОП-10 всех страниц", f"ТОП-10 страниц по приросту, {period}",
               data.top_all, data)  # fmt: skip
    _totals_sheet(book, data)
    _flagships_sheet(book, data, flagship_min_members)
    if data.reach:
        _reach_sheet(book, data)
    _incidents_sheet(book, data)
    book.save(path)
    return path

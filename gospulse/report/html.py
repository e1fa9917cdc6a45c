"""report.html: one self-contained page (styles inline, charts as data: URIs), so it opens on
a closed office network and travels as an email attachment; and the lead paragraph, in the
style ЦУР press releases use, which the demo prints too."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

from gospulse.report import words
from gospulse.report.data import MULTI_NETWORK, ReportData
from gospulse.report.numbers import (
    plural_ru,
    ru_date,
    ru_decimal,
    ru_int,
    ru_month,
    ru_pct,
    ru_period,
    ru_short,
    ru_signed,
)

SIMULATED = (
    "Все данные смоделированы: это демонстрация на эмуляторах соцсетей, не реальные страницы."
)


def period_name(data: ReportData, case: str = "nominative") -> str:
    """'ноябрь 2026' for a month, else the days '05.07–07.08.2026'."""
    if data.period.is_month:
        return ru_month(data.period.first.year, data.period.first.month, case)
    return ru_period(data.period.first, data.period.last)


def previous_name(data: ReportData) -> str:
    if data.previous.is_month:
        return "в " + ru_month(data.previous.first.year, data.previous.first.month, "prepositional")
    return "за " + ru_period(data.previous.first, data.previous.last)


def lead(data: ReportData, flagship_min_members: int) -> str:
    """The report's opening paragraph: growth, its change, TOP-10, flagships, people."""
    total = data.region_total
    pages = total.current.pages
    scope = data.region_name
    if data.sector:
        scope += f", сфера «{words.sector(data.sector)}»"
    if data.municipality:
        scope += f", {data.municipality}"
    when = (f"за {period_name(data)}" if data.period.is_month
            else f"за период {period_name(data)}")  # fmt: skip
    parts = []
    growth = total.current.growth
    if growth is None:
        parts.append(f"{scope}: прирост подписок {when} неизвестен (нет данных на начало периода).")
    else:
        sentence = (f"Госпаблики ({scope}; {ru_int(pages)} "
                    f"{plural_ru(pages, 'страница', 'страницы', 'страниц')}) {when} набрали "
                    f"{ru_short(growth, signed=True)} подписок")  # fmt: skip
        difference = total.difference
        if difference is not None:
            more = "больше" if difference >= 0 else "меньше"
            sentence += (f" — на {ru_short(abs(difference))} {more}, чем "
                         f"{previous_name(data)}")  # fmt: skip
        parts.append(
            sentence + f". Всего на {ru_date(data.period.last)} — "
            f"{ru_short(total.current.members_last or 0)} подписок."
        )
    if data.top_flagships:
        named = ", ".join(
            f"«{r['title']}» ({ru_signed(r['growth'])})" for r in data.top_flagships[:3]
        )
        parts.append(f"Лидеры прироста среди флагманов: {named}.")
    if data.flagships_total:
        risky = len(data.flagships_at_risk)
        parts.append(
            f"Из {ru_int(data.flagships_total)} флагманских "
            f"{plural_ru(data.flagships_total, 'страницы', 'страниц', 'страниц')} "
            + (
                f"{ru_int(risky)} {plural_ru(risky, 'имеет', 'имеют', 'имеют')} "
                f"{flagship_min_members} подписчиков или меньше либо недоступны."
                if risky
                else f"все имеют больше {flagship_min_members} подписчиков."
            )
        )
    if data.audience:
        a = data.audience
        parts.append(
            f"Уникальная аудитория во ВКонтакте на {ru_date(a['audience_date'])} — около "
            f"{ru_short(a['unique_estimate'])} человек (от {ru_short(a['unique_lower'])} до "
            f"{ru_short(a['unique_upper'])})."
        )
    if data.reach and data.reach[0]["territory_level"] == "region":
        r = data.reach[0]
        parts.append(
            f"Это около {_share(r['reach'])} жителей региона (от "
            f"{_share(r['reach_lower'])} до {_share(r['reach_upper'])})."
        )
    return " ".join(parts)


def _share(x: float) -> str:
    # a share as percent: 0.2875 * 100 is 28.749999999999996 in binary, which would round down
    return ru_pct(round(x * 100, 9))


def reach_rows(data: ReportData) -> list[list[str]]:
    """The reach table's rows: territory, level, residents, people, reach with its bounds,
    subscriptions per resident, coverage."""
    return [
        [
            r["territory_name"] or r["oktmo"],
            words.TERRITORY_LEVELS.get(r["territory_level"], r["territory_level"]),
            f"{_count(r['population'])} ({r['population_year']})",
            "—" if r["unique_estimate"] is None else ru_short(r["unique_estimate"]),
            "—"
            if r["reach"] is None
            else f"{_share(r['reach'])} ({_share(r['reach_lower'])}–{_share(r['reach_upper'])})",
            "—"
            if r["subscriptions_per_resident"] is None
            else ru_decimal(r["subscriptions_per_resident"]),
            "—" if r["coverage"] is None else _share(r["coverage"]),
        ]
        for r in data.reach
    ]


REACH_NOTE = (
    "Охват — доля жителей территории, подписанных хотя бы на одну её страницу во ВКонтакте: "
    "оценка числа разных людей по спискам участников, делённая на численность населения "
    "(Росстат, на 1 января указанного года), в скобках — границы оценки. Считаются только "
    "страницы с прочитанным списком участников (покрытие), и подписчики, живущие в другом "
    "месте, тоже: охват бывает больше 100 %."
)


def footnote(data: ReportData) -> str:
    base = ru_date(data.period.base_day)
    return (
        f"Прирост за период {ru_period(data.period.first, data.period.last)} — разница числа "
        f"подписчиков страницы на {ru_date(data.period.last)} и на {base}, последний день "
        "перед периодом (значение дня — последнее известное не старше трёх дней). Суммы "
        "берутся по страницам, зарегистрированным в реестре на последний день периода и "
        "известным в оба дня. Подписки — сумма по страницам: человек, подписанный на три "
        "страницы, учтён три раза; уникальная аудитория — оценка числа разных людей по "
        "спискам участников, без хранения чьих-либо идентификаторов. Предыдущий период — "
        + (
            "предыдущий календарный месяц."
            if data.period.is_month
            else "столько же дней перед периодом."
        )  # fmt: skip
    )


def _table(header: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{escape(v)}</td>' if i in numeric else f"<td>{escape(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _count(value: Any) -> str:
    return "—" if value is None else ru_int(value)


def _signed(value: Any) -> str:
    return "—" if value is None else ru_signed(value)


def _top_rows(rows: list[dict], data: ReportData) -> list[list[str]]:
    return [
        [
            str(r["rank"]),
            r["title"] or "",
            words.network(r["network"]),
            data.organization_label(r["organization"]),
            _count(r["members_start"]),
            _count(r["members_end"]),
            _signed(r["growth"]),
            ru_pct(r["growth_pct"], signed=True),
            _quality(r.get("quality")),
        ]
        for r in rows
    ]


def _quality(quality: dict | None) -> str:
    # a page whose member lists are not read with fields (Telegram, OK) has no mark
    return words.QUALITY_MARKS[quality["quality_mark"]] if quality else "—"


def _quality_notes(rows: list[dict]) -> str:
    """Why each marked page of a TOP got its mark, under the table."""
    marked = [
        f"«{r['title']}»: {words.quality_reason(r['quality'])}."
        for r in rows
        if r.get("quality") and r["quality"]["quality_mark"] != "ok"
    ]
    return "".join(f'<p class="note">{escape(m)}</p>' for m in marked)


def _image(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{encoded}"></figure>'


STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 60em;
       color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
.lead { font-size: 1.1em; } .simulated { background: #fff3cd; padding: .6em 1em; }
table { border-collapse: collapse; width: 100%; font-size: .9em; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .5em; text-align: left; }
td.n { text-align: right; white-space: nowrap; }
figure { margin: 1em 0; } img { max-width: 100%; }
.note { color: #555; font-size: .85em; }
"""


def write_html(
    data: ReportData, path: Path, charts: dict[str, tuple[str, bytes]], flagship_min_members: int
) -> Path:
    top_header = ["Место", "Название", "Соцсеть", "Организация",
                  f"На {ru_date(data.period.base_day)}", f"На {ru_date(data.period.last)}",
                  "Прирост", "Прирост, %", "Качество прироста"]  # fmt: skip
    numeric = {0, 4, 5, 6, 7}
    compared = [
        [
            (data.region_name if c.key == "all" else words.network(c.key)),
            _count(c.current.members_last),
            _signed(c.current.growth),
            _signed(c.previous.growth if c.previous else None),
            _signed(c.difference),
        ]
        for key in ("all", "network")
        for c in data.totals[key]
    ]
    risky = [
        [
            r["title"] or "",
            words.network(r["network"]),
            r["organization"] or "",
            _count(r["members_count"]),
            words.FLAGSHIP_REASONS[r["reason"]].format(minimum=flagship_min_members),
        ]
        for r in data.flagships_at_risk
    ]
    sections = [
        f"<h1>Госпаблики: {escape(data.region_name)}, {escape(period_name(data))}</h1>",
        f'<p class="simulated">{escape(SIMULATED)}</p>' if data.simulated else "",
        f'<p class="lead">{escape(lead(data, flagship_min_members))}</p>',
        "<h2>Подписки и прирост</h2>",
        _table(
            [
                "",
                f"Подписок на {ru_date(data.period.last)}",
                "Прирост за период",
                "Прирост за предыдущий период",
                "Разница",
            ],
            compared,
            {1, 2, 3, 4},
        ),  # fmt: skip
        *(_image(png, alt) for alt, png in [charts["daily"], charts["network"]]),
        "<h2>ТОП-10 флагманских страниц по приросту</h2>",
        _table(top_header, _top_rows(data.top_flagships, data), numeric),
        _quality_notes(data.top_flagships),
        _image(charts["top"][1], charts["top"][0]),
        "<h2>ТОП-10 всех страниц по приросту</h2>",
        _table(top_header, _top_rows(data.top_all, data), numeric),
        _quality_notes(data.top_all),
        f'<p class="note">{MULTI_NETWORK} — организация ведёт страницы в нескольких соцсетях.</p>'
        if data.multi_network_organizations
        else "",
        "<h2>Прирост по сферам</h2>",
        _image(charts["sector"][1], charts["sector"][0]),
        f"<h2>Флагманы: {flagship_min_members} подписчиков или меньше либо недоступны "
        f"({len(data.flagships_at_risk)} из {data.flagships_total})</h2>",
        _table(["Название", "Соцсеть", "Организация", "Подписчиков", "Причина"], risky, {3})
        if risky
        else "<p>Таких нет.</p>",
        *(
            [
                f"<h2>Охват населения во ВКонтакте на {ru_date(data.reach[0]['audience_date'])}"
                "</h2>",
                _table(
                    [
                        "Территория",
                        "Уровень",
                        "Жителей (год)",
                        "Уникальных подписчиков",
                        "Охват (границы)",
                        "Подписок на жителя",
                        "Покрытие",
                    ],
                    reach_rows(data),
                    {2, 3, 4, 5, 6},
                ),  # fmt: skip
                f'<p class="note">{escape(REACH_NOTE)}</p>',
            ]
            if data.reach
            else []
        ),
        f"<h2>Инциденты качества данных в периоде: {len(data.incidents)}</h2>",
        f'<p class="note">{escape(footnote(data))} Данные опубликованы на '
        f"{ru_date(data.published_day)}.</p>",
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="ru"><head><meta charset="utf-8">'
        f"<title>Госпаблики: {escape(data.region_name)}, {escape(period_name(data))}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path

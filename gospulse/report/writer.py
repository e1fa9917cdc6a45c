"""Write a region's report for a period into a folder: report.html, report.xlsx, the charts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gospulse.config.periods import Period
from gospulse.report import charts, words
from gospulse.report.data import ReportData, read_report
from gospulse.report.html import period_name, write_html
from gospulse.report.numbers import ru_period
from gospulse.report.xlsx import write_xlsx
from gospulse.serving.ranking import ranking_settings

CHART_FILES = {
    "daily": "subscriptions_by_day.png",
    "top": "top10_flagships.png",
    "network": "growth_by_network.png",
    "sector": "growth_by_sector.png",
}


@dataclass(frozen=True)
class ReportFiles:
    data: ReportData
    html: Path
    xlsx: Path
    charts: dict[str, Path]


def _charts(data: ReportData) -> dict[str, tuple[str, bytes]]:
    """Each chart's title (its alt text too) and PNG."""
    period = ru_period(data.period.first, data.period.last)
    growth = {
        key: [(name(c.key), c.current.growth) for c in data.totals[key] if c.current.growth]
        for key, name in (("network", words.network), ("sector", words.sector))
    }
    titles = {
        "daily": f"Подписки по дням, {period_name(data)}: текущий и предыдущий период",
        "top": f"ТОП-10 флагманов по приросту, {period}",
        "network": f"Прирост подписок по соцсетям, {period}",
        "sector": f"Прирост подписок по сферам, {period}",
    }
    return {
        "daily": (titles["daily"], charts.daily_totals_chart(
            data.daily_current, data.daily_previous, titles["daily"])),
        "top": (titles["top"], charts.top_bars_chart(
            [(r["title"] or r["page_ref"], r["growth"]) for r in data.top_flagships],
            titles["top"])),
        "network": (titles["network"], charts.growth_by_chart(growth["network"],
                                                              titles["network"])),
        "sector": (titles["sector"], charts.growth_by_chart(growth["sector"], titles["sector"])),
    }  # fmt: skip


def write_report(
    warehouse: Path,
    region_code: int,
    period: Period,
    out_dir: Path,
    *,
    sector: str | None = None,
    municipality: str | None = None,
    simulated: bool = False,
) -> ReportFiles:
    minimum = ranking_settings()["flagship_min_members"]
    data = read_report(
        warehouse,
        region_code,
        period,
        sector=sector,
        municipality=municipality,
        flagship_min_members=minimum,
        simulated=simulated,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn = _charts(data)
    chart_paths = {}
    for key, (_, png) in drawn.items():
        chart_paths[key] = out_dir / CHART_FILES[key]
        chart_paths[key].write_bytes(png)
    html = write_html(data, out_dir / "report.html", drawn, minimum)
    xlsx = write_xlsx(data, out_dir / "report.xlsx", flagship_min_members=minimum)
    return ReportFiles(data, html, xlsx, chart_paths)

"""The report's Russian words for our codes: networks, sectors, reasons, severities."""

from __future__ import annotations

NETWORKS = {"vk": "ВКонтакте", "tg": "Telegram", "ok": "Одноклассники", "all": "все соцсети"}
SECTORS = {
    "health": "здравоохранение",
    "education": "образование",
    "social protection": "социальная защита",
    "sport": "спорт",
    "culture": "культура",
    "youth policy": "молодёжная политика",
    "transport": "транспорт",
    "government": "органы власти",
    "other": "прочее",
}
FLAGSHIP_REASONS = {
    "unresolved": "ссылка не ведёт на страницу",
    "broken": "страница недоступна (удалена, заблокирована или закрыта)",
    "unknown": "число подписчиков неизвестно",
    "under_min_members": "{minimum} подписчиков или меньше",
}
SEVERITIES = {"critical": "критично", "warning": "внимание", "info": "к сведению"}
INCIDENT_STATUSES = {"open": "открыт", "closed": "закрыт"}
TERRITORY_LEVELS = {"region": "регион", "municipality": "муниципалитет", "settlement": "поселение"}


def network(code: str | None) -> str:
    return NETWORKS.get(code or "", code or "—")


def sector(code: str | None) -> str:
    return SECTORS.get(code or "", code or "—")


QUALITY_MARKS = {
    "suspect_growth": "подозрительный прирост",
    "nonresident_growth": "прирост не из региона",
    "ok": "в порядке",
}


def quality_reason(quality: dict | None) -> str:
    """Why a page's growth got its mark, in a sentence an analyst can publish; '' for none."""
    from gospulse.report.numbers import ru_int, ru_month, ru_pct

    if not quality:
        return ""
    month = quality["period_start"]
    when = f"в {ru_month(month.year, month.month, 'prepositional')}"
    mark = quality["quality_mark"]
    if mark == "suspect_growth":
        return (
            f"{when}: из ~{ru_int(round(quality['new_members']))} новых подписчиков "
            f"~{ru_int(round(quality['new_deactivated']))} "
            f"({ru_pct(round(quality['deactivated_share_of_new'] * 100, 9))}) позже удалены "
            "или заблокированы ВКонтакте"
        )
    if mark == "nonresident_growth":
        return (
            f"{when}: {ru_pct(round(quality['nonresident_share_of_growth'] * 100, 9))} прироста "
            f"среди указавших город — подписчики из других регионов "
            f"(+{ru_int(quality['nonresidents_growth'])})"
        )
    return ""

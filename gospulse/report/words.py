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

"""Russia's federal subjects: code, name, federal district and the time zone of its capital.

Codes are the two-digit subject codes used by vehicle registration and the tax service
(42 Kemerovo Oblast — Kuzbass, 49 Magadan Oblast). Time zones are IANA names; a subject that
spans several zones gets the zone of its capital, which is where its management centre works.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Region:
    """One federal subject."""

    code: int
    name: str
    federal_district: str
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def federal_district_name(self) -> str:
        return FEDERAL_DISTRICTS[self.federal_district]


FEDERAL_DISTRICTS = {
    "CFD": "Центральный",
    "NWFD": "Северо-Западный",
    "SFD": "Южный",
    "NCFD": "Северо-Кавказский",
    "VFD": "Приволжский",
    "UFD": "Уральский",
    "SibFD": "Сибирский",
    "FEFD": "Дальневосточный",
}

_MSK = "Europe/Moscow"
_EKB = "Asia/Yekaterinburg"

_ROWS: list[tuple[int, str, str, str]] = [
    (1, "Республика Адыгея", "SFD", _MSK),
    (2, "Республика Башкортостан", "VFD", _EKB),
    (3, "Республика Бурятия", "FEFD", "Asia/Irkutsk"),
    (4, "Республика Алтай", "SibFD", "Asia/Barnaul"),
    (5, "Республика Дагестан", "NCFD", _MSK),
    (6, "Республика Ингушетия", "NCFD", _MSK),
    (7, "Кабардино-Балкарская Республика", "NCFD", _MSK),
    (8, "Республика Калмыкия", "SFD", _MSK),
    (9, "Карачаево-Черкесская Республика", "NCFD", _MSK),
    (10, "Республика Карелия", "NWFD", _MSK),
    (11, "Республика Коми", "NWFD", _MSK),
    (12, "Республика Марий Эл", "VFD", _MSK),
    (13, "Республика Мордовия", "VFD", _MSK),
    (14, "Республика Саха (Якутия)", "FEFD", "Asia/Yakutsk"),
    (15, "Республика Северная Осетия — Алания", "NCFD", _MSK),
    (16, "Республика Татарстан", "VFD", _MSK),
    (17, "Республика Тыва", "SibFD", "Asia/Krasnoyarsk"),
    (18, "Удмуртская Республика", "VFD", "Europe/Samara"),
    (19, "Республика Хакасия", "SibFD", "Asia/Krasnoyarsk"),
    (20, "Чеченская Республика", "NCFD", _MSK),
    (21, "Чувашская Республика", "VFD", _MSK),
    (22, "Алтайский край", "SibFD", "Asia/Barnaul"),
    (23, "Краснодарский край", "SFD", _MSK),
    (24, "Красноярский край", "SibFD", "Asia/Krasnoyarsk"),
    (25, "Приморский край", "FEFD", "Asia/Vladivostok"),
    (26, "Ставропольский край", "NCFD", _MSK),
    (27, "Хабаровский край", "FEFD", "Asia/Vladivostok"),
    (28, "Амурская область", "FEFD", "Asia/Yakutsk"),
    (29, "Архангельская область", "NWFD", _MSK),
    (30, "Астраханская область", "SFD", "Europe/Astrakhan"),
    (31, "Белгородская область", "CFD", _MSK),
    (32, "Брянская область", "CFD", _MSK),
    (33, "Владимирская область", "CFD", _MSK),
    (34, "Волгоградская область", "SFD", "Europe/Volgograd"),
    (35, "Вологодская область", "NWFD", _MSK),
    (36, "Воронежская область", "CFD", _MSK),
    (37, "Ивановская область", "CFD", _MSK),
    (38, "Иркутская область", "SibFD", "Asia/Irkutsk"),
    (39, "Калининградская область", "NWFD", "Europe/Kaliningrad"),
    (40, "Калужская область", "CFD", _MSK),
    (41, "Камчатский край", "FEFD", "Asia/Kamchatka"),
    (42, "Кемеровская область — Кузбасс", "SibFD", "Asia/Novokuznetsk"),
    (43, "Кировская область", "VFD", "Europe/Kirov"),
    (44, "Костромская область", "CFD", _MSK),
    (45, "Курганская область", "UFD", _EKB),
    (46, "Курская область", "CFD", _MSK),
    (47, "Ленинградская область", "NWFD", _MSK),
    (48, "Липецкая область", "CFD", _MSK),
    (49, "Магаданская область", "FEFD", "Asia/Magadan"),
    (50, "Московская область", "CFD", _MSK),
    (51, "Мурманская область", "NWFD", _MSK),
    (52, "Нижегородская область", "VFD", _MSK),
    (53, "Новгородская область", "NWFD", _MSK),
    (54, "Новосибирская область", "SibFD", "Asia/Novosibirsk"),
    (55, "Омская область", "SibFD", "Asia/Omsk"),
    (56, "Оренбургская область", "VFD", _EKB),
    (57, "Орловская область", "CFD", _MSK),
    (58, "Пензенская область", "VFD", _MSK),
    (59, "Пермский край", "VFD", _EKB),
    (60, "Псковская область", "NWFD", _MSK),
    (61, "Ростовская область", "SFD", _MSK),
    (62, "Рязанская область", "CFD", _MSK),
    (63, "Самарская область", "VFD", "Europe/Samara"),
    (64, "Саратовская область", "VFD", "Europe/Saratov"),
    (65, "Сахалинская область", "FEFD", "Asia/Sakhalin"),
    (66, "Свердловская область", "UFD", _EKB),
    (67, "Смоленская область", "CFD", _MSK),
    (68, "Тамбовская область", "CFD", _MSK),
    (69, "Тверская область", "CFD", _MSK),
    (70, "Томская область", "SibFD", "Asia/Tomsk"),
    (71, "Тульская область", "CFD", _MSK),
    (72, "Тюменская область", "UFD", _EKB),
    (73, "Ульяновская область", "VFD", "Europe/Ulyanovsk"),
    (74, "Челябинская область", "UFD", _EKB),
    (75, "Забайкальский край", "FEFD", "Asia/Chita"),
    (76, "Ярославская область", "CFD", _MSK),
    (77, "Москва", "CFD", _MSK),
    (78, "Санкт-Петербург", "NWFD", _MSK),
    (79, "Еврейская автономная область", "FEFD", "Asia/Vladivostok"),
    (80, "Донецкая Народная Республика", "SFD", _MSK),
    (81, "Луганская Народная Республика", "SFD", _MSK),
    (83, "Ненецкий автономный округ", "NWFD", _MSK),
    (84, "Херсонская область", "SFD", _MSK),
    (85, "Запорожская область", "SFD", _MSK),
    (86, "Ханты-Мансийский автономный округ — Югра", "UFD", _EKB),
    (87, "Чукотский автономный округ", "FEFD", "Asia/Anadyr"),
    (89, "Ямало-Ненецкий автономный округ", "UFD", _EKB),
    (91, "Республика Крым", "SFD", "Europe/Simferopol"),
    (92, "Севастополь", "SFD", "Europe/Simferopol"),
]

REGIONS: dict[int, Region] = {code: Region(code, name, fd, tz) for code, name, fd, tz in _ROWS}


def get_region(code: int) -> Region:
    """The region with this code; KeyError names the code when it is unknown."""
    try:
        return REGIONS[code]
    except KeyError:
        raise KeyError(f"unknown region code {code}") from None


class BadOktmo(ValueError):
    """A territory code that is not an OKTMO code."""


def normalize_oktmo(text: str) -> str:
    """An OKTMO code as written (8 digits for a region or municipality, 11 for a locality) as
    its digits; BadOktmo says why it is none.

    Excel stores a code typed into a cell as a number and drops its leading zero (01000000, the
    Altai Krai, becomes 1000000), so 7 and 10 digits get that zero back.
    """
    code = "".join(text.split())
    if not code.isdigit():
        raise BadOktmo(f"{text!r} is not an OKTMO code (digits only)")
    if len(code) in (7, 10):
        code = "0" + code
    if len(code) not in (8, 11):
        raise BadOktmo(f"{text!r} is not an OKTMO code (8 or 11 digits)")
    return code

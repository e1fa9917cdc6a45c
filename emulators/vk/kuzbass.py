"""Reference data for the synthetic Kuzbass region: municipalities, regional pages, templates.

Municipality names are real (Kemerovo oblast after the 2019-2024 reforms); populations are
rounded approximations used only as weights. Page templates follow common naming of
Russian public institutions; numbers and subscriber counts are synthetic.
"""

from __future__ import annotations

from dataclasses import dataclass

SECTOR_SHARES: dict[str, float] = {
    "education": 0.30,
    "culture": 0.22,
    "health": 0.12,
    "government": 0.10,
    "social_protection": 0.08,
    "sport": 0.08,
    "youth_policy": 0.05,
    "other": 0.03,
    "transport": 0.02,
}


@dataclass(frozen=True)
class Municipality:
    """A municipality with its administrative centre and a population weight (thousands)."""

    name: str
    town: str  # with its kind, e.g. "г. Кемерово", "пгт Яя"
    slug: str
    population: int

    @property
    def stem(self) -> str:
        return self.name.split(" ")[0]

    @property
    def adj_f(self) -> str:
        """Feminine adjective: "Кемеровская"."""
        return self.stem[:-2] + "ая"

    @property
    def genitive(self) -> str:
        """ "Кемеровского городского округа"."""
        kind = self.name.split(" ", 1)[1]
        kind_gen = {
            "городской округ": "городского округа",
            "муниципальный округ": "муниципального округа",
            "муниципальный район": "муниципального района",
        }[kind]
        return f"{self.stem[:-2]}ого {kind_gen}"

    @property
    def town_name(self) -> str:
        return self.town.split(" ", 1)[1]


def _go(stem: str, town: str, slug: str, pop: int) -> Municipality:
    return Municipality(f"{stem} городской округ", f"г. {town}", slug, pop)


def _mo(stem: str, town: str, slug: str, pop: int, kind: str = "муниципальный округ"):
    return Municipality(f"{stem} {kind}", town, slug, pop)


MUNICIPALITIES: tuple[Municipality, ...] = (
    _go("Кемеровский", "Кемерово", "kemerovo", 550),
    _go("Новокузнецкий", "Новокузнецк", "nkz", 540),
    _go("Прокопьевский", "Прокопьевск", "prokopyevsk", 185),
    _go("Междуреченский", "Междуреченск", "mezhdurechensk", 95),
    _go("Ленинск-Кузнецкий", "Ленинск-Кузнецкий", "leninsk", 90),
    _go("Киселёвский", "Киселёвск", "kiselevsk", 85),
    _go("Юргинский", "Юрга", "yurga", 80),
    _go("Беловский", "Белово", "belovo", 70),
    _go("Анжеро-Судженский", "Анжеро-Судженск", "anzhero", 70),
    _go("Берёзовский", "Берёзовский", "berezovsky", 45),
    _go("Мысковский", "Мыски", "myski", 40),
    _go("Осинниковский", "Осинники", "osinniki", 40),
    _go("Калтанский", "Калтан", "kaltan", 28),
    _go("Полысаевский", "Полысаево", "polysaevo", 26),
    _go("Тайгинский", "Тайга", "taiga", 23),
    _go("Краснобродский", "пгт Краснобродский", "krasnobrod", 12),
    _mo("Кемеровский", "с. Елыкаево", "kemrn", 50),
    _mo("Новокузнецкий", "с. Атаманово", "nkrn", 50),
    _mo("Прокопьевский", "с. Терентьевское", "prkrn", 30),
    _mo("Беловский", "с. Старопестерево", "belrn", 28),
    _mo("Ленинск-Кузнецкий", "с. Красное", "lkrn", 23),
    _mo("Юргинский", "с. Поперечное", "yurgrn", 20),
    _mo("Гурьевский", "г. Гурьевск", "gurievsk", 35),
    _mo("Ижморский", "пгт Ижморский", "izhmorka", 10),
    _mo("Крапивинский", "пгт Крапивинский", "krapivino", 22),
    _mo("Мариинский", "г. Мариинск", "mariinsk", 50),
    _mo("Промышленновский", "пгт Промышленная", "prom", 45),
    _mo("Тисульский", "пгт Тисуль", "tisul", 20),
    _mo("Топкинский", "г. Топки", "topki", 38),
    _mo("Тяжинский", "пгт Тяжинский", "tyazhin", 22),
    _mo("Чебулинский", "пгт Верх-Чебула", "chebula", 12),
    _mo("Яйский", "пгт Яя", "yaya", 16),
    _mo("Яшкинский", "пгт Яшкино", "yashkino", 27),
    _mo("Таштагольский", "г. Таштагол", "tashtagol", 50, "муниципальный район"),
)

# (title, organization, sector, screen_name, base members, flagship), in order of importance:
# small worlds keep only the first few.
# fmt: off
REGIONAL_PAGES: tuple[tuple[str, str, str, str, int, bool], ...] = (
    ("Правительство Кузбасса", "Администрация Правительства Кузбасса", "government",
     "kuzbass_gov", 352_000, True),
    ("Министерство образования Кузбасса", "Министерство образования Кузбасса", "education",
     "minobr_kuzbass", 161_000, True),
    ("Министерство здравоохранения Кузбасса", "Министерство здравоохранения Кузбасса",
     "health", "minzdrav_kuzbass", 118_000, True),
    ("Молодёжь Кузбасса", "ГАУ «Губернаторский центр молодёжных инициатив»", "youth_policy",
     "molodezh_kuzbass", 104_000, True),
    ("Министерство социальной защиты населения Кузбасса",
     "Министерство социальной защиты населения Кузбасса", "social_protection",
     "minsoc_kuzbass", 46_000, True),
    ("Министерство культуры и национальной политики Кузбасса",
     "Министерство культуры и национальной политики Кузбасса", "culture",
     "minkult_kuzbass", 58_000, True),
    ("Министерство физической культуры и спорта Кузбасса",
     "Министерство физической культуры и спорта Кузбасса", "sport", "sport_kuzbass",
     39_000, True),
    ("Министерство транспорта Кузбасса", "Министерство транспорта Кузбасса", "transport",
     "mintrans_kuzbass", 27_000, True),
    ("МФЦ Кузбасса", "ГАУ «Уполномоченный многофункциональный центр Кузбасса»", "other",
     "mfc_kuzbass", 33_000, True),
    ("Законодательное собрание Кузбасса", "Законодательное собрание Кузбасса", "government",
     "sovnarkuz", 19_000, True),
    ("Министерство молодёжной политики Кузбасса", "Министерство молодёжной политики Кузбасса",
     "youth_policy", "minmol_kuzbass", 22_000, True),
    ("Кузбасская областная клиническая больница им. С. В. Беляева",
     "ГАУЗ «Кузбасская областная клиническая больница им. С. В. Беляева»", "health",
     "okb_kuzbass", 17_500, True),
    ("Кузбасская клиническая больница скорой медицинской помощи",
     "ГАУЗ «Кузбасская клиническая больница скорой медицинской помощи им. М. А. Подгорбунского»",
     "health", "bsmp_kemerovo", 12_300, True),
    ("Кардиоцентр Кузбасса",
     "ГБУЗ «Кузбасский клинический кардиологический диспансер им. академика Л. С. Барбараша»",
     "health", "cardio_kuzbass", 14_200, True),
    ("Кузбасская детская клиническая больница",
     "ГБУЗ «Кузбасская детская клиническая больница им. профессора Ю. Е. Малаховского»",
     "health", "kdkb_kuzbass", 10_800, True),
    ("Онкодиспансер Кузбасса",
     "ГБУЗ «Кузбасский клинический онкологический диспансер им. М. С. Раппопорта»", "health",
     "onko_kuzbass", 8_900, True),
    ("Центр занятости населения Кузбасса", "ГКУ «Центр занятости населения Кузбасса»",
     "other", "czn_kuzbass", 21_000, False),
    ("Кузбасский центр социальных выплат", "ГКУ «Центр социальных выплат Кузбасса»",
     "social_protection", "socvyplaty42", 15_400, False),
    ("Театр драмы Кузбасса им. А. В. Луначарского",
     "ГАУК «Кузбасский государственный театр драмы им. А. В. Луначарского»", "culture",
     "dramteatr_kuzbass", 15_100, True),
    ("Филармония Кузбасса им. Б. Т. Штоколова",
     "ГАУК «Государственная филармония Кузбасса им. Б. Т. Штоколова»", "culture",
     "filarmonia42", 10_200, False),
    ("Музей-заповедник «Томская Писаница»", "ГАУК «Музей-заповедник «Томская Писаница»»",
     "culture", "tomskayapisanitsa", 12_600, False),
    ("Научная библиотека им. В. Д. Фёдорова",
     "ГАУК «Кузбасская областная научная библиотека им. В. Д. Фёдорова»", "culture",
     "fedorovka_library", 8_100, False),
    ("Музыкальный театр Кузбасса им. А. Боброва",
     "ГАУК «Музыкальный театр Кузбасса им. А. Боброва»", "culture", "muzteatr42", 9_300, False),
    ("Дирекция спортивных сооружений Кузбасса",
     "ГАУ «Дирекция спортивных сооружений Кузбасса»", "sport", "dss_kuzbass", 6_900, False),
    ("Пассажиравтотранс Кузбасса", "ГП КО «Пассажиравтотранс»", "transport", "pat_kuzbass",
     17_800, False),
    ("Институт развития профессионального образования Кузбасса",
     "ГБУ ДПО «Кузбасский региональный институт развития профессионального образования»",
     "education", "krirpo42", 4_700, False),
    ("Центр «Здоровье и развитие» Кузбасса",
     "ГБУ «Кузбасский центр психолого-педагогической, медицинской и социальной помощи»",
     "education", "zir_kuzbass", 3_900, False),
    ("Центр «Мой бизнес» Кузбасс", "Центр «Мой бизнес» Кузбасса", "other", "mybusiness42",
     7_800, False),
    ("Доброцентр Кузбасса", "Региональный ресурсный центр добровольчества Кузбасса",
     "youth_policy", "dobro_kuzbass", 11_200, False),
    ("Кузбасский центр спортивной подготовки", "ГБУ «Центр спортивной подготовки Кузбасса»",
     "sport", "csp_kuzbass", 5_200, False),
)

# fmt: on


@dataclass(frozen=True)
class Template:
    """A page pattern; `{n}` makes it numbered (up to max_n), `head` marks a flagship candidate."""

    title: str
    organization: str
    slug: str
    median: int
    weight: float = 1.0
    max_n: int = 0
    head: bool = False
    group_share: float = 0.25  # share of closed-type "group" pages rather than public pages
    where: str = "any"  # "city": city okrugs only, "rural": municipal okrugs/district only
    min_population: int = 0

    def fits(self, muni: Municipality) -> bool:
        is_city = muni.name.endswith("городской округ")
        if self.where != "any" and is_city != (self.where == "city"):
            return False
        return muni.population >= self.min_population


# fmt: off
DK_NAMES = ("Шахтёр", "Горняк", "Юбилейный", "Октябрь", "Строитель", "Энергетик",
            "Металлург", "Родина", "Победа", "Химик", "Железнодорожник", "Современник")
SPORTS = (("боксу", "box"), ("лыжным гонкам", "ski"), ("хоккею", "hockey"),
          ("футболу", "football"), ("дзюдо", "judo"), ("лёгкой атлетике", "athletics"),
          ("плаванию", "swim"), ("самбо", "sambo"), ("волейболу", "volley"),
          ("греко-римской борьбе", "wrestling"))

ADMINISTRATION = Template("Администрация {gen}", "Администрация {gen}", "adm_{slug}", 0,
                          head=True)

TEMPLATES: dict[str, tuple[Template, ...]] = {
    "education": (
        Template("Школа № {n} {Town}", "МБОУ «СОШ № {n}» {town}", "school{n}_{slug}", 650,
                 4, 60),
        Template("МБОУ «Гимназия № {n}» {town}", "МБОУ «Гимназия № {n}»", "gymn{n}_{slug}",
                 900, 0.8, 30),
        Template("Лицей № {n} | {Town}", "МБОУ «Лицей № {n}»", "lyceum{n}_{slug}", 850, 0.6,
                 25),
        Template("Детский сад № {n} {town}", "МБДОУ «Детский сад № {n}» {town}",
                 "ds{n}_{slug}", 260, 5, 250, group_share=0.45),
        Template("ДДТ {Town}", "МБУ ДО «Дом детского творчества» {town}", "ddt_{slug}", 700,
                 0.5),
        Template("Центр детского творчества {Town}", "МБУ ДО «Центр детского творчества» {town}",
                 "cdt_{slug}", 600, 0.4),
        Template("{Adj_m} политехнический техникум", "ГПОУ «{Adj_m} политехнический техникум»",
                 "ptt_{slug}", 1500, 0.4, where="city"),
        Template("Образование {Town}", "Управление образования администрации {gen}",
                 "uo_{slug}", 4000, 0.5, head=True),
    ),
    "culture": (
        Template("ДК «{dk}» {town}", "МБУК «ДК «{dk}»» {town}", "dk_{dk_slug}_{slug}", 700, 2),
        Template("Библиотека № {n} {town}", "МБУК «ЦБС» {town}, библиотека-филиал № {n}",
                 "lib{n}_{slug}", 300, 3, 40),
        Template("Центральная библиотека {Town}", "МБУК «Централизованная библиотечная система» "
                 "{town}", "cbs_{slug}", 1200, 0.6),
        Template("{Adj_m} краеведческий музей", "МБУК «{Adj_m} краеведческий музей»",
                 "museum_{slug}", 1500, 0.6),
        Template("ДШИ № {n} {town}", "МБУ ДО «Детская школа искусств № {n}» {town}",
                 "dshi{n}_{slug}", 450, 1.5, 20),
        Template("Сельский дом культуры № {n} | {Adj_m}", "МБУК «ЦКС» {gen}, СДК № {n}",
                 "sdk{n}_{slug}", 220, 2, 40, group_share=0.5, where="rural"),
        Template("Парк культуры и отдыха {Town}", "МАУ «Парк культуры и отдыха» {town}",
                 "park_{slug}", 2500, 0.4),
        Template("Культура {Town}", "Управление культуры администрации {gen}", "kultura_{slug}",
                 3000, 0.5, head=True),
    ),
    "health": (
        Template("{Adj_f} городская больница № {n}", "ГБУЗ «{Adj_f} городская больница № {n}»",
                 "gb{n}_{slug}", 1200, 2, 12, where="city"),
        Template("{Adj_f} городская клиническая больница № {n}",
                 "ГБУЗ «{Adj_f} городская клиническая больница № {n}»", "gkb{n}_{slug}", 2200,
                 1, 6, where="city", min_population=80),
        Template("Поликлиника № {n} {town}", "ГБУЗ «{Adj_f} городская поликлиника № {n}»",
                 "polyclinic{n}_{slug}", 900, 2, 15, where="city"),
        Template("Детская поликлиника № {n} {town}",
                 "ГБУЗ «{Adj_f} детская городская поликлиника № {n}»", "dgp{n}_{slug}", 1100, 1,
                 8, where="city", min_population=40),
        Template("{Adj_f} районная больница", "ГБУЗ «{Adj_f} районная больница»", "rb_{slug}",
                 2500, 0.8, head=True, where="rural"),
        Template("Стоматология {Town}", "ГАУЗ «{Adj_f} стоматологическая поликлиника»",
                 "stom_{slug}", 700, 0.5),
        Template("Скорая помощь {Town}", "ГБУЗ «Станция скорой медицинской помощи» {town}",
                 "ssmp_{slug}", 800, 0.4),
        Template("Родильный дом № {n} {town}", "ГБУЗ «{Adj_f} городская клиническая больница, "
                 "родильный дом № {n}»", "roddom{n}_{slug}", 2000, 0.4, 3, where="city",
                 min_population=80),
    ),
    "social_protection": (
        Template("Соцзащита {Town}", "Управление социальной защиты населения администрации {gen}",
                 "uszn_{slug}", 2200, 1, head=True),
        Template("КЦСОН {Town}", "МБУ «Комплексный центр социального обслуживания населения» "
                 "{town}", "kcson_{slug}", 800, 1),
        Template("СРЦ для несовершеннолетних {town}", "ГКУ «Социально-реабилитационный центр "
                 "для несовершеннолетних» {town}", "src_{slug}", 400, 0.6),
        Template("{Adj_m} дом-интернат", "ГБСУ «{Adj_m} дом-интернат для престарелых и инвалидов»",
                 "internat_{slug}", 250, 0.4),
        Template("Центр «Семья» {town}", "МКУ «Центр социальной помощи семье и детям» {town}",
                 "semya_{slug}", 500, 0.6),
        Template("Отделение социальной помощи на дому № {n} {town}",
                 "МБУ «КЦСОН» {town}, отделение социальной помощи на дому № {n}",
                 "osp{n}_{slug}", 150, 1.5, 10, group_share=0.6),
    ),
    "sport": (
        Template("Спортивная школа № {n} {town}", "МБУ ДО «Спортивная школа № {n}» {town}",
                 "sport{n}_{slug}", 600, 3, 12),
        Template("СШОР по {sport} {town}", "МБУ ДО «Спортивная школа олимпийского резерва по "
                 "{sport}» {town}", "sshor_{sport_slug}_{slug}", 700, 2),
        Template("ФОК {Town}", "МБУ «Физкультурно-оздоровительный комплекс» {town}",
                 "fok_{slug}", 900, 0.8),
        Template("Спорт {Town}", "Управление физической культуры и спорта администрации {gen}",
                 "sport_{slug}", 2000, 0.6, head=True),
        Template("ГТО {Town}", "Центр тестирования ГТО {town}", "gto_{slug}", 350, 0.6),
    ),
    "youth_policy": (
        Template("Молодёжь {Town}", "Управление молодёжной политики администрации {gen}",
                 "molodezh_{slug}", 2500, 0.8, head=True),
        Template("Молодёжный центр {Town}", "МБУ «Молодёжный центр» {town}", "mc_{slug}", 900,
                 0.8),
        Template("Волонтёры {Town}", "Волонтёрский центр {town}", "volunteers_{slug}", 600,
                 0.8),
        Template("Молодёжный парламент {gen}", "Молодёжный парламент {gen}", "molparl_{slug}",
                 400, 0.6),
        Template("Юнармия {Town}", "Местное отделение ВВПОД «Юнармия» {town}", "unarmy_{slug}",
                 450, 0.6),
        Template("Движение первых {Town}", "Местное отделение Движения первых {town}",
                 "pervye_{slug}", 500, 0.6),
        Template("Подростковый клуб № {n} {town}", "МБУ «Центр досуга молодёжи» {town}, "
                 "подростковый клуб № {n}", "pk{n}_{slug}", 200, 1, 15, group_share=0.5),
    ),
    "transport": (
        Template("Горэлектротранспорт {Town}", "МП «Городской электрический транспорт» {town}",
                 "get_{slug}", 3000, 0.5, min_population=180),
        Template("Автобусы {Town}", "МУП «Пассажирское автотранспортное предприятие» {town}",
                 "pap_{slug}", 1800, 1),
        Template("Транспорт {Town}", "Отдел транспорта и связи администрации {gen}",
                 "transport_{slug}", 900, 0.8),
        Template("Дороги {Town}", "МБУ «Дорожно-эксплуатационное управление» {town}",
                 "deu_{slug}", 700, 0.8),
    ),
    "government": (
        Template("Совет народных депутатов {gen}", "Совет народных депутатов {gen}",
                 "snd_{slug}", 900, 1),
        Template("Территориальное управление № {n} {town}",
                 "Территориальное управление администрации {gen}, № {n}", "tu{n}_{slug}", 500,
                 2, 12),
        Template("ЖКХ {Town}", "Управление жилищно-коммунального хозяйства администрации {gen}",
                 "gkh_{slug}", 1500, 0.8),
        Template("Архитектура {Town}", "Управление архитектуры и градостроительства "
                 "администрации {gen}", "arch_{slug}", 600, 0.5),
        Template("ЕДДС {Town}", "МКУ «Единая дежурно-диспетчерская служба» {town}",
                 "edds_{slug}", 2500, 0.8),
    ),
    "other": (
        Template("МФЦ {Town}", "ГАУ «УМФЦ Кузбасса», отделение {town}", "mfc_{slug}", 1200, 1),
        Template("Центр занятости {town}", "ГКУ «Центр занятости населения» {town}",
                 "czn_{slug}", 800, 1),
        Template("ЗАГС {Town}", "Отдел ЗАГС {gen}", "zags_{slug}", 600, 0.6),
        Template("Ветстанция {Town}", "ГБУ «{Adj_f} станция по борьбе с болезнями животных»",
                 "vet_{slug}", 300, 0.5),
    ),
}
# fmt: on

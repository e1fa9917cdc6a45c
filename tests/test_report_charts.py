"""The analyst's report charts (gospulse.report.charts): valid PNGs of one size, never blank,
drawn without font warnings for Cyrillic, and titles shortened only at a word boundary."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pytest
from PIL import Image

from gospulse.report.charts import (
    HEIGHT_PX,
    WIDTH_PX,
    daily_totals_chart,
    growth_by_chart,
    shorten,
    top_bars_chart,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LONG_TITLE = (
    "Государственное бюджетное учреждение здравоохранения «Кемеровская областная клиническая "
    "больница имени С. В. Беляева»"
)
NOVEMBER = [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]
OCTOBER = [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]


def pixels(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.size == (WIDTH_PX, HEIGHT_PX)
        return np.asarray(image.convert("L"), dtype=float)


def assert_drawn(png: bytes) -> None:
    # A white page with a few words has a tiny variance; axes, lines and bars give far more.
    assert pixels(png).std() > 20


def strictly(draw: Callable[[], bytes]) -> bytes:
    """Runs draw with every warning an error: a missing Cyrillic glyph warns, so this fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return draw()


def test_daily_totals_chart() -> None:
    current = [(day, 4_640_000 + 1200 * i) for i, day in enumerate(NOVEMBER)]
    previous = [(day, 4_600_000 + 900 * i) for i, day in enumerate(OCTOBER)]
    png = strictly(
        lambda: daily_totals_chart(current, previous, "Подписки на госпаблики, ноябрь 2026")
    )
    assert_drawn(png)


def test_daily_totals_chart_with_gaps_and_no_previous_period() -> None:
    current = [(day, None if i in (3, 5, 6) else 12_000 + 10 * i) for i, day in enumerate(NOVEMBER)]
    assert_drawn(strictly(lambda: daily_totals_chart(current, [], "Подписки на госпаблики")))


def test_top_bars_chart_with_long_titles_and_a_loss() -> None:
    rows = [
        (LONG_TITLE, 35_210),
        ("Министерство образования Кузбасса", 12_000),
        ("Школа № 1 — официальная страница", 800),
        ("Администрация Юргинского муниципального округа", -1_200),
    ]
    assert_drawn(strictly(lambda: top_bars_chart(rows, "ТОП-10 флагманских страниц по росту")))


def test_growth_by_chart() -> None:
    rows = [("ВКонтакте", 35_210), ("Telegram", 4_500), ("Одноклассники", -1_200)]
    assert_drawn(strictly(lambda: growth_by_chart(rows, "Рост подписок по соцсетям")))


@pytest.mark.parametrize(
    "draw",
    [
        lambda: daily_totals_chart([], [], "Подписки на госпаблики"),
        lambda: daily_totals_chart([(NOVEMBER[0], None)], [(OCTOBER[0], None)], "Подписки"),
        lambda: top_bars_chart([], "ТОП-10 страниц"),
        lambda: growth_by_chart([], "Рост по отраслям"),
    ],
    ids=["daily", "daily-all-none", "top", "growth-by"],
)
def test_empty_input_draws_a_no_data_chart(draw: Callable[[], bytes]) -> None:
    image = pixels(strictly(draw))
    # The "нет данных за период" text is in the middle of an otherwise empty chart.
    middle = image[HEIGHT_PX // 3 : 2 * HEIGHT_PX // 3, WIDTH_PX // 4 : 3 * WIDTH_PX // 4]
    assert middle.min() < 128
    assert (image > 250).mean() > 0.9


def test_same_input_gives_same_bytes() -> None:
    rows = [("ВКонтакте", 10), ("Telegram", -3)]
    assert growth_by_chart(rows, "Рост") == growth_by_chart(rows, "Рост")


class TestShorten:
    def test_short_text_is_kept(self) -> None:
        assert shorten("Министерство образования", 45) == "Министерство образования"

    def test_text_of_exactly_the_limit_is_kept(self) -> None:
        assert shorten("абв где", 7) == "абв где"

    def test_long_cyrillic_title_is_cut_at_a_word(self) -> None:
        short = shorten(LONG_TITLE, 45)
        assert short == "Государственное бюджетное учреждение…"
        assert len(short) <= 45
        assert LONG_TITLE.startswith(short.removesuffix("…") + " ")

    def test_every_limit_cuts_between_words(self) -> None:
        words = LONG_TITLE.split()
        for limit in range(len(words[0]) + 1, len(LONG_TITLE)):
            short = shorten(LONG_TITLE, limit)
            assert len(short) <= limit and short.endswith("…")
            kept = short.removesuffix("…").split()
            assert kept == words[: len(kept)], limit

    def test_a_cut_that_falls_after_a_word_keeps_that_word(self) -> None:
        assert shorten("абв где жзи", 8) == "абв где…"

    def test_dangling_punctuation_is_dropped(self) -> None:
        assert shorten("Администрация города, отдел культуры", 25) == "Администрация города…"
        assert shorten("Школа № 1 — официальная страница", 14) == "Школа № 1…"

    def test_whitespace_runs_count_as_one_space(self) -> None:
        assert shorten("  Школа \n № 1  ", 45) == "Школа № 1"

    def test_a_first_word_longer_than_the_limit_is_cut_inside(self) -> None:
        assert shorten("Здравоохранение Кузбасса", 8) == "Здравоо…"

    def test_a_limit_without_room_is_refused(self) -> None:
        with pytest.raises(ValueError, match="limit 1"):
            shorten("Школа", 1)

"""The analyst's report charts, as PNG bytes: daily region totals, TOP pages, growth by group.

Drawn on a bare matplotlib Figure with the Agg canvas, so pyplot's global backend and figure
registry are never touched and the functions are safe to call from the API's worker threads.
Labels are Russian in DejaVu Sans (bundled with matplotlib, so nothing is looked up on the system
or the network); numbers come from gospulse.report.numbers. Imports nothing else from gospulse.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, MaxNLocator

from gospulse.report.numbers import MINUS, NBSP, ru_int, ru_short, ru_signed

WIDTH_PX = 1000
HEIGHT_PX = 500
DPI = 100
FONT = "DejaVu Sans"
NO_DATA = "нет данных за период"
LABEL_LIMIT = 45
TITLE_LIMIT = 100

CURRENT_COLOR = "#1f5fa8"
PREVIOUS_COLOR = "#9aa5b1"
GAIN_COLOR = "#2e7d32"
LOSS_COLOR = "#c62828"

# numbers.ru_short's units as (from, size, name), largest first; below 10 000 ticks are in full.
_TICK_UNITS = ((10**9, 10**9, "млрд"), (10**6, 10**6, "млн"), (10_000, 1000, "тыс."))

# Left after a shortened text is cut back to a word: a dangling comma or dash before "…" reads
# as a typo.
_TRAILING = " \t,;:-\u2013\u2014("


def shorten(text: str, limit: int) -> str:
    """text in at most limit characters, cut at a word boundary and ended with "…".

    Runs of whitespace count as one space. Only a first word longer than limit is cut inside
    itself, as there is no boundary to cut at.
    """
    if limit < 2:
        raise ValueError(f"shorten: limit {limit} leaves no room for a word and '…'")
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    # text[budget] is looked at too: a space there means the cut falls exactly after a word.
    budget = limit - 1
    boundary = text.rfind(" ", 0, budget + 1)
    kept = text[:boundary].rstrip(_TRAILING) if boundary > 0 else ""
    if not kept:
        kept = text[:budget].rstrip(_TRAILING) or text[:budget]
    return kept + "…"


def _tick_in_unit(value: float, size: int, unit: str) -> str:
    scaled = round(abs(value) / size, 1)
    if not scaled:
        return "0"
    text = f"{scaled:,.1f}".replace(",", NBSP).replace(".", ",").removesuffix(",0")
    return (MINUS if value < 0 else "") + text + NBSP + unit


class _RuFormatter(Formatter):
    """Axis ticks in Russian format, all in one unit ("6 тыс.", "12 тыс.", never "6 000" beside
    "12 тыс."), in full when one decimal of the unit would print two ticks alike (4 640 000 and
    4 645 000 are both "4,6 млн")."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return ru_short(x)

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        largest = max((abs(v) for v in values), default=0)
        unit = next(((size, name) for start, size, name in _TICK_UNITS if largest >= start), None)
        if unit is None:
            return [ru_int(round(v)) for v in values]
        labels = [_tick_in_unit(v, *unit) for v in values]
        if len(set(labels)) < len(labels):
            labels = [ru_int(round(v)) for v in values]
        return labels


class _DayFormatter(Formatter):
    """Day-index ticks labelled with the current period's dates ("05.07"), else the day number."""

    def __init__(self, days: Sequence[date]) -> None:
        self.days = list(days)

    def __call__(self, x: float, pos: int | None = None) -> str:
        index = round(x)
        if abs(x - index) > 1e-6 or index < 1:
            return ""
        if index <= len(self.days):
            return f"{self.days[index - 1]:%d.%m}"
        return str(index)


def _new_figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.tick_params(labelfontfamily=FONT)
    return figure, axes


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" entry: it names the matplotlib version, and the same data should give the
    # same bytes on any install.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _title(axes: Axes, title: str) -> None:
    axes.set_title(shorten(title, TITLE_LIMIT), fontfamily=FONT, fontsize=13, loc="left")


def _no_data(title: str) -> bytes:
    figure, axes = _new_figure()
    _title(axes, title)
    axes.set_axis_off()
    axes.text(
        0.5,
        0.5,
        NO_DATA,
        transform=axes.transAxes,
        ha="center",
        va="center",
        fontfamily=FONT,
        fontsize=16,
        color="#555555",
    )
    return _png(figure)


def _series(points: Sequence[tuple[date, int | None]]) -> tuple[list[int], list[float]]:
    # NaN breaks the line, so a missing day shows as a gap rather than a made-up slope.
    xs = list(range(1, len(points) + 1))
    ys = [float("nan") if value is None else float(value) for _, value in points]
    return xs, ys


def daily_totals_chart(
    current: list[tuple[date, int | None]],
    previous: list[tuple[date, int | None]],
    title: str,
) -> bytes:
    """The region's total subscriptions per day of the period, with the previous period as a
    second line aligned by day index; None values are gaps."""
    if all(value is None for _, value in [*current, *previous]):
        return _no_data(title)
    figure, axes = _new_figure()
    _title(axes, title)
    # Markers keep a day that has no neighbour on either side visible between two gaps.
    if previous:
        xs, ys = _series(previous)
        axes.plot(
            xs,
            ys,
            color=PREVIOUS_COLOR,
            linestyle="--",
            linewidth=1.8,
            marker="o",
            markersize=2.5,
            label="предыдущий период",
        )
    if current:
        xs, ys = _series(current)
        axes.plot(
            xs,
            ys,
            color=CURRENT_COLOR,
            linewidth=2.4,
            marker="o",
            markersize=3,
            label="текущий период",
        )
    # From half a day before the first: a tick at day 0 would have no date to show.
    axes.set_xlim(0.5, max(len(current), len(previous)) + 0.5)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    axes.xaxis.set_major_formatter(_DayFormatter([day for day, _ in current]))
    axes.yaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))
    axes.yaxis.set_major_formatter(_RuFormatter())
    axes.set_xlabel("день периода (предыдущий совмещён по номеру дня)", fontfamily=FONT)
    axes.set_ylabel("подписки, сумма по страницам", fontfamily=FONT)
    axes.grid(True, axis="y", color="#e0e0e0")
    # The current period first in the legend, whatever the drawing order.
    handles, labels = axes.get_legend_handles_labels()
    axes.legend(handles[::-1], labels[::-1], prop={"family": FONT}, loc="best")
    return _png(figure)


def _bars(rows: Sequence[tuple[str, int]], title: str, value_label: Callable[[int], str]) -> bytes:
    """Horizontal bars, the first row at the top, gains right and losses left of zero."""
    figure, axes = _new_figure()
    _title(axes, title)
    positions = list(range(len(rows)))
    values = [value for _, value in rows]
    bars = axes.barh(
        positions,
        values,
        color=[LOSS_COLOR if value < 0 else GAIN_COLOR for value in values],
        height=0.7,
    )
    axes.set_yticks(positions, [shorten(label, LABEL_LIMIT) for label, _ in rows])
    axes.invert_yaxis()
    axes.bar_label(
        bars, labels=[value_label(value) for value in values], padding=4, fontfamily=FONT
    )
    axes.axvline(0, color="#444444", linewidth=0.8)
    # Room beyond the longest bar on each side for its value label.
    axes.margins(x=0.18)
    axes.xaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))
    axes.xaxis.set_major_formatter(_RuFormatter())
    axes.grid(True, axis="x", color="#e0e0e0")
    axes.set_axisbelow(True)
    return _png(figure)


def top_bars_chart(rows: list[tuple[str, int]], title: str) -> bytes:
    """The TOP pages as horizontal bars of growth: page title (shortened at a word) and growth in
    full at the bar's end, best at the top."""
    if not rows:
        return _no_data(title)
    # A stable sort keeps the caller's tie order (the ranking's own tie rules).
    ordered = sorted(rows, key=lambda row: row[1], reverse=True)
    return _bars(ordered, title, ru_signed)


def growth_by_chart(rows: list[tuple[str, int]], title: str) -> bytes:
    """Growth by network or sector (labels as the caller gives them, in its order) as horizontal
    bars, each labelled compactly ("+35,2 тыс.")."""
    if not rows:
        return _no_data(title)
    return _bars(rows, title, lambda value: ru_short(value, signed=True))

"""`gospulse demo`: a simulated Kuzbass-like region end to end, through the real extractor.

VK, Telegram and OK emulators serve a synthetic world on loopback; the demo imports the world's
older history the way a ЦУР would load its spreadsheets, takes the daily snapshots through
vk_api, telethon and signed OK calls, builds the marts with dbt, runs the Airflow DAG for the
last day over all three networks, and prints a press-release style report.
Every number in it is simulated, and the report says so.
"""

from __future__ import annotations

import calendar
import csv
import os
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from tqdm import tqdm

from extractors.vk.records import group_status
from gospulse.regions import get_region

DEMO_DIR = Path("warehouse") / "demo"
REGISTRY = Path(__file__).resolve().parent.parent / "registry" / "demo_42_kuzbass.csv"
REGION = 42
TOKEN = "demo-token-not-a-secret"
# keys member-ID hashes; a real deployment sets its own federation-wide secret
AUDIENCE_SECRET = "demo-audience-secret-not-for-production"
# requests/s the demo allows the emulated Telegram and OK (production pacing: 1/s and 3/s)
DEMO_FAST_RPS = 50.0


def month_bounds(d: date) -> tuple[date, date]:
    return d.replace(day=1), d.replace(day=calendar.monthrange(d.year, d.month)[1])


def report_months(last_day: date) -> tuple[tuple[date, date], tuple[date, date]]:
    """The last calendar month complete by `last_day`, and the month before it."""
    month = month_bounds(last_day)
    if last_day != month[1]:
        month = month_bounds(month[0] - timedelta(days=1))
    return month, month_bounds(month[0] - timedelta(days=1))


def write_history_csv(
    world, first: date, last: date, path: Path, net_worlds=(), *, include_vk: bool = True
) -> int:
    """The world's counts for [first, last] in the import format, as a ЦУР spreadsheet export.

    net_worlds adds Telegram and OK pages (emulators.networld) as their APIs report them: a
    private Telegram channel shows no count, and Telegram answers a deleted channel exactly as
    a private one; a closed OK group still shows its count.
    """
    n = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["network", "page_ref", "snapshot_date", "members_count", "status"])
        d = first
        while d <= last:
            for page in world.pages if include_vk else ():
                state = world.state_on(page, d)
                status = group_status(
                    {"deactivated": state.deactivated, "is_closed": state.is_closed}
                )
                members = state.members_count if status in ("ok", "closed") else ""
                out.writerow(["vk", page.id, d.isoformat(), members, status])
                n += 1
            for net in net_worlds:
                counted = ("ok",) if net.network == "tg" else ("ok", "closed")
                for page in net.pages:
                    state = net.state_on(page, d)
                    status = state.status
                    if net.network == "tg" and status == "deleted":
                        status = "closed"
                    members = state.members_count if status in counted else ""
                    out.writerow([net.network, page.id, d.isoformat(), members, status])
                    n += 1
            d += timedelta(days=1)
    return n


def _fmt_thousands(n: float) -> str:
    return f"{n / 1000:+.1f}".replace(".", ",") + " тыс."


def _ru(x: float, digits: int) -> str:
    return f"{x:.{digits}f}".replace(".", ",")


def _fmt_int(n: int | None) -> str:
    return "—" if n is None else f"{n:,}".replace(",", " ")


def render_report(warehouse: Path, month: tuple[date, date], prev: tuple[date, date]) -> str:
    """The press release: region growth month over month and the TOP-10 flagship pages."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        region_rows = con.execute(
            """
            select network, month_start, members_total, growth, prev_month_growth,
                growth_change, pages_known
            from marts.mart_region_growth
            where region_code = ? and month_start in (?, ?)
            order by network, month_start
            """,
            [REGION, prev[0], month[0]],
        ).fetchall()
        top = con.execute(
            """
            select rank_abs, network, title, members_start, members_end, growth, growth_pct
            from marts.mart_growth_ranking
            where scope_type = 'flagship' and period_type = 'month' and period_start = ?
              and ranking_network = 'all' and is_ranked
            order by rank_abs
            limit 10
            """,
            [month[0]],
        ).fetchall()
        audience = con.execute(
            """
            select audience_date, subscriptions, unique_estimate, unique_lower, unique_upper,
                duplication_factor, coverage
            from marts.mart_audience
            where scope_type = 'region' and network = 'vk' and region_code = ?
            order by audience_date desc
            limit 1
            """,
            [REGION],
        ).fetchone()
    finally:
        con.close()
    months_ru = [
        "январе",
        "феврале",
        "марте",
        "апреле",
        "мае",
        "июне",
        "июле",
        "августе",
        "сентябре",
        "октябре",
        "ноябре",
        "декабре",
    ]
    lines = [
        "=" * 78,
        "ДЕМОНСТРАЦИЯ: все данные ниже СМОДЕЛИРОВАНЫ (эмуляторы VK, Telegram и ОК),",
        "это не реальные госпаблики.",
        "=" * 78,
        f"{get_region(REGION).name}: аудитория госпабликов во ВКонтакте, Telegram и Одноклассниках",
    ]
    by_network: dict[str, list[tuple]] = {}
    for network, *values in region_rows:
        by_network.setdefault(network, []).append(tuple(values))
    region = by_network.get("all", [])
    if len(region) == 2 and region[1][2] is not None and region[0][2] is not None:
        cur, before = region[1], region[0]
        more = "больше" if cur[4] >= 0 else "меньше"
        lines.append(
            f"В {months_ru[month[0].month - 1]} {month[0].year} года госпаблики региона прибавили "
            f"{_fmt_thousands(cur[2])} подписчиков — на {_fmt_thousands(abs(cur[4]))[1:]} {more}, "
            f"чем в {months_ru[prev[0].month - 1]} ({_fmt_thousands(before[2])}). "
            f"Всего подписок на {month[1]:%d.%m.%Y}: {_fmt_int(cur[1])} ({cur[5]} страниц)."
        )
        parts = []
        for network, name in (("vk", "ВКонтакте"), ("tg", "Telegram"), ("ok", "Одноклассники")):
            rows = by_network.get(network, [])
            if len(rows) == 2 and rows[1][2] is not None:
                parts.append(f"{name} {_fmt_thousands(rows[1][2])} (всего {_fmt_int(rows[1][1])})")
        if parts:
            lines.append("По сетям: " + "; ".join(parts) + ".")
    else:
        lines.append("Рост по региону за два полных месяца ещё не известен (мало истории).")
    if audience is not None and audience[2] is not None:
        day, subs, unique, low, high, dup, cov = audience
        lines.append(
            f"Уникальная аудитория во ВКонтакте на {day:%d.%m.%Y}: "
            f"≈{_ru(unique / 1e6, 2)} млн человек "
            f"(95%: {_ru(low / 1e6, 2)}–{_ru(high / 1e6, 2)} млн) при {_ru(subs / 1e6, 2)} млн "
            f"подписок: в среднем каждый подписан на {_ru(dup, 1)} госпаблика; списки "
            f"подписчиков прочитаны для {cov:.0%} подписок."
        )
    lines += [
        "",
        f"ТОП-10 флагманских страниц по приросту за {month[0]:%d.%m}–{month[1]:%d.%m.%Y}:",
    ]
    labels = {"vk": "VK", "tg": "TG", "ok": "OK"}
    for rank, network, title, start, end, growth, pct in top:
        pct_text = "—" if pct is None else f"{pct:+.1f}%".replace(".", ",")
        lines.append(
            f"{rank:>3}. {labels[network]} {title[:49]:<49} {_fmt_int(start):>9} → "
            f"{_fmt_int(end):>9}  "
            f"{growth:+,}".replace(",", " ")
            + f" ({pct_text})"
        )
    if not top:
        lines.append("   (нет флагманских страниц с известным приростом за месяц)")
    lines.append("=" * 78)
    return "\n".join(lines)


def run_demo(days: int = 60, *, with_airflow: bool = True, out=print) -> int:
    """Run the whole simulated region; returns the process exit code."""
    from emulators.networld import NetworkWorld
    from emulators.ok.server import DEFAULT_APP_KEY, DEFAULT_APP_SECRET, OkEmulator
    from emulators.telegram.server import GET_FULL_CHANNEL, RESOLVE, TelegramEmulator
    from emulators.vk.server import VkEmulator
    from emulators.vk.world import World
    from extractors.ok.client import ok_client_from_env
    from extractors.ok.extract import OkExtractor
    from extractors.telegram.client import TelegramCaller, telegram_client_from_env
    from extractors.telegram.extract import TelegramExtractor
    from extractors.vk.client import VkClient
    from gospulse.airflow_local import run_dag
    from gospulse.history_import import import_history
    from gospulse.pipeline import (
        extract_network,
        extract_vk,
        load_registry_into_warehouse,
        read_registry,
    )
    from gospulse.transform import build

    if days < 2:
        raise ValueError("--days must be at least 2")
    started = time.monotonic()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    warehouse = (DEMO_DIR / "gospulse.duckdb").resolve()
    tz = get_region(REGION).tz
    last = datetime.now(tz).date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    month, prev = report_months(last)
    history_from = min(prev[0] - timedelta(days=1), first)
    out(f"gospulse demo — SIMULATED data for region {REGION}; snapshots {first}..{last}")

    registry = read_registry(REGISTRY)
    out(f"registry {REGISTRY.name}: {len(registry.pages)} pages, {len(registry.errors)} bad rows")
    # first, so that the history imports below know which pages are registered
    load_registry_into_warehouse(registry, warehouse)
    world = World(seed=42, start=history_from)
    net_worlds = [NetworkWorld(world, "tg"), NetworkWorld(world, "ok")]
    # Telegram and OK run faster than production pacing (1/s and 3/s) so the demo stays short;
    # BENCHMARKS.md has their real-pace figures
    fast = {RESOLVE: (100_000, 60.0), GET_FULL_CHANNEL: (100_000, 60.0)}
    with (
        VkEmulator(world, rate_limit=3.0, tokens={TOKEN}) as emulator,
        TelegramEmulator(net_worlds[0], flood_limits=fast) as tg_emulator,
        OkEmulator(net_worlds[1], rate_limit=DEMO_FAST_RPS, tokens={TOKEN}) as ok_emulator,
    ):
        extractors = {
            "tg": TelegramExtractor(
                TelegramCaller(
                    telegram_client_from_env(api_url=tg_emulator.base_url),
                    requests_per_second=DEMO_FAST_RPS,
                )
            ),
            "ok": OkExtractor(
                ok_client_from_env(
                    DEFAULT_APP_KEY,
                    TOKEN,
                    application_secret_key=DEFAULT_APP_SECRET,
                    base_url=ok_emulator.base_url,
                    requests_per_second=DEMO_FAST_RPS,
                )
            ),
        }

        def extract_tg_ok(d: date) -> None:
            tg_emulator.set_date(d)
            ok_emulator.set_date(d)
            for network, extractor in extractors.items():
                summary = extract_network(
                    network, d, registry=registry, warehouse=warehouse, extractor=extractor
                )
                out(summary.describe())

        # Telegram and OK names are resolved on the first day, before any channel is renamed
        # (then the id is kept); their history up to two days ago is imported, and the last two
        # days go through their extractors. VK: imported history, then every day via vk_api.
        extract_tg_ok(history_from)
        for label, hist_from, hist_last, nets, with_vk in (
            ("VK", history_from, first - timedelta(days=1), (), True),
            (
                "Telegram and OK",
                history_from + timedelta(days=1),
                last - timedelta(days=2),
                net_worlds,
                False,
            ),
        ):
            if hist_from > hist_last:
                continue
            hist = DEMO_DIR / f"history-{'vk' if with_vk else 'tg-ok'}.csv"
            n = write_history_csv(world, hist_from, hist_last, hist, nets, include_vk=with_vk)
            result = import_history(hist, warehouse)
            out(
                f"imported {result.written.written} historical {label} snapshots "
                f"({hist_from}..{hist_last}, {n} rows, {len(result.errors)} rejected)"
            )
        client = VkClient(TOKEN, base_url=emulator.base_url, requests_per_second=3.0)
        summaries = []
        for offset in tqdm(range(days), desc="daily snapshots via vk_api", unit="day"):
            d = first + timedelta(days=offset)
            emulator.set_date(d)
            summaries.append(extract_vk(d, registry=registry, warehouse=warehouse, client=client))
        out(
            f"extracted {days} days: {client.stats.requests} requests, "
            f"{client.stats.retries} retries; last day: {summaries[-1].describe()}"
        )
        for d in (last - timedelta(days=1), last):
            extract_tg_ok(d)
        for extractor in extractors.values():
            extractor.close()
        with tqdm(total=1, desc="dbt build", unit="build") as bar:
            result = build(warehouse)
            bar.update()
        out(f"dbt: {result.describe()}")
        if with_airflow:
            env = {
                **os.environ,
                "GOSPULSE_WAREHOUSE": str(warehouse),
                "GOSPULSE_REGISTRY": str(REGISTRY),
                "GOSPULSE_VK_API_URL": emulator.base_url,
                "VK_TOKEN": TOKEN,
                "GOSPULSE_TG_API_URL": tg_emulator.base_url,
                "GOSPULSE_TG_RPS": str(DEMO_FAST_RPS),
                "GOSPULSE_OK_API_URL": ok_emulator.base_url,
                "GOSPULSE_OK_RPS": str(DEMO_FAST_RPS),
                "OK_APP_KEY": DEFAULT_APP_KEY,
                "OK_ACCESS_TOKEN": TOKEN,
                "OK_APP_SECRET": DEFAULT_APP_SECRET,
                "GOSPULSE_AUDIENCE_SECRET": AUDIENCE_SECRET,
                # the emulators' calendar is simulated: their past days are answerable
                "GOSPULSE_SNAPSHOT_MAX_LAG_DAYS": "none",
            }
            logical = datetime(last.year, last.month, last.day, 3, tzinfo=tz)
            with tqdm(total=1, desc=f"Airflow DAG gospulse_daily for {last}", unit="run") as bar:
                run_dag("gospulse_daily", logical, (DEMO_DIR / "airflow").resolve(), env)
                bar.update()
    out(render_report(warehouse, month, prev))
    out(f"done in {time.monotonic() - started:.0f}s; warehouse: {warehouse}")
    return 0

"""`gospulse demo`: a simulated Kuzbass-like region end to end, through the real extractors.

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
from gospulse.config.regions import get_region

DEMO_DIR = Path("warehouse") / "demo"
REGISTRY = Path(__file__).resolve().parent.parent / "registry" / "demo_42_kuzbass.csv"
# simulated too: made-up OKTMO codes and residents for the registry's municipalities (about
# 450 a registered page), not Rosstat's figures
POPULATION = REGISTRY.with_name("demo_42_population.csv")
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


def print_report(warehouse: Path, month: tuple[date, date], last: date, out) -> None:
    """The month's report through gospulse report (files in DEMO_DIR/report), its lead and
    TOP-10 printed: the same text an analyst gets from `gospulse report`."""
    from gospulse.config.periods import month_period
    from gospulse.report.charts import shorten
    from gospulse.report.html import SIMULATED, lead
    from gospulse.report.numbers import ru_int, ru_pct, ru_period, ru_signed
    from gospulse.report.words import network as network_name
    from gospulse.report.writer import write_report
    from gospulse.serving.ranking import ranking_settings

    period = month_period(month[0].year, month[0].month)
    files = write_report(warehouse, REGION, period, DEMO_DIR / "report", simulated=True)
    data = files.data
    out("=" * 78)
    out("ДЕМОНСТРАЦИЯ. " + SIMULATED)
    out("=" * 78)
    out(lead(data, ranking_settings()["flagship_min_members"]))
    out("")
    out(f"ТОП-10 флагманских страниц по приросту за {ru_period(period.first, period.last)}:")
    for r in data.top_flagships:
        out(
            f"{r['rank']:>3}. {network_name(r['network']):<13} {shorten(r['title'] or '', 44):<44} "
            f"{ru_signed(r['growth']):>9} ({ru_pct(r['growth_pct'], signed=True)}), "
            f"всего {ru_int(r['members_end'])}"
        )
    if not data.top_flagships:
        out("   (нет флагманских страниц с известным приростом за месяц)")
    out(f"Отчёт: {files.html}, {files.xlsx} (до {last:%d.%m.%Y} включительно)")
    out("=" * 78)


def run_demo(days: int = 60, *, with_airflow: bool = True, out=print) -> int:
    """Run the whole simulated region; returns the process exit code."""
    from emulators.networld import NetworkWorld
    from emulators.ok.server import DEFAULT_APP_KEY, DEFAULT_APP_SECRET, OkEmulator
    from emulators.telegram.server import GET_FULL_CHANNEL, RESOLVE, TelegramEmulator
    from emulators.vk.server import VkEmulator
    from emulators.vk.world import World
    from extractors.base import NetworkExtractor
    from extractors.ok.client import ok_client_from_env
    from extractors.ok.extract import OkExtractor
    from extractors.telegram.client import TelegramCaller, telegram_client_from_env
    from extractors.telegram.extract import TelegramExtractor
    from extractors.vk.client import VkClient
    from gospulse.extract.pipeline import (
        extract_network,
        extract_vk,
        load_registry_into_warehouse,
        read_registry,
    )
    from gospulse.orchestration.local import run_dag
    from gospulse.raw.history_import import import_history
    from gospulse.raw.population import import_population
    from gospulse.transform.run import build

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
    population = import_population(POPULATION, warehouse, region_code=REGION)
    out(f"{population.describe()} (simulated figures, {POPULATION.name})")
    world = World(seed=42, start=history_from)
    net_worlds = [NetworkWorld(world, "tg"), NetworkWorld(world, "ok")]
    # Telegram and OK run faster than production pacing (1/s and 3/s) so the demo stays short;
    # docs/perf-notes/extraction.md has their real-pace figures
    fast = {RESOLVE: (100_000, 60.0), GET_FULL_CHANNEL: (100_000, 60.0)}
    with (
        VkEmulator(world, rate_limit=3.0, tokens={TOKEN}) as emulator,
        TelegramEmulator(net_worlds[0], flood_limits=fast) as tg_emulator,
        OkEmulator(net_worlds[1], rate_limit=DEMO_FAST_RPS, tokens={TOKEN}) as ok_emulator,
    ):
        extractors: dict[str, NetworkExtractor] = {
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
            # the world's history comes by id, and the registry lists most VK pages by screen
            # name, resolved only by the first VK extract below: the import cannot tell yet
            # that those ids are registered pages
            imported = import_history(hist, warehouse, allow_unregistered=True)
            assert imported.written is not None  # an import always stores its good rows
            out(
                f"imported {imported.written.written} historical {label} snapshots "
                f"({hist_from}..{hist_last}, {n} rows, {imported.bad_rows} rejected)"
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
    if not with_airflow:  # the DAG run publishes; without it, the build above is published
        from gospulse.serving.publish import publish_marts

        publish_marts(warehouse, run_id="demo", snapshot_date=last, dbt_summary=result.describe())
    print_report(warehouse, month, last, out)
    out(f"done in {time.monotonic() - started:.0f}s; warehouse: {warehouse}")
    return 0

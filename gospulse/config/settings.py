"""Every setting gospulse reads from the environment: its name, type, default, whether it is a
secret, and what it means, in one table.

This module imports nothing from gospulse, so every layer (the extractors and the quality
gates included) may read its settings through it. `read(name)` parses one variable into its
type, or returns its default when the variable is unset or empty; a bad value raises
SettingError naming the variable and what it expected. `problems()` checks every variable that
is set at once (`gospulse settings`), and `markdown()` writes docs/configuration.md
(`gospulse settings --markdown`), which a test holds to this table.

Under Airflow the secrets come from its connections (`vk_api`, `telegram`, `ok_api`); their
env forms are listed here as well.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class SettingError(ValueError):
    """A setting's value does not parse as its type."""


class _Off:
    """The value of a setting switched off by its word ("off", "none")."""

    def __repr__(self) -> str:
        return "OFF"


OFF = _Off()


def text(raw: str) -> str:
    return raw


def whole(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingError(f"expected a whole number, got {raw!r}") from None
        if value < minimum:
            raise SettingError(f"expected at least {minimum}, got {value}")
        return value

    parse.__doc__ = f"whole number ≥ {minimum}"
    return parse


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"expected a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise SettingError(f"expected a finite number, got {raw!r}")
    return value


def positive(raw: str) -> float:
    """number > 0"""
    value = _number(raw)
    if not value > 0:
        raise SettingError(f"expected a positive number, got {raw!r}")
    return value


def share(raw: str) -> float:
    """number in [0, 1]"""
    value = _number(raw)
    if not 0.0 <= value <= 1.0:
        raise SettingError(f"expected a share in [0, 1], got {value}")
    return value


def flag(raw: str) -> bool:
    """`1` or `0`"""
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingError(f"expected 1 or 0, got {raw!r}")


def names(raw: str) -> tuple[str, ...]:
    """comma-separated list"""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def choice(*values: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.lower()
        if value not in values:
            raise SettingError(f"expected one of {', '.join(values)}, got {raw!r}")
        return value

    parse.__doc__ = " or ".join(f"`{v}`" for v in values)
    return parse


def or_word(word: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse`, or OFF for `word`."""

    def parse_or_word(raw: str) -> Any:
        return OFF if raw.lower() == word else parse(raw)

    parse_or_word.__doc__ = f"{_kind(parse)} or `{word}`"
    return parse_or_word


def _kind(parse: Callable[[str], Any]) -> str:
    known: dict[Callable[[str], Any], str] = {text: "text", positive: "number > 0"}
    return known.get(parse) or (parse.__doc__ or "text")


@dataclass(frozen=True)
class Setting:
    """One environment variable: how it parses, its default, what it means."""

    name: str
    description: str
    parse: Callable[[str], Any] = text
    default: Any = None
    # the default as docs/configuration.md shows it, when it is not the value itself
    shown_default: str | None = None
    secret: bool = False
    section: str = "warehouse"
    # read by Airflow itself (its connections in env form), not by gospulse's code
    airflow_reads: bool = False

    @property
    def kind(self) -> str:
        return _kind(self.parse)

    def read(self, env: Mapping[str, str] | None = None) -> Any:
        raw = (os.environ if env is None else env).get(self.name, "").strip()
        if not raw:
            return self.default
        try:
            return self.parse(raw)
        except SettingError as exc:
            if self.secret:
                hidden = str(exc).replace(repr(raw), "(hidden)").replace(raw, "(hidden)")
                raise SettingError(f"{self.name}=(secret): {hidden}") from None
            raise SettingError(f"{self.name}={raw!r}: {exc}") from None


SECTIONS = {
    "warehouse": "Warehouse, registry and dbt",
    "vk": "VK",
    "tg": "Telegram",
    "ok": "Odnoklassniki",
    "audience": "Audience (member lists)",
    "quality": "Data quality and alerts",
    "serving": "Serving: Postgres, bundles, API",
    "federal": "Federal roll-up",
    "airflow": "Airflow",
}

_SETTINGS = (
    # -- warehouse, registry and dbt
    Setting("GOSPULSE_WAREHOUSE", "the DuckDB file", default="warehouse/gospulse.duckdb"),
    Setting(
        "GOSPULSE_REGISTRY",
        "registry file (CSV or XLSX) or a folder of them",
        default="registry/",
    ),
    Setting(
        "GOSPULSE_REGION",
        "region code whose calendar defines the snapshot date, if the registry spans time zones",
        whole(1),
        shown_default="the registry's",
    ),
    Setting(
        "GOSPULSE_SNAPSHOT_MAX_LAG_DAYS",
        "the daily DAG refuses to extract for a snapshot date more days back than this "
        "(networks only answer today's counts); `none` for sources with their own clock "
        "(emulators)",
        or_word("none", whole(0)),
        default=1,
    ),
    Setting(
        "GOSPULSE_DUCKDB_MEMORY_LIMIT",
        "DuckDB `memory_limit` for dbt runs (e.g. `5GB`); beyond it DuckDB spills to disk. It "
        "bounds DuckDB's buffers, not the process: leave a gigabyte for the rest",
        shown_default="DuckDB's (80 % of RAM)",
    ),
    Setting(
        "GOSPULSE_DBT_PROJECT_DIR",
        "the dbt project the commands and DAG tasks run (the image sets it to its installed copy)",
        shown_default="`dbt_project/` beside the package",
    ),
    Setting(
        "GOSPULSE_DBT_MANIFEST",
        "the dbt manifest the daily DAG reads at parse time (written by `gospulse dbt manifest`)",
        shown_default="`dbt_project/target/manifest.json`",
    ),
    # -- VK
    Setting(
        "VK_TOKEN",
        "VK access token (in Airflow: the password of connection `vk_api`); several "
        "comma-separated tokens spread the requests over them, each within its own rate",
        secret=True,
        section="vk",
    ),
    Setting(
        "GOSPULSE_VK_API_URL",
        "base URL replacing `https://api.vk.ru/method/` (proxy, emulator)",
        shown_default="VK itself",
        section="vk",
    ),
    Setting(
        "GOSPULSE_VK_RPS", "requests per second allowed per token", positive, 3.0, section="vk"
    ),
    Setting(
        "GOSPULSE_VK_MAX_RETRIES",
        "retries of a VK call after a rate-limit, server or network error (with backoff) "
        "before the page's row records the error",
        whole(0),
        5,
        section="vk",
    ),
    Setting(
        "GOSPULSE_VK_CONNECTIONS_PER_TOKEN",
        "requests a token may have in flight at once (still started within its rate); 2 "
        "helps when answers are slow, e.g. federal-size batches",
        whole(1),
        1,
        section="vk",
    ),
    Setting(
        "GOSPULSE_VK_TOKEN_COUNT",
        "how many tokens the connection lists: one fetch task and one pool per token; read "
        "when the DAG is parsed, same value on every Airflow service",
        whole(1),
        1,
        section="vk",
    ),
    Setting(
        "GOSPULSE_RATE_DIR",
        "where each token's recent request times are kept (one small file per token and "
        "endpoint, named by a hash), so every process on the host that uses a token keeps to "
        "its limit together; `off` keeps the limit per process",
        or_word("off", text),
        shown_default="`$TMPDIR/gospulse-rate-<uid>`",
        section="vk",
    ),
    Setting(
        "GOSPULSE_RERESOLVE_DAYS",
        "a registry name the network said does not exist is asked again only after this many "
        "days (name resolution is the scarce call); it is reported as unresolved meanwhile",
        whole(0),
        7,
        section="vk",
    ),
    # -- Telegram
    Setting(
        "TG_API_ID",
        "Telegram app id (my.telegram.org; in Airflow: connection `telegram`, login)",
        whole(1),
        section="tg",
    ),
    Setting(
        "TG_API_HASH",
        "Telegram app hash (in Airflow: connection `telegram`, password)",
        secret=True,
        section="tg",
    ),
    Setting(
        "TG_SESSION",
        "a telethon `StringSession` from `gospulse telegram login` (in Airflow: connection "
        '`telegram`, extra `{"session": …}`); never a `.session` file',
        secret=True,
        section="tg",
    ),
    Setting(
        "GOSPULSE_TG_SOURCE",
        "`mtproto` (telethon, needs the three above) or `preview` (public `t.me/<name>` "
        "pages, no account; cannot follow renamed channels)",
        choice("mtproto", "preview"),
        shown_default="`mtproto` when credentials or an API URL are set, else `preview`",
        section="tg",
    ),
    Setting("GOSPULSE_TG_RPS", "Telegram requests per second", positive, 1.0, section="tg"),
    Setting(
        "GOSPULSE_TG_MAX_FLOOD_WAIT",
        "the longest FLOOD_WAIT slept through, in seconds; longer ones defer the rest of the "
        "batch (recorded as errors that say so)",
        positive,
        60.0,
        section="tg",
    ),
    Setting(
        "GOSPULSE_TG_API_URL",
        "a loopback Telegram emulator instead of Telegram (tests, demo)",
        section="tg",
    ),
    Setting(
        "GOSPULSE_TG_PREVIEW_URL",
        "the preview source's base URL",
        default="https://t.me",
        section="tg",
    ),
    Setting(
        "GOSPULSE_TG_PREVIEW_RPS",
        "the preview source's requests per second",
        positive,
        1.0,
        section="tg",
    ),
    Setting(
        "GOSPULSE_TG_SESSION_COUNT",
        "how many sessions the connection lists (as GOSPULSE_VK_TOKEN_COUNT)",
        whole(1),
        1,
        section="tg",
    ),
    # -- Odnoklassniki
    Setting(
        "OK_APP_KEY",
        "OK application key (in Airflow: connection `ok_api`, login)",
        section="ok",
    ),
    Setting(
        "OK_ACCESS_TOKEN",
        "OK access token (in Airflow: connection `ok_api`, password)",
        secret=True,
        section="ok",
    ),
    Setting(
        "OK_APP_SECRET",
        "the application secret that signs requests (in Airflow: connection `ok_api`, extra "
        '`{"application_secret_key": …}`)',
        secret=True,
        section="ok",
    ),
    Setting(
        "OK_SESSION_SECRET",
        'instead of OK_APP_SECRET, a session secret (extra `{"session_secret_key": …}`)',
        secret=True,
        section="ok",
    ),
    Setting(
        "GOSPULSE_OK_API_URL",
        "OK endpoint (proxy, emulator)",
        default="https://api.ok.ru/fb.do",
        section="ok",
    ),
    Setting("GOSPULSE_OK_RPS", "requests per second per token", positive, 3.0, section="ok"),
    Setting("GOSPULSE_OK_MAX_RETRIES", "retries of an OK call", whole(0), 5, section="ok"),
    Setting(
        "GOSPULSE_OK_TOKEN_COUNT",
        "how many tokens the connection lists (as GOSPULSE_VK_TOKEN_COUNT)",
        whole(1),
        1,
        section="ok",
    ),
    # -- audience
    Setting(
        "GOSPULSE_AUDIENCE_SECRET",
        "federation-wide secret that keys member-ID hashes (audience is off without it)",
        secret=True,
        section="audience",
    ),
    Setting(
        "GOSPULSE_AUDIENCE_CADENCE_DAYS",
        "re-read a page's member list every N days",
        whole(1),
        1,
        section="audience",
    ),
    Setting(
        "GOSPULSE_AUDIENCE_BIG_PAGE",
        "pages with at least this many members are re-read on their own cadence",
        whole(1),
        100_000,
        section="audience",
    ),
    Setting(
        "GOSPULSE_AUDIENCE_BIG_PAGE_CADENCE_DAYS",
        "re-read a big page's member list every N days",
        whole(1),
        7,
        section="audience",
    ),
    Setting(
        "GOSPULSE_AUDIENCE_MAX_MEMBERS",
        "lists larger than this are not read (status `over_budget`)",
        whole(1),
        1_000_000,
        section="audience",
    ),
    Setting(
        "GOSPULSE_AUDIENCE_MEMBER_FIELDS",
        "read member lists as user objects (`fields=city`) and count deactivated accounts and "
        "members' cities (growth quality, reach by residence); about ten times the bytes of a "
        "list of ids",
        flag,
        True,
        section="audience",
    ),
    # -- data quality and alerts
    Setting(
        "GOSPULSE_RAW_GATE_MAX_ERROR_SHARE",
        "the raw batch gate rejects a network's day when more than this share of its pages failed",
        share,
        shown_default="`vars.dq.raw_gate` in `dbt_project.yml` (0.2)",
        section="quality",
    ),
    Setting(
        "GOSPULSE_ALERT_WEBHOOK_URL",
        "new incidents are POSTed here as JSON",
        secret=True,
        section="quality",
    ),
    Setting(
        "GOSPULSE_ALERT_TG_BOT_TOKEN",
        "new incidents as a Telegram bot message: the bot's token",
        secret=True,
        section="quality",
    ),
    Setting(
        "GOSPULSE_ALERT_TG_CHAT_ID",
        "the chat the bot writes to",
        section="quality",
    ),
    Setting(
        "GOSPULSE_ALERT_TG_API_URL",
        "the Bot API's address",
        default="https://api.telegram.org",
        section="quality",
    ),
    Setting(
        "GOSPULSE_ALERT_EMAIL_TO",
        "comma-separated addresses; mail goes through Airflow's `[smtp]` settings "
        "(`AIRFLOW__SMTP__SMTP_HOST`, …)",
        names,
        default=(),
        section="quality",
    ),
    Setting(
        "GOSPULSE_DAILY_DEADLINE_HOURS",
        'hours after a daily run was queued before a "daily run late" alert goes to the '
        "alert channels; `off`: none",
        or_word("off", positive),
        4.0,
        section="quality",
    ),
    # -- serving
    Setting(
        "GOSPULSE_PG_PUBLISH",
        "`1`: the daily DAG also publishes the marts to Postgres",
        flag,
        False,
        section="serving",
    ),
    Setting(
        "GOSPULSE_PG_HOST",
        "the Postgres that holds the BI copy of the marts",
        default="127.0.0.1",
        section="serving",
    ),
    Setting("GOSPULSE_PG_PORT", "its port", whole(1), 5432, section="serving"),
    Setting("GOSPULSE_PG_USER", "its user", default="postgres", section="serving"),
    Setting(
        "GOSPULSE_PG_PASSWORD",
        "its password",
        default="",
        shown_default="empty",
        secret=True,
        section="serving",
    ),
    Setting("GOSPULSE_PG_DBNAME", "its database", default="gospulse", section="serving"),
    Setting(
        "GOSPULSE_BUNDLE_DIR",
        "where export bundles are written",
        shown_default="`<warehouse dir>/bundles`",
        section="serving",
    ),
    Setting(
        "GOSPULSE_API_TOKENS",
        "API token file (hashes only, mode 0600)",
        shown_default="`<warehouse dir>/api_tokens.json`",
        section="serving",
    ),
    Setting(
        "GOSPULSE_API_RATE",
        "API requests per second per token",
        positive,
        10.0,
        section="serving",
    ),
    Setting("GOSPULSE_API_BURST", "API burst per token", whole(1), 20, section="serving"),
    Setting(
        "GOSPULSE_API_BASE_URL",
        "the API's public address (`https://api.region42.example`), put in front of its "
        "`next` links; unset, the links are relative",
        section="serving",
    ),
    # -- federal
    Setting(
        "GOSPULSE_FEDERAL_SOURCES",
        "bundle roots the federal pull reads (paths, `http(s)://`, `s3://`), separated by "
        "commas or spaces",
        section="federal",
    ),
    Setting(
        "GOSPULSE_FEDERAL_WAREHOUSE",
        "the federal DuckDB file",
        default="data/federal.duckdb",
        section="federal",
    ),
    Setting(
        "GOSPULSE_S3_ENDPOINT_URL",
        "S3-compatible endpoint for `s3://` sources (keys from `AWS_ACCESS_KEY_ID` / "
        "`AWS_SECRET_ACCESS_KEY`)",
        shown_default="AWS",
        section="federal",
    ),
    # -- Airflow
    Setting(
        "GOSPULSE_TIMEZONE",
        "time zone of the DAG's schedule",
        default="Asia/Novokuznetsk",
        section="airflow",
    ),
    Setting(
        "GOSPULSE_DBT_INVOCATION",
        "how each dbt task runs dbt: `runner` (inside the task's process) or `subprocess`; "
        "`airflow dags test` (demo, tests) uses `subprocess`",
        choice("runner", "subprocess"),
        "runner",
        section="airflow",
    ),
    Setting(
        "AIRFLOW_CONN_VK_API",
        "connection `vk_api` in env form (JSON or URI); fields in docs/operations.md",
        secret=True,
        section="airflow",
        airflow_reads=True,
    ),
    Setting(
        "AIRFLOW_CONN_TELEGRAM",
        "connection `telegram` in env form",
        secret=True,
        section="airflow",
        airflow_reads=True,
    ),
    Setting(
        "AIRFLOW_CONN_OK_API",
        "connection `ok_api` in env form",
        secret=True,
        section="airflow",
        airflow_reads=True,
    ),
)

SETTINGS: dict[str, Setting] = {s.name: s for s in _SETTINGS}


def read(name: str, env: Mapping[str, str] | None = None) -> Any:
    """The typed value of setting `name` from the environment (or `env`), else its default."""
    try:
        setting = SETTINGS[name]
    except KeyError:
        raise KeyError(f"{name} is not a gospulse setting (gospulse/config/settings.py)") from None
    return setting.read(env)


def problems(env: Mapping[str, str] | None = None) -> list[str]:
    """Every set variable whose value does not parse, one line each (secrets not shown)."""
    found = []
    for setting in SETTINGS.values():
        try:
            setting.read(env)
        except SettingError as exc:
            found.append(str(exc))
    return found


def check(env: Mapping[str, str] | None = None) -> None:
    """Raise SettingError listing every set variable whose value does not parse: commands and
    the daily run's first task call it, so a bad value stops them before any work."""
    found = problems(env)
    if found:
        raise SettingError("; ".join(found))


def described(env: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(name, value as set) of every variable that is set; secrets as `(set)`."""
    source = os.environ if env is None else env
    return [
        (s.name, "(set)" if s.secret else source[s.name].strip())
        for s in SETTINGS.values()
        if source.get(s.name, "").strip()
    ]


def _default(setting: Setting) -> str:
    if setting.shown_default is not None:
        return setting.shown_default
    value = setting.default
    if value is None or value == ():
        return "—"
    if isinstance(value, bool):
        return "`1`" if value else "off"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def markdown() -> str:
    """docs/configuration.md: one table per section, from SETTINGS."""
    lines = [
        "# Configuration",
        "",
        "<!-- written by `gospulse settings --markdown` from gospulse/config/settings.py; "
        "edit there -->",
        "",
        "Every setting comes from the environment; under Airflow the secrets come from its "
        "connections. `gospulse settings` checks the values that are set and lists them, "
        "secrets hidden. A value that does not parse stops the command that reads it with an "
        "error naming the variable.",
    ]
    for section, title in SECTIONS.items():
        rows = [s for s in SETTINGS.values() if s.section == section]
        lines += ["", f"## {title}", "", "| variable | type | default | meaning |"]
        lines += ["|---|---|---|---|"]
        for s in rows:
            kind = s.kind + (", secret" if s.secret else "")
            lines.append(f"| `{s.name}` | {kind} | {_default(s)} | {s.description} |")
    return "\n".join(lines) + "\n"

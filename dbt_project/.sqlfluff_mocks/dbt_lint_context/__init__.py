"""Lint-only stand-ins for dbt's Jinja context, for sqlfluff's jinja templater.

sqlfluff renders the dbt SQL with its plain jinja templater (dbt_project/.sqlfluff), which
knows ref, source, config, is_incremental, this and return (apply_dbt_builtins) and, through
load_macros_from_path, the project's own macros; everything else the models and macros call
from dbt's context is here. Never used by dbt: nothing here runs in a build, and nothing
here needs to match dbt beyond rendering SQL of the same shape as dbt-duckdb compiles, so
that what sqlfluff lints is close to what DuckDB runs.

Every name of this module but the dunders becomes a name in the template context
(library_path is a package, so its attributes are the context: sqlfluff's JinjaTemplater).
"""

import datetime as _datetime
import pathlib as _pathlib
import re as _re
import types as _types
from typing import Any

import yaml as _yaml

_PROJECT = _pathlib.Path(__file__).resolve().parents[2] / "dbt_project.yml"
_VARS: dict[str, Any] = _yaml.safe_load(_PROJECT.read_text(encoding="utf-8")).get("vars", {})

_MISSING = object()


def var(name: str, default: Any = _MISSING) -> Any:
    """The project's real vars (dbt_project.yml), so `var('dq')[rule][key]` renders as in dbt."""
    if name in _VARS:
        return _VARS[name]
    if default is _MISSING:
        raise KeyError(f"var {name!r} is not in dbt_project.yml and has no default")
    return default


def env_var(name: str, default: str = "") -> str:
    """dbt's env_var, always its default (a plain build, not a page bucket): the lint renders
    the same SQL whatever the shell's environment."""
    return default


class _CompilerError(Exception):
    pass


def _raise_compiler_error(message: str) -> None:
    raise _CompilerError(message)


exceptions = _types.SimpleNamespace(raise_compiler_error=_raise_compiler_error)

modules = _types.SimpleNamespace(datetime=_datetime, re=_re)

# the parse phase: models that ask the warehouse (run_query) render their no-warehouse branch
execute = False

flags = _types.SimpleNamespace(FULL_REFRESH=False)

run_started_at = _datetime.datetime(2024, 1, 1, tzinfo=_datetime.UTC)

target = _types.SimpleNamespace(
    name="lint", schema="main", database="lint", type="duckdb", identifier="lint"
)


def _not_at_lint_time(*args: Any, **kwargs: Any) -> Any:
    raise _CompilerError("asks the warehouse: only rendered with execute = True")


adapter = _types.SimpleNamespace(get_relation=_not_at_lint_time)
run_query = _not_at_lint_time


def get_quoted_csv(column_names: Any) -> str:
    return ", ".join(f'"{name}"' for name in column_names)


# dbt's cross-database macros (the dbt.* namespace) as dbt-duckdb renders them


def _dateadd(datepart: str, interval: Any, from_date_or_timestamp: Any) -> str:
    return f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {datepart})"


def _datediff(first_date: Any, second_date: Any, datepart: str) -> str:
    return f"(date_diff('{datepart}', ({first_date})::timestamp, ({second_date})::timestamp))"


def _date_trunc(datepart: str, date: Any) -> str:
    return f"date_trunc('{datepart}', {date})"


def _last_day(date: Any, datepart: str) -> str:
    return (
        f"cast(date_trunc('{datepart}', {date}) + interval 1 {datepart} - interval 1 day as date)"
    )


def _hash(field: Any) -> str:
    return f"md5(cast({field} as varchar))"


def _concat(fields: Any) -> str:
    return " || ".join(str(field) for field in fields)


def _listagg(
    measure: Any, delimiter_text: Any = "','", order_by_clause: Any = None, limit_num: Any = None
) -> str:
    order = f" {order_by_clause}" if order_by_clause else ""
    return f"string_agg({measure}, {delimiter_text}{order})"


def _escape_single_quotes(expression: Any) -> str:
    return str(expression).replace("'", "''")


dbt = _types.SimpleNamespace(
    dateadd=_dateadd,
    datediff=_datediff,
    date_trunc=_date_trunc,
    last_day=_last_day,
    hash=_hash,
    concat=_concat,
    listagg=_listagg,
    escape_single_quotes=_escape_single_quotes,
)

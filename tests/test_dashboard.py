"""The Superset dashboard bundle in deploy/superset/dashboard/ against the marts' dbt contracts.

Superset only finds a wrong column when someone opens the chart, so every dataset, column and
chart parameter the bundle names is checked here against the marts' model YAML (the contracts
the Postgres publish copies column for column), along with the bundle's structure as Superset
5.0's v1 import reads it and the compose command that imports it. Fast tier: YAML only.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from gospulse.serving.publish import is_build_state

ROOT = Path(__file__).resolve().parent.parent
SUPERSET_DIR = ROOT / "deploy" / "superset"
BUNDLE_DIR = SUPERSET_DIR / "dashboard"
MARTS_DIR = ROOT / "dbt_project" / "models" / "marts"
COMPOSE_FILE = ROOT / "docker-compose.yml"

# Superset's password mask (PASSWORD_MASK in superset/constants.py)
PASSWORD_MASK = "X" * 10
# the schema gospulse.serving.postgres publishes the marts into
MARTS_SCHEMA = "marts"
# the type Superset records for a Postgres column, by contract type (the contract's DuckDB
# type becomes the Postgres type of gospulse.serving.postgres._PG_TYPES)
SUPERSET_TYPES = {
    "varchar": "TEXT",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "date": "DATE",
    "boolean": "BOOLEAN",
    "double precision": "DOUBLE PRECISION",
    "timestamp": "TIMESTAMP WITHOUT TIME ZONE",
}
TEMPORAL = {"date", "timestamp"}
# words of the bundle's SQL that are not column names
SQL_WORDS = {
    "select", "from", "where", "and", "or", "not", "null", "is", "in", "as", "case", "when",
    "then", "else", "end", "max", "min", "sum", "count", "avg", "distinct", "between",
    "like", "true", "false", "asc", "desc", "order", "by", "group", "limit", "coalesce",
}  # fmt: skip
# the parts of Superset 5.0's v1 import schemas (superset/*/schemas.py, ImportV1*Schema) that
# are required, plus what import_database reads without a default (allow_csv_upload, extra)
REQUIRED = {
    "databases": {
        "database_name", "sqlalchemy_uri", "uuid", "version", "allow_csv_upload", "extra"
    },
    "datasets": {"table_name", "uuid", "version", "database_uuid"},
    "charts": {"slice_name", "viz_type", "uuid", "version", "dataset_uuid", "params"},
    "dashboards": {"dashboard_title", "uuid", "version", "position"},
}  # fmt: skip

# every key those schemas accept: they are marshmallow schemas that refuse unknown keys
ALLOWED = {
    "databases": REQUIRED["databases"] | {
        "password", "cache_timeout", "expose_in_sqllab", "allow_run_async", "allow_ctas",
        "allow_cvas", "allow_dml", "impersonate_user", "is_managed_externally", "external_url",
        "ssh_tunnel",
    },
    "datasets": REQUIRED["datasets"] | {
        "main_dttm_col", "description", "default_endpoint", "offset", "cache_timeout", "schema",
        "catalog", "sql", "params", "template_params", "filter_select_enabled",
        "fetch_values_predicate", "extra", "columns", "metrics", "data", "is_managed_externally",
        "external_url", "normalize_columns", "always_filter_main_dttm",
    },
    "charts": REQUIRED["charts"] | {
        "description", "certified_by", "certification_details", "query_context", "cache_timeout",
        "is_managed_externally", "external_url",
    },
    "dashboards": REQUIRED["dashboards"] | {
        "description", "css", "slug", "metadata", "is_managed_externally", "external_url",
        "certified_by", "certification_details", "published",
    },
    "dataset columns": {
        "column_name", "extra", "verbose_name", "is_dttm", "is_active", "type",
        "advanced_data_type", "groupby", "filterable", "expression", "description",
        "python_date_format",
    },
    "dataset metrics": {
        "metric_name", "verbose_name", "metric_type", "expression", "description", "d3format",
        "currency", "extra", "warning_text",
    },
}  # fmt: skip


def _load_build_bundle():
    spec = importlib.util.spec_from_file_location("build_bundle", SUPERSET_DIR / "build_bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_bundle = _load_build_bundle()


# ---------------------------------------------------------------- loading


def marts_contracts() -> dict[str, dict[str, str]]:
    """{mart: {column: contract data_type}} from the marts' model YAML."""
    contracts: dict[str, dict[str, str]] = {}
    for path in sorted(MARTS_DIR.rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            columns = model.get("columns") or []
            contracts[model["name"]] = {c["name"]: c["data_type"].lower() for c in columns}
    views = read_view_contracts(contracts)
    # what the published copy holds: build state stays in the warehouse
    return {
        mart: {c: t for c, t in columns.items() if not is_build_state(c)}
        for mart, columns in (contracts | views).items()
    }


def read_view_contracts(contracts: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The columns of the views the publisher creates (serving.read_views), as DuckDB types
    them over empty tables of their inputs' contracts."""
    import duckdb

    from gospulse.serving.read_views import read_views

    spelled = {"DOUBLE": "double precision"}
    con = duckdb.connect()
    try:
        con.execute(f"create schema {MARTS_SCHEMA}")
        found: dict[str, dict[str, str]] = {}
        for view in read_views(MARTS_SCHEMA, min_members_for_abs=0, min_members_for_pct=100):
            for mart in sorted(view.inputs):
                columns = ", ".join(f'"{c}" {t}' for c, t in contracts[mart].items())
                con.execute(f"create table if not exists {MARTS_SCHEMA}.{mart} ({columns})")
            con.execute(f"create view {MARTS_SCHEMA}.{view.name} as {view.sql}")
            found[view.name] = {
                column: spelled.get(dtype, dtype.lower())
                for column, dtype in con.execute(
                    "select column_name, data_type from duckdb_columns() where table_name = ? "
                    "order by column_index",
                    [view.name],
                ).fetchall()
            }
        return found
    finally:
        con.close()


def load_bundle() -> dict[str, dict[str, Any]]:
    """{path in the bundle: parsed YAML} for every YAML file under deploy/superset/dashboard."""
    files = {}
    for path in sorted(BUNDLE_DIR.rglob("*")):
        if path.is_file():
            name = path.relative_to(BUNDLE_DIR).as_posix()
            assert path.suffix == ".yaml", f"{name}: Superset's import skips all but .yaml/.yml"
            files[name] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return files


def of_kind(bundle: dict[str, dict], kind: str) -> dict[str, dict]:
    return {name: config for name, config in bundle.items() if name.startswith(f"{kind}/")}


@pytest.fixture(scope="module")
def contracts() -> dict[str, dict[str, str]]:
    return marts_contracts()


@pytest.fixture(scope="module")
def bundle() -> dict[str, dict[str, Any]]:
    return load_bundle()


# ---------------------------------------------------------------- the column check


def sql_identifiers(sql: str) -> set[str]:
    """Names an SQL text uses as columns: no string literals, marts.<table> or SQL words."""
    text = re.sub(r"'(?:[^']|'')*'", " ", sql)
    text = re.sub(rf"\b{MARTS_SCHEMA}\.\w+", " ", text)
    return {w.lower() for w in re.findall(r"\b[A-Za-z_]\w*", text)} - SQL_WORDS


def dataset_marts(config: dict) -> list[str]:
    """The marts a dataset reads: its table, or every marts.<table> its SQL names."""
    if config.get("sql"):
        return re.findall(rf"\b{MARTS_SCHEMA}\.(\w+)", config["sql"])
    return [config["table_name"]]


def chart_references(params: dict) -> list[tuple[str, str, str]]:
    """(where, kind, name) of every column or metric a chart's params use; kind is column,
    metric (a dataset's saved metric) or sql (an expression, checked name by name)."""
    found: list[tuple[str, str, str]] = []

    def column(where: str, value: Any) -> None:
        if isinstance(value, str):
            found.append((where, "column", value))
        elif isinstance(value, dict):  # an adhoc column
            found.append((where, "sql", value.get("sqlExpression") or ""))

    def metric(where: str, value: Any) -> None:
        if isinstance(value, str):
            found.append((where, "metric", value))
        elif isinstance(value, dict) and value.get("expressionType") == "SQL":
            found.append((where, "sql", value.get("sqlExpression") or ""))
        elif isinstance(value, dict):
            found.append((where, "column", (value.get("column") or {}).get("column_name", "")))

    for key in ("groupby", "all_columns", "columns", "series_columns"):
        for value in params.get(key) or []:
            column(key, value)
    for key in ("x_axis", "granularity_sqla", "entity", "series"):
        if params.get(key):
            column(key, params[key])
    for key in ("metrics", "percent_metrics"):
        for value in params.get(key) or []:
            metric(key, value)
    for key in ("metric", "timeseries_limit_metric", "secondary_metric"):
        if params.get(key):
            metric(key, params[key])
    for value in params.get("adhoc_filters") or []:
        if value.get("expressionType") == "SQL":
            found.append(("adhoc_filters", "sql", value.get("sqlExpression") or ""))
        else:
            found.append(("adhoc_filters", "column", value["subject"]))
    for value in params.get("order_by_cols") or []:
        target = json.loads(value)[0] if isinstance(value, str) else value[0]
        (column if isinstance(target, str) else metric)("order_by_cols", target)
    return found


def column_problems(bundle: dict[str, dict], contracts: dict[str, dict[str, str]]) -> list[str]:
    """Every dataset, column and metric the bundle names that the marts' contracts lack."""
    problems = []
    datasets = {}
    for name, config in of_kind(bundle, "datasets").items():
        marts = dataset_marts(config)
        if config.get("schema") != MARTS_SCHEMA:
            problems.append(f"{name}: schema {config.get('schema')!r}, not {MARTS_SCHEMA!r}")
        if not marts:
            problems.append(f"{name}: its SQL reads no {MARTS_SCHEMA}.<mart>")
        for mart in marts:
            if mart not in contracts:
                problems.append(f"{name}: {mart} is not a mart in {MARTS_DIR.relative_to(ROOT)}")
        allowed = {c: t for m in marts for c, t in contracts.get(m, {}).items()}
        if config.get("sql"):
            for word in sorted(sql_identifiers(config["sql"]) - set(allowed)):
                problems.append(f"{name}: its SQL names {word!r}, a column of none of {marts}")
        columns = {}
        for col in config.get("columns") or []:
            columns[col["column_name"]] = col
            if col.get("expression"):  # a calculated column: its SQL must name real columns
                for word in sorted(sql_identifiers(col["expression"]) - set(allowed)):
                    problems.append(
                        f"{name}: column {col['column_name']!r} uses {word!r}, "
                        f"a column of none of {marts}"
                    )
                continue
            data_type = allowed.get(col["column_name"])
            if data_type is None:
                problems.append(
                    f"{name}: declares column {col['column_name']!r}, a column of none of {marts}"
                )
                continue
            if col.get("type") != SUPERSET_TYPES[data_type]:
                problems.append(
                    f"{name}: column {col['column_name']!r} is {col.get('type')!r}, "
                    f"the marts' {data_type} is {SUPERSET_TYPES[data_type]!r} in Postgres"
                )
            if bool(col.get("is_dttm")) != (data_type in TEMPORAL):
                problems.append(f"{name}: column {col['column_name']!r} has a wrong is_dttm")
        metrics = {m["metric_name"]: m for m in config.get("metrics") or []}
        for metric in metrics.values():
            for word in sorted(sql_identifiers(metric["expression"]) - set(allowed)):
                problems.append(f"{name}: metric {metric['metric_name']!r} uses {word!r}")
        dttm = config.get("main_dttm_col")
        if dttm and not (dttm in columns and columns[dttm].get("is_dttm")):
            problems.append(f"{name}: main_dttm_col {dttm!r} is not a temporal column of it")
        datasets[str(config["uuid"])] = (name, columns, metrics, allowed)

    for name, config in of_kind(bundle, "charts").items():
        if str(config["dataset_uuid"]) not in datasets:
            problems.append(f"{name}: dataset {config['dataset_uuid']} is not in the bundle")
            continue
        dataset, columns, metrics, allowed = datasets[str(config["dataset_uuid"])]
        for where, kind, ref in chart_references(config.get("params") or {}):
            if kind == "column" and ref not in columns:
                problems.append(f"{name}: {where} names column {ref!r}, not a column of {dataset}")
            elif kind == "metric" and ref not in metrics:
                problems.append(f"{name}: {where} names metric {ref!r}, not a metric of {dataset}")
            elif kind == "sql":
                for word in sorted(sql_identifiers(ref) - set(allowed) - set(columns)):
                    problems.append(f"{name}: {where} uses {word!r}, not a column of {dataset}")
    return problems


# ---------------------------------------------------------------- tests


def test_every_file_parses_into_a_superset_v1_dashboard_bundle(bundle):
    metadata = bundle.pop("metadata.yaml")
    assert metadata["version"] == "1.0.0" and metadata["type"] == "Dashboard"
    kinds = {name.split("/")[0] for name in bundle}
    assert kinds == set(REQUIRED), f"files outside {sorted(REQUIRED)}: {sorted(kinds)}"
    for name, config in bundle.items():
        kind = name.split("/")[0]
        missing = REQUIRED[kind] - set(config)
        assert not missing, f"{name}: missing {sorted(missing)}"
        unknown = set(config) - ALLOWED[kind]
        assert not unknown, f"{name}: Superset's import refuses {sorted(unknown)}"
        for part in ("columns", "metrics") if kind == "datasets" else ():
            for item in config.get(part) or []:
                unknown = set(item) - ALLOWED[f"dataset {part}"]
                assert not unknown, f"{name}: {part} refuse {sorted(unknown)}"
        assert config["version"] == "1.0.0", name
    assert len(of_kind(bundle, "dashboards")) == 1
    (dashboard,) = of_kind(bundle, "dashboards").values()
    assert dashboard["dashboard_title"] == "Госпаблики региона"
    for name, chart in of_kind(bundle, "charts").items():
        assert isinstance(chart["params"], dict), f"{name}: params must be a mapping"
        assert re.search("[А-Яа-яЁё]", chart["slice_name"]), f"{name}: the title is Russian"


def test_datasets_and_charts_name_only_columns_the_published_marts_have(bundle, contracts):
    assert column_problems(bundle, contracts) == []


@pytest.mark.parametrize(
    ("file", "mutate", "expected"),
    [
        (
            "charts/subscriptions_by_network.yaml",
            lambda c: c["params"]["groupby"].append("networks"),
            "groupby names column 'networks'",
        ),
        (
            "charts/subscriptions_by_network.yaml",
            lambda c: c["params"]["metrics"][0]["column"].update(column_name="members_sum"),
            "metrics names column 'members_sum'",
        ),
        (
            "charts/dq_incidents.yaml",
            lambda c: c["params"]["order_by_cols"].append('["opened_at", false]'),
            "order_by_cols names column 'opened_at'",
        ),
        (
            "charts/unique_audience.yaml",
            lambda c: c["params"]["adhoc_filters"][1].update(subject="scope"),
            "adhoc_filters names column 'scope'",
        ),
        (
            "datasets/gospulse_marts/mart_audience.yaml",
            lambda c: c["columns"][0].update(column_name="audience_day"),
            "declares column 'audience_day'",
        ),
        (
            "datasets/gospulse_marts/top10_current_month.yaml",
            lambda c: c.update(sql=c["sql"].replace("rank_abs <= 10", "rank <= 10")),
            "its SQL names 'rank'",
        ),
        (
            "datasets/gospulse_marts/mart_region_growth.yaml",
            lambda c: c.update(table_name="mart_region_totals"),
            "mart_region_totals is not a mart",
        ),
    ],
)
def test_the_column_check_reports_what_the_marts_do_not_have(
    bundle, contracts, file, mutate, expected
):
    broken = copy.deepcopy(bundle)
    mutate(broken[file])
    problems = column_problems(broken, contracts)
    assert any(p.startswith(f"{file}: ") and expected in p for p in problems), problems


def test_the_layout_shows_every_chart_and_every_chart_has_its_dataset_and_database(bundle):
    (dashboard,) = of_kind(bundle, "dashboards").values()
    position = dashboard["position"]
    charts = {str(c["uuid"]): c for c in of_kind(bundle, "charts").values()}
    datasets = {str(d["uuid"]): d for d in of_kind(bundle, "datasets").values()}
    databases = {str(d["uuid"]) for d in of_kind(bundle, "databases").values()}
    nodes = {k: v for k, v in position.items() if isinstance(v, dict)}
    chart_nodes = [v for v in nodes.values() if v["type"] == "CHART"]
    on_dashboard = [str(v["meta"]["uuid"]) for v in chart_nodes]
    assert sorted(on_dashboard) == sorted(charts), "every chart once, and no unknown chart"
    # the import maps chartId to the new ids by uuid (update_id_refs): they must be apart
    chart_ids = [v["meta"]["chartId"] for v in chart_nodes]
    assert len(set(chart_ids)) == len(chart_ids) and all(isinstance(i, int) for i in chart_ids)
    for node in chart_nodes:
        assert node["meta"]["sliceName"] == charts[str(node["meta"]["uuid"])]["slice_name"]
    # the tree: every child exists and names its parent chain; every node hangs off ROOT_ID
    for key, node in nodes.items():
        assert node["id"] == key
        for child in node.get("children", []):
            assert child in nodes, f"{key}: child {child} is not in the layout"
            assert nodes[child]["parents"] == [*node.get("parents", []), key], child
    reached = {"ROOT_ID"}
    stack = ["ROOT_ID"]
    while stack:
        for child in nodes[stack.pop()].get("children", []):
            reached.add(child)
            stack.append(child)
    assert reached | {"HEADER_ID"} == set(nodes)
    for chart in charts.values():
        assert str(chart["dataset_uuid"]) in datasets, chart["slice_name"]
    for dataset in datasets.values():
        assert str(dataset["database_uuid"]) in databases, dataset["table_name"]


def test_uuids_are_unique(bundle):
    uuids = [str(config["uuid"]) for name, config in bundle.items() if name != "metadata.yaml"]
    assert len(set(uuids)) == len(uuids)


def test_the_database_file_holds_no_password_and_is_the_uri_compose_registers(bundle):
    (database,) = of_kind(bundle, "databases").values()
    assert "password" not in database
    raw = "\n".join(p.read_text(encoding="utf-8") for p in BUNDLE_DIR.rglob("databases/*.yaml"))
    assert not re.search(r"^\s*password\s*:", raw, re.MULTILINE)
    script = superset_script()
    registered = re.search(
        r'set-database-uri --database_name (\w+) --uri "([^"]+)"', script
    ).groups()
    # set-database-uri looks the database up by name; the import by uuid, then by name
    assert database["database_name"] == registered[0]
    masked = re.sub(r":\$\$\{\w+\}@", f":{PASSWORD_MASK}@", registered[1])
    assert database["sqlalchemy_uri"] == masked


# ---------------------------------------------------------------- compose and the ZIP


def superset_script() -> str:
    service = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]["superset"]
    command = service["command"]
    return "\n".join(command) if isinstance(command, list) else command


def test_compose_imports_the_bundle_after_init_and_the_database_uri():
    service = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]["superset"]
    script = superset_script()
    lines = [line.strip() for line in script.splitlines() if not line.strip().startswith("#")]
    flat = " ".join(lines)

    build = re.search(r"python (\S+/build_bundle\.py) (\S+) (\S+)", flat)
    assert build, "the command builds the ZIP with deploy/superset/build_bundle.py"
    script_path, source, target = build.groups()
    imported = re.search(r'superset import-dashboards -p (\S+) -u ("[^"]*"|[^\s;]+)', flat)
    assert imported, "the command runs superset import-dashboards -p ZIP -u USER"
    assert imported.group(1) == target
    # the dashboard's owner, and the user whose rights the import checks: the admin it creates
    admin = re.search(r'fab create-admin --username ("[^"]*"|[^\s;]+)', flat)
    assert admin and imported.group(2) == admin.group(1)
    order = [
        flat.index("superset init"),
        flat.index("superset set-database-uri"),
        flat.index("build_bundle.py"),
        flat.index("superset import-dashboards"),
        flat.index("exec /usr/bin/run-server.sh"),
    ]
    assert order == sorted(order), "init, database URI, bundle, import, then the server"

    # the script and the bundle are the repo's, mounted read-only where the command reads them
    mounts = [m.split(":") for m in service["volumes"]]
    (mount,) = [m for m in mounts if m[0] == "./deploy/superset"]
    assert mount[2] == "ro"
    container = PurePosixPath(mount[1])
    assert PurePosixPath(script_path) == container / "build_bundle.py"
    assert PurePosixPath(source) == container / BUNDLE_DIR.relative_to(SUPERSET_DIR).as_posix()
    assert build_bundle.PASSWORD_ENV in service["environment"]


def test_the_zip_holds_every_file_under_one_root_and_the_password_only_there(tmp_path):
    target = tmp_path / "dashboard.zip"
    before = {p: p.read_bytes() for p in BUNDLE_DIR.rglob("*.yaml")}
    names = build_bundle.build_bundle(BUNDLE_DIR, target, "s3cr'et: #pw")
    assert {p.relative_to(BUNDLE_DIR).as_posix() for p in before} == set(names)
    assert {p: p.read_bytes() for p in before} == before, "the repo's files stay as they are"
    with zipfile.ZipFile(target) as archive:
        # what Superset reads of it: the first folder dropped (remove_root), YAML only
        read = {
            str(PurePosixPath(*PurePosixPath(n).parts[1:])): archive.read(n).decode()
            for n in archive.namelist()
        }
        assert all(
            PurePosixPath(n).parts[0] == build_bundle.BUNDLE_ROOT for n in archive.namelist()
        )
    assert set(read) == set(names)
    for name, text in read.items():
        config = yaml.safe_load(text)
        if name.startswith("databases/"):
            assert config["password"] == "s3cr'et: #pw"
            assert PASSWORD_MASK in config["sqlalchemy_uri"]
        else:
            assert config == yaml.safe_load((BUNDLE_DIR / name).read_text(encoding="utf-8"))


def test_build_bundle_refuses_to_run_without_the_password(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(build_bundle.PASSWORD_ENV, raising=False)
    assert build_bundle.main([str(BUNDLE_DIR), str(tmp_path / "b.zip")]) == 2
    assert build_bundle.PASSWORD_ENV in capsys.readouterr().err
    assert not (tmp_path / "b.zip").exists()

"""docker-compose.yml, the Dockerfile and .env.example against what the code expects.

No Docker engine runs here, so the stack is never started: instead every service, command,
variable, volume and port is checked against the real code and the real Airflow CLI, the
Postgres init script runs on a throw-away Postgres cluster, and a compose client validates the
file where one is installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement

from gospulse.api.tokens import default_tokens_path
from gospulse.cli import build_parser
from gospulse.cli.deploy_init import DeployConfigError, main, write_auth_password
from gospulse.extract.networks import CONNECTION_IDS
from gospulse.federal.run import federal_warehouse_path
from gospulse.raw.warehouse import warehouse_path
from gospulse.serving.layout import bundle_root, published_path
from gospulse.serving.postgres import PgConfig
from gospulse.transform.run import dbt_state_dir

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
PG_INIT = ROOT / "deploy" / "postgres" / "init-databases.sh"

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
# the Airflow CLI command each long-running service must run
AIRFLOW_COMMANDS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
    "airflow-worker": ["celery", "worker"],
}
REQUIRED_SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "superset"}
ONE_SHOT = {"airflow-init"}

SOURCE_DIRS = ("gospulse", "extractors", "expectations", "dags", "dbt_project")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|JWT|TOKEN$|^AIRFLOW_CONN_")
COMPOSE_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# ---------------------------------------------------------------- loading the files


@pytest.fixture(scope="module")
def compose() -> dict:
    # safe_load resolves the anchors and `<<` merge keys, as compose does
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def compose_text() -> str:
    """The compose file without its comment lines (which may quote `${VAR}` forms)."""
    lines = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def env_example() -> dict[str, str]:
    values = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f".env.example line {number} is not NAME=value: {line!r}"
        values[name.strip()] = value.strip()
    return values


def substitute(text: str) -> str:
    """`${VAR}` forms replaced as compose does with .env.example's values (blank: <VAR>)."""
    example = env_example()

    def value_of(match: re.Match) -> str:
        name, op, default = match.group(1), match.group(2), match.group(3)
        value = example.get(name, "")
        if op == ":-" and not value:
            return default
        return value or f"<{name}>"

    return COMPOSE_VAR.sub(value_of, text).replace("$$", "$")


def resolved_env(service: dict) -> dict[str, str]:
    """A service's environment as a container sees it with .env.example's values."""
    return {k: substitute(str(v)) for k, v in (service.get("environment") or {}).items()}


def container_env(service: dict) -> dict[str, str]:
    """What a process in the service's container sees: the image's ENV, then the compose file's."""
    return {**dockerfile_env(), **resolved_env(service)}


def dockerfile_env() -> dict[str, str]:
    """ENV settings of the final stage of the Dockerfile (`ENV A=1 \\ B=2` form)."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def source_text() -> str:
    chunks = []
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".yml", ".yaml", ".sql") and "target" not in path.parts:
                chunks.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(chunks)


def volume_mounts(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of every short-syntax volume of a service."""
    mounts = []
    for spec in service.get("volumes") or []:
        parts = substitute(spec).split(":")
        mounts.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return mounts


def mount_of(service: dict, path: str | Path) -> tuple[str, str, bool] | None:
    """The mount a container path lies under (the deepest one), or None."""
    path = PurePosixPath(str(path))
    best = None
    for source, target, ro in volume_mounts(service):
        if path == PurePosixPath(target) or PurePosixPath(target) in path.parents:
            if best is None or len(target) > len(best[1]):
                best = (source, target, ro)
    return best


def command_lines(service: dict) -> list[str]:
    command = service.get("command")
    if isinstance(command, list):
        command = "\n".join(command)
    return (command or "").splitlines()


def gospulse_invocations(services: dict) -> list[list[str]]:
    """Every `gospulse …` command the compose services and the Dockerfile's RUN steps run."""
    lines = [line for service in services.values() for line in command_lines(service)]
    dockerfile = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines += [line for line in dockerfile.splitlines() if line.startswith("RUN ")]
    found = []
    for line in lines:
        for match in re.finditer(r"(?:^|[\s;&|])gospulse((?: [a-z][a-z-]*)+)", line):
            found.append(match.group(1).split())
    return found


# ---------------------------------------------------------------- services


def test_every_service_is_there_with_an_image_command_and_healthcheck(services):
    assert REQUIRED_SERVICES <= set(services), REQUIRED_SERVICES - set(services)
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name}: no image or build"
        if name != "postgres":  # the postgres image's own command is the server
            assert service.get("command"), f"{name}: no command"
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name} runs once and must not restart"
            assert "healthcheck" not in service, f"{name} is a one-shot job"
        else:
            test = (service.get("healthcheck") or {}).get("test")
            assert test, f"{name}: a long-running service needs a healthcheck"
            assert service.get("restart") in ("always", "unless-stopped"), name


def test_airflow_services_share_one_image_built_from_the_dockerfile(services):
    images = {services[name].get("image") for name in AIRFLOW_SERVICES}
    assert len(images) == 1, f"Airflow services run different images: {images}"
    for name in AIRFLOW_SERVICES:
        build = services[name].get("build")
        build = {"context": build} if isinstance(build, str) else (build or {})
        context, dockerfile = build.get("context"), build.get("dockerfile") or "Dockerfile"
        assert context and (ROOT / context / dockerfile).resolve() == DOCKERFILE, name


def test_airflow_services_share_the_common_environment(compose, services):
    common = compose["x-airflow-env"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        differing = {k for k, v in common.items() if env.get(k) != v}
        assert not differing, f"{name} differs from x-airflow-env in {sorted(differing)}"


def test_airflow_commands_are_real_airflow_3_cli_commands(services):
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    for name, argv in AIRFLOW_COMMANDS.items():
        assert services[name]["command"].split() == argv, name
        parser.parse_args(argv)  # exits (fails the test) on a command Airflow 3.3 lacks
    # the healthchecks too: `airflow jobs check` for the job each service runs
    for name, job in (
        ("airflow-dag-processor", "DagProcessorJob"),
        ("airflow-triggerer", "TriggererJob"),
    ):
        check = services[name]["healthcheck"]["test"][1]
        argv = check.split()[1:5] + ["--hostname", "h"]
        assert argv[:4] == ["jobs", "check", "--job-type", job], f"{name}: {check}"
        parser.parse_args(argv)
    ping = services["airflow-worker"]["healthcheck"]["test"][1]
    app_module = re.search(r"--app (\S+)\.app ", ping).group(1)
    assert importlib.util.find_spec(app_module), f"the worker healthcheck's {app_module} is gone"
    init = command_lines(services["airflow-init"])
    assert "airflow db migrate" in [line.strip() for line in init]
    # a wrong command must not slip through this check
    with pytest.raises(SystemExit):
        parser.parse_args(["webserver"])  # Airflow 2's UI command, gone in 3


def documented_airflow_commands(text: str) -> list[list[str]]:
    """argv (after `airflow`) of every airflow command in a markdown text: fenced sh blocks
    (continuation lines joined, an optional `[--flag]` taken as given) and inline code, where
    a span of options alone (`-t '^x$' -d`) extends the `airflow tasks clear` before it."""
    commands: list[list[str]] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\[(--[a-z-]+)\]", r"\1", line.split("  #")[0]).strip()
            if line.startswith("airflow "):
                commands.append(shlex.split(line)[1:])
    clear: list[str] | None = None
    for span in re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S)):
        for part in " ".join(span.split()).split("&&"):
            argv = shlex.split(part.strip())
            if argv[:1] == ["airflow"] and len(argv) > 3:  # `airflow dags test` is a name
                commands.append(argv[1:])
                if argv[1:3] == ["tasks", "clear"]:
                    clear = argv[1:]
            elif argv[:1] == ["-t"] and clear is not None:
                commands.append(clear + argv)
    return commands


def test_operations_guide_airflow_commands_are_real_airflow_3_commands():
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    commands = documented_airflow_commands((ROOT / "docs" / "operations.md").read_text())
    kinds = {" ".join(argv[:2]) for argv in commands}
    assert {"backfill create", "tasks clear", "connections add", "pools delete"} <= kinds, kinds
    assert sum(argv[:2] == ["tasks", "clear"] for argv in commands) >= 4  # the -t variants
    for argv in commands:
        parser.parse_args(argv)  # exits (fails the test) on a command or flag Airflow 3.3 lacks
    with pytest.raises(SystemExit):
        parser.parse_args(["backfill", "create", "--dag-id", "d", "--start-date", "2026-05-01"])


def test_init_runs_migrate_then_the_auth_password_then_the_pools(services):
    lines = [line.strip() for line in command_lines(services["airflow-init"]) if line.strip()]
    steps = [
        lines.index(step)
        for step in (
            "airflow db migrate",
            "python -m gospulse.cli.deploy_init",
            "gospulse airflow pools",
        )
    ]
    assert steps == sorted(steps), lines
    assert services["airflow-init"]["command"][:2] == ["bash", "-ceu"], "a failed step must stop"


def test_gospulse_commands_in_compose_and_dockerfile_exist(services):
    invocations = gospulse_invocations(services)
    assert ["dbt", "manifest"] in invocations, "the image must render the dbt manifest"
    assert ["airflow", "pools"] in invocations, "airflow-init must create the pools"
    parser = build_parser()
    for argv in invocations:
        parser.parse_args(argv)


# ---------------------------------------------------------------- Airflow wiring


def test_celery_executor_with_the_redis_service_as_broker(compose, services):
    env = compose["x-airflow-env"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis"
    assert broker.hostname in services and "redis" in services[broker.hostname]["image"]
    # redis listens on its default port unless its command says otherwise
    redis_port = 6379
    redis_cmd = services[broker.hostname]["command"]
    if "--port" in redis_cmd:
        redis_port = int(redis_cmd[redis_cmd.index("--port") + 1])
    assert (broker.port or 6379) == redis_port


def test_metadata_db_and_result_backend_are_a_database_the_init_script_creates(compose, services):
    env = resolved_env({"environment": compose["x-airflow-env"]})
    script = PG_INIT.read_text(encoding="utf-8")
    created = set(re.findall(r"create database (\w+) owner (\w+)", script))
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        url = urlsplit(env[key])
        assert url.hostname in services and "postgres" in services[url.hostname]["image"], key
        assert url.port == 5432, key
        assert (url.path.lstrip("/"), url.username) in created, f"{key}: {url.path} not created"
    # the init script is what postgres runs on its first start
    mounted = {target: source for source, target, _ in volume_mounts(services["postgres"])}
    init_target = next(t for t in mounted if t.startswith("/docker-entrypoint-initdb.d/"))
    assert (ROOT / mounted[init_target]).resolve() == PG_INIT
    assert os.access(PG_INIT, os.X_OK), "postgres only runs executable .sh init scripts"
    # the passwords the script needs reach the postgres container
    for var in re.findall(r"\$\{(\w+):\?", script):
        assert var in services["postgres"]["environment"], f"postgres lacks {var}"


def test_execution_api_points_at_the_api_server(compose, services):
    url = urlsplit(compose["x-airflow-env"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert url.hostname == "airflow-apiserver" and url.hostname in services
    container_ports = {int(p.rsplit(":", 1)[1]) for p in services[url.hostname]["ports"]}
    assert url.port in container_ports
    assert url.path == "/execution/"
    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES
    from airflow.api_fastapi.core_api.routes.public import public_router

    assert url.path.rstrip("/") in RESERVED_URL_PREFIXES  # where the api-server mounts it
    health = urlsplit(services[url.hostname]["healthcheck"]["test"][-1])
    assert health.port == url.port, "the healthcheck must ask the api-server's own port"
    assert health.path in {route.path for route in public_router.routes}, health.path


def test_scheduler_healthcheck_asks_the_port_airflow_serves_it_on(compose, services):
    from airflow.configuration import conf

    assert compose["x-airflow-env"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    port = conf.getint("scheduler", "scheduler_health_check_server_port")
    health = " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert f"localhost:{port}/health" in health


def test_secrets_come_from_env_and_the_connections_the_code_reads_are_set(compose):
    env = compose["x-airflow-env"]
    for network, conn_id in CONNECTION_IDS.items():
        name = f"AIRFLOW_CONN_{conn_id.upper()}"
        assert env.get(name) == f"${{{name}:-}}", f"{network}: {name} must come from .env"
    for key in (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API__SECRET_KEY",
        "GOSPULSE_PG_PASSWORD",
    ):
        assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", env[key]), f"{key} must be a required .env value"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == dockerfile_env()["AIRFLOW__CORE__DAGS_FOLDER"]


def test_documented_connection_examples_give_the_code_its_credentials(monkeypatch):
    from gospulse.orchestration.connections import airflow_credentials

    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    expected = {
        "vk": {"password": "TOKEN"},
        "tg": {"login": "API_ID", "password": "API_HASH", "session": "STRING_SESSION"},
        "ok": {"login": "APP_KEY", "password": "ACCESS_TOKEN", "application_secret_key": "SECRET"},
    }
    for network, conn_id in CONNECTION_IDS.items():
        name = f"AIRFLOW_CONN_{conn_id.upper()}"
        comment = lines[lines.index(f"{name}=") - 1]
        example = re.search(r"'(\{.*\})'", comment)
        assert example, f"{name}: .env.example shows no single-quoted JSON example"
        monkeypatch.setenv(name, example.group(1))
        credentials = airflow_credentials(network)
        for key, value in expected[network].items():
            assert credentials.get(key) == value, f"{name}: {key} not read from the example"


def test_blank_optional_values_mean_off_to_the_code(monkeypatch, services):
    # compose passes an unset optional variable as "" (not absent): the code must read that
    # as "not configured", never as a value
    from zoneinfo import ZoneInfo

    from gospulse.federal.pull import parse_sources
    from gospulse.orchestration.alert_email import notifiers_from_env
    from gospulse.orchestration.connections import airflow_credentials

    env = resolved_env(services["airflow-worker"])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    blank = {k for k, v in env.items() if v == ""}
    assert {"GOSPULSE_ALERT_WEBHOOK_URL", "AIRFLOW_CONN_VK_API", "GOSPULSE_REGION"} <= blank
    assert notifiers_from_env() == []
    assert parse_sources(os.environ["GOSPULSE_FEDERAL_SOURCES"]) == []
    for network in CONNECTION_IDS:
        assert airflow_credentials(network).get("password") is None, network
    assert ZoneInfo(os.environ["GOSPULSE_TIMEZONE"])


def test_superset_reads_the_marts_as_the_read_only_role_the_init_script_creates(services):
    superset = services["superset"]
    assert superset.get("profiles") == ["bi"]  # optional: only with --profile bi
    script = "\n".join(command_lines(superset))
    uri = re.search(
        r'--uri "postgresql\+psycopg2://([^:]+):\$\$\{(\w+)\}@([^:/]+):(\d+)/(\w+)"', script
    )
    assert uri, script
    user, password_var, host, port, database = uri.groups()
    init = (ROOT / "deploy" / "postgres" / "init-databases.sh").read_text(encoding="utf-8")
    assert user == "bi" and f"create role {user} login" in init
    assert f"${{{password_var}" in init  # the password the init script gives the role
    assert host == "postgres" and port == "5432"
    workers_db = services["airflow-worker"]["environment"]["GOSPULSE_PG_DBNAME"]
    assert database == workers_db and f"grant connect on database {database} to bi" in init
    # every secret the command insists on comes from .env, blank in the example
    example = env_example()
    for var in re.findall(r"\$\$\{(\w+):\?", script):
        assert var in superset["environment"] and var in example and example[var] == "", var


def test_worker_is_scalable(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker, "--scale needs compose to name the containers"
    assert "ports" not in worker, "a fixed host port collides at --scale N"


def test_depends_on_waits_for_health_or_completion(services):
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep}'s health"
            else:
                assert condition == "service_completed_successfully", f"{name} -> {dep}"
                assert dep in ONE_SHOT, f"{name} waits for {dep} to finish, but it never does"
    for name in AIRFLOW_SERVICES - ONE_SHOT:
        assert services[name]["depends_on"]["airflow-init"] == {
            "condition": "service_completed_successfully"
        }, f"{name} must start after the migration"


# ---------------------------------------------------------------- paths and volumes


def test_worker_volumes_hold_the_paths_the_code_derives(monkeypatch, compose, services):
    worker = services["airflow-worker"]
    for key, value in container_env(worker).items():
        monkeypatch.setenv(key, value)
    declared = set(compose["volumes"])

    warehouse = warehouse_path()
    assert warehouse == PurePosixPath(dockerfile_env()["GOSPULSE_WAREHOUSE"])
    writable = {
        "warehouse": warehouse,
        "bundles": bundle_root(warehouse),
        "published copy": published_path(warehouse),
        "dbt target and logs": dbt_state_dir(warehouse),
        "federal warehouse": federal_warehouse_path(),
        "API token file": default_tokens_path(),
    }
    for what, path in writable.items():
        mount = mount_of(worker, path)
        assert mount, f"{what} ({path}) is on no volume of the worker: lost on restart"
        source, _, read_only = mount
        assert source in declared and not read_only, f"{what} must be on a writable named volume"
        assert source == "gospulse-warehouse", f"{what} ({path}) must share the warehouse volume"
    # the contract's paths
    assert str(warehouse) == "/opt/gospulse/warehouse/gospulse.duckdb"
    assert str(bundle_root(warehouse)) == "/opt/gospulse/warehouse/bundles"

    registry = os.environ["GOSPULSE_REGISTRY"]
    assert registry == "/opt/gospulse/registry" == dockerfile_env()["GOSPULSE_REGISTRY"]
    mount = mount_of(worker, registry)
    assert mount and mount[1] == registry and mount[2], "the registry is mounted read-only"
    assert mount[0] == "./registry" and (ROOT / mount[0]).is_dir()


def test_postgres_publish_settings_reach_the_serving_database(monkeypatch, compose, services):
    for key, value in resolved_env({"environment": compose["x-airflow-env"]}).items():
        monkeypatch.setenv(key, value)
    config = PgConfig.from_env()
    assert config.host == "postgres" and config.host in services
    assert config.port == 5432
    script = PG_INIT.read_text(encoding="utf-8")
    assert (config.dbname, config.user) in set(
        re.findall(r"create database (\w+) owner (\w+)", script)
    )
    assert compose["x-airflow-env"]["GOSPULSE_PG_PUBLISH"] == "1"


def test_dockerfile_and_compose_agree_on_every_path_both_set(compose):
    shared = set(dockerfile_env()) & set(compose["x-airflow-env"])
    assert shared, "the Dockerfile and the compose file should name the same paths"
    for key in shared:
        assert dockerfile_env()[key] == compose["x-airflow-env"][key], key


# ---------------------------------------------------------------- variables


def test_every_compose_variable_is_in_env_example_and_no_stale_ones():
    used = {m.group(1) for m in COMPOSE_VAR.finditer(compose_text())}
    documented = set(env_example())
    assert used - documented == set(), f"not in .env.example: {sorted(used - documented)}"
    assert documented - used == set(), f"in .env.example but unused: {sorted(documented - used)}"


def test_every_env_example_variable_has_a_comment_and_secrets_are_blank():
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert i and lines[i - 1].startswith("#"), f"{line.split('=')[0]} has no comment"
    secrets = {name: v for name, v in env_example().items() if SECRET_NAME.search(name)}
    assert len(secrets) >= 10, sorted(secrets)
    assert {k: v for k, v in secrets.items() if v} == {}, "secrets in .env.example must be blank"
    # nor may the compose file give a secret a default value
    for match in COMPOSE_VAR.finditer(compose_text()):
        if SECRET_NAME.search(match.group(1)) and match.group(2) == ":-":
            assert match.group(3) == "", f"{match.group(1)} has a default in the compose file"


def test_gospulse_variables_set_in_containers_are_read_by_the_code(compose, services):
    code = source_text()
    names = set(dockerfile_env())
    for service in services.values():
        names |= set(service.get("environment") or {})
    names = {n for n in names if n.startswith("GOSPULSE_")}
    assert len(names) > 15, sorted(names)
    unread = {n for n in names if n not in code}
    assert unread == set(), f"set for the containers but read by no code: {sorted(unread)}"


def test_every_variable_the_code_reads_is_a_setting_and_every_setting_is_read():
    from gospulse.config.settings import SETTINGS

    code = source_text()
    read = set(re.findall(r"\bGOSPULSE_[A-Z0-9_]*[A-Z0-9]\b", code))
    assert len(read) > 40, sorted(read)
    assert read - set(SETTINGS) == set(), (
        f"read by the code, not in gospulse/config/settings.py: {sorted(read - set(SETTINGS))}"
    )
    # the table's own module names every variable: it does not count as reading one
    elsewhere = code.replace(
        (ROOT / "gospulse" / "config" / "settings.py").read_text(encoding="utf-8"), ""
    )
    unread = {
        name
        for name, setting in SETTINGS.items()
        if not setting.airflow_reads and not re.search(rf"\b{name}\b", elsewhere)
    }
    assert unread == set(), f"in gospulse/config/settings.py, read nowhere: {sorted(unread)}"


def test_the_configuration_page_is_the_settings_table():
    from gospulse.config.settings import markdown

    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == markdown(), (
        "docs/configuration.md is stale: `gospulse settings --markdown > docs/configuration.md`"
    )


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_builds_from_the_locked_airflow_and_installs_the_lock():
    text = DOCKERFILE.read_text(encoding="utf-8")
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    airflow = next(p["version"] for p in lock["package"] if p["name"] == "apache-airflow")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    image = re.search(r"^ARG AIRFLOW_IMAGE=(\S+)$", text, re.M).group(1)
    assert image == f"apache/airflow:{airflow}-python{python}", (image, airflow, python)
    assert len(re.findall(r"^FROM \$\{AIRFLOW_IMAGE\}", text, re.M)) == 2
    assert f"python{python}" in image and python in lock["requires-python"]

    syncs = re.findall(r"uv sync ([^\n]+)", text)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), syncs
    makefile_uv = re.search(r'"uv==([\d.]+)"', (ROOT / "Makefile").read_text()).group(1)
    assert f'"uv=={makefile_uv}"' in text, "the image must use the uv that `make env` pins"
    assert "COPY --chown=airflow:0 pyproject.toml uv.lock ./" in text

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = set(re.findall(r"^COPY --chown=airflow:0 (\S+?)/? ", text, re.M))
    missing = set(packages) | {"dags", "dbt_project", "registry"} | {pyproject["project"]["readme"]}
    assert missing - copied == set(), f"not copied into the image: {missing - copied}"
    manifest = text.index("gospulse dbt manifest")
    assert manifest > text.rindex("uv sync"), "the manifest needs the installed project"


def _installed(python: Path) -> set[str]:
    listing = subprocess.run(
        [str(ROOT / ".uv" / "bin" / "uv"), "pip", "list", "--format", "json", "--python", python],
        capture_output=True,
        text=True,
        check=True,
    )
    return {re.sub(r"[-_.]+", "-", p["name"]).lower() for p in json.loads(listing.stdout)}


@pytest.mark.slow
def test_the_dockerfile_install_steps_give_exactly_the_lock(tmp_path):
    """Replays the final stage's COPY and `uv sync` steps into a stand-in of the image's venv."""
    uv = ROOT / ".uv" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("the uv that `make env` installs (.uv/bin/uv) is missing")
    pinned = re.search(r'"uv==([\d.]+)"', DOCKERFILE.read_text(encoding="utf-8")).group(1)
    assert subprocess.run([uv, "--version"], capture_output=True, text=True).stdout.split()[1] == (
        pinned
    )
    # the official image's ~/.local: a plain venv, holding a package uv.lock does not name
    venv = tmp_path / "local"
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", "--without-pip", venv], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    extra = site / "image_extra_provider-1.0.dist-info"
    extra.mkdir()
    (extra / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: image-extra-provider\nVersion: 1.0\n"
    )
    (extra / "INSTALLER").write_text("pip\n")
    (extra / "RECORD").write_text(
        "image_extra_provider-1.0.dist-info/METADATA,,\n"
        "image_extra_provider-1.0.dist-info/INSTALLER,,\n"
        "image_extra_provider-1.0.dist-info/RECORD,,\n"
    )
    assert "image-extra-provider" in _installed(venv / "bin" / "python")

    # the Dockerfile's uv settings, less the cache and bytecode ones (the build starts without
    # a cache; here the one `make env` filled keeps this offline and quick)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env.update({k: v for k, v in dockerfile_env().items() if k.startswith("UV_")})
    for key in ("UV_NO_CACHE", "UV_COMPILE_BYTECODE", "UV_LINK_MODE"):
        env.pop(key, None)
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    workdir = tmp_path / "opt-gospulse"
    workdir.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "target", "logs", "*.duckdb")
    final_stage = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ").split("\nFROM ")[-1]
    steps = 0
    for line in final_stage.splitlines():
        if line.startswith("COPY --chown=airflow:0 "):
            *sources, dest = line.split()[2:]
            for source in sources:
                src, target = ROOT / source, workdir / dest
                if src.is_dir():
                    shutil.copytree(src, target, ignore=ignore, dirs_exist_ok=True)
                else:
                    shutil.copy2(src, target / src.name if dest.endswith("/") else target)
        elif line.startswith("RUN ") and re.search(r"/uv sync ", line):
            args = line.split("/uv sync ", 1)[1].split()
            proc = subprocess.run(
                [uv, "sync", *args], cwd=workdir, env=env, capture_output=True, text=True
            )
            assert proc.returncode == 0, f"uv sync {' '.join(args)}: {proc.stderr[-2000:]}"
            steps += 1
    assert steps == 2, "expected the dependency layer and the project layer"

    installed = _installed(venv / "bin" / "python")
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # the lock's packages for this platform (markers evaluated: the image is Linux, 3.11 too)
    requirements = [
        Requirement(line) for line in exported.splitlines() if line and line[0].isalnum()
    ]
    locked = {
        re.sub(r"[-_.]+", "-", r.name).lower()
        for r in requirements
        if r.marker is None or r.marker.evaluate()
    }
    assert "image-extra-provider" not in installed, "uv sync must remove what the lock omits"
    assert installed - {"pip", "setuptools"} == locked | {"gospulse"}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    print(importlib.import_module(name).__file__)\n"
    )
    where = subprocess.run(
        [venv / "bin" / "python", "-c", code, *packages],
        cwd=tmp_path,  # not the checkout, whose packages `python -c` would import first
        capture_output=True,
        text=True,
    )
    assert where.returncode == 0, where.stderr[-2000:]
    for package, path in zip(packages, where.stdout.split(), strict=True):
        assert Path(path).is_relative_to(workdir), f"{package} runs from {path}, not the image"
    cli = subprocess.run([venv / "bin" / "gospulse", "--help"], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv", ".uv", ".env", "warehouse", "dbt_project/target", "airflow_home"):
        assert entry in ignored or f"{entry}/" in ignored, entry
    # and the filled-in .env stays out of git
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in gitignore and ".env.example" not in gitignore


def test_the_locked_environment_can_open_a_postgres_metadata_db(tmp_path):
    # the same import the Dockerfile's last step runs; no connection is made
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://check@localhost/airflow",
    }
    proc = subprocess.run(
        [sys.executable, "-c", "import airflow.settings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


# ---------------------------------------------------------------- compose client


def compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_client_accepts_the_file_and_refuses_blank_secrets(tmp_path):
    client = compose_client()
    if client is None:
        pytest.skip("no compose client (`docker compose` plugin or docker-compose) installed")
    filled = tmp_path / "filled.env"
    filled.write_text(
        "".join(f"{k}={v or 'x'}\n" for k, v in env_example().items()), encoding="utf-8"
    )
    args = [*client, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    ok = subprocess.run(
        [*args, "--env-file", str(filled), "config", "-q"], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    blank = subprocess.run(
        [*args, "--env-file", str(ENV_EXAMPLE), "config", "-q"], capture_output=True, text=True
    )
    assert blank.returncode != 0 and "in .env" in blank.stdout + blank.stderr


# ---------------------------------------------------------------- the Airflow admin password


def test_deploy_init_writes_the_admin_password_file(tmp_path):
    target = tmp_path / "auth" / "passwords.json"
    target.parent.mkdir()
    target.write_text('{"viewer": "kept"}\n')
    assert (
        main(
            {
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(target),
                "AIRFLOW_ADMIN_USER": "ops",
                "AIRFLOW_ADMIN_PASSWORD": "s3cret",
            }
        )
        == 0
    )
    assert json.loads(target.read_text()) == {"viewer": "kept", "ops": "s3cret"}
    assert target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(DeployConfigError, match="AIRFLOW_ADMIN_PASSWORD"):
        write_auth_password(target, "ops", "")
    target.write_text("[1, 2]")
    with pytest.raises(DeployConfigError, match=str(target)):
        write_auth_password(target, "ops", "x")


def test_deploy_init_without_a_password_fails_without_printing_secrets(tmp_path, capsys):
    env = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "p.json")}
    assert main(env) == 1
    assert "AIRFLOW_ADMIN_PASSWORD" in capsys.readouterr().err
    assert main({**env, "AIRFLOW_ADMIN_PASSWORD": "do-not-log-me"}) == 0
    assert "do-not-log-me" not in capsys.readouterr().out


def test_simple_auth_manager_uses_the_written_password_and_prints_none(tmp_path):
    passwords = tmp_path / "passwords.json"
    assert (
        main(
            {
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW_ADMIN_USER": "ops",
                "AIRFLOW_ADMIN_PASSWORD": "from-dotenv",
            }
        )
        == 0
    )
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "ops:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }
    code = (
        "from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import "
        "SimpleAuthManager as M\nM().init()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Password for user" not in proc.stdout + proc.stderr
    assert json.loads(passwords.read_text()) == {"ops": "from-dotenv"}


# ---------------------------------------------------------------- the Postgres init script


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def scratch_postgres():
    """A throw-away Postgres cluster (initdb) on a free port, run as the postgres OS user."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    runuser = shutil.which("runuser")
    if not bins or os.geteuid() != 0 or not runuser:
        pytest.skip("needs Postgres server binaries and root (to run initdb as user postgres)")
    bindir = bins[-1].parent
    # not under pytest's tmp_path: that is private to root, and the server runs as postgres
    data = Path(tempfile.mkdtemp(prefix="gospulse-compose-pg-"))
    shutil.chown(data, "postgres")
    port = _free_port()

    def as_postgres(*cmd: str) -> None:
        proc = subprocess.run(
            [runuser, "-u", "postgres", "--", *cmd], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, f"{cmd[0]}: {proc.stdout}{proc.stderr}"

    try:
        as_postgres(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
        as_postgres(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(data / "log"),
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
            "start",
        )
        try:
            yield port, str(data)
        finally:
            as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.slow
def test_postgres_init_script_creates_the_databases_and_a_read_only_bi_role(scratch_postgres):
    import psycopg2

    port, socket_dir = scratch_postgres
    env = {
        **os.environ,
        "PGHOST": socket_dir,
        "PGPORT": str(port),
        "POSTGRES_USER": "postgres",
        "AIRFLOW_DB_PASSWORD": "a",
        "GOSPULSE_PG_PASSWORD": "g",
        "BI_DB_PASSWORD": "b",
    }
    proc = subprocess.run(["bash", str(PG_INIT)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    def run(user: str, dbname: str, sql: str) -> list[tuple]:
        con = psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname=dbname)
        con.autocommit = True
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            con.close()

    assert run("airflow", "airflow", "select current_user") == [("airflow",)]
    # a publication as gospulse does it: a new schema swapped in under the live name
    run("gospulse", "gospulse", "create schema marts__next")
    run("gospulse", "gospulse", "create table marts__next.mart_page_growth as select 1 as page")
    run("gospulse", "gospulse", "alter schema marts__next rename to marts")
    assert run("bi", "gospulse", "select page from marts.mart_page_growth") == [(1,)]
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run("bi", "gospulse", "insert into marts.mart_page_growth values (2)")
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run("bi", "gospulse", "create schema bi_own")
    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        run("bi", "airflow", "select 1")

    # without its passwords the script stops before creating anything
    missing = {k: v for k, v in env.items() if k != "BI_DB_PASSWORD"}
    proc = subprocess.run(["bash", str(PG_INIT)], env=missing, capture_output=True, text=True)
    assert proc.returncode != 0 and "BI_DB_PASSWORD" in proc.stderr


def test_the_outermost_layer_contract_lists_every_other_part_of_gospulse():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(
        c
        for c in pyproject["tool"]["importlinter"]["contracts"]
        if c.get("forbidden_modules") == ["gospulse.cli"]
    )
    parts = {
        f"gospulse.{p.stem}"
        for p in (ROOT / "gospulse").iterdir()
        if p.name not in ("__init__.py", "__pycache__", "cli")
        and (p.suffix == ".py" or (p / "__init__.py").exists())
    }
    assert set(contract["source_modules"]) == parts

    # the two contracts that keep Airflow in orchestration list the same parts but orchestration
    below = parts - {"gospulse.orchestration"}
    contracts = {c["name"]: c for c in pyproject["tool"]["importlinter"]["contracts"]}
    assert set(contracts["nothing below orchestration imports it"]["source_modules"]) == below
    airflow = set(contracts["only orchestration imports airflow or cosmos"]["source_modules"])
    assert {m for m in airflow if m.startswith("gospulse.")} == below

    # and the layers contract places every part, the CLI on top
    layers = next(c for c in contracts.values() if c["type"] == "layers")
    named = {f"gospulse.{m.strip()}" for layer in layers["layers"] for m in layer.split("|")}
    assert layers["layers"][0] == "cli" and named == parts | {"gospulse.cli"}


def test_the_emulators_and_the_demo_are_not_shipped(tmp_path):
    """The wheel and the image hold gospulse, the extractors and the expectations; the
    emulators and the demo run from a source checkout, and `gospulse demo` outside one says so."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert sorted(shipped) == ["expectations", "extractors", "gospulse"]
    assert "emulators/" not in (ROOT / "Dockerfile").read_text(encoding="utf-8")

    # an installation of the shipped packages alone: the checkout off sys.path
    for package in shipped:
        (tmp_path / package).symlink_to(ROOT / package, target_is_directory=True)
    code = (
        "import sys\n"
        f"sys.path = [{str(tmp_path)!r}] + [p for p in sys.path if p not in ('', {str(ROOT)!r})]\n"
        "from gospulse.cli import main\n"
        "import gospulse\n"
        "assert gospulse.__file__.startswith(sys.path[0]), gospulse.__file__\n"
        "raise SystemExit(main(['demo']))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert "runs from a source checkout" in run.stderr

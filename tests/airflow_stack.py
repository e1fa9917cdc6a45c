"""A real Airflow 3 deployment on this machine: api-server, scheduler, dag-processor, Celery worker.

The components run as separate processes against a Postgres metadata database and a Redis
broker, configured only through the environment, as in docker-compose. Each gets its own
process group and log file; `stop()` ends every one of them, whatever happened before.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

from gospulse.orchestration.local import DAGS_FOLDER

AIRFLOW = Path(sys.executable).parent / "airflow"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "celery-worker")
FINISHED = {"success", "failed"}
# DuckDB names the process that holds the file: "Conflicting lock is held in <exe> (PID 123)"
LOCK_HOLDER = re.compile(r"Conflicting lock is held in .*? \(PID (\d+)\)")


class StackError(RuntimeError):
    """A component did not start, or a DAG run did not succeed; the message carries the logs."""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, or a note that it does not exist."""
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def _end_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM a component's process group, SIGKILL it if it outlives `grace` seconds."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    # children (task runners, uvicorn workers) may outlive their leader: kill the group
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@dataclass
class AirflowStack:
    """One Airflow deployment: config in env vars, components as processes, logs under `home`.

    `queue` and `redis_prefix` keep this deployment's Celery traffic apart from any other one
    sharing the Redis server; `setup_commands` (airflow/gospulse CLI argument lists) run after
    `airflow db migrate` and before the components start, e.g. creating pools; `drop_env`
    names variables of the caller's environment the deployment must not inherit.
    """

    home: Path
    sql_alchemy_conn: str
    broker_url: str
    queue: str
    redis_prefix: str
    extra_env: dict[str, str] = field(default_factory=dict)
    setup_commands: list[list[str]] = field(default_factory=list)
    drop_env: tuple[str, ...] = ()
    worker_concurrency: int = 4
    api_port: int = field(default_factory=free_port)
    log_server_port: int = field(default_factory=free_port)
    timings: dict[str, float] = field(default_factory=dict)
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def worker_name(self) -> str:
        """The Celery worker's node name: unique, so pings and logs name this worker only."""
        return f"{self.queue}@{socket.gethostname()}"

    def log_path(self, component: str) -> Path:
        return self.home / f"{component}.log"

    def env(self) -> dict[str, str]:
        """The environment every component and CLI call shares (like compose's x-airflow-env)."""
        # the caller's own Airflow settings (e.g. the test session's AIRFLOW_HOME) must not leak in
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AIRFLOW") and k not in self.drop_env
        }
        self.home.mkdir(parents=True, exist_ok=True)
        secrets_file = self.home / "secrets.json"
        if not secrets_file.exists():
            # generated once per deployment: every component must sign and verify with the same
            secrets_file.write_text(
                json.dumps(
                    {
                        "fernet": Fernet.generate_key().decode(),
                        "jwt": secrets.token_urlsafe(32),
                        "api": secrets.token_urlsafe(32),
                    }
                )
            )
            secrets_file.chmod(0o600)
        keys = json.loads(secrets_file.read_text())
        return {
            **base,
            **self.extra_env,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            # the scheduler signs task tokens that the api-server's execution API verifies
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt"],
            "AIRFLOW__API__SECRET_KEY": keys["api"],
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            # a throw-away loopback deployment: every request is an admin, no login needed
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.sql_alchemy_conn}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": self.redis_prefix,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_server_port),
            # only the runs the test triggers: no scheduled run of "today" interleaves with them
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            # the dbt node tasks follow the dbt graph, most of them one after another: a
            # scheduler that waits a second after each idle loop adds that second to each
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        }

    def run_cli(self, args: list[str], log_name: str, timeout: float = 600) -> str:
        """Run `airflow …` or `gospulse …` with the deployment's env; raise if it fails."""
        program = args[0] if args[0] in ("airflow", "gospulse") else "airflow"
        rest = args[1:] if args[0] in ("airflow", "gospulse") else args
        binary = Path(sys.executable).parent / program
        proc = subprocess.run(
            [str(binary), *rest],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        log = self.home / f"{log_name}.log"
        log.write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise StackError(f"{program} {' '.join(rest)} exited {proc.returncode}:\n{tail(log)}")
        return proc.stdout

    def migrate(self) -> None:
        """Create Airflow's schema in the metadata database, then run the setup commands."""
        self.home.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self.run_cli(["airflow", "db", "migrate"], "db-migrate")
        for i, command in enumerate(self.setup_commands):
            self.run_cli(command, f"setup-{i}")
        self.timings["migrate_s"] = round(time.monotonic() - started, 1)

    def _commands(self) -> dict[str, list[str]]:
        return {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port)],
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
            "celery-worker": [
                "celery",
                "worker",
                "--queues",
                self.queue,
                "--concurrency",
                str(self.worker_concurrency),
                "--celery-hostname",
                self.worker_name,
            ],
        }

    def start(self, timeout: float = 240) -> None:
        """Start every component in its own process group and wait until all are healthy."""
        started = time.monotonic()
        env = self.env()
        for name, args in self._commands().items():
            self._spawn(name, args, env)
        self.wait_healthy(timeout)
        self.timings["startup_s"] = round(time.monotonic() - started, 1)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = self.log_path(name).open("ab")
        # a new session: stop() can signal the component together with its children
        self._procs[name] = subprocess.Popen(
            [str(AIRFLOW), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def restart(self, name: str, overrides: dict[str, str], grace: float = 20) -> None:
        """Stop one component and start it again with `overrides` added to its environment,
        the others running on (a deployment changing one service's settings)."""
        proc = self._procs.pop(name)
        _end_group(proc, grace)
        self._spawn(name, self._commands()[name], {**self.env(), **overrides})

    def runs(self, dag_id: str) -> list[dict]:
        """Every run of the DAG the api-server knows, oldest first."""
        path = f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=id"
        return self.api("GET", path)["dag_runs"]

    def wait_new_run(self, dag_id: str, run_type: str, timeout: float) -> str:
        """Until the scheduler has created a run of `run_type` (e.g. asset_triggered); its id."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            for run in self.runs(dag_id):
                if run["run_type"] == run_type:
                    waited = round(time.monotonic() - started, 1)
                    self.timings[f"{dag_id}_{run_type}_wait_s"] = waited
                    return run["dag_run_id"]
            time.sleep(3)
        raise StackError(
            f"no {run_type} run of {dag_id} within {timeout:.0f} s (runs: "
            f"{[(r['dag_run_id'], r['run_type'], r['state']) for r in self.runs(dag_id)]}):\n"
            f"{self.component_logs()}"
        )

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise StackError(
                    f"{name} exited with code {proc.returncode}:\n{tail(self.log_path(name))}"
                )

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """One call to the api-server's REST API (all-admins auth: no token needed)."""
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise StackError(f"{method} {path} → HTTP {exc.code}: {detail}") from exc

    def _health(self) -> dict | None:
        try:
            return self.api("GET", "/api/v2/monitor/health")
        except (urllib.error.URLError, ConnectionError, TimeoutError, StackError):
            return None

    def wait_healthy(self, timeout: float) -> None:
        """Until the api-server reports a healthy database, scheduler and dag-processor, and the
        Celery worker says it is ready."""
        deadline = time.monotonic() + timeout
        state: dict | None = None
        worker_ready = False
        while time.monotonic() < deadline:
            self._check_alive()
            state = self._health()
            worker_log = self.log_path("celery-worker").read_text(errors="replace")
            worker_ready = f"{self.worker_name} ready." in worker_log
            if (
                state
                and all(
                    (state.get(part) or {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "dag_processor")
                )
                and worker_ready
            ):
                return
            time.sleep(2)
        raise StackError(
            f"components not healthy after {timeout:.0f} s (health: {state}, worker ready: "
            f"{worker_ready}):\n{self.component_logs()}"
        )

    def wait_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Until the dag-processor has stored the DAG; its import errors fail at once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            errors = self.api("GET", "/api/v2/importErrors").get("import_errors", [])
            if errors:
                raise StackError(f"DAG import errors: {json.dumps(errors, indent=1)[:3000]}")
            try:
                self.api("GET", f"/api/v2/dags/{dag_id}")
                return
            except StackError as exc:
                if "HTTP 404" not in str(exc):
                    raise
            time.sleep(2)
        raise StackError(f"{dag_id} not parsed within {timeout:.0f} s:\n{self.component_logs()}")

    def trigger(self, dag_id: str, logical_date: str, run_id: str) -> str:
        """Unpause the DAG and create one run for `logical_date` through the REST API."""
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self.api(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            {"dag_run_id": run_id, "logical_date": logical_date},
        )
        return run["dag_run_id"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Every task instance of the run, mapped ones one per map index."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000"
        return self.api("GET", path)["task_instances"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> list[dict]:
        """Poll the run until it ends; return its task instances, or raise with the failed
        tasks' logs and the components' logs if it failed or ran out of time."""
        started = time.monotonic()
        deadline = started + timeout
        state = None
        while time.monotonic() < deadline:
            self._check_alive()
            state = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in FINISHED:
                break
            time.sleep(3)
        self.timings[f"{dag_id}_run_s"] = round(time.monotonic() - started, 1)
        tis = self.task_instances(dag_id, run_id)
        if state != "success":
            raise StackError(self.describe_failure(dag_id, run_id, state, tis))
        return tis

    def task_log(self, dag_id: str, run_id: str, ti: dict) -> Path | None:
        """The latest attempt's log file of one task instance (written by the worker)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        folder = folder / f"task_id={ti['task_id']}"
        if ti.get("map_index", -1) >= 0:
            folder = folder / f"map_index={ti['map_index']}"
        # numerically: attempt=10 comes after attempt=9
        attempts = sorted(folder.glob("attempt=*.log"), key=lambda p: int(p.stem.split("=")[1]))
        return attempts[-1] if attempts else None

    def lock_conflicts(
        self, dag_id: str, run_id: str, tis: list[dict] | None = None
    ) -> dict[str, list[str]]:
        """Task attempts that could not open a DuckDB file another process held, by task, each
        with the task holding the lock when `tis` (with their pids) can tell."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        by_pid = {ti.get("pid"): ti["task_id"] for ti in tis or [] if ti.get("pid")}
        found: dict[str, list[str]] = {}
        for log in sorted(folder.rglob("attempt=*.log")):
            text = log.read_text(errors="replace")
            if "Could not set lock on file" not in text:
                continue
            task = str(log.parent.relative_to(folder)).replace("task_id=", "")
            holders = {by_pid.get(int(pid), f"pid {pid}") for pid in LOCK_HOLDER.findall(text)}
            held_by = f" (held by {', '.join(sorted(holders))})" if holders else ""
            found.setdefault(task, []).append(f"{log.stem}{held_by}")
        return found

    def describe_failure(self, dag_id: str, run_id: str, state: str | None, tis: list[dict]) -> str:
        """Which tasks did not succeed, with the tails of their logs and of every component."""
        bad = [ti for ti in tis if ti["state"] not in ("success", "skipped")]
        took = self.timings.get(f"{dag_id}_run_s")
        lines = [f"{dag_id} run {run_id} ended {state!r} after {took} s"]
        lines.append(
            "not successful: "
            + ", ".join(f"{ti['task_id']}[{ti.get('map_index', -1)}]={ti['state']}" for ti in bad)
        )
        for ti in bad:
            if ti["state"] in ("failed", "upstream_failed", "up_for_retry"):
                log = self.task_log(dag_id, run_id, ti)
                text = tail(log, 25) if log else "(no log)"
                lines.append(f"--- {ti['task_id']} ({log}):\n{text}")
        lines.append(self.component_logs())
        return "\n".join(lines)

    def component_logs(self, lines: int = 25) -> str:
        return "\n".join(
            f"--- {name} ({self.log_path(name)}):\n{tail(self.log_path(name), lines)}"
            for name in COMPONENTS
        )

    def stop(self, grace: float = 20) -> None:
        """SIGTERM every component's process group, then SIGKILL whatever is left."""
        # all at once: the components stop together within one grace period
        for proc in self._procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for proc in self._procs.values():
            _end_group(proc, max(0.1, deadline - time.monotonic()))
        self._procs.clear()

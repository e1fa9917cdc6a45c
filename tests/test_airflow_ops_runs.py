"""Real Airflow runs: secrets from connections masked in task logs, and an asset event only for
a step that produced something. (The daily run with two VK tokens from the connection and its
asset events is test_dags' daily run; the deadline under a real scheduler is in
test_celery_stack.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gospulse.orchestration.local import airflow_env, run_dag

pytestmark = pytest.mark.slow

# a quiet machine runs the probe in about a minute; a loaded CI worker in a few
TIMEOUT = 420

VK_TOKENS = ("vk-token-alpha-0001", "vk-token-bravo-0002")
TG_SESSION = "1BVtsOK8Bu-fake-session-string-for-masking"
TG_API_HASH = "0123456789abcdef-tg-api-hash"
OK_TOKENS = ("ok-access-token-aaaa", "ok-access-token-bbbb")
OK_SESSION_SECRETS = "ok-session-secret-1111,ok-session-secret-2222"
OK_APP_SECRET = "ok-application-secret-key-zz"

# a DAG that deliberately logs every secret it was given, after gospulse has read them the way
# the fetch tasks do; Airflow's masker must print *** in their place
PROBE_DAG = '''
"""Logs the secrets it reads: the masking probe of tests/test_airflow_ops_runs.py."""
import logging
import os

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1), tags=["test"], doc_md=__doc__)
def mask_probe():
    @task
    def log_secrets():
        from gospulse.extract.networks import extractor_for
        from gospulse.orchestration.connections import airflow_credentials

        log = logging.getLogger("mask_probe")
        creds = {n: airflow_credentials(n) for n in ("vk", "tg", "ok")}
        for network in ("vk", "ok"):
            extractor_for(network, creds[network], token_index=1, token_count=2).close()
        try:
            extractor_for("tg", creds["tg"], token_index=1, token_count=2).close()
        except Exception as exc:  # the fake session is refused; its secrets are masked first
            log.warning("tg extractor refused: %s", type(exc).__name__)
        log.warning("probe vk second token=%s", creds["vk"].get("password").split(",")[1])
        log.warning("probe tg session=%s", creds["tg"].get("session"))
        log.warning("probe ok app secret=%s", creds["ok"].get("application_secret_key"))
        log.warning("probe ok second token=%s", creds["ok"].get("password").split(",")[1])
        log.warning("probe env tg hash=%s", os.environ["TG_API_HASH"])
        log.warning("probe env ok session=%s", os.environ["OK_SESSION_SECRET"].split(",")[1])
        print("probe printed vk token=" + creds["vk"].get("password").split(",")[0])

    log_secrets()


mask_probe()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_secrets_from_connections_and_env_are_masked_in_task_logs(tmp_path):
    """The task runs as in production: a LocalExecutor starts the task process under Airflow's
    supervisor, which talks to a real api-server and writes the task log file. (`airflow dags
    test` without an executor prints task logs through the CLI's logging, which masks nothing
    in Airflow 3.3, not even a connection's password, so it cannot show masking.)"""
    attempts = []
    for attempt in (1, 2):
        try:
            run, home, stuck = _run_mask_probe(tmp_path / f"attempt-{attempt}")
            break
        except ProbeHung as exc:
            # a task that never ended: a second one fails the test with what both runs printed
            attempts.append(str(exc))
            warnings.warn(f"mask_probe attempt {attempt} hung: {exc}", stacklevel=1)
    else:
        pytest.fail("\n\n".join(attempts))
    if stuck is None:
        assert run.returncode == 0, f"mask_probe failed, see {home / 'dags-test.log'}"
    else:
        # the run succeeded and `dags test` hung in LocalExecutor.end() joining a worker (the
        # stacks in the warning): what is tested here is the task's log, written by then
        warnings.warn(f"dags test outlived its task and was stopped: {stuck}", stacklevel=1)
        assert _probe_task_state(home) == "success", f"see {home / 'dags-test.log'}"
    [task_log] = (home / "logs").rglob("task_id=log_secrets/attempt=1.log")
    events = [json.loads(line).get("event", "") for line in task_log.read_text().splitlines()]
    for line in (
        # only one of the two tokens of the connection's password: Airflow masks the whole
        # password, gospulse each token of it
        "probe vk second token=***",
        "probe tg session=***",
        "probe ok app secret=***",
        "probe ok second token=***",
        "probe env tg hash=***",
        "probe env ok session=***",
        "probe printed vk token=***",
    ):
        assert line in events, f"{line!r} not in {task_log}"
    text = task_log.read_text()
    for secret in (*VK_TOKENS, TG_SESSION, TG_API_HASH, *OK_TOKENS, OK_APP_SECRET):
        assert secret not in text, "a secret reached the task log"
    for secret in OK_SESSION_SECRETS.split(","):
        assert secret not in text


class ProbeHung(Exception):
    """The probe's task did not end within TIMEOUT."""


# after its task has ended, `dags test` exits within seconds, or it is stopped this much later
GRACE = 90


def _run_mask_probe(base: Path) -> tuple[subprocess.CompletedProcess, Path, str | None]:
    """One `dags test --use-executor` of the probe beside its own api-server and metadata DB.

    Returns the run, the Airflow home and, when `dags test` outlived its task by GRACE and was
    stopped, the stacks its processes printed (`_stop_with_stack`)."""
    dags, home = base / "dags", base / "airflow"
    dags.mkdir(parents=True)
    home.mkdir()
    (dags / "mask_probe.py").write_text(PROBE_DAG)
    port = _free_port()
    env = airflow_env(
        home,
        {
            # JSON form for VK and OK, URI form for Telegram: the task SDK reads both
            "AIRFLOW_CONN_VK_API": json.dumps(
                {"conn_type": "generic", "password": ",".join(VK_TOKENS)}
            ),
            "AIRFLOW_CONN_TELEGRAM": f"generic://12345:{TG_API_HASH}@/?session={TG_SESSION}",
            "AIRFLOW_CONN_OK_API": json.dumps(
                {
                    "conn_type": "generic",
                    "login": "CBAPROBEKEY",
                    "password": ",".join(OK_TOKENS),
                    "extra": {"application_secret_key": OK_APP_SECRET},
                }
            ),
            # secrets from env vars: Airflow knows nothing of these, only gospulse masks them
            "TG_API_HASH": TG_API_HASH,
            "OK_SESSION_SECRET": OK_SESSION_SECRETS,
            "VK_TOKEN": "",
            "TG_SESSION": "",
            "OK_ACCESS_TOKEN": "",
            "OK_APP_SECRET": "",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # one executor worker, not `parallelism` (32) forked at start: with 32, one of them
            # often never took its stop message and LocalExecutor.end() waited for it forever,
            # after the run had succeeded (4 of 8 runs here beside a benchmark, 0 of 6 with one
            # worker; upstream: apache/airflow#45683)
            "AIRFLOW__CORE__PARALLELISM": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": "mask-probe-jwt-secret-0123456789abcdef",
            # a stuck `dags test` is sent SIGABRT: the stacks of its threads go to stderr
            "PYTHONFAULTHANDLER": "1",
        },
        dags,
    )
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    with (home / "api-server.log").open("w") as api_log:
        api = subprocess.Popen(
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=api_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}/api/v2/monitor/health", api, home)
            run, stuck = _dags_test(
                [airflow, "dags", "test", "--use-executor", "mask_probe", "2026-03-10"], env, home
            )
        except subprocess.TimeoutExpired as exc:
            raise ProbeHung(_timed_out(exc, home)) from None
        finally:
            os.killpg(api.pid, signal.SIGTERM)
            api.wait(60)
    (home / "dags-test.log").write_text(run.stdout + run.stderr)
    return run, home, stuck


def _dags_test(
    command: list[str], env: dict[str, str], home: Path
) -> tuple[subprocess.CompletedProcess, str | None]:
    """`command` in its own process group, watched: stopped GRACE after the probe's task ended
    (the run and its processes' stacks returned), or at TIMEOUT if the task never ended
    (TimeoutExpired). Its executor workers and task processes die with it, so nothing is left
    to slow a retry or the tests after it."""
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + TIMEOUT
    task_ended_at = None
    while True:
        try:
            stdout, stderr = proc.communicate(timeout=5)
            return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr), None
        except subprocess.TimeoutExpired:
            pass  # communicate keeps what was read so far for the next call
        now = time.monotonic()
        if task_ended_at is None and _probe_task_state(home) in ("success", "failed"):
            task_ended_at = now
        if task_ended_at is not None and now - task_ended_at > GRACE:
            stdout, stderr = _stop_with_stack(proc)
            run = subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)
            return run, _stacks(stderr)
        if now > deadline:
            stdout, stderr = _stop_with_stack(proc)
            raise subprocess.TimeoutExpired(command, TIMEOUT, stdout, stderr)


def _stop_with_stack(proc: subprocess.Popen) -> tuple[str, str]:
    """SIGABRT to the group first (PYTHONFAULTHANDLER: each process prints its threads' stacks,
    the executor's workers too), then SIGKILL to what is left."""
    os.killpg(proc.pid, signal.SIGABRT)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        pass  # the group is killed next either way
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # every process of the group already ended on SIGABRT
    return proc.communicate()


def _stacks(stderr: str) -> str:
    start = stderr.find("Fatal Python error")
    return stderr[start:] if start >= 0 else "(no stack printed)\n" + _last_lines(stderr)


def _probe_task_state(home: Path) -> str | None:
    """The probe task's state in the metadata DB, None while the DB is busy or not yet there."""
    try:
        db = sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return None
    try:
        row = db.execute(
            "select state from task_instance where dag_id = 'mask_probe' "
            "and task_id = 'log_secrets'"
        ).fetchone()
    except sqlite3.OperationalError:
        return None  # locked by a writer: asked again in 5 s
    finally:
        db.close()
    return row[0] if row else None


def _timed_out(exc: subprocess.TimeoutExpired, home: Path) -> str:
    """What a hung `dags test` and its api-server printed: the only record of why it hung."""
    output = "".join(
        part.decode(errors="replace") if isinstance(part, bytes) else part or ""
        for part in (exc.stdout, exc.stderr)
    )
    (home / "dags-test.log").write_text(output)
    api_log = (home / "api-server.log").read_text(errors="replace")
    return (
        f"airflow dags test did not end in {exc.timeout:.0f}s (logs under {home});\n"
        f"--- dags test, last lines ---\n{_last_lines(output)}\n"
        f"--- api-server, last lines ---\n{_last_lines(api_log)}"
    )


def _last_lines(text: str, count: int = 40) -> str:
    return "\n".join(text.splitlines()[-count:])


def _wait_for(url: str, process: subprocess.Popen, home: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"api-server exited {process.returncode}, see {home}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"api-server not healthy at {url} after {timeout:.0f}s, see {home}")


ASSET_PROBE_DAG = '''
"""A step that produced nothing and one that did: the asset probe of test_airflow_ops_runs."""
import pendulum
from airflow.sdk import dag, task

from gospulse.orchestration.assets import gospulse_export_bundle, gospulse_marts


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1), tags=["test"], doc_md=__doc__)
def asset_probe():
    @task(outlets=[gospulse_marts])
    def nothing_published(ti=None, outlet_events=None):
        from gospulse.orchestration.assets import announce_marts
        from gospulse.config.task_results import PublishOutcome

        held = PublishOutcome(published=False, reason="marts held: the raw gate rejected vk")
        return announce_marts(held, ti, outlet_events)

    @task(outlets=[gospulse_export_bundle])
    def bundle_written(ti=None, outlet_events=None):
        from gospulse.orchestration.assets import announce_bundle
        from gospulse.config.task_results import ExportBundles

        written = ExportBundles(written=True, paths=("/b/region=42/x",), files=9, regions=(42,),
                                snapshot_date="2026-03-10")
        return announce_bundle(written, ti, outlet_events)

    @task(trigger_rule="all_done")
    def reader(ti=None):
        print("reader saw:", ti.xcom_pull(task_ids="nothing_published")["reason"])

    [nothing_published(), bundle_written()] >> reader()


asset_probe()
'''


def test_a_no_op_step_is_skipped_without_an_asset_event(tmp_path, airflow_metadata):
    dags, home = tmp_path / "dags", tmp_path / "airflow"
    dags.mkdir()
    (dags / "asset_probe.py").write_text(ASSET_PROBE_DAG)
    output = run_dag(
        "asset_probe",
        datetime(2026, 3, 10, tzinfo=UTC),
        home,
        dags_folder=dags,
        metadata_from=airflow_metadata,
    )
    # the skipped step's result still reaches the steps that report on it
    assert "reader saw: marts held: the raw gate rejected vk" in output
    db = sqlite3.connect(home / "airflow.db")
    try:
        states = dict(db.execute("select task_id, state from task_instance").fetchall())
        events = db.execute(
            "select a.name, e.extra from asset_event e join asset a on a.id = e.asset_id"
        ).fetchall()
    finally:
        db.close()
    assert states == {
        "nothing_published": "skipped",
        "bundle_written": "success",
        "reader": "success",
    }
    [(name, extra)] = events
    assert name == "gospulse_export_bundle"
    assert json.loads(extra) == {
        "regions": [42],
        "snapshot_date": "2026-03-10",
        "paths": ["/b/region=42/x"],
        "files": 9,
    }

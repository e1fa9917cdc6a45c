"""Run the dbt project (dbt_project/) against a warehouse file, dbt's CLI in a child process.

Every warehouse gets its own dbt target and log directories next to the file, so two warehouses
can build at the same time (tests, backfills) without sharing dbt state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gospulse.config.dbt_project import project_dir

# each run's nodes (id, status, message, time, compiled SQL), in the warehouse's dbt target dir
NODE_RESULTS = "node_results.json"
OUTPUT_TAIL_LINES = 40


class DbtError(RuntimeError):
    """A dbt command failed; carries the failing nodes and the tail of dbt's output."""

    def __init__(self, args: list[str], returncode: int, failures: list[str], output: str):
        self.args_ = args
        self.returncode = returncode
        self.failures = failures
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-OUTPUT_TAIL_LINES:])
        failing = "\n".join(f"  - {f}" for f in failures) or "  (no node results)"
        super().__init__(
            f"dbt {' '.join(args)} failed with exit code {returncode}\n"
            f"failing nodes:\n{failing}\n--- dbt output (tail) ---\n{tail}"
        )


@dataclass(frozen=True)
class NodeResult:
    """One node dbt ran (its entry in NODE_RESULTS)."""

    unique_id: str
    status: str
    message: str | None
    execution_time: float
    compiled_code: str | None = None

    @property
    def resource_type(self) -> str:
        return self.unique_id.split(".", 1)[0]


@dataclass(frozen=True)
class DbtRunResult:
    """What a dbt invocation did: the nodes it ran and its console output."""

    args: list[str]
    returncode: int
    output: str
    nodes: list[NodeResult] = field(default_factory=list)
    target_dir: Path | None = None

    @property
    def success(self) -> bool:
        return self.returncode == 0

    def count(self, resource_type: str, *statuses: str) -> int:
        """Nodes of one resource type (model, snapshot, test, unit_test), optionally by status."""
        return sum(
            1
            for n in self.nodes
            if n.resource_type == resource_type and (not statuses or n.status in statuses)
        )

    @property
    def models(self) -> int:
        return self.count("model", "success")

    @property
    def snapshots(self) -> int:
        return self.count("snapshot", "success")

    @property
    def tests_passed(self) -> int:
        return self.count("test", "pass") + self.count("unit_test", "pass")

    @property
    def tests_failed(self) -> int:
        return self.count("test", "fail", "error") + self.count("unit_test", "fail", "error")

    @property
    def statuses(self) -> Counter[str]:
        return Counter(n.status for n in self.nodes)

    def summary(self) -> str:
        """One line for logs: models, snapshots and tests."""
        return (
            f"{self.models} models, {self.snapshots} snapshots, "
            f"{self.tests_passed} tests passed, {self.tests_failed} failed"
        )

    def describe(self) -> str:
        """The summary line, prefixed with the dbt command."""
        return f"dbt {' '.join(self.args)}: {self.summary()}"


def dies_with(parent: int):
    """A Popen preexec_fn for a child of `parent` (this process's pid): on Linux the kernel
    SIGKILLs the child when its parent dies, so a killed `gospulse build` (kill -9, an OOM
    kill) never leaves its dbt child writing the warehouse. Elsewhere it does nothing."""

    def in_child() -> None:
        if not sys.platform.startswith("linux"):
            return
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return in_child


def dbt_state_dir(warehouse: Path) -> Path:
    """Where dbt's target/ and logs/ for this warehouse live: next to the warehouse file."""
    warehouse = Path(warehouse).resolve()
    return warehouse.parent / f".{warehouse.name}.dbt"


def run_dbt(
    args: list[str],
    *,
    warehouse: Path,
    vars: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> DbtRunResult:
    """Run `dbt <args>` on the warehouse; raise DbtError when dbt exits non-zero.

    env: environment variables for dbt's env_var() on top of this process's.
    """
    warehouse = Path(warehouse).resolve()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    project = project_dir()
    state = dbt_state_dir(warehouse)
    target_dir, log_dir = state / "target", state / "logs"
    node_results = target_dir / NODE_RESULTS
    node_results.unlink(missing_ok=True)

    # dbt's CLI in a process of its own (gospulse.transform.dbt_child), which hands back the node
    # results
    command = [
        sys.executable,
        "-m",
        "gospulse.transform.dbt_child",
        str(node_results),
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(target_dir),
        "--log-path",
        str(log_dir),
    ]
    if vars:
        command += ["--vars", json.dumps(vars, default=str)]
    process_env = {
        **os.environ,
        # the file's name, opened from its folder: dbt's partial parsing is keyed on the
        # profile's values, so every warehouse of one name shares a parse (a copy of a
        # warehouse with its dbt state skips the full parse)
        "GOSPULSE_WAREHOUSE": warehouse.name,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
        "PYTHONUTF8": "1",
        **(env or {}),
    }
    proc = subprocess.run(
        command,
        cwd=warehouse.parent,
        env=process_env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        check=False,
        preexec_fn=dies_with(os.getpid()),
    )
    output = proc.stdout + (f"\n{proc.stderr}" if proc.stderr else "")
    result = DbtRunResult(
        args=list(args),
        returncode=proc.returncode,
        output=output,
        nodes=_read_node_results(node_results),
        target_dir=target_dir,
    )
    if not result.success:
        failures = [
            f"{n.unique_id}: {n.status}" + (f" ({n.message})" if n.message else "")
            for n in result.nodes
            if n.status in ("error", "fail", "runtime error")
        ]
        raise DbtError(list(args), proc.returncode, failures, output)
    return result


# the unit tests pin the models' arithmetic on fixed given/expect rows, whatever the warehouse
# holds: CI runs them (run_unit_tests), a production build only tests the data it wrote
NO_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]


def build(
    warehouse: Path, *, vars: dict[str, Any] | None = None, full_refresh: bool = False
) -> DbtRunResult:
    """`dbt build`: snapshot the registry, build every model and run every data test.

    full_refresh rebuilds the incremental models from raw: needed once after an upgrade that
    changes an incremental model's columns (dbt then refuses the incremental build), and a
    repair when raw rows were deleted by hand. dbt never full-refreshes a snapshot, so the
    registry's history survives it.
    """
    args = ["build", *NO_UNIT_TESTS]
    return run_dbt(
        [*args, "--full-refresh"] if full_refresh else args, warehouse=warehouse, vars=vars
    )


def run_unit_tests(warehouse: Path) -> DbtRunResult:
    """Every dbt unit test (given/expect rows); they need the models' parents built once."""
    return run_dbt(["test", "--select", "test_type:unit"], warehouse=warehouse)


# separates the calls of one `dbt compile --inline`, a SQL comment dbt leaves as written
INLINE_CALL_SEPARATOR = "-- next call --"


def compile_inline(
    calls: dict[str, str], warehouse: Path, vars: dict[str, Any] | None = None
) -> dict[str, str]:
    """Each call's SQL (Jinja calling the project's macros), compiled by one `dbt compile
    --inline`: tests and benches then run the compiled variants side by side in plain DuckDB."""
    inline = f"\n{INLINE_CALL_SEPARATOR}\n".join(calls.values())
    result = run_dbt(["compile", "--inline", inline], warehouse=warehouse, vars=vars)
    [node] = [n for n in result.nodes if n.compiled_code]
    assert node.compiled_code is not None  # kept for having it
    return dict(zip(calls, node.compiled_code.split(INLINE_CALL_SEPARATOR), strict=True))


# what macros/page_buckets.sql reads: "k/N", bucket k of N
PAGE_BUCKET_ENV = "DBT_PAGE_BUCKET"
# the page-grain models a bucket builds: each page's rows depend on that page's history alone
BUCKET_MODELS = ("int_page_days_filled", "int_dq_page_days", "mart_page_growth")
# one model at a time in a bucket: DuckDB's memory_limit bounds the whole process, and two of a
# first build's heaviest models at once ran out of it at 200,000 pages
# (docs/perf-notes/transform.md, 2026-12-05), while DuckDB already spreads each statement over
# every core, so a second dbt thread buys little here
BUCKET_THREADS = "1"


def bucket_build_args(bucket: int) -> list[str]:
    """The dbt arguments of one bucket of build_in_page_buckets: the first also refreshes the
    models' parents."""
    args = ["build", *NO_UNIT_TESTS, "--threads", BUCKET_THREADS]
    if bucket == 0:
        return [*args, "--select", *(f"+{model}" for model in BUCKET_MODELS), "--full-refresh"]
    return [*args, "--select", *BUCKET_MODELS]


# after the buckets: everything else from the complete page-grain rows, fresh (the pages'
# first days were refreshed by bucket 0 and stay, so the next daily build sees them unmoved),
# one model at a time too: two of its aggregates over all history at once passed the memory
# target at 200,000 pages (docs/perf-notes/transform.md, "A first build split by page")
AFTER_BUCKETS_ARGS = [
    "build",
    *NO_UNIT_TESTS,
    "--threads",
    BUCKET_THREADS,
    "--full-refresh",
    "--exclude",
    *BUCKET_MODELS,
    "int_page_first_snapshots",
]


def build_in_page_buckets(
    warehouse: Path, *, buckets: int, vars: dict[str, Any] | None = None
) -> list[DbtRunResult]:
    """A --full-refresh build split by page: the page-grain models one bucket of pages at a time.

    One full build holds every page's whole history in each statement (at 200,000 pages x 730
    days, 146 M page-days: more than the memory limit, then spill). Here bucket 0 is a
    --full-refresh of BUCKET_MODELS and their parents with only the pages whose hash falls in
    it (PAGE_BUCKET_ENV, macros/page_buckets.sql), each next bucket adds its own pages'
    rows, and the last step is a --full-refresh of every other model from the complete rows
    (AFTER_BUCKETS_ARGS). A bucket holds whole histories, so every window is exact: the same
    rows as one full build (tests/test_incremental_models.py). Returns the result of each
    step; a failing step raises DbtError: run the bucketed build again (a plain
    `gospulse build` afterwards would rebuild every page's days from the first missing page's
    first day).
    """
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, got {buckets}")
    if buckets == 1:
        return [build(warehouse, vars=vars, full_refresh=True)]
    steps = [
        run_dbt(
            bucket_build_args(bucket),
            warehouse=warehouse,
            vars=vars,
            # an environment variable, not a dbt var: dbt re-parses the whole project when its
            # vars change, and only the files that read a changed environment variable
            env={PAGE_BUCKET_ENV: f"{bucket}/{buckets}"},
        )
        for bucket in range(buckets)
    ]
    steps.append(run_dbt(AFTER_BUCKETS_ARGS, warehouse=warehouse, vars=vars))
    return steps


def _read_node_results(path: Path) -> list[NodeResult]:
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        NodeResult(
            unique_id=r["unique_id"],
            status=str(r["status"]),
            message=r.get("message"),
            execution_time=float(r.get("execution_time") or 0.0),
            compiled_code=r.get("compiled_code"),
        )
        for r in data.get("results", [])
    ]


def docs_dir(warehouse: Path) -> Path:
    """Where `gospulse docs` keeps the dbt docs site of a warehouse."""
    return Path(warehouse).resolve().parent / "docs" / "dbt"


def generate_docs(warehouse: Path) -> Path:
    """`dbt docs generate`, then the static site (index, manifest, catalog) into docs_dir."""
    import shutil

    result = run_dbt(["docs", "generate"], warehouse=warehouse)
    assert result.target_dir is not None  # run_dbt always says where dbt wrote
    target = docs_dir(warehouse)
    target.mkdir(parents=True, exist_ok=True)
    for name in ("index.html", "manifest.json", "catalog.json"):
        source = result.target_dir / name
        if not source.exists():
            raise DbtError(["docs", "generate"], 0, [f"{name} was not written"], result.output)
        shutil.copy2(source, target / name)
    return target

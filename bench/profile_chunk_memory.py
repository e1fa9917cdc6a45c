"""Profile: the memory one model's statement needs at one step of a chunked first build.

`gospulse build --chunk-days` walks history forward one chunk at a time; a model that runs out
of DuckDB memory at some step is found here without a whole federal build. A synthetic raw
warehouse (bench/synthetic_federal.py) is copied, the chunked build's steps before `--step`
run as build_in_chunks runs them, the model's parents are built through the step's last day,
and then the model's own SQL for that step (`dbt compile`, so is_incremental() holds) runs as
`create temp table ... as` once per `--limits` value, each in a fresh DuckDB connection with
that memory_limit. Printed per limit: passed or out of memory, seconds, rows, and the most
DuckDB spilled to its temp directory.

    .venv/bin/python bench/profile_chunk_memory.py RAW.duckdb WORK_DIR --step 8 \\
        --limits 400MB 700MB 1GB

Set GOSPULSE_DBT_PROJECT_DIR to another checkout's dbt_project to compare two versions of the
model on the same warehouse (`--reuse` skips the copy and the earlier steps).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_incremental_sql import compiled_model  # noqa: E402

from gospulse.transform import chunk_build_args, dbt_state_dir, run_dbt  # noqa: E402


def first_snapshot_day(warehouse: Path) -> date:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        (first,) = con.execute("select min(snapshot_date) from raw.page_snapshots").fetchone()
    finally:
        con.close()
    return first


def step_through(first: date, step: int, chunk_days: int) -> date:
    """The last snapshot day of chunk `step` (1-based), as build_in_chunks cuts them."""
    return first + timedelta(days=chunk_days * step - 1)


def build_steps_before(warehouse: Path, first: date, step: int, chunk_days: int) -> None:
    for earlier in range(1, step):
        through = step_through(first, earlier, chunk_days)
        started = time.perf_counter()
        run_dbt(
            chunk_build_args(first=earlier == 1),
            warehouse=warehouse,
            vars={"build_through": through.isoformat()},
        )
        print(f"step {earlier} through {through}: {time.perf_counter() - started:.0f} s")


def run_at_limit(warehouse: Path, sql: str, limit: str, spill_dir: Path) -> str:
    profile = warehouse.parent / "statement.profile.json"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"set memory_limit = '{limit}'")
        con.execute(f"set temp_directory = '{spill_dir}'")
        con.execute("pragma enable_profiling = 'json'")
        con.execute(f"pragma profiling_output = '{profile}'")
        con.execute('pragma custom_profiling_settings = \'{"SYSTEM_PEAK_TEMP_DIR_SIZE": "true"}\'')
        started = time.perf_counter()
        try:
            con.execute(f"create temp table profiled as {sql}")
        except duckdb.OutOfMemoryException as error:
            first_line = str(error).splitlines()[0]
            return f"out of memory after {time.perf_counter() - started:.1f} s ({first_line})"
        seconds = time.perf_counter() - started
        con.execute("pragma disable_profiling")
        (rows,) = con.execute("select count(*) from profiled").fetchone()
    finally:
        con.close()
    spilled = json.loads(profile.read_text()).get("system_peak_temp_dir_size", 0)
    return f"passed in {seconds:.1f} s, {rows:,} rows, spilled at most {spilled / 2**20:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", type=Path, help="a raw warehouse from synthetic_federal.py")
    parser.add_argument("work_dir", type=Path, help="where the copy goes")
    parser.add_argument("--step", type=int, required=True, help="the chunk step (1-based)")
    parser.add_argument("--chunk-days", type=int, default=90)
    parser.add_argument("--model", default="int_dq_page_days")
    parser.add_argument("--limits", nargs="+", default=["6GB"], help="DuckDB memory_limit values")
    parser.add_argument(
        "--reuse", action="store_true", help="work_dir already holds the earlier steps' warehouse"
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    # the compiled SQL names the database after the file: the copy keeps the raw file's name
    warehouse = args.work_dir / args.raw.name
    first = first_snapshot_day(args.raw)
    if not args.reuse:
        args.work_dir.mkdir(parents=True)
        shutil.copyfile(args.raw, warehouse)
        build_steps_before(warehouse, first, args.step, args.chunk_days)
    through = step_through(first, args.step, args.chunk_days)
    step_vars = {"build_through": through.isoformat()}
    # `build`, not `run`: the registry snapshot the models read is a parent too
    run_dbt(
        [
            "build",
            "--select",
            f"+{args.model}",
            "--exclude",
            args.model,
            "--resource-type",
            "model",
            "--resource-type",
            "snapshot",
        ],
        warehouse=warehouse,
        vars=step_vars,
    )
    run_dbt(["compile", "--select", args.model], warehouse=warehouse, vars=step_vars)
    compiled = dbt_state_dir(warehouse) / "target" / "compiled"
    sql = compiled_model(compiled, args.model).read_text()
    spill_dir = args.work_dir / "spill"
    print(f"{args.model} at step {args.step} (through {through}):")
    for limit in args.limits:
        shutil.rmtree(spill_dir, ignore_errors=True)
        print(f"  memory_limit {limit}: {run_at_limit(warehouse, sql, limit, spill_dir)}")
    shutil.rmtree(spill_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

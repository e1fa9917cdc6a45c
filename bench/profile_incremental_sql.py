"""Profile: each incremental model's own SQL of one new day, operator by operator.

bench_transform.py times whole dbt builds; this shows where one model's time goes. A warehouse
kept by `bench_transform.py --keep` is copied, one synthetic day is appended to raw, the
models' parents are built, then for each model in turn its incremental SQL (`dbt compile`
against the copy, so is_incremental() holds) runs as `create temp table ... as` in DuckDB with
profiling on, and the slowest operators are printed; then `dbt run` builds the model, so the
next model sees the day as a daily build would.

    .venv/bin/python bench/profile_incremental_sql.py KEPT/duckdb/gospulse.duckdb COPY_DIR \\
        --pages 20000 --memory-limit 600MB

`--memory-limit` a tenth of the 6GB the benchmarks give dbt, at the quick size (a tenth of the
rows), reproduces the full size's memory pressure on a warehouse that builds in minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_transform import append_day  # noqa: E402

from gospulse.transform.run import dbt_state_dir, run_dbt  # noqa: E402

MODELS = (
    "int_page_days_filled",
    "mart_page_daily",
    "int_dq_page_days",
    "mart_page_growth",
)


def operators(node: dict, depth: int = 0) -> list[tuple[float, int, str, int, str]]:
    """Every operator of a DuckDB JSON profile: (seconds, depth, name, rows, details)."""
    found = [
        (
            node.get("operator_timing", 0.0),
            depth,
            node.get("operator_name", ""),
            node.get("operator_cardinality", 0),
            json.dumps(node.get("extra_info", {}), ensure_ascii=False)[:160],
        )
    ]
    for child in node.get("children", []):
        found += operators(child, depth + 1)
    return found


def compiled_model(compiled: Path, model: str) -> Path:
    """The model's compiled SQL under target/compiled, not a unit test's of the same name (dbt
    writes those in a directory named after the YAML file that holds them)."""
    found = [
        path
        for path in compiled.rglob(f"{model}.sql")
        if not path.parent.name.endswith((".yml", ".yaml"))
    ]
    if len(found) != 1:
        raise RuntimeError(f"expected one compiled {model}.sql under {compiled}, found {found}")
    return found[0]


def profile(warehouse: Path, model: str, memory_limit: str, top: int) -> None:
    run_dbt(["compile", "--select", model], warehouse=warehouse)
    compiled = dbt_state_dir(warehouse) / "target" / "compiled"
    sql = compiled_model(compiled, model).read_text()
    output = warehouse.parent / f"{model}.profile.json"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"set memory_limit = '{memory_limit}'")
        con.execute("pragma enable_profiling = 'json'")
        con.execute(f"pragma profiling_output = '{output}'")
        started = time.perf_counter()
        con.execute(f"create temp table profiled as {sql}")
        seconds = time.perf_counter() - started
        con.execute("pragma disable_profiling")
        (rows,) = con.execute("select count(*) from profiled").fetchone()
    finally:
        con.close()
    print(f"{model}: {seconds:.1f} s, {rows:,} rows to write")
    for timing, depth, name, cardinality, details in sorted(
        operators(json.loads(output.read_text())), reverse=True
    )[:top]:
        print(f"  {timing:7.2f} s  depth {depth:2d}  {name} ({cardinality:,} rows) {details}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kept", type=Path, help="a warehouse kept by bench_transform.py --keep")
    parser.add_argument("copy_dir", type=Path, help="where the copy goes (must not exist)")
    parser.add_argument("--pages", type=int, required=True, help="pages of the kept warehouse")
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--memory-limit", default="6GB")
    parser.add_argument("--top", type=int, default=8, help="operators shown per model")
    parser.add_argument("models", nargs="*", default=list(MODELS))
    args = parser.parse_args()

    args.copy_dir.mkdir(parents=True)
    # the compiled SQL names the database after the file: the copy keeps the kept file's name
    warehouse = args.copy_dir / args.kept.name
    shutil.copyfile(args.kept, warehouse)
    day = append_day(warehouse, args.pages, args.days)
    print(f"appended {day} to a copy of {args.kept}; DuckDB memory_limit {args.memory_limit}")
    parents = [f"+{m}" for m in args.models]
    run_dbt(["run", "--select", *parents, "--exclude", *args.models], warehouse=warehouse)
    for model in args.models:
        profile(warehouse, model, args.memory_limit, args.top)
        run_dbt(["run", "--select", model], warehouse=warehouse)


if __name__ == "__main__":
    main()

"""The benchmarks' data writers follow the warehouse's schema: a column added to raw must not
leave `bench/` writing rows the tables refuse (found only when a benchmark ran)."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import bench_import  # noqa: E402
from synthetic_federal import write_federal_raw  # noqa: E402


def test_the_synthetic_federal_warehouse_fits_raw(tmp_path: Path) -> None:
    warehouse = tmp_path / "federal.duckdb"
    counts = write_federal_raw(warehouse, pages=40, days=3)
    assert counts["rows"] == 120
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.registry_pages").fetchone() == (40,)


def test_the_import_benchmarks_registry_fits_raw(tmp_path: Path) -> None:
    from gospulse.raw.warehouse import connect

    warehouse = tmp_path / "import.duckdb"
    with connect(warehouse):
        pass
    bench_import.register(warehouse, 7)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.registry_pages").fetchone() == (7,)

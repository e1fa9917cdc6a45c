"""A BI-like reader for tests/test_postgres_publish.py, run as its own process.

Reads the Postgres marts in a loop until a stop file appears. Each read is ONE statement (one
snapshot) that returns marts.publish_info next to the actual row count of every mart; a read
where they disagree, or where several run ids show, saw a half-built state. Writes a JSON report.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psycopg2


def main(config_json: str, marts_csv: str, stop: str, report: str) -> int:
    config = json.loads(config_json)
    marts = marts_csv.split(",")
    counts = " union all ".join(
        f"select '{m}' as mart, count(*) as n from marts.{m}" for m in marts
    )
    query = (
        f"with actual as ({counts}) "
        "select info.run_id, actual.mart, info.row_count, actual.n "
        "from actual left join marts.publish_info as info on info.mart = actual.mart"
    )
    result = {"reads": 0, "errors": [], "mismatches": [], "run_ids": []}
    con = psycopg2.connect(
        host=config["host"],
        port=config["port"],
        user=config["user"],
        password=config["password"] or None,
        dbname=config["dbname"],
        application_name="gospulse-test-reader",
    )
    con.autocommit = True
    try:
        while not Path(stop).exists():
            try:
                with con.cursor() as cur:
                    cur.execute(query)
                    rows = cur.fetchall()
            except psycopg2.Error as exc:
                result["errors"].append(f"{type(exc).__name__}: {exc}".strip())
                time.sleep(0.05)
                continue
            result["reads"] += 1
            run_ids = {r[0] for r in rows}
            bad = [r for r in rows if r[2] != r[3]]
            if len(run_ids) != 1 or bad:
                result["mismatches"].append({"run_ids": sorted(map(str, run_ids)), "bad": bad})
            for run_id in run_ids:
                if run_id not in result["run_ids"]:
                    result["run_ids"].append(run_id)
            time.sleep(0.02)
    finally:
        con.close()
        Path(report).write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))

"""Staging left by killed or refused extractions is removed by the next run, and said so.

Each run fetches its batches into staging/<network>/<day>/<run id>/ and removes the folder once
loaded. A run killed between fetching and loading leaves its folder; a batch the raw gate
refuses is kept for inspection. The next run of the network removes what no run will read
again and logs each folder, and leaves alone the folders of runs that may still be going.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta

from gospulse.extract.pipeline import failed_plan, load_batches, staging_root
from gospulse.raw.warehouse import ExtractRun, connect, record_run
from gospulse.registry.pages import validate_registry

HEADER = "network,page_ref,title,organization,region_code,municipality,sector,flagship"
DAY = date(2026, 3, 10)


def staging(warehouse, network, day, run_id, *, started):
    folder = staging_root(warehouse) / network / str(day) / run_id
    folder.mkdir(parents=True)
    (folder / "plan.json").write_text(json.dumps({"started_at": started.isoformat()}))
    (folder / "batch-00000.json").write_text("{}")
    return folder


def run_record(con, run_id, day, status, finished):
    record_run(
        con,
        ExtractRun(
            run_id,
            "vk",
            day,
            finished - timedelta(minutes=5),
            finished,
            2,
            2,
            0,
            0,
            1,
            0,
            0,
            0.0,
            status,
        ),
    )


def test_the_next_run_removes_what_killed_and_superseded_runs_left(tmp_path, caplog):
    warehouse = tmp_path / "w.duckdb"
    registry_file = tmp_path / "42.csv"
    registry_file.write_text(f"{HEADER}\nvk,101,Школа,Орг,42,,education,false\n")
    registry = validate_registry(registry_file)
    now = datetime.now()
    killed = staging(warehouse, "vk", DAY - timedelta(3), "vk-killed", started=now - timedelta(2))
    running = staging(
        warehouse, "vk", DAY - timedelta(1), "vk-running", started=now - timedelta(hours=1)
    )
    refused_then_loaded = staging(
        warehouse, "vk", DAY - timedelta(2), "vk-refused-1", started=now - timedelta(1)
    )
    refused_alone = staging(
        warehouse, "vk", DAY - timedelta(4), "vk-refused-2", started=now - timedelta(1)
    )
    finished = staging(warehouse, "vk", DAY - timedelta(5), "vk-done", started=now - timedelta(1))
    other_network = staging(
        warehouse, "tg", DAY - timedelta(3), "tg-killed", started=now - timedelta(2)
    )
    with connect(warehouse) as con:
        run_record(con, "vk-refused-1", DAY - timedelta(2), "rejected", now - timedelta(hours=20))
        run_record(con, "vk-again", DAY - timedelta(2), "success", now - timedelta(hours=19))
        run_record(con, "vk-refused-2", DAY - timedelta(4), "rejected", now - timedelta(hours=20))
        run_record(con, "vk-done", DAY - timedelta(5), "success", now - timedelta(hours=20))

    plan = failed_plan("vk", DAY, registry, warehouse, "ConnectionError: the network is down")
    with caplog.at_level(logging.WARNING, logger="gospulse.extract.pipeline"):
        summary = load_batches(plan)

    assert summary.status == "failed"
    assert not killed.exists() and not refused_then_loaded.exists() and not finished.exists()
    assert running.exists() and refused_alone.exists() and other_network.exists()
    assert not plan.staging_dir.exists()
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert "vk-killed, killed before it loaded" in said
    assert "vk-refused-1, refused by the gate; its day loaded again since" in said
    assert "vk-done, which finished (success)" in said
    assert "vk-running" not in said and "vk-refused-2" not in said
    # the emptied day folders go too
    assert not killed.parent.exists() and running.parent.exists()

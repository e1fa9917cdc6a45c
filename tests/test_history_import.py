"""History import: bad rows reported with their lines, good rows kept, reruns idempotent."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from gospulse.cli import main
from gospulse.raw.history_import import import_history
from gospulse.raw.warehouse import SnapshotRow, connect, replace_snapshots

HEADER = "network,page_ref,snapshot_date,members_count,status"


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    monkeypatch.setenv("GOSPULSE_WAREHOUSE", str(path))
    register(path, "123", "kuzbass_sport")
    with connect(path) as con:
        con.execute(
            "insert into raw.page_refs values "
            "('vk', 'screen_name', 'kuzbass_sport', '555', 'ok', ?, null)",
            [datetime.now()],
        )
    return path


def register(path, *refs, network="vk"):
    """List pages (numeric ids or screen names) in the warehouse's registry."""
    with connect(path) as con:
        for line, ref in enumerate(refs, start=2):
            kind = "id" if ref.isdigit() else "screen_name"
            con.execute(
                "insert into raw.registry_pages values "
                "(?, ?, ?, ?, 'Страница', null, 42, null, 'health', false, 'r.csv', ?, ?, null)",
                [network, ref, kind, ref, line, datetime.now()],
            )


def rows(path):
    with connect(path, read_only=True) as con:
        return con.execute(
            "select network, page_ref, snapshot_date, members_count, status, source "
            "from raw.page_snapshots order by all"
        ).fetchall()


def test_import_keeps_good_rows_and_reports_bad_ones(tmp_path, warehouse, capsys):
    csv = tmp_path / "history.csv"
    csv.write_text(
        "\n".join(
            [
                HEADER,
                "vk,123,2026-07-05,1500,ok",
                "vk,https://vk.com/kuzbass_sport,05.07.2026,900,ok",  # resolved name, dd.mm.yyyy
                "vk,123,2026-07-06,,deleted",
                "vk,123,2026-07-07,-5,ok",  # line 5 negative
                "vk,123,2026-13-01,10,ok",  # line 6 bad date
                "vk,123,2026-07-08,,ok",  # line 7 ok without count
                "vk,123,2026-07-09,10,hacked",  # line 8 unknown status
                "vk,unknown_name,2026-07-09,10,ok",  # line 9 unresolved
                "vk,123,2026-07-05,1501,ok",  # line 10 duplicate key
                "xx,1,2026-07-05,1,ok",  # line 11 unknown network
            ]
        )
        + "\n"
    )
    assert main(["import-snapshots", str(csv)]) == 1
    out = capsys.readouterr()
    lines = {int(x.split(":")[1]): x for x in out.out.splitlines()}
    assert sorted(lines) == [5, 6, 7, 8, 9, 10, 11]
    assert "whole number from 0 to" in lines[5] and "snapshot_date" in lines[6]
    assert "needs a members_count" in lines[7] and "unknown status 'hacked'" in lines[8]
    assert "not resolved" in lines[9] and "duplicate of line 2" in lines[10]
    assert "imported 3 snapshots, 7 bad rows rejected" in out.err
    assert rows(warehouse) == [
        ("vk", "123", date(2026, 7, 5), 1500, "ok", "import"),
        ("vk", "123", date(2026, 7, 6), None, "deleted", "import"),
        ("vk", "555", date(2026, 7, 5), 900, "ok", "import"),
    ]
    # a second import of the same file changes nothing
    before = rows(warehouse)
    main(["import-snapshots", str(csv)])
    assert rows(warehouse) == before


def test_import_does_not_replace_good_data_with_errors(tmp_path, warehouse):
    with connect(warehouse) as con:
        replace_snapshots(con, [SnapshotRow("vk", "123", date(2026, 7, 5), 1500, "ok")])
    csv = tmp_path / "h.csv"
    csv.write_text(f"{HEADER}\nvk,123,2026-07-05,,error\n")
    result = import_history(csv, warehouse)
    assert result.written.kept_existing == 1
    assert rows(warehouse)[0][3:5] == (1500, "ok")


def test_unreadable_history_file_is_a_clear_error(tmp_path, warehouse):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="header lacks network.*the header read: a, b"):
        import_history(bad, warehouse)

"""Import historical snapshots from CSV (network,page_ref,snapshot_date,members_count,status).

Past counts cannot be re-fetched from the networks, so imports are how history enters the
warehouse. Each bad row is reported with its line; good rows are stored, replacing the same keys.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from gospulse.registry import NETWORKS, BadReference, RowError, normalize_ref
from gospulse.warehouse import STATUSES, SnapshotRow, WriteResult, connect, replace_snapshots

COLUMNS = ("network", "page_ref", "snapshot_date", "members_count", "status")


@dataclass
class ImportResult:
    rows: list[SnapshotRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    written: WriteResult | None = None


def _parse_date(text: str) -> date:
    text = text.strip()
    if len(text) == 10 and text[2] == "." and text[5] == ".":  # 05.07.2026, as ЦУР reports write it
        d, m, y = text.split(".")
        return date(int(y), int(m), int(d))
    return date.fromisoformat(text)


def parse_history(path: Path, resolved: dict[tuple[str, str], str]) -> ImportResult:
    """Parse and validate a history CSV; `resolved` maps (network, screen name) to stable ids."""
    result = ImportResult()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read history file ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: header lacks {', '.join(missing)}; expected {','.join(COLUMNS)}")
    seen: dict[tuple[str, str, date], int] = {}
    for row in reader:
        line = reader.line_num
        try:
            snap = _parse_row(row, resolved)
        except (ValueError, BadReference) as exc:
            result.errors.append(RowError(line, str(exc), row))
            continue
        key = (snap.network, snap.page_ref, snap.snapshot_date)
        if key in seen:
            result.errors.append(RowError(line, f"duplicate of line {seen[key]}", row))
            continue
        seen[key] = line
        result.rows.append(snap)
    return result


def _parse_row(row: dict[str, str], resolved: dict[tuple[str, str], str]) -> SnapshotRow:
    network = (row.get("network") or "").strip().lower()
    if network not in NETWORKS:
        raise ValueError(f"unknown network {row.get('network')!r}")
    ref = normalize_ref(network, row.get("page_ref") or "")
    if ref.kind == "id":
        page_ref = ref.value
    elif (network, ref.value) in resolved:
        page_ref = resolved[(network, ref.value)]
    else:
        raise ValueError(
            f"page {row.get('page_ref')!r} is not resolved to an id yet: "
            "use the numeric id or run an extract first"
        )
    try:
        snapshot_date = _parse_date(row.get("snapshot_date") or "")
    except ValueError:
        raise ValueError(
            f"bad snapshot_date {row.get('snapshot_date')!r} (use YYYY-MM-DD)"
        ) from None
    status = (row.get("status") or "").strip().lower() or "ok"
    if status not in STATUSES:
        raise ValueError(
            f"unknown status {row.get('status')!r} (expected one of {', '.join(STATUSES)})"
        )
    raw_count = (row.get("members_count") or "").strip().replace(" ", "")
    members: int | None = None
    if raw_count:
        if not raw_count.isdigit():
            raise ValueError(f"members_count must be a non-negative integer, got {raw_count!r}")
        members = int(raw_count)
    if status == "ok" and members is None:
        raise ValueError("status ok needs a members_count")
    if status in ("deleted", "banned", "not_found", "error"):
        members = None
    return SnapshotRow(network, page_ref, snapshot_date, members, status, source="import")


def import_history(path: Path, warehouse: Path) -> ImportResult:
    """Validate a history CSV and store its good rows; bad rows are returned, never stored."""
    with connect(warehouse) as con:
        resolved = {
            (n, v): ref
            for n, v, ref in con.execute(
                "select network, ref_value, page_ref from raw.page_refs "
                "where ref_kind = 'screen_name' and page_ref is not null"
            ).fetchall()
        }
        result = parse_history(path, resolved)
        result.written = replace_snapshots(con, result.rows)
    return result

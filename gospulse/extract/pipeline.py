"""The daily steps as plain functions: the CLI and the Airflow DAG call these and nothing else.

Every network runs the same three steps through its extractor (extractors.base): an extraction
is planned once (registry validated, new names resolved and kept, ids batched), each batch is
fetched into a staging file, and one load writes all files into the warehouse. Mapped Airflow
tasks fetch in parallel; only the load opens DuckDB for writing, so the file has a single writer
at a time.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from extractors.base import NetworkExtractor, PageAddress
from extractors.vk.client import VkClient
from extractors.vk.pool import VkClientPool, split_tokens
from gospulse.config import settings
from gospulse.raw.warehouse import (
    STATUSES,
    ExtractRun,
    SnapshotRow,
    bulk_insert,
    connect,
    record_run,
    replace_snapshots,
)
from gospulse.registry.pages import ValidationResult, load_registry, registry_paths

log = logging.getLogger(__name__)


# A name the network said does not exist (not_found, deleted…) is asked again only after this
# many days: name resolution is the tightly limited call (Telegram: ~30 a minute), and a dead
# address in the registry must not eat that budget every morning. Network errors retry each run.
RERESOLVE_DAYS_ENV = "GOSPULSE_RERESOLVE_DAYS"


def reresolve_days() -> int:
    """Days before a definitively unresolvable name is tried again ($GOSPULSE_RERESOLVE_DAYS)."""
    return settings.read(RERESOLVE_DAYS_ENV)


@dataclass
class ExtractPlan:
    """What one network's extraction for one date will ask, saved as JSON beside the batches."""

    run_id: str
    network: str
    snapshot_date: date
    warehouse: str
    batches: list[list[str]]
    pages_registered: int
    # page_ref -> [registry screen name or None, access key or None]
    addresses: dict[str, list[str | None]] = field(default_factory=dict)
    unresolved: list[dict[str, str | None]] = field(default_factory=list)
    registry_errors: int = 0
    # set when planning itself failed (network down, credentials rejected): nothing is fetched
    # and every known page of the network is recorded as failed with this reason
    failure: str | None = None
    # requests spent resolving screen names while planning, counted in the run's totals
    resolve_stats: dict[str, float] = field(default_factory=dict)
    started_at: datetime = field(default_factory=datetime.now)
    # the extractor talked to an emulator on this machine (reports then say "simulated")
    simulated: bool = False

    @property
    def staging_dir(self) -> Path:
        return (
            staging_root(Path(self.warehouse))
            / self.network
            / str(self.snapshot_date)
            / self.run_id
        )

    @property
    def plan_file(self) -> Path:
        return self.staging_dir / "plan.json"

    def save(self) -> Path:
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["snapshot_date"] = str(self.snapshot_date)
        data["started_at"] = self.started_at.isoformat()
        _write_json_atomic(self.plan_file, data)
        return self.plan_file

    @classmethod
    def load(cls, path: Path | str) -> ExtractPlan:
        data = json.loads(Path(path).read_text())
        data["snapshot_date"] = date.fromisoformat(data["snapshot_date"])
        data["started_at"] = datetime.fromisoformat(data["started_at"])
        return cls(**data)


@dataclass
class RunSummary:
    """The outcome of one network's extraction for one date."""

    run_id: str
    network: str
    snapshot_date: date
    pages_requested: int
    pages_ok: int
    pages_unavailable: int
    pages_failed: int
    unresolved: int
    requests: int
    retries: int
    rate_limited: int
    wait_seconds: float
    kept_existing: int
    status: str
    message: str
    pages_deferred: int = 0

    def describe(self) -> str:
        return (
            f"{self.network} {self.snapshot_date}: {self.status} — {self.pages_ok} ok, "
            f"{self.pages_unavailable} unavailable (deleted/banned/closed/not found), "
            f"{self.pages_failed} failed"
            + (f" ({self.pages_deferred} deferred)" if self.pages_deferred else "")
            + f", {self.unresolved} unresolved registry references; "
            f"{self.requests} requests, {self.retries} retries, {self.rate_limited} rate-limited, "
            f"{self.wait_seconds:.1f}s waited" + (f"; {self.message}" if self.message else "")
        )


def staging_root(warehouse: Path) -> Path:
    return warehouse.parent / "staging"


def _write_json_atomic(path: Path, data: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, default=str))
    os.replace(tmp, path)


def vk_client_from_env(token: str | None = None) -> VkClient | VkClientPool:
    """A VK client from VK_TOKEN, GOSPULSE_VK_API_URL, GOSPULSE_VK_RPS and friends.

    Several comma-separated tokens, or GOSPULSE_VK_CONNECTIONS_PER_TOKEN above 1, give a
    VkClientPool that spreads requests over the tokens, each within its own rate limit.
    """
    tokens = split_tokens(token if token is not None else settings.read("VK_TOKEN") or "")
    options = {
        "base_url": settings.read("GOSPULSE_VK_API_URL"),
        "requests_per_second": settings.read("GOSPULSE_VK_RPS"),
        "max_retries": settings.read("GOSPULSE_VK_MAX_RETRIES"),
    }
    connections = settings.read("GOSPULSE_VK_CONNECTIONS_PER_TOKEN")
    if len(tokens) > 1 or connections > 1:
        return VkClientPool(tokens, connections_per_token=connections, **options)
    return VkClient(tokens[0] if tokens else "", **options)


def read_registry(spec: str | Path | None = None) -> ValidationResult:
    """The registry from `spec` or GOSPULSE_REGISTRY (a CSV file or a folder of them)."""
    spec = spec or settings.read("GOSPULSE_REGISTRY")
    result = load_registry(registry_paths(spec))
    for err in result.errors:
        log.warning("registry row rejected: %s", err)
    return result


def load_registry_into_warehouse(registry: ValidationResult, warehouse: Path) -> int:
    """Replace raw.registry_pages with the valid rows of the current registry."""
    loaded_at = datetime.now()
    rows = [
        (
            p.network,
            p.registry_ref,
            p.ref.kind,
            p.ref.value,
            p.title,
            p.organization,
            p.region_code,
            p.municipality,
            p.sector,
            p.is_flagship,
            p.source_file,
            p.source_line,
            loaded_at,
            p.oktmo,
        )
        for p in registry.pages
    ]
    with connect(warehouse) as con:
        con.execute("begin transaction")
        try:
            con.execute("delete from raw.registry_pages")
            bulk_insert(con, "raw.registry_pages", rows)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    return len(rows)


def _known_refs(warehouse: Path, network: str) -> dict[str, tuple[str, str | None]]:
    with connect(warehouse) as con:
        rows = con.execute(
            "select ref_value, page_ref, access_key from raw.page_refs "
            "where network = ? and ref_kind = 'screen_name' and status = 'ok'",
            [network],
        ).fetchall()
    return {name: (ref, key) for name, ref, key in rows}


def _recently_unresolvable(
    warehouse: Path, network: str, within_days: int
) -> dict[str, tuple[str, datetime]]:
    """Names the network recently said do not exist: name -> (status, when it said so)."""
    with connect(warehouse) as con:
        rows = con.execute(
            "select ref_value, status, resolved_at from raw.page_refs "
            "where network = ? and ref_kind = 'screen_name' and status not in ('ok', 'error') "
            "and resolved_at > ?",
            [network, datetime.now() - timedelta(days=within_days)],
        ).fetchall()
    return {name: (status, at) for name, status, at in rows}


def _addresses(
    pages: list, known: dict[str, tuple[str, str | None]]
) -> dict[str, list[str | None]]:
    """page_ref -> [registry name, access key] for every page whose id is known."""
    addresses: dict[str, list[str | None]] = {}
    for page in pages:
        if page.ref.kind == "id":
            addresses.setdefault(page.ref.value, [None, None])
        elif page.ref.value in known:
            ref, key = known[page.ref.value]
            addresses[ref] = [page.ref.value, key]
    return addresses


def plan_extract(
    network: str,
    snapshot_date: date,
    registry: ValidationResult,
    warehouse: Path,
    extractor: NetworkExtractor,
    *,
    run_id: str | None = None,
) -> ExtractPlan:
    """Resolve the network's new registry names (kept for good) and batch the ids."""
    pages = [p for p in registry.pages if p.network == network]
    known = _known_refs(warehouse, network)
    wanted = {p.ref.value for p in pages if p.ref.kind == "screen_name"} - set(known)
    dead = _recently_unresolvable(warehouse, network, reresolve_days())
    unresolved: list[dict[str, str | None]] = [
        {
            "screen_name": name,
            "status": dead[name][0],
            "error": f"not asked again until {reresolve_days()} days after "
            f"{dead[name][1]:%Y-%m-%d %H:%M}",
        }
        for name in sorted(wanted & set(dead))
    ]
    names = sorted(wanted - set(dead))
    before = extractor.counters()
    if names:
        log.info("resolving %d new %s names", len(names), network)
        resolutions = extractor.resolve(names)
        now = datetime.now()
        with connect(warehouse) as con:
            con.execute(
                "delete from raw.page_refs where network = ? and ref_kind = 'screen_name' "
                "and ref_value in (select unnest(?::varchar[]))",
                [network, [r.screen_name for r in resolutions]],
            )
            bulk_insert(
                con,
                "raw.page_refs",
                [
                    (network, "screen_name", r.screen_name, r.page_ref, r.status, now, r.access_key)
                    for r in resolutions
                ],
            )
        for r in resolutions:
            if r.page_ref is None:
                unresolved.append(
                    {"screen_name": r.screen_name, "status": r.status, "error": r.error}
                )
            else:
                known[r.screen_name] = (r.page_ref, r.access_key)
    addresses = _addresses(pages, known)
    plan = ExtractPlan(
        run_id=run_id or f"{network}-{snapshot_date}-{uuid.uuid4().hex[:8]}",
        network=network,
        snapshot_date=snapshot_date,
        warehouse=str(warehouse),
        simulated=bool(getattr(extractor, "simulated", False)),
        batches=extractor.plan_batches(addresses),
        pages_registered=len(pages),
        addresses=addresses,
        unresolved=unresolved,
        registry_errors=len(registry.errors),
        resolve_stats={k: v - before[k] for k, v in extractor.counters().items()},
    )
    plan.save()
    return plan


def failed_plan(
    network: str,
    snapshot_date: date,
    registry: ValidationResult,
    warehouse: Path,
    reason: str,
    *,
    run_id: str | None = None,
) -> ExtractPlan:
    """A plan for a network that could not be planned: its known pages will be recorded failed."""
    pages = [p for p in registry.pages if p.network == network]
    plan = ExtractPlan(
        run_id=run_id or f"{network}-{snapshot_date}-{uuid.uuid4().hex[:8]}",
        network=network,
        snapshot_date=snapshot_date,
        warehouse=str(warehouse),
        batches=[],
        pages_registered=len(pages),
        addresses=_addresses(pages, _known_refs(warehouse, network)),
        registry_errors=len(registry.errors),
        failure=reason,
    )
    plan.save()
    return plan


def fetch_batch(plan: ExtractPlan, index: int, extractor: NetworkExtractor) -> Path:
    """Fetch batch `index` of the plan into a staging file; the file is complete or absent."""
    refs = plan.batches[index]
    addresses = {r: PageAddress(*plan.addresses.get(r, (None, None))) for r in refs}
    result = extractor.fetch_batch(refs, plan.snapshot_date, plan.run_id, addresses)
    path = plan.staging_dir / f"batch-{index:05d}.json"
    payload = {
        "rows": [asdict(r) for r in result.rows],
        "stats": {
            "requests": result.requests,
            "retries": result.retries,
            "rate_limited": result.rate_limited,
            "wait_seconds": result.wait_seconds,
            "deferred": result.deferred,
        },
    }
    _write_json_atomic(path, payload)
    return path


def load_batches(
    plan: ExtractPlan, *, cleanup: bool = True, batch_errors: dict[int, str] | None = None
) -> RunSummary:
    """Load every batch file of the plan in one transaction and record the run.

    A row that is not a valid snapshot (an unknown status, an ok row without a count) is
    stored as an error row saying why, so one page's fault never costs the batch or the day;
    batch_errors says why a batch left no file."""
    rows: list[SnapshotRow] = []
    totals = {"requests": 0, "retries": 0, "rate_limited": 0, "wait_seconds": 0.0}
    for k in totals:
        totals[k] += plan.resolve_stats.get(k, 0)
    deferred = 0
    missing: list[int] = []
    if plan.failure:
        rows.extend(
            SnapshotRow(
                plan.network,
                ref,
                plan.snapshot_date,
                None,
                "error",
                error=f"extraction could not start: {plan.failure}"[:500],
                run_id=plan.run_id,
            )
            for ref in sorted(plan.addresses)
        )
    batch_errors = batch_errors or {}
    for index, batch in enumerate(plan.batches):
        path = plan.staging_dir / f"batch-{index:05d}.json"
        if not path.exists():
            why = f": {batch_errors[index]}" if index in batch_errors else ""
            # a batch task that died: its pages are recorded as failed, not silently absent
            missing.append(index)
            rows.extend(
                SnapshotRow(
                    plan.network,
                    ref,
                    plan.snapshot_date,
                    None,
                    "error",
                    error=f"batch {index} produced no result{why}"[:500],
                    run_id=plan.run_id,
                )
                for ref in batch
            )
            continue
        data = json.loads(path.read_text())
        for k in totals:
            totals[k] += data["stats"][k]
        deferred += data["stats"].get("deferred", 0)
        for r in data["rows"]:
            r["snapshot_date"] = date.fromisoformat(r["snapshot_date"])
            rows.append(valid_snapshot(SnapshotRow(**r)))
    ok = sum(r.status == "ok" for r in rows)
    failed = [r for r in rows if r.status == "error"]
    unavailable = len(rows) - ok - len(failed)
    # a name that could not be resolved because the network failed is missing data; one the
    # network does not know is a dead registry address, reported but not an incomplete run
    unresolved_failed = [u for u in plan.unresolved if u.get("status") == "error"]
    incomplete = bool(failed or missing or unresolved_failed or plan.failure)
    if incomplete and ok + unavailable == 0:
        status = "failed"
    elif incomplete:
        status = "partial"
    else:
        status = "success"
    notes = []
    if plan.failure:
        notes.append(f"extraction could not start: {plan.failure}")
    if missing:
        notes.append(f"batches without result: {missing}")
    if deferred:
        notes.append(f"{deferred} pages deferred by the network's flood control")
    if failed:
        sample = ", ".join(f"{r.page_ref} ({r.error})" for r in failed[:3])
        notes.append(f"failed pages e.g. {sample}")
    if plan.unresolved:
        notes.append(
            "unresolved: "
            + ", ".join(f"{u['screen_name']} ({u['status']})" for u in plan.unresolved[:5])
        )
    gate = None
    if ok + unavailable > 0:
        # a network that returned nothing has nothing to gate: its error rows are the record
        gate = gate_batch(plan, rows)
        if not gate.success:
            status = "rejected"
            notes.insert(0, f"{gate.describe()}; batch kept in {plan.staging_dir}, not loaded")
    if gate is not None and not gate.success:
        # nothing of a refused batch is loaded, yet every page's day says why it has no data
        # (an error row never replaces a good row already stored for the day)
        why = f"rejected by the raw gate ({gate.describe()}); batch kept in {plan.staging_dir}"
        rows = [
            replace(
                r,
                members_count=None,
                status="error",
                error=(f"{r.error}; {why}" if r.error else why)[:500],
            )
            for r in rows
        ]
    with connect(Path(plan.warehouse)) as con:
        written = replace_snapshots(con, rows, replace_dates=[plan.snapshot_date])
        summary = RunSummary(
            run_id=plan.run_id,
            network=plan.network,
            snapshot_date=plan.snapshot_date,
            pages_requested=len(rows),
            pages_ok=ok,
            pages_unavailable=unavailable,
            pages_failed=len(failed),
            unresolved=len(plan.unresolved),
            # counts, summed from counters() typed float for wait_seconds' sake
            requests=int(totals["requests"]),
            retries=int(totals["retries"]),
            rate_limited=int(totals["rate_limited"]),
            wait_seconds=totals["wait_seconds"],
            kept_existing=written.kept_existing,
            status=status,
            message="; ".join(notes),
            pages_deferred=deferred,
        )
        record_run(
            con,
            ExtractRun(
                run_id=plan.run_id,
                network=plan.network,
                snapshot_date=plan.snapshot_date,
                started_at=plan.started_at,
                finished_at=datetime.now(),
                pages_requested=summary.pages_requested,
                pages_ok=ok,
                pages_unavailable=unavailable,
                pages_failed=len(failed),
                requests=summary.requests,
                retries=summary.retries,
                rate_limited=summary.rate_limited,
                wait_seconds=summary.wait_seconds,
                status=status,
                message=summary.message or None,
                pages_deferred=deferred,
                simulated=plan.simulated,
            ),
        )
        swept = sweep_staging(con, plan)
    # a rejected batch stays in staging for inspection until a later run of its day loads
    if cleanup and status != "rejected":
        shutil.rmtree(plan.staging_dir, ignore_errors=True)
    for note in swept:
        log.warning("%s staging: %s", plan.network, note)
    log.info("%s", summary.describe())
    return summary


# a run with no run record after this long was killed: no extraction of one network's day
# runs for a day (Airflow's daily deadline comes long before)
STALE_STAGING = timedelta(hours=24)


def sweep_staging(
    con: duckdb.DuckDBPyConnection, plan: ExtractPlan, *, now: datetime | None = None
) -> list[str]:
    """Remove the staging folders of this network that no run will read again, and say which.

    A folder is left behind when its run was killed between fetching and loading (no run
    record, started over STALE_STAGING ago), or when it was kept for inspection because the gate
    refused it and a later run of the same day has since loaded. Folders of runs that may still
    be going (no record yet, started recently) are left alone.
    """
    now = now or datetime.now()
    root = staging_root(Path(plan.warehouse)) / plan.network
    if not root.is_dir():
        return []
    runs = {
        run_id: (status, day, finished)
        for run_id, status, day, finished in con.execute(
            "select run_id, status, snapshot_date, finished_at from raw.extract_runs "
            "where network = ?",
            [plan.network],
        ).fetchall()
    }
    last_loaded: dict[date, datetime] = {}
    for status, day, finished in runs.values():
        if status != "rejected" and finished is not None:
            last_loaded[day] = max(finished, last_loaded.get(day, finished))
    notes = []
    for folder in sorted(d for d in root.glob("*/*") if d.is_dir()):
        run_id = folder.name
        if run_id == plan.run_id:
            continue
        record = runs.get(run_id)
        if record is None:
            started = _staging_started(folder)
            if now - started < STALE_STAGING:
                continue
            why = f"left by run {run_id}, killed before it loaded (started {started:%F %H:%M})"
        elif record[0] == "rejected":
            loaded = last_loaded.get(record[1])
            if loaded is None or record[2] is None or loaded <= record[2]:
                continue
            why = f"kept from run {run_id}, refused by the gate; its day loaded again since"
        else:
            why = f"left by run {run_id}, which finished ({record[0]})"
        shutil.rmtree(folder, ignore_errors=True)
        notes.append(f"removed {folder} ({why})")
    for day_dir in root.glob("*"):
        if day_dir.is_dir() and not any(day_dir.iterdir()):
            day_dir.rmdir()
    return notes


def _staging_started(folder: Path) -> datetime:
    """When the run of a staging folder started: its plan's start, else the folder's age."""
    try:
        return datetime.fromisoformat(json.loads((folder / "plan.json").read_text())["started_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return datetime.fromtimestamp(folder.stat().st_mtime)


def valid_snapshot(row: SnapshotRow) -> SnapshotRow:
    """The row, or an error row for its page saying why it is not a snapshot we can store."""
    from extractors.base import checked_count

    problem = None
    if row.status not in STATUSES:
        problem = f"unknown status {row.status!r:.40}"
    elif row.status == "ok" or row.members_count is not None:
        # a closed group still shows its count: any count there is must be one
        _, problem = checked_count(row.members_count, "members_count")
    if problem is None:
        return row
    return replace(row, members_count=None, status="error", error=problem)


def quality_dir(warehouse: Path) -> Path:
    """Where data-quality artefacts (GX Data Docs) of a warehouse are kept."""
    return Path(warehouse).parent / "quality"


def gate_batch(plan: ExtractPlan, rows: list[SnapshotRow]):
    """The raw batch gate (expectations.raw_batch) for the plan's rows; Data Docs per date."""
    from expectations.raw_batch import validate_batch

    docs = quality_dir(Path(plan.warehouse)) / "data_docs" / plan.network / str(plan.snapshot_date)
    return validate_batch(
        rows,
        network=plan.network,
        snapshot_date=plan.snapshot_date,
        expected_rows=len(plan.addresses),
        docs_dir=docs,
    )


def extract_network(
    network: str,
    snapshot_date: date,
    *,
    registry: ValidationResult,
    warehouse: Path,
    extractor: NetworkExtractor,
    progress=None,
) -> RunSummary:
    """One network's whole extraction for one date, in this process (the CLI's path).

    A network that refuses us before any batch (a bad token), or a batch that fails outright
    (a token revoked mid-run, the network gone), gives the pages concerned error rows saying
    why; the other batches load and the run is recorded, as under Airflow when a plan or fetch
    task fails for good.
    """
    try:
        plan = plan_extract(network, snapshot_date, registry, warehouse, extractor)
    except Exception as exc:  # the network refused us before any batch: every page says why
        log.warning("%s could not be planned: %s: %s", network, type(exc).__name__, exc)
        reason = f"{type(exc).__name__}: {exc}"
        return load_batches(failed_plan(network, snapshot_date, registry, warehouse, reason))
    errors: dict[int, str] = {}
    for index in range(len(plan.batches)):
        try:
            fetch_batch(plan, index, extractor)
        except Exception as exc:  # recorded on the batch's pages and in the run record
            log.warning("%s batch %d failed: %s: %s", network, index, type(exc).__name__, exc)
            errors[index] = f"{type(exc).__name__}: {exc}"
        if progress is not None:
            progress(index + 1, len(plan.batches))
    return load_batches(plan, batch_errors=errors)


def extract_vk(
    snapshot_date: date,
    *,
    registry: ValidationResult,
    warehouse: Path,
    client: VkClient,
    progress=None,
) -> RunSummary:
    """The VK extraction for one date with a ready VkClient (tests, benchmarks, the demo)."""
    from extractors.vk.extract import VkExtractor

    return extract_network(
        "vk",
        snapshot_date,
        registry=registry,
        warehouse=warehouse,
        extractor=VkExtractor(client),
        progress=progress,
    )

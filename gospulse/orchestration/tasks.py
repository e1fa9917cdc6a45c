"""Bodies of the Airflow tasks: plain functions taking and returning the types of
gospulse.config.task_results (the DAG turns them into JSON for XCom and back).

The DAG file only wires these together; each can be called (and tested) without Airflow.
Secrets come from the environment or the Airflow connection `vk_api` (password = token).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from gospulse.config import settings
from gospulse.config.dates import snapshot_date_for
from gospulse.config.regions import get_region
from gospulse.config.task_results import (
    AudienceOutcome,
    BatchRef,
    BuildVerdict,
    ExportBundles,
    IncidentAlerts,
    MonthlyReports,
    NetworkLoad,
    PostgresOutcome,
    PreparedDbt,
    PublishOutcome,
    RegistryCheck,
    ServingSteps,
    unpublished_reason,
)
from gospulse.raw.warehouse import warehouse_path
from gospulse.registry.pages import ValidationResult

log = logging.getLogger(__name__)


def _registry() -> ValidationResult:
    from gospulse.extract.pipeline import read_registry

    return read_registry()


def region_for(registry: ValidationResult) -> int:
    """The region whose calendar the run follows: GOSPULSE_REGION, or the registry's only zone."""
    region = settings.read("GOSPULSE_REGION")
    if region is not None:
        return region
    codes = sorted({p.region_code for p in registry.pages})
    if not codes:
        raise ValueError("the registry has no valid pages")
    zones = {get_region(c).timezone for c in codes}
    if len(zones) > 1:
        raise ValueError(
            f"registry spans regions in {len(zones)} time zones ({', '.join(sorted(zones))}); "
            "set GOSPULSE_REGION to the region whose calendar date the run records"
        )
    return codes[0]


def vk_token() -> str:
    """VK_TOKEN from the environment, else the password of the Airflow connection `vk_api`."""
    from gospulse.orchestration.connections import airflow_credentials

    return settings.read("VK_TOKEN") or airflow_credentials("vk").get("password") or ""


def check_registry() -> RegistryCheck:
    """Check every setting, then validate the registry; fail only when no page at all is
    usable (the daily run's first task: a bad setting stops the run before any fetch)."""
    settings.check()
    registry = _registry()
    for err in registry.errors[:50]:
        log.warning("registry %s", err)
    if not registry.pages:
        raise ValueError(f"registry has no valid pages ({len(registry.errors)} bad rows)")
    by_network = {n: sum(p.network == n for p in registry.pages) for n in ("vk", "tg", "ok")}
    return RegistryCheck(
        pages=len(registry.pages),
        pages_by_network=by_network,
        bad_rows=len(registry.errors),
        region_code=region_for(registry),
    )


def plan_network(network: str, logical_date: str, token_count: int = 1) -> list[BatchRef]:
    """Resolve new names and batch the network's ids; one entry per mapped fetch task.

    Each entry names the token (0..token_count-1) whose fetch task takes it, dealt round-robin.
    A network that cannot even be planned (service down, credentials rejected) gets a plan
    that records the failure, so its load still writes what happened and the other networks
    carry on. A snapshot date the network can no longer answer for is refused outright.
    """
    import duckdb

    from gospulse.config.dates import check_snapshot_lag
    from gospulse.extract.networks import extractor_for
    from gospulse.extract.pipeline import failed_plan, plan_extract
    from gospulse.orchestration.connections import airflow_credentials
    from gospulse.orchestration.token_slots import spread

    registry = _registry()
    region = region_for(registry)
    snapshot_date = snapshot_date_for(datetime.fromisoformat(logical_date), region)
    if not any(p.network == network for p in registry.pages):
        log.info("no %s pages registered: nothing to extract", network)
        return [BatchRef(network, plan=None, index=-1)]
    check_snapshot_lag(network, snapshot_date, region)
    log.info("%s: logical date %s → snapshot date %s", network, logical_date, snapshot_date)
    warehouse = warehouse_path()
    try:
        # names are resolved with the first token; batches are sized for one token's task
        extractor = extractor_for(
            network, airflow_credentials(network), token_index=0, token_count=token_count
        )
        try:
            plan = plan_extract(network, snapshot_date, registry, warehouse, extractor)
        finally:
            extractor.close()
    except duckdb.Error:
        # the warehouse, not the network, failed (e.g. another process holds the file): let the
        # task fail and retry rather than record the network's whole day as failed
        raise
    except Exception as exc:  # noqa: BLE001 — recorded in the plan, reported by load and summary
        reason = f"{type(exc).__name__}: {exc}"
        log.error("%s extraction cannot start: %s", network, reason)
        plan = failed_plan(network, snapshot_date, registry, warehouse, reason)
    if plan.batches and token_count > 1:
        plan.batches = spread(plan.batches, token_count)
        plan.save()
    plan_file = str(plan.plan_file)
    refs = [
        BatchRef(network, plan=plan_file, index=i, token=i % token_count)
        for i in range(len(plan.batches))
    ]
    return refs or [BatchRef(network, plan=plan_file, index=-1)]


def batches_of_token(refs: list[BatchRef], token: int) -> list[BatchRef]:
    """The plan entries dealt to token `token` (the no-pages/failed-plan entry goes to token 0)."""
    return [r for r in refs if r.token == token]


def fetch_network(ref: BatchRef, token_index: int, token_count: int) -> str | None:
    """Fetch one batch of a plan into its staging file, with token `token_index` (of
    `token_count`) only."""
    from gospulse.extract.networks import extractor_for
    from gospulse.extract.pipeline import ExtractPlan, fetch_batch
    from gospulse.orchestration.connections import airflow_credentials

    if not ref.fetches:
        return None
    if ref.token != token_index:
        # the pool of one token must never carry another token's requests
        raise ValueError(
            f"{ref.network} batch {ref.index} is dealt to token {ref.token}, "
            f"not to token {token_index}"
        )
    assert ref.plan is not None  # a batch to fetch is a batch of a plan
    plan = ExtractPlan.load(ref.plan)
    extractor = extractor_for(
        plan.network,
        airflow_credentials(plan.network),
        token_index=token_index,
        token_count=token_count,
    )
    try:
        return str(fetch_batch(plan, ref.index, extractor))
    finally:
        extractor.close()


def load_network(plan_refs: list[BatchRef]) -> NetworkLoad:
    """Load every batch of the network's plan into the warehouse and record the run."""

    from gospulse.extract.pipeline import ExtractPlan, load_batches

    first = plan_refs[0]
    if first.plan is None:
        return NetworkLoad(first.network, status="skipped", message="no pages registered")
    summary = load_batches(ExtractPlan.load(first.plan))
    log.info("%s", summary.describe())
    return NetworkLoad.of_run(summary)


def network_loads(ti: Any, networks: Iterable[str]) -> dict[str, NetworkLoad | None]:
    """Each network's load as its load task (`<network>.load_snapshots`) handed it over XCom;
    None where that task did not finish."""
    return {
        n: NetworkLoad.from_xcom(ti.xcom_pull(task_ids=f"{n}.load_snapshots")) for n in networks
    }


def collect_audience(extract: NetworkLoad) -> AudienceOutcome:
    """Read the day's due VK member lists into sketches; off when no hashing secret is set."""
    if extract.status == "skipped" or extract.snapshot_date is None:
        return AudienceOutcome(enabled=False, reason="no VK pages extracted")
    from datetime import date

    from gospulse.audience.collect import collect_vk_audience
    from gospulse.extract.pipeline import vk_client_from_env
    from gospulse.raw.sketches import SECRET_ENV, hasher_from_env

    if not settings.read(SECRET_ENV):
        log.warning("audience sketches are off: %s is not set", SECRET_ENV)
        return AudienceOutcome(enabled=False, reason=f"{SECRET_ENV} not set")
    summary = collect_vk_audience(
        date.fromisoformat(extract.snapshot_date),
        registry=_registry(),
        warehouse=warehouse_path(),
        client=vk_client_from_env(vk_token()),
        hasher=hasher_from_env(),
    )
    return AudienceOutcome.of_run(summary)


def _held_reason(extracts: dict[str, NetworkLoad | None]) -> str | None:
    """Why the marts must not be rebuilt today, or None.

    A batch the raw gate rejected is not in the warehouse, so marts built now would be partly
    a bad day; and when no network's load finished at all (e.g. a backfill day refused by the
    past-date guard) nothing new is stored, so marts published now would carry this run's date.
    """
    rejected = {n: e.message for n, e in extracts.items() if e and e.status == "rejected"}
    if rejected:
        reason = "; ".join(f"{n}: {m}" for n, m in rejected.items())
        log.error("marts not rebuilt, the raw gate rejected a batch — %s", reason)
        return reason
    if extracts and all(e is None for e in extracts.values()):
        reason = "no network loaded data in this run"
        log.error("marts not rebuilt: %s", reason)
        return reason
    return None


def prepare_dbt(extracts: dict[str, NetworkLoad | None]) -> PreparedDbt:
    """Before the dbt tasks: load the current registry, or say why the marts are held.

    Returns the warehouse's absolute path for the dbt tasks, or why the marts are held when
    the raw gate rejected a batch (the DAG then skips every dbt task and the previous marts
    stay).
    """
    from gospulse.extract.pipeline import load_registry_into_warehouse

    reason = _held_reason(extracts)
    if reason:
        return PreparedDbt(held=reason)
    warehouse = warehouse_path().resolve()
    loaded = load_registry_into_warehouse(_registry(), warehouse)
    log.info("registry loaded into %s (%d pages) for the dbt tasks", warehouse, loaded)
    return PreparedDbt(warehouse=str(warehouse))


# the dbt task group's build task and cosmos' gate after it (gospulse.orchestration.dbt_group):
# their state follows from the nodes' own, which the verdict names
BUILD_TASKS = ("dbt_producer_watcher", "dbt_producer_watcher_done")


def dbt_verdict(
    extracts: dict[str, NetworkLoad | None], states: dict[str, str | None]
) -> BuildVerdict:
    """The build's verdict from the states of the dbt tasks (the DAG's build_marts task).

    Built, with a summary, when every dbt task succeeded; held when the raw gate held the
    marts; failed, naming the dbt tasks that failed, so nothing downstream publishes a
    half-built set of marts. A failed build with no failed model
    or test task (dbt could not start, or a node without a task failed) names the build task.
    """
    reason = _held_reason(extracts)
    if reason:
        return BuildVerdict(held=reason)
    if not states:
        return BuildVerdict(failed="no dbt task ran")
    build = {t: s for t, s in states.items() if t.rsplit(".", 1)[-1] in BUILD_TASKS}
    nodes = {t: s for t, s in states.items() if t not in build}
    failed = sorted(t for t, s in nodes.items() if s == "failed")
    not_run = sorted(t for t, s in nodes.items() if s not in ("success", "failed"))
    if not failed:
        failed = sorted(t for t, s in build.items() if s == "failed")
    if failed or not_run:
        text = f"dbt task(s) failed: {', '.join(failed) or 'none'}"
        if not_run:
            more = ", …" if len(not_run) > 5 else ""
            text += f"; {len(not_run)} not run ({', '.join(not_run[:5])}{more})"
        log.error("marts not rebuilt — %s", text)
        return BuildVerdict(failed=text)
    kinds = Counter(t.rsplit(".", 1)[-1].rsplit("_", 1)[-1] for t in nodes)
    return BuildVerdict(
        summary=f"dbt tasks: {kinds['run']} models, {kinds['snapshot']} snapshots, "
        f"{kinds['test']} test tasks, all succeeded"
    )


def summarize(
    extracts: dict[str, NetworkLoad | None],
    audience: AudienceOutcome | None,
    build: BuildVerdict | None,
    alerts: IncidentAlerts | None = None,
    serving: ServingSteps | None = None,
) -> str:
    """One readable paragraph for the task log; fails the run if a network got no data at all.

    It runs after the marts were built from whatever was loaded, so one network's outage is
    reported (and alerts through the failed run) without holding back the others.
    """
    from gospulse.extract.networks import NETWORK_NAMES

    parts, failed, incomplete = [], [], []
    day = next((e.snapshot_date for e in extracts.values() if e and e.snapshot_date), "?")
    for network, e in extracts.items():
        name = NETWORK_NAMES.get(network, network)
        if e is None:
            parts.append(f"{name} failed: its load task did not finish")
            failed.append(name)
            continue
        if e.status == "skipped":
            parts.append(f"{name}: skipped ({e.message})")
            continue
        parts.append(
            f"{name} {e.status}: {e.pages_ok} ok, {e.pages_unavailable} unavailable, "
            f"{e.pages_failed} failed, {e.unresolved} unresolved; "
            f"{e.requests} requests, {e.retries} retries"
            + (f" — {e.message}" if e.status != "success" and e.message else "")
        )
        if e.status in ("failed", "rejected"):
            failed.append(name)
        elif e.status == "partial":
            incomplete.append(name)
    if audience is None:
        heard = "audience: step did not finish. "
    elif audience.enabled:
        heard = (
            f"audience: {audience.pages_ok} lists read, {audience.pages_hidden} hidden, "
            f"{audience.pages_over_budget} over budget, {audience.pages_failed} failed. "
        )
    else:
        heard = f"audience: off ({audience.reason}). "
    if build is None:
        built = "marts were not rebuilt (see build_marts)"
    elif build.built:
        assert build.summary is not None  # what built means
        built = build.summary
    else:
        built = f"marts NOT rebuilt, previous marts kept: {build.why_not_built}"
    verdict = (
        f"incomplete networks: {', '.join(failed + incomplete)}"
        if failed or incomplete
        else "all networks complete"
    )
    text = f"gospulse daily {day}: " + "; ".join(parts) + f". {verdict}. {heard}dbt: {built}"
    if alerts is not None:
        sent = ", ".join(f"{n} by {c}" for c, n in alerts.sent.items()) or "none sent"
        broken = "".join(f"; {c} FAILED: {why}" for c, why in alerts.failed.items())
        text += f". alerts: {alerts.new} new incidents, {sent}{broken}"
    serving_failed: list[str] = []
    if serving is not None:
        served, serving_failed = describe_serving(serving)
        text += f". serving: {served}"
    log.info("%s", text)
    if failed:
        raise RuntimeError(f"no usable data from {', '.join(failed)} for {day}: {text}")
    if build is not None and build.failed:
        # the marts stay at the previous day: the run must not look green
        raise RuntimeError(f"dbt failed for {day}: {text}")
    if serving_failed:
        # readers would silently see yesterday's marts: the run must not look green
        raise RuntimeError(f"serving failed ({', '.join(serving_failed)}) for {day}: {text}")
    return text


def notify_incidents(build: BuildVerdict | None) -> IncidentAlerts:
    """Send the open data-quality incidents not sent yet, through every configured channel."""
    from gospulse.orchestration.alert_email import notifiers_from_env
    from gospulse.quality.alerts import notify_new_incidents

    if build is None or not build.built:
        return IncidentAlerts(note="marts not rebuilt: no new incidents evaluated")
    registry = _registry()
    result = notify_new_incidents(
        warehouse_path(), notifiers_from_env(), region_label=str(region_for(registry))
    )
    log.info("alerts: %s", result.describe())
    return IncidentAlerts(new=result.new, sent=result.sent, failed=result.failed)


def _snapshot_date(logical_date: str, region_code: int | None = None):
    region = region_code if region_code is not None else region_for(_registry())
    return snapshot_date_for(datetime.fromisoformat(logical_date), region)


def publish_marts(build: BuildVerdict | None, run_id: str, logical_date: str) -> PublishOutcome:
    """Swap the marts' read-only copy onto published/ after a build that ran."""
    from gospulse.serving.publish import publish_after_build

    return publish_after_build(
        build, Path(warehouse_path()), run_id=run_id, snapshot_date=_snapshot_date(logical_date)
    )


def write_monthly_reports(published: PublishOutcome | None) -> MonthlyReports:
    """When the copy just published ends a month (the run on the 1st, which records the
    month's last day), each region's report of that month, beside the published copy; the
    bundle step after this one carries them. Any other day: nothing, saying why."""
    from datetime import date

    from gospulse.config.periods import month_period
    from gospulse.report.writer import write_report
    from gospulse.serving.layout import published_path, report_dir

    reason = unpublished_reason(published)
    if reason:
        return MonthlyReports(written=False, reason=reason)
    # no reason: published, which records the day
    assert published is not None and published.snapshot_date is not None
    day = date.fromisoformat(published.snapshot_date)
    period = month_period(day.year, day.month)
    if day != period.last:
        return MonthlyReports(written=False, reason=f"{day} does not close its month")
    copy = published_path(warehouse_path())
    month = f"{day:%Y-%m}"
    regions = _regions_registered(copy, period.last)
    paths = []
    for code in regions:
        files = write_report(warehouse_path(), code, period, report_dir(copy, code, month))
        paths += [str(files.html), str(files.xlsx)]
        log.info("report of %s for region %02d: %s", month, code, files.html.parent)
    return MonthlyReports(written=True, month=month, regions=tuple(regions), paths=tuple(paths))


def _regions_registered(published: Path, day) -> list[int]:
    """The regions with pages registered on `day`, as the published copy has the registry."""
    from gospulse.serving.publish import open_published
    from gospulse.serving.ranking import REGISTERED_ON

    con = open_published(published)
    try:
        rows = con.execute(
            f"select distinct region_code from ({REGISTERED_ON}) order by 1", {"as_of": day}
        ).fetchall()
    finally:
        con.close()
    return [code for (code,) in rows]


def write_export_bundle(
    published: PublishOutcome | None, run_id: str, logical_date: str
) -> ExportBundles:
    """The export bundle of every region of the registry, from the copy just published: each
    holds its region's rows only, so a warehouse of several regions hands each its own."""
    from gospulse.serving.bundle import write_bundle
    from gospulse.serving.layout import bundle_root, published_path

    reason = unpublished_reason(published)
    if reason:
        return ExportBundles(written=False, reason=reason)
    warehouse = Path(warehouse_path())
    registry = _registry()
    day = _snapshot_date(logical_date, region_for(registry))
    regions = sorted({p.region_code for p in registry.pages})
    bundles = [
        write_bundle(
            published_path(warehouse),
            bundle_root(warehouse),
            region_code=code,
            snapshot_date=day,
            run_id=run_id,
        )
        for code in regions
    ]
    for bundle in bundles:
        log.info("export bundle %s: %d files", bundle.path, len(bundle.manifest["files"]))
    return ExportBundles(
        written=True,
        regions=tuple(regions),
        paths=tuple(str(b.path) for b in bundles),
        files=sum(len(b.manifest["files"]) for b in bundles),
        snapshot_date=day.isoformat(),
    )


POSTGRES_SWITCH = "GOSPULSE_PG_PUBLISH"


def publish_postgres(published: PublishOutcome | None, logical_date: str) -> PostgresOutcome:
    """Copy the marts just published (the read-only copy) to Postgres and swap them in (when
    switched on). `logical_date` is the run's; the copy carries its own snapshot date."""
    if not settings.read(POSTGRES_SWITCH):
        return PostgresOutcome(enabled=False, reason=f"{POSTGRES_SWITCH} is not set")
    reason = unpublished_reason(published)
    if reason:
        return PostgresOutcome(enabled=True, published=False, reason=reason)
    assert published is not None  # unpublished_reason gives one for None
    from gospulse.serving.layout import published_path
    from gospulse.serving.postgres import PgConfig, publish_to_postgres

    copy = Path(published.path or published_path(warehouse_path()))
    result = publish_to_postgres(copy, PgConfig.from_env())
    if published.run_id and result.run_id != published.run_id:
        # another run published after this one: Postgres gets what the copy holds now
        log.warning(
            "postgres: the published copy now holds run %s, not this run's %s (%s)",
            result.run_id,
            published.run_id,
            logical_date,
        )
    log.info("postgres: %s", result.describe())
    return PostgresOutcome(enabled=True, published=True, summary=result.describe())


def describe_serving(serving: ServingSteps) -> tuple[str, list[str]]:
    """One clause on what was served, and the serving steps that failed outright."""
    failed = serving.unfinished
    parts = []
    copy, bundle, reports, pg = serving.published, serving.bundle, serving.reports, serving.postgres
    if copy:
        parts.append(
            f"published copy: {copy.rows} rows in {copy.tables} marts"
            if copy.published
            else f"published copy kept from an earlier run ({copy.reason})"
        )
    if bundle:
        parts.append(
            f"export bundles {', '.join(bundle.paths)}" if bundle.written else "no export bundle"
        )
    if reports and reports.written:
        parts.append(f"reports of {reports.month} for regions {list(reports.regions)}")
    if pg:
        parts.append(
            f"postgres: {pg.summary}" if pg.published else f"postgres: not published ({pg.reason})"
        )
    parts += [f"{step} FAILED (see its task log)" for step in failed]
    return "; ".join(parts), failed

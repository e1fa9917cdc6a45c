"""What the daily run's tasks hand each other, as types: the registry check, the batches a
network's fetch tasks map over, each network's load, the audience, the build's verdict, the
alerts, and the publication and the steps that serve it; and the federal DAG's pull.

XCom carries JSON: a task returns `result.to_xcom()`, and the next reads it back with
`Type.from_xcom(value)`, so the task bodies (gospulse.orchestration.tasks) read attributes,
never a dict's keys. None, a task that did not finish, stays None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Self, overload


class XComResult:
    """A frozen dataclass that crosses XCom as a JSON object: a None its field defaults to left
    out, tuples as lists, and back the same (a key the type does not know is ignored)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def to_xcom(self) -> dict[str, Any]:
        defaults = {f.name: f.default for f in fields(self)}
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in asdict(self).items()
            if not (v is None and defaults[k] is None)
        }

    @overload
    @classmethod
    def from_xcom(cls, value: Mapping[str, Any]) -> Self: ...

    @overload
    @classmethod
    def from_xcom(cls, value: None) -> None: ...

    @overload
    @classmethod
    def from_xcom(cls, value: Mapping[str, Any] | None) -> Self | None: ...

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any] | None) -> Self | None:
        if value is None:
            return None
        known = {f.name: f for f in fields(cls)}
        return cls(
            **{
                k: tuple(v) if isinstance(v, list) and known[k].default == () else v
                for k, v in value.items()
                if k in known
            }
        )


@dataclass(frozen=True)
class RegistryCheck(XComResult):
    """The registry the run starts from: usable pages (per network), bad rows, its region."""

    pages: int
    pages_by_network: dict[str, int]
    bad_rows: int
    region_code: int


@dataclass(frozen=True)
class BatchRef(XComResult):
    """One mapped fetch task's batch: the network's plan file, the batch's index in it (-1:
    nothing to fetch) and the token whose task takes it; no plan file: no pages registered."""

    network: str
    plan: str | None
    index: int
    token: int = 0

    @property
    def fetches(self) -> bool:
        return self.index >= 0


@dataclass(frozen=True)
class NetworkLoad(XComResult):
    """One network's load: its run's status and counts, or skipped (no pages registered)."""

    network: str
    status: str
    message: str = ""
    snapshot_date: str | None = None
    run_id: str | None = None
    pages_requested: int = 0
    pages_ok: int = 0
    pages_unavailable: int = 0
    pages_failed: int = 0
    pages_deferred: int = 0
    unresolved: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    wait_seconds: float = 0.0
    kept_existing: int = 0

    @classmethod
    def of_run(cls, run: Any) -> NetworkLoad:
        """The load a network's run summary (gospulse.extract.pipeline.RunSummary) describes."""
        values = asdict(run)
        return cls(**{**values, "snapshot_date": values["snapshot_date"].isoformat()})


@dataclass(frozen=True)
class AudienceOutcome(XComResult):
    """The day's VK member lists read into sketches (with the audience run's counts), or off
    and why."""

    enabled: bool
    reason: str | None = None
    run_id: str | None = None
    snapshot_date: str | None = None
    pages_due: int = 0
    pages_not_due: int = 0
    pages_ok: int = 0
    pages_hidden: int = 0
    pages_over_budget: int = 0
    pages_failed: int = 0
    members_read: int = 0
    requests: int = 0
    lists_with_attributes: int = 0
    regions_without_cities: tuple[int, ...] = ()

    @classmethod
    def of_run(cls, run: Any) -> AudienceOutcome:
        """What an audience run's summary (gospulse.audience.collect.AudienceSummary) says."""
        values = asdict(run)
        return cls(enabled=True, **{**values, "snapshot_date": values["snapshot_date"].isoformat()})


@dataclass(frozen=True)
class PreparedDbt(XComResult):
    """Before the dbt tasks: the warehouse they build in, or why the marts are held."""

    warehouse: str | None = None
    held: str | None = None


@dataclass(frozen=True)
class BuildVerdict(XComResult):
    """The dbt build's verdict (the DAG's build_marts): built, with dbt's summary; held, when
    the raw gate rejected a batch; or failed, naming what failed."""

    summary: str | None = None
    held: str | None = None
    failed: str | None = None

    @property
    def built(self) -> bool:
        return self.summary is not None

    @property
    def why_not_built(self) -> str:
        return self.held or self.failed or "marts were not rebuilt"


@dataclass(frozen=True)
class IncidentAlerts(XComResult):
    """The new data-quality incidents sent: how many, how many by each channel, the channels
    that failed and why; or a note on why none were evaluated."""

    new: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    note: str | None = None


@dataclass(frozen=True)
class PublishOutcome(XComResult):
    """What publishing the marts' read-only copy did: published (where, which run and day,
    how much), or not, and why."""

    published: bool
    reason: str | None = None
    path: str | None = None
    run_id: str | None = None
    snapshot_date: str | None = None
    tables: int | None = None
    rows: int | None = None

    @property
    def why_not_published(self) -> str:
        return self.reason or "the marts were not published"


@dataclass(frozen=True)
class MonthlyReports(XComResult):
    """A closed month's reports written beside the published copy (which month, regions and
    files), or not, and why."""

    written: bool
    reason: str | None = None
    month: str | None = None
    regions: tuple[int, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportBundles(XComResult):
    """The export bundles written, one per region (where, how many files, which day), or not,
    and why."""

    written: bool
    reason: str | None = None
    regions: tuple[int, ...] = ()
    paths: tuple[str, ...] = ()
    files: int = 0
    snapshot_date: str | None = None


@dataclass(frozen=True)
class PostgresOutcome(XComResult):
    """The marts on Postgres: switched off; published, with what the copy held; or not, and
    why."""

    enabled: bool
    published: bool = False
    reason: str | None = None
    summary: str | None = None


@dataclass(frozen=True)
class ServingSteps:
    """What each step that serves the marts handed over; None: that step did not finish."""

    published: PublishOutcome | None
    bundle: ExportBundles | None
    reports: MonthlyReports | None
    postgres: PostgresOutcome | None

    @property
    def unfinished(self) -> list[str]:
        """The steps that did not finish, by name."""
        return [f.name for f in fields(self) if getattr(self, f.name) is None]


def unpublished_reason(published: PublishOutcome | None) -> str | None:
    """Why the steps after publication have nothing to work on (None: the copy was published);
    None as `published` is a publication step that did not finish."""
    if published is None:
        return "the marts were not published"
    return None if published.published else published.why_not_published


@dataclass(frozen=True)
class FederalPull(XComResult):
    """A federal pull: the regions whose bundles loaded, were unchanged or were rejected (code
    as text: reason), the federal marts' row counts, and a line per region and for the marts."""

    loaded: tuple[int, ...] = ()
    unchanged: tuple[int, ...] = ()
    rejected: dict[str, str] = field(default_factory=dict)
    marts: dict[str, int] = field(default_factory=dict)
    lines: tuple[str, ...] = ()

"""What the daily run's tasks hand each other about the build and its publication, as types.

XCom carries JSON: a task returns `result.to_xcom()`, and the next reads it back with
`Type.from_xcom(value)`, so the task bodies (gospulse.orchestration.tasks) read attributes,
never a dict's keys. None, a task that did not finish, stays None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


def _known(cls: type, value: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in value.items() if k in names}


@dataclass(frozen=True)
class BuildVerdict:
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

    def to_xcom(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any] | None) -> BuildVerdict | None:
        return None if value is None else cls(**_known(cls, value))


@dataclass(frozen=True)
class PublishOutcome:
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

    def to_xcom(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any] | None) -> PublishOutcome | None:
        return None if value is None else cls(**_known(cls, value))


def unpublished_reason(published: PublishOutcome | None) -> str | None:
    """Why the steps after publication have nothing to work on (None: the copy was published);
    None as `published` is a publication step that did not finish."""
    if published is None:
        return "the marts were not published"
    return None if published.published else published.why_not_published

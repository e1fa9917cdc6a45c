"""The tasks' results cross XCom as plain JSON objects, through Airflow's own serializer, and
come back equal."""

from __future__ import annotations

import json

import pytest

from gospulse.config.task_results import (
    AudienceOutcome,
    BatchRef,
    BuildVerdict,
    ExportBundles,
    FederalPull,
    IncidentAlerts,
    MonthlyReports,
    NetworkLoad,
    PostgresOutcome,
    PreparedDbt,
    PublishOutcome,
    RegistryCheck,
    ServingSteps,
)

RESULTS = [
    RegistryCheck(
        pages=3, pages_by_network={"vk": 2, "tg": 1, "ok": 0}, bad_rows=1, region_code=42
    ),
    BatchRef("vk", plan="/w/staging/vk/2026-03-10/r/plan.json", index=1, token=1),
    BatchRef("ok", plan=None, index=-1),
    NetworkLoad("ok", status="skipped", message="no pages registered"),
    NetworkLoad(
        "vk",
        status="partial",
        message="5 deferred",
        snapshot_date="2026-03-10",
        run_id="r",
        pages_requested=12,
        pages_ok=7,
        pages_failed=5,
        pages_deferred=5,
        requests=4,
        wait_seconds=1.5,
    ),
    AudienceOutcome(enabled=False, reason="GOSPULSE_AUDIENCE_SECRET not set"),
    AudienceOutcome(
        enabled=True,
        run_id="r",
        snapshot_date="2026-03-10",
        pages_ok=3,
        members_read=1200,
        regions_without_cities=(54,),
    ),
    IncidentAlerts(note="marts not rebuilt: no new incidents evaluated"),
    IncidentAlerts(new=2, sent={"webhook": 2}, failed={"email": "SMTP 554"}),
    PreparedDbt(warehouse="/w/gospulse.duckdb"),
    PreparedDbt(held="vk: raw gate failed"),
    BuildVerdict(summary="dbt tasks: 2 models, 0 snapshots, 2 test tasks, all succeeded"),
    BuildVerdict(held="vk: raw gate failed"),
    PublishOutcome(published=True, path="/p", run_id="r", snapshot_date="2026-03-10", rows=9),
    PublishOutcome(published=False, reason="marts held"),
    MonthlyReports(written=False, reason="2025-02-27 does not close its month"),
    MonthlyReports(written=True, month="2025-02", regions=(42, 54), paths=("/r/42.html",)),
    ExportBundles(written=False, reason="marts held"),
    ExportBundles(
        written=True, regions=(42,), paths=("/b/42",), files=9, snapshot_date="2026-03-10"
    ),
    PostgresOutcome(enabled=False, reason="GOSPULSE_PG_PUBLISH is not set"),
    PostgresOutcome(enabled=True, published=True, summary="12 marts, run r"),
    FederalPull(
        loaded=(42, 77),
        rejected={"54": "file marts/mart_page_growth.parquet: sha256 differs"},
        marts={"mart_national_growth": 24},
        lines=("region 42 b1 loaded", "federal marts: mart_national_growth 24"),
    ),
]


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: type(r).__name__)
def test_a_result_crosses_xcom_as_json_and_comes_back_the_same(result):
    from airflow.sdk.serde import deserialize, serialize

    value = result.to_xcom()
    # plain JSON: nothing Airflow would have to import a class for on the way back
    assert json.loads(json.dumps(value)) == value
    assert "__classname__" not in json.dumps(serialize(value))
    back = deserialize(json.loads(json.dumps(serialize(value))))
    assert type(result).from_xcom(back) == result
    assert type(result).from_xcom(None) is None


def test_the_batches_a_mapped_task_takes_are_a_list_of_json_objects():
    from gospulse.orchestration.tasks import batches_of_token

    refs = [BatchRef("vk", plan="/p.json", index=i, token=i % 2) for i in range(3)]
    shared = [r.to_xcom() for r in batches_of_token(refs, 0)]
    assert shared == [
        {"network": "vk", "plan": "/p.json", "index": 0, "token": 0},
        {"network": "vk", "plan": "/p.json", "index": 2, "token": 0},
    ]
    assert [BatchRef.from_xcom(r) for r in shared] == [refs[0], refs[2]]


def test_an_audience_run_summary_becomes_the_outcome_the_summary_reads():
    from datetime import date

    from gospulse.audience.collect import AudienceSummary

    run = AudienceSummary(
        run_id="r", snapshot_date=date(2026, 3, 10), pages_ok=2, regions_without_cities=(54,)
    )
    assert AudienceOutcome.of_run(run) == AudienceOutcome(
        enabled=True,
        run_id="r",
        snapshot_date="2026-03-10",
        pages_ok=2,
        regions_without_cities=(54,),
    )


def test_the_serving_clause_names_what_was_served_and_the_steps_that_did_not_finish():
    from gospulse.orchestration.tasks import describe_serving

    served = ServingSteps(
        published=PublishOutcome(published=True, rows=9, tables=2),
        bundle=ExportBundles(written=True, regions=(42, 54), paths=("/b/42", "/b/54"), files=4),
        reports=MonthlyReports(written=True, month="2025-02", regions=(42, 54)),
        postgres=PostgresOutcome(enabled=True, published=True, summary="2 marts, run r"),
    )
    assert describe_serving(served) == (
        "published copy: 9 rows in 2 marts; export bundles /b/42, /b/54; "
        "reports of 2025-02 for regions [42, 54]; postgres: 2 marts, run r",
        [],
    )
    cut = ServingSteps(published=served.published, bundle=None, reports=None, postgres=None)
    assert describe_serving(cut) == (
        "published copy: 9 rows in 2 marts; bundle FAILED (see its task log); "
        "reports FAILED (see its task log); postgres FAILED (see its task log)",
        ["bundle", "reports", "postgres"],
    )

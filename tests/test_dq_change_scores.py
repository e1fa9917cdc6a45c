"""The change score (macro dq_change_scores) equals a plain Python reading of its rules.

The macro slides framed sums, counts, minimums, maximums and lags along each page's days; the
reference below loops over the same rules day by day. Both run on the same random page
histories (gaps of stale days, pages that start late, ties, weekly patterns, one-day spikes)
in a real DuckDB file, under the project's settings and shorter trainings. A second test holds
the macro's reach: a build that rewrites days from D and gives the windows dq_change_reach()
days before D scores those days exactly as a build over all history does, and one day less
does not.
"""

from __future__ import annotations

import copy
import math
import random
import statistics
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from gospulse.config.dbt_project import project_dir
from gospulse.transform.run import DbtError, compile_inline

pytestmark = pytest.mark.slow

MACRO_CALL = "{{ dq_change_scores('page_changes') }}"
# a rebuild's window: its changes from the reach back, scored from the first day rebuilt
WINDOW_CALL = "{{ dq_change_scores('window_changes', '(select rebuilt_from from rebuild)') }}"
SCORE_COLUMNS = (
    "history_days",
    "same_weekday_days",
    "is_seasonal",
    "expected_change",
    "typical_deviation",
    "change_scale",
    "z_score",
)


def project_dq_settings() -> dict:
    config = yaml.safe_load((project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    return config["vars"]["dq"]


def write_page_changes(
    warehouse: Path, seed: int, spike_share: float = 0.02, stale_shares=(0.0, 0.1, 0.4)
) -> int:
    """Dense page days (no gaps from each page's first day), change NULL on non-fresh days."""
    rng = random.Random(seed)
    first_day = date(2025, 1, 1)
    rows = []
    for page in range(40):
        start = rng.randrange(0, 60)
        stale_share = rng.choice(stale_shares)
        weekly = [rng.randrange(-20, 40) for _ in range(7)]
        for offset in range(start, 150):
            day = first_day + timedelta(days=offset)
            if rng.random() < stale_share:
                change = None
            elif rng.random() < spike_share:
                change = rng.choice([-5000, 8000])
            else:
                # coarse values give ties, which is where medians of even counts differ
                change = weekly[day.weekday()] + rng.randrange(-3, 4) * 5
            rows.append(("vk", f"page-{page}", day, change))
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create or replace table page_changes "
            "(network varchar, page_ref varchar, snapshot_date date, change integer)"
        )
        con.executemany("insert into page_changes values (?, ?, ?, ?)", rows)
        return con.execute("select count(change) from page_changes").fetchone()[0]


def compiled(warehouse: Path, dq: dict) -> dict[str, str]:
    """Under the settings dq, from one `dbt compile`: the macro's SQL over all history
    ("scores") and over a rebuild's window ("window_scores"), and its reach in days."""
    calls = {
        "scores": MACRO_CALL,
        "window_scores": WINDOW_CALL,
        "reach": "{{ dq_change_reach() }}",
    }
    return compile_inline(calls, warehouse, vars={"dq": dq})


def scores(warehouse: Path, sql: str) -> dict:
    columns = ", ".join(SCORE_COLUMNS)
    with duckdb.connect(str(warehouse)) as con:
        rows = con.execute(
            f"select network, page_ref, snapshot_date, {columns} from ({sql}) as s"
        ).fetchall()
    return {row[:3]: row[3:] for row in rows}


def reference_scores(warehouse: Path, zscore: dict) -> dict:
    """The rules of dq_change_scores, day by day over each page's dense days."""
    training_days, detection = zscore["training_days"], zscore["detection_days"]
    reach = detection + training_days - 1
    weekday_lags = [lag for lag in range(detection, reach + 1) if lag % 7 == 0]
    recent_lags = range(detection, detection + 3)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select network, page_ref, snapshot_date, change from page_changes "
            "order by network, page_ref, snapshot_date"
        ).fetchall()
    pages: dict[tuple, list] = {}
    for network, page_ref, day, change in rows:
        pages.setdefault((network, page_ref), []).append((day, change))

    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    result = {}
    for (network, page_ref), days in pages.items():
        changes = [change for _, change in days]

        def training(t):
            return range(max(t - reach, 0), max(t - detection + 1, 0))

        expected, history, same_weekday = [], [], []
        for t in range(len(days)):
            past = [changes[i] for i in training(t) if changes[i] is not None]
            weekday = [changes[t - lag] for lag in weekday_lags if t - lag >= 0]
            weekday = [c for c in weekday if c is not None]
            history.append(len(past))
            same_weekday.append(len(weekday))
            recent = [changes[t - lag] for lag in recent_lags if t - lag >= 0]
            recent = [c for c in recent if c is not None]
            if len(weekday) >= zscore["min_same_weekday"]:
                expected.append(statistics.median(weekday))
            elif recent:
                expected.append(statistics.median(recent))
            else:
                expected.append(sum(past) / len(past) if past else None)
        # the macro sums deviations as whole millionths, so that any order of adding is exact
        deviation = [
            round(abs(c - e) * 1e6) / 1e6 if c is not None and e is not None else None
            for c, e in zip(changes, expected, strict=True)
        ]
        raw = [mean(deviation[i] for i in training(t)) for t in range(len(days))]
        capped = [
            d if d is None or r is None else min(d, round(zscore["deviation_clip"] * r * 1e6) / 1e6)
            for d, r in zip(deviation, raw, strict=True)
        ]
        for t, (day, change) in enumerate(days):
            if change is None:
                continue
            typical = mean(capped[i] for i in training(t))
            scale = zscore["min_scale"]
            if typical is not None:
                scale = max(math.sqrt(math.pi / 2) * typical, scale)
            z = None
            if history[t] >= zscore["min_history_days"] and typical is not None:
                z = (change - expected[t]) / scale
            result[(network, page_ref, day)] = (
                history[t],
                same_weekday[t],
                same_weekday[t] >= zscore["min_same_weekday"],
                None if expected[t] is None else float(expected[t]),
                typical,
                float(scale),
                z,
            )
    return result


def assert_same_scores(left: dict, right: dict, tolerance: float = 0.0) -> None:
    """Equal scores; floats within `tolerance` (the reference's rounding to millionths in
    Python may differ from DuckDB's rounding of the same value in the last one)."""
    assert left.keys() == right.keys()
    for key, left_values in left.items():
        for column, a, b in zip(SCORE_COLUMNS, left_values, right[key], strict=True):
            if isinstance(a, float) and isinstance(b, float):
                assert a == pytest.approx(b, rel=tolerance, abs=tolerance), (key, column, a, b)
            else:
                assert a == b, (key, column, a, b)


def settings(**zscore) -> dict:
    dq = copy.deepcopy(project_dq_settings())
    dq["zscore"].update({k: v for k, v in zscore.items() if v is not None})
    return dq


@pytest.mark.parametrize(
    ("training_days", "detection_days", "min_history_days", "min_same_weekday"),
    [(None, None, None, None), (14, 1, 5, 2), (21, 8, 5, 2)],
    ids=["project-settings", "two-weeks-training", "detection-over-a-week"],
)
def test_scores_follow_the_rules(
    tmp_path, training_days, detection_days, min_history_days, min_same_weekday
):
    warehouse = tmp_path / "scores.duckdb"
    scored_count = write_page_changes(warehouse, seed=8)
    dq = settings(
        training_days=training_days,
        detection_days=detection_days,
        min_history_days=min_history_days,
        min_same_weekday=min_same_weekday,
    )
    macro = scores(warehouse, compiled(warehouse, dq)["scores"])

    assert len(macro) == scored_count
    assert_same_scores(macro, reference_scores(warehouse, dq["zscore"]), tolerance=1e-5)
    # the comparison covers every branch: scored, unscored, seasonal and not, spikes, capped
    values = list(macro.values())
    assert any(v[-1] is not None for v in values) and any(v[-1] is None for v in values)
    assert any(v[2] for v in values) and any(not v[2] and v[0] > 0 for v in values)
    assert any(abs(v[-1]) > 10 for v in values if v[-1] is not None)
    uncapped = reference_scores(warehouse, {**dq["zscore"], "deviation_clip": 1e12})
    assert any(uncapped[key][4] != value[4] for key, value in macro.items())


def test_a_rebuild_from_its_reach_scores_as_all_history(tmp_path):
    warehouse = tmp_path / "scores.duckdb"
    # the deepest day a score reads matters only through a capped deviation of a training day
    # whose expected change is a mean (no recent fresh day): spikes on one day in five and
    # most days stale make both common enough for the check that a day less changes something
    write_page_changes(warehouse, seed=11, spike_share=0.2, stale_shares=(0.6,))
    sql = compiled(warehouse, settings())
    reach = int(sql["reach"])
    all_history = scores(warehouse, sql["scores"])

    def rebuilt(rebuilt_from: date, days_back: int) -> dict:
        with duckdb.connect(str(warehouse)) as con:
            con.execute(
                "create or replace table window_changes as select * from page_changes "
                "where snapshot_date >= ?",
                [rebuilt_from - timedelta(days=days_back)],
            )
            con.execute(
                "create or replace table rebuild as select ?::date as rebuilt_from", [rebuilt_from]
            )
        return scores(warehouse, sql["window_scores"])

    one_day_short = 0
    for rebuilt_from in (date(2025, 3, 20) + timedelta(days=n) for n in range(0, 60, 2)):
        expected = {key: value for key, value in all_history.items() if key[2] >= rebuilt_from}
        assert_same_scores(rebuilt(rebuilt_from, reach), expected)
        try:
            assert_same_scores(rebuilt(rebuilt_from, reach - 1), expected)
        except AssertionError:
            one_day_short += 1
    # the reach is no longer than it must be: a day less changes some rebuild's scores
    assert one_day_short > 0


def test_training_days_must_be_whole_weeks(tmp_path):
    dq = settings(training_days=20)
    with pytest.raises(DbtError, match="whole number of weeks, got 20"):
        compiled(tmp_path / "scores.duckdb", dq)


def test_a_warehouse_scored_by_the_earlier_detector_drops_those_scores_once(tmp_path, caplog):
    import logging

    from gospulse.raw.warehouse import connect

    path = tmp_path / "gospulse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema intermediate")
        con.execute("create table intermediate.int_dq_page_days as select 1.5 as mad")
        con.execute("create table intermediate.int_page_days_filled as select 1 as members_count")
    with caplog.at_level(logging.INFO, logger="gospulse.raw.warehouse"), connect(path):
        pass
    assert "dropping the change scores of the earlier detector" in caplog.text
    with duckdb.connect(str(path)) as con:
        tables = {t for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()}
        con.execute("create table intermediate.int_dq_page_days as select 1.5 as typical_deviation")
    assert "int_dq_page_days" not in tables and "int_page_days_filled" in tables
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gospulse.raw.warehouse"), connect(path) as con:
        (kept,) = con.execute("select count(*) from intermediate.int_dq_page_days").fetchone()
    assert kept == 1 and "change scores" not in caplog.text


STATE_COLUMNS = (*SCORE_COLUMNS, "change", "deviation", "capped_deviation")
STEP_CALLS = {
    "trails": "{{ dq_change_scores('page_changes', none, every_day=true) }}",
    "step": "{{ dq_change_step('steps') }}",
    "state_days": "{{ dq_state_days() }}",
}


def write_page_days(warehouse: Path, seed: int) -> None:
    """Dense page days with a count and a freshness (page_days), and their changes as
    int_dq_page_days makes them (page_changes): both days fresh, else NULL."""
    rng = random.Random(seed)
    first_day = date(2025, 1, 1)
    rows = []
    for page in range(40):
        start = rng.randrange(0, 100)
        stale_share = rng.choice((0.0, 0.1, 0.4))
        weekly = [rng.randrange(-20, 40) for _ in range(7)]
        members = rng.randrange(100, 100_000)
        for offset in range(start, 150):
            day = first_day + timedelta(days=offset)
            if rng.random() < 0.03:
                members += rng.choice([-5000, 8000])
            else:
                members += weekly[day.weekday()] + rng.randrange(-3, 4) * 5
            rows.append(("vk", f"page-{page}", day, members, rng.random() >= stale_share))
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create or replace table page_days (network varchar, page_ref varchar, "
            "snapshot_date date, members_count bigint, is_fresh boolean)"
        )
        con.executemany("insert into page_days values (?, ?, ?, ?, ?)", rows)
        con.execute(
            "create or replace table page_changes as "
            "select network, page_ref, snapshot_date, case when is_fresh and lag(is_fresh) "
            "over w then members_count - lag(members_count) over w end as change "
            "from page_days window w as (partition by network, page_ref order by snapshot_date)"
        )


@pytest.mark.parametrize(
    ("training_days", "detection_days"),
    [(None, None), (21, 8)],
    ids=["project-settings", "detection-over-a-week"],
)
def test_the_state_stepped_day_by_day_scores_as_all_history(
    tmp_path, training_days, detection_days
):
    """int_dq_change_state's step (macro dq_change_step) from the windows' state on a day,
    then from its own state each next day, gives the windows' scores, changes and deviations
    over all history bit for bit: pages with a state, pages that start after it, stale days."""
    warehouse = tmp_path / "state.duckdb"
    write_page_days(warehouse, seed=5)
    sql = compile_inline(
        STEP_CALLS,
        warehouse,
        vars={"dq": settings(training_days=training_days, detection_days=detection_days)},
    )
    state_days = int(sql["state_days"])
    columns = ", ".join(STATE_COLUMNS)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"create table trails as {sql['trails']}")
        start = date(2025, 3, 20)
        # the state on `start` as a replay leaves it: each page's last days as lists
        con.execute(
            f"""
            create table state as
            select page_days.network, page_days.page_ref, page_days.snapshot_date,
                page_days.members_count, page_days.is_fresh,
                lists.changes, lists.deviations, lists.capped_deviations
            from page_days
            join (
                select network, page_ref,
                    list_resize(list(change order by snapshot_date desc), {state_days})
                        as changes,
                    list_resize(list(deviation order by snapshot_date desc), {state_days})
                        as deviations,
                    list_resize(list(capped_deviation order by snapshot_date desc),
                        {state_days}) as capped_deviations
                from trails
                where snapshot_date between ? - {state_days - 1} and ?
                group by all
            ) as lists using (network, page_ref)
            where page_days.snapshot_date = ?
            """,
            [start, start, start],
        )
        stepped_days = scored = 0
        for day in (start + timedelta(days=n) for n in range(1, 60)):
            con.execute(
                """
                create or replace table steps as
                select today.*, state.members_count as state_members_count,
                    state.is_fresh as state_is_fresh,
                    state.changes, state.deviations, state.capped_deviations
                from page_days as today
                left join state using (network, page_ref)
                where today.snapshot_date = ?
                """,
                [day],
            )
            con.execute(f"create or replace table stepped as {sql['step']}")
            got = con.execute(
                f"select network, page_ref, {columns} from stepped order by all"
            ).fetchall()
            expected = con.execute(
                f"select network, page_ref, {columns} from trails "
                "where snapshot_date = ? order by all",
                [day],
            ).fetchall()
            assert got == expected, day
            con.execute(
                "create or replace table state as select network, page_ref, snapshot_date, "
                "members_count, is_fresh, changes, deviations, capped_deviations from stepped"
            )
            stepped_days += 1
            scored += sum(1 for row in got if row[2 + SCORE_COLUMNS.index("z_score")] is not None)
        (new_pages,) = con.execute(
            "select count(distinct page_ref) from page_days "
            "where page_ref not in (select page_ref from page_days where snapshot_date = ?)",
            [start],
        ).fetchone()
    assert stepped_days == 59 and scored > 1000 and new_pages > 0

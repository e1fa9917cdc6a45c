"""The z-score's two implementations (macro dq_change_scores) agree row for row.

The windows compute the training medians with framed window functions over a page's whole
history (a first build); the pairs join each scored day to its training days and group (a
build that scores a few days). Both are compiled by one dbt call per setting and run on the
same random page histories in a real DuckDB file: gaps of stale days, pages that start late,
ties, weekly patterns — under the project's settings and shorter trainings.
"""

from __future__ import annotations

import copy
import random
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from gospulse.transform import DbtError, project_dir
from tests.conftest import compile_inline

pytestmark = pytest.mark.slow

MACRO_CALL = "{{{{ {macro}('page_changes', 'scored') }}}}"
SCORE_COLUMNS = (
    "history_days",
    "same_weekday_days",
    "is_seasonal",
    "expected_change",
    "mad",
    "change_scale",
    "z_score",
)


def project_dq_settings() -> dict:
    config = yaml.safe_load((project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    return config["vars"]["dq"]


def write_page_changes(warehouse: Path, seed: int) -> int:
    """Dense page days (no gaps from each page's first day), change NULL on non-fresh days."""
    rng = random.Random(seed)
    first_day = date(2025, 1, 1)
    rows = []
    for page in range(40):
        start = rng.randrange(0, 60)
        stale_share = rng.choice([0.0, 0.1, 0.4])
        weekly = [rng.randrange(-20, 40) for _ in range(7)]
        for offset in range(start, 150):
            day = first_day + timedelta(days=offset)
            if rng.random() < stale_share:
                change = None
            elif rng.random() < 0.02:
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
        con.execute(
            "create or replace table scored as select * from page_changes where change is not null"
        )
        return con.execute("select count(*) from scored").fetchone()[0]


def compiled(macros: list[str], warehouse: Path, dq: dict) -> list[str]:
    """The macros' SQL under the settings dq, from one `dbt compile`."""
    calls = {m: MACRO_CALL.format(macro=m) for m in macros}
    return list(compile_inline(calls, warehouse, vars={"dq": dq}).values())


def scores(warehouse: Path, sql: str) -> dict[tuple, tuple]:
    columns = ", ".join(SCORE_COLUMNS)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            f"select network, page_ref, snapshot_date, {columns} from ({sql}) as s"
        ).fetchall()
    return {row[:3]: row[3:] for row in rows}


def assert_same_scores(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for key, left_values in left.items():
        for column, a, b in zip(SCORE_COLUMNS, left_values, right[key], strict=True):
            if isinstance(a, float) and isinstance(b, float):
                assert a == pytest.approx(b, rel=1e-12, abs=1e-12), (key, column, a, b)
            else:
                assert a == b, (key, column, a, b)


@pytest.mark.parametrize(
    ("training_days", "detection_days", "min_history_days", "min_same_weekday"),
    [(None, None, None, None), (14, 1, 5, 2), (21, 8, 5, 2)],
    ids=["project-settings", "two-weeks-training", "detection-over-a-week"],
)
def test_window_scores_equal_paired_scores(
    tmp_path, training_days, detection_days, min_history_days, min_same_weekday
):
    warehouse = tmp_path / "scores.duckdb"
    scored_count = write_page_changes(warehouse, seed=8)
    dq = copy.deepcopy(project_dq_settings())
    for key, value in (
        ("training_days", training_days),
        ("detection_days", detection_days),
        ("min_history_days", min_history_days),
        ("min_same_weekday", min_same_weekday),
    ):
        if value is not None:
            dq["zscore"][key] = value

    windowed_sql, paired_sql = compiled(
        ["duckdb__dq_change_scores", "default__dq_change_scores"], warehouse, dq
    )
    windowed, paired = scores(warehouse, windowed_sql), scores(warehouse, paired_sql)

    assert len(windowed) == scored_count
    assert_same_scores(windowed, paired)
    # the comparison covers every branch: scored, unscored, seasonal and not, spikes
    values = list(windowed.values())
    assert any(v[-1] is not None for v in values) and any(v[-1] is None for v in values)
    assert any(v[2] for v in values) and any(not v[2] and v[0] > 0 for v in values)
    assert any(abs(v[-1]) > 10 for v in values if v[-1] is not None)


def test_training_days_must_be_whole_weeks(tmp_path):
    dq = copy.deepcopy(project_dq_settings())
    dq["zscore"]["training_days"] = 20
    with pytest.raises(DbtError, match="whole number of weeks, got 20"):
        compiled(["dq_change_scores"], tmp_path / "scores.duckdb", dq)

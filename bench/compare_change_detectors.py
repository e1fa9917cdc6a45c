"""Compare: the change score's false alarms and recall on noisy synthetic pages, two detectors.

bench_dq_alarms.py scores the rules on the demo World, whose day-to-day noise is so small that
any sane detector is quiet there. This one asks the z-score rule alone to tell real waves from
noise that looks like real pages: counts from 200 to 200,000 (log-uniform), a trend, a weekly
pattern, heavy-tailed day-to-day noise (Student's t, --tail-df degrees of freedom) growing with
the square root of the count, and 5 % of days stale. Then:

- a wave on three pages in ten: one day's step of max(6 sigma, 80, 2 % of the count), up or
  down, days 60-140;
- half of those pages first get a glitch 5-24 days before the wave: the count off by
  max(8 sigma, 5 %, 200) for one day (a bad read), which a detector whose scale a glitch
  inflates misses the wave after.

The macro dq_change_scores of each dbt project runs on the same table (one row per page and
day) and a change is flagged as mart_dq_incidents' zscore rule flags it: |change - expected| >=
max(threshold x scale, min_abs_change, min_pct_change % of yesterday's count), with the
project's own settings. Printed per detector and threshold: false alarms per 1,000 scored
page-days (a flag on a day nothing was injected), recall of the waves, and of the waves after a
glitch. Run the earlier detector from another checkout's dbt_project:

    git worktree add /tmp/gospulse-before <commit>
    .venv/bin/python bench/compare_change_detectors.py WORK_DIR \\
        --reference-project /tmp/gospulse-before/dbt_project
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gospulse.config.dbt_project import PROJECT_DIR_ENV, project_dir  # noqa: E402
from gospulse.transform.run import compile_inline  # noqa: E402

MACRO_CALL = "{{ dq_change_scores('page_changes') }}"
# the macro's call before it scored every change from a date on (a table of them then)
REFERENCE_CALL = "{{ dq_change_scores('page_changes', 'scored') }}"
THRESHOLDS = (2.5, 3.0, 3.5, 4.0, 5.0)
START = pd.Timestamp("2025-01-01")


def synthetic_pages(pages: int, days: int, tail_df: int, seed: int):
    """(changes frame, injected frame): each page's daily changes and what was injected where."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.uniform(np.log(200), np.log(200_000), pages))
    sigma = rng.uniform(0.5, 2, pages) * np.sqrt(base) / 5 + 0.5
    trend = base * rng.uniform(-0.0005, 0.002, pages)
    weekly = rng.normal(0, 1, (pages, 7)) * (sigma * rng.uniform(0, 1.5, pages))[:, None]
    noise = rng.standard_t(tail_df, (pages, days)) / np.sqrt(tail_df / (tail_df - 2))
    weekday = (np.arange(days) + START.dayofweek) % 7
    change = trend[:, None] + weekly[:, weekday] + noise * sigma[:, None]
    stale = rng.random((pages, days)) < 0.05
    injected = []
    for page in np.flatnonzero(rng.random(pages) < 0.3):
        wave_day = int(rng.integers(60, 141))
        if rng.random() < 0.5:
            glitch_day = int(rng.integers(40, 111))
            size = max(8 * sigma[page], 0.05 * base[page], 200) * rng.choice((-1, 1))
            change[page, glitch_day] += size
            change[page, glitch_day + 1] -= size
            stale[page, glitch_day : glitch_day + 2] = False
            injected += [(page, glitch_day, "glitch"), (page, glitch_day + 1, "glitch")]
            wave_day = min(glitch_day + int(rng.integers(5, 25)), days - 1)
        change[page, wave_day] += max(6 * sigma[page], 80, 0.02 * base[page]) * rng.choice((-1, 1))
        stale[page, wave_day] = False
        injected.append((page, wave_day, "wave"))
    change = np.round(change)
    members = base[:, None] + np.cumsum(change, axis=1)
    members_prev = np.concatenate([base[:, None], members[:, :-1]], axis=1)
    frame = pd.DataFrame(
        {
            "network": "vk",
            "page_ref": np.repeat([f"page-{p}" for p in range(pages)], days),
            "snapshot_date": np.tile(pd.date_range(START, periods=days).date, pages),
            "change": np.where(stale, np.nan, change).ravel(),
            "members_prev": members_prev.ravel(),
        }
    )
    marks = pd.DataFrame(injected, columns=["page", "day", "kind"])
    marks["page_ref"] = "page-" + marks.page.astype(str)
    marks["snapshot_date"] = (START + pd.to_timedelta(marks.day, unit="D")).dt.date
    glitched = set(marks.page[marks.kind == "glitch"])
    marks["after_glitch"] = marks.page.isin(glitched)
    return frame, marks


def zscore_settings(project: Path) -> dict:
    config = yaml.safe_load((project / "dbt_project.yml").read_text(encoding="utf-8"))
    return config["vars"]["dq"]["zscore"]


def compile_macro(project: Path, warehouse: Path, call: str) -> str:
    os.environ[PROJECT_DIR_ENV] = str(project)
    try:
        return compile_inline({"scores": call}, warehouse)["scores"]
    finally:
        os.environ.pop(PROJECT_DIR_ENV)


def score(con, project: Path, sql: str, marks: pd.DataFrame) -> None:
    settings = zscore_settings(project)
    started = time.perf_counter()
    con.execute(f"create or replace table scores as {sql}")
    seconds = time.perf_counter() - started
    (scored,) = con.execute("select count(*) from scores where z_score is not null").fetchone()
    waves = marks[marks.kind == "wave"]
    print(f"{project}: scored {scored:,} page-days in {seconds:.1f} s")
    for threshold in THRESHOLDS:
        flagged = con.execute(
            """
            select scores.page_ref, scores.snapshot_date
            from scores
            join page_changes using (network, page_ref, snapshot_date)
            join page_counts using (network, page_ref, snapshot_date)
            where scores.z_score is not null
                and abs(page_changes.change - scores.expected_change) >= greatest(
                    ? * scores.change_scale, ?, page_counts.members_prev * ? / 100.0)
            """,
            [threshold, settings["min_abs_change"], settings["min_pct_change"]],
        ).df()
        flagged["snapshot_date"] = pd.to_datetime(flagged.snapshot_date).dt.date
        hits = flagged.merge(marks, on=["page_ref", "snapshot_date"], how="left")
        false_alarms = int(hits.kind.isna().sum())
        caught = waves.merge(flagged, on=["page_ref", "snapshot_date"], how="inner")
        after = waves[waves.after_glitch]
        caught_after = caught[caught.after_glitch]
        mark = " (the project's)" if threshold == settings["threshold"] else ""
        print(
            f"  threshold {threshold}{mark}: false alarms {1000 * false_alarms / scored:.2f} per "
            f"1,000; recall {len(caught)}/{len(waves)} = {len(caught) / len(waves):.1%}; after a "
            f"glitch {len(caught_after)}/{len(after)} = {len(caught_after) / len(after):.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--days", type=int, default=150)
    parser.add_argument("--tail-df", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reference-project", type=Path, help="another checkout's dbt_project")
    parser.add_argument("--reference-call", default=REFERENCE_CALL)
    args = parser.parse_args()
    if args.days < 150:
        parser.error("--days must be at least 150 (waves fall on days 60-140)")

    frame, marks = synthetic_pages(args.pages, args.days, args.tail_df, args.seed)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    warehouse = args.work_dir / "detectors.duckdb"
    warehouse.unlink(missing_ok=True)
    con = duckdb.connect(str(warehouse))
    con.register("frame", frame)
    con.execute(
        "create table page_changes as select network, page_ref, snapshot_date, "
        "cast(change as bigint) as change from frame"
    )
    con.execute(
        "create table page_counts as select network, page_ref, snapshot_date, members_prev "
        "from frame"
    )
    con.execute("create table scored as select * from page_changes where change is not null")
    con.close()
    print(
        f"{args.pages:,} pages x {args.days} days, Student's t noise with {args.tail_df} "
        f"degrees of freedom, seed {args.seed}: {int((marks.kind == 'wave').sum())} waves, "
        f"{int(marks[marks.kind == 'wave'].after_glitch.sum())} of them after a glitch"
    )
    calls = {project_dir().resolve(): MACRO_CALL}
    if args.reference_project:
        calls[args.reference_project.resolve()] = args.reference_call
    # compiled before the table is opened here: dbt's process opens the same file
    compiled = {project: compile_macro(project, warehouse, call) for project, call in calls.items()}
    con = duckdb.connect(str(warehouse))
    try:
        for project, sql in compiled.items():
            score(con, project, sql, marks)
    finally:
        con.close()


if __name__ == "__main__":
    main()

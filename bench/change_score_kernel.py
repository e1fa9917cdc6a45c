"""Study: the change score (macro dq_change_scores) as one pass of numpy over sorted page days.

A first build spends most of `int_dq_page_days` in window operators, and the detector's chain is
four of them in a row (the change's lag, the training's counts and lags, the deviations' mean,
the capped deviations' mean), each a new partition and sort of every page day. This script
computes the same scores from one sorted read: every framed sum becomes a difference of two
running sums, every lag a shifted array. It runs the macro (SQL) and this kernel on the same
dense page days, checks that every score is bit for bit the macro's, and prints both times
beside the plain rolling z the other benchmarks use as the floor, so the redesign of the first
build (one pass from raw per bucket of pages) can be judged on measured figures.

    .venv/bin/python bench/change_score_kernel.py WORK_DIR --pages 20000 --days 730

Not used by the models: the study measures what a vectorised first build would save.
Exactness rests on two things: the deviations are whole numbers of millionths, summed as int64
running sums (a wrap-around cancels in the difference, like the macro's exact double sums), and
DuckDB's round() rounds half away from zero, which `round_half_away` reproduces for the
non-negative values it is given.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_change_scores import FLOOR_SQL, MACRO_CALL, write_dense_changes  # noqa: E402

from gospulse.config.dbt_project import project_dir  # noqa: E402
from gospulse.transform.run import compile_inline  # noqa: E402

MICRO = 1_000_000
SCORE_COLUMNS = (
    "history_days",
    "same_weekday_days",
    "is_seasonal",
    "expected_change",
    "typical_deviation",
    "change_scale",
    "z_score",
)


@dataclass(frozen=True)
class Detector:
    """The dq.zscore settings of dbt_project.yml the macro compiles with."""

    training_days: int
    detection_days: int
    min_same_weekday: int
    min_history_days: int
    deviation_clip: float
    min_scale: float

    @classmethod
    def from_project(cls, project: Path) -> Detector:
        config = yaml.safe_load((project / "dbt_project.yml").read_text(encoding="utf-8"))
        z = config["vars"]["dq"]["zscore"]
        return cls(
            training_days=int(z["training_days"]),
            detection_days=int(z["detection_days"]),
            min_same_weekday=int(z["min_same_weekday"]),
            min_history_days=int(z["min_history_days"]),
            deviation_clip=float(z["deviation_clip"]),
            min_scale=float(z["min_scale"]),
        )

    @property
    def reach(self) -> int:
        return self.detection_days + self.training_days - 1

    @property
    def same_weekday_lags(self) -> list[int]:
        return [lag for lag in range(self.detection_days, self.reach + 1) if lag % 7 == 0]

    @property
    def recent_lags(self) -> list[int]:
        return list(range(self.detection_days, self.detection_days + 3))


def round_half_away(x: np.ndarray) -> np.ndarray:
    """DuckDB's round() of non-negative doubles (numpy's rounds half to even); x - floor(x)
    is exact, so the comparison is too."""
    floor = np.floor(x)
    return floor + (x - floor >= 0.5)


class Pages:
    """Where each row's page starts, for arrays sorted by page and day, one row a day."""

    def __init__(self, new_page: np.ndarray):
        self.starts = np.flatnonzero(new_page)
        self.lengths = np.diff(np.append(self.starts, len(new_page)))
        self.pos = np.arange(len(new_page)) - np.repeat(self.starts, self.lengths)

    def shifted(self, x: np.ndarray, lag: int) -> np.ndarray:
        """x of the row `lag` days back in the same page, NaN before the page's first day."""
        out = np.full_like(x, np.nan)
        out[lag:] = x[:-lag]
        out[self.pos < lag] = np.nan
        return out

    def framed(self, x: np.ndarray, reach: int, near: int) -> tuple[np.ndarray, np.ndarray]:
        """Sum and count of the non-NaN whole numbers x over rows i-reach .. i-near of each
        row's page (the macro's `rows between reach preceding and near preceding`)."""
        present = ~np.isnan(x)
        n = len(x)
        found = []
        for values in (np.where(present, x, 0).astype(np.int64), present.astype(np.int64)):
            running = np.zeros(n + 1, np.int64)
            np.cumsum(values, out=running[1:])
            upto = np.zeros(n, np.int64)
            upto[near - 1 :] = running[: n - near + 1]
            since = np.zeros(n, np.int64)
            since[reach:] = running[: n - reach]
            page_first = np.repeat(running[self.starts], self.lengths)
            since = np.where(self.pos >= reach, since, page_first)
            found.append(np.where(self.pos >= near, upto - since, 0))
        return found[0], found[1]


def short_median(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The median of up to four NaN-or-value columns, row by row, as the macro's closed form
    (count, sum, largest, smallest), and how many are present."""
    present = sum((~np.isnan(c)).astype(np.int64) for c in columns)
    total = sum(np.where(np.isnan(c), 0, c) for c in columns)
    largest, smallest = columns[0], columns[0]
    for column in columns[1:]:
        largest, smallest = np.fmax(largest, column), np.fmin(smallest, column)
    middle = total - np.where(np.isnan(largest), 0, largest)
    middle -= np.where(np.isnan(smallest), 0, smallest)
    cases = [present == 1, present == 2, present == 3, present == 4][: len(columns)]
    values = [total, total / 2.0, middle, middle / 2.0][: len(columns)]
    return np.select(cases, values, np.nan), present


def change_scores(pages: Pages, change: np.ndarray, detector: Detector) -> dict[str, np.ndarray]:
    """Every row's scores from its page's changes (NaN where none), as dq_change_scores."""
    reach, near = detector.reach, detector.detection_days
    training_sum, history_days = pages.framed(change, reach, near)
    weekday, same_weekday_days = short_median(
        [pages.shifted(change, lag) for lag in detector.same_weekday_lags]
    )
    recent, recent_days = short_median([pages.shifted(change, lag) for lag in detector.recent_lags])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(history_days > 0, training_sum / history_days, np.nan)
        is_seasonal = same_weekday_days >= detector.min_same_weekday
        expected = np.where(is_seasonal, weekday, np.where(recent_days > 0, recent, mean))
        deviation = round_half_away(np.abs(change - expected) * MICRO)
        deviation_sum, deviation_count = pages.framed(deviation, reach, near)
        raw_deviation = np.where(deviation_count > 0, deviation_sum / deviation_count, np.nan)
        capped = np.fmin(deviation, round_half_away(detector.deviation_clip * raw_deviation))
        capped[np.isnan(deviation)] = np.nan
        capped_sum, capped_count = pages.framed(capped, reach, near)
        typical = np.where(capped_count > 0, capped_sum / capped_count / MICRO, np.nan)
        scale = np.fmax(np.sqrt(np.pi / 2) * typical, detector.min_scale)
        scored = (history_days >= detector.min_history_days) & (capped_count > 0)
        z_score = np.where(scored, (change - expected) / scale, np.nan)
    return {
        "history_days": history_days,
        "same_weekday_days": same_weekday_days,
        "is_seasonal": is_seasonal,
        "expected_change": expected,
        "typical_deviation": typical,
        "change_scale": scale,
        "z_score": z_score,
    }


def scores_in_parts(new_page: np.ndarray, change: np.ndarray, detector: Detector, parts: int):
    """change_scores over `parts` runs of whole pages at once (numpy drops the GIL)."""
    starts = np.flatnonzero(new_page)
    cuts = [0] + [int(starts[len(starts) * k // parts]) for k in range(1, parts)] + [len(change)]

    def one(bounds: tuple[int, int]) -> dict[str, np.ndarray]:
        lo, hi = bounds
        return change_scores(Pages(new_page[lo:hi]), change[lo:hi], detector)

    with ThreadPoolExecutor(parts) as pool:
        found = list(pool.map(one, zip(cuts, cuts[1:], strict=False)))
    return {name: np.concatenate([part[name] for part in found]) for name in SCORE_COLUMNS}


def run_kernel(con: duckdb.DuckDBPyConnection, detector: Detector, parts: int):
    """The sorted read, the kernel and the scored rows back in DuckDB (table kernel_scores):
    the seconds of each and in all."""
    started = time.perf_counter()
    read = con.execute(
        "select hash(network, page_ref) as page, snapshot_date, change from page_changes "
        "order by network, page_ref, snapshot_date"
    ).fetchnumpy()
    page = np.asarray(read["page"])
    change = np.ma.filled(np.ma.asarray(read["change"]).astype(np.float64), np.nan)
    new_page = np.ones(len(page), bool)
    new_page[1:] = page[1:] != page[:-1]
    fetched = time.perf_counter()
    scores = scores_in_parts(new_page, change, detector, parts)
    computed = time.perf_counter()
    keep = ~np.isnan(change)
    written = {"page": page[keep], "snapshot_date": np.asarray(read["snapshot_date"])[keep]}
    written |= {name: values[keep] for name, values in scores.items()}
    con.register("kernel_frame", pd.DataFrame(written))
    floats = ("expected_change", "typical_deviation", "change_scale", "z_score")
    # NaN is the kernel's NULL: DuckDB compares NaN equal to NaN, so nullif turns it back
    columns = [f"nullif({c}, 'NaN'::double) as {c}" if c in floats else c for c in SCORE_COLUMNS]
    con.execute(
        "create or replace temp table kernel_scores as select page, snapshot_date, "
        + ", ".join(columns)
        + " from kernel_frame"
    )
    con.unregister("kernel_frame")
    done = time.perf_counter()
    return fetched - started, computed - fetched, done - computed, done - started


def differing_rows(con: duckdb.DuckDBPyConnection) -> int:
    """Scored rows where any column differs from the macro's (or is missing from either)."""
    differs = " or ".join(f"s.{c} is distinct from k.{c}" for c in SCORE_COLUMNS)
    found = con.execute(
        "select count(*) from scores as s full join kernel_scores as k "
        "on k.page = hash(s.network, s.page_ref) and k.snapshot_date = s.snapshot_date "
        f"where s.snapshot_date is null or k.snapshot_date is null or {differs}"
    ).fetchone()
    assert found is not None
    return int(found[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work_dir", type=Path, help="where the table goes (reused if there)")
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default="5GB")
    parser.add_argument("--threads", type=int, default=2, help="page runs the kernel splits into")
    args = parser.parse_args()

    args.work_dir.mkdir(parents=True, exist_ok=True)
    warehouse = args.work_dir / f"changes_{args.pages}x{args.days}.duckdb"
    if not warehouse.exists():
        write_dense_changes(warehouse, args.pages, args.days)
    detector = Detector.from_project(project_dir())
    sql = compile_inline({"scores": MACRO_CALL}, warehouse)["scores"]
    macro, floor, kernel = [], [], []
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"set memory_limit = '{args.memory_limit}'")
        for _ in range(args.repeat):
            started = time.perf_counter()
            con.execute(f"create or replace temp table scores as {sql}")
            macro.append(time.perf_counter() - started)
            started = time.perf_counter()
            con.execute(f"create or replace temp table floor_scores as {FLOOR_SQL}")
            floor.append(time.perf_counter() - started)
            kernel.append(run_kernel(con, detector, args.threads))
        counted = con.execute("select count(*) from scores").fetchone()
        assert counted is not None
        rows = int(counted[0])
        differing = differing_rows(con)
    finally:
        con.close()
    parts = [statistics.median(run[k] for run in kernel) for k in range(4)]
    print(
        f"{args.pages:,} pages x {args.days} days, {rows:,} scores, {args.repeat} runs each "
        f"(medians):\n"
        f"  macro (SQL windows) {statistics.median(macro):.1f} s\n"
        f"  kernel ({args.threads} threads) {parts[3]:.1f} s: sorted read {parts[0]:.1f} s, "
        f"numpy {parts[1]:.1f} s, rows back into DuckDB {parts[2]:.1f} s\n"
        f"  floor (plain rolling z) {statistics.median(floor):.1f} s; macro / kernel "
        f"{statistics.median(macro) / parts[3]:.1f}, kernel / floor "
        f"{parts[3] / statistics.median(floor):.1f}\n"
        f"  rows whose scores differ from the macro's: {differing:,}"
    )
    if differing:
        raise SystemExit("the kernel's scores are not the macro's")


if __name__ == "__main__":
    main()

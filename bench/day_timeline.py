"""Where one incremental day's `dbt build` spends its wall time, node by node.

bench_transform.py times the day as a whole; this runs the same day on a copy of a warehouse
kept by `bench_transform.py --keep`, reads dbt's console lines (each node's start and its
time), and prints:
- the critical path through the project's graph: the longest chain of node times, as `dbt
  build` orders nodes (a model's children wait for its data tests), which bounds the wall time
  however many threads dbt has;
- the time each resource type and each model spent, summed over dbt's threads;
- the gap between dbt's start and its first node (the process start, imports and parse).

    .venv/bin/python bench/day_timeline.py KEPT_WAREHOUSE COPY [--pages 200000] [--days 730]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_transform import NO_UNIT_TESTS, append_day  # noqa: E402

from gospulse.transform.dbt_manifest import require_manifest  # noqa: E402
from gospulse.transform.run import dbt_state_dir, run_dbt  # noqa: E402

# dbt's console line of a node's start: "HH:MM:SS  N of M START <what> ... [RUN]"
START = re.compile(r"^(\d\d:\d\d:\d\d)\s+(\d+) of \d+ START (.+?) \.*\s*\[RUN\]")
# and of its end: "HH:MM:SS  N of M OK created <what> ... [OK in S.SSs]" (or PASS, FAIL, ...)
DONE = re.compile(
    r"^(\d\d:\d\d:\d\d)\s+(\d+) of \d+ (OK|PASS|WARN|ERROR|FAIL|SKIP).*in (\d+\.\d+)s\]"
)


@dataclass
class Node:
    index: int
    what: str
    start: datetime
    seconds: float = 0.0

    @property
    def kind(self) -> str:
        if self.what.startswith("test"):
            return "test"
        if "snapshot" in self.what:
            return "snapshot"
        return "model"


def parse(output: str, day: datetime) -> list[Node]:
    nodes: dict[int, Node] = {}
    for line in output.splitlines():
        if m := START.match(line):
            at = datetime.combine(day.date(), datetime.strptime(m[1], "%H:%M:%S").time())
            nodes[int(m[2])] = Node(int(m[2]), m[3].strip(), at)
        elif (m := DONE.match(line)) and int(m[2]) in nodes:
            nodes[int(m[2])].seconds = float(m[4])
    return sorted(nodes.values(), key=lambda n: n.start)


def critical_path(nodes: list[Node], manifest: dict) -> tuple[float, list[Node]]:
    """The longest chain of node times through the project's graph, as `dbt build` orders it:
    a node starts after its parents and, for a parent model, after that model's data tests.
    Its length is the build's wall time with unlimited threads and no wait between nodes."""
    by_name = {node.what.split(" ")[-1].split(".")[-1]: node for node in nodes}
    graph = {**manifest["nodes"], **manifest.get("sources", {})}
    tests_of: dict[str, list[str]] = {}
    for unique_id, entry in graph.items():
        if entry.get("resource_type") == "test":
            for parent in entry["depends_on"]["nodes"]:
                tests_of.setdefault(parent, []).append(unique_id)
    finish: dict[str, tuple[float, list[str]]] = {}

    def earliest_finish(unique_id: str) -> tuple[float, list[str]]:
        if unique_id in finish:
            return finish[unique_id]
        entry = graph[unique_id]
        ran = by_name.get(entry["name"])
        own = ran.seconds if ran else 0.0
        waits = list(entry.get("depends_on", {}).get("nodes", []))
        if entry.get("resource_type") != "test":
            for parent in list(waits):
                waits += [t for t in tests_of.get(parent, []) if t != unique_id]
        best: tuple[float, list[str]] = (0.0, [])
        for parent in waits:
            if parent in graph and parent != unique_id:
                candidate = earliest_finish(parent)
                if candidate[0] > best[0]:
                    best = candidate
        finish[unique_id] = (best[0] + own, best[1] + ([unique_id] if ran else []))
        return finish[unique_id]

    length, chain = max((earliest_finish(u) for u in graph), key=lambda x: x[0])
    return length, [by_name[graph[u]["name"]] for u in chain]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kept", type=Path)
    parser.add_argument("copy", type=Path)
    parser.add_argument("--pages", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=730)
    args = parser.parse_args()
    args.copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.kept, args.copy)
    state = dbt_state_dir(args.kept)
    if state.exists():
        shutil.copytree(state, dbt_state_dir(args.copy), dirs_exist_ok=True)
    append_day(args.copy, args.pages, args.days)
    began = datetime.now()
    t0 = time.perf_counter()
    result = run_dbt(["build", *NO_UNIT_TESTS], warehouse=args.copy)
    wall = time.perf_counter() - t0
    nodes = parse(result.output, began)
    print(f"dbt build of the day: {wall:.1f} s wall, {len(nodes)} nodes, success {result.success}")
    if not nodes:
        print(result.output[-3000:])
        return
    before = (nodes[0].start - began).total_seconds()
    print(f"  before the first node: {before:.0f} s (dbt's start and parse; whole seconds)")
    by_kind: dict[str, float] = {}
    for node in nodes:
        by_kind[node.kind] = by_kind.get(node.kind, 0.0) + node.seconds
    print("  node time by kind: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(by_kind.items())))
    manifest = json.loads(require_manifest().read_text())
    length, chain = critical_path(nodes, manifest)
    print(f"  critical path through the graph: {length:.1f} s of node time")
    for node in chain:
        print(f"    {node.start:%H:%M:%S} {node.seconds:6.2f} s  {node.what}")
    print("  slowest nodes:")
    for node in sorted(nodes, key=lambda n: -n.seconds)[:15]:
        print(f"    {node.seconds:6.2f} s  {node.what}")


if __name__ == "__main__":
    main()

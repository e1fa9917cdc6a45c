"""The dbt process of `gospulse.transform.run.run_dbt`: dbt's CLI, invoked in-process, that hands
its node results back as a small JSON file.

dbt writes `manifest.json` twice (after parsing and after the run) and `run_results.json` on
every command; on a region's daily build those writes are a measurable share of the whole
process, and gospulse reads only each node's id, status, message, time and compiled SQL. So the
commands that run nodes (build, run, test, snapshot, seed) get `--no-write-json` and this
module writes exactly those fields from dbt's in-memory result.

    python -m gospulse.transform.dbt_child RESULTS_JSON DBT_ARG...

Exit code as dbt's CLI: 0 success, 1 a node failed, 2 dbt itself failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# the dbt commands that run nodes: their JSON artifacts are replaced by RESULTS_JSON
NODE_COMMANDS = frozenset({"build", "run", "test", "snapshot", "seed"})


def node_results(result: object) -> list[dict]:
    """id, status, message, execution time and compiled SQL of each node dbt ran."""
    nodes = []
    for r in getattr(result, "results", None) or []:
        node = getattr(r, "node", None)
        if node is None:
            continue
        nodes.append(
            {
                "unique_id": node.unique_id,
                "status": str(getattr(r.status, "value", r.status)),
                "message": r.message,
                "execution_time": r.execution_time,
                "compiled_code": getattr(node, "compiled_code", None),
            }
        )
    return nodes


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(
            "usage: python -m gospulse.transform.dbt_child RESULTS_JSON DBT_ARG...",
            file=sys.stderr,
        )
        return 2
    results_path, args = Path(argv[0]), list(argv[1:])
    if args[0] in NODE_COMMANDS:
        args.append("--no-write-json")
    from dbt.cli.main import dbtRunner

    outcome = dbtRunner().invoke(args)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps({"results": node_results(outcome.result)}), encoding="utf-8")
    if outcome.exception is not None and not isinstance(outcome.exception, SystemExit):
        print(f"dbt failed: {outcome.exception!r}", file=sys.stderr)
        return 2
    return 0 if outcome.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

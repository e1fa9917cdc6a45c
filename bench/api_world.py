"""What the API benchmarks share: a published fixture world, its tokens, and `gospulse api
serve` running on loopback as its own process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gospulse.api.tokens import TokenStore  # noqa: E402
from gospulse.serving.publish import publish_marts  # noqa: E402
from gospulse.transform import run as transform  # noqa: E402

SERVE = (
    "import argparse, sys\n"
    "from gospulse.cli.api import add_commands\n"
    "p = argparse.ArgumentParser(); add_commands(p.add_subparsers(dest='c'))\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
)


def published_world(folder: Path, warehouse: Path | None = None) -> tuple[Path, dict[str, str]]:
    """The dbt fixture world (or `warehouse`) published under `folder`, with two tokens:
    'all' regions and 'scoped' to region 42."""
    if warehouse is None:
        from tests.warehouse_fixtures import build_world

        warehouse = build_world(folder / "gospulse.duckdb")
        print(transform.build(warehouse).describe())
    target = folder / "published" / "gospulse_marts.duckdb"
    pub = publish_marts(warehouse, run_id="bench", snapshot_date=date.today(), target=target)
    print(f"published {sum(pub.row_counts.values())} rows in {len(pub.row_counts)} marts")
    store = TokenStore(folder / "tokens.json")
    tokens = {"all": store.add("bench", "*")[0], "scoped": store.add("bench42", "42")[0]}
    return target, tokens


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def api_serving(published: Path, tokens_file: Path) -> Iterator[str]:
    """`gospulse api serve` on a free loopback port, the rate limit out of the way (this
    measures serving, not throttling); yields its base URL once /health answers."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, "api", "serve", "--port", str(port)]
        + ["--published", str(published), "--tokens", str(tokens_file)]
        + ["--rate", "1000000", "--burst", "1000000"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("api serve did not come up") from None
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

"""`gospulse registry validate`, `extract`, `audience`, `overlap`, `import-snapshots`,
`build`, `docs` and `dbt`: the pipeline's steps, run by hand."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from gospulse.cli.common import parse_date
from gospulse.registry.pages import registry_paths, validate_registry


def cmd_registry_validate(args: argparse.Namespace) -> int:
    bad = 0
    for path in registry_paths(args.path):
        result = validate_registry(path)
        for err in result.errors:
            print(f"{path}:{err.line}: {err.reason}")
        bad += len(result.errors)
        print(
            f"{path}: {len(result.pages)} valid pages, {len(result.errors)} bad rows",
            file=sys.stderr,
        )
    return 1 if bad else 0


def cmd_extract(args: argparse.Namespace) -> int:
    from gospulse.extract.networks import (
        NETWORK_NAMES,
        NetworkConfigError,
        extractor_for,
        parse_networks,
    )
    from gospulse.extract.pipeline import extract_network, read_registry
    from gospulse.raw.warehouse import warehouse_path

    try:
        networks = parse_networks(args.networks)
    except NetworkConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    registry = read_registry(args.registry)
    if registry.errors:
        print(
            f"registry: {len(registry.errors)} bad rows skipped (see `gospulse registry validate`)",
            file=sys.stderr,
        )
    failed = []
    for network in networks:
        if not any(p.network == network for p in registry.pages):
            print(f"{network}: no pages registered, skipped")
            continue
        # one network's outage or missing credentials is reported; the others still run
        try:
            extractor = extractor_for(network)
            try:
                summary = extract_network(
                    network,
                    args.date,
                    registry=registry,
                    warehouse=warehouse_path(),
                    extractor=extractor,
                )
            finally:
                extractor.close()
        except Exception as exc:  # noqa: BLE001 — reported with the network's name, exit 1
            print(f"{network}: {NETWORK_NAMES[network]} extraction failed: {exc}", file=sys.stderr)
            failed.append(network)
            continue
        print(summary.describe())
        if summary.status in ("failed", "rejected"):
            failed.append(network)
    return 1 if failed else 0


def cmd_audience(args: argparse.Namespace) -> int:
    from gospulse.audience.collect import collect_vk_audience
    from gospulse.extract.pipeline import read_registry, vk_client_from_env
    from gospulse.raw.sketches import hasher_from_env
    from gospulse.raw.warehouse import warehouse_path

    summary = collect_vk_audience(
        args.date,
        registry=read_registry(args.registry),
        warehouse=warehouse_path(),
        client=vk_client_from_env(),
        hasher=hasher_from_env(),
    )
    print(summary.describe())
    return 0 if summary.pages_failed == 0 else 1


def cmd_overlap(args: argparse.Namespace) -> int:
    from gospulse.audience.overlap import page_overlap
    from gospulse.raw.warehouse import warehouse_path

    result = page_overlap(
        args.page_a, args.page_b, network=args.network, as_of=args.date, warehouse=warehouse_path()
    )
    print(result.describe())
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from gospulse.raw.history_import import import_history
    from gospulse.raw.warehouse import warehouse_path

    try:
        result = import_history(
            Path(args.path), warehouse_path(), allow_unregistered=args.allow_unregistered
        )
    except ValueError as exc:  # the file as a whole: missing, not a table, no usable header
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for err in result.errors:
        print(f"{args.path}:{err.line}: {err.reason}")
    unlisted = result.bad_rows - len(result.errors)
    if unlisted:
        print(f"{args.path}: {unlisted} more bad rows not listed")
    if result.ignored_columns:
        print(
            f"{args.path}: columns not imported: {', '.join(result.ignored_columns)}",
            file=sys.stderr,
        )
    written = result.written.written if result.written else 0
    kept = result.written.kept_existing if result.written else 0
    print(
        f"imported {written} snapshots, {result.bad_rows} bad rows rejected"
        + (f", {kept} error rows not stored over good data" if kept else ""),
        file=sys.stderr,
    )
    return 1 if result.bad_rows else 0


def cmd_build(args: argparse.Namespace) -> int:
    from gospulse.extract.pipeline import load_registry_into_warehouse, read_registry
    from gospulse.raw.warehouse import warehouse_path
    from gospulse.transform.run import build, build_in_page_buckets

    if args.page_buckets is not None and not args.full_refresh:
        print("error: --page-buckets goes with --full-refresh (a first build)", file=sys.stderr)
        return 2
    registry = read_registry(args.registry)
    loaded = load_registry_into_warehouse(registry, warehouse_path())
    print(
        f"registry: {loaded} pages loaded, {len(registry.errors)} bad rows skipped", file=sys.stderr
    )
    vars = {"test_all_history": True} if args.test_all_history else None
    if args.page_buckets is not None:
        steps = build_in_page_buckets(warehouse_path(), buckets=args.page_buckets, vars=vars)
        for bucket, step in enumerate(steps[:-1]):
            print(f"pages of bucket {bucket}: {step.summary()}", file=sys.stderr)
        result = steps[-1]
    else:
        result = build(warehouse_path(), full_refresh=args.full_refresh, vars=vars)
    print(result.describe())
    published = publish_built(warehouse_path(), result.summary())
    print(f"published read-only copy: {published}", file=sys.stderr)
    return 0


def publish_built(warehouse: Path, dbt_summary: str) -> Path:
    """After a CLI build: swap the read-only copy of the marts in, dated by the newest data."""
    from gospulse.raw.warehouse import connect
    from gospulse.serving.publish import publish_marts

    with connect(warehouse, read_only=True) as con:
        row = con.execute("select max(snapshot_date) from raw.page_snapshots").fetchone()
        assert row is not None
        (newest,) = row
    publication = publish_marts(
        warehouse,
        run_id=f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S}",
        snapshot_date=newest or date.today(),
        dbt_summary=dbt_summary,
    )
    return publication.path


def cmd_docs(args: argparse.Namespace) -> int:
    from gospulse.raw.warehouse import warehouse_path
    from gospulse.transform.run import generate_docs

    target = generate_docs(warehouse_path())
    print(f"dbt docs written to {target} (open index.html)")
    return 0


def cmd_dbt_manifest(args: argparse.Namespace) -> int:
    from gospulse.transform.dbt_manifest import manifest_nodes, write_manifest

    path = write_manifest(Path(args.output) if args.output else None)
    print(f"dbt manifest written to {path} ({len(manifest_nodes(path))} models and snapshots)")
    return 0


def cmd_dbt_unit_tests(args: argparse.Namespace) -> int:
    from gospulse.raw.warehouse import warehouse_path
    from gospulse.transform.run import run_unit_tests

    print(run_unit_tests(warehouse_path()).describe())
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this group's commands on the gospulse command's subparsers."""
    reg = sub.add_parser("registry", help="registry commands").add_subparsers(
        dest="sub", required=True
    )
    p = reg.add_parser("validate", help="validate a registry CSV (or a folder of them)")
    p.add_argument("path")
    p.set_defaults(func=cmd_registry_validate)

    p = sub.add_parser("extract", help="take one day's snapshot of every registered page")
    p.add_argument("--date", type=parse_date, required=True)
    p.add_argument("--registry", help="registry CSV or folder (default: GOSPULSE_REGISTRY)")
    p.add_argument(
        "--networks", default="vk,tg,ok", help="comma-separated networks: vk, tg, ok (all)"
    )
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("audience", help="read the due member lists of a day into sketches")
    p.add_argument("--date", type=parse_date, required=True)
    p.add_argument("--registry", help="registry CSV or folder (default: GOSPULSE_REGISTRY)")
    p.set_defaults(func=cmd_audience)

    p = sub.add_parser("overlap", help="how much of page A's audience also follows page B")
    p.add_argument("page_a", help="id, screen name or URL as in the registry")
    p.add_argument("page_b")
    p.add_argument("--date", type=parse_date, help="latest sketches at or before this date")
    p.add_argument("--network", default="vk")
    p.set_defaults(func=cmd_overlap)

    p = sub.add_parser(
        "import-snapshots",
        help="load historical snapshots from a CSV or XLSX file (bad rows listed by line)",
    )
    p.add_argument("path")
    p.add_argument(
        "--allow-unregistered",
        action="store_true",
        help="also store pages that no registry loaded into the warehouse lists "
        "(otherwise each such row is reported and skipped)",
    )
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("build", help="load the current registry and run dbt build")
    p.add_argument("--registry", help="registry CSV or folder (default: GOSPULSE_REGISTRY)")
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental models from raw (once after an upgrade that changes "
        "their columns; the registry's history is kept)",
    )
    p.add_argument(
        "--page-buckets",
        type=int,
        metavar="N",
        help="with --full-refresh: build the pages' histories in N buckets of pages (a federal "
        "warehouse's first build: each step holds a share of the pages, every window whole)",
    )
    p.add_argument(
        "--test-all-history",
        action="store_true",
        help="test every day's rows for uniqueness and accepted values, not only what this "
        "build rewrote (an audit; on a federal warehouse it adds minutes)",
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("docs", help="build the dbt docs site next to the warehouse")
    p.set_defaults(func=cmd_docs)

    dbt = sub.add_parser("dbt", help="dbt project commands").add_subparsers(
        dest="dbt_command", required=True
    )
    p = dbt.add_parser("manifest", help="run dbt parse and write the manifest the DAG renders")
    p.add_argument("--output", help="manifest file (default: GOSPULSE_DBT_MANIFEST)")
    p.set_defaults(func=cmd_dbt_manifest)
    p = dbt.add_parser(
        "unit-tests",
        help="run the dbt unit tests (given/expect rows; builds leave them out) on the warehouse",
    )
    p.set_defaults(func=cmd_dbt_unit_tests)

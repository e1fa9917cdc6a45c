"""`gospulse population import`: one region's resident population per territory and year;
`gospulse population names`: the registry's municipality names that found no territory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_population_import(args: argparse.Namespace) -> int:
    """Exit 0 when every row was stored, 1 when some rows were rejected (the good ones are
    stored), 2 when the file as a whole or --region / --oktmo is unusable (nothing is written)."""
    from gospulse.config.regions import REGIONS, BadOktmo, normalize_oktmo
    from gospulse.raw.population import PopulationFileError, store_population, validate_population
    from gospulse.raw.warehouse import warehouse_path

    if args.region not in REGIONS:
        print(f"error: --region {args.region}: no federal subject has this code", file=sys.stderr)
        return 2
    if args.oktmo is not None:
        try:
            normalize_oktmo(args.oktmo)
        except BadOktmo:
            print(
                f"error: --oktmo {args.oktmo!r} is not an OKTMO code (8 digits, e.g. 32000000)",
                file=sys.stderr,
            )
            return 2
    warehouse = Path(args.warehouse) if args.warehouse else warehouse_path()
    try:
        file = validate_population(args.path)
        for err in file.errors:
            print(f"{args.path}: line {err.line}: {err.reason}", file=sys.stderr)
        result = store_population(file, warehouse, region_code=args.region, oktmo=args.oktmo)
    except PopulationFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.describe(), file=sys.stderr)
    return 1 if result.errors else 0


# the current registry's municipality names that the last build could not place, with the
# codes an ambiguous name could mean; read from the build's tables, so the answer is the one
# the marts use
_UNPLACED = """
    select
        pages.region_code,
        pages.municipality,
        pages.territory_source,
        count(*) as pages,
        (
            select string_agg(territories.oktmo || ' ' || territories.name, '; '
                              order by territories.oktmo)
            from intermediate.int_territories as territories
            where territories.region_code = pages.region_code
                and territories.level = 'municipality'
                and territories.name_key = pages.municipality_key
        ) as candidates
    from intermediate.int_registry_pages_resolved as pages
    where pages.is_current and pages.territory_source in ('ambiguous', 'unmatched')
        and ($region is null or pages.region_code = $region)
    group by all
    order by pages.region_code, pages.territory_source, pages.municipality
"""


def cmd_population_names(args: argparse.Namespace) -> int:
    """Exit 0 when every named municipality found its territory, 1 when some did not."""
    from gospulse.raw.warehouse import connect, warehouse_path

    warehouse = Path(args.warehouse) if args.warehouse else warehouse_path()
    with connect(warehouse, read_only=True) as con:
        rows = con.execute(_UNPLACED, {"region": args.region}).fetchall()
    for region, name, source, pages, candidates in rows:
        why = (
            f"several municipalities bear this name ({candidates or '?'})"
            if source == "ambiguous"
            else "no municipality of the region's population table bears this name"
        )
        print(f"region {region}: {name!r} ({pages} pages): {why}")
    print(
        f"{len(rows)} municipality names found no territory; give those pages an oktmo "
        "column in the registry"
        if rows
        else "every municipality name found its territory",
        file=sys.stderr,
    )
    return 1 if rows else 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this group's commands on the gospulse command's subparsers."""
    group = sub.add_parser("population", help="resident population per territory").add_subparsers(
        dest="sub", required=True
    )
    p = group.add_parser(
        "import",
        help="load one region's population by OKTMO territory and year from Rosstat's bulletin "
        "(CSV or XLSX); replaces that region's stored rows of the file's years",
    )
    p.add_argument("path", metavar="FILE")
    p.add_argument(
        "--region",
        type=int,
        required=True,
        help="the federal subject code the file's region row is, e.g. 42 for Kuzbass",
    )
    p.add_argument(
        "--oktmo",
        help="the region row to import when the file holds several (e.g. 32000000); rows of "
        "the other regions are skipped",
    )
    p.add_argument("--warehouse", help="DuckDB file (default GOSPULSE_WAREHOUSE)")
    p.set_defaults(func=cmd_population_import)

    p = group.add_parser(
        "names",
        help="list the registry's municipality names the last build could not place in a "
        "territory (none or several municipalities bear them)",
    )
    p.add_argument("--region", type=int, help="one region only")
    p.add_argument("--warehouse", help="DuckDB file (default GOSPULSE_WAREHOUSE)")
    p.set_defaults(func=cmd_population_names)

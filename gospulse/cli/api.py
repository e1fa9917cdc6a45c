"""`gospulse api ...`: serve the API and manage its tokens."""

from __future__ import annotations

import argparse
from pathlib import Path

from gospulse.api.tokens import TokenStore, default_tokens_path
from gospulse.config import settings
from gospulse.raw.warehouse import warehouse_path
from gospulse.serving.layout import bundle_root, published_path

RATE_ENV = "GOSPULSE_API_RATE"
BURST_ENV = "GOSPULSE_API_BURST"
BASE_URL_ENV = "GOSPULSE_API_BASE_URL"


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `api serve` and `api token add|list|revoke` to the gospulse CLI."""
    api = subparsers.add_parser("api", help="the read-only HTTP API over the published marts")
    sub = api.add_subparsers(dest="api_command", required=True)

    p = sub.add_parser("serve", help="serve the published marts over HTTP")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--published", type=Path, help="published copy (default: next to warehouse)")
    p.add_argument("--tokens", type=Path, help="token file (default: $GOSPULSE_API_TOKENS)")
    p.add_argument("--bundles", type=Path, help="bundle root (default: $GOSPULSE_BUNDLE_DIR)")
    p.add_argument("--rate", type=float, default=settings.read(RATE_ENV))
    p.add_argument("--burst", type=int, default=settings.read(BURST_ENV))
    p.set_defaults(func=cmd_api_serve)

    token = sub.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True
    )
    p = token.add_parser("add", help="create a token for a client; printed once")
    p.add_argument("--client", required=True)
    p.add_argument("--regions", required=True, help="comma-separated region codes, or *")
    p.add_argument("--tokens", type=Path)
    p.set_defaults(func=cmd_api_token_add)
    p = token.add_parser("list", help="list tokens (ids, clients, regions; never secrets)")
    p.add_argument("--tokens", type=Path)
    p.set_defaults(func=cmd_api_token_list)
    p = token.add_parser("revoke", help="revoke a token by its id")
    p.add_argument("token_id")
    p.add_argument("--tokens", type=Path)
    p.set_defaults(func=cmd_api_token_revoke)


def _store(args: argparse.Namespace) -> TokenStore:
    return TokenStore(args.tokens or default_tokens_path())


def cmd_api_serve(args: argparse.Namespace) -> int:
    """Run uvicorn on the API app (blocks until stopped)."""
    import uvicorn

    from gospulse.api.app import create_app

    warehouse = warehouse_path()
    app = create_app(
        args.published or published_path(warehouse),
        _store(args),
        bundle_dir=args.bundles or bundle_root(warehouse),
        rate=args.rate,
        burst=args.burst,
        base_url=settings.read(BASE_URL_ENV) or "",
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def cmd_api_token_add(args: argparse.Namespace) -> int:
    token, record = _store(args).add(args.client, args.regions)
    print(f"token {record.token_id} for {record.client} (regions {','.join(record.regions)}):")
    print(token)
    print("store it now: it is not kept and cannot be shown again")
    return 0


def cmd_api_token_list(args: argparse.Namespace) -> int:
    for c in _store(args).list():
        state = f"revoked {c.revoked_at}" if c.revoked_at else "active"
        print(f"{c.token_id}  {c.client}  regions={','.join(c.regions)}  {c.created_at}  {state}")
    return 0


def cmd_api_token_revoke(args: argparse.Namespace) -> int:
    record = _store(args).revoke(args.token_id)
    print(f"revoked token {record.token_id} of {record.client}")
    return 0

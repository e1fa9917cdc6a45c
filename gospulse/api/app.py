"""The FastAPI application: marts from the published copy as JSON, CSV or Parquet, and bundles.

Requests read the published copy only (never the writer's warehouse), through a connection
kept per file generation: a publication swapped in between two requests is seen by the second.
"""

# no `from __future__ import annotations`: FastAPI must see the dependencies and the mart enum,
# which are local to create_app, as objects rather than unresolvable strings
import base64
import enum
import importlib.resources
import io
import math
import tarfile
import tempfile
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from gospulse.api.queries import (
    Filters,
    HeldValues,
    NotScopable,
    QueryError,
    UnknownMart,
    UnsupportedFilter,
    build_query,
    check_values,
    filters_by_mart,
    held_values,
    list_marts,
    published_filters,
)
from gospulse.api.ratelimit import RateLimiter
from gospulse.api.reader import NotPublished, PublishedReader
from gospulse.api.tokens import Client, TokenFileError, TokenStore
from gospulse.config.choices import UnknownChoice
from gospulse.extract.networks import NETWORKS
from gospulse.serving.layout import latest_bundle, report_dir
from gospulse.serving.publish import read_publication
from gospulse.serving.read_views import VIEW_NAMES as READ_VIEWS
from gospulse.serving.spreadsheet import write_csv

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
CSV_TYPE = "text/csv"
PARQUET_TYPE = "application/vnd.apache.parquet"
TAR_TYPE = "application/gzip"
# Swagger UI's and ReDoc's files, served by the API itself: FastAPI's own /docs and /redoc load
# them from a CDN, which a closed office network does not reach (a blank page)
DOCS_ASSETS = importlib.resources.files("fastapi_offline") / "static"
DOCS_ASSETS_URL = "/docs/assets"

# "all" is the cross-network total rows of the aggregate marts (mypy reads an Enum()'s members
# only from a literal; these come from NETWORKS)
Network = enum.Enum("Network", {n: n for n in (*NETWORKS, "all")}, type=str)  # type: ignore[misc]
# every filter a mart may accept, in the order the spec lists them (names as in filters_of)
FILTERS = ("region", "from", "to", "network", "sector", "municipality")


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReportFormat(enum.StrEnum):
    html = "html"
    xlsx = "xlsx"


class Format(enum.StrEnum):
    """Response formats of a mart's rows."""

    json = "json"
    csv = "csv"
    parquet = "parquet"


class ErrorBody(BaseModel):
    detail: str


class Problem(BaseModel):
    """One problem of a 422, as FastAPI's own validation errors give it; `ctx.known` lists the
    values a filter's mart holds, closest first, when the value asked is not one of them."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class Unprocessable(BaseModel):
    detail: list[Problem]


class Health(BaseModel):
    status: str
    run_id: str
    snapshot_date: date
    published_at: datetime


class Column(BaseModel):
    name: str
    type: str


class MartInfo(BaseModel):
    name: str
    # None for a mart computed when read (a view): counting it would compute all of it
    rows: int | None
    columns: list[Column]
    filters: list[str]


class MartList(BaseModel):
    run_id: str
    snapshot_date: date
    marts: list[MartInfo]


Cell = str | int | float | bool | None


class MartPage(BaseModel):
    mart: str
    run_id: str
    snapshot_date: date
    total: int
    limit: int
    offset: int
    next: str | None
    columns: list[Column]
    rows: list[dict[str, Cell]]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


ROWS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {CSV_TYPE: {}, PARQUET_TYPE: {}},
        "description": "rows as JSON (default), CSV or Parquet; "
        "CSV/Parquet carry X-Total-Count and a Link rel=next header",
    },
    **_errors(400, 401, 403, 404, 429, 503),
    422: {
        "model": Unprocessable,
        "description": "a query parameter the endpoint does not take, a filter the mart has no "
        "column for, or a region, network, sector or municipality the mart does not hold "
        "(in the token's regions): `ctx.known` lists the values it holds, closest first",
    },
}
ROWS_DESCRIPTION = "One page of a mart's rows in a stable order, filtered and scoped to the token."


@dataclass(frozen=True)
class RowsQuery:
    """The query parameters of a request for a mart's rows."""

    region: int | None
    date_from: date | None
    date_to: date | None
    network: str | None
    sector: str | None
    municipality: str | None
    limit: int
    offset: int
    format: Format | None


def rows_query(
    offered: Collection[str], *, period_required: bool = False
) -> Callable[..., RowsQuery]:
    """The query parameters of a rows endpoint whose mart accepts the `offered` filters.

    The spec lists only those; the other filters are still taken, so that asking one is a 422
    naming the filters the mart has (from build_query) rather than a bare "unknown parameter".
    A mart computed when read (period_required) lists `from` as required."""

    def listed(name: str) -> bool:
        return name in offered and not (period_required and name == "from")

    def query(
        region: Annotated[
            int | None, Query(ge=1, le=99, include_in_schema=listed("region"))
        ] = None,
        date_from: Annotated[
            date | None, Query(alias="from", include_in_schema=listed("from"))
        ] = None,
        date_to: Annotated[date | None, Query(alias="to", include_in_schema=listed("to"))] = None,
        network: Annotated[Network | None, Query(include_in_schema=listed("network"))] = None,
        sector: Annotated[
            str | None, Query(max_length=100, include_in_schema=listed("sector"))
        ] = None,
        municipality: Annotated[
            str | None, Query(max_length=100, include_in_schema=listed("municipality"))
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        format: Format | None = None,
    ) -> RowsQuery:
        return RowsQuery(
            region,
            date_from,
            date_to,
            network.value if network is not None else None,
            sector,
            municipality,
            limit,
            offset,
            format,
        )

    if not period_required:
        return query

    def query_with_period(
        date_from: Annotated[
            date,
            Query(
                alias="from",
                description="first day of the periods asked for: this mart is computed when "
                "read, for the periods asked only",
            ),
        ],
        asked: Annotated[RowsQuery, Depends(query)],
    ) -> RowsQuery:
        return replace(asked, date_from=date_from)

    return query_with_period


def _cell(value: Any) -> Cell:
    """A DuckDB value as JSON/CSV text: ISO dates, base64 blobs (sketches), no NaN."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _csv_cell(value: Cell) -> Cell:
    """Booleans as true/false, the way SQL tools and DuckDB's CSV reader expect them."""
    return ("true" if value else "false") if isinstance(value, bool) else value


def unprocessable(
    parameters: Sequence[str], message: str, values: Any = None, known: list[str] | None = None
) -> HTTPException:
    """A 422 in FastAPI's own validation-error shape (what the spec promises for 422), with
    the values that would have been known, closest first, when there are such."""
    values = values or {}
    detail = [
        {"loc": ["query", p], "msg": message, "type": "value_error", "input": values.get(p)}
        | ({"ctx": {"known": known}} if known is not None else {})
        for p in parameters
    ]
    return HTTPException(422, detail)


def refuse_unknown_parameters(request: Request) -> None:
    """422 for a query parameter the endpoint does not take: a misspelt or unsupported filter
    must not quietly return every row."""
    from fastapi.dependencies.utils import get_flat_dependant
    from fastapi.params import Param

    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    params = get_flat_dependant(route.dependant).query_params
    taken = {p.alias for p in params}
    unknown = sorted(set(request.query_params) - taken)
    if unknown:
        # what the spec lists: a filter this mart lacks is taken only to be refused by name
        # FastAPI types a parameter's field_info as pydantic's FieldInfo; a query parameter's is
        # its Query (a Param), which knows whether the spec lists it
        listed = sorted(p.alias for p in params if cast(Param, p.field_info).include_in_schema)
        raise unprocessable(
            unknown,
            f"unknown query parameter; this endpoint takes {', '.join(listed) or 'none'}",
            request.query_params,
        )


def _pick_format(fmt: Format | None, accept: str | None) -> Format:
    """?format= wins; else the Accept header; else JSON."""
    if fmt is not None:
        return fmt
    accept = (accept or "").lower()
    if CSV_TYPE in accept:
        return Format.csv
    if "parquet" in accept:
        return Format.parquet
    return Format.json


def add_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from files this server holds; like the spec, they need no
    token."""
    # a mount is no route with a dependant: refuse_unknown_parameters lets its files through
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=str(DOCS_ASSETS)), name="docs-assets")

    def under(request: Request, path: str) -> str:
        # behind a proxy that serves the API under a prefix, the browser asks for the prefix
        return request.scope.get("root_path", "").rstrip("/") + path

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        assert app.openapi_url is not None  # create_app keeps FastAPI's spec route
        return get_swagger_ui_html(
            openapi_url=under(request, app.openapi_url),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=under(request, f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js"),
            swagger_css_url=under(request, f"{DOCS_ASSETS_URL}/swagger-ui.css"),
            swagger_favicon_url=under(request, f"{DOCS_ASSETS_URL}/favicon.png"),
            # the default sends the spec's address to validator.swagger.io for a badge
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        assert app.openapi_url is not None  # create_app keeps FastAPI's spec route
        return get_redoc_html(
            openapi_url=under(request, app.openapi_url),
            title=f"{app.title} - ReDoc",
            redoc_js_url=under(request, f"{DOCS_ASSETS_URL}/redoc.standalone.js"),
            redoc_favicon_url=under(request, f"{DOCS_ASSETS_URL}/favicon.png"),
            with_google_fonts=False,
        )


def create_app(
    published: Path,
    tokens: TokenStore,
    *,
    bundle_dir: Path | None = None,
    rate: float = 10.0,
    burst: int = 20,
    base_url: str = "",
) -> FastAPI:
    """The API over one published copy; each mart known at start-up gets a route of its own,
    listing its own filters in the spec, and any other name is checked against the file.

    base_url (e.g. https://api.region42.example) prefixes the `next` links; empty, they are
    relative to the server. Unknown query parameters are refused (422), not ignored."""
    published = Path(published)
    base_url = base_url.rstrip("/")
    limiter = RateLimiter(rate, burst)
    bearer = HTTPBearer(auto_error=False, description="gospulse API token: gsp_<id>_<secret>")
    app = FastAPI(
        title="gospulse API",
        version="1",
        description="Read-only marts of gospulse: growth, rankings, audience, data quality.",
        dependencies=[Depends(refuse_unknown_parameters)],
        docs_url=None,
        redoc_url=None,
    )
    add_docs(app)
    offered = published_filters(published)
    # the marts at start-up are routes of their own; a request is still checked against the file
    MartName: Any = enum.Enum("MartName", {n: n for n in offered}, type=str) if offered else str

    reader = PublishedReader(published)
    app.state.reader = reader

    def open_copy() -> AbstractContextManager[Any]:
        return reader.cursor()

    @app.exception_handler(NotPublished)
    def not_published(request: Request, exc: NotPublished) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    def authenticate(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Client:
        if creds is None:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        try:
            client = tokens.verify(creds.credentials)
        except TokenFileError as exc:
            raise HTTPException(503, f"tokens cannot be checked: {exc}") from exc
        if client is None:
            raise HTTPException(
                401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"}
            )
        wait = limiter.take(client.token_id)
        if wait:
            raise HTTPException(
                429,
                f"rate limit of {limiter.rate:g}/s (burst {limiter.burst}) exceeded",
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )
        return client

    def scope(client: Client, region: int | None) -> list[int] | None:
        """The regions a query is limited to: the asked one (if allowed) or the token's."""
        if region is not None:
            if not client.may_read(region):
                raise HTTPException(403, f"token {client.token_id} may not read region {region}")
            return [region]
        return None if client.all_regions else client.region_codes()

    @app.get("/health", response_model=Health, responses=_errors(503))
    def health() -> Health:
        """Liveness plus which run the published copy holds; no token needed."""
        with open_copy() as con:
            meta = read_publication(con)
        return Health(
            status="ok",
            run_id=meta["run_id"],
            snapshot_date=meta["snapshot_date"],
            published_at=meta["published_at"],
        )

    @app.get("/marts", response_model=MartList, responses=_errors(401, 429, 503))
    def marts_index(client: Annotated[Client, Depends(authenticate)]) -> MartList:
        """Every mart with its columns, total rows and the filters it accepts."""
        with open_copy() as con:
            meta = read_publication(con)
            marts = list_marts(con)
        filters = filters_by_mart(marts)
        return MartList(
            run_id=meta["run_id"],
            snapshot_date=meta["snapshot_date"],
            marts=[
                MartInfo(
                    name=name,
                    rows=meta["row_counts"].get(name),
                    columns=[Column(name=c, type=t) for c, t in cols],
                    filters=filters[name],
                )
                for name, cols in sorted(marts.items())
            ],
        )

    def mart_rows(request: Request, client: Client, mart_name: str, asked: RowsQuery) -> Any:
        """One page of a mart's rows in a stable order, filtered and scoped to the token."""
        limit, offset = asked.limit, asked.offset
        visible = None if client.all_regions else client.region_codes()
        filters = Filters(
            regions=scope(client, asked.region),
            date_from=asked.date_from,
            date_to=asked.date_to,
            network=asked.network,
            sector=asked.sector,
            municipality=asked.municipality,
        )
        fmt = _pick_format(asked.format, request.headers.get("accept"))
        with reader.reading() as reading:
            con = reading.con
            meta = read_publication(con)
            marts = list_marts(con)

            def held(name: str) -> HeldValues:
                # once per publication: a mart is not scanned again for every request
                key = ("held values", mart_name, name)
                if key not in reading.memo:
                    reading.memo[key] = held_values(con, marts, mart_name, name)
                return reading.memo[key]

            try:
                # the mart, the token's scope and the filter names first, then their values
                build_query(marts, mart_name, filters)
                filters = check_values(marts, mart_name, filters, asked.region, visible, held)
                query = build_query(marts, mart_name, filters)
            except UnknownMart as exc:
                raise HTTPException(404, str(exc)) from exc
            except NotScopable as exc:
                raise HTTPException(403, str(exc)) from exc
            except UnsupportedFilter as exc:
                raise unprocessable(exc.parameters, str(exc), request.query_params) from exc
            except UnknownChoice as exc:
                raise unprocessable(
                    [exc.kind], str(exc), request.query_params, known=exc.known
                ) from exc
            except QueryError as exc:
                raise HTTPException(400, str(exc)) from exc
            row = con.execute(query.count_sql(), query.params).fetchone()
            assert row is not None
            total = row[0]
            page_params = [*query.params, limit, offset]
            # from the configured base URL, or relative: never from the request's Host header
            nxt = (
                base_url
                + str(request.url.include_query_params(offset=offset + limit)).removeprefix(
                    str(request.base_url).rstrip("/")
                )
                if offset + limit < total
                else None
            )
            headers = {"X-Total-Count": str(total)}
            if nxt:
                headers["Link"] = f'<{nxt}>; rel="next"'
            if fmt is Format.parquet:
                return Response(
                    _parquet(con, query.rows_sql(), page_params),
                    media_type=PARQUET_TYPE,
                    headers=headers,
                )
            cursor = con.execute(query.rows_sql(), page_params)
            rows = [[_cell(v) for v in row] for row in cursor.fetchall()]
        types = dict(marts[mart_name])
        if fmt is Format.csv:
            out = io.StringIO()
            write_csv(out, query.columns, ([_csv_cell(v) for v in row] for row in rows))
            return Response(out.getvalue(), media_type=CSV_TYPE, headers=headers)
        body = MartPage(
            mart=mart_name,
            run_id=meta["run_id"],
            snapshot_date=meta["snapshot_date"],
            total=total,
            limit=limit,
            offset=offset,
            next=nxt,
            columns=[Column(name=c, type=types[c]) for c in query.columns],
            rows=[dict(zip(query.columns, row, strict=True)) for row in rows],
        )
        return JSONResponse(body.model_dump(mode="json"), headers=headers)

    def add_mart_route(mart_name: str, filters: list[str]) -> None:
        def rows_of_mart(
            request: Request,
            client: Annotated[Client, Depends(authenticate)],
            asked: Annotated[
                RowsQuery, Depends(rows_query(filters, period_required=mart_name in READ_VIEWS))
            ],
        ) -> Any:
            return mart_rows(request, client, mart_name, asked)

        app.add_api_route(
            f"/marts/{mart_name}",
            rows_of_mart,
            methods=["GET"],
            response_model=MartPage,
            responses=ROWS_RESPONSES,
            summary=f"Rows of {mart_name}",
            description=ROWS_DESCRIPTION,
        )

    # one route per mart, added before the catch-all, so that each lists its own filters
    for mart_name, filters in sorted(offered.items()):
        add_mart_route(mart_name, filters)

    # any other name: 422 against the enum of the marts at start-up, as the spec says; with
    # none published at start-up the name is checked against the file (404 or 503), and this
    # route, taking every filter, is the one the spec lists
    @app.get(
        "/marts/{mart}",
        response_model=MartPage,
        responses=ROWS_RESPONSES,
        summary="Rows of a mart",
        description=ROWS_DESCRIPTION,
        include_in_schema=not offered,
    )
    def any_mart_rows(
        request: Request,
        client: Annotated[Client, Depends(authenticate)],
        mart: Annotated[MartName, PathParam(description="a mart of the published copy")],
        asked: Annotated[RowsQuery, Depends(rows_query(FILTERS))],
    ) -> Any:
        name = mart.value if isinstance(mart, enum.Enum) else mart
        return mart_rows(request, client, name, asked)

    @app.get(
        "/bundles/{region}/latest",
        response_class=Response,
        responses={
            200: {"content": {TAR_TYPE: {}}, "description": "the bundle directory as .tar.gz"},
            **_errors(401, 403, 404, 429),
        },
    )
    def latest_region_bundle(
        client: Annotated[Client, Depends(authenticate)],
        region: Annotated[int, PathParam(ge=1, le=99)],
    ) -> Response:
        """The newest export bundle of a region as a gzipped tar of its directory."""
        scope(client, region)
        bundle = latest_bundle(bundle_dir, region) if bundle_dir is not None else None
        if bundle is None:
            raise HTTPException(404, f"no export bundle for region {region} yet")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(bundle, arcname=bundle.name)
        return Response(
            buffer.getvalue(),
            media_type=TAR_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="region-{region:02d}-'
                f'{bundle.name}.tar.gz"',
                "X-Bundle-Id": bundle.name,
            },
        )

    @app.get(
        "/reports/{region}/{month}",
        response_class=Response,
        responses={
            200: {
                "content": {"text/html": {}, XLSX_TYPE: {}},
                "description": "the region's report of a closed month (gospulse report)",
            },
            **_errors(401, 403, 404, 429),
        },
    )
    def region_report(
        client: Annotated[Client, Depends(authenticate)],
        region: Annotated[int, PathParam(ge=1, le=99)],
        month: Annotated[str, PathParam(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
        format: ReportFormat = ReportFormat.html,
    ) -> Response:
        """A closed month's report of a region, as the daily run wrote it: the page or the
        workbook."""
        scope(client, region)
        folder = report_dir(published, region, month)
        path = folder / f"report.{format.value}"
        if not path.is_file():
            raise HTTPException(404, f"no report of {month} for region {region} yet")
        if format is ReportFormat.xlsx:
            return Response(
                path.read_bytes(),
                media_type=XLSX_TYPE,
                headers={
                    "Content-Disposition": f'attachment; filename="report-{region:02d}-'
                    f'{month}.xlsx"'
                },
            )
        # the page is ours, yet carries registry text: the browser runs nothing and fetches
        # nothing from it, as the page itself needs neither
        return Response(
            path.read_bytes(),
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": "default-src 'none'; img-src data:; "
                "style-src 'unsafe-inline'"
            },
        )

    return app


def _parquet(con, sql: str, params: list) -> bytes:
    """Rows as a Parquet file, written by DuckDB (COPY takes no parameters, a temp table does)."""
    con.execute(f"create temp table api_result as {sql}", params)
    with tempfile.TemporaryDirectory(prefix="gospulse-api-") as tmp:
        target = Path(tmp) / "rows.parquet"
        literal = "'" + str(target).replace("'", "''") + "'"
        con.execute(f"copy temp.api_result to {literal} (format parquet)")
        return target.read_bytes()

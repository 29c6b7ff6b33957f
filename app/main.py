"""The web application: JSON API under /api, pages for investigators, self-hosted assets.

`create_app(store=...)` serves a store the caller owns (tests, benchmarks); without one the
app opens the store the settings select when it starts and closes it when it stops.
Everything a page loads comes from this server: no CDN, so it works on an offline network.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import api, case_pages, deconflict_pages, docs, login, pages, watch_pages
from app.access import AccessMiddleware
from app.audit import AuditLog
from app.keys import KeyStore
from app.queries import DashboardCache, NotFoundError
from app.ratelimit import RateLimiter
from app.security import (
    SECURITY_HEADERS,
    BodySizeLimitMiddleware,
    JsonBodyLimitMiddleware,
    SecurityHeadersMiddleware,
)
from app.statedb import StateDB
from graph import open_store
from graph.limits import MAX_JSON_BODY_BYTES, MAX_JSON_DEPTH, MAX_UPLOAD_BYTES, QueryTimeoutError
from graph.settings import Settings
from graph.store import GraphStore, StoreUnavailableError

STATIC = Path(__file__).parent / "static"
DEFAULT_MAX_UPLOAD_BYTES = MAX_UPLOAD_BYTES
VIS_VERSION = "vis-9.1.2"

DESCRIPTION = """
Links the people, contacts, platforms, chemicals, shipments and seizures behind online
drug-precursor trafficking. Nodes are addressed as `Label:key` (`/api/schema` lists the
kinds); every list is paged with `limit`/`offset` and answers `{"total", "items"}`; every
error is `{"detail": ...}`.
"""

TAGS = [
    {"name": "meta", "description": "Health, schema and counts."},
    {"name": "search", "description": "Find entities by words, keys or contact details."},
    {"name": "entities", "description": "One entity, its connections and neighbourhood."},
    {"name": "paths", "description": "Shortest paths between two entities."},
    {"name": "export", "description": "Networks as GraphML, GEXF, JSON or CSV."},
    {"name": "ingest", "description": "Upload records."},
    {"name": "postings", "description": "A posting as the export writes it, with provenance."},
    {"name": "clusters", "description": "Actor clusters, why they hold, analysts' decisions."},
    {"name": "analysis", "description": "Centrality rankings and communities."},
    {"name": "trends", "description": "Postings and seizures per substance; substitution."},
    {"name": "alerts", "description": "Unlicensed offers and reappearances after takedown."},
    {"name": "routes", "description": "Seizures and their origin, transit, destination flows."},
    {"name": "watches", "description": "Watchlists and the alerts new data raises on them."},
    {"name": "deconfliction", "description": "Salted hashes of identifiers, to match a partner's."},
    {"name": "admin", "description": "API keys and the audit trail (admin role)."},
]


def vis_network_assets() -> Path:
    """vis-network as the pyvis wheel ships it (found without importing pyvis)."""
    spec = importlib.util.find_spec("pyvis")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyvis is not installed; it ships the vis-network the pages use")
    return Path(next(iter(spec.submodule_search_locations))) / "templates" / "lib" / VIS_VERSION


def _is_page(request: Request) -> bool:
    """Pages answer errors in HTML; the API, the schema and static files in JSON."""
    path = request.url.path
    return not path.startswith(("/api/", "/static/", "/openapi")) and path != "/api"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_page(request):
        return pages.error_page(request, exc.status_code, str(exc.detail))
    return await http_exception_handler(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _is_page(request):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
        )
        return pages.error_page(request, 422, problems)
    return await request_validation_exception_handler(request, exc)


async def _not_found(request: Request, exc: Exception) -> Response:
    if _is_page(request):
        return pages.error_page(request, 404, str(exc))
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _timed_out(request: Request, exc: Exception) -> Response:
    """A query past its time budget (graph.limits): 504 naming the budget, so the client
    narrows it rather than waiting on a worker the query would hold."""
    if _is_page(request):
        return pages.error_page(request, 504, str(exc))
    return JSONResponse({"detail": str(exc)}, status_code=504)


async def _unavailable(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": f"store unavailable: {exc}"}, status_code=503)


async def _server_error(request: Request, exc: Exception) -> Response:
    """Even a bug answers in the error shape clients expect (uvicorn still logs it). This
    runs outside the middleware, so it adds the security headers itself."""
    if _is_page(request):
        response: Response = pages.error_page(request, 500, "Something went wrong.")
    else:
        response = JSONResponse({"detail": "internal server error"}, status_code=500)
    response.headers.update(SECURITY_HEADERS)
    return response


def create_app(
    store: GraphStore | None = None,
    settings: Settings | None = None,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    state_db: StateDB | None = None,
    exposed: bool = False,
) -> FastAPI:
    """The Prexus web app over `store`, or over the store `settings` select.

    Keys, sessions and the audit trail live in `state_db`, else in the file `settings`
    name, else (a caller that passes only a store: tests, benchmarks) in memory; the rate
    limit comes from `settings` and is off without them. `exposed`: the server listens on
    more than loopback, so it never falls back to single-user mode."""
    owns_state_db = state_db is None and settings is not None
    if state_db is None:
        state_db = StateDB(settings.state_db_path) if settings else StateDB()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if store is not None:
            yield
            return
        app.state.store = open_store(settings or Settings())
        try:
            yield
        finally:
            app.state.store.close()
            if owns_state_db:
                state_db.close()

    app = FastAPI(
        title="Prexus",
        summary="Drug-precursor trafficking networks: entities, links, evidence.",
        description=DESCRIPTION,
        version="0.1.0",
        openapi_tags=TAGS,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.dashboard_cache = DashboardCache()
    app.state.state_db = state_db
    app.state.keys = KeyStore(state_db, timedelta(hours=settings.session_hours if settings else 12))
    app.state.audit = AuditLog(state_db)
    app.state.rate_limiter = RateLimiter(
        settings.rate_limit_per_minute if settings else 0,
        settings.rate_limit_burst if settings else 1,
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_upload_bytes)
    app.add_middleware(
        JsonBodyLimitMiddleware, max_bytes=MAX_JSON_BODY_BYTES, max_depth=MAX_JSON_DEPTH
    )
    app.add_middleware(
        AccessMiddleware, keys=app.state.keys, audit=app.state.audit,
        limiter=app.state.rate_limiter, exposed=exposed,
    )  # fmt: skip
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: errors get the headers too
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(StoreUnavailableError, _unavailable)
    app.add_exception_handler(QueryTimeoutError, _timed_out)
    app.add_exception_handler(Exception, _server_error)

    app.mount("/static/vendor/vis", StaticFiles(directory=vis_network_assets()), name="vis")
    docs.mount_swagger_ui(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(docs.router)
    app.include_router(login.router)
    app.include_router(pages.router)
    app.include_router(case_pages.router)
    app.include_router(watch_pages.router)
    app.include_router(deconflict_pages.router)
    return app

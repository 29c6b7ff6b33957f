"""Server-rendered pages for investigators: dashboard, search, entity, path finder.

Pages call the same queries as the API (app.queries, app.api.*) and render them with
autoescaping Jinja2 templates; network data reaches the browser as a JSON data block that
static JavaScript reads, so the Content-Security-Policy can forbid inline script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app.api.paths import find_paths
from app.api.search import MAX_OFFSET
from app.deps import MAX_VIEW_DEPTH, MAX_VIEW_LIMIT, Store, View, ViewParams, parse_ref
from app.network import schema_styles, to_network
from app.pathfind import MAX_DEPTH
from app.queries import (
    DashboardCache,
    NotFoundError,
    entity_detail,
    neighbourhood,
    search_nodes,
)
from graph.schema import Label, NodeRef

TEMPLATES = Path(__file__).parent / "templates"
SEARCH_PAGE_SIZE = 50
CONNECTIONS_PAGE_SIZE = 50
LONG_FIELDS = frozenset({"text", "title", "synonyms", "aliases"})
_LABEL_NAMES = frozenset(str(label) for label in Label)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def entity_url(label: str, key: str, query: list[tuple[str, str]] | None = None) -> str:
    """The entity page of a node; the key is fully percent-encoded ('/', '?', '#' included)."""
    url = f"/entity/{quote(str(label), safe='')}/{quote(key, safe='')}"
    return f"{url}?{urlencode(query)}" if query else url


def safe_href(url: object) -> str | None:
    """Only http(s) links from scraped data become clickable; never `javascript:`."""
    if not isinstance(url, str):
        return None
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else None


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )  # fmt: skip
    env.globals.update(entity_url=entity_url, safe_href=safe_href, labels=[str(x) for x in Label])
    return env


templates = Jinja2Templates(env=_environment())


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("nav", None)
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def network_payload(network: dict[str, Any], expand: ViewParams | None) -> dict[str, Any]:
    """What network.js needs: the graph, every kind's style, and the query that expands a
    node under the same filters (depth 1)."""
    query = expand.query(depth=1) if expand else [("depth", "1")]
    return {
        "network": network,
        "styles": schema_styles(),
        "expandQuery": urlencode(query),
    }


@router.get("/")
def dashboard(request: Request, store: Store) -> HTMLResponse:
    dash = request.app.state.dashboard_cache
    assert isinstance(dash, DashboardCache)
    return render(request, "dashboard.html", nav="dashboard", dash=dash.get(store))


@router.get("/search")
def search_page(
    request: Request,
    store: Store,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    kinds: Annotated[list[str] | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> HTMLResponse:
    chosen = [Label(k) for k in kinds or () if k in _LABEL_NAMES]
    result = search_nodes(store, q, chosen or None, SEARCH_PAGE_SIZE, offset)

    def page_url(at: int) -> str:
        return "/search?" + urlencode([("q", q), *[("kinds", str(k)) for k in chosen],
                                       ("offset", at)])

    return render(request, "search.html", query=q, kinds=[str(k) for k in chosen],
                  result=result, page_url=page_url)


@router.get("/entity/{label}/{key:path}")
def entity_page(
    request: Request,
    store: Store,
    label: Label,
    key: str,
    view: View,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    ref = NodeRef(label, key)
    entity = entity_detail(store, ref, CONNECTIONS_PAGE_SIZE, offset)
    sub = neighbourhood(store, [ref], view.depth, view.filter, view.limit)
    network = to_network(sub, [ref], view.limit)

    def connections_url(at: int) -> str:
        return entity_url(label, key, [*view.query(), ("offset", str(at))])

    return render(
        request, "entity.html", entity=entity, view=view, payload=network_payload(network, view),
        export_query=urlencode([("seed", str(ref)), *view.query()]),
        connections_url=connections_url, long_fields=LONG_FIELDS,
        max_depth=MAX_VIEW_DEPTH, max_limit=MAX_VIEW_LIMIT,
    )  # fmt: skip


@router.get("/paths")
def paths_page(
    request: Request,
    store: Store,
    source: Annotated[str, Query(alias="from", max_length=500)] = "",
    target: Annotated[str, Query(alias="to", max_length=500)] = "",
    max_depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 4,
    kinds: Annotated[list[Label] | None, Query()] = None,
) -> HTMLResponse:
    chosen = tuple(kinds or ())
    context: dict[str, Any] = dict(
        nav="paths", source=source, target=target, max_depth=max_depth,
        max_depth_limit=MAX_DEPTH, kinds=[str(k) for k in chosen], result=None, payload=None,
        error=None,
    )  # fmt: skip
    if source and target:
        try:
            ends = parse_ref(source.strip(), "from"), parse_ref(target.strip(), "to")
            result = find_paths(store, *ends, max_depth, chosen)
        except HTTPException as exc:  # the form stays filled in, with the problem above it
            return render(request, "paths.html", 400, **{**context, "error": exc.detail})
        except NotFoundError as exc:
            return render(request, "paths.html", 404, **{**context, "error": str(exc)})
        context.update(
            result=result,
            payload=network_payload(result.network.model_dump(mode="json"), None),
            nodes_by_id={n.id: n for n in result.network.nodes},
        )
    return render(request, "paths.html", **context)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    titles = {400: "Bad request", 404: "Not found", 413: "Too large", 422: "Invalid request"}
    return render(
        request, "error.html", status_code, code=status_code,
        title=titles.get(status_code, "Something went wrong"), message=message,
    )  # fmt: skip

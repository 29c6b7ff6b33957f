"""Server-rendered pages for investigators: dashboard, search, entity, path finder,
clusters, trends and routes.

Pages call the same queries as the API (app.queries, app.api.*) and render them with
autoescaping Jinja2 templates; network data reaches the browser as a JSON data block that
static JavaScript reads, so the Content-Security-Policy can forbid inline script. Charts are
SVG images drawn on the server. Forms that change data (an analyst's decision on a cluster)
post back with the per-browser token every page gets (app.csrf), then redirect to a page
that shows the result. Every route declares the permission it needs (app.auth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app.api.paths import find_paths
from app.api.search import MAX_OFFSET
from app.api.trends import Period
from app.auth import LOCAL_USER, CanAnnotate, CanRead, current_principal
from app.charts import trend_chart
from app.csrf import CsrfProtected, csrf_token
from app.deps import (
    MAX_LIST_OFFSET,
    MAX_VIEW_DEPTH,
    MAX_VIEW_LIMIT,
    Cache,
    Store,
    View,
    ViewParams,
    parse_ref,
)
from app.models import Page, ProvenanceOut, SeizureOut
from app.network import legend, network_node, schema_styles, to_network
from app.pathfind import MAX_DEPTH
from app.queries import (
    FlowCounts,
    InvalidRequestError,
    NotFoundError,
    cluster_detail,
    cluster_members,
    cluster_summaries,
    decide,
    entity_detail,
    flow_counts,
    flows,
    neighbourhood,
    paged,
    require_node,
    search_nodes,
    seizure_rows,
    substitution_page,
    trend_series,
    why_together,
)
from graph.limits import MAX_QUERY_CHARS
from graph.linking import DECISION_ACTIONS
from graph.schema import Label, NodeRef
from graph.store import DEFAULT_VIEW_LIMIT, GraphStore, NodeFilter
from graph.trends import PERIODS

TEMPLATES = Path(__file__).parent / "templates"
SEARCH_PAGE_SIZE = 50
CONNECTIONS_PAGE_SIZE = 50
LONG_FIELDS = frozenset({"text", "title", "synonyms", "aliases"})
CLUSTERS_PAGE_SIZE = 50
MEMBERS_PAGE_SIZE = 50
CLUSTER_NETWORK_DEPTH = 2
"""Actor -> its records -> their contacts, platforms, substances and countries."""
ROUTES_SHOWN = 50
SEIZURES_PAGE_SIZE = 50
DEFAULT_CHART_SUBSTANCES = ("13605-48-6", "28578-16-7")
"""PMK methyl glycidate (scheduled November 2019) and the ethyl ester that replaced it."""
MAX_CHART_SUBSTANCES = 8
_LABEL_NAMES = frozenset(str(label) for label in Label)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def entity_url(label: str, key: str, query: list[tuple[str, str]] | None = None) -> str:
    """The entity page of a node; the key is fully percent-encoded ('/', '?', '#' included)."""
    url = f"/entity/{quote(str(label), safe='')}/{quote(key, safe='')}"
    return f"{url}?{urlencode(query)}" if query else url


def ref_url(ref: str) -> str:
    """The entity page of a `Label:key` reference."""
    label, _, key = ref.partition(":")
    return entity_url(label, key)


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
    env.globals.update(entity_url=entity_url, ref_url=ref_url, safe_href=safe_href,
                       labels=[str(x) for x in Label])  # fmt: skip
    return env


def page_context(request: Request) -> dict[str, Any]:
    """What every page's template gets, whoever renders it: the form token (app.csrf) and
    who is signed in (None in single-user mode)."""
    principal = current_principal(request)
    return {
        "csrf": csrf_token(request),
        "signed_in_as": principal if principal not in (None, LOCAL_USER) else None,
    }


templates = Jinja2Templates(env=_environment(), context_processors=[page_context])


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("nav", None)
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def network_payload(
    network: dict[str, Any], expand: ViewParams | None, *, expandable: bool = True
) -> dict[str, Any]:
    """What network.js needs: the graph, every kind's style, and the query that expands a
    node under the same filters (depth 1); `expandable` false for drawings that are not a
    neighbourhood (a flow map), where expanding would mix in the raw graph."""
    query = expand.query(depth=1) if expand else [("depth", "1")]
    return {
        "network": network,
        "styles": schema_styles(),
        "expandQuery": urlencode(query),
        "expandable": expandable,
    }


@router.get("/")
def dashboard(_: CanRead, request: Request, store: Store, cache: Cache) -> HTMLResponse:
    return render(request, "dashboard.html", nav="dashboard", dash=cache.get(store))


@router.get("/search")
def search_page(
    _: CanRead,
    request: Request,
    store: Store,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS)],
    kinds: Annotated[list[str] | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> HTMLResponse:
    chosen = [Label(k) for k in kinds or () if k in _LABEL_NAMES]
    result = search_nodes(store, q, chosen or None, SEARCH_PAGE_SIZE, offset)
    request.state.audit_results = result.total

    def page_url(at: int) -> str:
        return "/search?" + urlencode(
            [("q", q), *[("kinds", str(k)) for k in chosen], ("offset", at)]
        )

    return render(
        request,
        "search.html",
        query=q,
        kinds=[str(k) for k in chosen],
        result=result,
        page_url=page_url,
    )


@router.get("/entity/{label}/{key:path}")
def entity_page(
    _: CanRead,
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
    _: CanRead,
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


# --- clusters --------------------------------------------------------------------------------


@router.get("/clusters")
def clusters_page(
    _: CanRead,
    request: Request,
    store: Store,
    cache: Cache,
    offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET)] = 0,
) -> HTMLResponse:
    page = cluster_summaries(store, cache, CLUSTERS_PAGE_SIZE, offset)
    return render(request, "clusters.html", nav="clusters", page=page,
                  page_url=lambda at: f"/clusters?offset={at}")  # fmt: skip


def cluster_url(cluster_id: str, query: list[tuple[str, str]] | None = None) -> str:
    url = f"/cluster/{quote(cluster_id, safe='')}"
    return f"{url}?{urlencode(query)}" if query else url


@router.get("/cluster/{cluster_id}")
def cluster_view(
    _: CanRead,
    request: Request,
    store: Store,
    cache: Cache,
    cluster_id: str,
    a: Annotated[str, Query(max_length=500)] = "",
    b: Annotated[str, Query(max_length=500)] = "",
    offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET)] = 0,
    done: Annotated[str, Query(max_length=20)] = "",
    now: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    """Members, what ties them (and what was left out), the network around the actor, a
    'why are these two together' form and the analyst's confirm / split / merge form."""
    cluster = cluster_detail(store, cache, cluster_id)
    members = cluster_members(store, cluster_id, MEMBERS_PAGE_SIZE, offset)
    actor = NodeRef(Label.ACTOR, cluster_id)
    sub = neighbourhood(store, [actor], CLUSTER_NETWORK_DEPTH, NodeFilter(), DEFAULT_VIEW_LIMIT)
    why, problem, code = None, None, 200
    if a.strip() and b.strip():
        try:
            ends = parse_ref(a.strip(), "a"), parse_ref(b.strip(), "b")
            why = why_together(store, cluster_id, *ends)
        except HTTPException as exc:  # the form stays filled in, with the problem beside it
            problem, code = str(exc.detail), exc.status_code
        except InvalidRequestError as exc:
            problem, code = str(exc), status.HTTP_400_BAD_REQUEST
        except NotFoundError as exc:
            problem, code = str(exc), status.HTTP_404_NOT_FOUND
    first = [m.id for m in members.items[:2]]
    return render(
        request, "cluster.html", code, nav="clusters", cluster=cluster, members=members,
        members_url=lambda at: cluster_url(cluster_id, [("offset", str(at))]) + "#members",
        payload=network_payload(to_network(sub, [actor], DEFAULT_VIEW_LIMIT), None),
        why=why, why_error=problem, a=a or (first[0] if first else ""),
        b=b or (first[-1] if len(first) > 1 else ""),
        done=done if done in DECISION_ACTIONS else "", now=now,
        other_clusters=sorted({w.other_cluster for w in cluster.explanation.weak_links}),
    )  # fmt: skip


def decision_records(
    store: GraphStore, cluster_id: str, action: str, ticked: list[str], other: str
) -> list[str]:
    """What a decision from the cluster page is about: the ticked members (this page's);
    every member when `confirm` has none ticked; for `merge`, one member of this cluster
    and one of the other (merging any member's cluster merges the whole cluster)."""
    if action == "merge":
        if not other:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "merge: name the other cluster")
        pair = [cluster_members(store, c, 1, 0).items for c in (cluster_id, other)]
        return [items[0].id for items in pair if items]
    if action == "confirm" and not ticked:
        total = cluster_members(store, cluster_id, 1, 0).total
        return [m.id for m in cluster_members(store, cluster_id, max(total, 1), 0).items]
    return ticked


@router.post(
    "/cluster/{cluster_id}/decisions", response_class=RedirectResponse,
    dependencies=[CsrfProtected],
)  # fmt: skip
def cluster_decision(
    _: CanAnnotate,
    store: Store,
    cluster_id: str,
    action: Annotated[str, Form(max_length=20)],
    by: Annotated[str, Form(max_length=200)],
    records: Annotated[list[str] | None, Form()] = None,
    other: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    """Record the decision with the same code as the API, then show the cluster again:
    this one if it still exists, else the one the first record is in now."""
    require_node(store, NodeRef(Label.ACTOR, cluster_id))
    if not by.strip():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "say who decides (Analyst)")
    chosen = decision_records(store, cluster_id, action, records or [], other.strip())
    try:
        result = decide(store, action, chosen, by.strip(), note.strip())
    except InvalidRequestError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    now = result.clusters.get(chosen[0]) or ""
    stays = store.get_node(NodeRef(Label.ACTOR, cluster_id)) is not None
    target = cluster_id if stays or not now else now
    url = cluster_url(target, [("done", action), ("now", now)]) + "#decided"
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


# --- trends ----------------------------------------------------------------------------------


def chart_substances(substance: list[str] | None) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(s.strip() for s in substance or () if s.strip()))
    return chosen[:MAX_CHART_SUBSTANCES] or DEFAULT_CHART_SUBSTANCES


ChartSubstances = Annotated[
    list[str] | None, Query(max_length=50, description="Substance keys (CAS when known).")
]


@router.get("/trends")
def trends_page(
    _: CanRead,
    request: Request,
    store: Store,
    cache: Cache,
    period: Period = "quarter",
    substance: ChartSubstances = None,
) -> HTMLResponse:
    chosen = chart_substances(substance)
    series = trend_series(store, cache, period, None)
    query = urlencode([("period", period), *[("substance", key) for key in chosen]])
    names = {s.key: s.name for s in series}
    return render(
        request, "trends.html", nav="trends", period=period, periods=PERIODS, chosen=chosen,
        series=series, chart_url=f"/trends/chart.svg?{query}",
        chart_names=[names.get(key, key) for key in chosen],
        signals=substitution_page(store, cache, 100, 0),
    )  # fmt: skip


@router.get("/trends/chart.svg", response_class=Response)
def trends_chart(
    _: CanRead,
    store: Store,
    cache: Cache,
    period: Period = "quarter",
    substance: ChartSubstances = None,
) -> Response:
    """Offers, requests and seizures per period of each substance, with its scheduling
    date, as an SVG image (the PMK methyl/ethyl glycidate pair by default)."""
    chosen = chart_substances(substance)

    def draw() -> bytes:
        found = {s.key: s for s in trend_series(store, cache, period, chosen)}
        return trend_chart([found[key] for key in chosen if key in found], period)

    svg = cache.remember(store, f"chart:{period}:{','.join(chosen)}", draw)
    return Response(svg, media_type="image/svg+xml")


# --- routes ----------------------------------------------------------------------------------


def flow_network(store: GraphStore, counts: FlowCounts) -> dict[str, Any]:
    """Countries sized by the seizures through them and legs as directed edges weighted by
    seizures, in to_network's shape so network.js draws it like any network."""
    refs = [NodeRef(Label.COUNTRY, code) for code in sorted(counts.roles)]
    nodes = []
    for node in store.get_nodes(refs):
        roles = counts.roles[node.key]
        drawn = network_node(node)
        drawn["properties"] = {
            **node.props, "seizures": roles["total"],
            **{f"as {role}": roles[role] for role in ("origin", "transit", "destination")},
        }  # fmt: skip
        drawn["value"] = float(roles["total"])
        drawn["shape"] = "dot"  # the schema's ellipse wraps the label and ignores `value`
        nodes.append(drawn)
    present = {n["id"] for n in nodes}
    empty = ProvenanceOut().model_dump()
    edges = []
    for (a, b), n in sorted(counts.legs.items()):
        source, target = str(NodeRef(Label.COUNTRY, a)), str(NodeRef(Label.COUNTRY, b))
        if source in present and target in present:
            edges.append({
                "id": f"FLOW:{source}->{target}", "type": "FLOW", "label": str(n), "value": n,
                "source": source, "target": target, "properties": {"seizures": n},
                "provenance": empty,
            })  # fmt: skip
    return {
        "seeds": [], "nodes": nodes, "edges": edges, "truncated": False,
        "limit": len(nodes), "legend": legend(Label.COUNTRY for _ in nodes),
    }  # fmt: skip


@router.get("/routes")
def routes_page(
    _: CanRead,
    request: Request,
    store: Store,
    cache: Cache,
    offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET)] = 0,
) -> HTMLResponse:
    counts = flow_counts(store, cache)
    seizures = paged(Page[SeizureOut], seizure_rows(store, cache), SEIZURES_PAGE_SIZE, offset)
    payload = network_payload(flow_network(store, counts), None, expandable=False)
    return render(
        request, "routes.html", nav="routes", flows=flows(store, cache, ROUTES_SHOWN, 0),
        seizures=seizures, payload=payload,
        seizures_url=lambda at: f"/routes?offset={at}#seizures",
    )  # fmt: skip


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    titles = {400: "Bad request", 401: "Sign in", 403: "Forbidden", 404: "Not found",
              413: "Too large", 422: "Invalid request", 429: "Too many requests"}  # fmt: skip
    return render(
        request, "error.html", status_code, code=status_code,
        title=titles.get(status_code, "Something went wrong"), message=message,
    )  # fmt: skip

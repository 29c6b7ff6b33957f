"""Read queries the API and the pages share, so a page shows exactly what the API returns.

Each function takes the store and plain arguments and returns app.models objects; HTTP
concerns (status codes, templates) stay in the routers.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import pairwise
from threading import Lock
from typing import Any, Literal, TypeVar

from app.models import (
    Alerts,
    CentralityPage,
    ClusterOut,
    ClusterSummary,
    CommunityOut,
    Connection,
    CountryFlow,
    DecisionOut,
    DecisionResult,
    EdgeOut,
    Entity,
    Explanation,
    Flows,
    NodeOut,
    Page,
    PairFlow,
    PostingSummary,
    RankedNode,
    ReappearanceOut,
    Reappearances,
    RegistryAlertOut,
    RegistryAlerts,
    RouteFlow,
    SearchPage,
    SeizureOut,
    StepOut,
    SubstitutionSignals,
    TrendsPage,
    node_view,
)
from graph.analysis import META_NAME as ANALYSIS_META
from graph.checks import ALERTS_META
from graph.exports import cluster_fields, posting_summary
from graph.limits import time_budget
from graph.linking import (
    CLUSTERS_META,
    DECISION_ACTIONS,
    DECISIONS_META,
    RECORD_LABELS,
    explain,
    explain_cluster,
    link_actors,
    record_decision,
)
from graph.schema import Edge, Label, Node, NodeRef, RelType, identifier_key
from graph.store import GraphStore, NodeFilter, Subgraph
from graph.trends import SubstanceSeries, substance_trends, substitution_signals
from ingest.identifiers import parse_contact


class NotFoundError(LookupError):
    """No node with this kind and key; routers answer 404."""

    def __init__(self, ref: NodeRef) -> None:
        super().__init__(f"no {ref.label} with key {ref.key!r}")
        self.ref = ref


def require_node(store: GraphStore, ref: NodeRef) -> Node:
    node = store.get_node(ref)
    if node is None:
        raise NotFoundError(ref)
    return node


def neighbourhood(
    store: GraphStore, seeds: list[NodeRef], depth: int, flt: NodeFilter, limit: int
) -> Subgraph:
    """The seeds' ego network; NotFoundError (404) names a seed that is not stored rather
    than answering an empty graph. Under the query time budget (504 past it)."""
    with time_budget():
        found = {n.ref for n in store.get_nodes(seeds)}
        for seed in seeds:
            if seed not in found:
                raise NotFoundError(seed)
        return store.ego(seeds, depth, flt, limit)


# --- search ----------------------------------------------------------------------------------


def identifier_ref(query: str) -> NodeRef | None:
    """The query read as a contact, normalised the way ingest normalises contact fields, so
    '+86 138-0013-8000' or 'Telegram: @Vendor' finds the stored identifier."""
    try:
        found = parse_contact(query)
    except ValueError:
        return None
    return NodeRef(Label.IDENTIFIER, identifier_key(found.kind, found.value)) if found else None


def _dedupe(nodes: Iterable[Node]) -> list[Node]:
    return list({node.ref: node for node in reversed(list(nodes))}.values())[::-1]


def search_nodes(
    store: GraphStore,
    query: str,
    labels: Iterable[Label] | None,
    limit: int,
    offset: int,
    cache: DashboardCache | None = None,
) -> SearchPage:
    """Store search, led by the query's normalised identifier when one is stored; under the
    query time budget (504 past it). With a cache, a query's hit count is kept while the
    store is unchanged: a common word matches 400k postings at 1M, and counting them costs
    more than finding the page."""
    chosen = frozenset(labels) if labels else None

    def count() -> int:
        if cache is None:
            return store.search_count(query, chosen)
        name = f"search-count:{sorted(chosen or ())}:{query}"
        return cache.remember(store, name, lambda: store.search_count(query, chosen))

    with time_budget():
        return _search_nodes(store, query, chosen, limit, offset, count)


def _search_nodes(
    store: GraphStore,
    query: str,
    labels: frozenset[Label] | None,
    limit: int,
    offset: int,
    count: Callable[[], int],
) -> SearchPage:
    ident = identifier_ref(query)
    head: list[Node] = []
    if ident is not None and (labels is None or Label.IDENTIFIER in labels):
        head = [n for n in [store.get_node(ident)] if n is not None]
    window = store.search(query, labels, limit=offset + limit + 1, offset=0)
    merged = _dedupe([*head, *window])
    total, exact = len(merged), True
    if len(window) > offset + limit:  # more hits than this page: the store counts them
        extra = 1 if head and head[0].ref not in {n.ref for n in window} else 0
        total = max(count() + extra, len(merged))
    return SearchPage(
        total=total,
        total_exact=exact,
        limit=limit,
        offset=offset,
        items=[NodeOut.of(n) for n in merged[offset : offset + limit]],
        identifier=str(ident) if ident else None,
    )


# --- one entity ------------------------------------------------------------------------------


def entity_detail(store: GraphStore, ref: NodeRef, limit: int, offset: int) -> Entity:
    """A node with one page of its connections, ordered by the node at the other end.

    Why offset+limit+1 neighbours are enough: there is at least one edge to each neighbour,
    and neighbours come in a fixed order, so the first offset+limit edges are all among them.
    Under the query time budget (504 past it): a far page of a hub reads many neighbours.
    """
    node = require_node(store, ref)
    with time_budget():
        sub = store.ego([ref], 1, limit=offset + limit + 2)
    order = {n.ref: i for i, n in enumerate(sub.nodes)}
    edges = sorted(
        _touching(sub.edges, ref),
        key=lambda e: (order[_other(e, ref)], str(e.type), e.source == ref),
    )
    total, exact = len(edges), True
    if sub.truncated:  # a hub: the store counts its edges
        total = store.degree(ref)
    by_ref = {n.ref: n for n in sub.nodes}
    connections = [
        Connection(
            direction="out" if edge.source == ref else "in",
            edge=EdgeOut.of(edge),
            other=NodeOut.of(by_ref[_other(edge, ref)]),
        )
        for edge in edges[offset : offset + limit]
    ]
    page = Page[Connection](
        total=total, total_exact=exact, limit=limit, offset=offset, items=connections
    )
    return Entity.of(node, connections=page)


def _touching(edges: Iterable[Edge], ref: NodeRef) -> list[Edge]:
    return [e for e in edges if ref in (e.source, e.target)]


def _other(edge: Edge, ref: NodeRef) -> NodeRef:
    return edge.target if edge.source == ref else edge.source


# --- whole-store scans, cached -----------------------------------------------------------------

T = TypeVar("T")
P = TypeVar("P", bound=Page[Any])
_STAMPED_META = (CLUSTERS_META, ANALYSIS_META, ALERTS_META)


@dataclass(frozen=True, slots=True)
class StoreVersion:
    """What changes whenever anything a cached scan reads changes. `exact`: the store's own
    change stamp, which sees every write; otherwise a fingerprint that can miss some (a
    property rewritten in place), so cached results also expire."""

    exact: bool
    value: Hashable


def store_version(store: GraphStore) -> StoreVersion:
    """The store's change stamp where it has one (SQLite: no scan, so a cached answer costs
    microseconds at 1M postings); else the counts (ingest), when clustering, analysis and
    checks last ran, and how many decisions are stored (a decision re-clusters within the
    same second as the run before it)."""
    stamp = store.change_stamp()
    if stamp is not None:
        return StoreVersion(True, stamp)
    counts = store.counts()
    stamps = tuple((store.get_meta(name) or {}).get("ran_at") for name in _STAMPED_META)
    decisions = len((store.get_meta(DECISIONS_META) or {}).get("decisions", ()))
    return StoreVersion(False, (
        tuple(sorted(counts.nodes.items())), tuple(sorted(counts.edges.items())), stamps,
        decisions,
    ))  # fmt: skip


@dataclass(slots=True)
class DashboardCache:
    """Results that scan the whole store (the dashboard, cluster summaries, rankings, trends,
    flows), reused while `store_version` is unchanged and, when that version is not exact,
    for at most `ttl` seconds (for changes it does not show, such as another process
    rewriting properties). Keeps the `entries` most recently used results. One computation
    per name at a time: callers that miss while it runs wait for its result rather than
    repeat it (under load, twenty clients opening the same cluster page at once would
    otherwise explain it twenty times)."""

    ttl: float = 60.0
    entries: int = 4096  # cluster details and search counts too: tens of MB at most
    _values: OrderedDict[str, tuple[StoreVersion, float, Any]] = field(
        default_factory=OrderedDict
    )
    _lock: Lock = field(default_factory=Lock)
    _computing: dict[str, Lock] = field(default_factory=dict)

    def remember(self, store: GraphStore, name: str, compute: Callable[[], T]) -> T:
        version = store_version(store)
        if (hit := self._lookup(name, version)) is not None:
            return hit[0]
        with self._lock:
            computing = self._computing.setdefault(name, Lock())
        with computing:  # not the cache's lock: a slow scan must not hold up other answers
            try:
                if (hit := self._lookup(name, version)) is not None:
                    return hit[0]  # computed while this caller waited
                value = compute()
                with self._lock:
                    self._values[name] = (version, time.monotonic(), value)
                    self._values.move_to_end(name)
                    while len(self._values) > self.entries:
                        self._values.popitem(last=False)
                return value
            finally:  # kept or failed: later callers look the cache up afresh
                with self._lock:
                    if self._computing.get(name) is computing:
                        del self._computing[name]

    def _lookup(self, name: str, version: StoreVersion) -> tuple[Any] | None:
        """(value,) when a fresh result for `name` is kept, else None."""
        with self._lock:
            hit = self._values.get(name)
            if hit is None or hit[0] != version:
                return None
            if not version.exact and time.monotonic() - hit[1] >= self.ttl:
                return None
            self._values.move_to_end(name)
            return (hit[2],)

    def get(self, store: GraphStore, size: int = 10) -> Dashboard:
        return self.remember(store, f"dashboard:{size}", lambda: build_dashboard(store, self, size))


def paged(page: type[P], rows: Sequence[Any], limit: int, offset: int, **extra: Any) -> P:
    """One page of a list computed whole (the lists here are summaries, not raw nodes)."""
    return page(total=len(rows), limit=limit, offset=offset,
                items=list(rows[offset : offset + limit]), **extra)  # fmt: skip


class InvalidRequestError(ValueError):
    """A request that names things that exist but cannot be answered as asked (a record
    outside the cluster, an unknown decision); routers answer 400."""


# --- postings and clusters ---------------------------------------------------------------------


def posting_detail(store: GraphStore, posting_id: str) -> PostingSummary:
    """The fields `prexus export postings` writes for one posting, and its provenance."""
    summary = posting_summary(store, posting_id)
    if summary is None:
        raise NotFoundError(NodeRef(Label.POSTING, posting_id))
    return PostingSummary.model_validate(summary)


def cluster_summaries(
    store: GraphStore, cache: DashboardCache, limit: int, offset: int
) -> Page[ClusterSummary]:
    """One page of cluster summaries, largest first, reading only this page's clusters."""
    order = cluster_order(store, cache)
    items = summaries_of(store, cache, order[offset : offset + limit])
    return Page[ClusterSummary](total=len(order), limit=limit, offset=offset, items=items)


def summaries_of(store: GraphStore, cache: DashboardCache, clusters: list[str]) -> list[Any]:
    """cluster_summary of each cluster, kept while the store is unchanged."""
    found = [cache.remember(store, f"cluster-summary:{c}", partial(cluster_summary, store, c))
             for c in clusters]  # fmt: skip
    return [summary for summary in found if summary is not None]


def cluster_order(store: GraphStore, cache: DashboardCache) -> list[str]:
    """Every cluster's id, largest first, ties by id (iter_cluster_summaries' order), from
    the members counted per actor: a second at 1M postings, where the whole summary index
    reads every contact of every posting (over a minute)."""

    def build() -> list[str]:
        sizes = store.edge_counts_by_target(RelType.MEMBER_OF)
        return [ref.key for ref in sorted(sizes, key=lambda ref: (-sizes[ref], ref.key))]

    return cache.remember(store, "cluster-order", build)


def cluster_summary(store: GraphStore, cluster: str) -> dict[str, Any] | None:
    """The summary iter_cluster_summaries gives one cluster (its records, the contacts that
    tie them, hubs left out), read from that cluster's members alone; None when it has
    none."""
    actor = NodeRef(Label.ACTOR, cluster)
    records = sorted(store.linked([actor], RelType.MEMBER_OF, incoming=True).get(actor, []),
                     key=str)  # fmt: skip
    if not records:
        return None
    contacts = store.linked([r for r in records if r.label in RECORD_LABELS],
                            RelType.HAS_IDENTIFIER)  # fmt: skip
    found = {i for r in records for i in contacts.get(r, ())}
    hubs = {n.ref for n in store.get_nodes(list(found)) if n.props.get("hub")}
    return cluster_fields(cluster, records, sorted(found - hubs, key=str), store.get_node(actor))


def _explained(store: GraphStore, cluster: str) -> ClusterOut:
    summary = cluster_summary(store, cluster)
    if summary is None:
        raise NotFoundError(NodeRef(Label.ACTOR, cluster))
    return ClusterOut.model_validate({**summary, "explanation": explain_cluster(store, cluster)})


def cluster_page(
    store: GraphStore, cache: DashboardCache, limit: int, offset: int
) -> Page[ClusterOut]:
    """One page of clusters, largest first; only this page's clusters are read and
    explained, each kept while the store is unchanged (shared with cluster_detail): the
    first page is what every investigator opens."""

    def build() -> Page[ClusterOut]:
        order = cluster_order(store, cache)
        items = [cluster_detail(store, cache, c) for c in order[offset : offset + limit]]
        return Page[ClusterOut](total=len(order), limit=limit, offset=offset, items=items)

    return cache.remember(store, f"cluster-page:{limit}:{offset}", build)


def cluster_detail(store: GraphStore, cache: DashboardCache, cluster: str) -> ClusterOut:
    """One cluster with its explanation; NotFoundError when no record is in it."""
    return cache.remember(store, f"cluster:{cluster}", lambda: _explained(store, cluster))


MEMBER_OF_ONLY = NodeFilter(rel_types=frozenset({RelType.MEMBER_OF}))


def cluster_members(store: GraphStore, cluster: str, limit: int, offset: int) -> Page[NodeOut]:
    """A cluster's records (postings, seizures, companies...) in (kind, key) order.

    The actor's `size` is the total; its first offset+limit neighbours over MEMBER_OF are
    the members up to this page, as in entity_detail."""
    actor = require_node(store, NodeRef(Label.ACTOR, cluster))
    sub = store.ego([actor.ref], 1, MEMBER_OF_ONLY, limit=offset + limit + 1)
    members = [n for n in sub.nodes if n.ref != actor.ref]
    total = actor.props.get("size")
    return Page[NodeOut](
        total=total if isinstance(total, int) else len(members),
        limit=limit,
        offset=offset,
        items=[NodeOut.of(n) for n in members[offset : offset + limit]],
    )


def why_together(store: GraphStore, cluster: str, a: NodeRef, b: NodeRef) -> Explanation:
    """The chain of shared identifiers tying two members of `cluster`, with evidence."""
    require_node(store, NodeRef(Label.ACTOR, cluster))
    for ref in (a, b):
        found = require_node(store, ref).props.get("cluster")
        if found != cluster:
            where = f"cluster {found}" if found else "no cluster"
            raise InvalidRequestError(f"{ref} is in {where}, not in cluster {cluster}")
    steps, confidence = explain(store, a, b)
    return Explanation(steps=[StepOut(**asdict(step)) for step in steps], confidence=confidence)


_DECISIONS = Lock()
"""Decisions re-cluster the whole store; two at once would interleave their writes."""


def decide(
    store: GraphStore, action: str, records: Sequence[str], by: str, note: str = ""
) -> DecisionResult:
    """Store an analyst's decision, then re-cluster so the answer already reflects it."""
    if action not in DECISION_ACTIONS:
        raise InvalidRequestError(
            f"unknown action {action!r} (valid: {', '.join(DECISION_ACTIONS)})"
        )
    refs: list[NodeRef] = []
    for text in dict.fromkeys(records):
        try:
            ref = NodeRef.parse(text)
        except ValueError as exc:
            raise InvalidRequestError(f"record: {exc}") from None
        if ref.label not in RECORD_LABELS:
            kinds = ", ".join(sorted(str(label) for label in RECORD_LABELS))
            raise InvalidRequestError(f"{ref} is not a record that clusters ({kinds})")
        refs.append(ref)
    stored = {n.ref for n in store.get_nodes(refs)}
    for ref in refs:
        if ref not in stored:
            raise NotFoundError(ref)
    with _DECISIONS:
        try:
            decision = record_decision(store, action, refs, by, note)
        except ValueError as exc:
            raise InvalidRequestError(str(exc)) from None
        link_actors(store)
    clusters = {str(n.ref): _text(n.props.get("cluster")) for n in store.get_nodes(refs)}
    return DecisionResult(decision=DecisionOut(**decision), clusters=clusters)


@dataclass(frozen=True, slots=True)
class ClusterGrowth:
    """Postings of one cluster in the last 12 months of the data and in the 12 before."""

    cluster: str
    recent: int
    previous: int

    @property
    def change(self) -> int:
        return self.recent - self.previous


@dataclass(frozen=True, slots=True)
class GrowthWindow:
    """(previous_from, recent_from] and (recent_from, end]: days as ISO strings."""

    previous_from: str
    recent_from: str
    end: str


def cluster_growth(
    dated: Iterable[tuple[str, str]], size: int
) -> tuple[list[ClusterGrowth], GrowthWindow | None]:
    """From (posting day, cluster) pairs, the clusters that gained the most postings in the
    last 12 months of the data over the 12 months before. Measured from the newest posting,
    not today, so an archive read later still shows what was growing then."""
    pairs = [(day[:10], cluster) for day, cluster in dated if day and cluster]
    if not pairs:
        return [], None
    end = max(day for day, _ in pairs)
    year = int(end[:4])
    # a boundary is only compared with, never parsed, so 02-29 of a common year is fine
    window = GrowthWindow(f"{year - 2:04d}{end[4:]}", f"{year - 1:04d}{end[4:]}", end)
    recent: Counter[str] = Counter()
    previous: Counter[str] = Counter()
    for day, cluster in pairs:
        if day > window.recent_from:
            recent[cluster] += 1
        elif day > window.previous_from:
            previous[cluster] += 1
    growing = [ClusterGrowth(c, n, previous[c]) for c, n in recent.items() if n > previous[c]]
    growing.sort(key=lambda g: (-g.change, -g.recent, g.cluster))
    return growing[:size], window


# --- centrality and communities ----------------------------------------------------------------

MEASURES = ("degree", "betweenness", "pagerank", "eigenvector")
BROKER_KINDS = frozenset({Label.IDENTIFIER, Label.COMPANY, Label.PERSON, Label.ACTOR})
"""Who can broker: contacts, companies, people, actors. Platforms, countries, substances and
hub identifiers (a platform's footer) sit between everything by construction, so their
betweenness names no go-between."""


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def centrality(node: Node) -> float | None:
    """PageRank when analysis stored it, else degree; None before any analysis."""
    for name in ("pagerank", "degree"):
        value = _number(node.props.get(name))
        if value is not None:
            return value
    return None


def _ranking(
    store: GraphStore,
    cache: DashboardCache,
    measure: str,
    kinds: frozenset[Label] | None,
    skip_hubs: bool = False,
) -> list[tuple[NodeRef, float]]:
    """Every node with a stored `measure`, highest first (ties by id), as refs; without
    the identifiers clustering flagged as hubs when `skip_hubs`."""

    def build() -> list[tuple[NodeRef, float]]:
        scored = []
        for label in sorted(kinds) if kinds else [None]:
            for node in store.iter_nodes(label):
                value = _number(node.props.get(measure))
                if value is not None and not (skip_hubs and node.props.get("hub")):
                    scored.append((node.ref, value))
        scored.sort(key=lambda item: (-item[1], str(item[0])))
        return scored

    name = f"rank:{measure}:{','.join(sorted(kinds or ()))}:{skip_hubs}"
    return cache.remember(store, name, build)


def centrality_page(
    store: GraphStore,
    cache: DashboardCache,
    measure: str,
    kinds: Iterable[Label] | None,
    limit: int,
    offset: int,
    *,
    skip_hubs: bool = False,
) -> CentralityPage:
    """Nodes ranked by a measure `run_analysis` stored; empty before analysis (and for
    eigenvector when it did not converge)."""
    ranked = _ranking(store, cache, measure, frozenset(kinds) if kinds else None, skip_hubs)
    window = ranked[offset : offset + limit]
    nodes = {n.ref: n for n in store.get_nodes([ref for ref, _ in window])}
    items = [
        RankedNode(**node_view(nodes[ref]), score=score, rank=offset + number + 1)
        for number, (ref, score) in enumerate(window)
        if ref in nodes
    ]
    return CentralityPage(
        total=len(ranked), limit=limit, offset=offset, items=items, measure=measure
    )  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _Community:
    id: int
    size: int
    kinds: dict[str, int]
    top: list[NodeRef]


def _communities(store: GraphStore, cache: DashboardCache, top: int) -> list[_Community]:
    def build() -> list[_Community]:
        members: dict[int, list[tuple[float, str, NodeRef]]] = defaultdict(list)
        for node in store.iter_nodes():
            community = node.props.get("community")
            if isinstance(community, int) and not isinstance(community, bool):
                members[community].append((centrality(node) or 0.0, str(node.ref), node.ref))
        found = []
        for community, nodes in sorted(members.items()):
            kinds = Counter(str(ref.label) for _, _, ref in nodes)
            best = heapq.nsmallest(top, nodes, key=lambda item: (-item[0], item[1]))
            found.append(_Community(community, len(nodes), dict(kinds.most_common()),
                                    [ref for _, _, ref in best]))  # fmt: skip
        return found

    return cache.remember(store, f"communities:{top}", build)


def community_page(
    store: GraphStore, cache: DashboardCache, limit: int, offset: int, top: int = 5
) -> Page[CommunityOut]:
    """Louvain communities of the last analysis, largest first, with their most central
    members; empty before analysis."""
    found = _communities(store, cache, top)
    window = found[offset : offset + limit]
    nodes = {n.ref: n for n in store.get_nodes([r for c in window for r in c.top])}
    items = [
        CommunityOut(id=c.id, size=c.size, kinds=c.kinds,
                     top=[NodeOut.of(nodes[r]) for r in c.top if r in nodes])
        for c in window
    ]  # fmt: skip
    return Page[CommunityOut](total=len(found), limit=limit, offset=offset, items=items)


# --- trends and alerts -------------------------------------------------------------------------


def trend_series(
    store: GraphStore, cache: DashboardCache, period: str, substances: Sequence[str] | None
) -> list[SubstanceSeries]:
    """substance_trends, busiest first; only `substances` (keys) when given."""
    chosen = tuple(dict.fromkeys(substances)) if substances else None
    name = f"trends:{period}:{','.join(chosen) if chosen else '*'}"
    return cache.remember(store, name, lambda: substance_trends(store, period, chosen))


def trend_page(
    store: GraphStore,
    cache: DashboardCache,
    period: str,
    substances: Sequence[str] | None,
    limit: int,
    offset: int,
) -> TrendsPage:
    rows = [s.as_dict() for s in trend_series(store, cache, period, substances)]
    return paged(TrendsPage, rows, limit, offset, period=period)


def substitution_page(
    store: GraphStore, cache: DashboardCache, limit: int, offset: int
) -> SubstitutionSignals:
    """Substitution signals computed now (the alerts keep those of the last checks)."""
    found = cache.remember(store, "substitution", lambda: substitution_signals(store))
    return paged(SubstitutionSignals, [s.as_dict() for s in found], limit, offset)


AlertKind = Literal["registry", "reappearances", "substitution"]
ALERT_PAGES: dict[str, type[RegistryAlerts | Reappearances | SubstitutionSignals]] = {
    "registry": RegistryAlerts,
    "reappearances": Reappearances,
    "substitution": SubstitutionSignals,
}


def alert_list(
    store: GraphStore, kind: AlertKind, limit: int, offset: int
) -> RegistryAlerts | Reappearances | SubstitutionSignals:
    """One list of the last checks' alerts (ALERTS_META), paged."""
    rows = (store.get_meta(ALERTS_META) or {}).get(kind, [])
    return paged(ALERT_PAGES[kind], rows, limit, offset)


def alerts(store: GraphStore, limit: int, offset: int) -> Alerts:
    """The last checks' record, each list paged alike; empty lists before any checks."""
    return _alerts_from(store.get_meta(ALERTS_META) or {}, limit, offset)


def _alerts_from(meta: dict[str, Any], limit: int, offset: int) -> Alerts:
    lists = {kind: paged(page, meta.get(kind, []), limit, offset)
             for kind, page in ALERT_PAGES.items()}  # fmt: skip
    return Alerts(ran_at=meta.get("ran_at"), **lists)  # type: ignore[arg-type]


# --- seizures and routes -----------------------------------------------------------------------

Leg = tuple[str | None, tuple[str, ...], str | None]
"""Origin, transit countries in order, destination."""


def _legs(store: GraphStore) -> dict[NodeRef, Leg]:
    """The route of every seizure and Route node, read from ORIGIN/TRANSIT/DESTINATION."""
    origin: dict[NodeRef, str] = {}
    destination: dict[NodeRef, str] = {}
    for source, target, rel, _ in store.edge_list([RelType.ORIGIN, RelType.DESTINATION]):
        (origin if rel is RelType.ORIGIN else destination)[source] = target.key
    transit: dict[NodeRef, list[tuple[int, str]]] = defaultdict(list)
    for edge in store.iter_edges(RelType.TRANSIT):
        order = edge.props.get("order")
        transit[edge.source].append((order if isinstance(order, int) else 0, edge.target.key))
    owners = origin.keys() | destination.keys() | transit.keys()
    return {
        owner: (origin.get(owner), tuple(c for _, c in sorted(transit.get(owner, []))),
                destination.get(owner))
        for owner in owners
    }  # fmt: skip


def seizure_rows(store: GraphStore, cache: DashboardCache) -> list[SeizureOut]:
    """Every seizure, newest first, with its substance, countries and cluster. A seizure
    without route countries of its own takes those of the Route it was on."""

    def build() -> list[SeizureOut]:
        legs = _legs(store)
        on_route = {s: r for s, r, _, _ in store.edge_list([RelType.ON_ROUTE])}
        seized_in = {s: c.key for s, c, _, _ in store.edge_list([RelType.SEIZED_IN])}
        substance = {s: t.key for s, t, _, _ in store.edge_list([RelType.OF_SUBSTANCE])}
        names = {n.key: str(n.props.get("name") or n.key)
                 for n in store.iter_nodes(Label.SUBSTANCE)}  # fmt: skip
        rows = []
        for node in store.iter_nodes(Label.SEIZURE):
            route = on_route.get(node.ref)
            leg = legs.get(node.ref) or (legs.get(route) if route else None)
            origin, transit, destination = leg or (None, (), None)
            key = substance.get(node.ref)
            rows.append(SeizureOut(
                id=node.key, date=_text(node.props.get("date")), substance=key,
                substance_name=names.get(key) if key else _text(node.props.get("substance")),
                quantity=_number(node.props.get("quantity")), unit=_text(node.props.get("unit")),
                seized_in=seized_in.get(node.ref), origin=origin, transit=list(transit),
                destination=destination, cluster=_text(node.props.get("cluster")),
            ))  # fmt: skip
        rows.sort(key=lambda row: (row.date or "", row.id), reverse=True)
        return rows

    return cache.remember(store, "seizures", build)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(slots=True)
class FlowCounts:
    """Seizures per route, per origin-destination pair, per leg between two countries, and
    per country by role."""

    routes: Counter[Leg] = field(default_factory=Counter)
    pairs: Counter[tuple[str | None, str | None]] = field(default_factory=Counter)
    legs: Counter[tuple[str, str]] = field(default_factory=Counter)
    roles: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


def flow_counts(store: GraphStore, cache: DashboardCache) -> FlowCounts:
    counts = FlowCounts()
    for row in seizure_rows(store, cache):
        if not (row.origin or row.transit or row.destination):
            continue
        counts.routes[(row.origin, tuple(row.transit), row.destination)] += 1
        counts.pairs[(row.origin, row.destination)] += 1
        stops = [c for c in (row.origin, *row.transit, row.destination) if c]
        for a, b in pairwise(stops):
            if a != b:
                counts.legs[(a, b)] += 1
        for role, codes in (("origin", [row.origin]), ("transit", row.transit),
                            ("destination", [row.destination])):  # fmt: skip
            for code in {c for c in codes if c}:
                counts.roles[code][role] += 1
        for code in set(stops):
            counts.roles[code]["total"] += 1
    return counts


def _busiest(counter: Counter[Any]) -> list[tuple[Any, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], str(item[0])))


def flows(store: GraphStore, cache: DashboardCache, limit: int, offset: int) -> Flows:
    """Country flows of seizures, busiest first, each list paged alike."""
    counts = flow_counts(store, cache)
    routes = [RouteFlow(origin=o, transit=list(t), destination=d, seizures=n)
              for (o, t, d), n in _busiest(counts.routes)]  # fmt: skip
    pairs = [PairFlow(origin=o, destination=d, seizures=n) for (o, d), n in _busiest(counts.pairs)]
    countries = sorted(
        (CountryFlow(code=code, origin=r["origin"], transit=r["transit"],
                     destination=r["destination"], total=r["total"])
         for code, r in counts.roles.items()),
        key=lambda c: (-c.total, c.code),
    )  # fmt: skip
    return Flows(
        routes=paged(Page[RouteFlow], routes, limit, offset),
        pairs=paged(Page[PairFlow], pairs, limit, offset),
        countries=paged(Page[CountryFlow], countries, limit, offset),
    )


# --- dashboard ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Lead:
    """An alert with the postings it names, so the dashboard can link to them."""

    alert: RegistryAlertOut | ReappearanceOut
    postings: dict[str, NodeOut]


@dataclass(slots=True)
class Dashboard:
    nodes: dict[str, int]
    edges: dict[str, int]
    latest_postings: list[NodeOut]
    top_entities: list[RankedNode]
    largest_clusters: list[dict[str, Any]] = field(default_factory=list)
    clusters_total: int = 0
    growing_clusters: list[ClusterGrowth] = field(default_factory=list)
    growth_window: GrowthWindow | None = None
    brokers: list[RankedNode] = field(default_factory=list)
    articulation_points: int | None = None
    alerts: Alerts | None = None
    registry_latest: list[Lead] = field(default_factory=list)
    reappearances_latest: list[Lead] = field(default_factory=list)


LEADS_SHOWN = 5
"""The dashboard shows the latest few alerts of each kind and links to the rest."""


def build_dashboard(store: GraphStore, cache: DashboardCache, size: int) -> Dashboard:
    """Everything the dashboard shows, from one pass over the postings plus the cached
    rankings and cluster summaries."""
    counts = store.counts()
    latest, days, dated = _scan_postings(store, size)
    clusters = cluster_order(store, cache)
    growing, window = cluster_growth(dated, size)
    meta = store.get_meta(ALERTS_META) or {}
    registry = heapq.nlargest(
        LEADS_SHOWN, (RegistryAlertOut(**a) for a in meta.get("registry", [])),
        key=lambda a: (days.get(a.posting, ""), a.posting),
    )  # fmt: skip
    reposts = heapq.nlargest(
        LEADS_SHOWN, (ReappearanceOut(**r) for r in meta.get("reappearances", [])),
        key=lambda r: (r.reposted_at, r.reposted),
    )  # fmt: skip
    named = {a.posting for a in registry} | {k for r in reposts for k in (r.removed, r.reposted)}
    postings = {
        n.key: NodeOut.of(n)
        for n in store.get_nodes([NodeRef(Label.POSTING, k) for k in sorted(named)])
    }
    analysis = store.get_meta(ANALYSIS_META) or {}
    return Dashboard(
        nodes=dict(sorted(counts.nodes.items())),
        edges=dict(sorted(counts.edges.items())),
        latest_postings=latest,
        top_entities=centrality_page(store, cache, "degree", None, size, 0).items,
        largest_clusters=summaries_of(store, cache, clusters[:size]),
        clusters_total=len(clusters),
        growing_clusters=growing,
        growth_window=window,
        brokers=centrality_page(
            store, cache, "betweenness", BROKER_KINDS, size, 0, skip_hubs=True
        ).items,
        articulation_points=analysis.get("articulation_points"),
        alerts=_alerts_from(meta, size, 0),
        registry_latest=[Lead(a, _picked(postings, [a.posting])) for a in registry],
        reappearances_latest=[Lead(r, _picked(postings, [r.removed, r.reposted]))
                              for r in reposts],
    )  # fmt: skip


def _picked(nodes: dict[str, NodeOut], keys: Iterable[str]) -> dict[str, NodeOut]:
    return {key: nodes[key] for key in keys if key in nodes}


def _scan_postings(
    store: GraphStore, size: int
) -> tuple[list[NodeOut], dict[str, str], list[tuple[str, str]]]:
    """One pass over the postings for everything the dashboard needs of them: the `size`
    latest, each posting's day, and (day, cluster) pairs for growth."""
    heap: list[tuple[str, int, Node]] = []
    days: dict[str, str] = {}
    dated: list[tuple[str, str]] = []
    for order, node in enumerate(store.iter_nodes(Label.POSTING)):
        posted = str(node.props.get("posted_at") or "")
        day = posted or str(node.provenance.first_seen or "")
        days[node.key] = day
        if node.props.get("cluster"):
            dated.append((day, str(node.props["cluster"])))
        item = (posted, -order, node)  # ties: the first seen wins, as heapq.nlargest
        if len(heap) < size:
            heapq.heappush(heap, item)
        elif item[:2] > heap[0][:2]:
            heapq.heapreplace(heap, item)
    latest = [NodeOut.of(node) for *_, node in sorted(heap, key=lambda i: i[:2], reverse=True)]
    return latest, days, dated

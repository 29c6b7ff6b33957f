"""Read queries the API and the pages share, so a page shows exactly what the API returns.

Each function takes the store and plain arguments and returns app.models objects; HTTP
concerns (status codes, templates) stay in the routers.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from threading import Lock

from app.models import Connection, EdgeOut, Entity, NodeOut, Page, SearchPage
from graph.schema import Edge, Label, Node, NodeRef, identifier_key
from graph.store import GraphStore, NodeFilter, Subgraph
from ingest.identifiers import parse_contact

SEARCH_COUNT_CAP = 1000
"""Search totals count at most this many hits; beyond it `total_exact` is false."""


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
    than answering an empty graph."""
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
    store: GraphStore, query: str, labels: Iterable[Label] | None, limit: int, offset: int
) -> SearchPage:
    """Store search, led by the query's normalised identifier when one is stored."""
    labels = frozenset(labels) if labels else None
    ident = identifier_ref(query)
    head: list[Node] = []
    if ident is not None and (labels is None or Label.IDENTIFIER in labels):
        head = [n for n in [store.get_node(ident)] if n is not None]
    window = store.search(query, labels, limit=offset + limit + 1, offset=0)
    merged = _dedupe([*head, *window])
    total, exact = len(merged), True
    if len(window) > offset + limit:  # more hits than this page: count them, up to a cap
        counted = store.search(query, labels, limit=SEARCH_COUNT_CAP, offset=0)
        total = max(len(_dedupe([*head, *counted])), len(merged))
        exact = len(counted) < SEARCH_COUNT_CAP
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
    """
    node = require_node(store, ref)
    sub = store.ego([ref], 1, limit=offset + limit + 2)
    order = {n.ref: i for i, n in enumerate(sub.nodes)}
    edges = sorted(
        _touching(sub.edges, ref),
        key=lambda e: (order[_other(e, ref)], str(e.type), e.source == ref),
    )
    total, exact = len(edges), True
    if sub.truncated:  # a hub: count its edges up to a cap
        counted = store.ego([ref], 1, limit=SEARCH_COUNT_CAP + 1)
        total, exact = len(_touching(counted.edges, ref)), not counted.truncated
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


# --- dashboard -------------------------------------------------------------------------------


@dataclass(slots=True)
class Dashboard:
    nodes: dict[str, int]
    edges: dict[str, int]
    latest_postings: list[NodeOut]
    top_entities: list[NodeOut]


@dataclass(slots=True)
class DashboardCache:
    """The dashboard scans postings and ranks entities; reuse that while the counts are the
    same and the result is younger than `ttl` seconds (analysis changes no counts)."""

    ttl: float = 60.0
    _key: tuple | None = None
    _at: float = 0.0
    _value: Dashboard | None = None
    _lock: Lock = field(default_factory=Lock)

    def get(self, store: GraphStore, size: int = 10) -> Dashboard:
        counts = store.counts()
        key = (tuple(sorted(counts.nodes.items())), tuple(sorted(counts.edges.items())))
        with self._lock:
            fresh = self._value is not None and time.monotonic() - self._at < self.ttl
            if fresh and key == self._key:
                return self._value  # type: ignore[return-value]
        value = Dashboard(
            dict(sorted(counts.nodes.items())),
            dict(sorted(counts.edges.items())),
            latest_postings(store, size),
            top_entities(store, size),
        )
        with self._lock:
            self._key, self._at, self._value = key, time.monotonic(), value
        return value


def latest_postings(store: GraphStore, size: int) -> list[NodeOut]:
    postings = store.iter_nodes(Label.POSTING)
    latest = heapq.nlargest(size, postings, key=lambda n: str(n.props.get("posted_at") or ""))
    return [NodeOut.of(n) for n in latest]


def centrality(node: Node) -> float | None:
    """PageRank when analysis stored it, else degree; None before any analysis."""
    for name in ("pagerank", "degree"):
        value = node.props.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def top_entities(store: GraphStore, size: int) -> list[NodeOut]:
    """Entities with the highest stored `degree`; empty until analysis has run."""
    ranked = (n for n in store.iter_nodes() if isinstance(n.props.get("degree"), (int, float)))
    top = heapq.nlargest(size, ranked, key=lambda n: float(n.props["degree"]))  # type: ignore[arg-type]
    return [NodeOut.of(n) for n in top]

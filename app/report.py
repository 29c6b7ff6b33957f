"""The evidence report of a case: one self-contained HTML file, printable to PDF.

It holds the case's network as an SVG picture drawn here, its clusters with the evidence
tying each member, every posting quoted with its source URL, capture time and the SHA-256
of the captured record, the seizures and their routes, the annotations, and who did what
in the case. Every claim carries `data-source` naming an entry of the numbered source list
at the end, and each entry says which stored record (node, edge, annotation, log or audit
entry) it is and where that record came from (source, source record, dates).

Why one file with its style inline: the report is handed on, printed and archived, so it
must not depend on this server. Served over HTTP it gets a CSP of its own that allows that
inline style and nothing else: no script at all, no outside request (REPORT_CSP).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, Protocol

import networkx as nx
from markupsafe import Markup

from app.models import caption, edge_id
from app.pages import safe_href, templates
from graph.cases import (
    CASE_VIEW_LIMIT,
    CONNECTING_RELS,
    Annotation,
    Case,
    activity,
    annotations,
    case_network,
    case_records,
    cluster_member_refs,
    get_case,
    pinned_refs,
)
from graph.linking import RECORD_LABELS, explain_cluster
from graph.schema import NODE_TYPES, Edge, Label, Node, NodeRef, RelType, now_iso
from graph.store import GraphStore, NodeFilter, Subgraph

REPORT_CSP = "; ".join(
    (
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
"""The served report's policy: its inline style, and nothing that runs or loads."""
ROUTE_RELS = frozenset({RelType.ORIGIN, RelType.TRANSIT, RelType.DESTINATION})
SEIZURE_RELS = ROUTE_RELS | {RelType.ON_ROUTE, RelType.SEIZED_IN, RelType.OF_SUBSTANCE}
AUDIT_PAGE = 1000
LABELLED_NODES = 80
"""Up to this many nodes every node is labelled in the picture; above, not the records."""


class AuditSource(Protocol):
    """The app's audit trail (app.audit.AuditLog), as far as the report reads it."""

    def entries(
        self, path_prefix: str | None = None, actor: str | None = None, limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]: ...  # fmt: skip


# --- sources -------------------------------------------------------------------------------


@dataclass(slots=True)
class Source:
    """One numbered entry of the source list: a stored record and where it came from."""

    n: int
    kind: str
    """node, edge, annotation, activity or audit."""
    ref: str
    what: str
    origin: dict[str, str | None]
    """source, source record, first/last seen, ingested at; or author/actor and time."""
    attrs: dict[str, str] = field(default_factory=dict)
    """data-* attributes that say exactly which record this is (for machines and tests)."""

    @property
    def anchor(self) -> str:
        return f"src-{self.n}"


class Sources:
    """The report's source list, numbered in the order records are first cited."""

    def __init__(self) -> None:
        self.items: list[Source] = []
        self._by_key: dict[tuple[str, str], Source] = {}

    def _add(self, kind: str, ref: str, what: str, origin: dict[str, str | None],
             attrs: dict[str, str]) -> Source:  # fmt: skip
        known = self._by_key.get((kind, ref))
        if known is None:
            known = Source(len(self.items) + 1, kind, ref, what, origin, attrs)
            self.items.append(known)
            self._by_key[(kind, ref)] = known
        return known

    def node(self, node: Node) -> Source:
        prov = node.provenance.as_dict()
        sha = node.props.get("content_sha256")
        origin = {**prov, "content_sha256": str(sha) if sha else None}
        return self._add("node", str(node.ref), f"{node.label} {caption(node)}", origin,
                         {"ref": str(node.ref)})  # fmt: skip

    def edge(self, edge: Edge) -> Source:
        return self._add(
            "edge", edge_id(edge), f"{edge.type} {edge.source} → {edge.target}",
            edge.provenance.as_dict(),
            {"rel": str(edge.type), "from": str(edge.source), "to": str(edge.target)},
        )  # fmt: skip

    def annotation(self, note: Annotation) -> Source:
        return self._add("annotation", note.id, f"annotation {note.id} on {note.target}",
                         {"author": note.author, "at": note.at},
                         {"case": note.case, "id": note.id})  # fmt: skip

    def activity(self, case_id: str, entry: dict[str, Any]) -> Source:
        return self._add("activity", str(entry["id"]), f"case log {entry['id']}",
                         {"actor": entry.get("actor"), "at": entry.get("at")},
                         {"case": case_id, "id": str(entry["id"])})  # fmt: skip

    def audit(self, entry: dict[str, Any]) -> Source:
        return self._add("audit", str(entry["seq"]), f"audit entry {entry['seq']}",
                         {"actor": entry.get("actor"), "at": entry.get("at"),
                          "hash": entry.get("hash")},
                         {"seq": str(entry["seq"])})  # fmt: skip


# --- what the report says ------------------------------------------------------------------


@dataclass(slots=True)
class Claim:
    """One statement of the report and the source it rests on."""

    text: str
    source: Source
    quote: str | None = None


@dataclass(slots=True)
class MemberEvidence:
    member: Node
    source: Source
    ties: list[Claim]
    """Each shared contact (or named party) tying it, with the text it was read from."""


@dataclass(slots=True)
class ClusterSection:
    actor: Node
    source: Source
    explanation: dict[str, Any]
    members: list[MemberEvidence]
    truncated: bool


@dataclass(slots=True)
class PostingItem:
    node: Node
    source: Source
    title: str
    text: str
    url: str | None
    href: str | None
    captured_at: str | None
    posted_at: str | None
    sha256: str | None


@dataclass(slots=True)
class Leg:
    role: str
    country: str
    source: Source


@dataclass(slots=True)
class SeizureItem:
    node: Node
    source: Source
    facts: list[tuple[str, str]]
    legs: list[Leg]
    route: str | None
    route_source: Source | None


@dataclass(slots=True)
class RouteItem:
    node: Node
    source: Source
    legs: list[Leg]


@dataclass(slots=True)
class Report:
    case: Case
    generated_at: str
    generated_by: str
    backend: str
    picture: Markup
    network: Subgraph
    pins: list[str]
    clusters: list[ClusterSection]
    postings: list[PostingItem]
    seizures: list[SeizureItem]
    routes: list[RouteItem]
    annotations: list[Claim]
    activity: list[Claim]
    audit: list[Claim] | None
    sources: Sources


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _evidence(edge: Edge) -> str:
    return _text(edge.props.get("evidence"))


def _cluster_section(
    store: GraphStore, actor: Node, sources: Sources, limit: int
) -> ClusterSection:
    """The cluster's explanation (graph.linking.explain_cluster) and, for each member, the
    edges from it to the ties that explanation names, each with its own evidence text; a
    member tied by none of them (a name, an analyst's merge) cites its MEMBER_OF edge."""
    explanation = explain_cluster(store, actor.key, limit=limit)
    vias = [NodeRef.parse(t["via"]) for t in explanation["ties"]]
    members = cluster_member_refs(store, actor.key, limit + 1)
    truncated = len(members) > limit
    members = members[:limit]
    edges = store.edges_among([actor.ref, *members, *vias])
    via_set = set(vias)
    by_member: dict[NodeRef, list[Edge]] = {}
    joined: dict[NodeRef, Edge] = {}
    for edge in edges:
        if edge.type is RelType.MEMBER_OF and edge.target == actor.ref:
            joined[edge.source] = edge
        elif edge.type in CONNECTING_RELS and edge.target in via_set:
            by_member.setdefault(edge.source, []).append(edge)
    section = ClusterSection(actor, sources.node(actor), explanation, [], truncated)
    for member in store.get_nodes(members):
        ties = [
            Claim(f"shares {e.target}", sources.edge(e), _evidence(e) or None)
            for e in sorted(by_member.get(member.ref, []), key=lambda e: str(e.target))
        ]
        if not ties and member.ref in joined:
            ties = [Claim("member by a name or an analyst's decision (no shared contact)",
                          sources.edge(joined[member.ref]))]  # fmt: skip
        section.members.append(MemberEvidence(member, sources.node(member), ties))
    return section


def _posting(node: Node, sources: Sources) -> PostingItem:
    url = node.props.get("url")
    sha = node.props.get("content_sha256")
    return PostingItem(
        node, sources.node(node), _text(node.props.get("title")), _text(node.props.get("text")),
        _text(url) or None, safe_href(url), node.provenance.ingested_at,
        _text(node.props.get("posted_at")) or node.provenance.first_seen,
        str(sha) if sha else None,
    )  # fmt: skip


def _legs(edges: Iterable[Edge], owner: NodeRef, sources: Sources) -> list[Leg]:
    """Origin, transit countries in their order, destination."""
    mine = [e for e in edges if e.source == owner and e.type in ROUTE_RELS]
    rank = {RelType.ORIGIN: 0, RelType.TRANSIT: 1, RelType.DESTINATION: 2}

    def order(edge: Edge) -> tuple[int, int]:
        position = edge.props.get("order")
        return rank[edge.type], position if isinstance(position, int) else 0

    return [
        Leg(str(e.type).lower(), e.target.key, sources.edge(e)) for e in sorted(mine, key=order)
    ]


def _seizures_and_routes(
    store: GraphStore, seizures: Sequence[Node], pinned_routes: Sequence[Node], sources: Sources
) -> tuple[list[SeizureItem], list[RouteItem]]:
    around = store.ego([s.ref for s in seizures], 1, NodeFilter(rel_types=SEIZURE_RELS),
                       limit=20 * len(seizures) + 1)  # fmt: skip
    names = {n.ref: caption(n) for n in around.nodes}
    items = []
    route_refs: dict[NodeRef, None] = {r.ref: None for r in pinned_routes}
    for seizure in seizures:
        mine = [e for e in around.edges if e.source == seizure.ref]
        facts = [
            (name, _text(seizure.props.get(name)))
            for name in ("date", "substance", "cas", "quantity", "unit", "consignor", "consignee")
            if seizure.props.get(name) not in (None, "")
        ]
        for edge in mine:
            if edge.type in (RelType.SEIZED_IN, RelType.OF_SUBSTANCE):
                facts.append((str(edge.type).lower().replace("_", " "),
                              names.get(edge.target, edge.target.key)))  # fmt: skip
        on_route = next((e for e in mine if e.type is RelType.ON_ROUTE), None)
        if on_route is not None:
            route_refs[on_route.target] = None
        items.append(SeizureItem(
            seizure, sources.node(seizure), facts, _legs(mine, seizure.ref, sources),
            on_route.target.key if on_route else None,
            sources.edge(on_route) if on_route else None,
        ))  # fmt: skip
    routes = store.get_nodes(list(route_refs))
    legs = store.ego([r.ref for r in routes], 1, NodeFilter(rel_types=ROUTE_RELS),
                     limit=20 * len(routes) + 1).edges if routes else []  # fmt: skip
    return items, [RouteItem(r, sources.node(r), _legs(legs, r.ref, sources)) for r in routes]


def case_audit(audit: AuditSource | None, case_id: str) -> list[dict[str, Any]] | None:
    """Every audit entry on the case's API and pages, oldest first; None without an audit
    trail (a store opened with no app state around it)."""
    if audit is None:
        return None
    found: dict[int, dict[str, Any]] = {}
    for prefix in (f"/api/cases/{case_id}", f"/cases/{case_id}"):
        offset = 0
        while True:
            page = audit.entries(path_prefix=prefix, limit=AUDIT_PAGE, offset=offset)
            found.update((int(e["seq"]), e) for e in page)
            if len(page) < AUDIT_PAGE:
                break
            offset += AUDIT_PAGE
    return [found[seq] for seq in sorted(found)]


def build_report(
    store: GraphStore, case_id: str, generated_by: str, audit: AuditSource | None = None,
    limit: int = CASE_VIEW_LIMIT,
) -> Report:  # fmt: skip
    """Everything the report states, each claim tied to its source record."""
    case = get_case(store, case_id)
    sources = Sources()
    network = case_network(store, case_id, limit)
    pins = pinned_refs(store, case_id)
    records = store.get_nodes(case_records(store, case_id, limit))
    clusters = [
        _cluster_section(store, actor, sources, limit)
        for actor in store.get_nodes([p for p in pins if p.label is Label.ACTOR])
    ]
    postings = [_posting(n, sources) for n in records if n.label is Label.POSTING]
    seizures, routes = _seizures_and_routes(
        store, [n for n in records if n.label is Label.SEIZURE],
        [n for n in records if n.label is Label.ROUTE], sources,
    )  # fmt: skip
    notes = [
        Claim(f"on {a.target} by {a.author} at {a.at}", sources.annotation(a), a.text)
        for a in annotations(store, case_id)[1]
    ]
    log = [
        Claim(_activity_text(e), sources.activity(case_id, e)) for e in activity(store, case_id)[1]
    ]
    entries = case_audit(audit, case_id)
    audited = None if entries is None else [
        Claim(f"{e['method']} {e['path']} → {e['status']}"
              + (f" ({e['results']} results)" if e.get("results") is not None else ""),
              sources.audit(e))
        for e in entries
    ]  # fmt: skip
    return Report(
        case, now_iso(), generated_by, store.backend, network_svg(network, set(pins)), network,
        [str(p) for p in pins], clusters, postings, seizures, routes, notes, log, audited,
        sources,
    )  # fmt: skip


def activity_detail(entry: dict[str, Any]) -> str:
    """A case log entry's details in words: `status was open`, `ref Posting:P1`."""
    parts = []
    for key, value in sorted(entry.items()):
        if key in ("id", "at", "actor", "action"):
            continue
        if key == "was" and isinstance(value, dict):
            parts.extend(f"{name} was {_text(old) or '(empty)'}" for name, old in value.items())
        else:
            parts.append(f"{key} {_text(value)}")
    return ", ".join(parts)


def _activity_text(entry: dict[str, Any]) -> str:
    detail = activity_detail(entry)
    return f"{entry.get('at')} · {entry.get('actor')} · {entry.get('action')}" + (
        f" · {detail}" if detail else ""
    )


def render_report(report: Report) -> str:
    return templates.env.get_template("report.html").render(r=report, node_types=NODE_TYPES)


def case_report_html(
    store: GraphStore, case_id: str, generated_by: str, audit: AuditSource | None = None
) -> str:
    """The case's evidence report as one HTML document (what the API and the CLI give)."""
    return render_report(build_report(store, case_id, generated_by, audit))


# --- the picture ---------------------------------------------------------------------------

WIDTH, HEIGHT, MARGIN = 960, 600, 40


def _layout(sub: Subgraph) -> dict[NodeRef, tuple[float, float]]:
    """A seeded spring layout, so the same case draws the same picture."""
    graph = nx.Graph()
    graph.add_nodes_from(n.ref for n in sub.nodes)
    graph.add_edges_from((e.source, e.target) for e in sub.edges)
    if not graph:
        return {}
    spread = 1.5 / math.sqrt(max(len(graph), 1))
    raw = nx.spring_layout(graph, seed=7, k=spread, iterations=100)
    xs = [p[0] for p in raw.values()]
    ys = [p[1] for p in raw.values()]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    return {
        ref: (
            MARGIN + (x - min(xs)) / span_x * (WIDTH - 2 * MARGIN),
            MARGIN + (y - min(ys)) / span_y * (HEIGHT - 2 * MARGIN),
        )
        for ref, (x, y) in raw.items()
    }


def _short(text: str, size: int = 24) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def network_svg(sub: Subgraph, seeds: set[NodeRef]) -> Markup:
    """The network as an inline SVG: nodes coloured by kind, pins outlined; every text is
    escaped here (captions are scraped text), and nothing in it runs."""
    at = _layout(sub)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="Case network: {len(sub.nodes)} nodes, {len(sub.edges)} edges" '
        'class="network-picture">'
    ]
    for edge in sub.edges:
        if edge.source in at and edge.target in at:
            (x1, y1), (x2, y2) = at[edge.source], at[edge.target]
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                f'stroke="#b8c0cc" stroke-width="1"><title>{escape(str(edge.type))}</title></line>'
            )
    labelled = len(sub.nodes) <= LABELLED_NODES
    # a large case: label the pins and what ties records (contacts, actors), not each record
    for node in sub.nodes:
        x, y = at[node.ref]
        pinned = node.ref in seeds
        color = NODE_TYPES[node.label].style.color
        name = escape(caption(node))
        parts.append(
            f'<g data-ref="{escape(str(node.ref))}"><circle cx="{x:.1f}" cy="{y:.1f}" '
            f'r="{9 if pinned else 6}" fill="{color}" stroke="{"#1f2933" if pinned else color}" '
            f'stroke-width="{3 if pinned else 1}"><title>{escape(str(node.label))}: {name}'
            "</title></circle>"
        )
        if labelled or pinned or node.label not in RECORD_LABELS:
            parts.append(
                f'<text x="{x + 10:.1f}" y="{y + 4:.1f}" font-size="10" fill="#1f2933">'
                f"{escape(_short(caption(node)))}</text>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))

"""Response models of the HTTP API: what other systems can rely on.

They mirror graph.schema (a node is its kind, key, properties and provenance; an edge its
type, endpoints, properties and provenance) so the API needs no second vocabulary.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, Field

from graph.alerts import Reappearance, RegistryAlert
from graph.schema import NODE_TYPES, Edge, Node, PropertyValue
from graph.trends import SubstitutionSignal

T = TypeVar("T")

NodeId = str
"""A node's id in every response: `Label:key`, as NodeRef prints and parses it."""


class Problem(BaseModel):
    """Every error: FastAPI's own shape, so clients need one error handler."""

    detail: Any = Field(examples=["no Posting with key 'P404'"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    backend: str = Field(examples=["sqlite"])


class Stats(BaseModel):
    """Counts per node kind and relationship type."""

    nodes: dict[str, int] = Field(examples=[{"Posting": 5000, "Identifier": 812}])
    edges: dict[str, int] = Field(examples=[{"HAS_IDENTIFIER": 9120}])
    total_nodes: int
    total_edges: int


class ProvenanceOut(BaseModel):
    """Where a record came from; dates are ISO strings."""

    source: str | None = Field(None, examples=["monitoring-2024-05"])
    source_record: str | None = Field(None, examples=["P0000001"])
    first_seen: str | None = Field(None, examples=["2024-05-01"])
    last_seen: str | None = Field(None, examples=["2024-05-03"])
    ingested_at: str | None = Field(None, examples=["2024-06-01T10:00:00+00:00"])


class NodeOut(BaseModel):
    """One entity: kind, natural key, a caption for display, properties and provenance."""

    id: NodeId = Field(examples=["Identifier:phone:+8613800138000"])
    label: str = Field(examples=["Identifier"])
    key: str = Field(examples=["phone:+8613800138000"])
    caption: str = Field(examples=["+8613800138000"])
    properties: dict[str, PropertyValue]
    provenance: ProvenanceOut

    @classmethod
    def of(cls, node: Node, **extra: Any) -> Self:
        return cls(**node_view(node), **extra)


class EdgeOut(BaseModel):
    """One relationship; `properties.evidence` holds the text it was read from."""

    id: str = Field(examples=["HAS_IDENTIFIER:Posting:P1->Identifier:phone:+86138"])
    type: str = Field(examples=["HAS_IDENTIFIER"])
    source: NodeId
    target: NodeId
    properties: dict[str, PropertyValue]
    provenance: ProvenanceOut

    @classmethod
    def of(cls, edge: Edge) -> EdgeOut:
        return cls(**edge_view(edge))


class Page(BaseModel, Generic[T]):
    """One page of a list that can grow; `total_exact` is false when counting stopped early
    (then `total` is a lower bound)."""

    total: int = Field(examples=[42])
    total_exact: bool = True
    limit: int = Field(examples=[50])
    offset: int = Field(examples=[0])
    items: list[T]


class SearchPage(Page[NodeOut]):
    identifier: NodeId | None = Field(
        None,
        description="The query read as a contact identifier (normalised like ingest does), "
        "when it is one; that node, if stored, is the first item.",
        examples=["Identifier:phone:+8613800138000"],
    )


class Connection(BaseModel):
    """An edge seen from one entity: which way it points and the node at the other end."""

    direction: Literal["out", "in"]
    edge: EdgeOut
    other: NodeOut


class Entity(NodeOut):
    connections: Page[Connection]


class NetworkNode(NodeOut):
    """A node as drawn: style from the schema, size from centrality when analysed."""

    color: str = Field(examples=["#e15759"])
    shape: str = Field(examples=["dot"])
    value: float | None = Field(
        None, description="Centrality (pagerank, else degree) when analysis stored it."
    )
    seed: bool = False


class LegendItem(BaseModel):
    label: str
    color: str
    shape: str
    count: int


class Network(BaseModel):
    """A neighbourhood: nodes, edges, and whether the node limit cut it short."""

    seeds: list[NodeId]
    nodes: list[NetworkNode]
    edges: list[EdgeOut]
    truncated: bool
    limit: int
    legend: list[LegendItem]


class PathOut(BaseModel):
    """One shortest path: node ids in order and every edge between consecutive nodes."""

    nodes: list[NodeId]
    edges: list[str]


class Paths(BaseModel):
    source: NodeId
    target: NodeId
    max_depth: int
    length: int | None = Field(None, description="Hops of the shortest path; null if none.")
    paths: list[PathOut]
    truncated: bool = Field(
        description="A step hit the expansion budget, so a path may have been missed; "
        "narrow with `kinds`."
    )
    network: Network


class Rejected(BaseModel):
    """A row that was not ingested, and why."""

    file: str | None = None
    line: int | None = None
    field: str | None = None
    reason: str | None = None
    raw: Any = None


class IngestResult(BaseModel):
    """Per-record outcome of one upload; the first rejected rows come back inline."""

    kind: str = Field(examples=["postings"])
    read: int
    ingested: int
    updated: int
    unchanged: int
    rejected: int
    warnings: int
    unreadable_files: list[str]
    rejects: list[Rejected] = Field(description="Up to 100 rejected rows with their reason.")


def caption(node: Node) -> str:
    """The text a person recognises a node by: its schema caption field, else its key."""
    value = node.props.get(NODE_TYPES[node.label].caption)
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value) if value not in (None, "") else node.key


def node_view(node: Node) -> dict[str, Any]:
    """A node as NodeOut's plain data; networks send hundreds of these, and building them
    as dicts rather than validated models is most of a 2-hop request's time saved."""
    return {
        "id": str(node.ref),
        "label": str(node.label),
        "key": node.key,
        "caption": caption(node),
        "properties": node.props,
        "provenance": node.provenance.as_dict(),
    }


def edge_view(edge: Edge) -> dict[str, Any]:
    """An edge as EdgeOut's plain data."""
    return {
        "id": edge_id(edge),
        "type": str(edge.type),
        "source": str(edge.source),
        "target": str(edge.target),
        "properties": edge.props,
        "provenance": edge.provenance.as_dict(),
    }


def edge_id(edge: Edge) -> str:
    """Edges are identified by (type, source, target), so that is their id."""
    return f"{edge.type}:{edge.source}->{edge.target}"


# --- analysis: postings, clusters, trends, alerts, routes, centrality ------------------------


class IdentifierOut(BaseModel):
    kind: str = Field(examples=["phone"])
    value: str = Field(examples=["+8613800138000"])


class SubstanceOut(BaseModel):
    cas: str | None = Field(examples=["28578-16-7"])
    name: str | None = Field(examples=["PMK ethyl glycidate"])


class PostingSummary(BaseModel):
    """A posting as `prexus export postings` writes it, plus its provenance."""

    id: str = Field(examples=["P0000001"])
    cluster: str | None = Field(examples=["Ab332df1b12"])
    identifiers: list[IdentifierOut]
    substances: list[SubstanceOut]
    kind: str | None = Field(examples=["offer"])
    provenance: ProvenanceOut


class TieOut(BaseModel):
    """An identifier (or name) shared by members, with the text it was read from."""

    via: NodeId = Field(examples=["Identifier:telegram:longxinchem129"])
    records: int = Field(description="Members that carry it.")
    sample: list[NodeId]
    evidence: list[str]
    weight: float = Field(description="How specific the identifier kind is (0-1).")


class WeakLinkOut(BaseModel):
    """A tie to another cluster that was deliberately not merged (a broker's handle)."""

    via: NodeId
    other_cluster: str


class ClusterExplanation(BaseModel):
    """Why a cluster is one actor; see graph.linking.explain_cluster."""

    cluster: str
    confidence: float | None
    members: int
    ties: list[TieOut]
    hubs_not_used: list[NodeId] = Field(
        description="Shared identifiers left out because they are hubs (platform footers, "
        "escrow services)."
    )
    weak_links: list[WeakLinkOut]


class ClusterSummary(BaseModel):
    """A cluster as `prexus export clusters` writes it."""

    id: str = Field(examples=["Ab332df1b12"])
    postings: list[str]
    seizures: list[str]
    identifiers: list[IdentifierOut] = Field(description="Identifiers that tie it, no hubs.")
    size: int
    confidence: float | None


class ClusterOut(ClusterSummary):
    explanation: ClusterExplanation


class StepOut(BaseModel):
    """One hop: two records tied by a shared identifier (or a company name)."""

    from_record: NodeId
    via: NodeId
    to_record: NodeId
    evidence: list[str]
    weight: float


class Explanation(BaseModel):
    """How two members of a cluster are tied; no steps when nothing but an analyst's
    decision (or nothing at all) holds them together."""

    steps: list[StepOut]
    confidence: float = Field(description="Product of the steps' weights; 0 when no steps.")


class DecisionIn(BaseModel):
    """An analyst's call on a cluster: `confirm` it, `split` the records out of it, or
    `merge` the clusters of the records."""

    action: str = Field(examples=["split"], description="`confirm`, `split` or `merge`.")
    records: list[str] = Field(
        max_length=1000,
        examples=[["Posting:P0000001"]],
        description="`Label:key` of Posting, Seizure, Company, Person or Operator records.",
    )
    by: str = Field(min_length=1, max_length=200, examples=["analyst.jdoe"])
    note: str = Field("", max_length=2000)


class DecisionOut(BaseModel):
    action: str
    records: list[NodeId]
    by: str
    at: str
    note: str


class DecisionResult(BaseModel):
    """The stored decision and, after re-clustering, the cluster of each of its records."""

    decision: DecisionOut
    clusters: dict[NodeId, str | None]


class SubstanceSeriesOut(BaseModel):
    """Counts per period for one substance, with its scheduling date."""

    key: str = Field(examples=["13605-48-6"])
    name: str
    in_force: str | None = Field(examples=["2019-11-19"])
    offers: dict[str, int] = Field(examples=[{"2019": 41}])
    requests: dict[str, int]
    seizures: dict[str, int]
    seized_quantity: dict[str, float]


class TrendsPage(Page[SubstanceSeriesOut]):
    period: Literal["month", "quarter", "year"]


# The analysis results are dataclasses in graph/; the API serves them as they are, so the
# two cannot drift apart.
SubstitutionOut = SubstitutionSignal
RegistryAlertOut = RegistryAlert
ReappearanceOut = Reappearance


class RegistryAlerts(Page[RegistryAlertOut]):
    kind: Literal["registry"] = "registry"


class Reappearances(Page[ReappearanceOut]):
    kind: Literal["reappearances"] = "reappearances"


class SubstitutionSignals(Page[SubstitutionOut]):
    kind: Literal["substitution"] = "substitution"


class Alerts(BaseModel):
    """The last `prexus analyze` checks; each list paged with the same limit and offset.
    `ran_at` is null until the checks have run."""

    ran_at: str | None
    registry: RegistryAlerts
    reappearances: Reappearances
    substitution: SubstitutionSignals


class SeizureOut(BaseModel):
    """A seizure with what, how much, where, along which route, and whose cluster."""

    id: str = Field(examples=["S000001"])
    date: str | None
    substance: str | None = Field(description="Substance key (CAS when known).")
    substance_name: str | None
    quantity: float | None
    unit: str | None
    seized_in: str | None = Field(examples=["NL"])
    origin: str | None = Field(examples=["CN"])
    transit: list[str] = Field(examples=[["AE"]])
    destination: str | None
    cluster: str | None


class RouteFlow(BaseModel):
    """Seizures that took one route: origin, transit countries in order, destination."""

    origin: str | None
    transit: list[str]
    destination: str | None
    seizures: int


class PairFlow(BaseModel):
    origin: str | None
    destination: str | None
    seizures: int


class CountryFlow(BaseModel):
    """Seizures a country appears in, by role."""

    code: str
    origin: int
    transit: int
    destination: int
    total: int


class Flows(BaseModel):
    """Country flows of seizures; each list paged with the same limit and offset, busiest
    first."""

    routes: Page[RouteFlow]
    pairs: Page[PairFlow]
    countries: Page[CountryFlow]


class RankedNode(NodeOut):
    score: float
    rank: int = Field(description="1 for the highest score.")


class CentralityPage(Page[RankedNode]):
    measure: Literal["degree", "betweenness", "pagerank", "eigenvector"]


class CommunityOut(BaseModel):
    """A Louvain community from the last analysis: size, kinds, most central members."""

    id: int = Field(description="0 is the largest.")
    size: int
    kinds: dict[str, int]
    top: list[NodeOut] = Field(description="Highest PageRank (else degree) members.")

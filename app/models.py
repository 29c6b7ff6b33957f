"""Response models of the HTTP API: what other systems can rely on.

They mirror graph.schema (a node is its kind, key, properties and provenance; an edge its
type, endpoints, properties and provenance) so the API needs no second vocabulary.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, Field

from graph.schema import NODE_TYPES, Edge, Node, PropertyValue

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

"""The one storage interface both backends implement.

Backends implement a handful of primitives (write a batch, fetch nodes, expand a frontier,
edges among a node set, search); traversal and filtering logic that must behave the same on
both lives here once, so the contract tests cannot find the two drifting apart.
"""

from __future__ import annotations

import json
import re
import unicodedata
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from graph.limits import check_deadline
from graph.schema import (
    Edge,
    Label,
    Node,
    NodeRef,
    Provenance,
    RelType,
    digest,
    encode_props,
)

DEFAULT_VIEW_LIMIT = 300
REPLACE_BATCH = 5000
"""Edges per upsert when replace_edges rewrites a type through the generic path."""
_Item = TypeVar("_Item", Node, Edge)


class StoreError(RuntimeError):
    """A store operation failed; the message says what and where."""


class MissingNodeError(StoreError):
    """An edge points at a node that is neither in the batch nor in the store."""


class StoreUnavailableError(StoreError):
    """The backing database cannot be reached."""


@dataclass(slots=True)
class WriteStats:
    """What one upsert changed, so ingest can report created/updated/unchanged."""

    nodes_created: int = 0
    nodes_updated: int = 0
    nodes_unchanged: int = 0
    edges_created: int = 0
    edges_updated: int = 0
    edges_unchanged: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)
    """Label or relationship type -> [created, updated], for per-record counts."""

    def count(self, kind: str, created: int, updated: int) -> None:
        if not (created or updated):
            return
        entry = self.by_kind.setdefault(kind, [0, 0])
        entry[0] += created
        entry[1] += updated

    def __iadd__(self, other: WriteStats) -> WriteStats:
        for name in self.__slots__:
            if name != "by_kind":
                setattr(self, name, getattr(self, name) + getattr(other, name))
        for kind, (created, updated) in other.by_kind.items():
            self.count(kind, created, updated)
        return self


@dataclass(frozen=True, slots=True)
class NodeFilter:
    """Which nodes a traversal may reach: kinds and a date window on first/last seen."""

    labels: frozenset[Label] | None = None
    since: str | None = None
    until: str | None = None
    rel_types: frozenset[RelType] | None = None

    def accepts(self, node: Node) -> bool:
        if self.labels is not None and node.label not in self.labels:
            return False
        first, last = node.provenance.first_seen, node.provenance.last_seen
        if self.until and first and first[: len(self.until)] > self.until:
            return False
        return not (self.since and last and last < self.since)


@dataclass(slots=True)
class Subgraph:
    """Nodes and edges of a view, and whether the node limit cut it short."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    truncated: bool = False


@dataclass(slots=True)
class Counts:
    nodes: dict[str, int]
    edges: dict[str, int]

    @property
    def total_nodes(self) -> int:
        return sum(self.nodes.values())

    @property
    def total_edges(self) -> int:
        return sum(self.edges.values())


_ALNUM_RUNS = re.compile(r"[^\W_]+")
"""Runs of letters and digits: re's word characters are str.isalnum() plus '_'."""


def search_tokens(text: str) -> list[str]:
    """Case-folded words without diacritics, split at anything not a letter or digit: the
    same words SQLite's unicode61 tokenizer makes, so both stores find the same nodes."""
    if text.isascii():  # most text, and the Neo4j store tokenises every posting: one regex
        return _ALNUM_RUNS.findall(text.lower())  # (ASCII has nothing to fold or decompose)
    folded = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(c if c.isalnum() else " " for c in folded if not unicodedata.combining(c))
    return kept.split()


class GraphStore(ABC):
    """A graph of Prexus entities with provenance; see docs in README (Stores)."""

    backend: str = "abstract"

    # --- lifecycle -------------------------------------------------------------------------
    @abstractmethod
    def ensure_schema(self) -> None:
        """Create constraints, indexes and tables derived from graph.schema (idempotent)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def clear(self) -> None:
        """Remove every node, edge and metadata record (tests, `prexus reset`)."""

    # --- writes ----------------------------------------------------------------------------
    @contextmanager
    def grouped_commits(self, upserts: int) -> Iterator[None]:
        """Let the upserts of a bulk ingest inside the block commit `upserts` at a time,
        each still all-or-nothing on its own; metadata written between them (the ingest's
        checkpoint) commits with them. By default each upsert commits on its own; a store
        whose commits cost more than its writes (SQLite's write-ahead log) overrides this."""
        yield

    @abstractmethod
    def upsert(self, nodes: Sequence[Node], edges: Sequence[Edge] = ()) -> WriteStats:
        """Write one batch in one transaction: all of it or, on any error, none of it.

        Nodes merge by (label, key): properties are overlaid, first_seen keeps the earliest,
        last_seen the latest. Edges merge by (type, source, target) the same way; an edge
        whose endpoint is missing raises MissingNodeError.
        """

    @staticmethod
    def prepare_rows(nodes: Sequence[Node], edges: Sequence[Edge]) -> PreparedRows:
        """Make a batch ready for `upsert_rows`: what an ingest worker process runs (the
        store class travels to it, not the store), so that the process holding the
        connection only writes. By default `store_rows`; a store whose writes want another
        form (Neo4j: UNWIND parameters) overrides both."""
        return store_rows(nodes, edges)

    def upsert_rows(self, rows: PreparedRows) -> WriteStats:
        """Write a batch that this store's `prepare_rows` made (maybe in another process),
        like upsert.

        The generic way decodes the rows back into nodes and edges; a store that writes
        rows as they are (SQLite, Neo4j) overrides it, so ingest workers can do the merging
        and encoding and leave the writer only its database work.
        """
        return self.upsert(*rows.entities())

    @abstractmethod
    def set_properties(self, label: Label, updates: dict[str, dict[str, Any]]) -> int:
        """Overlay analysis results on existing nodes without touching provenance."""

    @abstractmethod
    def delete_edges(
        self, rel: RelType, source: Label | None = None, target: Label | None = None
    ) -> int:
        """Remove every edge of a type (optionally only between two kinds): analysis
        rewrites the edges it derives (MEMBER_OF, weak links) on each run."""

    def replace_edges(self, rel: RelType, edges: Sequence[Edge]) -> int:
        """Make `edges` (distinct source-target pairs) every stored edge of type `rel`, each
        stored as if written afresh: analysis re-derives MEMBER_OF on every run. Generic:
        delete them all and write them again; SQLite overrides it to write only the rows
        that differ. Returns how many edges are stored."""
        self.delete_edges(rel)
        for start in range(0, len(edges), REPLACE_BATCH):
            self.upsert([], edges[start : start + REPLACE_BATCH])
        return len(edges)

    @abstractmethod
    def delete(self, ref: NodeRef) -> bool:
        """Remove a node and its edges; False when it was not there."""

    # --- reads -----------------------------------------------------------------------------
    @abstractmethod
    def get_nodes(self, refs: Sequence[NodeRef]) -> list[Node]:
        """The nodes that exist among refs, in the order asked."""

    def get_node(self, ref: NodeRef) -> Node | None:
        found = self.get_nodes([ref])
        return found[0] if found else None

    @abstractmethod
    def _neighbour_refs(
        self, frontier: Sequence[NodeRef], flt: NodeFilter, limit: int
    ) -> tuple[list[NodeRef], bool]:
        """Distinct nodes adjacent to the frontier that pass the whole filter (labels,
        relationship types, date window), ordered by (label, key), at most `limit`; and
        whether a hub's neighbours were only read in part."""

    @abstractmethod
    def edges_among(self, refs: Sequence[NodeRef]) -> list[Edge]:
        """Every edge whose two endpoints are both in refs."""

    @abstractmethod
    def search(
        self, text: str, labels: Iterable[Label] | None = None, limit: int = 50, offset: int = 0
    ) -> list[Node]:
        """Nodes whose key equals the text, then nodes whose text fields contain its words."""

    @abstractmethod
    def degree(self, ref: NodeRef) -> int:
        """How many edges touch a node (0 when it is not there), without fetching them."""

    @abstractmethod
    def search_count(self, text: str, labels: Iterable[Label] | None = None) -> int:
        """How many nodes `search` would find, without fetching them."""

    @abstractmethod
    def iter_nodes(self, label: Label | None = None) -> Iterator[Node]: ...

    @abstractmethod
    def iter_edges(self, rel: RelType | None = None) -> Iterator[Edge]: ...

    @abstractmethod
    def edge_list(
        self, rel_types: Iterable[RelType] | None = None
    ) -> Iterator[tuple[NodeRef, NodeRef, RelType, float | None]]:
        """(source, target, type, weight) of every edge: the light projection analysis
        reads, without properties or provenance."""

    def node_values(self, label: Label, names: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """(key, first_seen, then each named property or None) of every node of a label, in
        iter_nodes order: what a bulk check reads of a million postings, as plain tuples.
        Generic: from whole nodes; SQLite overrides it with one table scan."""
        for node in self.iter_nodes(label):
            yield (node.key, node.provenance.first_seen, *[node.props.get(n) for n in names])

    def edge_values(self, rel: RelType, names: Sequence[str] = ()) -> Iterator[tuple[Any, ...]]:
        """(source label, source key, target label, target key, then each named property or
        None) of every edge of a type, in iter_edges order (which callers may rely on).
        Generic: from whole edges; SQLite overrides it with one query."""
        for edge in self.iter_edges(rel):
            source, target = edge.source, edge.target
            yield (source.label, source.key, target.label, target.key,
                   *[edge.props.get(n) for n in names])  # fmt: skip

    @abstractmethod
    def counts(self) -> Counts: ...

    def edge_counts_by_target(self, rel: RelType) -> dict[NodeRef, int]:
        """How many `rel` edges end at each node (MEMBER_OF: each cluster's size), for an
        ordering that needs no node's properties. Generic: one pass over the edge list."""
        return dict(Counter(target for _, target, _, _ in self.edge_list([rel])))

    def linked(
        self, refs: Sequence[NodeRef], rel: RelType, *, incoming: bool = False
    ) -> dict[NodeRef, list[NodeRef]]:
        """The node at the other end of each of the refs' `rel` edges, out of it (into it
        with `incoming`), all of them: a view reads a hub in part, a cluster's summary must
        name every member. Generic: one pass over the edge list."""
        wanted, found = set(refs), defaultdict[NodeRef, list[NodeRef]](list)
        for source, target, _, _ in self.edge_list([rel]):
            near, far = (target, source) if incoming else (source, target)
            if near in wanted:
                found[near].append(far)
        return dict(found)

    def change_stamp(self) -> Hashable | None:
        """A value that differs whenever anything stored has changed since it was read, got
        without scanning; None where the backend cannot tell cheaply (Neo4j), and callers
        then fingerprint what they read themselves (counts, run stamps)."""
        return None

    # --- metadata (analysis runs, settings of a run) -----------------------------------------
    @abstractmethod
    def put_meta(self, name: str, value: dict[str, Any]) -> None: ...

    @abstractmethod
    def get_meta(self, name: str) -> dict[str, Any] | None: ...

    # --- workspace documents (cases, annotations, watchlists: work data, not evidence) ------
    # Kept apart from the graph: never a node, never in search, views or analysis.
    @abstractmethod
    def put_document(self, collection: str, key: str, value: dict[str, Any]) -> None:
        """Create or replace one document; a replaced one keeps its place in the listing."""

    @abstractmethod
    def get_document(self, collection: str, key: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def list_documents(
        self, collection: str, *, limit: int | None = None, offset: int = 0,
        newest_first: bool = False,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(how many the collection holds, one page of them in the order first put)."""

    @abstractmethod
    def delete_document(self, collection: str, key: str) -> bool:
        """Remove one document; False when it was not there."""

    # --- shared traversal --------------------------------------------------------------------
    def ego(
        self,
        seeds: Sequence[NodeRef],
        depth: int = 1,
        flt: NodeFilter | None = None,
        limit: int = DEFAULT_VIEW_LIMIT,
    ) -> Subgraph:
        """The k-hop neighbourhood of the seeds, breadth first, nodes in (label, key) order
        within each hop, cut at `limit` nodes (then `truncated` is set)."""
        flt = flt or NodeFilter()
        seen: dict[NodeRef, Node] = {n.ref: n for n in self.get_nodes(list(dict.fromkeys(seeds)))}
        frontier = list(seen)
        truncated = False
        for _ in range(depth):
            if not frontier:
                break
            check_deadline()  # under a time budget (graph.limits), each hop checks it
            budget = limit - len(seen)
            candidates, sliced = self._neighbour_refs(frontier, flt, budget + len(seen) + 1)
            truncated = truncated or sliced
            fresh = [ref for ref in candidates if ref not in seen]
            nodes = [n for n in self.get_nodes(fresh) if flt.accepts(n)]
            if len(nodes) > budget:
                truncated = True
                nodes = nodes[: max(budget, 0)]
            for node in nodes:
                seen[node.ref] = node
            frontier = [n.ref for n in nodes]
            if truncated:
                break
        edges = self.edges_among(list(seen))
        if flt.rel_types is not None:
            edges = [e for e in edges if e.type in flt.rel_types]
        return Subgraph(list(seen.values()), edges, truncated)

    def neighbours(
        self, ref: NodeRef, flt: NodeFilter | None = None, limit: int = DEFAULT_VIEW_LIMIT
    ) -> Subgraph:
        return self.ego([ref], 1, flt, limit)


def merge_batch(nodes: Sequence[Node], edges: Sequence[Edge]) -> tuple[list[Node], list[Edge]]:
    """Fold repeats of one node or edge inside a batch into one, as the store would merge
    them, so both backends count created/updated the same way. Keyed by plain tuples of
    label and key: hashed in C, with no NodeRef made per item (a batch has ~100k)."""
    merged_nodes: dict[tuple[str, str], Node] = {}
    for node in nodes:
        ident = (node.label, node.key)
        have = merged_nodes.get(ident)
        merged_nodes[ident] = node if have is None else _fold(have, node)
    merged_edges: dict[tuple[str, str, str, str, str], Edge] = {}
    for edge in edges:
        source, target = edge.source, edge.target
        key = (edge.type, source.label, source.key, target.label, target.key)
        had = merged_edges.get(key)
        merged_edges[key] = edge if had is None else _fold(had, edge)
    return list(merged_nodes.values()), list(merged_edges.values())


def _fold(first: _Item, second: _Item) -> _Item:
    # A shared node (platform, country, contact) repeats in most records of a batch with
    # the same props: keep `first` when the repeat adds nothing, without new objects.
    props = first.props if second.props is first.props else {**first.props, **second.props}
    prov, had = second.provenance, first.provenance
    if (
        props is first.props
        and prov.ingested_at == had.ingested_at
        and (not prov.first_seen or bool(had.first_seen and had.first_seen <= prov.first_seen))
        and (not prov.last_seen or bool(had.last_seen and prov.last_seen <= had.last_seen))
    ):
        return first
    seen = [p for p in (first.provenance.first_seen, prov.first_seen) if p]
    last = [p for p in (first.provenance.last_seen, prov.last_seen) if p]
    provenance = type(prov)(
        source=first.provenance.source,
        source_record=first.provenance.source_record,
        first_seen=min(seen) if seen else None,
        last_seen=max(last) if last else None,
        ingested_at=prov.ingested_at,
    )
    if isinstance(first, Node):
        return Node(first.label, first.key, props, provenance)  # type: ignore[return-value]
    return Edge(first.type, first.source, first.target, props, provenance)  # type: ignore[return-value]


NodeRow = tuple[str, str, str, str, str, str | None, str | None, str | None, str]
"""(label, key, props JSON, props digest, source, source_record, first_seen, last_seen,
ingested_at)"""
EdgeRow = tuple[str, str, str, str, str, str, str, str, str | None, str | None, str | None, str]
"""(type, source label, source key, target label, target key, then as NodeRow from props)"""

_NO_PROPS = ("{}", digest("{}"))


def row_payload(props: dict[str, Any], prov: Provenance) -> tuple[Any, ...]:
    """The stored tail of a row: encoded properties, their digest, provenance. Edges without
    properties (a third of them: POSTED_ON, LOCATED_IN) skip the encoder."""
    blob, blob_hash = (encode_props(props), None) if props else _NO_PROPS
    return (
        blob,
        blob_hash or digest(blob),
        prov.source,
        prov.source_record,
        prov.first_seen,
        prov.last_seen,
        prov.ingested_at,
    )


class PreparedRows(Protocol):
    """A batch a store's `prepare_rows` made ready to write: small to pickle, and still
    readable as nodes and edges (an ingest with a watchlist checks those)."""

    def entities(self) -> tuple[list[Node], list[Edge]]: ...


@dataclass(slots=True)
class StoreRows:
    """One batch ready for a store: merged like `merge_batch`, properties JSON-encoded and
    digested. Plain tuples of str, so an ingest worker process sends it cheaply (pickling
    Node and Edge objects cost more than writing them)."""

    nodes: list[NodeRow]
    edges: list[EdgeRow]

    def entities(self) -> tuple[list[Node], list[Edge]]:
        """The nodes and edges again, for stores and watches that take those."""
        nodes = [
            Node(Label(label), key, json.loads(props), Provenance(*prov))
            for label, key, props, _digest, *prov in self.nodes
        ]
        edges = [
            Edge(
                RelType(row[0]),
                NodeRef(Label(row[1]), row[2]),
                NodeRef(Label(row[3]), row[4]),
                json.loads(row[5]),
                Provenance(*row[7:]),
            )
            for row in self.edges
        ]
        return nodes, edges


def store_rows(nodes: Sequence[Node], edges: Sequence[Edge]) -> StoreRows:
    """Merge a batch and encode it as rows (see StoreRows)."""
    merged_nodes, merged_edges = merge_batch(nodes, edges)
    # `_value_`, not str(): the one str object of each kind name, not a copy per row, so
    # pickling a batch writes each name once
    return StoreRows(
        [(n.label._value_, n.key, *row_payload(n.props, n.provenance)) for n in merged_nodes],
        [
            (
                e.type._value_,
                e.source.label._value_,
                e.source.key,
                e.target.label._value_,
                e.target.key,
                *row_payload(e.props, e.provenance),
            )
            for e in merged_edges
        ],
    )

"""Network analysis of the store: who is central, who brokers, which groups.

The store is projected once into an undirected simple graph (`project_arrays`): node ids
"Label:key" in a list, edges in integer arrays. Every measure reads that projection through
compiled code: igraph (C) for betweenness, Louvain, k-core, articulation points and bridges,
SciPy sparse matrices for PageRank, eigenvector centrality and components. Pure-Python
NetworkX took 400 s at 1M postings; this takes a small fraction of it (docs/benchmarks.md).
`run_analysis` writes the results back onto the nodes so views and the API can rank and
colour by them.

Same results as NetworkX: degree, degree_norm, betweenness (exact, or sampled from the same
k sources NetworkX draws for the seed, with NetworkX 3.6's scaling), PageRank (NetworkX's
SciPy power iteration), eigenvector (ARPACK, as before), components, k-core, articulation
points and bridges equal what the NetworkX functions return, up to the order of
floating-point sums; tests check each against NetworkX. Louvain is igraph's multilevel
implementation of the same method (Blondel et al.): deterministic for a seed, but it finds
other (equally good: same modularity to 0.1%) communities than nx.louvain_communities would.

A NetworkX dispatch backend (nx-cugraph, nx-parallel) that is installed is used for the
steps it implements and gives NetworkX's results for (see `StepLog.backend_for`); the
NetworkX graph it needs is built only then.

Determinism: the projection is canonical (nodes, and every node's neighbours, in node-id
order) whatever order a store returns its edges in, and the seeded steps walk it in that
order, so SQLite, Neo4j and every re-run store the same values. Floats are stored to 12
significant digits so that runs differing only in the order of a floating-point sum
(another backend, another store's float rendering) agree too.

Weights: an edge's weight is how often two nodes are tied (LINKED_TO's `weight`, e.g. the
number of intercepted calls; 1 for every other relationship), summed over parallel edges.
PageRank, eigenvector centrality and Louvain read it as tie strength. Betweenness always
counts hops: treating "52 calls" as a distance of 52 would make the strongest ties the
longest paths.
"""

from __future__ import annotations

import json
import math
import random
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from functools import cached_property
from itertools import islice
from types import GeneratorType
from typing import Any

import igraph as ig
import networkx as nx
import numpy as np
import scipy as sp

from graph.schema import Label, NodeRef, RelType, now_iso
from graph.store import GraphStore, NodeFilter, Subgraph

META_NAME = "analysis"
DEFAULT_SEED = 42
EXACT_BETWEENNESS_LIMIT = 1000
BETWEENNESS_SAMPLES = 500
BETWEENNESS_WORK = 100_000_000
"""Sampled betweenness costs one breadth-first search over nodes + edges per source: in C
(igraph) about 65 ns per node + edge on the standard machine, 30 ms per source at 100k demo
postings (470k nodes + edges), 0.3 s at 1M (4.7M). Sources are cut so that sources x
(nodes + edges) stays under this, which keeps the step to about 7 s: 200 sources at 100k
postings, 20 at 1M (NetworkX's pure-Python search allowed a tenth of that)."""
EIGENVECTOR_MAX_ITER = 100
PAGERANK_ALPHA = 0.85
PAGERANK_MAX_ITER = 100
PAGERANK_TOL = 1e-6
WRITE_BATCH = 50_000
SIGNIFICANT_DIGITS = 12
BACKEND_PREFERENCE = ("cugraph", "parallel")
"""Installed NetworkX dispatch backends are tried in this order, then any other."""
SAMPLES_LIKE_NETWORKX = frozenset({"parallel"})
"""Backends whose sampled betweenness draws the same sources as NetworkX for a seed
(nx-parallel calls `seed.sample(list(G.nodes), k)` like NetworkX does)."""
BUILT_IN = frozenset({"networkx", "igraph", "scipy", "numpy"})
"""What `StepLog.used` names for steps no dispatch backend ran."""
CENTRALITY_MEASURES = ("degree", "degree_norm", "betweenness", "pagerank", "eigenvector")

WeightedEdge = tuple[NodeRef, NodeRef, float | None]
Measures = dict[str, dict[Any, Any]]
Columns = dict[str, np.ndarray | None]
"""Measure name -> one value per node of a Projection, in node order (None: not computed)."""


# --- projection ------------------------------------------------------------------------------
class Projection:
    """The projected graph as arrays: node i is `nodes[i]` (a "Label:key" id for store
    projections) with `labels[i]`; edge j joins heads[j] and tails[j] (node indices) with
    `weights[j]`, None when unweighted. The igraph graph, sparse matrix and NetworkX graph
    the measures read are built from these on first use, once each."""

    def __init__(
        self,
        nodes: list[Any],
        heads: np.ndarray,
        tails: np.ndarray,
        weights: np.ndarray | None,
        *,
        labels: list[str] | None = None,
        in_order: bool = False,
        graph: nx.Graph | None = None,
        row_ids: np.ndarray | None = None,
    ) -> None:
        self.nodes = nodes
        self.heads = heads
        self.tails = tails
        self.weights = weights
        self.labels = labels
        self.in_order = in_order
        """Nodes are sorted, so index order is node order (canonical projections)."""
        self.row_ids = row_ids
        """The store's own id of each node, where the store has them (SQLite)."""
        if graph is not None:
            self.__dict__["networkx"] = graph

    @property
    def n(self) -> int:
        return len(self.nodes)

    @property
    def m(self) -> int:
        return len(self.heads)

    @cached_property
    def rank(self) -> np.ndarray:
        """Each node's position in sorted node order: ties between groups of equal size
        are broken by their smallest member."""
        if self.in_order:
            return np.arange(self.n, dtype=np.int64)
        rank = np.empty(self.n, dtype=np.int64)
        rank[sorted(range(self.n), key=self.nodes.__getitem__)] = np.arange(self.n)
        return rank

    @cached_property
    def igraph(self) -> ig.Graph:
        edges = list(zip(self.heads.tolist(), self.tails.tolist(), strict=True))
        return ig.Graph(n=self.n, edges=edges)

    @cached_property
    def adjacency(self) -> sp.sparse.csr_array:
        """Symmetric, with the edge weights (1.0 unweighted); rows and columns in node order."""
        values = np.ones(self.m) if self.weights is None else self.weights
        rows = np.concatenate((self.heads, self.tails))
        cols = np.concatenate((self.tails, self.heads))
        coo = sp.sparse.coo_array(
            (np.concatenate((values, values)), (rows, cols)), shape=(self.n, self.n)
        )
        return coo.tocsr()

    @cached_property
    def degree(self) -> np.ndarray:
        return np.bincount(np.concatenate((self.heads, self.tails)), minlength=self.n)

    @cached_property
    def components(self) -> np.ndarray:
        """Component label of each node; labels in order of each component's first node."""
        if self.n == 0:
            return np.zeros(0, dtype=np.int64)
        _, labels = sp.sparse.csgraph.connected_components(self.adjacency, directed=False)
        return labels.astype(np.int64)

    @cached_property
    def networkx(self) -> nx.Graph:
        """The same graph for NetworkX (only a dispatch backend needs it): nodes and every
        node's neighbours in index order, `label` and `weight` attributes."""
        weighted = self.weights is not None
        graph = nx.Graph(weighted=weighted)
        if self.labels is None:
            graph.add_nodes_from(self.nodes)
        else:
            graph.add_nodes_from(
                (node, {"label": label})
                for node, label in zip(self.nodes, self.labels, strict=True)
            )
        chunk = 1_000_000
        for at in range(0, self.m, chunk):
            sources = map(self.nodes.__getitem__, self.heads[at : at + chunk].tolist())
            targets = map(self.nodes.__getitem__, self.tails[at : at + chunk].tolist())
            if self.weights is None:
                graph.add_edges_from(zip(sources, targets, strict=True))
            else:
                values = self.weights[at : at + chunk].tolist()
                graph.add_weighted_edges_from(zip(sources, targets, values, strict=True))
        return graph

    @classmethod
    def of(cls, graph: nx.Graph | Projection) -> Projection:
        """A NetworkX graph as a projection, in its own node order; weighted when the graph
        says so (`graph.graph["weighted"]`, as `project` sets it)."""
        if isinstance(graph, Projection):
            return graph
        nodes = list(graph)
        index = {node: i for i, node in enumerate(nodes)}
        heads = array("q")
        tails = array("q")
        weights = array("d")
        weighted = bool(graph.graph.get("weighted"))
        for u, v, weight in graph.edges(data="weight", default=1.0):
            if u == v:
                continue
            heads.append(index[u])
            tails.append(index[v])
            weights.append(float(weight))
        labels = None
        if nodes and all("label" in data for _, data in graph.nodes(data=True)):
            labels = [str(data["label"]) for _, data in graph.nodes(data=True)]
        return cls(
            nodes,
            np.frombuffer(heads, dtype=np.int64),
            np.frombuffer(tails, dtype=np.int64),
            np.frombuffer(weights, dtype=np.float64) if weighted else None,
            labels=labels,
            graph=graph,
        )


def project(
    store: GraphStore,
    *,
    rel_types: Iterable[RelType] | None = None,
    labels: Iterable[Label] | None = None,
    weighted: bool = True,
) -> nx.Graph:
    """The store as an undirected simple NetworkX graph: node ids "Label:key", node attribute
    `label`, edge `weight` (when weighted) the sum over parallel edges; nodes without edges are
    left out. `rel_types`/`labels` keep only those relationships / edges between those kinds."""
    return project_arrays(store, rel_types=rel_types, labels=labels, weighted=weighted).networkx


def project_arrays(
    store: GraphStore,
    *,
    rel_types: Iterable[RelType] | None = None,
    labels: Iterable[Label] | None = None,
    weighted: bool = True,
) -> Projection:
    """`project` as a Projection, without building NetworkX's dictionaries. A store that
    offers `edge_id_rows` and `node_id_rows` (SQLite) is read through them: integer ids per
    edge, names once per node."""
    kinds = None if labels is None else frozenset(Label(label) for label in labels)
    rel_list = None if rel_types is None else list(rel_types)
    if hasattr(store, "edge_id_rows") and hasattr(store, "node_id_rows"):
        return _project_by_ids(store, rel_list, kinds, weighted)
    edges = (
        (source, target, weight)
        for source, target, _rel, weight in store.edge_list(rel_list)
        if kinds is None or (source.label in kinds and target.label in kinds)
    )
    return canonical_arrays(edges, weighted=weighted)


def _project_by_ids(
    store: Any, rel_types: list[RelType] | None, kinds: frozenset[Label] | None, weighted: bool
) -> Projection:
    sources: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for rows in store.edge_id_rows(rel_types):
        source, target, weight = zip(*rows, strict=True)
        sources.append(np.array(source, dtype=np.int64))
        targets.append(np.array(target, dtype=np.int64))
        weights.append(_weights(weight) if weighted else np.zeros(0))
    ids = np.column_stack((_joined(sources), _joined(targets)))
    nodes = store.node_id_rows()
    node_ids, node_labels, keys = zip(*nodes, strict=True) if nodes else ((), (), ())
    del nodes
    row_ids = np.array(node_ids, dtype=np.int64)
    keep = np.ones(len(row_ids), dtype=bool)
    if kinds is not None:
        wanted = {str(kind) for kind in kinds}
        keep = np.fromiter(map(wanted.__contains__, node_labels), dtype=bool, count=len(keep))
    # row id -> position among nodes (-1: unknown, e.g. deleted since, or left out by kind)
    lookup = np.full(int(row_ids.max(initial=0)) + 1, -1, dtype=np.int64)
    lookup[row_ids[keep]] = np.flatnonzero(keep)
    positions = np.full(ids.shape, -1, dtype=np.int64)
    inside = ids < len(lookup)
    positions[inside] = lookup[ids[inside]]
    valid = (positions >= 0).all(axis=1) & (ids[:, 0] != ids[:, 1])
    positions = positions[valid]
    touched = np.zeros(len(row_ids), dtype=bool)
    touched[positions] = True
    used = np.flatnonzero(touched)  # the nodes with an edge, in store order
    local = np.cumsum(touched) - 1  # position -> index among them
    names = [f"{node_labels[i]}:{keys[i]}" for i in used.tolist()]
    labels = [node_labels[i] for i in used.tolist()]
    weight_array = _joined(weights, np.float64)[valid] if weighted else None
    return _canonical(names, labels, local[positions].reshape(-1), weight_array, row_ids[used])


def _joined(parts: list[np.ndarray], dtype: type = np.int64) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _weights(values: Sequence[Any]) -> np.ndarray:
    """Weights as floats, 1.0 where an edge has none."""
    try:
        found = np.array(values, dtype=np.float64)  # None -> nan
    except (TypeError, ValueError):  # a weight stored as text
        found = np.array([np.nan if v is None else float(v) for v in values])
    found[np.isnan(found)] = 1.0
    return found


def canonical_graph(edges: Iterable[WeightedEdge], *, weighted: bool = True) -> nx.Graph:
    """The simple NetworkX graph of these edges in node-id order; see the module docstring."""
    return canonical_arrays(edges, weighted=weighted).networkx


def canonical_arrays(edges: Iterable[WeightedEdge], *, weighted: bool = True) -> Projection:
    """The canonical projection of these edges. Edges wait in flat integer arrays (no Python
    object per edge) until they are sorted and merged."""
    index: dict[NodeRef, int] = {}
    ends = array("q")  # source, target, source, target, ...
    weights = array("d")
    for source, target, weight in edges:
        if source == target:
            continue
        ends.append(index.setdefault(source, len(index)))
        ends.append(index.setdefault(target, len(index)))
        if weighted:
            weights.append(1.0 if weight is None else float(weight))
    refs = list(index)
    del index
    names = [str(ref) for ref in refs]
    labels = [ref.label.value for ref in refs]
    weight_array = np.frombuffer(weights, dtype=np.float64) if weighted else None
    return _canonical(names, labels, np.frombuffer(ends, dtype=np.int64), weight_array)


def _canonical(
    names: list[str],
    labels: list[str],
    ends: np.ndarray,
    weights: np.ndarray | None,
    row_ids: np.ndarray | None = None,
) -> Projection:
    """Nodes sorted by id, parallel edges merged (weights summed in a fixed order), edges
    sorted: the same projection whatever order the edges came in."""
    n = len(names)
    order = sorted(range(n), key=names.__getitem__)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    pairs = rank[ends].reshape(-1, 2)
    keys = pairs.min(axis=1) * n + pairs.max(axis=1)
    by_key = np.argsort(keys, kind="stable") if weights is None else np.lexsort((weights, keys))
    keys = keys[by_key]
    starts = np.flatnonzero(np.diff(keys, prepend=-1))
    unique = keys[starts]
    merged = None
    if weights is not None:
        merged = np.add.reduceat(weights[by_key], starts) if len(unique) else np.zeros(0)
    return Projection(
        [names[i] for i in order],
        unique // n if n else unique,
        unique % n if n else unique,
        merged,
        labels=[labels[i] for i in order],
        in_order=True,
        row_ids=None if row_ids is None else row_ids[order],
    )


# --- backends and bookkeeping ----------------------------------------------------------------
def installed_backends() -> list[str]:
    """NetworkX dispatch backends installed here (nx-cugraph, nx-parallel, ...), preferred
    first; NetworkX's own test backend is not one."""
    names = [name for name in nx.utils.backends.backends if name != "nx_loopback"]
    rank = {name: i for i, name in enumerate(BACKEND_PREFERENCE)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


def choose_backends(backend: str) -> tuple[str, ...]:
    """Dispatch backends for `backend`: "auto" every installed one, "networkx" none (the
    built-in engine runs every step), else that one."""
    if backend == "auto":
        return tuple(installed_backends())
    if backend == "networkx":
        return ()
    if backend not in installed_backends():
        raise ValueError(f"NetworkX backend {backend!r} is not installed")
    return (backend,)


@contextmanager
def _backend_settings(name: str) -> Iterator[None]:
    """nx-parallel runs one job unless told otherwise; give it every core."""
    settings = nx.config.backends.parallel(active=True, n_jobs=-1) if name == "parallel" else None
    with settings or nullcontext():
        yield


@dataclass(slots=True)
class StepLog:
    """Seconds, engine or backend, and remarks of each step of a run, for its metadata."""

    backends: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    used: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    @contextmanager
    def timed(self, step: str, engine: str | None = None) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = round(self.seconds.get(step, 0.0) + time.perf_counter() - start, 3)
        if engine is not None:
            self.used[step] = engine

    def backend_for(
        self, algorithm: Callable[..., Any], trusted: Collection[str] | None = None
    ) -> str | None:
        """The first preferred dispatch backend that implements `algorithm` (only `trusted`
        ones when given: those known to give NetworkX's results), or None."""
        offered = getattr(algorithm, "backends", set())
        return next(
            (
                name
                for name in self.backends
                if name in offered and (trusted is None or name in trusted)
            ),
            None,
        )

    def dispatched(
        self,
        step: str,
        backend: str,
        algorithm: Callable[..., Any],
        graph: Callable[[], nx.Graph],
        **kwargs: Any,
    ) -> Any:
        """Run a NetworkX algorithm on `backend` (building the NetworkX graph first, inside
        the step). None when the backend fails: the caller runs the built-in engine, and the
        note says why."""
        with self.timed(step):
            try:
                with _backend_settings(backend):
                    result = _collected(algorithm(graph(), backend=backend, **kwargs))
            except Exception as exc:  # a broken backend must not stop the analysis
                self.notes[f"{step}_backend"] = f"{backend} failed ({exc!r}); used built-in"
                return None
        self.used[step] = backend
        return result


def _collected(result: Any) -> Any:
    """Generators run inside the step, so its time and its backend fallback cover them."""
    return list(result) if isinstance(result, GeneratorType) else result


def _column(p: Projection, values: dict[Any, float]) -> np.ndarray:
    return np.fromiter((values.get(node, 0.0) for node in p.nodes), dtype=np.float64, count=p.n)


# --- measures --------------------------------------------------------------------------------
def centrality(
    graph: nx.Graph | Projection,
    *,
    exact_betweenness_limit: int = EXACT_BETWEENNESS_LIMIT,
    sample_k: int = BETWEENNESS_SAMPLES,
    seed: int = DEFAULT_SEED,
    betweenness_work: int = BETWEENNESS_WORK,
    log: StepLog | None = None,
) -> Measures:
    """Per node: degree (neighbour count), degree_norm, betweenness (normalised, hops),
    pagerank and eigenvector (weighted when the graph is). Measure name -> node -> value.

    Betweenness is exact when every connected component has at most
    `exact_betweenness_limit` nodes (a search from a node only covers its own component, so
    that bounds the work); otherwise it samples k sources with `seed` over the whole graph,
    k = `sample_k` cut to `betweenness_work` / (nodes + edges), at least 2. The sources are
    those nx.betweenness_centrality(G, k, seed=seed) draws, and so are the values. Sampled
    values for nodes of small components are rough, but normalised by the whole graph they
    are tiny anyway.

    Eigenvector centrality is computed on the largest connected component, and every node
    outside it gets 0: the leading eigenvector of a disconnected graph lives on one component
    anyway, and per-component vectors (each of norm 1) would rank a lone pair above the hubs
    of the main network. It is ARPACK's (as nx.eigenvector_centrality_numpy, but from a fixed
    start); when that does not converge there is no eigenvector value (the run's notes say
    so), not an error."""
    p = Projection.of(graph)
    columns = _centrality(
        p, exact_betweenness_limit, sample_k, seed, betweenness_work, log or StepLog()
    )
    return {name: _as_dict(p, values) for name, values in columns.items()}


def _as_dict(p: Projection, values: np.ndarray | None) -> dict[Any, Any]:
    return {} if values is None else dict(zip(p.nodes, values.tolist(), strict=True))


def _centrality(
    p: Projection, limit: int, sample_k: int, seed: int, work: int, log: StepLog
) -> Columns:
    if p.n == 0:
        return {name: np.zeros(0) for name in CENTRALITY_MEASURES}
    with log.timed("degree", "numpy"):
        degree = p.degree
        degree_norm = degree * (1.0 / (p.n - 1.0)) if p.n > 1 else np.ones(p.n)
    return {
        "degree": degree,
        "degree_norm": degree_norm,
        "betweenness": _betweenness(p, limit, sample_k, seed, work, log),
        "pagerank": _pagerank(p, log),
        "eigenvector": _eigenvector(p, log),
    }


def betweenness_samples(
    graph: nx.Graph | Projection, limit: int, sample_k: int, work: int
) -> int | None:
    """How many sources betweenness samples on this graph, None when it is exact (see
    `centrality`)."""
    p = Projection.of(graph)
    largest = int(np.bincount(p.components).max()) if p.n else 0
    if largest <= limit:
        return None
    k = max(2, min(sample_k, p.n, work // (p.n + p.m)))
    return None if k >= p.n else k


def _betweenness(
    p: Projection, limit: int, sample_k: int, seed: int, work: int, log: StepLog
) -> np.ndarray:
    k = betweenness_samples(p, limit, sample_k, work)
    if k is None:
        log.notes["betweenness"] = "exact"
        backend = log.backend_for(nx.betweenness_centrality)
        kwargs: dict[str, Any] = {"weight": None}
    else:
        log.notes["betweenness"] = (
            f"sampled: {k} sources, seed {seed} (a component > {limit} nodes)"
        )
        backend = log.backend_for(nx.betweenness_centrality, SAMPLES_LIKE_NETWORKX)
        kwargs = {"k": k, "seed": seed, "weight": None}
    if backend:
        found = log.dispatched(
            "betweenness", backend, nx.betweenness_centrality, lambda: p.networkx, **kwargs
        )
        if found is not None:
            return _column(p, found)
    with log.timed("betweenness", "igraph"):
        return sampled_betweenness(p, k, seed)


def sampled_betweenness(p: Projection, k: int | None, seed: int) -> np.ndarray:
    """nx.betweenness_centrality(G, k, normalized=True, seed=seed) (hops, endpoints not
    counted), by igraph's Brandes in C: the same k sources (random.Random(seed).sample over
    the node order, as NetworkX draws them) and NetworkX 3.6's scaling. All sources (exact)
    when k is None. igraph counts each undirected pair once, NetworkX twice."""
    n = p.n
    if k is None:
        raw = np.asarray(p.igraph.betweenness(directed=False), dtype=np.float64) * 2.0
        return raw * (1 / ((n - 1) * (n - 2))) if n > 2 else raw
    sources = random.Random(seed).sample(range(n), k)
    raw = np.asarray(p.igraph.betweenness(directed=False, sources=sources), dtype=np.float64)
    raw *= 2.0
    if n - 1 < 2:
        return raw
    values = raw * (1 / (k * (n - 2)))
    values[sources] = raw[sources] * (1 / ((k - 1) * (n - 2)))
    return values


def _pagerank(p: Projection, log: StepLog) -> np.ndarray:
    backend = log.backend_for(nx.pagerank)
    if backend:
        weight = None if p.weights is None else "weight"
        found = log.dispatched("pagerank", backend, nx.pagerank, lambda: p.networkx, weight=weight)
        if found is not None:
            return _column(p, found)
    with log.timed("pagerank", "scipy"):
        return pagerank_power(p.adjacency)


def pagerank_power(matrix: sp.sparse.csr_array) -> np.ndarray:
    """nx.pagerank's SciPy power iteration (alpha 0.85, uniform start and teleport,
    dangling nodes to the teleport vector, l1 tolerance n x 1e-6), on the projection's
    matrix: NetworkX spends most of its time building that matrix from dictionaries."""
    n = matrix.shape[0]
    out = np.asarray(matrix.sum(axis=1)).ravel()
    inverse = np.zeros(n)
    inverse[out != 0] = 1.0 / out[out != 0]
    transition = sp.sparse.dia_array((inverse[np.newaxis, :], 0), shape=matrix.shape).tocsr()
    transition = transition @ matrix
    x = np.repeat(1.0 / n, n)
    teleport = np.repeat(1.0 / n, n)
    dangling = np.where(out == 0)[0]
    for _ in range(PAGERANK_MAX_ITER):
        last = x
        x = (
            PAGERANK_ALPHA * (x @ transition + sum(x[dangling]) * teleport)
            + (1 - PAGERANK_ALPHA) * teleport
        )
        if np.absolute(x - last).sum() < n * PAGERANK_TOL:
            return x
    raise nx.PowerIterationFailedConvergence(PAGERANK_MAX_ITER)


def _eigenvector(p: Projection, log: StepLog) -> np.ndarray | None:
    """On the largest component (see `centrality`); every other node gets 0."""
    labels = p.components
    largest = int(np.argmax(np.bincount(labels)))  # the first of the largest, like max()
    members = np.flatnonzero(labels == largest)
    try:
        with log.timed("eigenvector", "scipy"):
            if len(members) > 2:  # ARPACK wants three nodes or more
                matrix = p.adjacency if len(members) == p.n else p.adjacency[members][:, members]
                vector = eigenvector_arpack(matrix)
            else:  # a pair (or a lone edge's two ends): NetworkX's power iteration
                pair = nx.Graph()
                pair.add_edge(*(p.nodes[i] for i in members))
                found = nx.eigenvector_centrality(pair, max_iter=EIGENVECTOR_MAX_ITER)
                vector = np.array([found[p.nodes[i]] for i in members])
    except (nx.NetworkXException, RuntimeError) as exc:  # no convergence (ARPACK's too)
        log.notes["eigenvector"] = f"not computed: {exc}"
        return None
    values = np.zeros(p.n)
    values[members] = vector
    return values


def eigenvector_arpack(matrix: sp.sparse.csr_array) -> np.ndarray:
    """nx.eigenvector_centrality_numpy with a fixed ARPACK start vector: NetworkX lets ARPACK
    draw a random one, and then two runs in one process differ in the 13th digit."""
    start = np.ones(matrix.shape[0])
    _, vectors = sp.sparse.linalg.eigs(matrix.T, k=1, which="LR", maxiter=1000, v0=start)
    largest = vectors.flatten().real
    norm = np.sign(largest.sum()) * np.linalg.norm(largest)
    return largest / norm


def communities(
    graph: nx.Graph | Projection, seed: int = DEFAULT_SEED, *, log: StepLog | None = None
) -> Measures:
    """Per node: connected `component`, Louvain `community` (seeded) and k-`core` number.
    Component and community ids are ranks: 0 is the largest, ties broken by the smallest
    member id, so ids stay put between runs."""
    p = Projection.of(graph)
    columns = _communities(p, seed, log or StepLog())
    return {name: _as_dict(p, values) for name, values in columns.items()}


def _communities(p: Projection, seed: int, log: StepLog) -> Columns:
    with log.timed("components", "scipy"):
        component = numbered_array(p, p.components)
    with log.timed("louvain", "igraph"):
        community = numbered_array(p, louvain_membership(p, seed))
    with log.timed("core", "igraph"):
        core = np.asarray(p.igraph.coreness(), dtype=np.int64)
    return {"component": component, "community": community, "core": core}


def louvain_membership(p: Projection, seed: int) -> np.ndarray:
    """Louvain communities by igraph's multilevel algorithm (Blondel et al. 2008, the method
    of nx.louvain_communities, resolution 1, weighted when the projection is), the level of
    highest modularity. igraph shuffles the node order with the RNG it is given: a
    random.Random(seed) here, so a seed gives the same communities on the same projection.
    Always this implementation, never a dispatch backend: another one would find other
    communities for the same seed."""
    if p.n == 0:
        return np.zeros(0, dtype=np.int64)
    weights = None if p.weights is None else p.weights.tolist()
    ig.set_random_number_generator(random.Random(seed))
    try:
        found = p.igraph.community_multilevel(weights=weights)
    finally:
        ig.set_random_number_generator(random)  # igraph's default
    return np.asarray(found.membership, dtype=np.int64)


def numbered_array(p: Projection, groups: np.ndarray) -> np.ndarray:
    """Group label per node -> group id per node: ids ordered by group size (largest
    first), then by the group's smallest member, as `numbered` does."""
    if p.n == 0:
        return groups
    sizes = np.bincount(groups)
    smallest = np.full(len(sizes), p.n, dtype=np.int64)
    np.minimum.at(smallest, groups, p.rank)
    order = np.lexsort((smallest, -sizes))
    ids = np.empty(len(sizes), dtype=np.int64)
    ids[order] = np.arange(len(sizes))
    return ids[groups]


def core_numbers(graph: nx.Graph | Projection) -> dict[Any, int]:
    """k-core number of every node: the values of nx.core_number, by igraph's coreness
    (Batagelj-Zaversnik in C). nx.core_number removes nodes from neighbour *lists*,
    quadratic in a hub's degree: 100 s at 100k postings."""
    p = Projection.of(graph)
    return dict(zip(p.nodes, p.igraph.coreness(), strict=True))


def numbered(groups: Iterable[Collection[Hashable]]) -> dict[Any, int]:
    """Node -> group id, ids ordered by group size (largest first), then smallest member."""
    ordered = sorted(groups, key=lambda members: (-len(members), min(members)))
    return {node: number for number, members in enumerate(ordered) for node in members}


@dataclass(frozen=True, slots=True)
class Brokers:
    """Nodes and ties whose removal splits a component: the go-betweens to look at."""

    articulation_points: frozenset[Any]
    bridges: list[tuple[Any, Any]]


def brokers(graph: nx.Graph | Projection, *, log: StepLog | None = None) -> Brokers:
    """Articulation points and bridges (each bridge as a sorted pair, bridges sorted): the
    same as nx.articulation_points and nx.bridges, by igraph (Tarjan's depth-first search in
    C)."""
    p = Projection.of(graph)
    points, bridges = _brokers(p, log or StepLog())
    return Brokers(
        frozenset(p.nodes[i] for i in np.flatnonzero(points).tolist()),
        _bridge_pairs(p, bridges),
    )


def _brokers(p: Projection, log: StepLog) -> tuple[np.ndarray, np.ndarray]:
    """Articulation flag per node, and the bridges' edge indices."""
    points = np.zeros(p.n, dtype=bool)
    backend = log.backend_for(nx.articulation_points)
    found = None
    if backend:
        found = log.dispatched("articulation", backend, nx.articulation_points, lambda: p.networkx)
        if found is not None:
            position = {node: i for i, node in enumerate(p.nodes)}
            points[[position[node] for node in found]] = True
    if found is None:
        with log.timed("articulation", "igraph"):
            points[p.igraph.articulation_points()] = True
    with log.timed("bridges", "igraph"):
        bridges = np.asarray(p.igraph.bridges(), dtype=np.int64)
    return points, bridges


def _bridge_pairs(p: Projection, bridges: np.ndarray) -> list[tuple[Any, Any]]:
    ends = (
        (p.nodes[u], p.nodes[v])
        for u, v in zip(p.heads[bridges].tolist(), p.tails[bridges].tolist(), strict=True)
    )
    return sorted((min(u, v), max(u, v)) for u, v in ends)


# --- paths -----------------------------------------------------------------------------------
def shortest_paths(
    store: GraphStore,
    a: NodeRef,
    b: NodeRef,
    max_depth: int = 6,
    limit: int = 5,
    *,
    rel_types: Iterable[RelType] | None = None,
    node_limit: int = 20_000,
) -> list[list[NodeRef]]:
    """Up to `limit` shortest paths from a to b of at most `max_depth` hops, in a fixed order.

    Searches the ego network of both ends, one hop deeper each round: a path of length L has
    every node within ceil(L/2) hops of an end, so at depth d every path of length <= 2d is
    in view and the first one found is a shortest one. Each round reads at most `node_limit`
    nodes; when a hub makes the view hit that limit first, no path is reported."""
    if a == b:
        return [[a]]
    flt = NodeFilter(rel_types=None if rel_types is None else frozenset(rel_types))
    source, target = str(a), str(b)
    for depth in range(1, math.ceil(max_depth / 2) + 1):
        view = store.ego([a, b], depth=depth, flt=flt, limit=node_limit)
        graph = _view_graph(view)
        if source in graph and target in graph and nx.has_path(graph, source, target):
            length = nx.shortest_path_length(graph, source, target)
            if length <= min(2 * depth, max_depth):
                found = islice(nx.all_shortest_paths(graph, source, target), limit)
                return [[NodeRef.parse(node) for node in path] for path in found]
        if view.truncated:
            break
    return []


def _view_graph(view: Subgraph) -> nx.Graph:
    return canonical_graph(((e.source, e.target, None) for e in view.edges), weighted=False)


# --- a whole run -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AnalysisRun:
    """What one run did; stored as the "analysis" metadata record."""

    ran_at: str
    parameters: dict[str, Any]
    nodes: int
    edges: int
    written: int
    bridges: int
    articulation_points: int
    components: int
    communities: int
    seconds: dict[str, float]
    """Per step; they add up to about total_seconds."""
    total_seconds: float
    backends: dict[str, str]
    """Per step: the dispatch backend that ran it, else the built-in engine (`BUILT_IN`)."""
    notes: dict[str, str]

    @property
    def backend(self) -> str:
        """The dispatch backends that ran any step, or "built-in"."""
        used = sorted(set(self.backends.values()) - BUILT_IN)
        return "+".join(used) or "built-in"

    def as_meta(self) -> dict[str, Any]:
        return {**asdict(self), "backend": self.backend}


CONTACT_NETWORK: frozenset[RelType] = frozenset(
    {
        RelType.HAS_IDENTIFIER,
        RelType.MEMBER_OF,
        RelType.LINKED_TO,
        RelType.CONSIGNOR,
        RelType.CONSIGNEE,
        RelType.REGISTERED_FOR,
        RelType.REAPPEARS_AS,
    }
)
"""Who is tied to whom through contacts, clusters, shipments, licences and analysts' links.
`prexus analyze` projects this by default: countries, platforms and substances are hubs
that every posting touches, which says little about who brokers between traffickers and
doubles the work."""


def run_analysis(
    store: GraphStore,
    *,
    seed: int = DEFAULT_SEED,
    rel_types: Iterable[RelType] | None = None,
    labels: Iterable[Label] | None = None,
    weighted: bool = True,
    exact_betweenness_limit: int = EXACT_BETWEENNESS_LIMIT,
    sample_k: int = BETWEENNESS_SAMPLES,
    betweenness_work: int = BETWEENNESS_WORK,
    backend: str = "auto",
) -> AnalysisRun:
    """Project the store, compute every measure for every connected node, write them onto
    the nodes (degree, degree_norm, betweenness, pagerank, eigenvector, component,
    community, core, articulation) and record the run under the "analysis" metadata.
    Deterministic: a re-run over the same graph stores identical values. Nodes outside the
    projection (no edges, or left out by `rel_types`/`labels`) keep what an earlier run
    stored on them."""
    rel_list = None if rel_types is None else sorted(RelType(r) for r in rel_types)
    label_list = None if labels is None else sorted(Label(label) for label in labels)
    parameters = {
        "seed": seed,
        "rel_types": None if rel_list is None else [str(r) for r in rel_list],
        "labels": None if label_list is None else [str(label) for label in label_list],
        "weighted": weighted,
        "exact_betweenness_limit": exact_betweenness_limit,
        "sample_k": sample_k,
        "betweenness_work": betweenness_work,
        "backend": backend,
        "engine": f"igraph {ig.__version__}, scipy {sp.__version__}",
    }
    log = StepLog(backends=choose_backends(backend))
    started = time.perf_counter()
    with log.timed("project"):
        p = project_arrays(store, rel_types=rel_list, labels=label_list, weighted=weighted)
    with log.timed("index"):  # what the steps share, built once
        if p.n:
            _ = p.igraph, p.adjacency, p.components
    columns = _centrality(p, exact_betweenness_limit, sample_k, seed, betweenness_work, log)
    columns.update(_communities(p, seed, log))
    points, bridges = _brokers(p, log)
    columns["articulation"] = points
    with log.timed("write"):
        written = write_results(store, p, columns)
    run = AnalysisRun(
        ran_at=now_iso(),
        parameters=parameters,
        nodes=p.n,
        edges=p.m,
        written=written,
        bridges=len(bridges),
        articulation_points=int(points.sum()),
        components=int(p.components.max(initial=-1)) + 1,
        communities=int(columns["community"].max(initial=-1)) + 1,
        seconds=log.seconds,
        total_seconds=round(time.perf_counter() - started, 3),
        backends=log.used,
        notes=log.notes,
    )
    store.put_meta(META_NAME, run.as_meta())
    return run


def write_results(store: GraphStore, p: Projection, columns: Columns) -> int:
    """Every node's measures onto it, in batches; a measure not computed (None) is written
    as None, which clears a value left by an earlier run. A store that offers
    `set_properties_by_id` (SQLite) gets each node's JSON object built here, by its row id;
    any other, set_properties per label."""
    names = sorted(columns)
    if p.row_ids is not None and hasattr(store, "set_properties_by_id"):
        return _write_by_id(store, p, names, columns)
    values = [_stored(columns[name], p.n) for name in names]
    labels = p.labels or [NodeRef.parse(str(node)).label.value for node in p.nodes]
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    written = 0
    for label, members in sorted(by_label.items()):
        prefix = len(label) + 1
        for at in range(0, len(members), WRITE_BATCH):
            batch = members[at : at + WRITE_BATCH]
            updates = {
                p.nodes[i][prefix:]: dict(zip(names, (column[i] for column in values), strict=True))
                for i in batch
            }
            written += store.set_properties(Label(label), updates)
    return written


def _write_by_id(store: Any, p: Projection, names: list[str], columns: Columns) -> int:
    """The JSON set_properties would store (schema.encode_props: sorted keys, no spaces,
    floats as repr), from one template per node instead of a dict and an encoder call, in
    row-id order: the table's own order, so each page is read and written once."""
    assert p.row_ids is not None
    order = np.argsort(p.row_ids, kind="stable")
    template = "{" + ",".join(f"{json.dumps(name)}:%s" for name in names) + "}"
    literals = [_json_literals(_reordered(columns[name], order), p.n) for name in names]
    ids = p.row_ids[order].tolist()
    written = 0
    for at in range(0, p.n, WRITE_BATCH):
        end = at + WRITE_BATCH
        rows = zip(*(column[at:end] for column in literals), strict=True)
        written += store.set_properties_by_id(
            zip((template % row for row in rows), ids[at:end], strict=True)
        )
    return written


def _reordered(column: np.ndarray | None, order: np.ndarray) -> np.ndarray | None:
    return None if column is None else column[order]


def _json_literals(column: np.ndarray | None, n: int) -> list[str]:
    """How the JSON encoder writes each stored value (floats and ints by repr)."""
    if column is None:
        return ["null"] * n
    if column.dtype.kind == "b":
        return np.where(column, "true", "false").tolist()
    return list(map(repr, _stored(column, n)))


def _stored(column: np.ndarray | None, n: int) -> Sequence[Any]:
    """Python values to store: ints, bools, and floats to SIGNIFICANT_DIGITS (so both stores
    hold, and re-runs write, the same)."""
    if column is None:
        return [None] * n
    if column.dtype.kind == "f":
        return round_significant(column)
    return column.tolist()


_POWERS_OF_TEN = np.array([float(10**i) for i in range(23)])  # exact in binary up to 10**22


def round_significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> list[float]:
    """float(f"{v:.{digits}g}") for each value, vectorised: scaled to a `digits`-digit
    integer r and divided back by an exact power of ten, which IEEE division rounds exactly
    as float() rounds the decimal string. Values where that shortcut could differ (a near
    tie in the last digit, a power of ten beyond 10**22, non-finite) are formatted one by
    one."""
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    nonzero = np.isfinite(values) & (values != 0)
    magnitude = np.abs(values, where=nonzero, out=np.ones_like(values))
    shift = (digits - 1) - np.floor(np.log10(magnitude)).astype(np.int64)
    exact = nonzero & (shift >= 0) & (shift <= 22)
    power = _POWERS_OF_TEN[np.where(exact, shift, 0)]
    scaled = values * power
    rounded = np.rint(scaled)
    fraction = np.abs(scaled - np.trunc(scaled))
    exact &= np.abs(fraction - 0.5) > 1e-3
    exact &= (np.abs(rounded) >= 10 ** (digits - 1)) & (np.abs(rounded) < 10**digits)
    out[exact] = rounded[exact] / power[exact]
    result = out.tolist()
    for i in np.flatnonzero(nonzero & ~exact).tolist():
        result[i] = float(f"{values[i]:.{digits}g}")
    return result

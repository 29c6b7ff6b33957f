"""Network analysis of the store with NetworkX: who is central, who brokers, which groups.

The store is projected once into an undirected simple graph (`project`); every measure is a
NetworkX algorithm on that graph, and `run_analysis` writes the results back onto the nodes so
views and the API can rank and colour by them.

Determinism: the projection is canonical (nodes, and every node's neighbours, in node-id
order) whatever order a store returns its edges in. NetworkX's seeded algorithms (Louvain,
sampled betweenness) walk the graph in that order, so SQLite, Neo4j and every re-run store the
same values. Floats are stored to 12 significant digits so that runs differing only in the
order of a floating-point sum (another backend, another store's float rendering) agree too.

Weights: an edge's weight is how often two nodes are tied (LINKED_TO's `weight`, e.g. the
number of intercepted calls; 1 for every other relationship), summed over parallel edges.
PageRank, eigenvector centrality and Louvain read it as tie strength. Betweenness always
counts hops: treating "52 calls" as a distance of 52 would make the strongest ties the
longest paths.
"""

from __future__ import annotations

import importlib.util
import math
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from itertools import islice
from types import GeneratorType
from typing import Any

import networkx as nx
import numpy as np
from networkx.algorithms.link_analysis.pagerank_alg import _pagerank_python

from graph.schema import Label, NodeRef, RelType, now_iso
from graph.store import GraphStore, NodeFilter, Subgraph

META_NAME = "analysis"
DEFAULT_SEED = 42
EXACT_BETWEENNESS_LIMIT = 1000
BETWEENNESS_SAMPLES = 500
BETWEENNESS_WORK = 30_000_000
"""Sampled betweenness costs one breadth-first search over nodes + edges per source, in pure
Python about 1.2 s at 100k demo postings (660k nodes + edges) and 15-45 s at 1M (3.5-6.6M);
sources are cut so that sources x (nodes + edges) stays under this, which keeps the step
to one or two minutes: 45 sources at 100k postings, 4 at 1M."""
EIGENVECTOR_MAX_ITER = 100
WRITE_BATCH = 20_000
SIGNIFICANT_DIGITS = 12
BACKEND_PREFERENCE = ("cugraph", "parallel")
"""Installed NetworkX dispatch backends are tried in this order, then any other."""
SAMPLES_LIKE_NETWORKX = frozenset({"parallel"})
"""Backends whose sampled betweenness draws the same sources as NetworkX for a seed
(nx-parallel calls `seed.sample(list(G.nodes), k)` like NetworkX does)."""
CENTRALITY_MEASURES = ("degree", "degree_norm", "betweenness", "pagerank", "eigenvector")
HAS_SCIPY = importlib.util.find_spec("scipy") is not None

WeightedEdge = tuple[NodeRef, NodeRef, float | None]
Measures = dict[str, dict[str, Any]]


# --- projection ------------------------------------------------------------------------------
def project(
    store: GraphStore,
    *,
    rel_types: Iterable[RelType] | None = None,
    labels: Iterable[Label] | None = None,
    weighted: bool = True,
) -> nx.Graph:
    """The store as an undirected simple graph: node ids "Label:key", node attribute `label`,
    edge `weight` (when weighted) the sum over parallel edges; nodes without edges are left
    out. `rel_types`/`labels` keep only those relationships / edges between those kinds."""
    kinds = None if labels is None else frozenset(Label(label) for label in labels)
    edges = (
        (source, target, weight)
        for source, target, _rel, weight in store.edge_list(rel_types)
        if kinds is None or (source.label in kinds and target.label in kinds)
    )
    return canonical_graph(edges, weighted=weighted)


def canonical_graph(edges: Iterable[WeightedEdge], *, weighted: bool = True) -> nx.Graph:
    """Build the simple graph in node-id order; see the module docstring for why.

    Edges wait in flat integer arrays (no Python object per edge) until they are sorted,
    merged and handed to NetworkX, so a projection of millions of edges costs little beyond
    NetworkX's own dictionaries."""
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
    order = sorted(range(len(names)), key=names.__getitem__)
    graph = nx.Graph(weighted=weighted)
    graph.add_nodes_from((names[i], {"label": refs[i].label.value}) for i in order)
    if ends:
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        ids = [names[i] for i in order]
        weight_array = np.frombuffer(weights, dtype=np.float64) if weighted else None
        _add_merged_edges(graph, ids, rank[np.frombuffer(ends, dtype=np.int64)], weight_array)
    return graph


def _add_merged_edges(
    graph: nx.Graph, ids: list[str], ends: np.ndarray, weights: np.ndarray | None
) -> None:
    """Merge parallel edges (summing weights, in a fixed order) and add them sorted."""
    n = len(ids)
    pairs = ends.reshape(-1, 2)
    keys = pairs.min(axis=1) * n + pairs.max(axis=1)
    order = np.argsort(keys, kind="stable") if weights is None else np.lexsort((weights, keys))
    keys = keys[order]
    starts = np.flatnonzero(np.diff(keys, prepend=-1))
    unique = keys[starts]
    merged = None if weights is None else np.add.reduceat(weights[order], starts)
    chunk = 1_000_000
    for at in range(0, len(unique), chunk):
        part = unique[at : at + chunk]
        sources = map(ids.__getitem__, (part // n).tolist())
        targets = map(ids.__getitem__, (part % n).tolist())
        if merged is None:
            graph.add_edges_from(zip(sources, targets, strict=True))
        else:
            values = merged[at : at + chunk].tolist()
            graph.add_weighted_edges_from(zip(sources, targets, values, strict=True))


def _weight(graph: nx.Graph) -> str | None:
    return "weight" if graph.graph.get("weighted") else None


# --- backends and bookkeeping ----------------------------------------------------------------
def installed_backends() -> list[str]:
    """NetworkX dispatch backends installed here (nx-cugraph, nx-parallel, ...), preferred
    first; NetworkX's own test backend is not one."""
    names = [name for name in nx.utils.backends.backends if name != "nx_loopback"]
    rank = {name: i for i, name in enumerate(BACKEND_PREFERENCE)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


def choose_backends(backend: str) -> tuple[str, ...]:
    """Backends for `backend`: "auto" every installed one, "networkx" none, else that one."""
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
    """Seconds, backend and remarks of each step of a run, for its metadata."""

    backends: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    used: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = round(self.seconds.get(step, 0.0) + time.perf_counter() - start, 3)

    def call(
        self,
        step: str,
        algorithm: Callable[..., Any],
        *args: Any,
        trusted: Collection[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run a dispatchable NetworkX algorithm on the first preferred backend implementing
        it (only `trusted` ones when given: those known to give NetworkX's results). A
        backend that fails falls back to NetworkX, and the note says why."""
        offered = getattr(algorithm, "backends", set())
        chosen = next(
            (
                name
                for name in self.backends
                if name in offered and (trusted is None or name in trusted)
            ),
            "networkx",
        )
        with self.timed(step):
            if chosen != "networkx":
                try:
                    with _backend_settings(chosen):
                        result = _collected(algorithm(*args, backend=chosen, **kwargs))
                    self.used[step] = chosen
                    return result
                except Exception as exc:  # a broken backend must not stop the analysis
                    self.notes[f"{step}_backend"] = f"{chosen} failed ({exc!r}); used networkx"
            self.used[step] = "networkx"
            return _collected(algorithm(*args, backend="networkx", **kwargs))


def _collected(result: Any) -> Any:
    """Generators run inside the step, so its time and its backend fallback cover them."""
    return list(result) if isinstance(result, GeneratorType) else result


# --- measures --------------------------------------------------------------------------------
def centrality(
    graph: nx.Graph,
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
    k = `sample_k` cut to `betweenness_work` / (nodes + edges). Sampled values for nodes of
    small components are rough, but normalised by the whole graph they are tiny anyway.

    Eigenvector centrality is computed on the largest connected component, and every node
    outside it gets 0: the leading eigenvector of a disconnected graph lives on one component
    anyway, and per-component vectors (each of norm 1) would rank a lone pair above the hubs
    of the main network. With SciPy it is ARPACK's (as nx.eigenvector_centrality_numpy, but
    from a fixed start); without, power iteration capped at EIGENVECTOR_MAX_ITER; when that
    does not converge there is no eigenvector value (the run's notes say so), not an error."""
    log = log or StepLog()
    if graph.number_of_nodes() == 0:
        return {name: {} for name in CENTRALITY_MEASURES}
    weight = _weight(graph)
    with log.timed("degree"):
        degree = dict(graph.degree())
        degree_norm = nx.degree_centrality(graph)
    measures: Measures = {"degree": degree, "degree_norm": degree_norm}
    measures["betweenness"] = _betweenness(
        graph, exact_betweenness_limit, sample_k, seed, betweenness_work, log
    )
    measures["pagerank"] = _pagerank(graph, weight, log)
    measures["eigenvector"] = _eigenvector(graph, weight, log)
    return measures


def betweenness_samples(graph: nx.Graph, limit: int, sample_k: int, work: int) -> int | None:
    """How many sources betweenness samples on this graph, None when it is exact (see
    `centrality`)."""
    if max(map(len, nx.connected_components(graph)), default=0) <= limit:
        return None
    size = graph.number_of_nodes() + graph.number_of_edges()
    return max(1, min(sample_k, graph.number_of_nodes(), work // size))


def _betweenness(
    graph: nx.Graph, limit: int, sample_k: int, seed: int, work: int, log: StepLog
) -> dict[str, float]:
    k = betweenness_samples(graph, limit, sample_k, work)
    if k is None:
        log.notes["betweenness"] = "exact"
        return log.call("betweenness", nx.betweenness_centrality, graph, weight=None)
    log.notes["betweenness"] = f"sampled: {k} sources, seed {seed} (a component > {limit} nodes)"
    return log.call(
        "betweenness",
        nx.betweenness_centrality,
        graph,
        k=k,
        seed=seed,
        weight=None,
        trusted=SAMPLES_LIKE_NETWORKX,
    )


def _pagerank(graph: nx.Graph, weight: str | None, log: StepLog) -> dict[str, float]:
    """nx.pagerank needs SciPy; without it, NetworkX's own pure-Python version (private, and
    slow on big graphs, but the same algorithm)."""
    if HAS_SCIPY:
        return log.call("pagerank", nx.pagerank, graph, weight=weight)
    log.notes["pagerank"] = "SciPy not installed: NetworkX's pure-Python PageRank"
    log.used["pagerank"] = "networkx"
    with log.timed("pagerank"):
        return _pagerank_python(graph, weight=weight)


def _eigenvector(graph: nx.Graph, weight: str | None, log: StepLog) -> dict[str, float]:
    """On the largest component (see `centrality`); every other node gets 0."""
    largest = max(nx.connected_components(graph), key=len)
    component = (
        graph
        if len(largest) == len(graph)
        else nx.subgraph_view(graph, filter_node=largest.__contains__)  # keeps node order
    )
    try:
        if HAS_SCIPY and len(largest) > 2:  # ARPACK wants three nodes or more
            with log.timed("eigenvector"):
                values = _eigenvector_arpack(component, weight)
            log.used["eigenvector"] = "networkx"
        else:
            values = log.call(
                "eigenvector",
                nx.eigenvector_centrality,
                component,
                weight=weight,
                max_iter=EIGENVECTOR_MAX_ITER,
            )
    except (nx.NetworkXException, RuntimeError) as exc:  # no convergence (ARPACK's too)
        log.notes["eigenvector"] = f"not computed: {exc}"
        return {}
    return {node: values.get(node, 0.0) for node in graph}


def _eigenvector_arpack(graph: nx.Graph, weight: str | None) -> dict[str, float]:
    """nx.eigenvector_centrality_numpy with a fixed ARPACK start vector: NetworkX lets ARPACK
    draw a random one, and then two runs in one process differ in the 13th digit."""
    import scipy as sp

    matrix = nx.to_scipy_sparse_array(graph, nodelist=list(graph), weight=weight, dtype=float)
    start = np.ones(matrix.shape[0])
    _, vectors = sp.sparse.linalg.eigs(matrix.T, k=1, which="LR", maxiter=1000, v0=start)
    largest = vectors.flatten().real
    norm = np.sign(largest.sum()) * np.linalg.norm(largest)
    return dict(zip(graph, (largest / norm).tolist(), strict=True))


def communities(
    graph: nx.Graph, seed: int = DEFAULT_SEED, *, log: StepLog | None = None
) -> Measures:
    """Per node: connected `component`, Louvain `community` (seeded) and k-`core` number.
    Component and community ids are ranks: 0 is the largest, ties broken by the smallest
    member id, so ids stay put between runs. Louvain always runs on NetworkX: another
    implementation would find other communities for the same seed."""
    log = log or StepLog()
    with log.timed("components"):
        component = numbered(nx.connected_components(graph))
    found = log.call(
        "louvain",
        nx.community.louvain_communities,
        graph,
        weight=_weight(graph),
        seed=seed,
        trusted=(),
    )
    community = numbered(found)
    with log.timed("core"):
        core = core_numbers(graph)
    return {"component": component, "community": community, "core": core}


def core_numbers(graph: nx.Graph) -> dict[str, int]:
    """k-core number of every node: the same values as nx.core_number, by the same peeling
    (Batagelj-Zaversnik), but with neighbour sets in buckets. nx.core_number removes nodes
    from neighbour *lists*, quadratic in a hub's degree: 100 s at 100k postings, where
    platforms and countries have tens of thousands of neighbours."""
    degree = dict(graph.degree())
    buckets: dict[int, set[str]] = defaultdict(set)
    for node, node_degree in degree.items():
        buckets[node_degree].add(node)
    core: dict[str, int] = {}
    for level in range(max(degree.values(), default=-1) + 1):
        bucket = buckets.get(level)
        while bucket:
            node = bucket.pop()
            core[node] = level
            for neighbour in graph.adj[node]:
                have = degree[neighbour]
                if have > level and neighbour not in core:
                    buckets[have].remove(neighbour)
                    buckets[have - 1].add(neighbour)
                    degree[neighbour] = have - 1
    return core


def numbered(groups: Iterable[Collection[str]]) -> dict[str, int]:
    """Node -> group id, ids ordered by group size (largest first), then smallest member."""
    ordered = sorted(groups, key=lambda members: (-len(members), min(members)))
    return {node: number for number, members in enumerate(ordered) for node in members}


@dataclass(frozen=True, slots=True)
class Brokers:
    """Nodes and ties whose removal splits a component: the go-betweens to look at."""

    articulation_points: frozenset[str]
    bridges: list[tuple[str, str]]


def brokers(graph: nx.Graph, *, log: StepLog | None = None) -> Brokers:
    """Articulation points and bridges (each bridge as a sorted pair, bridges sorted).

    Bridges are the blocks of a single edge among nx.biconnected_component_edges: the same
    edges as nx.bridges, from the depth-first search articulation points use, which is about
    seven times faster than nx.bridges' chain decomposition on the demo graphs."""
    log = log or StepLog()
    points = frozenset(log.call("articulation", nx.articulation_points, graph))
    with log.timed("bridges"):
        blocks = nx.biconnected_component_edges(graph)
        bridges = sorted(
            (min(u, v), max(u, v)) for block in blocks if len(block) == 1 for u, v in block
        )
    log.used["bridges"] = "networkx"
    return Brokers(points, bridges)


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
    notes: dict[str, str]

    @property
    def backend(self) -> str:
        """The backends that ran any step, or "networkx"."""
        used = sorted(set(self.backends.values()) - {"networkx"})
        return "+".join(used) or "networkx"

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
        "scipy": HAS_SCIPY,
    }
    log = StepLog(backends=choose_backends(backend))
    started = time.perf_counter()
    with log.timed("project"):
        graph = project(store, rel_types=rel_list, labels=label_list, weighted=weighted)
    measures = centrality(
        graph,
        exact_betweenness_limit=exact_betweenness_limit,
        sample_k=sample_k,
        seed=seed,
        betweenness_work=betweenness_work,
        log=log,
    )
    measures.update(communities(graph, seed, log=log))
    found = brokers(graph, log=log)
    measures["articulation"] = {node: node in found.articulation_points for node in graph}
    with log.timed("write"):
        written = write_results(store, graph, measures)
    run = AnalysisRun(
        ran_at=now_iso(),
        parameters=parameters,
        nodes=graph.number_of_nodes(),
        edges=graph.number_of_edges(),
        written=written,
        bridges=len(found.bridges),
        articulation_points=len(found.articulation_points),
        components=len(set(measures["component"].values())),
        communities=len(set(measures["community"].values())),
        seconds=log.seconds,
        total_seconds=round(time.perf_counter() - started, 3),
        backends=log.used,
        notes=log.notes,
    )
    store.put_meta(META_NAME, run.as_meta())
    return run


def write_results(store: GraphStore, graph: nx.Graph, measures: Measures) -> int:
    """set_properties per label, in batches; a measure a node lacks is written as None, which
    clears a value left by an earlier run."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for node, label in graph.nodes(data="label"):
        by_label[label].append(node)
    written = 0
    for label, nodes in sorted(by_label.items()):
        prefix = len(label) + 1
        for at in range(0, len(nodes), WRITE_BATCH):
            batch = nodes[at : at + WRITE_BATCH]
            updates = {node[prefix:]: _node_results(node, measures) for node in batch}
            written += store.set_properties(Label(label), updates)
    return written


def _node_results(node: str, measures: Measures) -> dict[str, Any]:
    return {name: _stored(values.get(node)) for name, values in measures.items()}


def _stored(value: Any) -> Any:
    """Floats to SIGNIFICANT_DIGITS, so both stores hold, and re-runs write, the same."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value

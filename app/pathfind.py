"""Shortest paths between two entities, by bidirectional breadth-first search over
`store.ego`, so it runs the same on both stores without a backend-specific query.

Each step expands the smaller frontier by one hop, a whole level at a time; the first level
at which the two searches meet gives every shortest path. Each expansion is capped at a node
budget so a hub (a platform with 100,000 postings) cannot stall the request; then the result
says it may have missed a path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise

from graph.limits import MAX_PATH_DEPTH, PATH_EXPANSION_BUDGET, time_budget
from graph.schema import Edge, Node, NodeRef
from graph.store import GraphStore, NodeFilter

MAX_DEPTH = MAX_PATH_DEPTH
EXPANSION_BUDGET = PATH_EXPANSION_BUDGET


@dataclass(slots=True)
class _Side:
    """One direction of the search: distances and every parent at the level before."""

    dist: dict[NodeRef, int]
    parents: dict[NodeRef, list[NodeRef]]
    frontier: list[NodeRef]
    level: int = 0

    @classmethod
    def start(cls, ref: NodeRef) -> _Side:
        return cls({ref: 0}, {ref: []}, [ref])


@dataclass(slots=True)
class PathResult:
    length: int | None
    paths: list[list[NodeRef]]
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    truncated: bool = False


def shortest_paths(
    store: GraphStore,
    source: NodeRef,
    target: NodeRef,
    max_depth: int = 4,
    flt: NodeFilter | None = None,
    max_paths: int = 10,
    budget: int = EXPANSION_BUDGET,
) -> PathResult:
    """Up to `max_paths` shortest paths of at most `max_depth` hops (both ends must exist),
    under the query time budget (QueryTimeoutError, 504, past it)."""
    with time_budget():
        return _shortest_paths(store, source, target, max_depth, flt, max_paths, budget)


def _shortest_paths(
    store: GraphStore,
    source: NodeRef,
    target: NodeRef,
    max_depth: int,
    flt: NodeFilter | None,
    max_paths: int,
    budget: int,
) -> PathResult:
    max_depth = min(max_depth, MAX_DEPTH)
    flt = flt or NodeFilter()
    if flt.labels is not None:  # the ends are always allowed, whatever kinds lie between
        flt = NodeFilter(
            flt.labels | {source.label, target.label}, flt.since, flt.until, flt.rel_types
        )
    if source == target:
        return _result(store, [[source]], 0, False)
    sides = (_Side.start(source), _Side.start(target))
    truncated = False
    while sides[0].frontier and sides[1].frontier and sides[0].level + sides[1].level < max_depth:
        grow, other = sorted(sides, key=lambda s: len(s.frontier))
        truncated |= _expand(store, grow, flt, budget)
        meets = [ref for ref in grow.frontier if ref in other.dist]
        if meets:
            best = min(grow.dist[m] + other.dist[m] for m in meets)
            meets = [m for m in meets if grow.dist[m] + other.dist[m] == best]
            paths = list(_join(sides[0], sides[1], meets, max_paths))
            return _result(store, paths, best, truncated)
    return PathResult(None, [], truncated=truncated)


def _expand(store: GraphStore, side: _Side, flt: NodeFilter, budget: int) -> bool:
    """Replace the side's frontier by the next level; True if the budget cut it."""
    sub = store.ego(side.frontier, 1, flt, limit=len(side.frontier) + budget)
    current = set(side.frontier)
    side.level += 1
    fresh: dict[NodeRef, None] = {}
    for edge in sub.edges:
        for near, far in ((edge.source, edge.target), (edge.target, edge.source)):
            new = far not in current and side.dist.get(far, side.level) == side.level
            if near in current and new:
                side.dist[far] = side.level
                parents = side.parents.setdefault(far, [])
                if near not in parents:
                    parents.append(near)
                fresh[far] = None
    side.frontier = list(fresh)
    return sub.truncated


def _walks(side: _Side, ref: NodeRef) -> Iterator[list[NodeRef]]:
    """Every shortest walk from the side's start to `ref`, start first."""
    if not side.parents[ref]:
        yield [ref]
        return
    for parent in side.parents[ref]:
        for walk in _walks(side, parent):
            yield [*walk, ref]


def _join(
    forward: _Side, backward: _Side, meets: list[NodeRef], max_paths: int
) -> Iterator[list[NodeRef]]:
    count = 0
    for meet in meets:
        for head in _walks(forward, meet):
            for tail in _walks(backward, meet):
                yield head + tail[::-1][1:]
                count += 1
                if count >= max_paths:
                    return


def _result(
    store: GraphStore, paths: list[list[NodeRef]], length: int, truncated: bool
) -> PathResult:
    """The paths with their nodes and the edges between consecutive nodes."""
    refs = list(dict.fromkeys(ref for path in paths for ref in path))
    steps = {frozenset(pair) for path in paths for pair in pairwise(path)}
    edges = [e for e in store.edges_among(refs) if frozenset((e.source, e.target)) in steps]
    return PathResult(length, paths, store.get_nodes(refs), edges, truncated)

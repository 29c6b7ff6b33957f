"""How are two entities connected?"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import CanRead
from app.deps import Store, node_filter, parse_ref
from app.models import Network, PathOut, Paths, Problem, edge_id
from app.network import to_network
from app.pathfind import MAX_DEPTH, shortest_paths
from app.queries import require_node
from graph.schema import Label, NodeRef
from graph.store import GraphStore, Subgraph

router = APIRouter(tags=["paths"])


def find_paths(
    store: GraphStore,
    source: NodeRef,
    target: NodeRef,
    max_depth: int,
    kinds: tuple[Label, ...] = (),
    max_paths: int = 10,
) -> Paths:
    """Shortest paths as the API returns them and the path page draws them."""
    require_node(store, source)
    require_node(store, target)
    found = shortest_paths(
        store, source, target, max_depth, node_filter(kinds, (), None, None), max_paths
    )
    by_pair: defaultdict[frozenset[NodeRef], list[str]] = defaultdict(list)
    for edge in found.edges:
        by_pair[frozenset((edge.source, edge.target))].append(edge_id(edge))
    paths = [
        PathOut(
            nodes=[str(ref) for ref in path],
            edges=[eid for pair in pairwise(path) for eid in by_pair[frozenset(pair)]],
        )
        for path in found.paths
    ]
    drawn = Subgraph(found.nodes, found.edges, False)
    return Paths(
        source=str(source),
        target=str(target),
        max_depth=max_depth,
        length=found.length,
        paths=paths,
        truncated=found.truncated,
        network=Network.model_validate(to_network(drawn, [source, target], len(found.nodes))),
    )


@router.get(
    "/paths",
    responses={400: {"model": Problem}, 404: {"model": Problem, "description": "No such end"}},
)
def paths(
    _: CanRead,
    store: Store,
    source: Annotated[
        str, Query(alias="from", description="`Label:key`", examples=["Posting:P0000001"])
    ],
    target: Annotated[
        str, Query(alias="to", description="`Label:key`", examples=["Seizure:S000001"])
    ],
    max_depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="Most hops.")] = 4,
    kinds: Annotated[
        list[Label] | None, Query(description="Only pass through nodes of these kinds.")
    ] = None,
    max_paths: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Paths:
    """Every shortest path (up to `max_paths`) of at most `max_depth` hops, found by a
    bidirectional breadth-first search."""
    return find_paths(
        store,
        parse_ref(source, "from"),
        parse_ref(target, "to"),
        max_depth,
        tuple(kinds or ()),
        max_paths,
    )

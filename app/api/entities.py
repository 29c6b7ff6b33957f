"""One entity: its record, its connections, its neighbourhood."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from app.auth import CanRead
from app.deps import Seeds, Store, View, ViewParams
from app.models import Entity, Network, Problem
from app.network import to_network
from app.queries import entity_detail, neighbourhood
from graph.schema import Label, NodeRef
from graph.store import GraphStore

router = APIRouter(tags=["entities"])

NOT_FOUND = {404: {"model": Problem, "description": "No such entity"}}
BAD_FILTER = {400: {"model": Problem, "description": "A filter that cannot apply"}}


def ego_network(store: GraphStore, seeds: list[NodeRef], view: ViewParams) -> JSONResponse:
    """Sent as built (see app.network.to_network) but documented as `Network`."""
    sub = neighbourhood(store, seeds, view.depth, view.filter, view.limit)
    return JSONResponse(to_network(sub, seeds, view.limit))


@router.get("/network", response_model=Network, responses={**NOT_FOUND, **BAD_FILTER})
def network(_: CanRead, store: Store, view: View, seeds: Seeds) -> JSONResponse:
    """The neighbourhood of one or more seeds: nodes, edges, and `truncated` when the node
    limit cut it (narrow with `kinds`, `since`/`until`, a smaller `depth`)."""
    return ego_network(store, seeds, view)


@router.get(
    "/entities/{label}/{key:path}/network",
    response_model=Network,
    responses={**NOT_FOUND, **BAD_FILTER},
)
def entity_network(_: CanRead, store: Store, label: Label, key: str, view: View) -> JSONResponse:
    """The entity's neighbourhood; see `/api/network` (which also takes keys that end in
    `/network`, and several seeds)."""
    return ego_network(store, [NodeRef(label, key)], view)


@router.get("/entities/{label}/{key:path}", responses=NOT_FOUND)
def entity(
    _: CanRead,
    store: Store,
    label: Label,
    key: str,
    limit: Annotated[int, Query(ge=1, le=500, description="Connections per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Entity:
    """Properties, provenance and one page of connections (each edge with its evidence and
    the node at the other end)."""
    return entity_detail(store, NodeRef(label, key), limit, offset)

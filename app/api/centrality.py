"""Who is central, who brokers, which groups: the measures `prexus analyze` stored."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.auth import CanRead
from app.deps import Cache, Limit, Offset, Store
from app.models import CentralityPage, CommunityOut, Page
from app.queries import centrality_page, community_page
from graph.schema import Label

router = APIRouter(tags=["analysis"])


@router.get("/centrality")
def centrality(
    _: CanRead,
    store: Store,
    cache: Cache,
    measure: Literal["degree", "betweenness", "pagerank", "eigenvector"] = "pagerank",
    kind: Annotated[list[Label] | None, Query(description="Only nodes of these kinds.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CentralityPage:
    """Nodes ranked by a stored centrality, highest first; empty until the analysis has
    run (and for eigenvector when it did not converge)."""
    return centrality_page(store, cache, measure, kind, limit, offset)


@router.get("/communities")
def communities(
    _: CanRead, store: Store, cache: Cache, limit: Limit = 50, offset: Offset = 0
) -> Page[CommunityOut]:
    """Louvain communities of the last analysis, largest first, with their kinds and most
    central members."""
    return community_page(store, cache, limit, offset)

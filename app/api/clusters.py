"""Actor clusters: who is behind which postings and seizures, why, and analysts' calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from app.api.entities import NOT_FOUND
from app.auth import CanAnnotate, CanRead
from app.deps import Cache, Limit, Offset, Store, parse_ref
from app.models import (
    ClusterOut,
    DecisionIn,
    DecisionResult,
    Explanation,
    NodeOut,
    Page,
    Problem,
)
from app.queries import (
    InvalidRequestError,
    cluster_detail,
    cluster_members,
    cluster_page,
    decide,
    why_together,
)

router = APIRouter(tags=["clusters"])

BAD_REQUEST = {400: {"model": Problem, "description": "A request that cannot apply"}}


def bad_request(exc: InvalidRequestError) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, str(exc))


@router.get("/clusters")
def clusters(
    _: CanRead,
    store: Store,
    cache: Cache,
    limit: Annotated[int, Query(ge=1, le=100, description="Clusters per page.")] = 20,
    offset: Offset = 0,
) -> Page[ClusterOut]:
    """Actor clusters, largest first, as `prexus export clusters` writes them, each with its
    explanation: the identifiers that tie it (with evidence and weights), the hubs left out
    and the weak links to other clusters."""
    return cluster_page(store, cache, limit, offset)


@router.post("/clusters/decisions", responses={**BAD_REQUEST, **NOT_FOUND})
def cluster_decision(_: CanAnnotate, store: Store, body: DecisionIn) -> DecisionResult:
    """Record an analyst's decision and re-cluster, so the answer (each record's cluster)
    already reflects it; every later clustering run applies it too. `merge` needs two or
    more records (any member of each cluster); `split` takes the records out of their
    cluster into one of their own."""
    try:
        return decide(store, body.action, body.records, body.by, body.note)
    except InvalidRequestError as exc:
        raise bad_request(exc) from None


@router.get("/clusters/{cluster_id}", responses=NOT_FOUND)
def cluster(_: CanRead, store: Store, cache: Cache, cluster_id: str) -> ClusterOut:
    """One cluster with its explanation."""
    return cluster_detail(store, cache, cluster_id)


@router.get("/clusters/{cluster_id}/members", responses=NOT_FOUND)
def members(
    _: CanRead, store: Store, cluster_id: str, limit: Limit = 100, offset: Offset = 0
) -> Page[NodeOut]:
    """The cluster's records (postings, seizures, companies, persons, operators) in
    (kind, key) order."""
    return cluster_members(store, cluster_id, limit, offset)


@router.get("/clusters/{cluster_id}/why", responses={**BAD_REQUEST, **NOT_FOUND})
def why(
    _: CanRead,
    store: Store,
    cluster_id: str,
    a: Annotated[str, Query(description="`Label:key` of a member", examples=["Posting:P1"])],
    b: Annotated[str, Query(description="`Label:key` of a member", examples=["Posting:P2"])],
) -> Explanation:
    """Why two members are in one cluster: the chain of shared identifiers from a to b,
    each step with the text it was read from and its weight. No steps when only an
    analyst's merge holds them together."""
    try:
        return why_together(store, cluster_id, parse_ref(a, "a"), parse_ref(b, "b"))
    except InvalidRequestError as exc:
        raise bad_request(exc) from None

"""A neighbourhood, a cluster or a case as a file other tools open."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status

from app.api.entities import BAD_FILTER, NOT_FOUND
from app.auth import CanRead
from app.deps import Seeds, Store, View
from app.export import FILE_NAMES, MEDIA_TYPES, ExportFormat, export_network, file_name
from app.queries import NotFoundError, neighbourhood
from graph.cases import CASE_VIEW_LIMIT, CaseNotFoundError, case_network
from graph.exports import CLUSTER_NETWORK_LIMIT, cluster_network
from graph.schema import Label, NodeRef
from graph.store import Subgraph

router = APIRouter(tags=["export"])

FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file (a zip of nodes.csv and edges.csv for `csv`).",
        "content": {media: {} for media in MEDIA_TYPES.values()},
    }
}


@router.get(
    "/export/network.{fmt}",
    response_class=Response,
    responses={**FILE_RESPONSE, **NOT_FOUND, **BAD_FILTER},
)
def export(_: CanRead, store: Store, fmt: ExportFormat, view: View, seeds: Seeds) -> Response:
    """The seeds' neighbourhood (same filters as `/api/network`) as GraphML, GEXF, node-link
    JSON or CSV."""
    sub = neighbourhood(store, seeds, view.depth, view.filter, view.limit)
    return network_file(sub, fmt, FILE_NAMES[fmt])


def network_file(sub: Subgraph, fmt: ExportFormat, name: str) -> Response:
    """The download: the file, its name, and `X-Prexus-Truncated` when a limit cut it."""
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if sub.truncated:
        headers["X-Prexus-Truncated"] = "true"
    return Response(export_network(sub, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)


ExportLimit = Annotated[
    int, Query(ge=1, le=CLUSTER_NETWORK_LIMIT, description="Most nodes in the file.")
]
RECORD_FILE_ROUTE: dict[str, Any] = {
    "response_class": Response, "responses": {**FILE_RESPONSE, **NOT_FOUND},
}  # fmt: skip
"""How the cluster and case exports are documented: a file, or 404 for no such record."""


@router.get("/export/cluster/{cluster_id}/network.{fmt}", **RECORD_FILE_ROUTE)
def export_cluster(
    _: CanRead, store: Store, cluster_id: str, fmt: ExportFormat,
    limit: ExportLimit = CLUSTER_NETWORK_LIMIT,
) -> Response:  # fmt: skip
    """An actor cluster: the Actor, its member records, their identifiers and every edge
    among them, as GraphML, GEXF, node-link JSON or CSV."""
    sub = cluster_network(store, cluster_id, limit)
    if sub is None:
        raise NotFoundError(NodeRef(Label.ACTOR, cluster_id))
    return network_file(sub, fmt, file_name(fmt, f"prexus-cluster-{cluster_id}"))


@router.get("/export/case/{case_id}/network.{fmt}", **RECORD_FILE_ROUTE)
def export_case(
    _: CanRead, store: Store, case_id: str, fmt: ExportFormat,
    limit: ExportLimit = CASE_VIEW_LIMIT,
) -> Response:  # fmt: skip
    """A case's network as its page draws it (pins, pinned clusters' members, the contacts
    and parties they share), as GraphML, GEXF, node-link JSON or CSV."""
    try:
        sub = case_network(store, case_id, limit)
    except CaseNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return network_file(sub, fmt, file_name(fmt, f"prexus-case-{case_id}"))

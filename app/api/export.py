"""A neighbourhood as a file other tools open."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api.entities import BAD_FILTER, NOT_FOUND
from app.deps import Seeds, Store, View
from app.export import FILE_NAMES, MEDIA_TYPES, ExportFormat, export_network
from app.queries import neighbourhood

router = APIRouter(tags=["export"])


@router.get(
    "/export/network.{fmt}",
    response_class=Response,
    responses={
        200: {
            "description": "The file (a zip of nodes.csv and edges.csv for `csv`).",
            "content": {media: {} for media in MEDIA_TYPES.values()},
        },
        **NOT_FOUND,
        **BAD_FILTER,
    },
)
def export(store: Store, fmt: ExportFormat, view: View, seeds: Seeds) -> Response:
    """The seeds' neighbourhood (same filters as `/api/network`) as GraphML, GEXF, node-link
    JSON or CSV."""
    sub = neighbourhood(store, seeds, view.depth, view.filter, view.limit)
    headers = {"Content-Disposition": f'attachment; filename="{FILE_NAMES[fmt]}"'}
    if sub.truncated:
        headers["X-Prexus-Truncated"] = "true"
    return Response(export_network(sub, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)

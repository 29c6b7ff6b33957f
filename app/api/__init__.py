"""The JSON API under /api: one router per area, so a new area is one module and one line."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import (
    alerts,
    centrality,
    clusters,
    entities,
    export,
    ingest,
    meta,
    paths,
    postings,
    routes,
    search,
    trends,
)

router = APIRouter(prefix="/api")
for area in (meta, search, entities, paths, export, ingest,
             postings, clusters, trends, alerts, routes, centrality):  # fmt: skip
    router.include_router(area.router)

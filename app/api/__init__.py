"""The JSON API under /api: one router per area, so a new area is one module and one line."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import (
    admin,
    alerts,
    cases,
    centrality,
    clusters,
    deconflict,
    entities,
    export,
    ingest,
    meta,
    paths,
    postings,
    routes,
    search,
    trends,
    watches,
)
from app.auth import ACCESS_RESPONSES

router = APIRouter(prefix="/api", responses=ACCESS_RESPONSES)
for area in (meta, search, entities, paths, export, ingest,
             postings, clusters, trends, alerts, routes, centrality, cases,
             admin, watches, deconflict):  # fmt: skip
    router.include_router(area.router)

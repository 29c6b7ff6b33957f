"""The JSON API under /api: one router per area, so a new area is one module and one line."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import entities, export, ingest, meta, paths, search

router = APIRouter(prefix="/api")
for area in (meta, search, entities, paths, export, ingest):
    router.include_router(area.router)

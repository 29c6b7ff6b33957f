"""Is it up, what does it store, how much of it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.auth import CanRead
from app.deps import Store
from app.models import Health, Stats
from graph.schema import schema_document

router = APIRouter(tags=["meta"])


@router.get("/health")
def health(store: Store) -> Health:
    """Liveness, and which backend answers."""
    return Health(backend=store.backend)


@router.get("/schema")
def schema(_: CanRead) -> dict[str, Any]:
    """Node kinds, keys, properties, styles and relationship types, from graph.schema."""
    return schema_document()


@router.get("/stats")
def stats(_: CanRead, store: Store) -> Stats:
    """Nodes per kind and edges per relationship type."""
    counts = store.counts()
    return Stats(
        nodes=counts.nodes,
        edges=counts.edges,
        total_nodes=counts.total_nodes,
        total_edges=counts.total_edges,
    )

"""One posting as the exports describe it."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.entities import NOT_FOUND
from app.auth import CanRead
from app.deps import Store
from app.models import PostingSummary
from app.queries import posting_detail

router = APIRouter(tags=["postings"])


@router.get("/postings/{posting_id:path}", responses=NOT_FOUND)
def posting(_: CanRead, store: Store, posting_id: str) -> PostingSummary:
    """The fields `prexus export postings` writes for this posting (its cluster, contacts,
    substances and kind) and its provenance."""
    return posting_detail(store, posting_id)

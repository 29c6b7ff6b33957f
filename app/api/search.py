"""Find entities by text, key or contact detail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import CanRead
from app.deps import Cache, Store
from app.models import SearchPage
from app.queries import search_nodes
from graph.limits import MAX_QUERY_CHARS
from graph.schema import Label

router = APIRouter(tags=["search"])

MAX_OFFSET = 10_000


@router.get("/search")
def search(
    _: CanRead,
    store: Store,
    cache: Cache,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY_CHARS,
            description="Words, a key or a contact detail.",
            examples=["+86 138 0013 8000"],
        ),
    ],
    kinds: Annotated[list[Label] | None, Query(description="Only these kinds.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> SearchPage:
    """Nodes whose key equals the query or whose text contains its words.

    The query is also read as a contact (phone, e-mail, handle, wallet, URL) and normalised as
    ingest does, so any spelling of a stored contact finds it first.
    """
    return search_nodes(store, q, kinds, limit, offset, cache)

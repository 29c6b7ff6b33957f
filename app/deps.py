"""Dependencies the routers share: the store, its scan cache, paging, entity references and
network filters.

Filters are parsed once here so the API, the exports and the pages accept the same
parameters with the same errors: 422 for a malformed value, 400 for a filter that cannot
select anything (an unknown `Kind:key`, `since` after `until`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from pydantic import BeforeValidator

from app.queries import DashboardCache
from graph.limits import MAX_REF_CHARS, MAX_SEEDS, MAX_VIEW_DEPTH, MAX_VIEW_LIMIT
from graph.schema import Label, NodeRef, RelType, as_iso
from graph.store import DEFAULT_VIEW_LIMIT, GraphStore, NodeFilter

BlankIsNone = BeforeValidator(lambda value: None if value == "" else value)
"""An HTML form sends an empty date field as `since=`; that means 'no bound'."""


def get_store(request: Request) -> GraphStore:
    """The store create_app was given or opened (one per app, shared by requests)."""
    return request.app.state.store


Store = Annotated[GraphStore, Depends(get_store)]

MAX_LIST_OFFSET = 10_000_000
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET, description="Items to skip.")]


def store_cache(request: Request) -> DashboardCache:
    """The app's cache of whole-store scans (create_app makes one per app)."""
    return request.app.state.dashboard_cache


Cache = Annotated[DashboardCache, Depends(store_cache)]


def parse_ref(text: str, what: str = "node") -> NodeRef:
    """`Label:key` from a query parameter; 400 naming the valid kinds when it is not one,
    or the length limit when it is longer."""
    if len(text) > MAX_REF_CHARS:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"{what}: longer than the {MAX_REF_CHARS:,}-character limit of a `Label:key`",
        )
    try:
        return NodeRef.parse(text)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{what}: {exc}") from None


def seed_refs(
    seed: Annotated[
        list[str],
        Query(
            min_length=1,
            max_length=MAX_SEEDS,
            description="`Label:key` of each seed.",
            examples=[["Posting:P0000001"]],
        ),
    ],
) -> list[NodeRef]:
    return [parse_ref(text, "seed") for text in seed]


Seeds = Annotated[list[NodeRef], Depends(seed_refs)]


@dataclass(frozen=True, slots=True)
class ViewParams:
    """What part of a neighbourhood to draw; `query` repeats it for links and expansion."""

    depth: int
    limit: int
    filter: NodeFilter
    kinds: tuple[Label, ...]
    rels: tuple[RelType, ...]
    since: date | None
    until: date | None

    def query(self, **overrides: object) -> list[tuple[str, str]]:
        """The parameters as (name, value) pairs, for URLs that keep this view."""
        values: dict[str, object] = {
            "depth": self.depth, "limit": self.limit, "kinds": list(self.kinds),
            "rels": list(self.rels), "since": self.since, "until": self.until, **overrides,
        }  # fmt: skip
        pairs: list[tuple[str, str]] = []
        for name, value in values.items():
            for item in value if isinstance(value, list) else [value]:
                if item is not None:
                    pairs.append((name, str(item)))
        return pairs


def node_filter(
    kinds: tuple[Label, ...], rels: tuple[RelType, ...], since: date | None, until: date | None
) -> NodeFilter:
    if since and until and since > until:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"since ({since}) is after until ({until})"
        )
    return NodeFilter(
        labels=frozenset(kinds) or None,
        since=as_iso(since),
        until=as_iso(until),
        rel_types=frozenset(rels) or None,
    )


def view_params(
    depth: Annotated[int, Query(ge=1, le=MAX_VIEW_DEPTH, description="Hops from the seed.")] = 1,
    limit: Annotated[
        int, Query(ge=1, le=MAX_VIEW_LIMIT, description="Most nodes to return.")
    ] = DEFAULT_VIEW_LIMIT,
    kinds: Annotated[
        list[Label] | None, Query(description="Only nodes of these kinds (the seed always).")
    ] = None,
    rels: Annotated[
        list[RelType] | None, Query(description="Only edges of these relationship types.")
    ] = None,
    since: Annotated[
        date | None, BlankIsNone, Query(description="Only nodes last seen on or after.")
    ] = None,
    until: Annotated[
        date | None, BlankIsNone, Query(description="Only nodes first seen on or before.")
    ] = None,
) -> ViewParams:
    # every kind ticked (the pages' default form) is no kind filter at all
    kinds_t = () if set(kinds or ()) == set(Label) else tuple(dict.fromkeys(kinds or ()))
    rels_t = () if set(rels or ()) == set(RelType) else tuple(dict.fromkeys(rels or ()))
    return ViewParams(
        depth, limit, node_filter(kinds_t, rels_t, since, until), kinds_t, rels_t, since, until
    )


View = Annotated[ViewParams, Depends(view_params)]

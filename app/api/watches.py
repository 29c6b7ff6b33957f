"""Watchlists: watch a contact, company, substance or cluster, and read the alerts new data
raised about them (graph.watchlists says which alerts and when they are checked)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from app.auth import CanAnnotate, CanRead
from app.deps import Limit, Offset, Store
from app.models import Page, Problem
from graph import watchlists
from graph.store import GraphStore
from graph.watchlists import ALERT_KINDS, Watch, WatchAlert, WatchError
from ingest.targets import TARGET_KINDS, watch_target

router = APIRouter(tags=["watches"])

NOT_FOUND = {404: {"model": Problem, "description": "No such watch or alert"}}
BAD_REQUEST = {400: {"model": Problem, "description": "Not something that can be watched"}}
TargetKind = Literal[TARGET_KINDS]  # type: ignore[valid-type]
AlertKind = Literal[ALERT_KINDS]  # type: ignore[valid-type]


class WatchIn(BaseModel):
    kind: TargetKind = Field(
        description="`identifier` (kind inferred), an identifier kind such as `phone` or "
        "`telegram`, or `company`, `substance` (CAS number or listed name), `cluster` (id).",
        examples=["phone"],
    )
    value: str = Field(min_length=1, max_length=500, examples=["+86 138 0013 8000"])
    note: str = Field("", max_length=2000)


class WatchUpdate(BaseModel):
    note: str = Field(max_length=2000)


class WatchOut(BaseModel):
    id: str = Field(examples=["w-3f9a1c2b7d"])
    kind: Literal["identifier", "company", "substance", "cluster"]
    target: str = Field(
        description="The watched node, `Label:key`, its key normalised as ingest makes it.",
        examples=["Identifier:phone:+8613800138000"],
    )
    value: str = Field(description="As written when the watch was added.")
    note: str
    created_by: str
    created_at: str
    platforms: list[str] = Field(description="Cluster watches: platforms seen so far.")
    first_posting: str | None = Field(
        description="Substance watches: the first posting that mentioned it, once seen."
    )


class WatchAlertOut(BaseModel):
    id: str = Field(examples=["a-0c1d2e3f4a5b6c7d"])
    watch: str
    kind: AlertKind
    target: str = Field(description="The watched node, `Label:key`.")
    subject: str = Field(
        description="What touched it: `Label:key` of a posting or record, `Platform:name`, or "
        "`Posting:removed->Posting:reposted` for a reappearance."
    )
    summary: str = Field(description="One line; plain text, may quote scraped titles.")
    at: str
    detail: dict[str, Any]
    acknowledged_by: str | None
    acknowledged_at: str | None


def _watch(watch: Watch) -> WatchOut:
    return WatchOut.model_validate(watch.to_dict())


def _alert(alert: WatchAlert) -> WatchAlertOut:
    return WatchAlertOut.model_validate(alert.to_dict())


def add_watch(store: GraphStore, kind: str, value: str, by: str, note: str) -> tuple[Watch, bool]:
    """Normalise KIND VALUE as ingest would and add the watch; 400 when it cannot be."""
    try:
        watch_kind, target = watch_target(kind, value)
        return watchlists.add_watch(store, watch_kind, target, value.strip(), by=by, note=note)
    except (ValueError, WatchError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


@router.get("/watches")
def list_watches(_: CanRead, store: Store, limit: Limit = 50, offset: Offset = 0) -> Page[WatchOut]:
    """Watches, newest first."""
    total, items = watchlists.list_watches(store, limit, offset)
    return Page[WatchOut](total=total, limit=limit, offset=offset, items=list(map(_watch, items)))


@router.post(
    "/watches", status_code=status.HTTP_201_CREATED,
    responses={200: {"model": WatchOut, "description": "Already watched"}, **BAD_REQUEST},
)  # fmt: skip
def create_watch(
    principal: CanAnnotate, store: Store, body: WatchIn, response: Response
) -> WatchOut:
    """Watch a node. The value is normalised as ingest normalises records (a phone in any
    writing style, a company name without its legal form), so the watch meets the data.
    Watching the same node again answers the existing watch with 200."""
    watch, created = add_watch(store, body.kind, body.value, principal.name, body.note)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _watch(watch)


@router.get("/watches/{watch_id}", responses=NOT_FOUND)
def get_watch(_: CanRead, store: Store, watch_id: str) -> WatchOut:
    found = watchlists.get_watch(store, watch_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no watch {watch_id!r}")
    return _watch(found)


@router.patch(
    "/watches/{watch_id}",
    responses={**NOT_FOUND, 400: {"model": Problem, "description": "A body that is not JSON"}},
)
def update_watch(_: CanAnnotate, store: Store, watch_id: str, body: WatchUpdate) -> WatchOut:
    """Change a watch's note (what it watches never changes: add another watch)."""
    found = watchlists.update_watch(store, watch_id, body.note)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no watch {watch_id!r}")
    return _watch(found)


@router.delete(
    "/watches/{watch_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
    responses=NOT_FOUND,
)  # fmt: skip
def delete_watch(_: CanAnnotate, store: Store, watch_id: str) -> Response:
    """Stop watching; the watch's alerts go with it."""
    if not watchlists.delete_watch(store, watch_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no watch {watch_id!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/watch-alerts")
def list_alerts(
    _: CanRead,
    store: Store,
    watch: Annotated[str | None, Query(max_length=100, description="Only this watch's.")] = None,
    acknowledged: Annotated[
        bool | None, Query(description="Only acknowledged (true) or open (false) alerts.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[WatchAlertOut]:
    """Alerts, newest first: new postings or records with a watched contact or company,
    the first posting of a watched substance, a watched cluster on a new platform, and
    reappearances after takedown that touch a watch."""
    total, items = watchlists.list_alerts(
        store, watch=watch, acknowledged=acknowledged, limit=limit, offset=offset
    )
    return Page[WatchAlertOut](
        total=total, limit=limit, offset=offset, items=list(map(_alert, items))
    )


@router.post("/watch-alerts/{alert_id}/acknowledge", responses=NOT_FOUND)
def acknowledge_alert(principal: CanAnnotate, store: Store, alert_id: str) -> WatchAlertOut:
    """Mark an alert seen; the first acknowledgement (who and when) is kept."""
    found = watchlists.acknowledge(store, alert_id, principal.name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
    return _alert(found)

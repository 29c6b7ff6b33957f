"""The watchlist page: a form to watch a contact, company, substance or cluster, the
watches, and the alerts new data raised on them, each to acknowledge. The dashboard shows
the open alerts through the `open_watch_alerts` template global.

Forms post back with the page's CSRF token (app.csrf) and redirect to the page that shows
the result; the work is done by the same functions as the API (app.api.watches).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from app.api.watches import add_watch
from app.auth import CanAnnotate, CanRead
from app.csrf import CsrfProtected
from app.deps import MAX_LIST_OFFSET, Store
from app.models import Page
from app.pages import ref_url, render, templates
from graph import watchlists
from graph.store import GraphStore
from graph.watchlists import WatchAlert
from ingest.targets import TARGET_KINDS

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

WATCHES_PAGE_SIZE = 50
ALERTS_PAGE_SIZE = 50
DASHBOARD_ALERTS = 5
BACK_TO = {"dashboard": "/#watch-alerts", "watches": "/watches#alerts"}


def open_watch_alerts(request: Request) -> tuple[int, list[WatchAlert]]:
    """(how many alerts are not acknowledged, the latest few): the dashboard's panel. Read
    on each view: alerts are documents, which the dashboard's cache does not track."""
    store: GraphStore = request.app.state.store
    return watchlists.list_alerts(store, acknowledged=False, limit=DASHBOARD_ALERTS)


def subject_url(subject: str) -> str | None:
    """The page of what an alert is about: a posting or record, or a platform."""
    if "->" in subject:  # a reappearance: the repost
        subject = subject.rpartition("->")[2]
    return ref_url(subject) if ":" in subject else None


templates.env.globals.update(open_watch_alerts=open_watch_alerts, subject_url=subject_url)


@router.get("/watches")
def watches_page(
    _: CanRead,
    request: Request,
    store: Store,
    watch: Annotated[str, Query(max_length=100)] = "",
    open_only: Annotated[bool, Query(alias="open")] = False,
    offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET)] = 0,
    alerts_offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET)] = 0,
    added: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    return watches_view(request, store, watch=watch, open_only=open_only, offset=offset,
                        alerts_offset=alerts_offset, added=added)  # fmt: skip


def watches_view(
    request: Request,
    store: GraphStore,
    *,
    watch: str = "",
    open_only: bool = False,
    offset: int = 0,
    alerts_offset: int = 0,
    added: str = "",
    problem: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    total, watches = watchlists.list_watches(store, WATCHES_PAGE_SIZE, offset)
    alerts_total, alerts = watchlists.list_alerts(
        store, watch=watch or None, acknowledged=False if open_only else None,
        limit=ALERTS_PAGE_SIZE, offset=alerts_offset,
    )  # fmt: skip

    def alerts_url(at: int) -> str:
        query = "&".join(
            part for part in (f"watch={watch}" if watch else "", "open=true" if open_only else "",
                              f"alerts_offset={at}") if part
        )  # fmt: skip
        return f"/watches?{query}#alerts"

    return render(
        request, "watches.html", status_code, nav="watches", kinds=TARGET_KINDS,
        watches=Page[Any](total=total, limit=WATCHES_PAGE_SIZE, offset=offset, items=watches),
        alerts=Page[Any](total=alerts_total, limit=ALERTS_PAGE_SIZE, offset=alerts_offset,
                         items=alerts),
        watch_names={w.id: w.target for w in watches}, chosen_watch=watch, open_only=open_only,
        added=watchlists.get_watch(store, added) if added else None, problem=problem,
        form=form or {"kind": "phone", "value": "", "note": ""},
        watches_url=lambda at: f"/watches?offset={at}#watches", alerts_url=alerts_url,
    )  # fmt: skip


@router.post("/watches", dependencies=[CsrfProtected], response_model=None)
def add_watch_form(
    principal: CanAnnotate,
    request: Request,
    store: Store,
    kind: Annotated[str, Form(max_length=40)],
    value: Annotated[str, Form(max_length=500)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse | HTMLResponse:
    """Add the watch and show it; a value that cannot be watched comes back in the form
    with the reason beside it."""
    try:
        watch, _ = add_watch(store, kind, value, principal.name, note.strip())
    except HTTPException as exc:
        form = {"kind": kind, "value": value, "note": note}
        return watches_view(request, store, problem=str(exc.detail), form=form,
                            status_code=exc.status_code)  # fmt: skip
    return RedirectResponse(f"/watches?added={watch.id}#added", status.HTTP_303_SEE_OTHER)


@router.post(
    "/watches/{watch_id}/delete", response_class=RedirectResponse, dependencies=[CsrfProtected]
)
def delete_watch_form(_: CanAnnotate, store: Store, watch_id: str) -> RedirectResponse:
    if not watchlists.delete_watch(store, watch_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no watch {watch_id!r}")
    return RedirectResponse("/watches#watches", status.HTTP_303_SEE_OTHER)


@router.post(
    "/watch-alerts/{alert_id}/acknowledge",
    response_class=RedirectResponse,
    dependencies=[CsrfProtected],
)
def acknowledge_form(
    principal: CanAnnotate,
    store: Store,
    alert_id: str,
    back: Annotated[str, Form(max_length=20)] = "watches",
) -> RedirectResponse:
    """Acknowledge, then go back to the dashboard or the watch page (named, never a URL)."""
    if watchlists.acknowledge(store, alert_id, principal.name) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
    return RedirectResponse(BACK_TO.get(back, BACK_TO["watches"]), status.HTTP_303_SEE_OTHER)

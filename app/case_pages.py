"""Case pages: the list of cases and a form to open one; a case's own page with its network,
pins, annotations, status and members, snapshots and its evidence report; a snapshot drawn
exactly as it was saved.

Forms post back with the page's CSRF token (app.csrf) and answer with a redirect to the
page that shows the result. The same functions as the API do the work (app.api.cases,
graph.cases), so both refuse the same things. `open_cases_for` is a template global, so
the entity and cluster pages can offer "pin to case" without knowing about cases.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from app.api.cases import (
    app_audit,
    case_errors,
    draw_case,
    editable_case,
    readable_case,
    report_response,
    take_snapshot,
)
from app.auth import CanAnnotate, CanRead, Permission, current_principal
from app.csrf import CsrfProtected
from app.deps import MAX_LIST_OFFSET, Store, parse_ref
from app.pages import network_payload, render, templates
from app.report import activity_detail, case_report_html
from graph import cases
from graph.cases import CASE_STATUSES, Case
from graph.schema import Label, NodeRef
from graph.store import GraphStore

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

CASES_PAGE_SIZE = 50
LIST_SHOWN = 200
"""Pins, annotations, snapshots and log entries listed on a case page (newest kept)."""
MAX_POSITIONS_BYTES = 2_000_000
Text = Annotated[str, Form(max_length=20_000)]
Short = Annotated[str, Form(max_length=1000)]


def case_url(case_id: str, anchor: str = "") -> str:
    return f"/cases/{quote(case_id, safe='')}" + (f"#{anchor}" if anchor else "")


def back_to(case_id: str, anchor: str) -> RedirectResponse:
    return RedirectResponse(case_url(case_id, anchor), status_code=status.HTTP_303_SEE_OTHER)


def open_cases_for(request: Request) -> list[Case]:
    """The open cases the signed-in user may pin to: what a "pin to case" control offers."""
    principal = current_principal(request)
    if principal is None or not principal.can(Permission.ANNOTATE):
        return []
    store: GraphStore = request.app.state.store
    _, found = cases.list_cases(store, status="open")
    return [c for c in found if c.allows(principal.name) or principal.can(Permission.ADMIN)]


templates.env.globals.update(open_cases_for=open_cases_for, activity_detail=activity_detail)


def pin_ref(text: str) -> NodeRef:
    """A typed `Label:key`, else a cluster id."""
    text = text.strip()
    if not text:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "name a node (Kind:key) or a cluster")
    if text.partition(":")[0] in Label.__members__.values():
        return parse_ref(text, "ref")
    return NodeRef(Label.ACTOR, text)


def read_positions(text: str) -> dict[str, dict[str, float]]:
    """The page's node positions (JSON {id: {x, y}}); anything else is dropped."""
    if not text or len(text) > MAX_POSITIONS_BYTES:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        return {}
    kept: dict[str, dict[str, float]] = {}
    for key, point in raw.items() if isinstance(raw, dict) else ():
        if isinstance(point, dict) and all(
            isinstance(point.get(axis), (int, float)) for axis in ("x", "y")
        ):
            kept[str(key)] = {"x": float(point["x"]), "y": float(point["y"])}
    return kept


# --- the list ------------------------------------------------------------------------------


@router.get("/cases")
def cases_page(
    _: CanRead, request: Request, store: Store,
    offset: Annotated[int, Query(ge=0, le=MAX_LIST_OFFSET)] = 0,
) -> HTMLResponse:  # fmt: skip
    total, found = cases.list_cases(store, CASES_PAGE_SIZE, offset)
    request.state.audit_results = total
    page = {"total": total, "total_exact": True, "limit": CASES_PAGE_SIZE, "offset": offset,
            "items": found}  # fmt: skip
    return render(request, "cases.html", nav="cases", page=page,
                  page_url=lambda at: f"/cases?offset={at}")  # fmt: skip


@router.post("/cases", response_class=RedirectResponse, dependencies=[CsrfProtected])
def create_case_form(
    principal: CanAnnotate, store: Store, name: Short, members: Short = "",
    description: Text = "",
) -> RedirectResponse:  # fmt: skip
    with case_errors():
        case = cases.create_case(store, name, principal.name, members.split(","), description)
    return back_to(case.id, "")


@router.post("/cases/pin", response_class=RedirectResponse, dependencies=[CsrfProtected])
def pin_from_elsewhere(
    principal: CanAnnotate, store: Store, case: Short, ref: Short, note: Text = ""
) -> RedirectResponse:
    """The "pin to case" control of the entity and cluster pages."""
    return pin_form(principal, store, case, ref, note)


# --- one case ------------------------------------------------------------------------------


@router.get("/cases/{case_id}")
def case_page(_: CanRead, request: Request, store: Store, case_id: str) -> HTMLResponse:
    case = readable_case(store, case_id)
    network = draw_case(store, case_id)
    principal = current_principal(request)
    may_edit = principal is not None and principal.can(Permission.ANNOTATE) and (
        case.allows(principal.name) or principal.can(Permission.ADMIN)
    )  # fmt: skip
    pin_total, pins = cases.pins(store, case_id, LIST_SHOWN)
    note_total, notes = cases.annotations(store, case_id, None, LIST_SHOWN)
    snap_total, snaps = cases.snapshots(store, case_id, LIST_SHOWN)
    log_total, log = cases.activity(store, case_id, LIST_SHOWN)
    return render(
        request, "case.html", nav="cases", case=case, may_edit=may_edit, statuses=CASE_STATUSES,
        payload=network_payload(network, None), pins=pins, pin_total=pin_total, notes=notes,
        note_total=note_total, snaps=snaps, snap_total=snap_total, log=log, log_total=log_total,
        case_url=case_url,
    )  # fmt: skip


@router.post("/cases/{case_id}/status", response_class=RedirectResponse,
             dependencies=[CsrfProtected])  # fmt: skip
def status_form(
    principal: CanAnnotate, store: Store, case_id: str, status_: Annotated[
        str, Form(alias="status", max_length=20)],
) -> RedirectResponse:  # fmt: skip
    editable_case(store, case_id, principal)
    with case_errors():
        cases.update_case(store, case_id, principal.name, status=status_)
    return back_to(case_id, "status")


@router.post("/cases/{case_id}/members", response_class=RedirectResponse,
             dependencies=[CsrfProtected])  # fmt: skip
def members_form(
    principal: CanAnnotate, store: Store, case_id: str, members: Short = ""
) -> RedirectResponse:
    """The whole member list, comma-separated, as the form shows it."""
    editable_case(store, case_id, principal)
    with case_errors():
        cases.update_case(store, case_id, principal.name, members=members.split(","))
    return back_to(case_id, "status")


@router.post("/cases/{case_id}/pins", response_class=RedirectResponse,
             dependencies=[CsrfProtected])  # fmt: skip
def pin_form(
    principal: CanAnnotate, store: Store, case_id: str, ref: Short, note: Text = ""
) -> RedirectResponse:
    editable_case(store, case_id, principal)
    target = pin_ref(ref)
    with case_errors():
        cases.pin(store, case_id, target, principal.name, note)
    return back_to(case_id, "pins")


@router.post("/cases/{case_id}/pins/remove", response_class=RedirectResponse,
             dependencies=[CsrfProtected])  # fmt: skip
def unpin_form(principal: CanAnnotate, store: Store, case_id: str, ref: Short) -> RedirectResponse:
    editable_case(store, case_id, principal)
    with case_errors():
        cases.unpin(store, case_id, pin_ref(ref), principal.name)
    return back_to(case_id, "pins")


@router.post("/cases/{case_id}/annotations", response_class=RedirectResponse,
             dependencies=[CsrfProtected])  # fmt: skip
def annotate_form(
    principal: CanAnnotate, store: Store, case_id: str, target: Short, text: Text
) -> RedirectResponse:
    """`target` is what the page's click filled in (or what was typed): a node `Label:key`
    or an edge id `TYPE:source->target`."""
    editable_case(store, case_id, principal)
    with case_errors():
        node, edge = cases.read_target(store, target)
        cases.annotate(store, case_id, principal.name, text, node=node, edge=edge)
    return back_to(case_id, "annotations")


@router.post("/cases/{case_id}/snapshots", response_class=RedirectResponse,
             dependencies=[CsrfProtected])  # fmt: skip
def snapshot_form(
    principal: CanAnnotate, store: Store, case_id: str, title: Short = "",
    positions: Annotated[str, Form(max_length=MAX_POSITIONS_BYTES)] = "",
) -> RedirectResponse:  # fmt: skip
    editable_case(store, case_id, principal)
    snap = take_snapshot(store, case_id, principal.name, title, read_positions(positions), {})
    url = f"{case_url(case_id)}/snapshots/{quote(snap.id, safe='')}"
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/cases/{case_id}/snapshots/{snapshot_id}")
def snapshot_page(
    _: CanRead, request: Request, store: Store, case_id: str, snapshot_id: str
) -> HTMLResponse:
    """The stored drawing, where its nodes were; never redrawn from the live graph."""
    case = readable_case(store, case_id)
    with case_errors():
        snap = cases.get_snapshot(store, case_id, snapshot_id)
    payload: dict[str, Any] = {
        **network_payload(snap.network, None, expandable=False), "positions": snap.positions,
    }  # fmt: skip
    return render(request, "case_snapshot.html", nav="cases", case=case, snap=snap,
                  payload=payload, case_url=case_url)  # fmt: skip


@router.get("/cases/{case_id}/report")
def report_page(
    principal: CanRead, request: Request, store: Store, case_id: str,
    download: Annotated[bool, Query()] = False,
) -> HTMLResponse:  # fmt: skip
    """The evidence report, as GET /api/cases/{id}/report gives it."""
    with case_errors():
        html = case_report_html(store, case_id, principal.name, app_audit(request))
    return report_response(html, case_id, download)

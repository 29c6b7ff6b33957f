"""Cases: name, owner, members, status; pins, annotations on nodes and edges, snapshots of
the case's view, its network, its activity and its evidence report.

Anyone who may read may read a case; changing one takes the annotate permission and being
its owner or a member (or an admin), so an analyst cannot edit a case they are not on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse

from app.auth import CanAnnotate, CanRead, Permission, Principal
from app.case_models import (
    ActivityOut,
    AnnotationIn,
    AnnotationOut,
    CaseIn,
    CaseOut,
    CaseStatus,
    CaseUpdate,
    MemberIn,
    PinIn,
    PinOut,
    SnapshotIn,
    SnapshotOut,
    SnapshotSummary,
)
from app.deps import Limit, Offset, Store, parse_ref
from app.models import Network, Page, Problem
from app.network import to_network
from app.report import REPORT_CSP, AuditSource, case_report_html
from graph import cases
from graph.cases import CASE_VIEW_LIMIT, Case, CaseError, CaseNotFoundError
from graph.schema import Label, NodeRef, RelType
from graph.store import GraphStore

router = APIRouter(prefix="/cases", tags=["cases"])

NOT_FOUND = {404: {"model": Problem, "description": "No such case or record"}}
REFUSED = {
    400: {"model": Problem, "description": "A request that cannot apply"},
    403: {"model": Problem, "description": "Not the case's owner or a member"},
    413: {"model": Problem, "description": "A request body over the server's limit"},
}
ViewLimit = Annotated[
    int, Query(ge=1, le=2000, description="Most nodes to draw (pins first).")
]
P = TypeVar("P", bound=Page[Any])
R = TypeVar("R")


@contextmanager
def case_errors() -> Iterator[None]:
    """graph.cases errors as HTTP answers: 404 for what is not there, 400 for the rest."""
    try:
        yield
    except CaseNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except CaseError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


def case_page(
    page: type[P], listed: Callable[[], tuple[int, Iterable[R]]], item: Callable[[R], Any],
    limit: int, offset: int,
) -> P:  # fmt: skip
    """One page of a case's pins, annotations, snapshots or log: `listed()` is the
    graph.cases listing at this limit and offset, `item` makes each record its model; no
    such case answers 404."""
    with case_errors():
        total, found = listed()
    return page(total=total, limit=limit, offset=offset, items=[item(r) for r in found])


def readable_case(store: GraphStore, case_id: str) -> Case:
    with case_errors():
        return cases.get_case(store, case_id)


def editable_case(store: GraphStore, case_id: str, principal: Principal) -> Case:
    """The case, if `principal` may change it: its owner, a member, or an admin."""
    case = readable_case(store, case_id)
    if not (case.allows(principal.name) or principal.can(Permission.ADMIN)):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{principal.name} is not the owner or a member of case {case_id}",
        )
    return case


def case_ref(text: str, what: str = "ref") -> NodeRef:
    return parse_ref(text.strip(), what)


def draw_case(store: GraphStore, case_id: str, limit: int = CASE_VIEW_LIMIT) -> dict[str, Any]:
    """The case network as the pages and /api/network draw any network (pins as seeds)."""
    with case_errors():
        sub = cases.case_network(store, case_id, limit)
        return to_network(sub, cases.pinned_refs(store, case_id), limit)


def pin_target(body_ref: str | None, cluster: str | None) -> NodeRef:
    return NodeRef(Label.ACTOR, cluster.strip()) if cluster else case_ref(body_ref or "")


def edge_parts(source: str, rel: str, target: str) -> tuple[NodeRef, RelType, NodeRef]:
    try:
        kind = RelType(rel)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown edge type {rel!r}") from None
    return case_ref(source, "edge source"), kind, case_ref(target, "edge target")


def take_snapshot(
    store: GraphStore, case_id: str, author: str, title: str,
    positions: dict[str, dict[str, float]], view: dict[str, Any],
) -> cases.Snapshot:  # fmt: skip
    """Draw the case now and keep that drawing with the positions the page had."""
    limit = view.get("limit")
    limit = limit if isinstance(limit, int) and 1 <= limit <= 2000 else CASE_VIEW_LIMIT
    network = draw_case(store, case_id, limit)
    with case_errors():
        return cases.save_snapshot(store, case_id, author, network, positions=positions,
                                   view={**view, "limit": limit}, title=title)  # fmt: skip


def snapshot_summary(snap: cases.Snapshot) -> SnapshotSummary:
    return SnapshotSummary(
        id=snap.id, case=snap.case, title=snap.title, author=snap.author, created=snap.created,
        nodes=len(snap.network.get("nodes", [])), edges=len(snap.network.get("edges", [])),
    )  # fmt: skip


def activity_out(entry: dict[str, Any]) -> ActivityOut:
    head = {"id", "at", "actor", "action"}
    return ActivityOut(
        **{k: str(entry.get(k, "")) for k in head},
        detail={k: v for k, v in entry.items() if k not in head},
    )


def app_audit(request: Request) -> AuditSource | None:
    """The app's audit trail, when this app has one (request.app.state.audit)."""
    return getattr(request.app.state, "audit", None)


def report_response(html: str, case_id: str, download: bool = False) -> HTMLResponse:
    """The report under its own CSP: its inline style, no script, nothing loaded."""
    headers = {"Content-Security-Policy": REPORT_CSP}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="prexus-report-{case_id}.html"'
    return HTMLResponse(html, headers=headers)


# --- cases -----------------------------------------------------------------------------------


@router.get("")
def list_cases(
    store: Store, principal: CanRead, limit: Limit = 50, offset: Offset = 0,
    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
) -> Page[CaseOut]:  # fmt: skip
    """Cases in the order they were opened; `status` keeps only open, closed or archived."""
    total, found = cases.list_cases(store, limit, offset, status_)
    return Page[CaseOut](total=total, limit=limit, offset=offset,
                         items=[CaseOut(**c.to_dict()) for c in found])  # fmt: skip


@router.post("", status_code=status.HTTP_201_CREATED, responses=REFUSED)
def create_case(store: Store, principal: CanAnnotate, body: CaseIn) -> CaseOut:
    """Open a case owned by the caller."""
    with case_errors():
        case = cases.create_case(store, body.name, principal.name, body.members, body.description)
    return CaseOut(**case.to_dict())


@router.get("/{case_id}", responses=NOT_FOUND)
def get_case(store: Store, principal: CanRead, case_id: str) -> CaseOut:
    return CaseOut(**readable_case(store, case_id).to_dict())


@router.patch("/{case_id}", responses={**NOT_FOUND, **REFUSED})
def update_case(store: Store, principal: CanAnnotate, case_id: str, body: CaseUpdate) -> CaseOut:
    """Rename, change status (open, closed, archived), members or description."""
    editable_case(store, case_id, principal)
    with case_errors():
        case = cases.update_case(store, case_id, principal.name, name=body.name,
                                 status=body.status, members=body.members,
                                 description=body.description)  # fmt: skip
    return CaseOut(**case.to_dict())


@router.delete("/{case_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={**NOT_FOUND, **REFUSED})  # fmt: skip
def delete_case(store: Store, principal: CanAnnotate, case_id: str) -> Response:
    """Delete a case with its pins, annotations, snapshots and log: its owner or an admin
    only (members archive it instead: `status` archived keeps everything)."""
    case = readable_case(store, case_id)
    if principal.name != case.owner and not principal.can(Permission.ADMIN):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"only the owner of case {case_id} deletes it")  # fmt: skip
    with case_errors():
        cases.delete_case(store, case_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{case_id}/members", responses={**NOT_FOUND, **REFUSED})
def add_member(store: Store, principal: CanAnnotate, case_id: str, body: MemberIn) -> CaseOut:
    case = editable_case(store, case_id, principal)
    with case_errors():
        case = cases.update_case(store, case_id, principal.name,
                                 members=[*case.members, body.name])  # fmt: skip
    return CaseOut(**case.to_dict())


@router.delete("/{case_id}/members/{name}", responses={**NOT_FOUND, **REFUSED})
def remove_member(store: Store, principal: CanAnnotate, case_id: str, name: str) -> CaseOut:
    case = editable_case(store, case_id, principal)
    if name not in case.members:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{name} is not a member of {case_id}")
    with case_errors():
        case = cases.update_case(store, case_id, principal.name,
                                 members=[m for m in case.members if m != name])  # fmt: skip
    return CaseOut(**case.to_dict())


# --- pins ------------------------------------------------------------------------------------


@router.get("/{case_id}/pins", responses=NOT_FOUND)
def list_pins(
    store: Store, principal: CanRead, case_id: str, limit: Limit = 100, offset: Offset = 0
) -> Page[PinOut]:
    """What is pinned, in the order it was pinned; a cluster is its `Actor:<id>`."""
    return case_page(Page[PinOut], lambda: cases.pins(store, case_id, limit, offset),
                     lambda pin: PinOut(**pin.to_dict()), limit, offset)  # fmt: skip


@router.post("/{case_id}/pins", status_code=status.HTTP_201_CREATED,
             responses={**NOT_FOUND, **REFUSED})  # fmt: skip
def add_pin(store: Store, principal: CanAnnotate, case_id: str, body: PinIn) -> PinOut:
    """Pin a node (`ref`) or a whole cluster (`cluster`); pinning again updates the note."""
    editable_case(store, case_id, principal)
    with case_errors():
        pinned = cases.pin(store, case_id, pin_target(body.ref, body.cluster), principal.name,
                           body.note)  # fmt: skip
    return PinOut(**pinned.to_dict())


@router.delete("/{case_id}/pins/{ref:path}", status_code=status.HTTP_204_NO_CONTENT,
               responses={**NOT_FOUND, **REFUSED})  # fmt: skip
def remove_pin(store: Store, principal: CanAnnotate, case_id: str, ref: str) -> Response:
    editable_case(store, case_id, principal)
    with case_errors():
        if not cases.unpin(store, case_id, case_ref(ref), principal.name):
            raise CaseNotFoundError(f"{ref} is not pinned to {case_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- annotations -----------------------------------------------------------------------------


@router.get("/{case_id}/annotations", responses=NOT_FOUND)
def list_annotations(
    store: Store, principal: CanRead, case_id: str, limit: Limit = 100, offset: Offset = 0,
    target: Annotated[
        str | None,
        Query(max_length=3000, description="Only those on this node (`Label:key`) or edge id "
              "(`TYPE:source->target`)."),
    ] = None,
) -> Page[AnnotationOut]:  # fmt: skip
    """The case's annotations, oldest first."""
    return case_page(Page[AnnotationOut],
                     lambda: cases.annotations(store, case_id, target, limit, offset),
                     lambda note: AnnotationOut(**note.to_dict()), limit, offset)  # fmt: skip


@router.post("/{case_id}/annotations", status_code=status.HTTP_201_CREATED,
             responses={**NOT_FOUND, **REFUSED})  # fmt: skip
def add_annotation(
    store: Store, principal: CanAnnotate, case_id: str, body: AnnotationIn
) -> AnnotationOut:
    """Annotate a node or an edge of the graph (it need not be pinned); the author is the
    caller, the time now."""
    editable_case(store, case_id, principal)
    node = case_ref(body.node, "node") if body.node else None
    edge = edge_parts(body.edge.source, body.edge.type, body.edge.target) if body.edge else None
    with case_errors():
        note = cases.annotate(store, case_id, principal.name, body.text, node=node, edge=edge)
    return AnnotationOut(**note.to_dict())


@router.delete("/{case_id}/annotations/{annotation_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={**NOT_FOUND, **REFUSED})  # fmt: skip
def remove_annotation(
    store: Store, principal: CanAnnotate, case_id: str, annotation_id: str
) -> Response:
    editable_case(store, case_id, principal)
    with case_errors():
        cases.delete_annotation(store, case_id, annotation_id, principal.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- network, snapshots, activity, report ----------------------------------------------------


@router.get("/{case_id}/network", response_model=Network, responses=NOT_FOUND)
def case_network(
    store: Store, principal: CanRead, case_id: str, limit: ViewLimit = CASE_VIEW_LIMIT
) -> JSONResponse:
    """The case's own network: pins (as seeds), pinned clusters' members, the contacts and
    named parties two or more of them share, and the edges among all these."""
    return JSONResponse(draw_case(store, case_id, limit))


@router.post("/{case_id}/snapshots", status_code=status.HTTP_201_CREATED,
             responses={**NOT_FOUND, **REFUSED})  # fmt: skip
def create_snapshot(
    store: Store, principal: CanAnnotate, case_id: str, body: SnapshotIn
) -> SnapshotOut:
    """Freeze the case's view as drawn now (and where the page had each node): it reopens
    the same whatever the graph holds later."""
    editable_case(store, case_id, principal)
    positions = {k: p.model_dump() for k, p in body.positions.items()}
    snap = take_snapshot(store, case_id, principal.name, body.title, positions, body.view)
    return SnapshotOut(**snap.to_dict())


@router.get("/{case_id}/snapshots", responses=NOT_FOUND)
def list_snapshots(
    store: Store, principal: CanRead, case_id: str, limit: Limit = 50, offset: Offset = 0
) -> Page[SnapshotSummary]:
    return case_page(Page[SnapshotSummary], lambda: cases.snapshots(store, case_id, limit, offset),
                     snapshot_summary, limit, offset)  # fmt: skip


@router.get("/{case_id}/snapshots/{snapshot_id}", responses=NOT_FOUND)
def get_snapshot(store: Store, principal: CanRead, case_id: str, snapshot_id: str) -> SnapshotOut:
    with case_errors():
        return SnapshotOut(**cases.get_snapshot(store, case_id, snapshot_id).to_dict())


@router.get("/{case_id}/activity", responses=NOT_FOUND)
def case_activity(
    store: Store, principal: CanRead, case_id: str, limit: Limit = 100, offset: Offset = 0
) -> Page[ActivityOut]:
    """Who did what in the case, oldest first (the app's audit trail has every request)."""
    return case_page(Page[ActivityOut], lambda: cases.activity(store, case_id, limit, offset),
                     activity_out, limit, offset)  # fmt: skip


@router.get(
    "/{case_id}/report",
    response_class=Response,  # as the exports: so the 404 is documented as JSON, not HTML
    responses={200: {"content": {"text/html": {}}, "description": "The report"}, **NOT_FOUND},
)
def case_report(
    request: Request, store: Store, principal: CanRead, case_id: str,
    download: Annotated[bool, Query(description="Send as a file to save.")] = False,
) -> HTMLResponse:  # fmt: skip
    """The case's evidence report: one self-contained HTML file (print it to PDF) with the
    network picture, clusters and the evidence tying each member, every posting quoted
    with source URL, capture time and SHA-256, seizures and routes, annotations and who
    did what; each claim cites its source record."""
    with case_errors():
        html = case_report_html(store, case_id, principal.name, app_audit(request))
    return report_response(html, case_id, download)

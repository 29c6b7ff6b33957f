"""Cases: an investigation's name, owner, members and status, the entities and clusters
analysts pin to it, their annotations on nodes and edges, and frozen snapshots of its view.

Why workspace documents and not nodes: this is work data about the evidence, not evidence.
Kept apart (GraphStore.put_document), it never shows in search, views or analysis, and
clustering runs that rewrite Actors and MEMBER_OF edges never touch it. Every change is
also written to the case's own activity log, so the report can say who did what even where
the app's audit trail is not at hand (the command line).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from graph.documents import Document
from graph.schema import Edge, Label, NodeRef, RelType, now_iso
from graph.store import GraphStore, NodeFilter, Subgraph

CASES = "case"
CASE_STATUSES = ("open", "closed", "archived")
CASE_VIEW_LIMIT = 500
"""Most nodes a case network holds; pins come first, so a cut drops context, not pins."""
CONNECTING_RELS = frozenset(
    {RelType.HAS_IDENTIFIER, RelType.CONSIGNOR, RelType.CONSIGNEE, RelType.REGISTERED_FOR}
)
"""Edges from a record to what it shares with others: contacts, and named parties."""
_MEMBER_OF = NodeFilter(rel_types=frozenset({RelType.MEMBER_OF}))
_CONNECTING = NodeFilter(rel_types=CONNECTING_RELS)

PinKind = Literal["node", "cluster"]
EdgeParts = tuple[NodeRef, RelType, NodeRef]
"""An edge as (source, type, target)."""


class CaseError(ValueError):
    """A case request that cannot apply as asked (unknown status, empty text)."""


class CaseNotFoundError(LookupError):
    """No such case, snapshot, annotation or record; the API answers 404."""


def _pins(case_id: str) -> str:
    return f"case_pin:{case_id}"


def _annotations(case_id: str) -> str:
    return f"case_annotation:{case_id}"


def _snapshots(case_id: str) -> str:
    return f"case_snapshot:{case_id}"


def _activity(case_id: str) -> str:
    return f"case_log:{case_id}"


def new_id(prefix: str) -> str:
    """Short, unguessable, URL-safe ids (`case-3f9a1c2b`)."""
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclass(slots=True)
class Case(Document):
    id: str
    name: str
    owner: str
    members: list[str] = field(default_factory=list)
    status: str = "open"
    description: str = ""
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)

    def allows(self, name: str) -> bool:
        """Whether `name` works on this case (its owner or a member)."""
        return name == self.owner or name in self.members


@dataclass(slots=True)
class Pin(Document):
    ref: str
    """`Label:key`; a cluster is its Actor node, `Actor:<cluster id>`."""
    kind: PinKind
    by: str
    at: str = field(default_factory=now_iso)
    note: str = ""


@dataclass(slots=True)
class Annotation(Document):
    id: str
    case: str
    target: str
    """The node's `Label:key`, or the edge's id `TYPE:source->target` as networks draw it."""
    text: str
    author: str
    at: str = field(default_factory=now_iso)
    node: str | None = None
    edge: dict[str, str] | None = None
    """{"source", "type", "target"} of an annotated edge."""


@dataclass(slots=True)
class Snapshot(Document):
    """A case view frozen as it was drawn: reopening it shows these nodes, edges and
    positions whatever the graph holds by then."""

    id: str
    case: str
    title: str
    author: str
    network: dict[str, Any]
    positions: dict[str, dict[str, float]] = field(default_factory=dict)
    view: dict[str, Any] = field(default_factory=dict)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    created: str = field(default_factory=now_iso)


def edge_target(source: NodeRef, rel: RelType, target: NodeRef) -> str:
    """An edge's id, the same as the API's and the network drawings' (app.models.edge_id)."""
    return f"{rel}:{source}->{target}"


# --- cases ---------------------------------------------------------------------------------


def _log(store: GraphStore, case_id: str, actor: str, action: str, **detail: Any) -> None:
    entry_id = new_id("log")
    entry = {"id": entry_id, "at": now_iso(), "actor": actor, "action": action, **detail}
    store.put_document(_activity(case_id), entry_id, entry)


def _status(status: str) -> str:
    if status not in CASE_STATUSES:
        raise CaseError(f"unknown status {status!r} (valid: {', '.join(CASE_STATUSES)})")
    return status


def _text(value: str, what: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise CaseError(f"{what} must not be empty")
    return cleaned


def _names(members: list[str] | tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(m.strip() for m in members if m.strip()))


def create_case(
    store: GraphStore, name: str, owner: str, members: list[str] | tuple[str, ...] = (),
    description: str = "",
) -> Case:  # fmt: skip
    case = Case(new_id("case"), _text(name, "name"), owner, _names(members), "open",
                description.strip())  # fmt: skip
    store.put_document(CASES, case.id, case.to_dict())
    _log(store, case.id, owner, "create", name=case.name)
    return case


def get_case(store: GraphStore, case_id: str) -> Case:
    found = store.get_document(CASES, case_id)
    if found is None:
        raise CaseNotFoundError(f"no case {case_id!r}")
    return Case.of(found)


def find_case(store: GraphStore, id_or_name: str) -> Case:
    """A case by id, else by its exact name when only one case has it (the CLI's CASE)."""
    found = store.get_document(CASES, id_or_name)
    if found is not None:
        return Case.of(found)
    named = [c for c in list_cases(store)[1] if c.name == id_or_name]
    if len(named) != 1:
        raise CaseNotFoundError(
            f"no case {id_or_name!r}" if not named
            else f"{len(named)} cases are named {id_or_name!r}: give the id"
        )  # fmt: skip
    return named[0]


def list_cases(
    store: GraphStore, limit: int | None = None, offset: int = 0, status: str | None = None
) -> tuple[int, list[Case]]:
    """Cases in the order they were opened; with `status`, only those in it."""
    if status is None:
        total, docs = store.list_documents(CASES, limit=limit, offset=offset)
        return total, [Case.of(d) for d in docs]
    chosen = [Case.of(d) for d in store.list_documents(CASES)[1] if d.get("status") == status]
    end = None if limit is None else offset + limit
    return len(chosen), chosen[offset:end]


def update_case(
    store: GraphStore, case_id: str, actor: str, *, name: str | None = None,
    status: str | None = None, members: list[str] | None = None, description: str | None = None,
) -> Case:  # fmt: skip
    """Change what is given; the activity log records each change with its old value."""
    case = get_case(store, case_id)
    wanted = {
        "name": None if name is None else _text(name, "name"),
        "status": None if status is None else _status(status),
        "members": None if members is None else _names(members),
        "description": None if description is None else description.strip(),
    }
    changes = {
        attr: getattr(case, attr) for attr, value in wanted.items()
        if value is not None and value != getattr(case, attr)
    }  # fmt: skip
    if changes:
        for attr in changes:
            setattr(case, attr, wanted[attr])
        case.updated = now_iso()
        store.put_document(CASES, case.id, case.to_dict())
        _log(store, case.id, actor, "update", was=changes)
    return case


def delete_case(store: GraphStore, case_id: str) -> None:
    """Remove a case with its pins, annotations, snapshots and log (archive it to keep
    them); the evidence it pointed at stays, and the app's audit trail keeps the requests."""
    get_case(store, case_id)
    keyed = ((_pins, "ref"), (_annotations, "id"), (_snapshots, "id"), (_activity, "id"))
    for collection, key in keyed:
        name = collection(case_id)
        for doc in store.list_documents(name)[1]:
            store.delete_document(name, str(doc[key]))
    store.delete_document(CASES, case_id)


# --- pins ----------------------------------------------------------------------------------


def pin(store: GraphStore, case_id: str, ref: NodeRef, by: str, note: str = "") -> Pin:
    """Pin a node (an Actor ref pins its whole cluster); pinning again updates the note."""
    get_case(store, case_id)
    if store.get_node(ref) is None:
        raise CaseNotFoundError(f"no {ref.label} with key {ref.key!r}")
    kind: PinKind = "cluster" if ref.label is Label.ACTOR else "node"
    pinned = Pin(str(ref), kind, by, note=note.strip())
    store.put_document(_pins(case_id), str(ref), pinned.to_dict())
    _log(store, case_id, by, "pin", ref=str(ref), kind=kind)
    return pinned


def unpin(store: GraphStore, case_id: str, ref: NodeRef, by: str) -> bool:
    get_case(store, case_id)
    removed = store.delete_document(_pins(case_id), str(ref))
    if removed:
        _log(store, case_id, by, "unpin", ref=str(ref))
    return removed


def pins(
    store: GraphStore, case_id: str, limit: int | None = None, offset: int = 0
) -> tuple[int, list[Pin]]:
    """What is pinned to the case, in the order it was pinned."""
    get_case(store, case_id)
    total, docs = store.list_documents(_pins(case_id), limit=limit, offset=offset)
    return total, [Pin.of(d) for d in docs]


# --- annotations ---------------------------------------------------------------------------


def annotate(
    store: GraphStore, case_id: str, author: str, text: str, *, node: NodeRef | None = None,
    edge: EdgeParts | None = None,
) -> Annotation:  # fmt: skip
    """A note on one node or one edge of the graph (it need not be pinned), by `author`."""
    get_case(store, case_id)
    if (node is None) == (edge is None):
        raise CaseError("annotate either a node or an edge")
    body = _text(text, "text")
    if node is not None:
        if store.get_node(node) is None:
            raise CaseNotFoundError(f"no {node.label} with key {node.key!r}")
        note = Annotation(new_id("note"), case_id, str(node), body, author, node=str(node))
    else:
        assert edge is not None
        source, rel, target = edge
        if find_edge(store, source, rel, target) is None:
            raise CaseNotFoundError(f"no {rel} edge from {source} to {target}")
        note = Annotation(
            new_id("note"), case_id, edge_target(source, rel, target), body, author,
            edge={"source": str(source), "type": str(rel), "target": str(target)},
        )  # fmt: skip
    store.put_document(_annotations(case_id), note.id, note.to_dict())
    _log(store, case_id, author, "annotate", annotation=note.id, target=note.target)
    return note


def read_target(store: GraphStore, text: str) -> tuple[NodeRef | None, EdgeParts | None]:
    """What a typed or clicked target names: a node `Label:key`, or an edge by its id
    `TYPE:source->target` (a key may hold '->', so each split is tried against the store)."""
    text = text.strip()
    head, sep, rest = text.partition(":")
    if sep and head in RelType.__members__.values():
        at = rest.find("->")
        while at != -1:
            try:
                source, target = NodeRef.parse(rest[:at]), NodeRef.parse(rest[at + 2 :])
            except ValueError:
                source = target = None
            if source and target and find_edge(store, source, RelType(head), target):
                return None, (source, RelType(head), target)
            at = rest.find("->", at + 1)
        raise CaseNotFoundError(f"no edge {text}")
    try:
        return NodeRef.parse(text), None
    except ValueError as exc:
        raise CaseError(str(exc)) from None


def annotations(
    store: GraphStore, case_id: str, target: str | None = None, limit: int | None = None,
    offset: int = 0,
) -> tuple[int, list[Annotation]]:  # fmt: skip
    """The case's annotations, oldest first; with `target` (a node ref or an edge id), only
    those on it."""
    get_case(store, case_id)
    if target is None:
        total, docs = store.list_documents(_annotations(case_id), limit=limit, offset=offset)
        return total, [Annotation.of(d) for d in docs]
    chosen = [
        Annotation.of(d) for d in store.list_documents(_annotations(case_id))[1]
        if d.get("target") == target
    ]  # fmt: skip
    end = None if limit is None else offset + limit
    return len(chosen), chosen[offset:end]


def get_annotation(store: GraphStore, case_id: str, annotation_id: str) -> Annotation:
    found = store.get_document(_annotations(case_id), annotation_id)
    if found is None:
        raise CaseNotFoundError(f"no annotation {annotation_id!r} in case {case_id!r}")
    return Annotation.of(found)


def delete_annotation(store: GraphStore, case_id: str, annotation_id: str, by: str) -> None:
    get_annotation(store, case_id, annotation_id)
    store.delete_document(_annotations(case_id), annotation_id)
    _log(store, case_id, by, "delete annotation", annotation=annotation_id)


# --- the case's network --------------------------------------------------------------------


def cluster_member_refs(store: GraphStore, cluster_id: str, limit: int) -> list[NodeRef]:
    """A cluster's records (postings, seizures, companies...) in (kind, key) order."""
    actor = NodeRef(Label.ACTOR, cluster_id)
    sub = store.ego([actor], 1, _MEMBER_OF, limit=limit + 1)
    return [n.ref for n in sub.nodes if n.ref != actor]


def case_records(store: GraphStore, case_id: str, limit: int = CASE_VIEW_LIMIT) -> list[NodeRef]:
    """The pinned nodes, then each pinned cluster's members, without repeats: what the case
    is about. At most `limit` of them."""
    chosen: dict[NodeRef, None] = {}
    _, pinned = pins(store, case_id)
    refs = [NodeRef.parse(p.ref) for p in pinned]
    chosen.update((ref, None) for ref in refs)
    for ref in refs:
        if ref.label is Label.ACTOR and len(chosen) < limit:
            chosen.update((m, None) for m in cluster_member_refs(store, ref.key, limit))
    return list(chosen)[:limit]


def case_network(store: GraphStore, case_id: str, limit: int = CASE_VIEW_LIMIT) -> Subgraph:
    """The case's own network: its pinned nodes, its pinned clusters' members, the contacts
    and named parties (not hubs) that two or more of those share, and every edge among
    them. Pins come first, so when `limit` cuts it (`truncated`), context goes, not pins.
    Nodes deleted since they were pinned are left out."""
    get_case(store, case_id)
    records = case_records(store, case_id, limit + 1)
    truncated = len(records) > limit
    records = records[:limit]
    shared: list[NodeRef] = []
    if records and not truncated:
        around = store.ego(records, 1, _CONNECTING, limit=limit * 4)
        truncated = around.truncated
        inside = set(records)
        hubs = {n.ref for n in around.nodes if n.props.get("hub") is True}
        uses: dict[NodeRef, set[NodeRef]] = {}
        for edge in around.edges:
            if edge.source in inside and edge.target not in inside and edge.target not in hubs:
                uses.setdefault(edge.target, set()).add(edge.source)
        shared = [ref for ref, users in uses.items() if len(users) > 1]
        if len(records) + len(shared) > limit:
            truncated = True
            shared = shared[: limit - len(records)]
    nodes = store.get_nodes([*records, *shared])
    return Subgraph(nodes, store.edges_among([n.ref for n in nodes]), truncated)


def pinned_refs(store: GraphStore, case_id: str) -> list[NodeRef]:
    """The pins as refs: what a drawing of the case marks as its seeds."""
    return [NodeRef.parse(p.ref) for p in pins(store, case_id)[1]]


def find_edge(store: GraphStore, source: NodeRef, rel: RelType, target: NodeRef) -> Edge | None:
    return next(
        (e for e in store.edges_among([source, target])
         if e.type is rel and e.source == source and e.target == target),
        None,
    )  # fmt: skip


# --- snapshots -----------------------------------------------------------------------------


def save_snapshot(
    store: GraphStore, case_id: str, author: str, network: dict[str, Any], *,
    positions: dict[str, dict[str, float]] | None = None, view: dict[str, Any] | None = None,
    title: str = "",
) -> Snapshot:  # fmt: skip
    """Freeze a drawn view of the case (the network as drawn, node positions when the page
    sends them, the view's parameters) with the annotations it had then."""
    case = get_case(store, case_id)
    drawn = {str(n.get("id")) for n in network.get("nodes", [])}
    kept = {k: {"x": float(v["x"]), "y": float(v["y"])}
            for k, v in (positions or {}).items() if k in drawn}  # fmt: skip
    notes = [a.to_dict() for a in annotations(store, case_id)[1]]
    snap = Snapshot(
        new_id("snap"), case_id, title.strip() or f"{case.name} at {now_iso()}", author,
        network, kept, view or {}, notes,
    )  # fmt: skip
    store.put_document(_snapshots(case_id), snap.id, snap.to_dict())
    _log(store, case_id, author, "snapshot", snapshot=snap.id)
    return snap


def snapshots(
    store: GraphStore, case_id: str, limit: int | None = None, offset: int = 0
) -> tuple[int, list[Snapshot]]:
    get_case(store, case_id)
    total, docs = store.list_documents(_snapshots(case_id), limit=limit, offset=offset)
    return total, [Snapshot.of(d) for d in docs]


def get_snapshot(store: GraphStore, case_id: str, snapshot_id: str) -> Snapshot:
    found = store.get_document(_snapshots(case_id), snapshot_id)
    if found is None:
        raise CaseNotFoundError(f"no snapshot {snapshot_id!r} in case {case_id!r}")
    return Snapshot.of(found)


# --- activity ------------------------------------------------------------------------------


def activity(
    store: GraphStore, case_id: str, limit: int | None = None, offset: int = 0
) -> tuple[int, list[dict[str, Any]]]:
    """Who did what in the case, oldest first: create, update, pin, unpin, annotate,
    snapshot, each with actor and time."""
    get_case(store, case_id)
    return store.list_documents(_activity(case_id), limit=limit, offset=offset)


def log_activity(store: GraphStore, case_id: str, actor: str, action: str, **detail: Any) -> None:
    """Record an action on the case that happened elsewhere (a report being produced)."""
    get_case(store, case_id)
    _log(store, case_id, actor, action, **detail)

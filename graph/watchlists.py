"""Watchlists: an analyst watches a contact, a company, a substance or a cluster, and Prexus
records an alert when new data touches it.

Alerts and when they are checked:

- `new_posting` / `new_record`: ingest links a posting (or a seizure, company, licence...)
  to a watched identifier or company for the first time. Checked in ingest, per batch.
- `first_posting`: the first posting ever to mention a watched substance. Checked in
  ingest. A substance that already had postings when the watch was added has had its
  first, so it never fires; the watch says which posting that was.
- `new_platform`: a watched cluster's postings appear on a platform they were not on
  before. Checked by `prexus analyze` (clusters only exist after it).
- `reappearance`: a removed posting's contacts are back on another platform, and a watched
  identifier is among them or a watched cluster posted either one. Checked by
  `prexus analyze` (graph.alerts.reappearances finds them), for reappearances the run
  before had not found.

Each alert's id is derived from the watch, the kind and what touched the watched item, so
re-ingesting a file or re-running the analysis records nothing twice. Watches and alerts
are workspace documents (collections `watch` and `watch_alert`), never graph nodes.

Cost for bulk ingest: the watched node keys are read once per ingest into a set; a batch
is only looked at further when one of its edges ends at a watched node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graph.alerts import Reappearance
from graph.documents import Document
from graph.exports import cluster_records
from graph.linking import CLUSTERS_META
from graph.schema import Edge, Label, Node, NodeRef, RelType, now_iso
from graph.store import GraphStore, NodeFilter, WriteStats

WATCHES = "watch"
ALERTS = "watch_alert"
WATCH_KINDS: tuple[str, ...] = ("identifier", "company", "substance", "cluster")
WATCHED_LABELS: dict[str, Label] = {
    "identifier": Label.IDENTIFIER,
    "company": Label.COMPANY,
    "substance": Label.SUBSTANCE,
    "cluster": Label.ACTOR,
}
ALERT_KINDS: tuple[str, ...] = (
    "new_posting", "new_record", "first_posting", "new_platform", "reappearance",
)  # fmt: skip
_POSTINGS_MENTIONING = NodeFilter(
    labels=frozenset({Label.POSTING}), rel_types=frozenset({RelType.MENTIONS})
)
_CAPTION_CHARS = 200


class WatchError(ValueError):
    """A watch request that cannot apply (a cluster that does not exist...)."""


@dataclass(slots=True)
class Watch(Document):
    id: str
    kind: str
    target: str
    """The watched node as `Label:key`, its key normalised as ingest makes it."""
    value: str
    """What the analyst wrote."""
    note: str = ""
    created_by: str = ""
    created_at: str = ""
    platforms: list[str] = field(default_factory=list)
    """Cluster watches: the platforms its postings were on at the last check."""
    first_posting: str | None = None
    """Substance watches: the first posting that mentioned it, once there is one."""

    @property
    def ref(self) -> NodeRef:
        return NodeRef.parse(self.target)


@dataclass(slots=True)
class WatchAlert(Document):
    id: str
    watch: str
    kind: str
    target: str
    """The watched node, `Label:key`."""
    subject: str
    """What touched it: a posting or record (`Label:key`), or a platform."""
    summary: str
    """One line for lists. Plain text (it may quote scraped titles): show it as text."""
    at: str
    detail: dict[str, Any] = field(default_factory=dict)
    acknowledged_by: str | None = None
    acknowledged_at: str | None = None


def _digest(text: str, size: int) -> str:
    return hashlib.blake2b(text.encode(), digest_size=size).hexdigest()


def watch_id(target: NodeRef) -> str:
    """One watch per watched node: adding it again finds the same watch."""
    return f"w-{_digest(str(target), 5)}"


def alert_id(watch: str, kind: str, subject: str) -> str:
    return f"a-{_digest(f'{watch}|{kind}|{subject}', 8)}"


# --- watches ---------------------------------------------------------------------------------


def add_watch(
    store: GraphStore, kind: str, target: NodeRef, value: str, *, by: str, note: str = ""
) -> tuple[Watch, bool]:
    """(the watch, whether it is new). Watching the same node again returns the watch that
    exists. A cluster must exist; a contact, company or substance need not have been seen
    yet: that is what watching it is for."""
    if WATCHED_LABELS.get(kind) is not target.label:
        raise WatchError(f"a {kind} watch cannot watch a {target.label}")
    existing = get_watch(store, watch_id(target))
    if existing is not None:
        return existing, False
    watch = Watch(watch_id(target), kind, str(target), value, note, by, now_iso())
    if kind == "cluster":
        members = cluster_records(store, target.key)
        if members is None:
            raise WatchError(f"no cluster {target.key!r}")
        watch.platforms = sorted(_platforms(members.nodes))
    elif kind == "substance":
        earlier = store.ego([target], 1, _POSTINGS_MENTIONING, limit=2)
        watch.first_posting = next((n.key for n in earlier.nodes if n.label is Label.POSTING), None)
    store.put_document(WATCHES, watch.id, watch.to_dict())
    return watch, True


def get_watch(store: GraphStore, watch: str) -> Watch | None:
    found = store.get_document(WATCHES, watch)
    return Watch.of(found) if found else None


def list_watches(
    store: GraphStore, limit: int | None = None, offset: int = 0
) -> tuple[int, list[Watch]]:
    """Watches, newest first."""
    total, docs = store.list_documents(WATCHES, limit=limit, offset=offset, newest_first=True)
    return total, [Watch.of(d) for d in docs]


def update_watch(store: GraphStore, watch: str, note: str) -> Watch | None:
    found = get_watch(store, watch)
    if found is None:
        return None
    found.note = note
    store.put_document(WATCHES, found.id, found.to_dict())
    return found


def delete_watch(store: GraphStore, watch: str) -> bool:
    """Remove a watch and its alerts; False when there was no such watch."""
    if not store.delete_document(WATCHES, watch):
        return False
    _, alerts = list_alerts(store, watch=watch)
    for alert in alerts:
        store.delete_document(ALERTS, alert.id)
    return True


# --- alerts ----------------------------------------------------------------------------------


def record_alerts(store: GraphStore, alerts: Iterable[WatchAlert]) -> int:
    """Store the alerts not stored yet (ids are derived, so a repeat finds its twin and an
    acknowledged alert stays acknowledged); how many were new."""
    new = 0
    for alert in alerts:
        if store.get_document(ALERTS, alert.id) is None:
            store.put_document(ALERTS, alert.id, alert.to_dict())
            new += 1
    return new


def list_alerts(
    store: GraphStore,
    *,
    watch: str | None = None,
    acknowledged: bool | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[int, list[WatchAlert]]:
    """Alerts, newest first, optionally of one watch and acknowledged or not."""
    if watch is None and acknowledged is None:
        total, docs = store.list_documents(ALERTS, limit=limit, offset=offset, newest_first=True)
        return total, [WatchAlert.of(d) for d in docs]
    _, docs = store.list_documents(ALERTS, newest_first=True)
    kept = [
        alert
        for alert in map(WatchAlert.of, docs)
        if (watch is None or alert.watch == watch)
        and (acknowledged is None or (alert.acknowledged_at is not None) == acknowledged)
    ]
    end = None if limit is None else offset + limit
    return len(kept), kept[offset:end]


def get_alert(store: GraphStore, alert: str) -> WatchAlert | None:
    found = store.get_document(ALERTS, alert)
    return WatchAlert.of(found) if found else None


def acknowledge(store: GraphStore, alert: str, by: str) -> WatchAlert | None:
    """Mark an alert seen (once: the first acknowledgement is kept); None when unknown."""
    found = get_alert(store, alert)
    if found is None:
        return None
    if found.acknowledged_at is None:
        found.acknowledged_by, found.acknowledged_at = by, now_iso()
        store.put_document(ALERTS, found.id, found.to_dict())
    return found


# --- checked in ingest -----------------------------------------------------------------------


def _caption(node: Node | None, ref: NodeRef) -> str:
    if node is None:
        return str(ref)
    text = node.props.get("title") or node.props.get("name") or node.key
    return f"{node.label} {node.key}" if text == node.key else f"{node.label} {node.key}: {text}"


def _watched_value(watch: Watch) -> str:
    ref = watch.ref
    return ref.key.replace(":", " ", 1) if ref.label is Label.IDENTIFIER else ref.key


class IngestWatch:
    """The watched contacts, companies and substances of one ingest, read once; `upsert`
    stores a batch like GraphStore.upsert and records alerts for the links to watched
    nodes that the batch created."""

    def __init__(self, store: GraphStore, watches: Sequence[Watch]) -> None:
        self.store = store
        self.watches = {w.ref: w for w in watches if w.kind != "cluster"}

    @classmethod
    def load(cls, store: GraphStore) -> IngestWatch | None:
        """None when nothing is watched, so an ingest then costs nothing more."""
        _, watches = list_watches(store)
        found = cls(store, watches)
        return found if found.watches else None

    def upsert(self, nodes: Sequence[Node], edges: Sequence[Edge]) -> WriteStats:
        watched = self.watches
        hits = [e for e in edges if e.source in watched or e.target in watched]
        if not hits:
            return self.store.upsert(nodes, edges)
        ends = list({ref for e in hits for ref in (e.source, e.target)})
        before = {(e.type, e.source, e.target) for e in self.store.edges_among(ends)}
        stats = self.store.upsert(nodes, edges)
        fresh = {(e.type, e.source, e.target): e for e in hits}
        for ident in before:
            fresh.pop(ident, None)
        if fresh:
            record_alerts(self.store, self._alerts(list(fresh.values()), nodes))
        return stats

    def _alerts(self, edges: list[Edge], nodes: Sequence[Node]) -> list[WatchAlert]:
        in_batch = {n.ref: n for n in nodes}
        at = now_iso()

        def posted(edge: Edge) -> tuple[str, str]:
            other = in_batch.get(edge.source)
            day = other.props.get("posted_at") if other else None
            return str(day or ""), str(edge.source)

        alerts: list[WatchAlert] = []
        for edge in sorted(edges, key=posted):  # the earliest posting is a substance's first
            for watched, subject in ((edge.target, edge.source), (edge.source, edge.target)):
                watch = self.watches.get(watched)
                if watch is not None:
                    alert = self._alert(watch, edge, subject, in_batch.get(subject), at)
                    if alert is not None:
                        alerts.append(alert)
        return alerts

    def _alert(
        self, watch: Watch, edge: Edge, subject: NodeRef, node: Node | None, at: str
    ) -> WatchAlert | None:
        detail: dict[str, Any] = {"relationship": str(edge.type)}
        for name in ("platform", "posted_at", "date", "country"):
            if node is not None and node.props.get(name):
                detail[name] = node.props[name]
        if edge.props.get("evidence"):
            detail["evidence"] = edge.props["evidence"]
        caption = _caption(node, subject)[:_CAPTION_CHARS]
        detail["caption"] = caption
        if watch.kind == "substance":
            if subject.label is not Label.POSTING or watch.first_posting is not None:
                return None
            watch.first_posting = subject.key
            self.store.put_document(WATCHES, watch.id, watch.to_dict())
            kind = "first_posting"
            summary = f"first posting of {watch.value}: {caption}"
        else:
            kind = "new_posting" if subject.label is Label.POSTING else "new_record"
            summary = f"{caption} shows watched {watch.kind} {_watched_value(watch)}"
        return WatchAlert(
            alert_id(watch.id, kind, str(subject)), watch.id, kind, watch.target,
            str(subject), summary, at, detail,
        )  # fmt: skip


# --- checked by the analysis -----------------------------------------------------------------


def _platforms(nodes: Iterable[Node]) -> dict[str, str]:
    """Platform -> the first posting (by key) on it."""
    found: dict[str, str] = {}
    for node in sorted(nodes, key=lambda n: n.key):
        platform = node.props.get("platform") if node.label is Label.POSTING else None
        if platform:
            found.setdefault(str(platform), node.key)
    return found


def current_cluster(store: GraphStore, cluster: str) -> str | None:
    """Where a watched cluster is now: itself, or the cluster a merge folded it into."""
    merges = (store.get_meta(CLUSTERS_META) or {}).get("merges", [])
    into = {absorbed: m["into"] for m in merges for absorbed in m.get("absorbed", [])}
    seen = {cluster}
    while store.get_node(NodeRef(Label.ACTOR, cluster)) is None:
        cluster = into.get(cluster, "")
        if not cluster or cluster in seen:
            return None
        seen.add(cluster)
    return cluster


def check_after_analysis(
    store: GraphStore,
    reposts: Sequence[Reappearance],
    known: Iterable[tuple[str, str]] = (),
) -> int:
    """New-platform alerts of watched clusters, and reappearance alerts of watched
    identifiers and clusters for the reappearances not `known` (as (removed, reposted)) to
    the run before: a watch alerts on what happens, not on what was already found. How
    many alerts were new."""
    _, watches = list_watches(store)
    if not watches:
        return 0
    at = now_iso()
    alerts: list[WatchAlert] = []
    for watch in watches:
        if watch.kind == "cluster":
            alerts.extend(_new_platforms(store, watch, at))
    seen = set(known)
    fresh = [r for r in reposts if (r.removed, r.reposted) not in seen]
    alerts.extend(_reappearances(store, watches, fresh, at))
    return record_alerts(store, alerts)


def _new_platforms(store: GraphStore, watch: Watch, at: str) -> list[WatchAlert]:
    now = current_cluster(store, watch.ref.key)
    members = cluster_records(store, now) if now else None
    if members is None:
        return []
    platforms = _platforms(members.nodes)
    new = sorted(set(platforms) - set(watch.platforms))
    if not new:
        return []
    watch.platforms = sorted({*watch.platforms, *platforms})
    store.put_document(WATCHES, watch.id, watch.to_dict())
    moved = f" (now cluster {now})" if now != watch.ref.key else ""
    return [
        WatchAlert(
            id=alert_id(watch.id, "new_platform", platform),
            watch=watch.id,
            kind="new_platform",
            target=watch.target,
            subject=f"Platform:{platform}",
            summary=f"cluster {watch.ref.key}{moved} posted on a new platform: {platform}",
            at=at,
            detail={"platform": platform, "posting": platforms[platform], "cluster": now},
        )
        for platform in new
    ]


def _reappearances(
    store: GraphStore, watches: Sequence[Watch], reposts: Sequence[Reappearance], at: str
) -> list[WatchAlert]:
    contacts = {w.ref.key: w for w in watches if w.kind == "identifier"}
    clusters = {w.ref.key: w for w in watches if w.kind == "cluster"}
    if not reposts or not (contacts or clusters):
        return []
    cluster_of: dict[str, str] = {}
    if clusters:
        named = {key for r in reposts for key in (r.removed, r.reposted)}
        postings = store.get_nodes([NodeRef(Label.POSTING, key) for key in sorted(named)])
        cluster_of = {n.key: str(n.props["cluster"]) for n in postings if n.props.get("cluster")}
        current = {c: current_cluster(store, c) for c in clusters}
        clusters = {now: w for c, w in clusters.items() if (now := current[c])}
    alerts = []
    for r in reposts:
        matched = [contacts[key] for key in r.identifiers if key in contacts]
        matched += [
            clusters[c] for c in {cluster_of.get(r.removed), cluster_of.get(r.reposted)}
            if c in clusters
        ]  # fmt: skip
        subject = f"Posting:{r.removed}->Posting:{r.reposted}"
        summary = (
            f"posting {r.removed} removed from {r.removed_platform} on {r.removed_at[:10]} "
            f"is back as {r.reposted} on {r.reposted_platform} ({r.reposted_at[:10]})"
        )
        alerts.extend(
            WatchAlert(
                id=alert_id(w.id, "reappearance", subject),
                watch=w.id,
                kind="reappearance",
                target=w.target,
                subject=subject,
                summary=summary,
                at=at,
                detail=r.as_dict(),
            )
            for w in {w.id: w for w in matched}.values()
        )
    return alerts

"""The cluster and posting summaries that exports and the API share.

`prexus export clusters|postings` and `GET /api/clusters`, `GET /api/postings/{id}` all
read these, so a file and an API answer about the same posting never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from graph.linking import RECORD_LABELS
from graph.schema import Label, Node, NodeRef, RelType
from graph.store import GraphStore, NodeFilter, Subgraph

CLUSTER_NETWORK_LIMIT = 5000
"""Most nodes a cluster's network file holds (its records and their contacts)."""


def identifier_fields(ref: NodeRef) -> dict[str, str]:
    """An Identifier node as the exports and the API show it: {"kind", "value"}."""
    kind, _, value = ref.key.partition(":")
    return {"kind": kind, "value": value}


def cluster_fields(
    cluster: str, records: list[NodeRef], tying: list[NodeRef], actor: Node | None
) -> dict[str, Any]:
    """One cluster as `prexus export clusters` and the API give it: `records` sorted by
    name, `tying` the identifiers that tie them (hubs left out), sorted."""
    return {
        "id": cluster,
        "postings": [r.key for r in records if r.label is Label.POSTING],
        "seizures": [r.key for r in records if r.label is Label.SEIZURE],
        "identifiers": [identifier_fields(i) for i in tying],
        "size": len(records),
        "confidence": actor.props.get("confidence") if actor else None,
    }


def _identifiers_of(store: GraphStore, labels: frozenset[Label]) -> dict[NodeRef, list[NodeRef]]:
    found: dict[NodeRef, list[NodeRef]] = defaultdict(list)
    for source, target, _, _ in store.edge_list([RelType.HAS_IDENTIFIER]):
        if source.label in labels:
            found[source].append(target)
    return found


def iter_cluster_summaries(store: GraphStore) -> Iterator[dict[str, Any]]:
    """One dict per actor cluster: id, posting and seizure ids, the identifiers that tie
    it (hubs left out), size, confidence; largest clusters first."""
    members: dict[str, list[NodeRef]] = defaultdict(list)
    for source, target, _, _ in store.edge_list([RelType.MEMBER_OF]):
        members[target.key].append(source)
    hubs = {n.ref for n in store.iter_nodes(Label.IDENTIFIER) if n.props.get("hub")}
    identifiers = _identifiers_of(store, RECORD_LABELS)
    actors = {n.key: n for n in store.iter_nodes(Label.ACTOR)}
    for cid in sorted(members, key=lambda c: (-len(members[c]), c)):
        records = sorted(members[cid], key=str)
        tying = sorted(
            {i for r in records for i in identifiers.get(r, ()) if i not in hubs}, key=str
        )
        yield cluster_fields(cid, records, tying, actors.get(cid))


def iter_posting_summaries(store: GraphStore) -> Iterator[dict[str, Any]]:
    """One dict per posting: id, cluster, identifiers, substances, kind."""
    identifiers = _identifiers_of(store, frozenset({Label.POSTING}))
    substances: dict[NodeRef, list[NodeRef]] = defaultdict(list)
    for source, target, _, _ in store.edge_list([RelType.MENTIONS]):
        if target.label is Label.SUBSTANCE:
            substances[source].append(target)
    names = {n.key: n.props for n in store.iter_nodes(Label.SUBSTANCE)}
    for node in store.iter_nodes(Label.POSTING):
        yield _posting_summary(
            node.key, node.props, identifiers.get(node.ref, []), substances.get(node.ref, []), names
        )


def posting_summary(store: GraphStore, posting_id: str) -> dict[str, Any] | None:
    """The export fields of one posting, plus its provenance; None when unknown."""
    ref = NodeRef(Label.POSTING, posting_id)
    view = store.ego([ref], depth=1)
    node = next((n for n in view.nodes if n.ref == ref), None)
    if node is None:
        return None
    linked = {n.ref: n for n in view.nodes}
    idents = [e.target for e in view.edges if e.source == ref and e.type is RelType.HAS_IDENTIFIER]
    subs = [
        e.target
        for e in view.edges
        if e.source == ref and e.type is RelType.MENTIONS and e.target.label is Label.SUBSTANCE
    ]
    names = {r.key: linked[r].props for r in subs}
    summary = _posting_summary(posting_id, node.props, idents, subs, names)
    summary["provenance"] = node.provenance.as_dict()
    return summary


def _posting_summary(
    posting_id: str,
    props: dict[str, Any],
    identifiers: list[NodeRef],
    substances: list[NodeRef],
    names: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    return {
        "id": posting_id,
        "cluster": props.get("cluster"),
        "identifiers": [identifier_fields(i) for i in sorted(identifiers, key=str)],
        "substances": [
            {"cas": names.get(s.key, {}).get("cas"), "name": names.get(s.key, {}).get("name")}
            for s in sorted(substances, key=str)
        ],
        "kind": props.get("kind"),
    }


def cluster_records(
    store: GraphStore, cluster_id: str, limit: int = CLUSTER_NETWORK_LIMIT
) -> Subgraph | None:
    """The Actor and its member records (no edges), all of them up to `limit` nodes (then
    `truncated`), even where a view reads a large actor's members only in part; None when
    there is no such cluster."""
    actor = NodeRef(Label.ACTOR, cluster_id)
    members = store.ego([actor], 1, NodeFilter(rel_types=frozenset({RelType.MEMBER_OF})), limit)
    if not members.nodes:
        return None
    if members.truncated and len(members.nodes) < limit:  # read in part, not cut at limit
        every = sorted(
            (s for s, t, _, _ in store.edge_list([RelType.MEMBER_OF]) if t == actor), key=str
        )
        return Subgraph(store.get_nodes([actor, *every[: limit - 1]]), [], len(every) >= limit)
    return Subgraph(members.nodes, [], members.truncated)


def cluster_network(
    store: GraphStore, cluster_id: str, limit: int = CLUSTER_NETWORK_LIMIT
) -> Subgraph | None:
    """An actor cluster as a network file holds it: the Actor, its member records, their
    identifiers and every edge among those; None when there is no such cluster."""
    members = cluster_records(store, cluster_id, limit)
    if members is None:
        return None
    records = [n.ref for n in members.nodes if n.label is not Label.ACTOR]
    contacts = store.ego(
        records,
        1,
        NodeFilter(
            labels=frozenset({Label.IDENTIFIER}), rel_types=frozenset({RelType.HAS_IDENTIFIER})
        ),
        limit,
    )
    nodes = {n.ref: n for n in (*members.nodes, *contacts.nodes)}
    truncated = members.truncated or contacts.truncated or len(nodes) > limit
    kept = list(nodes.values())[:limit]
    return Subgraph(kept, store.edges_among([n.ref for n in kept]), truncated)

"""Actor clusters: which postings, seizures and companies one trafficker is behind.

Records (postings, seizures, companies, persons, operators) that share an identifier are
grouped, with three safeguards an analyst would apply by hand:

1. **Hubs.** An identifier that co-occurs with many unrelated identifiers (a platform's own
   service line in every footer, an escrow or forwarder contact, a placeholder) is flagged
   as a hub: it stays in the graph but merges nothing. Measured as its *spread*, the number
   of distinct other non-hub identifiers on its records, peeled iteratively from the top.
2. **Weak bridges.** An identifier that is the only tie between two groups, and appears on
   only a small share of one group's records (a broker's handle named once in each of two
   vendors' adverts), links the two clusters instead of merging them.
3. **Names** support but never merge: a seizure whose consignor or consignee company is
   known in exactly one cluster joins it, but two clusters never merge on a name, except a
   registered operator's exact (normalised) name.

Records with identical identifier sets are folded into one *signature* first, so the work
grows with the number of distinct contact combinations, not the number of postings.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import networkx as nx
from rapidfuzz import fuzz, process

from graph.schema import Label, NodeRef, Provenance, RelType, make_edge, make_node, now_iso
from graph.store import GraphStore, NodeFilter

RECORD_LABELS = frozenset(
    {Label.POSTING, Label.SEIZURE, Label.COMPANY, Label.PERSON, Label.OPERATOR}
)


@dataclass(frozen=True, slots=True)
class LinkingSettings:
    """The documented knobs of clustering (see docs/quality.md)."""

    hub_min_spread: int = 25
    """An identifier whose records carry more distinct other identifiers than this is a hub
    (an actor rarely shows more than a dozen contacts; a footer shows hundreds)."""
    hub_spread_factor: float = 4.0
    """...or more than this many times the 90th percentile spread, whichever is larger
    (hubs are few, so the 90th percentile is an ordinary actor's identifier)."""
    bridge_min_identifiers: int = 2
    """An identifier that alone ties groups stays with the group whose records use it most
    (its home). Any other group that holds at least this many identifiers of its own (an
    established identity) is only linked to the home cluster, not merged: a broker's handle
    named in two vendors' adverts. A group with fewer (a vendor who rotated phones but kept
    one email) is merged."""
    name_match: float = 92.0
    """rapidfuzz token_sort_ratio at which a seizure's company name matches a cluster's."""


KIND_WEIGHT = {
    "phone": 0.95, "email": 0.95, "telegram": 0.9, "wickr": 0.9, "whatsapp": 0.9,
    "signal": 0.9, "threema": 0.95, "wechat": 0.9, "skype": 0.9, "btc": 0.97, "eth": 0.97,
    "tron": 0.97, "domain": 0.8, "url": 0.6,
}  # fmt: skip
"""How specific an identifier kind is: wallets and phones point at one owner; a URL may be
a shared page."""


def identifier_kind(ref: NodeRef) -> str:
    return ref.key.split(":", 1)[0]


@dataclass(slots=True)
class Incidence:
    """The record-identifier graph, with records folded into signatures."""

    record_ids: dict[NodeRef, frozenset[NodeRef]] = field(default_factory=dict)
    name_links: list[tuple[NodeRef, NodeRef, RelType]] = field(default_factory=list)

    @classmethod
    def load(cls, store: GraphStore) -> Incidence:
        ids: dict[NodeRef, set[NodeRef]] = defaultdict(set)
        names: list[tuple[NodeRef, NodeRef, RelType]] = []
        for source, target, rel, _ in store.edge_list(
            [
                RelType.HAS_IDENTIFIER,
                RelType.REGISTERED_FOR,
                RelType.CONSIGNOR,
                RelType.CONSIGNEE,
                RelType.MENTIONS,
            ]
        ):
            if source.label not in RECORD_LABELS:
                continue
            if target.label is Label.IDENTIFIER:
                ids[source].add(target)
            elif target.label in (Label.COMPANY, Label.PERSON):
                names.append((source, target, rel))
        incidence = cls({r: frozenset(s) for r, s in ids.items()}, names)
        for source, target, _ in names:
            incidence.record_ids.setdefault(source, frozenset())
            incidence.record_ids.setdefault(target, frozenset())
        return incidence

    def signatures(self) -> Counter[frozenset[NodeRef]]:
        return Counter(s for s in self.record_ids.values() if s)


def find_hubs(signatures: Counter[frozenset[NodeRef]], settings: LinkingSettings) -> set[NodeRef]:
    """Peel identifiers whose spread is far above everyone else's, biggest first."""
    hubs: set[NodeRef] = set()
    while True:
        spread: dict[NodeRef, set[NodeRef]] = defaultdict(set)
        for signature in signatures:
            kept = signature - hubs
            if len(kept) > 1:
                for ident in kept:
                    spread[ident].update(kept)
        sizes = {ident: len(others) - 1 for ident, others in spread.items()}
        if not sizes:
            return hubs
        ordered = sorted(sizes.values())
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        threshold = max(settings.hub_min_spread, settings.hub_spread_factor * p90)
        worst = max(sizes, key=lambda i: (sizes[i], str(i)))
        if sizes[worst] <= threshold:
            return hubs
        # peel every identifier above the line this round whose spread is at least half the
        # worst's: the big footers go together, borderline ones are judged again without them
        hubs |= {i for i, n in sizes.items() if n > threshold and n * 2 >= sizes[worst]}


def find_weak_bridges(
    signatures: Counter[frozenset[NodeRef]], hubs: set[NodeRef], settings: LinkingSettings
) -> dict[NodeRef, set[frozenset[NodeRef]]]:
    """Identifier -> the signatures in which it must not merge (its weak side)."""
    graph = nx.Graph()
    for signature, count in signatures.items():
        kept = signature - hubs
        if kept:
            graph.add_node(signature, count=count)
            graph.add_edges_from((signature, ident) for ident in kept)
    cut: dict[NodeRef, set[frozenset[NodeRef]]] = {}
    home_size: dict[NodeRef, int] = {}
    for component in nx.connected_components(graph):
        idents = [n for n in component if isinstance(n, NodeRef)]
        if len(idents) < 1 + 2 * settings.bridge_min_identifiers:
            continue
        sub = graph.subgraph(component)
        for ident in nx.articulation_points(sub):
            if not isinstance(ident, NodeRef):
                continue
            parts = _substantive_parts(sub, ident)
            if len(parts) < 2:
                continue
            home = max(parts, key=lambda part: (_share(sub, ident, part), len(part)))
            home_size[ident] = _records(sub, home)
            established = [
                part
                for part in parts
                if part is not home
                and sum(isinstance(n, NodeRef) for n in part) >= settings.bridge_min_identifiers
            ]
            if established:
                cut[ident] = {n for part in established for n in part if not isinstance(n, NodeRef)}
    _keep_orphans_with_largest_home(signatures, hubs, cut, home_size)
    return cut


def _keep_orphans_with_largest_home(
    signatures: Counter[frozenset[NodeRef]],
    hubs: set[NodeRef],
    cut: dict[NodeRef, set[frozenset[NodeRef]]],
    home_size: dict[NodeRef, int],
) -> None:
    """A record cut from every one of its identifiers (a vendor's advert naming a broker:
    the vendor's phone sees the broker's side, the broker's handle sees the vendor's) stays
    with the identifier whose own group is largest."""
    for signature in signatures:
        idents = signature - hubs
        if idents and all(signature in cut.get(i, ()) for i in idents):
            keeper = max(idents, key=lambda i: (home_size.get(i, 0), str(i)))
            cut[keeper].discard(signature)


def _records(sub: nx.Graph, part: set[Any]) -> int:
    return sum(sub.nodes[n]["count"] for n in part if not isinstance(n, NodeRef))


def _substantive_parts(sub: nx.Graph, ident: NodeRef) -> list[set[Any]]:
    """Groups that fall apart when `ident` is removed, ignoring records that had nothing
    but `ident` (they belong to it, they are not another group)."""
    rest = sub.subgraph(n for n in sub if n != ident)
    parts = []
    for part in nx.connected_components(rest):
        if any(isinstance(n, NodeRef) for n in part):
            parts.append(part)
    return parts


def _share(sub: nx.Graph, ident: NodeRef, part: set[Any]) -> float:
    total = _records(sub, part)
    with_ident = sum(
        sub.nodes[n]["count"] for n in part if not isinstance(n, NodeRef) and ident in n
    )
    return with_ident / total if total else 0.0


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, item: Any) -> Any:
        parent = self.parent.setdefault(item, item)
        if parent is item or parent == item:
            return item
        root = self.find(parent)
        self.parent[item] = root
        return root

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb, key=str)] = min(ra, rb, key=str)


@dataclass(slots=True)
class Clustering:
    """The outcome: cluster of each record, hubs, weak links, and how each record joined."""

    members: dict[str, list[NodeRef]]
    hubs: set[NodeRef]
    weak_links: list[tuple[str, str, NodeRef]]
    merges: list[dict[str, Any]]
    confidence: dict[str, float]


def cluster_records(
    incidence: Incidence,
    settings: LinkingSettings | None = None,
    decisions: Sequence[dict[str, Any]] = (),
    previous: dict[NodeRef, str] | None = None,
) -> Clustering:
    """Group records into actor clusters; see the module docstring."""
    settings = settings or LinkingSettings()
    signatures = incidence.signatures()
    hubs = find_hubs(signatures, settings)
    weak = find_weak_bridges(signatures, hubs, settings)

    union = _UnionFind()
    for record, idents in incidence.record_ids.items():
        union.find(record)
        for ident in idents - hubs:
            if idents in weak.get(ident, ()):
                continue
            union.union(record, ident)
    _apply_names(union, incidence, settings)
    group_of = {record: union.find(record) for record in incidence.record_ids}
    _apply_decisions(group_of, decisions)
    groups: dict[Any, list[NodeRef]] = defaultdict(list)
    for record, group in group_of.items():
        groups[group].append(record)
    ordered = sorted((sorted(m, key=str) for m in groups.values()), key=lambda m: str(m[0]))
    members, merges = _stable_ids(ordered, previous or {})
    cluster_of = {r: cid for cid, rs in members.items() for r in rs}
    weak_links = _weak_links(weak, incidence, cluster_of)
    confidence = {cid: _cluster_confidence(rs, incidence, hubs) for cid, rs in members.items()}
    return Clustering(members, hubs, weak_links, merges, confidence)


def _apply_names(union: _UnionFind, incidence: Incidence, settings: LinkingSettings) -> None:
    """Names support, never merge. An operator joins the company of its exact registered
    name. A seizure whose contacts tie it to nothing else joins the one cluster that knows its
    consignor (else consignee) company: the company's own contacts, or postings that name
    it, matched by exact normalised name or a close fuzzy match. Postings that name one
    company are not merged by it."""
    for source, target, rel in incidence.name_links:
        if rel is RelType.REGISTERED_FOR:
            union.union(source, target)
    known: dict[NodeRef, set[Any]] = defaultdict(set)
    for record, idents in incidence.record_ids.items():
        if record.label is Label.COMPANY and idents:
            known[record].add(union.find(record))
    for source, target, rel in incidence.name_links:
        if rel is RelType.MENTIONS:
            known[target].add(union.find(source))
    names = sorted(ref.key for ref in known if ref.label is Label.COMPANY)
    records_at = Counter(union.find(record) for record in incidence.record_ids)
    attached: set[NodeRef] = set()
    ordered = sorted(incidence.name_links, key=lambda link: link[2] is not RelType.CONSIGNOR)
    for source, target, rel in ordered:
        if rel not in (RelType.CONSIGNOR, RelType.CONSIGNEE):
            continue
        if source in attached or records_at[union.find(source)] > 1:
            continue  # identifiers already tie it to other records
        company = target if target in known else _fuzzy_company(target, names, settings)
        roots = known.get(company, set()) if company is not None else set()
        if len(roots) == 1:
            union.union(source, next(iter(roots)))
            attached.add(source)


def _fuzzy_company(company: NodeRef, names: list[str], settings: LinkingSettings) -> NodeRef | None:
    """The known company a misspelt name most likely means: close overall, and close on
    its distinctive words too (not on 'pharmaceutical technology' or a shared city name),
    so 'Longjin Pharmaceutical' does not pass for 'Longxin Pharmaceutical'."""
    if company.label is not Label.COMPANY or not names:
        return None
    common = _common_words(tuple(names))
    wanted = " ".join(w for w in company.key.split() if w not in common)
    for candidate, score, _ in process.extract(
        company.key,
        names,
        scorer=fuzz.token_sort_ratio,
        score_cutoff=settings.name_match,
        limit=5,
    ):
        distinctive = " ".join(w for w in candidate.split() if w not in common)
        if score >= settings.name_match and fuzz.ratio(wanted, distinctive) >= 85:
            return NodeRef(Label.COMPANY, candidate)
    return None


@lru_cache(maxsize=4)
def _common_words(names: tuple[str, ...]) -> frozenset[str]:
    """Words in more than two known company names: generic, not evidence of identity."""
    frequency = Counter(word for name in names for word in set(name.split()))
    return frozenset(word for word, n in frequency.items() if n > 2)


def _apply_decisions(group_of: dict[NodeRef, Any], decisions: Sequence[dict[str, Any]]) -> None:
    """Analysts' decisions, oldest first, so a later one overrides an earlier one: `merge`
    puts the clusters of the listed records together, `split` takes the listed records out
    of their cluster into one of their own; `confirm` changes nothing here."""
    for number, decision in enumerate(sorted(decisions, key=lambda d: str(d.get("at", "")))):
        records = [NodeRef.parse(r) for r in decision.get("records", [])]
        records = [r for r in records if r in group_of]
        if not records:
            continue
        if decision.get("action") == "merge":
            target = group_of[records[0]]
            absorbed = {group_of[r] for r in records}
            for record, group in group_of.items():
                if group in absorbed:
                    group_of[record] = target
        elif decision.get("action") == "split":
            for record in records:
                group_of[record] = ("decision", number)


def cluster_id(first_member: NodeRef) -> str:
    """A new cluster's id: derived from its first member, so reruns give the same id."""
    return "A" + hashlib.blake2b(str(first_member).encode(), digest_size=5).hexdigest()


def _stable_ids(
    groups: list[list[NodeRef]], previous: dict[NodeRef, str]
) -> tuple[dict[str, list[NodeRef]], list[dict[str, Any]]]:
    """Keep ids across runs: a cluster keeps the id most of its members had; when clusters
    merge, the larger one's id wins and the merge is recorded."""
    members: dict[str, list[NodeRef]] = {}
    merges: list[dict[str, Any]] = []
    claimed: set[str] = set()
    for group in sorted(groups, key=len, reverse=True):
        votes = Counter(previous[r] for r in group if r in previous)
        candidates = [cid for cid, _ in votes.most_common() if cid not in claimed]
        cid = candidates[0] if candidates else cluster_id(group[0])
        while cid in members:
            cid = cluster_id(NodeRef(group[0].label, group[0].key + "#" + cid))
        for absorbed in candidates[1:]:
            merges.append({"into": cid, "absorbed": absorbed, "at": now_iso()})
        claimed.update(votes)
        members[cid] = group
    return members, merges


def _weak_links(
    weak: dict[NodeRef, set[frozenset[NodeRef]]],
    incidence: Incidence,
    cluster_of: dict[NodeRef, str],
) -> list[tuple[str, str, NodeRef]]:
    links: set[tuple[str, str, NodeRef]] = set()
    carriers: dict[NodeRef, list[NodeRef]] = defaultdict(list)  # one pass, not one per ident
    for record, ids in incidence.record_ids.items():
        for ident in ids:
            if ident in weak:
                carriers[ident].append(record)
    for ident, cut_signatures in weak.items():
        records = carriers.get(ident, [])
        clusters = {cluster_of[r] for r in records}
        home = {cluster_of[r] for r in records if incidence.record_ids[r] not in cut_signatures}
        for a in home:
            for b in clusters - home:
                links.add((min(a, b), max(a, b), ident))
    return sorted(links, key=str)


def _cluster_confidence(records: list[NodeRef], incidence: Incidence, hubs: set[NodeRef]) -> float:
    """Mean specificity of the identifiers that hold the cluster together (1.0 alone)."""
    idents = {i for r in records for i in incidence.record_ids.get(r, ()) if i not in hubs}
    if len(records) == 1 or not idents:
        return 1.0
    weights = [tie_weight(i) for i in idents]
    return round(sum(weights) / len(weights), 3)


# --- explanation ---------------------------------------------------------------------------


@dataclass(slots=True)
class Step:
    """One hop of an explanation: two records tied by an identifier (or a name)."""

    from_record: str
    via: str
    to_record: str
    evidence: list[str]
    weight: float


EXPLAIN_RELS = frozenset(
    {
        RelType.MEMBER_OF,
        RelType.HAS_IDENTIFIER,
        RelType.CONSIGNOR,
        RelType.CONSIGNEE,
        RelType.REGISTERED_FOR,
    }
)


def explain(store: GraphStore, a: NodeRef, b: NodeRef) -> tuple[list[Step], float]:
    """The chain of shared identifiers (or names) tying record a to record b inside their
    cluster, with the evidence text of each tie, and its confidence (the product of each
    tie's specificity). Empty when they are not in one cluster."""
    node = store.get_node(a)
    if node is None or "cluster" not in node.props:
        return [], 0.0
    actor = NodeRef(Label.ACTOR, str(node.props["cluster"]))
    view = store.ego([actor], depth=3, flt=NodeFilter(rel_types=EXPLAIN_RELS), limit=20000)
    hubs = {n.ref for n in view.nodes if n.props.get("hub")}
    members = {e.source for e in view.edges if e.type is RelType.MEMBER_OF}
    if b not in members or a not in members:
        return [], 0.0
    graph = nx.Graph()
    evidence: dict[tuple[NodeRef, NodeRef], list[str]] = {}
    for edge in view.edges:
        if edge.type is RelType.MEMBER_OF or edge.target in hubs:
            continue
        graph.add_edge(edge.source, edge.target)
        raw = edge.props.get("evidence")
        evidence[(edge.source, edge.target)] = (
            raw if isinstance(raw, list) else [str(raw)] if raw else []
        )
    try:
        path = nx.shortest_path(graph, a, b)
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        return [], 0.0
    steps: list[Step] = []
    confidence = 1.0
    for i in range(0, len(path) - 2, 2):
        left, via, right = path[i], path[i + 1], path[i + 2]
        weight = tie_weight(via)
        confidence *= weight
        texts = evidence.get((left, via), []) + evidence.get((right, via), [])
        steps.append(Step(str(left), str(via), str(right), texts, weight))
    return steps, round(confidence, 4)


def tie_weight(via: NodeRef) -> float:
    """How much one shared item says: an identifier by its kind; a name, less."""
    if via.label is Label.IDENTIFIER:
        return KIND_WEIGHT.get(identifier_kind(via), 0.8)
    return 0.6


# --- the run -------------------------------------------------------------------------------


DECISIONS_META = "cluster_decisions"
CLUSTERS_META = "clusters"


def link_actors(store: GraphStore, settings: LinkingSettings | None = None) -> Clustering:
    """Cluster every record and write Actors, MEMBER_OF edges, hub flags and weak links."""
    settings = settings or LinkingSettings()
    incidence = Incidence.load(store)
    previous: dict[NodeRef, str] = {}
    for label in (Label.POSTING, Label.SEIZURE):  # every one gets a cluster, even alone
        for node in store.iter_nodes(label):
            incidence.record_ids.setdefault(node.ref, frozenset())
            if node.props.get("cluster"):
                previous[node.ref] = str(node.props["cluster"])
    for label in RECORD_LABELS - {Label.POSTING, Label.SEIZURE}:
        for node in store.iter_nodes(label):
            if node.props.get("cluster"):
                previous[node.ref] = str(node.props["cluster"])
    decisions = (store.get_meta(DECISIONS_META) or {}).get("decisions", [])
    result = cluster_records(incidence, settings, decisions, previous)
    _write(store, result, incidence)
    return result


def _write(store: GraphStore, result: Clustering, incidence: Incidence) -> None:
    at = now_iso()
    prov = Provenance("prexus-analyze", None, None, None, at)
    live = result.members
    actors, edges = [], []
    for cid, records in live.items():
        counts = Counter(r.label for r in records)
        actors.append(
            make_node(
                Label.ACTOR,
                {
                    "id": cid,
                    "size": len(records),
                    "postings": counts[Label.POSTING],
                    "seizures": counts[Label.SEIZURE],
                    "confidence": result.confidence[cid],
                    "status": "active",
                },
                prov,
            )
        )
        for record in records:
            edges.append(
                make_edge(
                    RelType.MEMBER_OF,
                    record,
                    NodeRef(Label.ACTOR, cid),
                    prov,
                    {"confidence": result.confidence[cid]},
                )
            )
    for a, b, ident in result.weak_links:
        edges.append(
            make_edge(
                RelType.LINKED_TO,
                NodeRef(Label.ACTOR, a),
                NodeRef(Label.ACTOR, b),
                prov,
                {"type": "weak_bridge", "via": str(ident)},
            )
        )
    stale = [n.ref for n in store.iter_nodes(Label.ACTOR) if n.key not in live]
    for ref in stale:
        store.delete(ref)
    store.delete_edges(RelType.MEMBER_OF)
    store.delete_edges(RelType.LINKED_TO, Label.ACTOR, Label.ACTOR)
    for start in range(0, max(len(actors), len(edges)), 5000):
        store.upsert(actors[start : start + 5000], [])
    for start in range(0, len(edges), 5000):
        store.upsert([], edges[start : start + 5000])
    by_label: dict[Label, dict[str, dict[str, Any]]] = defaultdict(dict)
    for cid, records in live.items():
        for record in records:
            by_label[record.label][record.key] = {"cluster": cid}
    idents = {i for ids in incidence.record_ids.values() for i in ids}
    by_label[Label.IDENTIFIER] = {i.key: {"hub": i in result.hubs} for i in idents}
    for label, updates in by_label.items():
        store.set_properties(label, updates)
    store.put_meta(
        CLUSTERS_META,
        {
            "ran_at": at,
            "clusters": len(live),
            "hubs": sorted(str(h) for h in result.hubs),
            "weak_links": [[a, b, str(i)] for a, b, i in result.weak_links],
            "merges": result.merges,
        },
    )


DECISION_ACTIONS = ("confirm", "split", "merge")


def record_decision(
    store: GraphStore, action: str, records: Sequence[NodeRef], by: str, note: str = ""
) -> dict[str, Any]:
    """Store an analyst's decision (who, when, what); the next `link_actors` run applies it
    and so does every later one."""
    if action not in DECISION_ACTIONS:
        raise ValueError(f"unknown decision {action!r} (valid: {', '.join(DECISION_ACTIONS)})")
    if not records or (action == "merge" and len(records) < 2):
        raise ValueError(
            f"{action} needs {'two or more records' if action == 'merge' else 'records'}"
        )
    decision = {
        "action": action,
        "records": [str(r) for r in records],
        "by": by,
        "at": now_iso(),
        "note": note,
    }
    stored = store.get_meta(DECISIONS_META) or {"decisions": []}
    stored["decisions"].append(decision)
    store.put_meta(DECISIONS_META, stored)
    return decision


@dataclass(slots=True)
class Tie:
    """One identifier (or name) holding a cluster together, with what it says."""

    via: str
    records: list[str]
    evidence: list[str]
    weight: float


def explain_cluster(store: GraphStore, cluster: str, limit: int = 50) -> dict[str, Any]:
    """Why a cluster is one actor: each identifier shared by its members, the members it
    ties, the text it was read from, and how specific it is; hubs are listed apart as
    what was deliberately not used. None of this is recomputed: it reads the stored graph."""
    actor = NodeRef(Label.ACTOR, cluster)
    view = store.ego([actor], depth=2, flt=NodeFilter(rel_types=EXPLAIN_RELS), limit=20000)
    members = {e.source for e in view.edges if e.type is RelType.MEMBER_OF}
    hubs = {n.ref for n in view.nodes if n.props.get("hub")}
    tied: dict[NodeRef, Tie] = {}
    ignored: dict[NodeRef, int] = defaultdict(int)
    for edge in view.edges:
        if edge.type is RelType.MEMBER_OF or edge.source not in members:
            continue
        if edge.target in hubs:
            ignored[edge.target] += 1
            continue
        tie = tied.setdefault(edge.target, Tie(str(edge.target), [], [], tie_weight(edge.target)))
        tie.records.append(str(edge.source))
        raw = edge.props.get("evidence")
        for text in raw if isinstance(raw, list) else [raw] if raw else []:
            if text not in tie.evidence and len(tie.evidence) < 5:
                tie.evidence.append(str(text))
    weak = {
        via: other
        for a, b, via in (store.get_meta(CLUSTERS_META) or {}).get("weak_links", [])
        for this, other in ((a, b), (b, a))
        if this == cluster
    }
    shared = sorted(
        (t for t in tied.values() if len(t.records) > 1 and t.via not in weak),
        key=lambda t: (-len(t.records), t.via),
    )
    node = next((n for n in view.nodes if n.ref == actor), None)
    return {
        "cluster": cluster,
        "confidence": node.props.get("confidence") if node else None,
        "members": len(members),
        "ties": [
            {
                "via": t.via,
                "records": len(t.records),
                "sample": sorted(t.records)[:5],
                "evidence": t.evidence,
                "weight": t.weight,
            }
            for t in shared[:limit]
        ],
        "hubs_not_used": sorted(str(h) for h in ignored),
        "weak_links": [{"via": via, "other_cluster": other} for via, other in sorted(weak.items())],
    }

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
import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import networkx as nx
import numpy as np
from rapidfuzz import fuzz, process

from graph.schema import (
    Edge,
    Label,
    NodeRef,
    Provenance,
    RelType,
    make_edge,
    make_node,
    now_iso,
)
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
        """Read each kind of tie in the order one query by type, source and target gave,
        the order results were first made in. A store with row ids (SQLite) gives the many
        (contacts and mentions) as integer rows, grouped here before any NodeRef is made."""
        ids: dict[NodeRef, frozenset[NodeRef]] = {}
        names: list[tuple[NodeRef, NodeRef, RelType]] = []
        by_id = (
            _RowIds(store)
            if hasattr(store, "edge_id_rows") and hasattr(store, "node_id_rows")
            else None
        )
        for rel in sorted(TIE_RELS):
            if by_id is not None and rel in BULK_TIE_RELS:
                by_id.read(rel, ids, names)
                continue
            for source, target, _, _ in store.edge_list([rel]):
                if source.label not in RECORD_LABELS:
                    continue
                if target.label is Label.IDENTIFIER:
                    ids[source] = ids.get(source, frozenset()) | {target}
                elif target.label in (Label.COMPANY, Label.PERSON):
                    names.append((source, target, rel))
        incidence = cls(ids, names)
        for source, target, _ in names:
            incidence.record_ids.setdefault(source, frozenset())
            incidence.record_ids.setdefault(target, frozenset())
        return incidence

    def signatures(self) -> Counter[frozenset[NodeRef]]:
        return Counter(s for s in self.record_ids.values() if s)


TIE_RELS = frozenset(
    {
        RelType.HAS_IDENTIFIER,
        RelType.REGISTERED_FOR,
        RelType.CONSIGNOR,
        RelType.CONSIGNEE,
        RelType.MENTIONS,
    }
)
"""What ties records: contacts, and names (companies, persons) that support a tie."""
BULK_TIE_RELS = frozenset({RelType.HAS_IDENTIFIER, RelType.MENTIONS})
"""The ties with about one edge per posting or more: read as row ids where a store can."""


class _RowIds:
    """Edges of a store that has row ids (`node_id_rows`, `edge_id_rows`: SQLite) as
    integer arrays, sorted by source then target as an index scan gives them, with one
    NodeRef made per node used and one frozenset per distinct set of identifiers."""

    def __init__(self, store: Any) -> None:
        self.store = store
        rows = store.node_id_rows()
        row_ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        self.lookup = np.full(int(row_ids.max(initial=0)) + 1, -1, dtype=np.int64)
        self.lookup[row_ids] = np.arange(len(rows))
        self.rows = rows
        kinds = {str(label): label for label in Label}
        self.labels = [kinds[label] for _, label, _ in rows]
        number = {label: n for n, label in enumerate(Label)}
        codes = np.fromiter(map(number.__getitem__, self.labels), np.int16, len(rows))

        def of_kinds(*labels: Label) -> np.ndarray:
            wanted = np.zeros(len(number), dtype=bool)
            wanted[[number[label] for label in labels]] = True
            return wanted[codes]

        self.is_record = of_kinds(*RECORD_LABELS)
        self.is_name = of_kinds(Label.COMPANY, Label.PERSON)
        self.is_identifier = of_kinds(Label.IDENTIFIER)
        self.refs: list[NodeRef | None] = [None] * len(rows)

    def ref(self, position: int) -> NodeRef:
        ref = self.refs[position]
        if ref is None:
            ref = self.refs[position] = NodeRef(self.labels[position], self.rows[position][2])
        return ref

    def read(
        self,
        rel: RelType,
        ids: dict[NodeRef, frozenset[NodeRef]],
        names: list[tuple[NodeRef, NodeRef, RelType]],
    ) -> None:
        """As Incidence.load's loop over edge_list([rel]) would add them."""
        chunks = [np.zeros((0, 2), dtype=np.int64)]
        for rows in self.store.edge_id_rows([rel]):
            source_ids, target_ids, _ = zip(*rows, strict=True)
            chunks.append(np.column_stack((source_ids, target_ids)).astype(np.int64))
        pairs = np.concatenate(chunks)
        pairs = pairs[(pairs < len(self.lookup)).all(axis=1)]
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
        positions = self.lookup[pairs]
        positions = positions[(positions >= 0).all(axis=1)]
        sources, targets = positions[:, 0], positions[:, 1]
        positions = positions[self.is_record[sources]]
        sources, targets = positions[:, 0], positions[:, 1]
        for source, target in positions[self.is_name[targets]].tolist():
            names.append((self.ref(source), self.ref(target), rel))
        tied = self.is_identifier[targets]
        sources, targets = sources[tied], targets[tied]
        starts = np.flatnonzero(np.diff(sources, prepend=-1))  # each source's first row
        ends = np.append(starts[1:], len(sources))[: len(starts)]
        targets_list = targets.tolist()
        signature: dict[frozenset[int], frozenset[NodeRef]] = {}
        for source, start, end in zip(
            sources[starts].tolist(), starts.tolist(), ends.tolist(), strict=True
        ):
            numbers = frozenset(targets_list[start:end])
            refs = signature.get(numbers)
            if refs is None:
                refs = signature[numbers] = frozenset(map(self.ref, numbers))
            record = self.ref(source)
            had = ids.get(record)
            ids[record] = refs if had is None else had | refs


def find_hubs(signatures: Counter[frozenset[NodeRef]], settings: LinkingSettings) -> set[NodeRef]:
    """Peel identifiers whose spread is far above everyone else's, biggest first. Worked on
    identifier numbers: each round looked up every identifier of every signature by its
    NodeRef, a Python-level hash. Only signatures of two or more identifiers spread."""
    idents = list({ident for signature in signatures for ident in signature})
    number = {ident: n for n, ident in enumerate(idents)}
    tied = [frozenset(map(number.__getitem__, s)) for s in signatures if len(s) > 1]
    hubs: set[int] = set()
    while True:
        spread: dict[int, set[int]] = defaultdict(set)
        for signature in tied:
            kept = signature - hubs
            if len(kept) > 1:
                for ident in kept:
                    spread[ident].update(kept)
        sizes = {ident: len(others) - 1 for ident, others in spread.items()}
        if not sizes:
            break
        ordered = sorted(sizes.values())
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        threshold = max(settings.hub_min_spread, settings.hub_spread_factor * p90)
        worst = ordered[-1]
        if worst <= threshold:
            break
        # peel every identifier above the line this round whose spread is at least half the
        # worst's: the big footers go together, borderline ones are judged again without them
        hubs |= {i for i, n in sizes.items() if n > threshold and n * 2 >= worst}
    return {idents[i] for i in hubs}


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
    """Union-find over positions numbered in name order: a group's root is its smallest
    position, its alphabetically first element, whatever order the unions come in."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        parent = self.parent
        root = item
        while parent[root] != root:
            root = parent[root]
        while parent[item] != root:  # compress the path walked
            parent[item], item = root, parent[item]
        return root

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)


@dataclass(slots=True)
class _Numbering:
    """Records and identifiers numbered in name order (the smaller number is the
    alphabetically first), and signatures numbered: the clustering steps walk integer
    lists, where hashing a NodeRef (a Python-level __hash__) at each step of each of a
    million records cost most of their time."""

    refs: list[NodeRef]
    """Position -> record or identifier, in name order."""
    records: list[int]
    """Records' positions, in incidence.record_ids order."""
    signatures: list[frozenset[NodeRef]]
    """Number -> signature, in Incidence.signatures() order."""
    signature_at: list[int]
    """Position -> the number of its record's signature; -1 for an identifier or a record
    with no identifier."""
    ident_position: dict[NodeRef, int]
    record_position: dict[NodeRef, int]

    @classmethod
    def of(cls, incidence: Incidence, signatures: Counter[frozenset[NodeRef]]) -> _Numbering:
        records = list(incidence.record_ids)
        idents = list({ident for signature in signatures for ident in signature})
        refs = records + idents
        names = list(map(str, refs))
        order = sorted(range(len(refs)), key=names.__getitem__)
        rank = [0] * len(refs)
        for position, index in enumerate(order):
            rank[index] = position
        number = {signature: n for n, signature in enumerate(signatures)}
        record_positions = rank[: len(records)]
        signature_at = [-1] * len(refs)
        for position, ids in zip(record_positions, incidence.record_ids.values(), strict=True):
            signature_at[position] = number.get(ids, -1)
        return cls(
            [refs[index] for index in order],
            record_positions,
            list(signatures),
            signature_at,
            dict(zip(idents, rank[len(records) :], strict=True)),
            dict(zip(records, record_positions, strict=True)),
        )


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

    numbering = _Numbering.of(incidence, signatures)
    union = _UnionFind(len(numbering.refs))
    anchor = _anchors(numbering, hubs, weak, union)
    _join_first_records(union, numbering, anchor)
    _apply_names(union, incidence, numbering, settings, anchor)
    group_at: list[Any] = _roots(union, numbering, anchor)
    _apply_decisions(group_at, numbering, decisions)
    # positions are in name order: each group's members come out in order, and the groups
    # in the order of their first member
    groups: dict[Any, list[int]] = {}
    for position, group in enumerate(group_at):
        if group != -1:
            groups.setdefault(group, []).append(position)
    positions = list(groups.values())
    refs = numbering.refs
    members, merges, ids = _stable_ids(
        [[refs[position] for position in group] for group in positions], previous or {}
    )
    cluster_at: list[str] = [""] * len(refs)
    for cid, group in zip(ids, positions, strict=True):
        for position in group:
            cluster_at[position] = cid
    weak_links = _weak_links(weak, numbering, cluster_at)
    positions_of = dict(zip(ids, positions, strict=True))
    confidence = {cid: _cluster_confidence(positions_of[cid], numbering, hubs) for cid in members}
    return Clustering(members, hubs, weak_links, merges, confidence)


def _anchors(
    numbering: _Numbering,
    hubs: set[NodeRef],
    weak: dict[NodeRef, set[frozenset[NodeRef]]],
    union: _UnionFind,
) -> list[int]:
    """Union the identifiers each signature ties (not hubs, not where it is a weak bridge's
    weak side) and name one of them its anchor: every record of the signature joins the
    anchor's group. Per signature, not per record: a million postings share far fewer
    contact combinations. A signature that ties nothing has no anchor (-1: its records stay
    alone)."""
    anchor = [-1] * len(numbering.signatures)
    ident_position = numbering.ident_position
    for number, signature in enumerate(numbering.signatures):
        kept = [i for i in signature - hubs if signature not in weak.get(i, ())]
        if kept:
            first = anchor[number] = ident_position[kept[0]]
            for ident in kept[1:]:
                union.union(first, ident_position[ident])
    return anchor


def _join_first_records(union: _UnionFind, numbering: _Numbering, anchor: list[int]) -> None:
    """The alphabetically first record of each anchored signature joins the anchor. A
    group's root is its alphabetically first element, so the roots are those a union of
    every record with its identifiers gives; the consignor step of _apply_names reads
    them."""
    first = [-1] * len(anchor)
    signature_at = numbering.signature_at
    for position in numbering.records:
        number = signature_at[position]
        if number >= 0 and anchor[number] >= 0 and not 0 <= first[number] < position:
            first[number] = position
    for number, record in enumerate(first):
        if record >= 0:
            union.union(anchor[number], record)


def _roots(union: _UnionFind, numbering: _Numbering, anchor: list[int]) -> list[int]:
    """Position -> its group root as things stand, for every record (-1 for identifiers),
    found once per signature."""
    of_signature = [union.find(at) if at >= 0 else -1 for at in anchor]
    signature_at = numbering.signature_at
    roots = [-1] * len(numbering.refs)
    for position in numbering.records:
        number = signature_at[position]
        root = of_signature[number] if number >= 0 else -1
        roots[position] = root if root >= 0 else union.find(position)
    return roots


def _apply_names(
    union: _UnionFind,
    incidence: Incidence,
    numbering: _Numbering,
    settings: LinkingSettings,
    anchor: list[int],
) -> None:
    """Names support, never merge. An operator joins the company of its exact registered
    name. A seizure whose contacts tie it to nothing else joins the one cluster that knows its
    consignor (else consignee) company: the company's own contacts, or postings that name
    it, matched by exact normalised name or a close fuzzy match. Postings that name one
    company are not merged by it. A record stands in the union by its signature's anchor
    when it has one."""
    signature_at, record_position = numbering.signature_at, numbering.record_position

    def element(record: NodeRef) -> int:
        position = record_position[record]
        number = signature_at[position]
        at = anchor[number] if number >= 0 else -1
        return at if at >= 0 else position

    for source, target, rel in incidence.name_links:
        if rel is RelType.REGISTERED_FOR:
            union.union(element(source), element(target))
    root_of = _roots(union, numbering, anchor)
    known: dict[NodeRef, set[int]] = defaultdict(set)
    refs = numbering.refs
    for position in numbering.records:
        record = refs[position]
        if record.label is Label.COMPANY and signature_at[position] >= 0:
            known[record].add(root_of[position])
    for source, target, rel in incidence.name_links:
        if rel is RelType.MENTIONS:
            known[target].add(root_of[record_position[source]])
    names = tuple(sorted(ref.key for ref in known if ref.label is Label.COMPANY))
    records_at = Counter(root_of[position] for position in numbering.records)
    del root_of  # stale once the loop below joins groups
    attached: set[NodeRef] = set()
    ordered = sorted(incidence.name_links, key=lambda link: link[2] is not RelType.CONSIGNOR)
    for source, target, rel in ordered:
        if rel not in (RelType.CONSIGNOR, RelType.CONSIGNEE):
            continue
        if source in attached or records_at[union.find(element(source))] > 1:
            continue  # identifiers already tie it to other records
        company = target if target in known else _fuzzy_company(target, names, settings)
        roots = known.get(company, set()) if company is not None else set()
        if len(roots) == 1:
            union.union(element(source), next(iter(roots)))
            attached.add(source)


def _fuzzy_company(
    company: NodeRef, names: tuple[str, ...], settings: LinkingSettings
) -> NodeRef | None:
    """The known company a misspelt name most likely means: close overall, and close on
    its distinctive words too (not on 'pharmaceutical technology' or a shared city name),
    so 'Longjin Pharmaceutical' does not pass for 'Longxin Pharmaceutical'."""
    if company.label is not Label.COMPANY or not names:
        return None
    common, sorted_names = _name_index(names)
    wanted = " ".join(w for w in company.key.split() if w not in common)
    for _, score, index in process.extract(
        _sorted_words(company.key),
        sorted_names,
        scorer=fuzz.ratio,  # on sorted words: token_sort_ratio, without re-sorting each name
        score_cutoff=settings.name_match,
        limit=5,
    ):
        candidate = names[index]
        distinctive = " ".join(w for w in candidate.split() if w not in common)
        if score >= settings.name_match and fuzz.ratio(wanted, distinctive) >= 85:
            return NodeRef(Label.COMPANY, candidate)
    return None


def _sorted_words(name: str) -> str:
    """What token_sort_ratio compares: the words in order."""
    return " ".join(sorted(name.split()))


@lru_cache(maxsize=4)
def _name_index(names: tuple[str, ...]) -> tuple[frozenset[str], list[str]]:
    """Words in more than two known company names (generic, not evidence of identity),
    and each name with its words sorted, made once: token_sort_ratio sorted all 20k names
    again for each seizure at 1M postings."""
    frequency = Counter(word for name in names for word in set(name.split()))
    common = frozenset(word for word, n in frequency.items() if n > 2)
    return common, [_sorted_words(name) for name in names]


def _apply_decisions(
    group_at: list[Any], numbering: _Numbering, decisions: Sequence[dict[str, Any]]
) -> None:
    """Analysts' decisions, oldest first, so a later one overrides an earlier one: `merge`
    puts the clusters of the listed records together, `split` takes the listed records out
    of their cluster into one of their own; `confirm` changes nothing here."""
    for number, decision in enumerate(sorted(decisions, key=lambda d: str(d.get("at", "")))):
        listed = (
            numbering.record_position.get(NodeRef.parse(r)) for r in decision.get("records", [])
        )
        records = [position for position in listed if position is not None]
        if not records:
            continue
        if decision.get("action") == "merge":
            target = group_at[records[0]]
            absorbed = {group_at[r] for r in records}
            for record in numbering.records:
                if group_at[record] in absorbed:
                    group_at[record] = target
        elif decision.get("action") == "split":
            for record in records:
                group_at[record] = ("decision", number)


def cluster_id(first_member: NodeRef) -> str:
    """A new cluster's id: derived from its first member, so reruns give the same id."""
    return "A" + hashlib.blake2b(str(first_member).encode(), digest_size=5).hexdigest()


def _stable_ids(
    groups: list[list[NodeRef]], previous: dict[NodeRef, str]
) -> tuple[dict[str, list[NodeRef]], list[dict[str, Any]], list[str]]:
    """Keep ids across runs: a cluster keeps the id most of its members had; when clusters
    merge, the larger one's id wins and the merge is recorded. Also gives each group's id,
    in the order of `groups`."""
    members: dict[str, list[NodeRef]] = {}
    merges: list[dict[str, Any]] = []
    claimed: set[str] = set()
    ids = [""] * len(groups)
    for index in sorted(range(len(groups)), key=lambda i: len(groups[i]), reverse=True):
        group = groups[index]
        votes: Counter[str] = Counter()
        if previous:  # a first run has none: skip a lookup per record
            votes.update(cid for cid in map(previous.get, group) if cid is not None)
        candidates = [cid for cid, _ in votes.most_common() if cid not in claimed]
        cid = candidates[0] if candidates else cluster_id(group[0])
        while cid in members:
            cid = cluster_id(NodeRef(group[0].label, group[0].key + "#" + cid))
        for absorbed in candidates[1:]:
            merges.append({"into": cid, "absorbed": absorbed, "at": now_iso()})
        claimed.update(votes)
        members[cid] = group
        ids[index] = cid
    return members, merges, ids


def _weak_links(
    weak: dict[NodeRef, set[frozenset[NodeRef]]], numbering: _Numbering, cluster_at: list[str]
) -> list[tuple[str, str, NodeRef]]:
    links: set[tuple[str, str, NodeRef]] = set()
    carriers: dict[NodeRef, list[int]] = defaultdict(list)  # one pass, not one per ident
    weak_in: dict[int, list[NodeRef]] = {}  # looked for once per signature
    signatures, signature_at = numbering.signatures, numbering.signature_at
    for position in numbering.records:
        number = signature_at[position]
        if number < 0:
            continue
        found = weak_in.get(number)
        if found is None:
            found = weak_in[number] = [ident for ident in signatures[number] if ident in weak]
        for ident in found:
            carriers[ident].append(position)
    for ident, cut_signatures in weak.items():
        records = carriers.get(ident, [])
        clusters = {cluster_at[r] for r in records}
        home = {cluster_at[r] for r in records if signatures[signature_at[r]] not in cut_signatures}
        for a in home:
            for b in clusters - home:
                links.add((min(a, b), max(a, b), ident))
    return sorted(links, key=str)


def _cluster_confidence(records: list[int], numbering: _Numbering, hubs: set[NodeRef]) -> float:
    """Mean specificity of the identifiers that hold the cluster together (1.0 alone).
    Summed exactly (fsum), so the value cannot depend on the order a set is walked in."""
    if len(records) == 1:
        return 1.0
    numbers = {numbering.signature_at[r] for r in records} - {-1}
    idents = frozenset().union(*(numbering.signatures[n] for n in numbers)) - hubs
    if not idents:
        return 1.0
    return round(math.fsum(tie_weight(i) for i in idents) / len(idents), 3)


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
    # postings and seizures first, in store order, as every one gets a cluster, even alone
    for label in (Label.POSTING, Label.SEIZURE, *sorted(RECORD_LABELS - CLUSTERED_ALONE)):
        for key, cluster in _values(store, label, "cluster"):
            ref = NodeRef(label, key)
            if label in CLUSTERED_ALONE:
                incidence.record_ids.setdefault(ref, frozenset())
            if cluster:
                previous[ref] = str(cluster)
    decisions = (store.get_meta(DECISIONS_META) or {}).get("decisions", [])
    result = cluster_records(incidence, settings, decisions, previous)
    _write(store, result, incidence, previous)
    return result


CLUSTERED_ALONE = frozenset({Label.POSTING, Label.SEIZURE})
"""Records that get a cluster even when nothing ties them to another."""


def _values(store: GraphStore, label: Label, name: str) -> Iterator[tuple[str, Any]]:
    """(key, value of one property) of every node of a kind (a boolean may come as 1/0).
    Postings, by far the most nodes, through node_values (one scan, no JSON decoding);
    the other kinds through iter_nodes, which reads only their rows: node_values' scan
    reads the whole table for each kind."""
    if label is Label.POSTING:
        for key, _first_seen, value in store.node_values(label, (name,)):
            yield key, value
    else:
        for node in store.iter_nodes(label):
            yield node.key, node.props.get(name)


def _write(
    store: GraphStore, result: Clustering, incidence: Incidence, previous: dict[NodeRef, str]
) -> None:
    """Store the clustering as a fresh write would, but write a record's cluster or an
    identifier's hub flag only where it changed: a re-run rewrote a million of each."""
    at = now_iso()
    prov = Provenance("prexus-analyze", None, None, None, at)
    live = result.members
    actors, member_edges = [], []
    allowed: set[Label] = set()  # record kinds checked against the schema, once each
    for cid, records in live.items():
        counts = Counter(r.label for r in records)
        actor = make_node(
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
        actors.append(actor)
        props = {"confidence": result.confidence[cid]}  # shared: encoded once per cluster
        for record in records:
            if record.label not in allowed:
                make_edge(RelType.MEMBER_OF, record, actor.ref, prov)  # raises if not allowed
                allowed.add(record.label)
            member_edges.append(Edge(RelType.MEMBER_OF, record, actor.ref, props, prov))
    weak_edges = [
        make_edge(
            RelType.LINKED_TO,
            NodeRef(Label.ACTOR, a),
            NodeRef(Label.ACTOR, b),
            prov,
            {"type": "weak_bridge", "via": str(ident)},
        )
        for a, b, ident in result.weak_links
    ]
    stale = [key for key, _ in _values(store, Label.ACTOR, "id") if key not in live]
    for key in stale:
        store.delete(NodeRef(Label.ACTOR, key))
    store.delete_edges(RelType.LINKED_TO, Label.ACTOR, Label.ACTOR)
    for start in range(0, len(actors), WRITE_BATCH):
        store.upsert(actors[start : start + WRITE_BATCH], [])
    store.replace_edges(RelType.MEMBER_OF, member_edges)
    for start in range(0, len(weak_edges), WRITE_BATCH):
        store.upsert([], weak_edges[start : start + WRITE_BATCH])
    by_label: dict[Label, dict[str, dict[str, Any]]] = defaultdict(dict)
    for cid, records in live.items():
        for record in records:
            if previous.get(record) != cid:
                by_label[record.label][record.key] = {"cluster": cid}
    idents = {i for ids in incidence.signatures() for i in ids}
    flags = dict(_values(store, Label.IDENTIFIER, "hub"))
    for ident in idents:
        hub = ident in result.hubs
        if flags.get(ident.key) is None or bool(flags[ident.key]) != hub:
            by_label[Label.IDENTIFIER][ident.key] = {"hub": hub}
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


WRITE_BATCH = 5000
"""Actors or weak links per upsert."""


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

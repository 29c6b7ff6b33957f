"""Leads an analyst should see: unregistered offers of controlled substances, and removed
postings that reappear on another platform.

Regulators keep registers of licensed operators, so an offer of a controlled substance
from contacts or a company no valid licence covers is a lead. A posting taken down by a
cooperating platform that reappears elsewhere with the same contacts is another.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from graph.schema import Label, NodeRef, Provenance, RelType, make_edge, now_iso
from graph.store import GraphStore


@dataclass(slots=True)
class Licence:
    operator: str
    name: str
    substances: set[str] = field(default_factory=set)
    identifiers: set[NodeRef] = field(default_factory=set)
    companies: set[NodeRef] = field(default_factory=set)
    valid_from: str | None = None
    valid_to: str | None = None

    def covers(self, substance: str, day: str | None) -> bool:
        if substance not in self.substances:
            return False
        if day and self.valid_from and day < self.valid_from:
            return False
        return not (day and self.valid_to and day[:10] > self.valid_to)


@dataclass(slots=True)
class RegistryAlert:
    """An offer of a controlled substance that no valid licence covers."""

    posting: str
    substances: list[str]
    reason: str
    operator: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def licences(store: GraphStore) -> list[Licence]:
    found: dict[str, Licence] = {}
    for node in store.iter_nodes(Label.OPERATOR):
        found[node.key] = Licence(
            node.key,
            str(node.props.get("name", node.key)),
            valid_from=node.props.get("valid_from"),
            valid_to=node.props.get("valid_to"),
        )
    for source, target, _, _ in store.edge_list([RelType.REGISTERED_FOR]):
        licence = found.get(source.key)
        if licence is None:
            continue
        if target.label is Label.SUBSTANCE:
            licence.substances.add(target.key)
        elif target.label is Label.IDENTIFIER:
            licence.identifiers.add(target)
        elif target.label is Label.COMPANY:
            licence.companies.add(target)
    return list(found.values())


def registry_alerts(store: GraphStore) -> list[RegistryAlert]:
    """Offers of substances controlled at the posting's date whose identifiers are in no
    licence covering that substance on that date. Naming a licensed company without its
    licensed contacts is called out: that is how impersonators work."""
    registered = licences(store)
    by_identifier: dict[NodeRef, list[Licence]] = defaultdict(list)
    by_company: dict[NodeRef, list[Licence]] = defaultdict(list)
    for licence in registered:
        for ident in licence.identifiers:
            by_identifier[ident].append(licence)
        for company in licence.companies:
            by_company[company].append(licence)
    controlled: dict[NodeRef, list[str]] = defaultdict(list)
    companies: dict[NodeRef, list[NodeRef]] = defaultdict(list)
    for edge in store.iter_edges(RelType.MENTIONS):
        if edge.target.label is Label.SUBSTANCE and edge.props.get("controlled"):
            controlled[edge.source].append(edge.target.key)
        elif edge.target.label is Label.COMPANY:
            companies[edge.source].append(edge.target)
    identifiers: dict[NodeRef, list[NodeRef]] = defaultdict(list)
    for source, target, _, _ in store.edge_list([RelType.HAS_IDENTIFIER]):
        if source in controlled:
            identifiers[source].append(target)
    alerts = []
    for posting in store.get_nodes(sorted(controlled, key=str)):
        if posting.props.get("kind") != "offer":
            continue
        day = posting.props.get("posted_at") or posting.provenance.first_seen
        substances = sorted(set(controlled[posting.ref]))
        covering = [
            lic
            for ident in identifiers[posting.ref]
            for lic in by_identifier[ident]
            if all(lic.covers(s, day) for s in substances)
        ]
        if covering:
            continue
        named = [lic for company in companies[posting.ref] for lic in by_company[company]]
        if named:
            alerts.append(
                RegistryAlert(
                    posting.key,
                    substances,
                    f"names licensed operator {named[0].name!r} but its contacts are not in "
                    "that licence",
                    named[0].operator,
                )
            )
        else:
            alerts.append(
                RegistryAlert(posting.key, substances, "no licence covers these contacts")
            )
    return alerts


@dataclass(slots=True)
class Reappearance:
    """A removed posting's contacts, back on another platform after the removal."""

    removed: str
    removed_platform: str
    removed_at: str
    reposted: str
    reposted_platform: str
    reposted_at: str
    identifiers: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reappearances(store: GraphStore, window_days: int = 60) -> list[Reappearance]:
    """For every removed posting, the first later posting on each other platform, within
    `window_days` of the removal, that shares a non-hub identifier with it: the repost an
    analyst would ask the next platform to take down too."""
    postings: dict[NodeRef, tuple[str, str]] = {}  # (posted, platform): not whole nodes
    removed: list[tuple[NodeRef, str, Any]] = []  # (posting, removed_at, platform)
    for node in store.iter_nodes(Label.POSTING):
        posted = str(node.props.get("posted_at") or node.provenance.first_seen or "")
        postings[node.ref] = (posted, str(node.props.get("platform")))
        if node.props.get("removed_at"):
            removed.append((node.ref, str(node.props["removed_at"]), node.props.get("platform")))
    if not removed:
        return []
    hubs = {n.ref for n in store.iter_nodes(Label.IDENTIFIER) if n.props.get("hub")}
    by_identifier: dict[NodeRef, list[NodeRef]] = defaultdict(list)
    idents_of: dict[NodeRef, set[NodeRef]] = defaultdict(set)
    for source, target, _, _ in store.edge_list([RelType.HAS_IDENTIFIER]):
        if source.label is Label.POSTING and target not in hubs:
            by_identifier[target].append(source)
            idents_of[source].add(target)
    found = []
    for old, removed_at, old_platform in removed:
        candidates: dict[NodeRef, set[NodeRef]] = defaultdict(set)
        for ident in idents_of[old]:
            for other in by_identifier[ident]:
                candidates[other].add(ident)
        limit = (date.fromisoformat(removed_at[:10]) + timedelta(days=window_days)).isoformat()
        first_on: dict[str, Reappearance] = {}
        for other_ref, shared in candidates.items():
            new = postings.get(other_ref)
            if new is None or other_ref == old:
                continue
            posted, platform = new
            if not removed_at[:10] <= posted[:10] <= limit or platform == old_platform:
                continue
            seen = first_on.get(platform)
            if seen is None or (posted, other_ref.key) < (seen.reposted_at, seen.reposted):
                first_on[platform] = Reappearance(
                    old.key,
                    str(old_platform),
                    removed_at,
                    other_ref.key,
                    platform,
                    posted,
                    sorted(i.key for i in shared),
                )
        found.extend(sorted(first_on.values(), key=lambda r: (r.reposted_at, r.reposted)))
    return found


def write_reappearances(store: GraphStore, found: list[Reappearance]) -> None:
    """REAPPEARS_AS edges from each removed posting to where it came back."""
    prov = Provenance("prexus-analyze", None, None, None, now_iso())
    store.delete_edges(RelType.REAPPEARS_AS)
    edges = [
        make_edge(
            RelType.REAPPEARS_AS,
            NodeRef(Label.POSTING, r.removed),
            NodeRef(Label.POSTING, r.reposted),
            prov,
            {"evidence": r.identifiers},
        )
        for r in found
    ]
    for start in range(0, len(edges), 5000):
        store.upsert([], edges[start : start + 5000])

"""Leads an analyst should see: unregistered offers of controlled substances, and removed
postings that reappear on another platform.

Regulators keep registers of licensed operators, so an offer of a controlled substance
from contacts or a company no valid licence covers is a lead. A posting taken down by a
cooperating platform that reappears elsewhere with the same contacts is another.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from graph.schema import Label, NodeRef, Provenance, RelType, make_edge, now_iso
from graph.store import GraphStore

POSTING_FIELDS = ("posted_at", "kind", "platform", "removed_at")
"""The posting properties the checks read; PostingFacts rows hold first_seen, then these."""


@dataclass(slots=True)
class PostingFacts:
    """What the checks read of the postings, read once and shared by them: per posting key,
    (first_seen, posted_at, kind, platform, removed_at) in store order, and the keys of the
    identifiers each posting has. Plain tuples from one scan each: decoding a million whole
    postings and their 2.4 million edges per check was most of the checks' time."""

    postings: dict[str, tuple[Any, ...]]
    identifiers: dict[str, list[str]]
    mentions: list[tuple[str, str, str, Any]]
    """(posting, target label, target key, controlled) of every MENTIONS edge, in store
    order (only postings mention)."""

    @classmethod
    def read(cls, store: GraphStore) -> PostingFacts:
        identifiers: dict[str, list[str]] = defaultdict(list)
        for source_label, source, _, target in store.edge_values(RelType.HAS_IDENTIFIER):
            if source_label == Label.POSTING:  # the schema allows Identifier targets only
                identifiers[source].append(target)
        mentions = [row[1:] for row in store.edge_values(RelType.MENTIONS, ("controlled",))]
        return cls(posting_rows(store), dict(identifiers), mentions)


def posting_rows(store: GraphStore) -> dict[str, tuple[Any, ...]]:
    """Posting key -> (first_seen, *POSTING_FIELDS), in store order."""
    return {row[0]: row[1:] for row in store.node_values(Label.POSTING, POSTING_FIELDS)}


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


def registry_alerts(store: GraphStore, facts: PostingFacts | None = None) -> list[RegistryAlert]:
    """Offers of substances controlled at the posting's date whose identifiers are in no
    licence covering that substance on that date. Naming a licensed company without its
    licensed contacts is called out: that is how impersonators work. `facts`: the postings
    as read once for all checks (read here when not given)."""
    facts = facts or PostingFacts.read(store)
    registered = licences(store)
    by_identifier: dict[str, list[Licence]] = defaultdict(list)  # by key: both are Identifiers
    by_company: dict[str, list[Licence]] = defaultdict(list)
    for licence in registered:
        for ident in licence.identifiers:
            by_identifier[ident.key].append(licence)
        for company in licence.companies:
            by_company[company.key].append(licence)
    controlled: dict[str, list[str]] = defaultdict(list)  # posting -> substances (MENTIONS
    companies: dict[str, list[str]] = defaultdict(list)  # comes from postings only)
    for posting, target_label, target, is_controlled in facts.mentions:
        if target_label == Label.SUBSTANCE and is_controlled:
            controlled[posting].append(target)
        elif target_label == Label.COMPANY:
            companies[posting].append(target)
    alerts = []
    for key in sorted(controlled):
        first_seen, posted_at, kind, *_ = facts.postings.get(key) or (None, None, None)
        if kind != "offer":
            continue
        day = posted_at or first_seen
        substances = sorted(set(controlled[key]))
        covering = [
            lic
            for ident in facts.identifiers.get(key, ())
            for lic in by_identifier[ident]
            if all(lic.covers(s, day) for s in substances)
        ]
        if covering:
            continue
        named = [lic for company in companies[key] for lic in by_company[company]]
        if named:
            alerts.append(
                RegistryAlert(
                    key,
                    substances,
                    f"names licensed operator {named[0].name!r} but its contacts are not in "
                    "that licence",
                    named[0].operator,
                )
            )
        else:
            alerts.append(RegistryAlert(key, substances, "no licence covers these contacts"))
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


def reappearances(
    store: GraphStore, window_days: int = 60, facts: PostingFacts | None = None
) -> list[Reappearance]:
    """For every removed posting, the first later posting on each other platform, within
    `window_days` of the removal, that shares a non-hub identifier with it: the repost an
    analyst would ask the next platform to take down too. Each identifier's postings are
    sorted by day once, so a removal reads only those inside its window (bisection) rather
    than all of them. `facts`: as in registry_alerts."""
    facts = facts or PostingFacts.read(store)
    keys = list(facts.postings)
    rows = list(facts.postings.values())  # (first_seen, posted_at, kind, platform, removed_at)
    posted = [str(posted_at or first_seen or "") for first_seen, posted_at, *_ in rows]
    days = [when[:10] for when in posted]
    platforms = [str(platform) for *_, platform, _ in rows]
    removed = [  # (posting, removed_at, platform as stored: compared as such below)
        (index, str(removed_at), platform)
        for index, (*_, platform, removed_at) in enumerate(rows)
        if removed_at
    ]
    if not removed:
        return []
    hubs = {key for key, _, hub in store.node_values(Label.IDENTIFIER, ("hub",)) if hub}
    idents_of = {
        index: [i for i in facts.identifiers.get(keys[index], ()) if i not in hubs]
        for index, _, _ in removed
    }
    wanted = {ident for idents in idents_of.values() for ident in idents}
    by_identifier: dict[str, list[int]] = defaultdict(list)  # posting indexes, then by day
    for index, key in enumerate(keys):
        for ident in facts.identifiers.get(key, ()):
            if ident in wanted:
                by_identifier[ident].append(index)
    by_day: dict[str, tuple[list[str], list[int]]] = {}
    for ident, members in by_identifier.items():
        members.sort(key=days.__getitem__)
        by_day[ident] = ([days[m] for m in members], members)
    found = []
    for old, removed_at, old_platform in removed:
        start = removed_at[:10]
        limit = (date.fromisoformat(start) + timedelta(days=window_days)).isoformat()
        shared_with: dict[int, list[str]] = defaultdict(list)
        for ident in idents_of[old]:
            member_days, members = by_day[ident]
            first, last = bisect_left(member_days, start), bisect_right(member_days, limit)
            for other in members[first:last]:
                if other != old and platforms[other] != old_platform:
                    shared_with[other].append(ident)
        first_on: dict[str, int] = {}
        for other in shared_with:
            seen = first_on.get(platforms[other])
            if seen is None or (posted[other], keys[other]) < (posted[seen], keys[seen]):
                first_on[platforms[other]] = other
        reposts = sorted(first_on.values(), key=lambda other: (posted[other], keys[other]))
        found.extend(
            Reappearance(
                keys[old],
                str(old_platform),
                removed_at,
                keys[other],
                platforms[other],
                posted[other],
                sorted(shared_with[other]),
            )
            for other in reposts
        )
    return found


def write_reappearances(store: GraphStore, found: list[Reappearance]) -> None:
    """REAPPEARS_AS edges from each removed posting to where it came back (one edge per
    pair: each removal keeps one repost per platform). They are re-derived on every run, so
    the store replaces the whole type, writing only the rows that changed."""
    prov = Provenance("prexus-analyze", None, None, None, now_iso())
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
    store.replace_edges(RelType.REAPPEARS_AS, edges)

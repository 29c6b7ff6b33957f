"""Turn checked records into graph entities: nodes, edges and warnings.

One builder per record kind. Everything a record points at (its platform, countries,
substances, route, companies) is created in the same batch, so an edge never waits for a
file that has not been ingested yet; later records fill in the details by key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from graph.schema import (
    IDENTIFIER_KINDS,
    Edge,
    Label,
    Node,
    NodeRef,
    Provenance,
    RelType,
    encode_props,
    make_edge,
    make_node,
    relationship_type,
)
from ingest.identifiers import (
    Identifier,
    ascii_twin,
    extract_identifiers,
    parse_contact,
    region_matters,
)
from ingest.names import find_company_names, normalise_company, normalise_person
from ingest.records import FieldError, country
from ingest.substances import Substance, SubstanceReference, substance_key


@dataclass(slots=True)
class Entities:
    """What one record becomes."""

    primary: str  # the label or relationship type whose counts are the record's counts
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, node: Node) -> NodeRef:
        self.nodes.append(node)
        return node.ref

    def link(
        self,
        rel: RelType,
        source: NodeRef,
        target: NodeRef,
        prov: Provenance,
        **props: Any,
    ) -> None:
        self.edges.append(make_edge(rel, source, target, prov, props))


@dataclass(slots=True)
class IngestContext:
    """What builders need beyond the record: the substance reference, known platforms."""

    source: str
    reference: SubstanceReference
    platform_names: dict[str, str] = field(default_factory=dict)  # alias (folded) -> name
    platform_countries: dict[str, str] = field(default_factory=dict)  # name -> country

    def learn_platform(self, name: str, domain: str | None, country_code: str | None) -> None:
        for alias in (name, domain):
            if alias:
                self.platform_names[alias.casefold()] = name
        if country_code:
            self.platform_countries[name] = country_code

    def platform_name(self, given: str) -> str:
        folded = given.casefold().removeprefix("www.")
        return self.platform_names.get(folded) or self.platform_names.get(given.casefold(), given)


def content_sha256(data: dict[str, Any]) -> str:
    """SHA-256 of the record as captured (canonical JSON: sorted keys, no spaces, UTF-8
    kept), cited in evidence reports. A record holds only JSON values (readers make them),
    so the properties encoder writes exactly that."""
    return hashlib.sha256(encode_props(data).encode()).hexdigest()


_REQUEST_CUES = re.compile(
    r"\b(looking for|wtb|want(?:ed)? to buy|we need|i need|need(?:ed)?|buying|buy|purchase|"
    r"request(?:ing)?|require[sd]?|seeking|searching for|who (?:has|can supply|sells))\b",
    re.IGNORECASE,
)
_OFFER_CUES = re.compile(
    r"\b(supply|supplier of|we supply|sell(?:ing)?|for sale|in stock|offer(?:ing)?|provide|"
    r"manufacturer|factory|wholesale|hot sale|best price|high purity|safe delivery|"
    r"door to door)\b",
    re.IGNORECASE,
)


# The same cues for ASCII text, where they match exactly what the Unicode ones match: about
# twice as fast, since a letter then has no non-ASCII case variants to compare against.
_ASCII_CUES = ascii_twin(_REQUEST_CUES), ascii_twin(_OFFER_CUES)


def infer_posting_kind(text: str) -> str:
    """Offer unless the text asks for goods more than it sells them."""
    request_cues, offer_cues = _ASCII_CUES if text.isascii() else (_REQUEST_CUES, _OFFER_CUES)
    requests = len(request_cues.findall(text))
    offers = len(offer_cues.findall(text))
    return "request" if requests > offers else "offer"


MEMO_SIZE = 65_536
"""Entries kept by each memo below. The same contacts, names, platforms and titles recur
across thousands of records: their parsing and node checks run once per value, not once per
record, and the memos stay bounded (tens of MB in all) however long the input is. A million
demo postings carry about 45,000 distinct contacts: with 16,384 entries only half of the
contact look-ups hit late in such a run, with 65,536 three quarters (docs/benchmarks.md)."""

Template = tuple[Node, NodeRef]
"""A checked node with a placeholder provenance, and its ref: `_placed` gives it a record's."""


def _template(label: Label, props: dict[str, Any]) -> Template:
    node = make_node(label, props, Provenance("reference"))
    return node, node.ref


def _placed(ents: Entities, template: Template, prov: Provenance) -> NodeRef:
    """Add a memoised node with this record's provenance. Its props dict is shared, which is
    safe: stores and merges never change a node's props in place."""
    node, ref = template
    ents.nodes.append(Node(node.label, node.key, node.props, prov))
    return ref


@lru_cache(maxsize=MEMO_SIZE)
def _country_template(code: str) -> Template:
    return _template(Label.COUNTRY, {"code": code})


@lru_cache(maxsize=MEMO_SIZE)
def _identifier_template(kind: str, value: str) -> Template:
    return _template(Label.IDENTIFIER, {"kind": kind, "value": value})


@lru_cache(maxsize=MEMO_SIZE)
def _platform_template(name: str) -> Template:
    props: dict[str, Any] = {"name": name}
    if "." in name and " " not in name:
        props["domain"] = name.casefold()
    return _template(Label.PLATFORM, props)


@lru_cache(maxsize=4096)
def _substance_template(substance: Substance) -> Template:
    props = {
        "key": substance.key,
        "name": substance.name,
        "cas": substance.cas,
        "synonyms": substance.synonyms,
        "table": substance.table,
        "in_force": substance.in_force,
        "analogue_of": substance.analogue_of,
    }
    return _template(Label.SUBSTANCE, props)


@lru_cache(maxsize=MEMO_SIZE)
def _party_template(name: str) -> Template:
    if looks_like_person(name):
        return _template(Label.PERSON, {"name": name, "normalised": normalise_person(name)})
    normalised = normalise_company(name) or name.casefold()
    return _template(Label.COMPANY, {"name": name, "normalised": normalised})


@lru_cache(maxsize=MEMO_SIZE)
def _short_text_identifiers(text: str, region: str | None) -> tuple[Identifier, ...]:
    """Identifiers of a title: short texts repeat (one in two titles in the demo world)."""
    return tuple(extract_identifiers(text, region))


@lru_cache(maxsize=MEMO_SIZE)
def _contact_identifiers(value: str, region: str | None) -> tuple[Identifier, ...]:
    """One contacts-field value as free text, else as one contact; most values recur."""
    extracted = extract_identifiers(value, region)
    if not extracted:
        single = parse_contact(value, None, region)
        return (single,) if single else ()
    return tuple(extracted)


def _country_node(ents: Entities, code: str, prov: Provenance) -> NodeRef:
    return _placed(ents, _country_template(code), prov)


def _identifier_node(ents: Entities, ident: Identifier, prov: Provenance) -> NodeRef:
    return _placed(ents, _identifier_template(ident.kind, ident.value), prov)


_HAS_IDENTIFIER = relationship_type(RelType.HAS_IDENTIFIER)


def _link_identifiers(
    ents: Entities,
    owner: NodeRef,
    found: Iterable[tuple[str, Identifier]],
    prov: Provenance,
) -> None:
    """Identifier nodes and HAS_IDENTIFIER edges, one per (kind, value), evidence kept.

    Builds each edge's props already clean (what make_edge would make of them), since a
    posting has several: evidence as written, the first field it was seen in, channels."""
    if not _HAS_IDENTIFIER.allows(owner.label, Label.IDENTIFIER):
        raise ValueError(f"{RelType.HAS_IDENTIFIER} cannot join {owner.label} to Identifier")
    seen: dict[NodeRef, tuple[list[str], str, set[str]]] = {}
    for source_field, ident in found:
        template = _identifier_template(ident.kind, ident.value)
        have = seen.get(template[1])
        if have is None:
            ref = _placed(ents, template, prov)
            seen[ref] = ([ident.raw], source_field, set(ident.channels))
            continue
        if ident.raw not in have[0]:
            have[0].append(ident.raw)
        have[2].update(ident.channels)
    for ref, (evidence, field_name, channels) in seen.items():
        props: dict[str, Any] = {"evidence": evidence, "field": field_name}
        if channels:
            props["channels"] = sorted(channels)
        ents.edges.append(Edge(RelType.HAS_IDENTIFIER, owner, ref, props, prov))


def _contacts(values: Iterable[str], region: str | None) -> list[tuple[str, Identifier]]:
    """Identifiers of a contacts field: each value as free text, else as one contact."""
    return [
        ("contacts", ident)
        for value in values
        for ident in _contact_identifiers(value, region if region_matters(value) else None)
    ]


def _substance_node(ents: Entities, substance: Substance, prov: Provenance) -> NodeRef:
    return _placed(ents, _substance_template(substance), prov)


def party_node(ents: Entities, name: str, prov: Provenance) -> NodeRef:
    """A consignor, consignee, owner or licence holder: a Company unless it reads like a
    person's name."""
    return _placed(ents, _party_template(name), prov)


_COMPANY_WORDS = re.compile(
    r"\b(co|corp|company|ltd|limited|llc|inc|gmbh|ag|sa|sas|sarl|bv|nv|srl|spa|plc|pvt|oy|ab|"
    r"kg|ooo|trading|chemicals?|chem|pharma\w*|industr\w*|group|import|export|logistics|"
    r"technolog\w*|biotech\w*|enterprises?|international|holdings?|labs?|laborator\w*|"
    r"supply|supplies|materials?|science|sciences|shipping|freight|development)\b",
    re.IGNORECASE,
)


def looks_like_person(name: str) -> bool:
    words = name.replace(".", " ").split()
    return (
        2 <= len(words) <= 4
        and not _COMPANY_WORDS.search(name)
        and all(w[:1].isalpha() for w in words)
    )


# --- builders ---------------------------------------------------------------------------------


def posting_entities(rec: dict[str, Any], ctx: IngestContext, prov: Provenance) -> Entities:
    ents = Entities(str(Label.POSTING))
    platform = ctx.platform_name(rec["platform"])
    region = rec.get("country") or ctx.platform_countries.get(platform)
    body = " \n".join(str(rec[name]) for name in ("title", "text") if rec.get(name))
    props = {k: v for k, v in rec.items() if k != "contacts"}
    props["platform"] = platform
    if "kind" not in props:
        props["kind"] = infer_posting_kind(body)
        props["kind_inferred"] = True
    props["content_sha256"] = content_sha256(rec)
    mentions, invalid = ctx.reference.find(body)
    if invalid:
        props["invalid_cas"] = [bad.raw for bad in invalid]
        ents.warnings.extend(f"invalid CAS {bad.raw!r}: {bad.reason}" for bad in invalid)
    posting = ents.add(make_node(Label.POSTING, props, prov))

    # endpoints fixed by this builder (Posting -> Platform, Posting -> Country), props empty:
    # Edge directly, without make_edge's checks
    platform_ref = _placed(ents, _platform_template(platform), prov)
    ents.edges.append(Edge(RelType.POSTED_ON, posting, platform_ref, {}, prov))
    if rec.get("country"):
        country_ref = _country_node(ents, rec["country"], prov)
        ents.edges.append(Edge(RelType.LOCATED_IN, posting, country_ref, {}, prov))

    found: list[tuple[str, Identifier]] = []
    if rec.get("title"):
        title_text = str(rec["title"])
        title_region = region if region_matters(title_text) else None  # one entry, all regions
        title = _short_text_identifiers(title_text, title_region)
        found.extend(("title", ident) for ident in title)
    if rec.get("text"):
        found.extend(("text", ident) for ident in extract_identifiers(str(rec["text"]), region))
    found.extend(_contacts(rec.get("contacts", []), region))
    _link_identifiers(ents, posting, found, prov)

    for name in find_company_names(body):
        company = party_node(ents, name, prov)
        ents.link(RelType.MENTIONS, posting, company, prov, evidence=name, via="name")

    when = _date(rec.get("posted_at"))
    for mention in mentions:
        substance = _substance_node(ents, mention.substance, prov)
        ents.link(
            RelType.MENTIONS,
            posting,
            substance,
            prov,
            evidence=mention.raw,
            via=mention.via,
            controlled=mention.substance.controlled_at(when),
        )
    return ents


def platform_entities(rec: dict[str, Any], ctx: IngestContext, prov: Provenance) -> Entities:
    ents = Entities(str(Label.PLATFORM))
    props = dict(rec)
    if rec.get("domain"):
        props["domain"] = rec["domain"].casefold().removeprefix("www.")
    ctx.learn_platform(rec["name"], props.get("domain"), rec.get("country"))
    platform = ents.add(make_node(Label.PLATFORM, props, prov))
    if rec.get("country"):
        ents.link(RelType.LOCATED_IN, platform, _country_node(ents, rec["country"], prov), prov)
    if props.get("domain"):
        domain = parse_contact(props["domain"], "domain")
        if domain:
            _link_identifiers(ents, platform, [("domain", domain)], prov)
    return ents


def contact_entities(rec: dict[str, Any], ctx: IngestContext, prov: Provenance) -> Entities:
    ents = Entities(str(Label.IDENTIFIER))
    kind = rec.get("kind")
    if kind is not None and kind.lower() not in IDENTIFIER_KINDS:
        raise FieldError("kind", f"unknown identifier kind {kind!r}")
    ident = parse_contact(rec["value"], kind.lower() if kind else None)
    if ident is None:
        raise FieldError("value", f"not a recognisable contact: {rec['value'][:60]!r}")
    ref = _identifier_node(ents, ident, prov)
    if rec.get("owner"):
        owner = party_node(ents, rec["owner"], prov)
        ents.link(
            RelType.HAS_IDENTIFIER,
            owner,
            ref,
            prov,
            evidence=[ident.raw],
            field="value",
            note=rec.get("note"),
        )
    return ents


def _route_countries(ents: Entities, owner: NodeRef, rec: dict[str, Any], prov: Provenance) -> None:
    if rec.get("origin_country"):
        ents.link(RelType.ORIGIN, owner, _country_node(ents, rec["origin_country"], prov), prov)
    for order, code in enumerate(rec.get("transit_countries", []), start=1):
        ents.link(RelType.TRANSIT, owner, _country_node(ents, code, prov), prov, order=order)
    if rec.get("destination_country"):
        ents.link(
            RelType.DESTINATION, owner, _country_node(ents, rec["destination_country"], prov), prov
        )


def seizure_entities(rec: dict[str, Any], ctx: IngestContext, prov: Provenance) -> Entities:
    ents = Entities(str(Label.SEIZURE))
    props = {k: v for k, v in rec.items() if k != "contacts"}
    props["content_sha256"] = content_sha256(rec)
    seizure = ents.add(make_node(Label.SEIZURE, props, prov))
    if rec.get("country"):
        ents.link(RelType.SEIZED_IN, seizure, _country_node(ents, rec["country"], prov), prov)
    substance = _seized_substance(rec, ctx)
    if substance is not None:
        ents.link(
            RelType.OF_SUBSTANCE,
            seizure,
            _substance_node(ents, substance, prov),
            prov,
            quantity=rec.get("quantity"),
            unit=rec.get("unit"),
        )
    for role, rel in (("consignor", RelType.CONSIGNOR), ("consignee", RelType.CONSIGNEE)):
        if rec.get(role):
            ents.link(rel, seizure, party_node(ents, rec[role], prov), prov)
    _route_countries(ents, seizure, rec, prov)
    if rec.get("route_id"):
        route = ents.add(make_node(Label.ROUTE, {"id": rec["route_id"]}, prov))
        ents.link(RelType.ON_ROUTE, seizure, route, prov)
    region = rec.get("origin_country")
    found = _contacts(rec.get("contacts", []), region)
    for role in ("consignor", "consignee"):
        if rec.get(role):
            found.extend((role, i) for i in extract_identifiers(rec[role], region))
    _link_identifiers(ents, seizure, found, prov)
    return ents


def _seized_substance(rec: dict[str, Any], ctx: IngestContext) -> Substance | None:
    if rec.get("cas"):
        known = ctx.reference.by_key(rec["cas"])
        if known is not None:
            return known
        mentions, _ = ctx.reference.find(rec["cas"])
        if mentions:
            return mentions[0].substance
    if rec.get("substance"):
        return ctx.reference.by_name(rec["substance"]) or unlisted_substance(rec["substance"])
    return None


def unlisted_substance(name: str, cas: str | None = None) -> Substance:
    """A substance the reference does not know, keyed like the reference keys its own."""
    return Substance(
        key=substance_key(name, cas),
        name=name,
        cas=cas,
        synonyms=(),
        table="unlisted",
        in_force=None,
        analogue_of=None,
    )


def route_entities(rec: dict[str, Any], ctx: IngestContext, prov: Provenance) -> Entities:
    ents = Entities(str(Label.ROUTE))
    route = ents.add(make_node(Label.ROUTE, rec, prov))
    _route_countries(ents, route, rec, prov)
    return ents


def operator_entities(rec: dict[str, Any], ctx: IngestContext, prov: Provenance) -> Entities:
    ents = Entities(str(Label.OPERATOR))
    props = {k: v for k, v in rec.items() if k != "contacts"}
    props["normalised"] = normalise_company(rec["name"]) or rec["name"].casefold()
    operator = ents.add(make_node(Label.OPERATOR, props, prov))
    if rec.get("country"):
        ents.link(RelType.LOCATED_IN, operator, _country_node(ents, rec["country"], prov), prov)
    company = ents.add(
        make_node(Label.COMPANY, {"name": rec["name"], "normalised": props["normalised"]}, prov)
    )
    ents.link(RelType.REGISTERED_FOR, operator, company, prov)
    for cas_number in rec.get("substances", []):
        substance = ctx.reference.by_key(cas_number) or unlisted_substance(cas_number, cas_number)
        ents.link(RelType.REGISTERED_FOR, operator, _substance_node(ents, substance, prov), prov)
    for _, ident in _contacts(rec.get("contacts", []), rec.get("country")):
        ents.link(RelType.REGISTERED_FOR, operator, _identifier_node(ents, ident, prov), prov)
    return ents


_LABELS_BY_NAME = {str(label).casefold(): label for label in Label}


def link_endpoint(
    ents: Entities, value: str, kind: str | None, prov: Provenance, side: str
) -> NodeRef:
    """A node named in an edge list: a schema kind (default Person) or an identifier kind."""
    folded = (kind or "person").casefold()
    if folded in IDENTIFIER_KINDS or folded == "identifier":
        ident = parse_contact(value, None if folded == "identifier" else folded)
        if ident is None:
            raise FieldError(side, f"not a valid {folded}: {value[:60]!r}")
        return _identifier_node(ents, ident, prov)
    label = _LABELS_BY_NAME.get(folded)
    if label is None:
        raise FieldError(f"{side}_kind", f"unknown kind {kind!r}")
    if label in (Label.PERSON, Label.COMPANY):
        normalise = normalise_person if label is Label.PERSON else normalise_company
        props = {"name": value, "normalised": normalise(value) or value.casefold()}
    elif label is Label.COUNTRY:
        try:
            props = {"code": country(value)}
        except ValueError as exc:
            raise FieldError(side, str(exc)) from None
    elif label is Label.PLATFORM:
        props = {"name": value}
    elif label is Label.SUBSTANCE:
        props = {"key": value, "name": value}
    elif label is Label.IDENTIFIER:
        raise FieldError(side, "identifier kind needed")
    else:
        props = {"id": value}
    return ents.add(make_node(label, props, prov))


def link_entities(rec: dict[str, Any], ctx: IngestContext, prov: Provenance) -> Entities:
    ents = Entities(str(RelType.LINKED_TO))
    source = link_endpoint(ents, rec["source"], rec.get("source_kind"), prov, "source")
    target = link_endpoint(ents, rec["target"], rec.get("target_kind"), prov, "target")
    extra = {
        k: v for k, v in rec.items() if k not in ("source", "target", "source_kind", "target_kind")
    }
    ents.link(RelType.LINKED_TO, source, target, prov, **extra)
    return ents


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


Builder = Callable[[dict[str, Any], IngestContext, Provenance], Entities]
BUILDERS: dict[str, Builder] = {
    "postings": posting_entities,
    "platforms": platform_entities,
    "contacts": contact_entities,
    "seizures": seizure_entities,
    "routes": route_entities,
    "operators": operator_entities,
    "links": link_entities,
}

"""The one declaration of what Prexus stores.

Every node kind, its natural key and properties, and every relationship type with its
allowed endpoints are declared here once. Stores derive their constraints and indexes,
the API derives its models and the views derive their styles from these tables, so adding
a kind is a change in one place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, TypeVar

Scalar = str | int | float | bool | None
PropertyValue = Scalar | list[str] | list[int] | list[float]


class Label(StrEnum):
    """Node kinds."""

    POSTING = "Posting"
    PLATFORM = "Platform"
    IDENTIFIER = "Identifier"
    COMPANY = "Company"
    PERSON = "Person"
    SUBSTANCE = "Substance"
    SEIZURE = "Seizure"
    COUNTRY = "Country"
    ROUTE = "Route"
    ACTOR = "Actor"
    OPERATOR = "Operator"


class RelType(StrEnum):
    """Relationship types."""

    POSTED_ON = "POSTED_ON"
    HAS_IDENTIFIER = "HAS_IDENTIFIER"
    MENTIONS = "MENTIONS"
    LOCATED_IN = "LOCATED_IN"
    SEIZED_IN = "SEIZED_IN"
    OF_SUBSTANCE = "OF_SUBSTANCE"
    CONSIGNOR = "CONSIGNOR"
    CONSIGNEE = "CONSIGNEE"
    ON_ROUTE = "ON_ROUTE"
    ORIGIN = "ORIGIN"
    TRANSIT = "TRANSIT"
    DESTINATION = "DESTINATION"
    MEMBER_OF = "MEMBER_OF"
    LINKED_TO = "LINKED_TO"
    REGISTERED_FOR = "REGISTERED_FOR"
    REAPPEARS_AS = "REAPPEARS_AS"


IDENTIFIER_KINDS: tuple[str, ...] = (
    "phone",
    "email",
    "telegram",
    "wickr",
    "whatsapp",
    "signal",
    "threema",
    "wechat",
    "skype",
    "domain",
    "url",
    "btc",
    "eth",
    "tron",
)

PROVENANCE_FIELDS: tuple[str, ...] = (
    "source",
    "source_record",
    "first_seen",
    "last_seen",
    "ingested_at",
)


@dataclass(frozen=True, slots=True)
class Style:
    """How a kind is drawn in network views (vis-network shape names)."""

    color: str
    shape: str


@dataclass(frozen=True, slots=True)
class NodeType:
    """A node kind: its label, how its key is built, and its known properties."""

    label: Label
    key_fields: tuple[str, ...]
    caption: str
    properties: tuple[str, ...]
    indexed: tuple[str, ...] = ()
    text_fields: tuple[str, ...] = ()
    style: Style = Style("#97c2fc", "dot")
    doc: str = ""

    def make_key(self, values: Mapping[str, Any]) -> str:
        """Build the natural key from its fields; a composite key joins them with ':'."""
        parts = []
        for name in self.key_fields:
            value = values.get(name)
            if value is None or value == "":
                raise ValueError(f"{self.label} needs {name!r} for its key")
            parts.append(str(value))
        return ":".join(parts)


@dataclass(frozen=True, slots=True)
class RelationshipType:
    """A relationship type and the node kinds it may join."""

    type: RelType
    sources: frozenset[Label]
    targets: frozenset[Label]
    properties: tuple[str, ...] = ()
    doc: str = ""

    def allows(self, source: Label, target: Label) -> bool:
        return source in self.sources and target in self.targets


def _node(
    label: Label,
    key: tuple[str, ...],
    caption: str,
    props: tuple[str, ...],
    style: Style,
    doc: str,
    indexed: tuple[str, ...] = (),
    text: tuple[str, ...] = (),
) -> NodeType:
    return NodeType(label, key, caption, props, indexed, text, style, doc)


NODE_TYPES: dict[Label, NodeType] = {
    t.label: t
    for t in (
        _node(
            Label.POSTING,
            ("id",),
            "title",
            (
                "id",
                "platform",
                "url",
                "posted_at",
                "kind",
                "title",
                "text",
                "author",
                "country",
                "price",
                "quantity",
                "removed_at",
                "removed_by",
                "content_sha256",
                "cluster",
            ),
            Style("#4e79a7", "box"),
            "An advert or request seen on a platform; the id is the one in the input file.",
            indexed=("posted_at", "kind", "platform", "cluster"),
            text=("title", "text", "author"),
        ),
        _node(
            Label.PLATFORM,
            ("name",),
            "name",
            ("name", "domain", "kind", "country", "cooperation"),
            Style("#f28e2b", "diamond"),
            "A site, social network, forum or messenger where postings appear.",
            indexed=("domain",),
            text=("name", "domain"),
        ),
        _node(
            Label.IDENTIFIER,
            ("kind", "value"),
            "value",
            ("kind", "value", "channels", "hub", "cluster"),
            Style("#e15759", "dot"),
            "A contact detail (phone, email, handle, wallet, domain, URL), normalised.",
            indexed=("kind", "hub"),
            text=("value",),
        ),
        _node(
            Label.COMPANY,
            ("normalised",),
            "name",
            ("name", "normalised", "country", "aliases", "cluster"),
            Style("#76b7b2", "square"),
            "A company; keyed by its normalised name so spelling variants meet.",
            text=("name", "aliases"),
        ),
        _node(
            Label.PERSON,
            ("normalised",),
            "name",
            ("name", "normalised", "aliases", "cluster"),
            Style("#59a14f", "triangle"),
            "A person named in a record.",
            text=("name", "aliases"),
        ),
        _node(
            Label.SUBSTANCE,
            ("key",),
            "name",
            ("key", "name", "cas", "synonyms", "table", "in_force", "analogue_of"),
            Style("#edc948", "hexagon"),
            "A chemical; keyed by CAS number when known.",
            indexed=("cas",),
            text=("name", "cas", "synonyms"),
        ),
        _node(
            Label.SEIZURE,
            ("id",),
            "id",
            (
                "id",
                "date",
                "substance",
                "cas",
                "quantity",
                "unit",
                "country",
                "consignor",
                "consignee",
                "cluster",
            ),
            Style("#b07aa1", "star"),
            "A seizure incident, as exchanged between authorities.",
            indexed=("date",),
            text=("id", "substance", "consignor", "consignee"),
        ),
        _node(
            Label.COUNTRY,
            ("code",),
            "code",
            ("code", "name"),
            Style("#9c755f", "ellipse"),
            "A country, ISO 3166 alpha-2.",
        ),
        _node(
            Label.ROUTE,
            ("id",),
            "id",
            ("id", "origin_country", "transit_countries", "destination_country", "mode"),
            Style("#bab0ac", "triangleDown"),
            "A trafficking route: origin, transit and destination countries.",
        ),
        _node(
            Label.ACTOR,
            ("id",),
            "id",
            ("id", "size", "postings", "seizures", "confidence", "status", "merged_into"),
            Style("#ff9da7", "star"),
            "An identity cluster: the postings and records that one trafficker is behind.",
        ),
        _node(
            Label.OPERATOR,
            ("id",),
            "name",
            (
                "id",
                "name",
                "normalised",
                "country",
                "registration_no",
                "substances",
                "valid_from",
                "valid_to",
            ),
            Style("#86bcb6", "square"),
            "A licence holder in a regulator's register of operators.",
            indexed=("normalised",),
            text=("name", "registration_no"),
        ),
    )
}

_ANY_RECORD = frozenset({Label.POSTING, Label.SEIZURE, Label.COMPANY, Label.PERSON, Label.OPERATOR})
_ENTITIES = frozenset(Label)


def _rel(
    rel: RelType,
    sources: Iterable[Label],
    targets: Iterable[Label],
    doc: str,
    props: tuple[str, ...] = (),
) -> RelationshipType:
    return RelationshipType(rel, frozenset(sources), frozenset(targets), props, doc)


RELATIONSHIP_TYPES: dict[RelType, RelationshipType] = {
    r.type: r
    for r in (
        _rel(RelType.POSTED_ON, [Label.POSTING], [Label.PLATFORM], "Where a posting appeared."),
        _rel(
            RelType.HAS_IDENTIFIER,
            _ANY_RECORD | {Label.PLATFORM},
            [Label.IDENTIFIER],
            "A record shows this contact; `evidence` holds the text as written.",
            ("evidence", "field", "channels"),
        ),
        _rel(
            RelType.MENTIONS,
            [Label.POSTING],
            [Label.SUBSTANCE, Label.COMPANY, Label.PERSON],
            "A posting names a substance (with its control status at the posting's date).",
            ("evidence", "via", "controlled"),
        ),
        _rel(
            RelType.LOCATED_IN,
            [Label.POSTING, Label.PLATFORM, Label.COMPANY, Label.OPERATOR, Label.PERSON],
            [Label.COUNTRY],
            "Stated country.",
        ),
        _rel(RelType.SEIZED_IN, [Label.SEIZURE], [Label.COUNTRY], "Where a seizure happened."),
        _rel(
            RelType.OF_SUBSTANCE,
            [Label.SEIZURE],
            [Label.SUBSTANCE],
            "What was seized.",
            ("quantity", "unit"),
        ),
        _rel(RelType.CONSIGNOR, [Label.SEIZURE], [Label.COMPANY, Label.PERSON], "Sender."),
        _rel(RelType.CONSIGNEE, [Label.SEIZURE], [Label.COMPANY, Label.PERSON], "Receiver."),
        _rel(RelType.ON_ROUTE, [Label.SEIZURE], [Label.ROUTE], "The route a shipment took."),
        _rel(RelType.ORIGIN, [Label.ROUTE, Label.SEIZURE], [Label.COUNTRY], "Origin."),
        _rel(
            RelType.TRANSIT,
            [Label.ROUTE, Label.SEIZURE],
            [Label.COUNTRY],
            "Transit country.",
            ("order",),
        ),
        _rel(RelType.DESTINATION, [Label.ROUTE, Label.SEIZURE], [Label.COUNTRY], "Destination."),
        _rel(
            RelType.MEMBER_OF,
            _ANY_RECORD | {Label.IDENTIFIER},
            [Label.ACTOR],
            "Belongs to an identity cluster.",
            ("confidence",),
        ),
        _rel(
            RelType.LINKED_TO,
            _ENTITIES,
            _ENTITIES,
            "A generic analyst link (i2, Gephi, UCINET edge lists) or a weak tie between actors.",
            ("weight", "type", "date"),
        ),
        _rel(
            RelType.REGISTERED_FOR,
            [Label.OPERATOR],
            [Label.SUBSTANCE, Label.IDENTIFIER, Label.COMPANY],
            "A licence covers this substance / lists this contact / is held by this company.",
        ),
        _rel(
            RelType.REAPPEARS_AS,
            [Label.POSTING],
            [Label.POSTING],
            "A removed posting's contacts reappeared in another posting.",
            ("evidence",),
        ),
    )
}


_Declared = TypeVar("_Declared")


def _declared(
    table: dict[Any, _Declared], names: type[StrEnum], value: str, what: str
) -> _Declared:
    """Look a name up in a declaration table, with a clear error naming the valid ones."""
    if type(value) is names:
        return table[value]
    try:
        return table[names(value)]
    except ValueError:
        valid = ", ".join(sorted(str(name) for name in names))
        raise ValueError(f"unknown {what} {value!r} (valid: {valid})") from None


def node_type(label: str | Label) -> NodeType:
    return _declared(NODE_TYPES, Label, label, "node kind")


def relationship_type(rel: str | RelType) -> RelationshipType:
    return _declared(RELATIONSHIP_TYPES, RelType, rel, "relationship type")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def as_iso(value: date | datetime | str | None) -> str | None:
    """Dates travel as ISO strings so both stores compare them the same way."""
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


@dataclass(frozen=True, slots=True)
class NodeRef:
    """Points at one node: its kind and natural key."""

    label: Label
    key: str

    def __str__(self) -> str:
        return f"{self.label}:{self.key}"

    @classmethod
    def parse(cls, text: str) -> NodeRef:
        """Parse `Label:key` (the key may itself contain ':')."""
        label, sep, key = text.partition(":")
        if not sep or not key:
            raise ValueError(f"expected 'Kind:key', got {text!r}")
        return cls(node_type(label).label, key)


@dataclass(slots=True)
class Provenance:
    """Where a node or edge came from; merged on upsert (earliest first_seen, latest last_seen)."""

    source: str
    source_record: str | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    ingested_at: str = field(default_factory=now_iso)

    def as_dict(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in PROVENANCE_FIELDS}


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_ENCODE_ONCE = _C_ENCODER and _C_ENCODER(
    None, str, json.encoder.encode_basestring, None, ":", ",", True, False, True
)
"""The C encoder `_CANONICAL.encode` builds anew on each call (with the same options, so the
same output), built once: half the cost of encoding a small map, and ingest encodes one for
each node and most edges. No circular-reference check: properties are plain values."""


def encode_props(props: Mapping[str, Any]) -> str:
    """Canonical JSON of properties: sorted keys, no spaces, UTF-8 kept."""
    if _ENCODE_ONCE is None:
        return _CANONICAL.encode(props)
    return "".join(_ENCODE_ONCE(props, 0))


def digest(encoded: str) -> str:
    """A short stable digest of canonical JSON, so stores can tell an update from a no-op."""
    return hashlib.blake2b(encoded.encode(), digest_size=12).hexdigest()


def props_hash(props: Mapping[str, Any]) -> str:
    return digest(encode_props(props))


_PLAIN = (str, int, float, bool)


def _clean_props(props: Mapping[str, Any]) -> dict[str, PropertyValue]:
    """Drop empty values; nested maps become JSON text because Neo4j has no map properties;
    names starting with '_' are reserved for the stores' bookkeeping."""
    cleaned: dict[str, PropertyValue] = {}
    for raw_name, value in props.items():
        if value is None or (not value and type(value) not in (int, float, bool)):
            continue  # None, "" and empty collections say nothing
        name = raw_name if raw_name[:1] != "_" else (raw_name.lstrip("_") or "field")
        if type(value) in _PLAIN:  # the common case, first
            cleaned[name] = value
        elif isinstance(value, dict):
            cleaned[name] = json.dumps(value, sort_keys=True)
        elif isinstance(value, (set, frozenset, tuple, list)):
            cleaned[name] = _homogeneous_list(value)
        elif isinstance(value, (date, datetime)):
            cleaned[name] = value.isoformat()
        else:
            cleaned[name] = value
    return cleaned


def _homogeneous_list(values: Iterable[Any]) -> list[Any] | str:
    """Neo4j lists hold one primitive type; anything else travels as JSON text."""
    items = sorted(values, key=str) if isinstance(values, (set, frozenset)) else list(values)
    kinds = {type(v) for v in items}
    if len(kinds) == 1 and next(iter(kinds)) in _PLAIN:
        return items
    return json.dumps(items, sort_keys=True, default=str)


@dataclass(slots=True)
class Node:
    """One entity to store."""

    label: Label
    key: str
    props: dict[str, PropertyValue]
    provenance: Provenance

    @property
    def ref(self) -> NodeRef:
        return NodeRef(self.label, self.key)


@dataclass(slots=True)
class Edge:
    """One relationship to store; identified by (type, source, target)."""

    type: RelType
    source: NodeRef
    target: NodeRef
    props: dict[str, PropertyValue]
    provenance: Provenance


def make_node(label: str | Label, props: Mapping[str, Any], provenance: Provenance) -> Node:
    """Build a node whose key derives from its schema-declared key fields."""
    kind = node_type(label)
    cleaned = _clean_props(props)
    return Node(kind.label, kind.make_key(cleaned), cleaned, provenance)


def make_edge(
    rel: str | RelType,
    source: NodeRef,
    target: NodeRef,
    provenance: Provenance,
    props: Mapping[str, Any] | None = None,
) -> Edge:
    """Build an edge, refusing endpoints the schema does not allow."""
    kind = relationship_type(rel)
    if not kind.allows(source.label, target.label):
        raise ValueError(f"{kind.type} cannot join {source.label} to {target.label}")
    return Edge(kind.type, source, target, _clean_props(props or {}), provenance)


def identifier_key(kind: str, value: str) -> str:
    return f"{kind}:{value}"


def schema_document() -> dict[str, Any]:
    """The schema as plain data, served by the API so other systems can discover it."""
    return {
        "nodes": [
            {
                "label": str(t.label),
                "key": list(t.key_fields),
                "properties": list(t.properties),
                "style": {"color": t.style.color, "shape": t.style.shape},
                "doc": t.doc,
            }
            for t in NODE_TYPES.values()
        ],
        "relationships": [
            {
                "type": str(r.type),
                "sources": sorted(str(s) for s in r.sources),
                "targets": sorted(str(t) for t in r.targets),
                "properties": list(r.properties),
                "doc": r.doc,
            }
            for r in RELATIONSHIP_TYPES.values()
        ],
        "identifier_kinds": list(IDENTIFIER_KINDS),
        "provenance": list(PROVENANCE_FIELDS),
    }

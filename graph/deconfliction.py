"""Deconfliction without sharing raw data: which contacts two agencies both hold.

Each side hashes its identifiers with a salt agreed out of band for this one exchange:
HMAC-SHA256(key = salt, message = "kind:normalised value"), in hex. A partner who knows the
salt and holds the same phone computes the same hash; anyone without the salt cannot test
guesses against the list (a plain hash of a phone number falls to trying every number).

The kind (phone, email, telegram...) travels in clear beside each hash: it says what sort of
contact matched and costs little (a partner learns how many phones we hold, not which). It
is inside the hashed message too, so a phone never matches an e-mail that happens to share
its text. Values are hashed as Prexus normalises them (phones in E.164, e-mails lower case,
handles without `@`...), the same as the Identifier node keys, so both sides must normalise
alike: a partner running Prexus does. Hub identifiers (platform footers, escrow services)
are left out of exports: matching them would say nothing about a shared target.

Files are JSON Lines, or CSV, whose first line is a header that names the scheme and carries
a salt check (an HMAC of a fixed text), so a receiver learns that the salts differ instead
of finding no match.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from graph.exports import CLUSTER_NETWORK_LIMIT, cluster_network
from graph.schema import Label, NodeRef, RelType, now_iso
from graph.store import GraphStore, NodeFilter

SCHEME = "prexus-deconfliction/1"
ALGORITHM = "HMAC-SHA256"
MESSAGE = "kind:normalised value, UTF-8"
MIN_SALT_BYTES = 16
SALT_CHECK_TEXT = b"prexus-deconfliction/1 salt check"
MATCH_RECORDS_SHOWN = 20
"""Records listed behind each matched identifier (the count says how many there are)."""
MAX_HASHES = 1_000_000
"""Most entries a partner's list may hold."""

HashFormat = Literal["jsonl", "csv"]
HASH_FORMATS: tuple[HashFormat, ...] = ("jsonl", "csv")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CONTACTS = NodeFilter(
    labels=frozenset({Label.IDENTIFIER}), rel_types=frozenset({RelType.HAS_IDENTIFIER})
)
_HOLDERS = NodeFilter(rel_types=frozenset({RelType.HAS_IDENTIFIER}))


class DeconflictionError(ValueError):
    """A salt or a hash list that cannot be used; the message says why."""


def check_salt(salt: bytes) -> bytes:
    """Refuse a salt short enough to guess: the whole protection is that it is secret."""
    if len(salt) < MIN_SALT_BYTES:
        raise DeconflictionError(
            f"the salt is {len(salt)} bytes; use at least {MIN_SALT_BYTES} random bytes "
            "(prexus deconflict new-salt writes one)"
        )
    return salt


def salt_from_text(text: str) -> bytes:
    """A salt as written in a file or a form: its UTF-8 bytes, surrounding whitespace (the
    newline an editor adds) removed. It is used as written, not hex-decoded."""
    return check_salt(text.strip().encode("utf-8"))


def read_salt(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeconflictionError(f"cannot read the salt file {path}: {exc}") from None
    return salt_from_text(text)


def new_salt() -> str:
    """32 random bytes as 64 hex characters: a salt to send the partner out of band."""
    return secrets.token_hex(32)


def identifier_hash(salt: bytes, kind: str, value: str) -> str:
    return hmac.new(salt, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def salt_check(salt: bytes) -> str:
    """Tells two salts apart without revealing either (an HMAC of a fixed text)."""
    return hmac.new(salt, SALT_CHECK_TEXT, hashlib.sha256).hexdigest()[:16]


def _kind_value(ref: NodeRef) -> tuple[str, str]:
    kind, _, value = ref.key.partition(":")
    return kind, value


# --- which identifiers --------------------------------------------------------------------


def identifiers_of(store: GraphStore, records: list[NodeRef], limit: int) -> list[NodeRef]:
    """The identifiers among `records` and those the records show."""
    if not records:
        return []
    around = store.ego(records, 1, _CONTACTS, limit=limit + len(records))
    return [n.ref for n in around.nodes if n.label is Label.IDENTIFIER]


def scope_identifiers(
    store: GraphStore, *, case: str | None = None, cluster: str | None = None
) -> tuple[str, list[NodeRef]]:
    """(what the scope is called, its identifiers without hubs): a case's records, a
    cluster's, or without either the whole store. LookupError for an unknown case or
    cluster."""
    if case and cluster:
        raise DeconflictionError("give a case or a cluster, not both")
    if cluster:
        sub = cluster_network(store, cluster)
        if sub is None:
            raise LookupError(f"no cluster {cluster!r}")
        nodes = [n for n in sub.nodes if n.label is Label.IDENTIFIER]
        scope = f"cluster:{cluster}"
    elif case:
        from graph.cases import case_records  # cases sit above the graph; import on use

        refs = identifiers_of(store, case_records(store, case, CLUSTER_NETWORK_LIMIT),
                              CLUSTER_NETWORK_LIMIT)  # fmt: skip
        nodes = store.get_nodes(refs)
        scope = f"case:{case}"
    else:
        nodes = list(store.iter_nodes(Label.IDENTIFIER))
        scope = "all"
    return scope, sorted({n.ref for n in nodes if n.props.get("hub") is not True}, key=str)


# --- export ----------------------------------------------------------------------------------


def export_header(salt: bytes, scope: str, count: int) -> dict[str, Any]:
    return {
        "scheme": SCHEME,
        "algorithm": ALGORITHM,
        "message": MESSAGE,
        "kind": "in clear",
        "salt_check": salt_check(salt),
        "scope": scope,
        "count": count,
        "created_at": now_iso(),
    }


def hashed_rows(salt: bytes, refs: Iterable[NodeRef]) -> list[dict[str, str]]:
    """{"kind", "hash"} per identifier, sorted by hash so the order gives nothing away."""
    rows = [{"kind": k, "hash": identifier_hash(salt, k, v)} for k, v in map(_kind_value, refs)]
    return sorted(rows, key=lambda row: row["hash"])


def write_hash_list(salt: bytes, scope: str, refs: list[NodeRef], fmt: HashFormat = "jsonl") -> str:
    """The hash list as text: the header line, then one row per identifier. In CSV the
    header is a `#` comment line holding the same JSON, then `kind,hash` rows."""
    check_salt(salt)
    rows = hashed_rows(salt, refs)
    header = json.dumps(export_header(salt, scope, len(rows)))
    if fmt == "jsonl":
        return "".join(f"{line}\n" for line in [header, *map(json.dumps, rows)])
    out = io.StringIO()
    out.write(f"# {header}\n")
    writer = csv.DictWriter(out, ["kind", "hash"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# --- import and match ------------------------------------------------------------------------


@dataclass(slots=True)
class HashList:
    """A partner's list as read: its header if it has one, and (kind or None, hash) pairs."""

    header: dict[str, Any] | None = None
    entries: list[tuple[str | None, str]] = field(default_factory=list)
    unreadable: int = 0


def read_hash_list(text: str) -> HashList:
    """JSON Lines ({"kind", "hash"} objects, first line optionally the header), CSV with a
    `hash` column (and optionally `kind`; `#` lines are comments, the first may hold the
    header), or one hash per line. Lines that hold no 64-hex hash are counted, not used."""
    found = HashList()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("# {"):
        found.header = _header(lines[0][2:])
    body = [line for line in lines if not line.startswith("#")]
    if body and body[0].startswith("{"):
        for line in body:
            try:
                item = json.loads(line)
            except ValueError:
                found.unreadable += 1
                continue
            if isinstance(item, dict) and "scheme" in item and found.header is None:
                found.header = item
            elif isinstance(item, dict):
                _add(found, item.get("kind"), item.get("hash"))
            else:
                found.unreadable += 1
    elif body and "hash" in body[0].lower().split(","):
        for row in csv.DictReader(io.StringIO("\n".join(body))):
            row = {(k or "").strip().lower(): v for k, v in row.items()}
            _add(found, row.get("kind"), row.get("hash"))
    else:
        for line in body:
            _add(found, None, line)
    if found.header is not None and found.header.get("scheme") != SCHEME:
        raise DeconflictionError(
            f"this list uses scheme {found.header.get('scheme')!r}; Prexus reads {SCHEME!r}"
        )
    if len(found.entries) > MAX_HASHES:
        raise DeconflictionError(f"the list holds over {MAX_HASHES:,} hashes; split it")
    return found


def _header(text: str) -> dict[str, Any] | None:
    try:
        header = json.loads(text)
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


def _add(found: HashList, kind: object, value: object) -> None:
    digest = value.strip().lower() if isinstance(value, str) else ""
    if not _HEX64.match(digest):
        found.unreadable += 1
        return
    found.entries.append((kind.strip().lower() if isinstance(kind, str) and kind else None, digest))


@dataclass(slots=True)
class Holder:
    """A record of ours that shows a matched identifier."""

    ref: str
    label: str
    key: str
    cluster: str | None


@dataclass(slots=True)
class IdentifierMatch:
    kind: str
    value: str
    hash: str
    hub: bool
    records_total: int
    records: list[Holder]
    clusters: list[str]


@dataclass(slots=True)
class MatchReport:
    """What a partner's list and our store have in common."""

    partner_hashes: int
    unreadable_lines: int
    salt_check: Literal["same", "different", "absent"]
    matched: int
    matches: list[IdentifierMatch]
    scope: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def match_hash_list(store: GraphStore, partner: HashList, salt: bytes) -> MatchReport:
    """Our Identifier nodes whose salted hash is on the partner's list, each with the
    records that show it and their clusters. Every identifier is hashed (hubs too, flagged)
    so a match is never missed for what our export would leave out."""
    check_salt(salt)
    theirs = {digest for _, digest in partner.entries}
    ours: dict[str, NodeRef] = {}
    for node in store.iter_nodes(Label.IDENTIFIER):
        digest = identifier_hash(salt, *_kind_value(node.ref))
        if digest in theirs:
            ours[digest] = node.ref
    hubs = {n.ref for n in store.get_nodes(list(ours.values())) if n.props.get("hub") is True}
    matches = [
        _identifier_match(store, ref, digest, ref in hubs)
        for digest, ref in sorted(ours.items(), key=lambda item: str(item[1]))
    ]
    check = (partner.header or {}).get("salt_check")
    return MatchReport(
        partner_hashes=len(theirs),
        unreadable_lines=partner.unreadable,
        salt_check="absent" if not check else "same" if check == salt_check(salt) else "different",
        matched=len(matches),
        matches=matches,
        scope=(partner.header or {}).get("scope"),
    )


def _identifier_match(store: GraphStore, ref: NodeRef, digest: str, hub: bool) -> IdentifierMatch:
    around = store.ego([ref], 1, _HOLDERS, limit=MATCH_RECORDS_SHOWN + 2)  # the seed and one more
    holders = [n for n in around.nodes if n.ref != ref]
    kind, value = _kind_value(ref)
    shown = [
        Holder(str(n.ref), str(n.label), n.key,
               str(n.props["cluster"]) if n.props.get("cluster") else None)
        for n in holders[:MATCH_RECORDS_SHOWN]
    ]  # fmt: skip
    total = len(holders) if len(holders) <= MATCH_RECORDS_SHOWN else store.degree(ref)
    return IdentifierMatch(
        kind=kind, value=value, hash=digest, hub=hub, records_total=total, records=shown,
        clusters=sorted({h.cluster for h in shown if h.cluster}),
    )  # fmt: skip

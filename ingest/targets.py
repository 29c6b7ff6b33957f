"""What an analyst names to watch, normalised exactly as ingest normalises records.

A watch on "+86 138-0013-8000" must fire for a posting that writes "0086 13800138000", so
the value goes through the same normalisers the entity builders use (parse_contact,
normalise_company, the substance reference) and becomes the key of the node ingest would
make.
"""

from __future__ import annotations

from functools import lru_cache

from graph.schema import IDENTIFIER_KINDS, Label, NodeRef, identifier_key
from ingest.identifiers import PHONE_CHANNELS, parse_contact
from ingest.names import normalise_company
from ingest.substances import SubstanceReference

ENTITY_WATCH_KINDS: tuple[str, ...] = ("identifier", "company", "substance", "cluster")
TARGET_KINDS: tuple[str, ...] = (*ENTITY_WATCH_KINDS, *IDENTIFIER_KINDS)
"""What `prexus watch add KIND VALUE` takes: a watch kind, or an identifier kind (phone,
email, telegram...) that says how to read the value."""
MAX_VALUE = 500


@lru_cache(maxsize=1)
def _reference() -> SubstanceReference:
    return SubstanceReference.load()


def watch_target(kind: str, value: str) -> tuple[str, NodeRef]:
    """(watch kind, the node it watches) for KIND VALUE; ValueError saying what is wrong."""
    kind, value = kind.strip().lower(), value.strip()
    if not value:
        raise ValueError("say what to watch: the value is empty")
    if len(value) > MAX_VALUE:
        raise ValueError(f"the value is over {MAX_VALUE} characters")
    if kind == "company":
        return "company", NodeRef(Label.COMPANY, normalise_company(value) or value.casefold())
    if kind == "substance":
        substance = _reference().by_name(value)
        if substance is None:
            raise ValueError(
                f"{value!r} is not a substance of the reference (ingest/reference/"
                "precursors.csv): give its CAS number or a listed name"
            )
        return "substance", NodeRef(Label.SUBSTANCE, substance.key)
    if kind == "cluster":
        return "cluster", NodeRef(Label.ACTOR, value)
    if kind != "identifier" and kind not in IDENTIFIER_KINDS and kind not in PHONE_CHANNELS:
        raise ValueError(f"unknown watch kind {kind!r} (valid: {', '.join(TARGET_KINDS)})")
    found = parse_contact(value, None if kind == "identifier" else kind)
    if found is None:
        what = "contact" if kind == "identifier" else kind
        raise ValueError(f"{value[:60]!r} is not a recognisable {what}")
    return "identifier", NodeRef(Label.IDENTIFIER, identifier_key(found.kind, found.value))

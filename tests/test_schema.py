"""The schema refuses what it does not declare, so bad kinds never reach a store."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph.schema import (
    IDENTIFIER_KINDS,
    NODE_TYPES,
    RELATIONSHIP_TYPES,
    Label,
    NodeRef,
    Provenance,
    RelType,
    encode_props,
    make_edge,
    make_node,
    schema_document,
)


def test_every_label_and_relationship_is_declared_once() -> None:
    assert set(NODE_TYPES) == set(Label)
    assert set(RELATIONSHIP_TYPES) == set(RelType)
    for node_type in NODE_TYPES.values():
        assert set(node_type.key_fields) <= set(node_type.properties)
        assert set(node_type.text_fields) <= set(node_type.properties)


def test_identifier_key_is_kind_and_value() -> None:
    node = make_node("Identifier", {"kind": "phone", "value": "+1"}, Provenance("t"))
    assert node.key == "phone:+1"
    assert "tron" in IDENTIFIER_KINDS and "threema" in IDENTIFIER_KINDS


def test_unknown_kind_and_missing_key_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown node kind 'Vendor'"):
        make_node("Vendor", {"id": "x"}, Provenance("t"))
    with pytest.raises(ValueError, match="needs 'id'"):
        make_node(Label.POSTING, {"title": "x"}, Provenance("t"))
    with pytest.raises(ValueError, match="unknown relationship type"):
        make_edge(
            "OWNS", NodeRef(Label.POSTING, "a"), NodeRef(Label.PLATFORM, "b"), Provenance("t")
        )


def test_edge_endpoints_are_checked() -> None:
    with pytest.raises(ValueError, match="POSTED_ON cannot join Identifier to Platform"):
        make_edge(
            RelType.POSTED_ON,
            NodeRef(Label.IDENTIFIER, "a"),
            NodeRef(Label.PLATFORM, "b"),
            Provenance("t"),
        )


def test_properties_are_cleaned_for_both_stores() -> None:
    node = make_node(
        Label.POSTING,
        {"id": "1", "_key": "evil", "empty": "", "tags": {"b", "a"}, "mixed": [1, "a"]},
        Provenance("t"),
    )
    assert node.props == {"id": "1", "key": "evil", "tags": ["a", "b"], "mixed": '[1, "a"]'}


def test_schema_document_lists_everything() -> None:
    doc = schema_document()
    assert {n["label"] for n in doc["nodes"]} == {str(label) for label in Label}
    assert doc["provenance"][0] == "source"


PROP_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.dates(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(props=st.dictionaries(st.text(max_size=12), PROP_VALUES, max_size=8))
def test_encoded_props_are_canonical_json(props: dict[str, Any]) -> None:
    """Digests of stored data are of this text: the encoder built once must write exactly
    what json.dumps with the canonical options writes (floats, big integers, dates too)."""
    canonical = json.dumps(props, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=str)
    assert encode_props(props) == canonical
    assert encode_props({"day": date(2024, 12, 1)}) == '{"day":"2024-12-01"}'

"""Network views: a store Subgraph as drawable JSON, and as a NetworkX graph for export.

Colour and shape come from each kind's Style in graph.schema and size from the centrality
analysis stored on nodes, so the browser, the API and exported files all draw a kind alike.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import networkx as nx

from app.models import caption, edge_view, node_view
from app.queries import centrality
from graph.schema import NODE_TYPES, PROVENANCE_FIELDS, Edge, Label, Node, NodeRef
from graph.store import Subgraph


def network_node(node: Node, seeds: frozenset[NodeRef] = frozenset()) -> dict[str, Any]:
    """A NetworkNode as plain data: style from the schema, size from stored centrality."""
    style = NODE_TYPES[node.label].style
    return {
        **node_view(node),
        "color": style.color,
        "shape": style.shape,
        "value": centrality(node),
        "seed": node.ref in seeds,
    }


def legend(labels: Iterable[Label]) -> list[dict[str, Any]]:
    """One entry per kind present, in schema order, with how many nodes of it are drawn."""
    counts = Counter(labels)
    return [
        {
            "label": str(t.label),
            "color": t.style.color,
            "shape": t.style.shape,
            "count": counts[t.label],
        }
        for t in NODE_TYPES.values()
        if counts[t.label]
    ]


def to_network(sub: Subgraph, seeds: Sequence[NodeRef], limit: int) -> dict[str, Any]:
    """The `Network` response as plain data. Endpoints send it as a JSONResponse and the
    pages embed it: a 2-hop view is hundreds of nodes, and validating each as a model
    would cost more than reading them from the store. tests/test_api_schemathesis.py checks
    it still matches the documented model."""
    seed_set = frozenset(seeds)
    return {
        "seeds": [str(s) for s in seeds],
        "nodes": [network_node(n, seed_set) for n in sub.nodes],
        "edges": [edge_view(e) for e in sub.edges],
        "truncated": sub.truncated,
        "limit": limit,
        "legend": legend(n.label for n in sub.nodes),
    }


def schema_styles() -> dict[str, dict[str, str]]:
    """Kind -> {color, shape}: what the browser needs to draw nodes added later."""
    return {
        str(t.label): {"color": t.style.color, "shape": t.style.shape} for t in NODE_TYPES.values()
    }


# --- export ----------------------------------------------------------------------------------

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _attr(value: Any) -> str | int | float | bool:
    """GraphML and GEXF hold scalars only, and XML 1.0 forbids most control characters."""
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        return _XML_INVALID.sub("\ufffd", value)
    return value


def _uniform(records: list[dict[str, Any]]) -> None:
    """Give each attribute one type across all records (GraphML declares a type per key):
    numeric when every value is a number, text otherwise."""
    names = {name for record in records for name in record}
    for name in names:
        values = [r[name] for r in records if name in r]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        flags = all(isinstance(v, bool) for v in values)
        if numeric and not all(isinstance(v, int) for v in values):
            convert: Any = float
        elif numeric or flags:
            continue
        else:
            convert = str
        for record in records:
            if name in record:
                record[name] = convert(record[name])


# Ours, and names GEXF writers read as structure (an `id` prop would replace the node id).
_GEXF = ("id", "label", "start", "end", "pid", "viz", "weight", "key")
_NODE_RESERVED = ("entity", *_GEXF)
_EDGE_RESERVED = ("relationship", *(name for name in _GEXF if name != "weight"))


def _attrs(item: Node | Edge, reserved: tuple[str, ...]) -> dict[str, Any]:
    """Properties (renamed `prop_*` where they clash with ours) and `prov_*` provenance."""
    attrs = {
        f"prop_{name}" if name in reserved else name: _attr(value)
        for name, value in item.props.items()
    }
    prov = item.provenance.as_dict()
    attrs.update({f"prov_{name}": prov[name] for name in PROVENANCE_FIELDS if prov[name]})
    return attrs


def to_networkx(sub: Subgraph) -> nx.MultiDiGraph:
    """A directed multigraph for GraphML/GEXF/JSON: node ids `Label:key`, attributes
    `entity` (the kind), `key`, `label` (the caption Gephi shows), the properties and
    `prov_*` provenance; edges keyed and labelled by relationship type. Properties named
    like one of ours become `prop_<name>`."""
    node_attrs = [
        {
            **_attrs(n, _NODE_RESERVED),
            "entity": str(n.label),
            "key": n.key,
            "label": _attr(caption(n)),
        }
        for n in sub.nodes
    ]
    edge_attrs = [
        {**_attrs(e, _EDGE_RESERVED), "relationship": str(e.type), "label": str(e.type)}
        for e in sub.edges
    ]
    _uniform(node_attrs)
    _uniform(edge_attrs)
    graph = nx.MultiDiGraph()
    for node, attrs in zip(sub.nodes, node_attrs, strict=True):
        graph.add_node(str(node.ref), **attrs)
    for edge, attrs in zip(sub.edges, edge_attrs, strict=True):
        graph.add_edge(str(edge.source), str(edge.target), key=str(edge.type), **attrs)
    return graph

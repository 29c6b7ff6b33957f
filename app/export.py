"""Network files for other tools: GraphML (yEd, Cytoscape), GEXF (Gephi), node-link JSON
(d3, NetworkX) and a zip of nodes.csv + edges.csv (spreadsheets, i2, UCINET)."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

import networkx as nx
from networkx.readwrite.gexf import GEXFWriter

from app.network import to_networkx
from graph.store import Subgraph


class ExportFormat(StrEnum):
    graphml = "graphml"
    gexf = "gexf"
    csv = "csv"
    json = "json"


MEDIA_TYPES: dict[ExportFormat, str] = {
    ExportFormat.graphml: "application/graphml+xml",
    ExportFormat.gexf: "application/gexf+xml",
    ExportFormat.csv: "application/zip",
    ExportFormat.json: "application/json",
}

EXTENSIONS: dict[ExportFormat, str] = {
    ExportFormat.graphml: "graphml",
    ExportFormat.gexf: "gexf",
    ExportFormat.csv: "zip",
    ExportFormat.json: "json",
}

_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(fmt: ExportFormat, stem: str = "prexus-network") -> str:
    """The download's file name: the stem (a cluster or case id) kept to characters every
    file system and Content-Disposition header takes."""
    return f"{_UNSAFE_IN_NAME.sub('-', stem).strip('-.') or 'prexus-network'}.{EXTENSIONS[fmt]}"


FILE_NAMES: dict[ExportFormat, str] = {fmt: file_name(fmt) for fmt in ExportFormat}


_NAME_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


def graphml_name(text: str) -> str:
    """GraphML ids and attribute names must be XML name tokens (its XSD says NMTOKEN), which
    a phone's `+` or a company's spaces are not: any character but ASCII letters, digits and
    `._:-` is written `_hex_`, so `Identifier:phone:+86...` becomes
    `Identifier:phone:_2b_86...`. The `entity` and `key` attributes keep them as they are."""
    return "".join(c if c in _NAME_SAFE else f"_{ord(c):x}_" for c in text) or "_"


def _token_names(names: Iterable[str]) -> dict[str, str]:
    """Each name as a GraphML token, distinct ones kept distinct (`-2`, `-3`... in the rare
    case two escape alike)."""
    tokens: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        token = base = graphml_name(name)
        number = 1
        while token in used:
            number += 1
            token = f"{base}-{number}"
        used.add(token)
        tokens[name] = token
    return tokens


def _graphml(graph: nx.MultiDiGraph) -> bytes:
    """Schema-valid GraphML: names made tokens, and each edge its own id (GraphML ids are
    unique per document; the relationship type stays in `relationship`)."""
    ids = _token_names(graph.nodes)
    node_names = _token_names(sorted({k for _, attrs in graph.nodes(data=True) for k in attrs}))
    edge_names = _token_names(sorted({k for *_, attrs in graph.edges(data=True) for k in attrs}))
    valid = nx.MultiDiGraph()
    for node, attrs in graph.nodes(data=True):
        valid.add_node(ids[node], **{node_names[k]: v for k, v in attrs.items()})
    for number, (source, target, attrs) in enumerate(graph.edges(data=True)):
        valid.add_edge(ids[source], ids[target], key=f"e{number}",
                       **{edge_names[k]: v for k, v in attrs.items()})  # fmt: skip
    out = io.BytesIO()
    nx.write_graphml(valid, out, encoding="utf-8")
    return out.getvalue()


def _gexf(graph: nx.MultiDiGraph) -> bytes:
    """GEXF 1.2 that its XSD accepts: NetworkX adds a `name` to <graph> that the schema
    does not have, so it goes."""
    writer = GEXFWriter(encoding="utf-8")
    writer.add_graph(graph)
    writer.graph_element.attrib.pop("name", None)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _json(graph: nx.MultiDiGraph) -> bytes:
    data = nx.node_link_data(graph, edges="edges")
    return json.dumps(data, ensure_ascii=False, indent=1).encode()


_PLAIN_NUMBER = re.compile(r"^[+-]?[\d\s().-]*$")


def spreadsheet_safe(value: Any) -> Any:
    """Scraped text must not run as a spreadsheet formula when the CSV is opened: quote a
    cell that starts like one (OWASP CSV injection), but leave numbers and phones alone."""
    if not isinstance(value, str) or not value:
        return value
    risky = value[0] in "=@\t\r" or (value[0] in "+-" and not _PLAIN_NUMBER.match(value))
    return "'" + value if risky else value


def _table(rows: list[dict[str, Any]], first: list[str]) -> bytes:
    columns = first + sorted({name for row in rows for name in row} - set(first))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: spreadsheet_safe(value) for name, value in row.items()})
    return out.getvalue().encode("utf-8")


def _csv_zip(graph: nx.MultiDiGraph) -> bytes:
    nodes = [{"id": node, **attrs} for node, attrs in graph.nodes(data=True)]
    edges = [{"source": s, "target": t, **attrs} for s, t, attrs in graph.edges(data=True)]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("nodes.csv", _table(nodes, ["id", "entity", "key", "label"]))
        archive.writestr("edges.csv", _table(edges, ["source", "target", "relationship"]))
    return out.getvalue()


WRITERS: dict[ExportFormat, Callable[[nx.MultiDiGraph], bytes]] = {
    ExportFormat.graphml: _graphml,
    ExportFormat.gexf: _gexf,
    ExportFormat.csv: _csv_zip,
    ExportFormat.json: _json,
}


def export_network(sub: Subgraph, fmt: ExportFormat) -> bytes:
    return WRITERS[fmt](to_networkx(sub))

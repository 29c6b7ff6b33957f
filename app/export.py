"""Network files for other tools: GraphML (yEd, Cytoscape), GEXF (Gephi), node-link JSON
(d3, NetworkX) and a zip of nodes.csv + edges.csv (spreadsheets, i2, UCINET)."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import networkx as nx

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

FILE_NAMES: dict[ExportFormat, str] = {
    ExportFormat.graphml: "prexus-network.graphml",
    ExportFormat.gexf: "prexus-network.gexf",
    ExportFormat.csv: "prexus-network.zip",
    ExportFormat.json: "prexus-network.json",
}


def _graphml(graph: nx.MultiDiGraph) -> bytes:
    out = io.BytesIO()
    nx.write_graphml(graph, out, encoding="utf-8")
    return out.getvalue()


def _gexf(graph: nx.MultiDiGraph) -> bytes:
    out = io.BytesIO()
    nx.write_gexf(graph, out, encoding="utf-8")
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

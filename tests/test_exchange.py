"""Exchange: network files other tools open (GraphML checked against the GraphML XSD, GEXF
against the GEXF 1.2 XSD, both read back by NetworkX; CSV and JSON read back), for a view, a
cluster and a case; and deconfliction by salted hashes, through the API and the CLI."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_fixtures import SAMPLE, build_sample_graph

from app.cli import cli
from app.export import ExportFormat, export_network
from app.main import create_app
from graph.cases import create_case, pin
from graph.deconfliction import (
    DeconflictionError,
    identifier_hash,
    match_hash_list,
    read_hash_list,
    salt_from_text,
    scope_identifiers,
    write_hash_list,
)
from graph.exports import cluster_network
from graph.linking import link_actors
from graph.schema import Label, NodeRef
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore, Subgraph
from ingest.loader import ingest_files

xmlschema = pytest.importorskip("xmlschema")

XSD = Path(__file__).parent / "data" / "xsd"
SALT = "3b1f0c8e9d2a47f6b5c4e3d2a1f0e9d8"
OTHER_SALT = "a-different-salt-for-another-exchange"
VENDOR = "wickr: vendorgeorge, email: george@chemsupply-hb.com, +86 138 0013 8000"


@pytest.fixture(scope="module")
def graphml_xsd() -> Any:
    return xmlschema.XMLSchema(str(XSD / "graphml.xsd"))


@pytest.fixture(scope="module")
def gexf_xsd() -> Any:
    return xmlschema.XMLSchema(str(XSD / "gexf.xsd"))


def ingest_postings(store: GraphStore, folder: Path, rows: list[dict[str, Any]]) -> None:
    path = folder / "postings.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    summary = ingest_files(store, "postings", [path], rejects_path=folder / "rejects.jsonl")
    assert summary.rejected == 0


def vendor_world(store: GraphStore, folder: Path) -> str:
    """Two postings of one vendor on one platform, one of another; clustered. The vendor's
    cluster id."""
    ingest_postings(store, folder, [
        {"id": "V1", "platform": "ChemB2B", "title": "BMK oil", "text": VENDOR},
        {"id": "V2", "platform": "ChemB2B", "title": "PMK powder", "text": VENDOR},
        {"id": "O1", "platform": "Forum", "title": "APAAN", "text": "telegram: @someoneelse"},
    ])  # fmt: skip
    link_actors(store)
    return str(store.get_node(NodeRef(Label.POSTING, "V1")).props["cluster"])  # type: ignore[union-attr]


def refs_of(graph: nx.Graph) -> set[str]:
    """Node refs from the `entity` and `key` attributes (GraphML ids are escaped tokens)."""
    return {f"{attrs['entity']}:{attrs['key']}" for _, attrs in graph.nodes(data=True)}


def check_every_format(sub: Subgraph, graphml_xsd: Any, gexf_xsd: Any) -> None:
    """Each file holds the subgraph's nodes and edges and opens as its format says."""
    refs = {str(n.ref) for n in sub.nodes}
    graphml = export_network(sub, ExportFormat.graphml)
    graphml_xsd.validate(graphml.decode("utf-8"))
    read = nx.read_graphml(io.BytesIO(graphml))
    assert refs_of(read) == refs and read.number_of_edges() == len(sub.edges)
    assert {attrs["relationship"] for *_, attrs in read.edges(data=True)} == {
        str(e.type) for e in sub.edges
    }

    gexf = export_network(sub, ExportFormat.gexf)
    gexf_xsd.validate(gexf.decode("utf-8"))
    read = nx.read_gexf(io.BytesIO(gexf))
    assert set(read.nodes) == refs and read.number_of_edges() == len(sub.edges)

    data = json.loads(export_network(sub, ExportFormat.json))
    read = nx.node_link_graph(data, edges="edges")
    assert set(read.nodes) == refs and read.number_of_edges() == len(sub.edges)

    with zipfile.ZipFile(io.BytesIO(export_network(sub, ExportFormat.csv))) as archive:
        nodes = list(csv.DictReader(io.StringIO(archive.read("nodes.csv").decode())))
        edges = list(csv.DictReader(io.StringIO(archive.read("edges.csv").decode())))
    assert {row["id"] for row in nodes} == refs
    assert len(edges) == len(sub.edges) and {e["source"] for e in edges} <= refs


# --- network files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, GraphStore]]:
    store = SQLiteStore(tmp_path_factory.mktemp("exchange") / "prexus.db")
    build_sample_graph(store)
    try:
        yield TestClient(create_app(store=store)), store
    finally:
        store.close()


def test_view_files_validate_and_read_back(
    sample: tuple[TestClient, GraphStore], graphml_xsd: Any, gexf_xsd: Any
) -> None:
    """The sample holds what GraphML ids cannot (a phone's `+`, spaces, a URL's slashes,
    script payloads in text): the files must still be valid and complete."""
    _, store = sample
    check_every_format(store.ego([SAMPLE.p1], 3), graphml_xsd, gexf_xsd)


def test_view_export_endpoint(sample: tuple[TestClient, GraphStore], graphml_xsd: Any) -> None:
    client, _ = sample
    answer = client.get("/api/export/network.graphml",
                        params={"seed": str(SAMPLE.phone), "depth": 2})  # fmt: skip
    assert (
        answer.status_code == 200
        and "prexus-network.graphml" in answer.headers["content-disposition"]
    )
    graphml_xsd.validate(answer.text)


def test_cluster_network(
    store: GraphStore, tmp_path: Path, graphml_xsd: Any, gexf_xsd: Any
) -> None:
    cluster = vendor_world(store, tmp_path)
    sub = cluster_network(store, cluster)
    assert sub is not None and not sub.truncated
    refs = {str(n.ref) for n in sub.nodes}
    assert refs == {
        f"Actor:{cluster}", "Posting:V1", "Posting:V2", "Identifier:wickr:vendorgeorge",
        "Identifier:email:george@chemsupply-hb.com", "Identifier:phone:+8613800138000",
    }  # fmt: skip
    assert {str(e.type) for e in sub.edges} == {"MEMBER_OF", "HAS_IDENTIFIER"}
    assert len(sub.edges) == 2 + 6
    check_every_format(sub, graphml_xsd, gexf_xsd)
    assert cluster_network(store, "no-such-cluster") is None


def test_cluster_and_case_export_endpoints(tmp_path: Path, graphml_xsd: Any) -> None:
    store = SQLiteStore(tmp_path / "prexus.db")
    cluster = vendor_world(store, tmp_path)
    client = TestClient(create_app(store=store))
    answer = client.get(f"/api/export/cluster/{cluster}/network.graphml")
    assert answer.status_code == 200, answer.text
    graphml_xsd.validate(answer.text)
    assert f"prexus-cluster-{cluster}.graphml" in answer.headers["content-disposition"]
    assert client.get("/api/export/cluster/nope/network.gexf").status_code == 404

    case = create_case(store, "Operation Glycidate", "analyst")
    pin(store, case.id, NodeRef(Label.ACTOR, cluster), "analyst")
    pin(store, case.id, NodeRef(Label.POSTING, "O1"), "analyst")
    answer = client.get(f"/api/export/case/{case.id}/network.gexf")
    assert answer.status_code == 200, answer.text
    read = nx.read_gexf(io.BytesIO(answer.content))
    assert {"Posting:V1", "Posting:V2", "Posting:O1"} <= set(read.nodes)
    zipped = client.get(f"/api/export/case/{case.id}/network.csv")
    assert zipped.headers["content-type"] == "application/zip"
    assert client.get("/api/export/case/case-nope/network.json").status_code == 404

    # the pages link to the same files
    assert f"/api/export/cluster/{cluster}/network.gexf" in client.get(f"/cluster/{cluster}").text
    assert f"/api/export/case/{case.id}/network.graphml" in client.get(f"/cases/{case.id}").text
    store.close()


# --- deconfliction ---------------------------------------------------------------------------


def test_deconfliction_round_trip(store: GraphStore, tmp_path: Path) -> None:
    """A partner running Prexus on its own data, with the phone written another way, finds
    the contacts we share and nothing else; with another salt, nothing at all."""
    cluster = vendor_world(store, tmp_path)
    salt = salt_from_text(SALT)
    scope, ours = scope_identifiers(store)
    assert scope == "all" and len(ours) == 4
    exported = write_hash_list(salt, scope, ours)
    header, *rows = map(json.loads, exported.splitlines())
    assert header["scheme"] == "prexus-deconfliction/1" and header["count"] == 4
    assert {r["kind"] for r in rows} == {"wickr", "email", "phone", "telegram"}
    assert "vendorgeorge" not in exported and "8613800138000" not in exported

    partner = SQLiteStore(tmp_path / "partner.db")
    folder = tmp_path / "partner"
    folder.mkdir()
    ingest_postings(partner, folder, [
        {"id": "Z1", "platform": "Telegram", "title": "Precursors",
         "text": "Call 0086-138-0013-8000 or george@chemsupply-hb.com"},
        {"id": "Z2", "platform": "Telegram", "title": "Other", "text": "wickr: notours99"},
    ])  # fmt: skip
    _, theirs = scope_identifiers(partner)
    partner_csv = write_hash_list(salt, "case:partner-17", theirs, "csv")
    partner.close()

    report = match_hash_list(store, read_hash_list(partner_csv), salt)
    assert report.salt_check == "same" and report.partner_hashes == 3
    assert report.scope == "case:partner-17"
    assert [(m.kind, m.value) for m in report.matches] == [
        ("email", "george@chemsupply-hb.com"), ("phone", "+8613800138000"),
    ]  # fmt: skip
    phone = report.matches[1]
    assert {h.ref for h in phone.records} == {"Posting:V1", "Posting:V2"}
    assert phone.records_total == 2 and phone.clusters == [cluster]

    other = write_hash_list(salt_from_text(OTHER_SALT), "all", theirs, "jsonl")
    wrong = match_hash_list(store, read_hash_list(other), salt)
    assert wrong.matched == 0 and wrong.salt_check == "different"
    bare = "\n".join(identifier_hash(salt, "phone", "+8613800138000") for _ in range(2))
    assert match_hash_list(store, read_hash_list(bare + "\nnot a hash\n"), salt).matched == 1


def test_deconfliction_scopes_and_refusals(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "prexus.db")
    cluster = vendor_world(store, tmp_path)
    scope, refs = scope_identifiers(store, cluster=cluster)
    assert scope == f"cluster:{cluster}" and len(refs) == 3
    case = create_case(store, "Op", "analyst")
    pin(store, case.id, NodeRef(Label.POSTING, "O1"), "analyst")
    assert [str(r) for r in scope_identifiers(store, case=case.id)[1]] == [
        "Identifier:telegram:someoneelse"
    ]
    with pytest.raises(DeconflictionError, match="at least 16"):
        salt_from_text("short salt")
    with pytest.raises(LookupError):
        scope_identifiers(store, cluster="nope")
    with pytest.raises(DeconflictionError, match="scheme"):
        read_hash_list('{"scheme": "someone-else/2"}\n')
    store.close()


def test_deconfliction_api(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "prexus.db")
    cluster = vendor_world(store, tmp_path)
    client = TestClient(create_app(store=store))
    answer = client.get("/api/deconflict/export", params={"cluster": cluster, "format": "csv"},
                        headers={"X-Prexus-Salt": SALT})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.text.startswith("# {") and "kind,hash" in answer.text
    assert client.get("/api/deconflict/export").status_code == 422
    short = client.get("/api/deconflict/export", headers={"X-Prexus-Salt": "tiny"})
    assert short.status_code == 400 and "16" in short.json()["detail"]
    missing = client.get("/api/deconflict/export", params={"case": "case-nope"},
                         headers={"X-Prexus-Salt": SALT})  # fmt: skip
    assert missing.status_code == 404

    matched = client.post("/api/deconflict/match", data={"salt": SALT},
                          files={"file": ("partner.csv", answer.text)})  # fmt: skip
    assert matched.status_code == 200, matched.text
    body = matched.json()
    assert body["matched"] == 3 and body["salt_check"] == "same"
    assert all(m["clusters"] == [cluster] for m in body["matches"])
    wrong = client.post("/api/deconflict/match", data={"salt": OTHER_SALT},
                        files={"file": ("partner.csv", answer.text)})  # fmt: skip
    assert wrong.json()["matched"] == 0 and wrong.json()["salt_check"] == "different"
    store.close()


def test_deconfliction_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREXUS_DB", str(tmp_path / "prexus.db"))
    monkeypatch.delenv("PREXUS_NEO4J_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    with SQLiteStore(tmp_path / "prexus.db") as store:
        cluster = vendor_world(store, tmp_path)
    runner = CliRunner()
    salt_file = tmp_path / "exchange.salt"
    made = runner.invoke(cli, ["deconflict", "new-salt", "-o", str(salt_file)])
    assert made.exit_code == 0, made.output
    assert len(salt_file.read_text().strip()) == 64 and salt_file.stat().st_mode & 0o077 == 0
    assert runner.invoke(cli, ["deconflict", "new-salt", "-o", str(salt_file)]).exit_code == 1

    hashes = tmp_path / "hashes.jsonl"
    exported = runner.invoke(cli, ["deconflict", "export", "--cluster", cluster,
                                   "--salt-file", str(salt_file), "-o", str(hashes)])  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert len(hashes.read_text().splitlines()) == 1 + 3
    matched = runner.invoke(cli, ["deconflict", "match", str(hashes), "--salt-file",
                                  str(salt_file), "--json"])  # fmt: skip
    assert matched.exit_code == 0, matched.output
    assert json.loads(matched.stdout)["matched"] == 3
    short = tmp_path / "short.salt"
    short.write_text("abc\n")
    refused = runner.invoke(cli, ["deconflict", "match", str(hashes), "--salt-file", str(short)])
    assert refused.exit_code == 2 and "at least 16" in refused.output

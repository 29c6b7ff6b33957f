"""The evidence report of a case, on both stores: every claim cites a source that is a real
record in the store (node, edge, annotation, case log entry or audit entry); every posting
is quoted with its URL, capture time and SHA-256; seizures come with their routes; the file
is self-contained and runs nothing; `prexus report` writes the same report."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import load_demo
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_fixtures import SAMPLE, XSS_TEXT, XSS_TITLE, build_sample_graph

from app.cli import cli
from app.main import create_app
from app.report import REPORT_CSP
from graph import cases
from graph.exports import iter_cluster_summaries
from graph.linking import link_actors
from graph.schema import Label, NodeRef, RelType
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)

    def walk(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            yield from child.walk()

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class Tree(HTMLParser):
    """Just enough of a DOM to find elements and read their text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("root", {})
        self.open = [self.root]
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.open[-1].children.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].text.append(data)


@dataclass
class Reported:
    html: str
    tree: Element
    case_id: str
    cluster: str
    store: GraphStore
    client: TestClient


def report_of(client: TestClient, case_id: str) -> tuple[str, Element]:
    response = client.get(f"/api/cases/{case_id}/report")
    assert response.status_code == 200, response.text
    assert response.headers["content-security-policy"] == REPORT_CSP
    assert response.headers["content-type"].startswith("text/html")
    return response.text, Tree(response.text).root


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def reported(
    request: pytest.FixtureRequest, demo_world: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reported]:
    """A case on the demo world, once per backend for the module (loading the demo into
    Neo4j takes half a minute): a cluster with seizures pinned, a route, an annotation."""
    folder = tmp_path_factory.mktemp("report")
    if request.param == "neo4j":
        store: GraphStore = request.getfixturevalue("neo4j_store")
        store.clear()
    else:
        store = SQLiteStore(folder / "prexus.db")
    load_demo(store, demo_world, folder)
    link_actors(store)
    cluster = next(c for c in iter_cluster_summaries(store) if c["seizures"])
    with TestClient(create_app(store=store)) as client:
        case = client.post("/api/cases", json={"name": "Seizure-linked vendor"}).json()
        pins = f"/api/cases/{case['id']}/pins"
        assert client.post(pins, json={"cluster": cluster["id"]}).status_code == 201
        route = next(store.iter_nodes(Label.ROUTE))
        assert client.post(pins, json={"ref": str(route.ref)}).status_code == 201
        posting = f"Posting:{cluster['postings'][0]}"
        notes = f"/api/cases/{case['id']}/annotations"
        client.post(notes, json={"node": posting, "text": "seen on two platforms"})
        html, tree = report_of(client, case["id"])
        yield Reported(html, tree, case["id"], cluster["id"], store, client)
    if request.param == "sqlite":
        store.close()


def sources(tree: Element) -> dict[str, Element]:
    listed = [e for e in tree.walk() if e.tag == "li" and e.attrs.get("id", "").startswith("src-")]
    return {e.attrs["id"]: e for e in listed}


def claims(tree: Element) -> list[Element]:
    return [e for e in tree.walk() if "claim" in e.classes()]


def resolves(store: GraphStore, source: Element, case_id: str, audit: object) -> bool:
    """Whether a source entry names a record that is really there."""
    kind, a = source.attrs["data-kind"], source.attrs
    if kind == "node":
        node = store.get_node(NodeRef.parse(a["data-ref"]))
        return node is not None and (
            node.provenance.source_record is None
            or node.provenance.source_record in source.all_text()
        )
    if kind == "edge":
        found = cases.find_edge(store, NodeRef.parse(a["data-from"]), RelType(a["data-rel"]),
                                NodeRef.parse(a["data-to"]))  # fmt: skip
        return found is not None and (found.provenance.source or "") in source.all_text()
    if kind == "annotation":
        return cases.get_annotation(store, a["data-case"], a["data-id"]).id == a["data-id"]
    if kind == "activity":
        return any(e["id"] == a["data-id"] for e in cases.activity(store, case_id)[1])
    if kind == "audit":
        seq = int(a["data-seq"])
        return any(e["seq"] == seq for e in audit.entries(limit=1000))  # type: ignore[attr-defined]
    return False


def test_every_claim_cites_a_real_source_record(reported: Reported) -> None:
    listed = sources(reported.tree)
    made = claims(reported.tree)
    assert len(made) > 50
    audit = reported.client.app.state.audit  # type: ignore[attr-defined]
    for claim in made:
        cited = claim.attrs.get("data-source")
        assert cited in listed, f"claim without a listed source: {claim.all_text()[:80]!r}"
        link = next(e for e in claim.walk() if "cite" in e.classes())
        assert link.attrs["href"] == f"#{cited}"
    for anchor, source in listed.items():
        assert resolves(reported.store, source, reported.case_id, audit), anchor
    kinds = {s.attrs["data-kind"] for s in listed.values()}
    assert kinds == {"node", "edge", "annotation", "activity", "audit"}


def test_postings_are_quoted_with_url_capture_time_and_hash(reported: Reported) -> None:
    store, listed = reported.store, sources(reported.tree)
    members = cases.cluster_member_refs(store, reported.cluster, 10_000)
    wanted = {str(r) for r in members if r.label is Label.POSTING}
    articles = {e.attrs["data-ref"]: e for e in reported.tree.walk()
                if "posting" in e.classes()}  # fmt: skip
    assert set(articles) == wanted
    for ref, article in articles.items():
        node = store.get_node(NodeRef.parse(ref))
        assert node is not None
        assert listed[article.attrs["data-source"]].attrs["data-ref"] == ref  # cites itself
        text = article.all_text()
        for name in ("title", "text", "url"):
            if node.props.get(name):
                assert str(node.props[name]) in text
        captured = next(e for e in article.walk() if "captured" in e.classes())
        assert captured.all_text() == node.provenance.ingested_at
        sha = next(e for e in article.walk() if "sha256" in e.classes())
        assert sha.all_text() == node.props["content_sha256"]
        assert len(sha.all_text()) == 64


def test_clusters_show_the_evidence_tying_each_member(reported: Reported) -> None:
    store, listed = reported.store, sources(reported.tree)
    members = cases.cluster_member_refs(store, reported.cluster, 10_000)
    shown = {e.attrs["data-ref"]: e for e in reported.tree.walk() if "member" in e.classes()}
    assert set(shown) == {str(m) for m in members}
    quoted = 0
    for ref, block in shown.items():
        ties = [e for e in block.walk() if "evidence" in e.classes()]
        assert ties, f"{ref} has no evidence"
        for tie in ties:
            source = listed[tie.attrs["data-source"]]
            assert source.attrs["data-kind"] == "edge" and source.attrs["data-from"] == ref
            quoted += bool([q for q in tie.walk() if q.tag == "q"])
    assert quoted >= len(shown) // 2


def test_seizures_and_routes_cite_their_legs(reported: Reported) -> None:
    store, listed = reported.store, sources(reported.tree)
    members = cases.cluster_member_refs(store, reported.cluster, 10_000)
    seizures = {str(m) for m in members if m.label is Label.SEIZURE}
    shown = {e.attrs["data-ref"]: e for e in reported.tree.walk() if "seizure" in e.classes()}
    assert set(shown) == seizures
    legs = 0
    for ref, block in shown.items():
        for leg in (e for e in block.walk() if e.tag == "li" and "claim" in e.classes()):
            source = listed[leg.attrs["data-source"]]
            assert source.attrs["data-from"] == ref
            assert source.attrs["data-rel"] in {"ORIGIN", "TRANSIT", "DESTINATION"}
            legs += 1
    assert legs >= len(seizures)
    routes = [e for e in reported.tree.walk() if "route" in e.classes()]
    assert routes and all(e.attrs["data-ref"].startswith("Route:") for e in routes)


def test_the_report_is_self_contained_and_says_who_did_what(reported: Reported) -> None:
    tags = {e.tag for e in reported.tree.walk()}
    assert not tags & {"script", "link", "img", "iframe", "object"}
    assert "svg" in tags
    assert not [e for e in reported.tree.walk() if e.attrs.get("src")]
    hrefs = [e.attrs["href"] for e in reported.tree.walk() if e.tag == "a"]
    assert all(h.startswith(("#", "http://", "https://")) for h in hrefs)
    log = next(e for e in reported.tree.walk() if e.attrs.get("id") == "case-log")
    assert [" · ".join(li.all_text().split(" · ")[1:3]) for li in log.children][:3] == [
        "local · create", "local · pin", "local · pin"
    ]  # fmt: skip
    audited = next(e for e in reported.tree.walk() if e.attrs.get("id") == "audit-entries")
    assert any("POST /api/cases/" in li.all_text() for li in audited.children)


def test_hostile_text_is_quoted_not_run(tmp_path: Path) -> None:
    """Escaping is the template's, whichever store: the embedded one is enough here (a
    Neo4j `store` fixture would clear the module's demo world under the tests above)."""
    store = SQLiteStore(tmp_path / "prexus.db")
    build_sample_graph(store)
    link_actors(store)
    cluster = next(iter_cluster_summaries(store))["id"]
    with TestClient(create_app(store=store)) as client:
        case = client.post("/api/cases", json={"name": "<script>alert(1)</script>"}).json()
        client.post(f"/api/cases/{case['id']}/pins", json={"cluster": cluster})
        html, tree = report_of(client, case["id"])
    store.close()
    assert "<script>" not in html
    everything = list(tree.walk())
    assert not [e for e in everything if e.tag in {"script", "img"}]
    assert not [e for e in everything if any(name.startswith("on") for name in e.attrs)]
    article = next(e for e in tree.walk()
                   if "posting" in e.classes() and e.attrs["data-ref"] == str(SAMPLE.xss))
    assert XSS_TITLE in article.all_text() and XSS_TEXT in article.all_text()
    assert not [e for e in article.walk() if e.tag in {"img", "svg", "script"}]
    url = next(e for e in article.walk() if "url" in e.classes())
    assert url.all_text() == "javascript:alert(1)" and not url.children  # text, not a link


def test_cli_writes_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prexus.db"
    monkeypatch.setenv("PREXUS_DB", str(path))
    monkeypatch.delenv("PREXUS_NEO4J_URI", raising=False)
    with SQLiteStore(path) as store:
        build_sample_graph(store)
        link_actors(store)
        case = cases.create_case(store, "Hubei vendor", "alice")
        cases.pin(store, case.id, SAMPLE.p1, "alice")
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "Hubei vendor", "-o", str(out)])
    assert result.exit_code == 0, result.output
    tree = Tree(out.read_text(encoding="utf-8")).root
    assert next(e for e in tree.walk() if e.attrs.get("id") == "case-id").all_text() == case.id
    assert [e.attrs["data-ref"] for e in tree.walk() if "posting" in e.classes()] == ["Posting:P1"]
    assert any(e.attrs.get("id") == "audit-unavailable" for e in tree.walk())
    missing = CliRunner().invoke(cli, ["report", "no such case"])
    assert missing.exit_code == 1 and "no case" in missing.output

"""The HTTP API and the server-rendered pages, on both stores (SQLite and a real Neo4j).

Every endpoint, its paging and its errors; hostile posting text coming back escaped in
every page; the security headers and the no-inline-script rule the CSP relies on.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import networkx as nx
import pytest
from conftest import load_demo
from fastapi.testclient import TestClient
from web_fixtures import SAMPLE, XSS_TEXT, XSS_TITLE, build_sample_graph

from app.export import spreadsheet_safe
from app.main import create_app
from app.queries import DashboardCache, cluster_order, cluster_summary
from graph.exports import iter_cluster_summaries
from graph.linking import link_actors
from graph.schema import NODE_TYPES, Label, schema_document
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore

S = SAMPLE


@pytest.fixture
def client(store: GraphStore) -> Iterator[TestClient]:
    build_sample_graph(store)
    with TestClient(create_app(store=store)) as test_client:
        yield test_client


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def entity_path(ref: object, prefix: str = "/api/entities") -> str:
    label, _, key = str(ref).partition(":")
    return f"{prefix}/{label}/{quote(key, safe='')}"


# --- meta ------------------------------------------------------------------------------------


def test_health_names_the_backend(client: TestClient, store: GraphStore) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "backend": store.backend}


def test_schema_is_the_schema_document(client: TestClient) -> None:
    assert client.get("/api/schema").json() == json.loads(json.dumps(schema_document()))


def test_stats_count_nodes_and_edges(client: TestClient) -> None:
    stats = client.get("/api/stats").json()
    assert stats["nodes"]["Posting"] == 3
    assert stats["nodes"]["Identifier"] == 3
    assert stats["edges"]["HAS_IDENTIFIER"] == 6
    assert stats["total_nodes"] == 13
    assert stats["total_edges"] == 15


# --- search ----------------------------------------------------------------------------------


def test_search_finds_words_and_pages(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "PMK oil"}).json()
    assert set(ids(body["items"])) == {str(S.xss), str(S.p3)}
    assert body["total"] == 2 and body["total_exact"]
    first = client.get("/api/search", params={"q": "PMK oil", "limit": 1}).json()
    second = client.get("/api/search", params={"q": "PMK oil", "limit": 1, "offset": 1}).json()
    assert first["total"] == second["total"] == 2
    assert len(first["items"]) == len(second["items"]) == 1
    assert ids(first["items"]) + ids(second["items"]) == ids(body["items"])
    beyond = client.get("/api/search", params={"q": "PMK oil", "offset": 5}).json()
    assert beyond["items"] == [] and beyond["total"] == 2


def test_search_filters_kinds(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "BMK", "kinds": "Substance"}).json()
    assert ids(body["items"]) == [str(S.substance)]
    none = client.get("/api/search", params={"q": "zzzz-no-such-word"}).json()
    assert none == {**none, "total": 0, "items": []}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("+86 138-0013-8000", S.phone),
        ("Telegram: @VendorBob", S.telegram),
        ("t.me/vendorbob", S.telegram),
    ],
)
def test_search_normalises_contacts_like_ingest(
    client: TestClient, query: str, expected: object
) -> None:
    body = client.get("/api/search", params={"q": query}).json()
    assert body["identifier"] == str(expected)
    assert body["items"][0]["id"] == str(expected)
    assert ids(body["items"]).count(str(expected)) == 1


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "x", "limit": 0}, {"q": "x", "limit": 1000}, {"q": "x", "offset": -1},
     {"q": "x", "kinds": "Bogus"}, {"q": "x" * 201}],
)
def test_search_rejects_bad_parameters(client: TestClient, params: dict) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == 422
    assert "detail" in response.json()


# --- entities --------------------------------------------------------------------------------


def test_entity_has_properties_provenance_and_connections(client: TestClient) -> None:
    body = client.get(entity_path(S.p1)).json()
    assert body["id"] == str(S.p1)
    assert body["caption"] == "Supply BMK glycidate CAS 5449-12-7"
    assert body["properties"]["content_sha256"] == "ab" * 32
    assert body["provenance"]["source"] == "test-feed"
    assert body["provenance"]["first_seen"] == "2024-01-10"
    connections = body["connections"]
    assert connections["total"] == 4
    by_other = {c["other"]["id"]: c for c in connections["items"]}
    phone = by_other[str(S.phone)]
    assert phone["direction"] == "out"
    assert phone["edge"]["type"] == "HAS_IDENTIFIER"
    assert phone["edge"]["properties"]["evidence"] == ["+86 138 0013 8000"]


def test_entity_connections_page(client: TestClient) -> None:
    whole = client.get(entity_path(S.phone)).json()["connections"]
    assert whole["total"] == 3
    assert {c["direction"] for c in whole["items"]} == {"in"}
    pages = [
        client.get(entity_path(S.phone), params={"limit": 1, "offset": i}).json()["connections"]
        for i in range(4)
    ]
    assert [p["total"] for p in pages] == [3, 3, 3, 3]
    assert [c["edge"]["id"] for p in pages for c in p["items"]] == [
        c["edge"]["id"] for c in whole["items"]
    ]


def test_entity_key_with_slashes_and_query_characters(client: TestClient) -> None:
    """Keys are paths: URL identifiers hold '/', ':' and more. (A key that ends in
    '/network' reads as the network route; /api/network?seed= takes any key.)"""
    body = client.get("/api/network", params={"seed": str(S.url)}).json()
    assert body["seeds"] == [str(S.url)]
    assert str(S.p3) in ids(body["nodes"])


def test_entity_errors(client: TestClient) -> None:
    missing = client.get("/api/entities/Posting/P404")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no Posting with key 'P404'"}
    assert client.get("/api/entities/Bogus/P1").status_code == 422
    assert client.get(entity_path(S.p1), params={"limit": 0}).status_code == 422


# --- networks --------------------------------------------------------------------------------


def test_network_of_an_entity(client: TestClient) -> None:
    body = client.get(entity_path(S.xss) + "/network").json()
    assert body["seeds"] == [str(S.xss)]
    assert set(ids(body["nodes"])) == {str(S.xss), str(S.phone), str(S.telegram),
                                       str(S.platform)}
    assert not body["truncated"]
    assert {e["type"] for e in body["edges"]} == {"HAS_IDENTIFIER", "POSTED_ON"}
    nodes = {n["id"]: n for n in body["nodes"]}
    style = NODE_TYPES[Label.IDENTIFIER].style
    assert (nodes[str(S.phone)]["color"], nodes[str(S.phone)]["shape"]) == (style.color,
                                                                             style.shape)
    assert nodes[str(S.phone)]["value"] == 3  # size from the stored degree
    assert nodes[str(S.xss)]["seed"] and not nodes[str(S.phone)]["seed"]
    legend = {item["label"]: item["count"] for item in body["legend"]}
    assert legend == {"Posting": 1, "Platform": 1, "Identifier": 2}


def test_network_filters(client: TestClient) -> None:
    two_hops = client.get(entity_path(S.p1) + "/network", params={"depth": 2}).json()
    assert str(S.xss) in ids(two_hops["nodes"]) and str(S.company) in ids(two_hops["nodes"])
    only_contacts = client.get(
        entity_path(S.p1) + "/network", params={"depth": 2, "kinds": ["Identifier", "Company"]}
    ).json()
    assert set(ids(only_contacts["nodes"])) == {str(S.p1), str(S.phone), str(S.company)}
    by_rel = client.get(
        entity_path(S.platform) + "/network", params={"rels": "LOCATED_IN"}
    ).json()
    assert set(ids(by_rel["nodes"])) == {str(S.platform), str(S.cn)}
    dated = client.get(
        entity_path(S.platform) + "/network", params={"since": "2024-01-01", "until": "2024-12-31"}
    ).json()
    postings = {i for i in ids(dated["nodes"]) if i.startswith("Posting:")}
    assert postings == {str(S.p1), str(S.xss)}  # P3 is from 2023


def test_network_truncates_at_the_limit(client: TestClient) -> None:
    body = client.get(entity_path(S.platform) + "/network", params={"limit": 2}).json()
    assert body["truncated"] and len(body["nodes"]) == 2 and body["limit"] == 2


def test_network_of_several_seeds(client: TestClient) -> None:
    body = client.get("/api/network", params={"seed": [str(S.p1), str(S.p3)]}).json()
    assert body["seeds"] == [str(S.p1), str(S.p3)]
    assert {str(S.phone), str(S.telegram)} <= set(ids(body["nodes"]))


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"since": "2024-05-01", "until": "2024-01-01"}, 400),
        ({"depth": 0}, 422),
        ({"depth": 9}, 422),
        ({"limit": 0}, 422),
        ({"kinds": "Bogus"}, 422),
        ({"rels": "NOT_A_TYPE"}, 422),
        ({"since": "yesterday"}, 422),
    ],
)
def test_network_bad_filters(client: TestClient, params: dict, status: int) -> None:
    response = client.get(entity_path(S.p1) + "/network", params=params)
    assert response.status_code == status
    assert "detail" in response.json()


def test_network_seed_errors(client: TestClient) -> None:
    assert client.get("/api/network", params={"seed": "Posting:P404"}).status_code == 404
    bad = client.get("/api/network", params={"seed": "Bogus:x"})
    assert bad.status_code == 400 and "Bogus" in bad.json()["detail"]
    assert client.get("/api/network", params={"seed": "no-colon"}).status_code == 400
    assert client.get("/api/network").status_code == 422
    assert client.get(entity_path("Posting:P404") + "/network").status_code == 404


# --- paths -----------------------------------------------------------------------------------


def test_paths_shortest(client: TestClient) -> None:
    body = client.get("/api/paths", params={"from": str(S.p1), "to": str(S.seizure)}).json()
    assert body["length"] == 2
    assert body["paths"] == [
        {
            "nodes": [str(S.p1), str(S.substance), str(S.seizure)],
            "edges": [
                f"MENTIONS:{S.p1}->{S.substance}",
                f"OF_SUBSTANCE:{S.seizure}->{S.substance}",
            ],
        }
    ]
    assert set(ids(body["network"]["nodes"])) == {str(S.p1), str(S.substance), str(S.seizure)}
    assert not body["truncated"]


def test_paths_through_chosen_kinds_only(client: TestClient) -> None:
    direct = client.get("/api/paths", params={"from": str(S.p1), "to": str(S.p3)}).json()
    assert direct["length"] == 2  # both on the same platform
    via_contacts = client.get(
        "/api/paths",
        params={"from": str(S.p1), "to": str(S.p3), "kinds": ["Identifier", "Posting"]},
    ).json()
    assert via_contacts["length"] == 4
    assert via_contacts["paths"][0]["nodes"] == [
        str(S.p1), str(S.phone), str(S.xss), str(S.telegram), str(S.p3)
    ]
    too_short = client.get(
        "/api/paths",
        params={"from": str(S.p1), "to": str(S.p3), "kinds": "Identifier", "max_depth": 3},
    ).json()
    assert too_short["length"] is None and too_short["paths"] == []


def test_paths_all_shortest_and_trivial(client: TestClient) -> None:
    both = client.get("/api/paths", params={"from": str(S.phone), "to": str(S.platform)}).json()
    assert both["length"] == 2
    assert sorted(p["nodes"][1] for p in both["paths"]) == [str(S.p1), str(S.xss)]
    same = client.get("/api/paths", params={"from": str(S.p1), "to": str(S.p1)}).json()
    assert same["length"] == 0 and same["paths"] == [{"nodes": [str(S.p1)], "edges": []}]
    alone = client.get("/api/paths", params={"from": str(S.p1), "to": str(S.lonely)}).json()
    assert alone["length"] is None and alone["paths"] == []


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": "P1", "to": "Posting:P3"}, 400),
        ({"from": "Bogus:P1", "to": "Posting:P3"}, 400),
        ({"from": "Posting:P404", "to": "Posting:P3"}, 404),
        ({"from": "Posting:P1", "to": "Posting:P3", "max_depth": 7}, 422),
        ({"from": "Posting:P1"}, 422),
    ],
)
def test_paths_errors(client: TestClient, params: dict, status: int) -> None:
    response = client.get("/api/paths", params=params)
    assert response.status_code == status
    assert "detail" in response.json()


# --- export ----------------------------------------------------------------------------------


def _export(client: TestClient, fmt: str, **params: object) -> bytes:
    response = client.get(f"/api/export/network.{fmt}", params={"seed": str(S.xss), **params})
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    return response.content


EXPECTED = {str(S.xss), str(S.phone), str(S.telegram), str(S.platform)}


def test_export_graphml(client: TestClient) -> None:
    """GraphML ids are name tokens (escaped, tests/test_exchange.py); `entity` and `key`
    name each node as it is."""
    graph = nx.read_graphml(io.BytesIO(_export(client, "graphml")))
    by_ref = {f"{d['entity']}:{d['key']}": d for _, d in graph.nodes(data=True)}
    assert set(by_ref) == EXPECTED
    assert by_ref[str(S.xss)]["label"] == XSS_TITLE
    assert graph.number_of_edges() == 3


def test_export_gexf(client: TestClient) -> None:
    graph = nx.read_gexf(io.BytesIO(_export(client, "gexf")))
    assert set(graph.nodes) == EXPECTED
    assert graph.number_of_edges() == 3


def test_export_json_node_link(client: TestClient) -> None:
    data = json.loads(_export(client, "json"))
    graph = nx.node_link_graph(data, edges="edges")
    assert set(graph.nodes) == EXPECTED
    assert {d["relationship"] for _, _, d in graph.edges(data=True)} == {"HAS_IDENTIFIER",
                                                                          "POSTED_ON"}


def test_export_csv_zip(client: TestClient) -> None:
    archive = zipfile.ZipFile(io.BytesIO(_export(client, "csv", depth=2)))
    assert sorted(archive.namelist()) == ["edges.csv", "nodes.csv"]
    nodes = list(csv.DictReader(io.StringIO(archive.read("nodes.csv").decode())))
    edges = list(csv.DictReader(io.StringIO(archive.read("edges.csv").decode())))
    by_id = {row["id"]: row for row in nodes}
    assert by_id[str(S.xss)]["label"] == XSS_TITLE
    assert by_id[str(S.phone)]["degree"] == "3"
    assert {row["relationship"] for row in edges} >= {"HAS_IDENTIFIER", "POSTED_ON"}


def test_export_errors(client: TestClient) -> None:
    assert client.get("/api/export/network.pdf", params={"seed": str(S.p1)}).status_code == 422
    assert client.get("/api/export/network.csv", params={"seed": "Posting:P404"}).status_code == 404
    assert client.get("/api/export/network.csv").status_code == 422


def test_spreadsheet_formulas_are_defused() -> None:
    assert spreadsheet_safe("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_safe("-2+3+cmd|' /C calc'!A0") == "'-2+3+cmd|' /C calc'!A0"
    assert spreadsheet_safe("+86 138 0013 8000") == "+86 138 0013 8000"
    assert spreadsheet_safe("-12.5") == "-12.5"
    assert spreadsheet_safe(3) == 3


# --- ingest ----------------------------------------------------------------------------------

PLATFORMS_CSV = (
    "name,domain,kind,country,cooperation\n"
    "Foo Market,foo-market.example,b2b,DE,yes\n"
    "Bar Forum,bar.example,not-a-kind,NL,no\n"
)


def test_ingest_upload(client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> None:
    response = client.post(
        "/api/ingest/platforms",
        files={"file": ("platforms.csv", PLATFORMS_CSV.encode(), "text/csv")},
        data={"source": "upload-test"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["read"], body["ingested"], body["rejected"]) == (
        "platforms", 2, 1, 1)
    assert body["rejects"][0]["file"] == "platforms.csv"
    assert body["rejects"][0]["field"] == "kind"
    node = client.get("/api/entities/Platform/Foo Market").json()
    assert node["provenance"]["source"] == "upload-test"
    again = client.post(
        "/api/ingest/platforms",
        files={"file": ("platforms.csv", PLATFORMS_CSV.encode(), "text/csv")},
    ).json()
    assert (again["ingested"], again["unchanged"]) == (0, 1)


def test_ingest_errors(client: TestClient, store: GraphStore) -> None:
    files = {"file": ("platforms.csv", PLATFORMS_CSV.encode(), "text/csv")}
    assert client.post("/api/ingest/bogus", files=files).status_code == 422
    assert client.post("/api/ingest/platforms").status_code == 422
    wrong_type = client.post(
        "/api/ingest/platforms", files={"file": ("notes.txt", b"hello", "text/plain")}
    )
    assert wrong_type.status_code == 415 and "unsupported" in wrong_type.json()["detail"]
    small = TestClient(create_app(store=store, max_upload_bytes=64))
    too_big = small.post("/api/ingest/platforms", files=files)
    assert too_big.status_code == 413
    assert "detail" in too_big.json()


# --- pages -----------------------------------------------------------------------------------


class _Scripts(HTMLParser):
    """Collects <script> tags and every src/href, to check the CSP-relevant structure."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
        for name in ("src", "href", "action"):
            if attributes.get(name):
                self.urls.append((tag, attributes[name] or ""))


def assert_safe_page(response: object) -> str:
    """200, CSP header, no inline script, nothing loaded from another host."""
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    headers = response.headers  # type: ignore[attr-defined]
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    html = response.text  # type: ignore[attr-defined]
    parser = _Scripts()
    parser.feed(html)
    for script in parser.scripts:
        assert script.get("src") or script.get("type") == "application/json", script
    for tag, url in parser.urls:
        if tag != "a":  # links are followed only by a click; loads must stay here
            assert url.startswith("/") and not url.startswith("//"), (tag, url)
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "<svg onload" not in html
    return html


def test_dashboard_page(client: TestClient) -> None:
    html = assert_safe_page(client.get("/"))
    assert "Latest postings" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the hostile title, as text
    assert "+8613800138000" in html  # top entity by stored degree


def test_search_page_escapes_titles(client: TestClient) -> None:
    html = assert_safe_page(client.get("/search", params={"q": "PMK"}))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; PMK oil &lt;img src=x onerror=alert(1)&gt;" \
        in html
    assert "/entity/Posting/P3" in html
    reflected = assert_safe_page(client.get("/search", params={"q": "<script>alert(1)</script>"}))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in reflected


def test_entity_page_escapes_everything(client: TestClient) -> None:
    html = assert_safe_page(client.get(entity_path(S.xss, "/entity")))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; PMK oil" in html
    assert "&lt;svg onload=window.__xss=1&gt;" in html  # the text
    assert 'href="javascript:' not in html  # a javascript: url stays text
    assert "&lt;img src=x onerror=alert(2)&gt;" in html  # edge evidence
    data = html.split('id="network-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data  # JSON block: every '<' is \u003c
    payload = json.loads(data)
    titles = {n["id"]: n["caption"] for n in payload["network"]["nodes"]}
    assert titles[str(S.xss)] == XSS_TITLE
    assert payload["styles"]["Posting"]["shape"] == NODE_TYPES[Label.POSTING].style.shape
    assert XSS_TEXT not in html


def test_entity_page_shows_provenance_and_truncation(client: TestClient) -> None:
    html = assert_safe_page(client.get(entity_path(S.p1, "/entity")))
    for text in ("test-feed", "2024-01-10", "ab" * 32, "https://chemb2b-market.com/offer/1",
                 "HAS_IDENTIFIER", "+86 138 0013 8000"):
        assert text in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert "truncated-notice" not in html
    cut = assert_safe_page(client.get(entity_path(S.platform, "/entity"), params={"limit": 2}))
    assert "truncated-notice" in cut and "Showing the first 2 nodes" in cut


def test_entity_page_with_a_slash_in_the_key(client: TestClient) -> None:
    html = assert_safe_page(client.get(entity_path(S.url, "/entity")))
    assert "https://shop.example/a/network" in html


def test_paths_page(client: TestClient) -> None:
    html = assert_safe_page(client.get("/paths"))
    assert "Find paths" in html
    found = assert_safe_page(
        client.get("/paths", params={"from": str(S.p1), "to": str(S.seizure)})
    )
    assert "1 shortest path" in found and "network-data" in found
    none = assert_safe_page(client.get("/paths", params={"from": str(S.p1),
                                                         "to": str(S.lonely)}))
    assert "No path" in none
    bad = client.get("/paths", params={"from": "nonsense", "to": str(S.p1)})
    assert bad.status_code == 400 and "expected" in bad.text


def test_page_errors_are_html(client: TestClient) -> None:
    missing = client.get("/entity/Posting/P404")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "no Posting with key" in missing.text
    assert client.get("/entity/Bogus/x").status_code == 422
    bad_filter = client.get(entity_path(S.p1, "/entity"),
                            params={"since": "2024-05-01", "until": "2024-01-01"})
    assert bad_filter.status_code == 400 and "after" in bad_filter.text
    assert client.get("/api/nothing-here").json() == {"detail": "Not Found"}


def test_docs_are_self_hosted(client: TestClient) -> None:
    html = assert_safe_page(client.get("/docs"))
    assert "/static/swagger/swagger-ui-bundle.js" in html
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/vendor/vis/vis-network.min.js").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/api/search", "/api/paths", "/api/network"} <= set(schema["paths"])
    assert client.get("/redoc").status_code == 404


def test_failures_keep_the_error_shape(
    client: TestClient, store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graph.store import StoreUnavailableError

    def unavailable(*args: object, **kwargs: object) -> None:
        raise StoreUnavailableError("connection refused")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(store, "counts", unavailable)
    down = client.get("/api/stats")
    assert down.status_code == 503
    assert down.json() == {"detail": "store unavailable: connection refused"}
    monkeypatch.setattr(store, "counts", broken)
    lenient = TestClient(client.app, raise_server_exceptions=False)
    failed = lenient.get("/api/stats")
    assert failed.status_code == 500
    assert failed.json() == {"detail": "internal server error"}
    assert "default-src 'self'" in failed.headers["content-security-policy"]
    page = lenient.get("/")
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")


# --- caches of whole-store scans -------------------------------------------------------------


def test_scan_cache_sees_every_sqlite_write_at_once(tmp_path: Path) -> None:
    """SQLite's change stamp replaces the counts scan: a write that leaves every count as it
    was (a property rewritten), here or through another connection (another process), is
    seen on the next call, long before the cache's ttl; no write, no recomputation."""
    path = tmp_path / "graph.db"
    computed: list[int] = []

    def compute() -> int:
        computed.append(len(computed) + 1)
        return computed[-1]

    with SQLiteStore(path) as store, SQLiteStore(path) as other_process:
        build_sample_graph(store)
        cache = DashboardCache(ttl=3600)
        assert [cache.remember(store, "scan", compute) for _ in range(2)] == [1, 1]
        store.set_properties(Label.POSTING, {S.p1.key: {"score": 1}})
        assert cache.remember(store, "scan", compute) == 2
        other_process.set_properties(Label.POSTING, {S.p1.key: {"score": 2}})
        assert [cache.remember(store, "scan", compute) for _ in range(2)] == [3, 3]


def test_scan_cache_expires_where_the_store_has_no_change_stamp(store: GraphStore) -> None:
    """Without a stamp (Neo4j) the fingerprint misses in-place rewrites, so the ttl bounds
    how stale an answer can be; SQLite answers from its stamp instead."""
    build_sample_graph(store)
    cache = DashboardCache(ttl=0)
    values = iter(range(10))
    first, second = (cache.remember(store, "scan", lambda: next(values)) for _ in range(2))
    exact = store.change_stamp() is not None
    assert (first, second) == ((0, 0) if exact else (0, 1))


def test_scan_cache_computes_once_for_callers_that_miss_together(tmp_path: Path) -> None:
    """Callers that miss while a result is being computed wait for it: under load, clients
    opening the same cluster page at once would otherwise each explain it again."""
    asked, release = threading.Semaphore(0), threading.Event()

    class WatchedStore(SQLiteStore):
        def change_stamp(self) -> int | None:  # called as each caller enters the cache
            asked.release()
            return super().change_stamp()

    computed: list[str] = []

    def compute() -> str:
        computed.append("page")
        release.wait(30)
        return "page"

    with WatchedStore(tmp_path / "graph.db") as store, ThreadPoolExecutor(4) as pool:
        cache = DashboardCache()
        calls = [pool.submit(cache.remember, store, "page", compute) for _ in range(4)]
        for _ in calls:
            asked.acquire(timeout=30)
        release.set()
        assert [call.result(timeout=30) for call in calls] == ["page"] * 4
    assert computed == ["page"]


def test_each_cluster_read_alone_equals_the_export(
    store: GraphStore, demo_world: Path, tmp_path: Path
) -> None:
    """The cluster list and detail read only their own clusters (the store's fast paths on
    SQLite, the generic ones on Neo4j), yet say exactly what the whole-store export says,
    in its order."""
    load_demo(store, demo_world, tmp_path)
    link_actors(store)
    summaries = list(iter_cluster_summaries(store))
    assert len(summaries) > 20 and any(s["seizures"] for s in summaries)
    assert cluster_order(store, DashboardCache()) == [s["id"] for s in summaries]
    assert [cluster_summary(store, s["id"]) for s in summaries] == summaries
    assert cluster_summary(store, "A404") is None

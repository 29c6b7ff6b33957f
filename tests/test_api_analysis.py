"""The analysis API and pages on both stores: postings, clusters (with their explanations,
the why-form and analysts' decisions), trends and their chart, alerts, seizures and route
flows, centrality and communities.

Each demo load into Neo4j takes half a minute, so the demo-world tests group their checks:
one test reads every endpoint (a helper per area), one walks the cluster workflow.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import load_demo
from fastapi.testclient import TestClient
from test_api import assert_safe_page
from web_fixtures import SAMPLE, build_sample_graph

from app.main import create_app
from app.queries import ClusterGrowth, GrowthWindow, cluster_growth
from graph.analysis import run_analysis
from graph.checks import ALERTS_META, run_checks
from graph.exports import iter_cluster_summaries, posting_summary
from graph.linking import DECISIONS_META, explain_cluster, link_actors
from graph.schema import PROVENANCE_FIELDS, Label
from graph.store import GraphStore
from graph.trends import substance_trends, substitution_signals

PMK_METHYL, PMK_ETHYL, NEVER_SCHEDULED = "13605-48-6", "28578-16-7", "1451-82-7"
POSTING_FIELDS = {"id", "cluster", "identifiers", "substances", "kind", "provenance"}
SUMMARY_FIELDS = {"id", "postings", "seizures", "identifiers", "size", "confidence"}
SVG = "{http://www.w3.org/2000/svg}"


def analysed(store: GraphStore, world: Path, rejects: Path) -> None:
    """The demo world after `prexus analyze`: clusters, checks and centrality (betweenness
    sampled: exact takes a minute on the demo graph in pure Python)."""
    load_demo(store, world, rejects)
    link_actors(store)
    run_checks(store)
    run_analysis(store, exact_betweenness_limit=0, sample_k=64)


def plain(value: Any) -> Any:
    """What a value looks like after a trip through JSON."""
    return json.loads(json.dumps(value))


@pytest.fixture
def demo(store: GraphStore, demo_world: Path, tmp_path: Path) -> Iterator[TestClient]:
    analysed(store, demo_world, tmp_path)
    with TestClient(create_app(store=store)) as client:
        yield client


# --- every read endpoint, on the demo world ----------------------------------------------------


def test_analysis_endpoints_on_demo_data(demo: TestClient, store: GraphStore) -> None:
    summaries = list(iter_cluster_summaries(store))
    check_postings(demo, store, summaries)
    check_clusters(demo, store, summaries)
    check_trends(demo, store)
    check_alerts(demo, store)
    check_seizures_and_flows(demo, store)
    check_centrality(demo, store)
    check_pages(demo, store, summaries)


def check_postings(client: TestClient, store: GraphStore, summaries: list[dict]) -> None:
    posting = summaries[0]["postings"][0]
    body = client.get(f"/api/postings/{posting}").json()
    assert set(body) == POSTING_FIELDS
    assert body == plain(posting_summary(store, posting))
    assert body["cluster"] == summaries[0]["id"]
    assert body["identifiers"] and all(set(i) == {"kind", "value"} for i in body["identifiers"])
    assert body["substances"] and all(set(s) == {"cas", "name"} for s in body["substances"])
    assert set(body["provenance"]) == set(PROVENANCE_FIELDS)
    assert body["provenance"]["source"] == "demo"
    missing = client.get("/api/postings/P404")
    assert missing.status_code == 404 and "P404" in missing.json()["detail"]


def check_clusters(client: TestClient, store: GraphStore, summaries: list[dict]) -> None:
    page = client.get("/api/clusters", params={"limit": 3}).json()
    assert page["total"] == len(summaries) > 3
    assert [c["id"] for c in page["items"]] == [s["id"] for s in summaries[:3]]
    sizes = [c["size"] for c in page["items"]]
    assert sizes == sorted(sizes, reverse=True)  # largest first
    for item, summary in zip(page["items"], summaries, strict=False):
        assert set(item) == SUMMARY_FIELDS | {"explanation"}
        assert {k: v for k, v in item.items() if k != "explanation"} == plain(summary)
        assert item["explanation"] == plain(explain_cluster(store, item["id"]))
    largest = page["items"][0]
    assert largest["explanation"]["ties"], "the largest cluster is tied by shared contacts"
    tie = largest["explanation"]["ties"][0]
    assert tie["records"] > 1 and tie["evidence"] and 0 < tie["weight"] <= 1

    second = client.get("/api/clusters", params={"limit": 2, "offset": 1}).json()
    assert [c["id"] for c in second["items"]] == [s["id"] for s in summaries[1:3]]
    beyond = client.get("/api/clusters", params={"offset": len(summaries)}).json()
    assert beyond["items"] == [] and beyond["total"] == len(summaries)
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        assert client.get("/api/clusters", params=bad).status_code == 422

    one = client.get(f"/api/clusters/{largest['id']}").json()
    assert one == largest
    assert client.get("/api/clusters/A404").status_code == 404

    members = client.get(f"/api/clusters/{largest['id']}/members", params={"limit": 5}).json()
    rest = client.get(
        f"/api/clusters/{largest['id']}/members", params={"limit": 500, "offset": 5}
    ).json()
    refs = [m["id"] for m in members["items"] + rest["items"]]
    assert members["total"] == largest["size"] == len(refs) == len(set(refs))
    assert {r.partition(":")[2] for r in refs if r.startswith("Posting:")} == set(
        largest["postings"]
    )
    assert client.get("/api/clusters/A404/members").status_code == 404


def check_trends(client: TestClient, store: GraphStore) -> None:
    params = {"period": "year", "substance": [PMK_METHYL, PMK_ETHYL]}
    body = client.get("/api/trends", params=params).json()
    assert body["period"] == "year" and body["total"] == 2
    expected = [s.as_dict() for s in substance_trends(store, "year", [PMK_METHYL, PMK_ETHYL])]
    assert body["items"] == plain(expected)
    methyl = next(s for s in body["items"] if s["key"] == PMK_METHYL)
    assert methyl["in_force"] == "2019-11-19" and methyl["offers"]["2018"] > 0
    everything = client.get("/api/trends", params={"limit": 1}).json()
    assert everything["total"] == len(substance_trends(store, "year"))
    assert len(everything["items"]) == 1 and everything["period"] == "year"
    quarters = client.get("/api/trends", params={"period": "quarter", "substance": PMK_ETHYL})
    assert all("-Q" in p for p in quarters.json()["items"][0]["offers"])
    assert client.get("/api/trends", params={"period": "week"}).status_code == 422

    signals = client.get("/api/trends/substitution").json()
    assert signals["total"] == len(substitution_signals(store))
    assert (PMK_METHYL, PMK_ETHYL) in {(s["scheduled"], s["substitute"]) for s in signals["items"]}

    chart = client.get("/trends/chart.svg")  # the PMK methyl/ethyl glycidate pair by default
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert "default-src 'self'" in chart.headers["content-security-policy"]
    assert b"<script" not in chart.content
    svg = ET.fromstring(chart.content)
    assert svg.tag == f"{SVG}svg"
    ids = {el.get("id") for el in svg.iter()}
    assert {f"in-force-{PMK_METHYL}", f"in-force-{PMK_ETHYL}"} <= ids
    line = next(el for el in svg.iter() if el.get("id") == f"in-force-{PMK_METHYL}")
    assert line.find(f"{SVG}path") is not None  # the scheduling-date line itself
    assert "scheduled 2019-11-19" in chart.text
    flat = client.get("/trends/chart.svg", params={"substance": NEVER_SCHEDULED})
    assert flat.status_code == 200 and b"offers" in flat.content
    assert not any(
        (el.get("id") or "").startswith("in-force") for el in ET.fromstring(flat.content).iter()
    )
    assert client.get("/trends/chart.svg", params={"period": "week"}).status_code == 422


def check_alerts(client: TestClient, store: GraphStore) -> None:
    meta = store.get_meta(ALERTS_META)
    assert meta is not None
    record = client.get("/api/alerts", params={"limit": 2}).json()
    assert record["ran_at"] == meta["ran_at"]
    for kind in ("registry", "reappearances", "substitution"):
        assert record[kind]["kind"] == kind
        assert record[kind]["total"] == len(meta[kind]) > 0
        assert record[kind]["items"] == meta[kind][:2]
    registry = client.get("/api/alerts", params={"kind": "registry", "limit": 3, "offset": 1})
    body = registry.json()
    assert {"total", "items"} <= set(body) and "ran_at" not in body
    assert body["items"] == meta["registry"][1:4]
    reposts = client.get("/api/alerts", params={"kind": "reappearances", "limit": 500}).json()
    assert reposts["items"] == meta["reappearances"][:500]
    assert client.get("/api/alerts", params={"kind": "bogus"}).status_code == 422


def check_seizures_and_flows(client: TestClient, store: GraphStore) -> None:
    nodes = {n.key: n for n in store.iter_nodes(Label.SEIZURE)}
    body = client.get("/api/seizures", params={"limit": 500}).json()
    assert body["total"] == len(nodes) == len(body["items"])
    dates = [s["date"] for s in body["items"]]
    assert dates == sorted(dates, reverse=True)  # newest first
    for seizure in body["items"]:
        props = nodes[seizure["id"]].props
        assert seizure["origin"] == props["origin_country"]
        assert seizure["transit"] == list(props.get("transit_countries") or [])
        assert seizure["destination"] == props["destination_country"]
        assert seizure["seized_in"] == props["country"]
        assert seizure["quantity"] == props["quantity"] and seizure["cluster"] == props["cluster"]
        assert seizure["substance_name"]
    first = client.get("/api/seizures", params={"limit": 2, "offset": 1}).json()
    assert first["items"] == body["items"][1:3]

    flows = client.get("/api/routes/flows", params={"limit": 500}).json()
    routes = Counter((s["origin"], tuple(s["transit"]), s["destination"]) for s in body["items"])
    assert {(r["origin"], tuple(r["transit"]), r["destination"]): r["seizures"]
            for r in flows["routes"]["items"]} == routes  # fmt: skip
    counts = [r["seizures"] for r in flows["routes"]["items"]]
    assert counts == sorted(counts, reverse=True)
    pairs = Counter((s["origin"], s["destination"]) for s in body["items"])
    assert {(p["origin"], p["destination"]): p["seizures"]
            for p in flows["pairs"]["items"]} == pairs  # fmt: skip
    china = next(c for c in flows["countries"]["items"] if c["code"] == "CN")
    assert china["origin"] == sum(1 for s in body["items"] if s["origin"] == "CN")
    paged = client.get("/api/routes/flows", params={"limit": 1, "offset": 1}).json()
    assert paged["routes"]["items"] == flows["routes"]["items"][1:2]
    assert paged["pairs"]["total"] == flows["pairs"]["total"]


def check_centrality(client: TestClient, store: GraphStore) -> None:
    analysis = store.get_meta("analysis")
    assert analysis is not None
    top = client.get("/api/centrality", params={"measure": "betweenness", "limit": 5}).json()
    assert top["measure"] == "betweenness" and top["total"] == analysis["nodes"]
    assert [n["rank"] for n in top["items"]] == [1, 2, 3, 4, 5]
    scores = [n["score"] for n in top["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(n["properties"]["betweenness"] == n["score"] for n in top["items"])
    window = client.get(
        "/api/centrality", params={"measure": "betweenness", "limit": 2, "offset": 3}
    ).json()
    assert window["items"] == top["items"][3:5]
    contacts = client.get(
        "/api/centrality", params={"measure": "degree", "kind": "Identifier", "limit": 50}
    ).json()
    assert contacts["total"] == sum(1 for _ in store.iter_nodes(Label.IDENTIFIER))
    assert {n["label"] for n in contacts["items"]} == {"Identifier"}
    pagerank = client.get("/api/centrality").json()  # pagerank by default
    assert pagerank["measure"] == "pagerank" and pagerank["items"][0]["rank"] == 1
    eigen = client.get("/api/centrality", params={"measure": "eigenvector"})
    assert eigen.status_code == 200  # empty without SciPy: power iteration does not converge
    assert client.get("/api/centrality", params={"measure": "bogus"}).status_code == 422
    assert client.get("/api/centrality", params={"kind": "Bogus"}).status_code == 422

    found = client.get("/api/communities", params={"limit": 3}).json()
    assert found["total"] == analysis["communities"]
    assert [c["id"] for c in found["items"]] == [0, 1, 2]
    sizes = [c["size"] for c in found["items"]]
    assert sizes == sorted(sizes, reverse=True)
    for community in found["items"]:
        assert sum(community["kinds"].values()) == community["size"]
        assert 0 < len(community["top"]) <= 5
        assert all(n["properties"]["community"] == community["id"] for n in community["top"])


def check_pages(client: TestClient, store: GraphStore, summaries: list[dict]) -> None:
    meta = store.get_meta(ALERTS_META)
    assert meta is not None
    home = assert_safe_page(client.get("/"))
    for text in ("Largest clusters", "Fastest-growing clusters", "Top brokers",
                 "Latest unlicensed offers", "Latest reappearances", "Substitution signals",
                 "Latest postings"):  # fmt: skip
        assert text in home, text
    assert f'<span class="card-count">{len(meta["registry"]):,}</span>unlicensed offers' in home
    assert f"/cluster/{summaries[0]['id']}" in home
    dated = [(str(n.props.get("posted_at", "")), str(n.props.get("cluster", "")))
             for n in store.iter_nodes(Label.POSTING)]  # fmt: skip
    growing, _ = cluster_growth(dated, 10)
    assert growing and f'href="/cluster/{growing[0].cluster}"' in home.split("Fastest-growing")[1]
    registry = re.search(r'id="registry-alerts".*?href="(/entity/Posting/[^"]+)"', home, re.S)
    assert registry, "registry alerts link to their postings"
    assert client.get(registry.group(1)).status_code == 200

    listing = assert_safe_page(client.get("/clusters"))
    assert f'href="/cluster/{summaries[0]["id"]}"' in listing

    cid = summaries[0]["id"]
    page = client.get(f"/cluster/{cid}")
    html = assert_safe_page(page)
    # every page sets the form token's cookie on the first visit (app.csrf); this client
    # has been to the dashboard already
    assert client.cookies.get("prexus_csrf") and 'name="csrf"' in html
    assert 'id="members-table"' in html and 'id="ties-table"' in html
    payload = json.loads(html.split('id="network-data">', 1)[1].split("</script>", 1)[0])
    assert payload["network"]["seeds"] == [f"Actor:{cid}"]
    assert {f"Posting:{p}" for p in summaries[0]["postings"][:3]} <= {
        n["id"] for n in payload["network"]["nodes"]
    }
    assert client.get("/cluster/A404").status_code == 404

    trends = assert_safe_page(client.get("/trends"))
    chart = f"/trends/chart.svg?period=quarter&amp;substance={PMK_METHYL}&amp;substance={PMK_ETHYL}"
    assert f'src="{chart}"' in trends
    assert 'id="signals"' in trends

    routes = assert_safe_page(client.get("/routes"))
    payload = json.loads(routes.split('id="network-data">', 1)[1].split("</script>", 1)[0])
    assert payload["expandable"] is False
    assert {n["label"] for n in payload["network"]["nodes"]} == {"Country"}
    assert {e["type"] for e in payload["network"]["edges"]} == {"FLOW"}
    assert 'id="seizures"' in routes


# --- why two records are together, and analysts' decisions -----------------------------------


def test_cluster_why_and_decisions(demo: TestClient, store: GraphStore) -> None:
    summaries = list(iter_cluster_summaries(store))
    cluster = summaries[0]
    cid, postings = cluster["id"], cluster["postings"]
    a, b = f"Posting:{postings[0]}", f"Posting:{postings[-1]}"

    why = demo.get(f"/api/clusters/{cid}/why", params={"a": a, "b": b}).json()
    steps = why["steps"]
    assert steps and steps[0]["from_record"] == a and steps[-1]["to_record"] == b
    for step, following in pairwise(steps):
        assert step["to_record"] == following["from_record"]
    assert all(s["via"].startswith("Identifier:") and s["evidence"] for s in steps)
    assert math.isclose(why["confidence"], math.prod(s["weight"] for s in steps), abs_tol=1e-4)
    elsewhere = f"Posting:{summaries[1]['postings'][0]}"
    for params, code in [
        ({"a": a, "b": elsewhere}, 400),  # not a member of this cluster
        ({"a": a, "b": "nonsense"}, 400),
        ({"a": a, "b": "Posting:P404"}, 404),
        ({"a": a}, 422),
    ]:
        response = demo.get(f"/api/clusters/{cid}/why", params=params)
        assert response.status_code == code, params
        assert "detail" in response.json()
    assert demo.get("/api/clusters/A404/why", params={"a": a, "b": b}).status_code == 404
    form = assert_safe_page(demo.get(f"/cluster/{cid}", params={"a": a, "b": b}))
    assert 'id="why-steps"' in form and steps[0]["via"].partition(":")[2] in form

    decisions = "/api/clusters/decisions"
    for body, code in [
        ({"action": "bogus", "records": [a], "by": "t"}, 400),
        ({"action": "split", "records": [], "by": "t"}, 400),
        ({"action": "merge", "records": [a], "by": "t"}, 400),
        ({"action": "split", "records": ["nonsense"], "by": "t"}, 400),
        ({"action": "split", "records": ["Country:CN"], "by": "t"}, 400),
        ({"action": "split", "records": ["Posting:P404"], "by": "t"}, 404),
        ({"action": "split", "records": [a]}, 422),
    ]:
        response = demo.post(decisions, json=body)
        assert response.status_code == code, body
        assert "detail" in response.json()
    assert store.get_meta(DECISIONS_META) is None  # nothing was stored by a refused call

    victim = f"Posting:{postings[1]}"
    split = demo.post(decisions, json={"action": "split", "records": [victim], "by": "jdoe",
                                       "note": "different seller"})  # fmt: skip
    assert split.status_code == 200
    result = split.json()
    assert result["decision"]["action"] == "split" and result["decision"]["by"] == "jdoe"
    assert result["decision"]["records"] == [victim] and result["decision"]["at"]
    alone = result["clusters"][victim]
    assert alone and alone != cid
    after = demo.get(f"/api/clusters/{cid}").json()
    assert postings[1] not in after["postings"] and after["size"] == cluster["size"] - 1
    assert demo.get(f"/api/clusters/{alone}").json()["postings"] == [postings[1]]
    stored = store.get_meta(DECISIONS_META)
    assert stored is not None and stored["decisions"][-1]["note"] == "different seller"

    confirm = demo.post(decisions, json={"action": "confirm", "records": [a], "by": "jdoe"})
    assert confirm.json()["clusters"] == {a: cid}

    # the page's form: same decision code, a CSRF token, then back to the cluster
    page = demo.get(f"/cluster/{cid}")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token and demo.cookies.get("prexus_csrf") == token.group(1)  # set by the GET before
    second = f"Posting:{postings[2]}"
    form = {"action": "split", "records": [second], "by": "jdoe", "csrf": token.group(1)}
    url = f"/cluster/{cid}/decisions"
    forged = demo.post(url, data={**form, "csrf": "x" * 43}, follow_redirects=False)
    assert forged.status_code == 403 and "text/html" in forged.headers["content-type"]
    cookieless = TestClient(demo.app).post(url, data=form, follow_redirects=False)
    assert cookieless.status_code == 403
    assert demo.get(f"/api/clusters/{cid}").json()["size"] == cluster["size"] - 1  # untouched
    sent = demo.post(url, data=form, follow_redirects=False)
    assert sent.status_code == 303
    moved = demo.get(f"/api/postings/{postings[2]}").json()["cluster"]
    assert moved != cid and sent.headers["location"].startswith(f"/cluster/{cid}?done=split")
    shown = assert_safe_page(demo.get(sent.headers["location"]))
    assert 'id="decided"' in shown and f'data-ref="{second}"' not in shown
    assert f'data-ref="{a}"' in shown
    assert demo.get(f"/api/clusters/{cid}").json()["size"] == cluster["size"] - 2

    merge = {"action": "merge", "other": alone, "by": "jdoe", "csrf": token.group(1)}
    merged = demo.post(url, data=merge, follow_redirects=False)
    assert merged.status_code == 303
    assert demo.get(f"/api/postings/{postings[1]}").json()["cluster"] == cid
    bad = demo.post(url, data={**merge, "action": "bogus"}, follow_redirects=False)
    assert bad.status_code == 400 and "unknown action" in bad.text
    assert demo.post("/cluster/A404/decisions", data=merge).status_code == 404


# --- before any analysis: empty answers, not errors --------------------------------------------


def test_analysis_endpoints_before_analysis(store: GraphStore) -> None:
    build_sample_graph(store)
    with TestClient(create_app(store=store)) as client:
        posting = client.get(f"/api/postings/{SAMPLE.p1.key}").json()
        assert posting["cluster"] is None
        assert posting["identifiers"] == [{"kind": "phone", "value": "+8613800138000"}]
        assert posting["substances"] == [{"cas": "5449-12-7", "name": "BMK glycidate"}]
        for path in ("/api/clusters", "/api/trends/substitution", "/api/communities"):
            body = client.get(path).json()
            assert body["total"] == 0 and body["items"] == [], path
        alerts = client.get("/api/alerts").json()
        assert alerts["ran_at"] is None and alerts["registry"]["total"] == 0
        ranked = client.get("/api/centrality", params={"measure": "degree"}).json()
        assert [n["id"] for n in ranked["items"]] == [str(SAMPLE.phone)]  # the one analysed
        seizures = client.get("/api/seizures").json()
        assert seizures["items"][0]["id"] == "S1" and seizures["items"][0]["origin"] is None
        assert client.get("/api/routes/flows").json()["routes"]["total"] == 0
        trends = client.get("/api/trends").json()
        assert trends["items"][0]["key"] == SAMPLE.substance.key
        assert client.get("/api/clusters/A1").status_code == 404
        assert client.get(f"/api/clusters/A1/why?a={SAMPLE.p1}&b={SAMPLE.xss}").status_code == 404
        for path in ("/", "/clusters", "/trends", "/routes"):
            assert_safe_page(client.get(path))
        chart = client.get("/trends/chart.svg")  # no PMK glycidates in the sample
        assert chart.status_code == 200 and b"No postings or seizures" in chart.content

        early = client.post(
            "/api/clusters/decisions",
            json={"action": "split", "records": [str(SAMPLE.p1)], "by": "t"},
        )
        assert early.status_code == 200  # clustering runs, with the decision applied
        alone = early.json()["clusters"][str(SAMPLE.p1)]
        assert client.get(f"/api/clusters/{alone}").json()["postings"] == [SAMPLE.p1.key]
        together = client.get(f"/api/postings/{SAMPLE.xss.key}").json()["cluster"]
        assert together == client.get(f"/api/postings/{SAMPLE.p3.key}").json()["cluster"]
        page = assert_safe_page(client.get(f"/cluster/{together}"))
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the hostile title, as text


def test_cluster_growth_compares_the_last_year_of_the_data_with_the_one_before() -> None:
    dated = [
        ("2024-02-29", "A1"),  # the newest posting ends the window, whatever today is
        ("2023-06-01T10:00:00", "A1"),
        ("2023-03-01", "A1"),
        ("2023-02-28", "A1"),  # 2023 has no 02-29: the last day of the year before
        ("2022-06-01", "A2"),
        ("2023-05-01", "A2"),
        ("2022-03-01", "A3"),
        ("2021-01-01", "A3"),  # older than both windows
        ("2024-01-01", "A3"),
        ("2022-04-01", "A4"),
        ("", "A5"),
    ]
    growing, window = cluster_growth(dated, 5)
    assert window is not None
    assert (window.previous_from, window.recent_from, window.end) == (
        "2022-02-29",
        "2023-02-29",
        "2024-02-29",
    )
    assert [(g.cluster, g.recent, g.previous, g.change) for g in growing] == [
        ("A1", 3, 1, 2),
    ]
    one = cluster_growth([("2024-01-01", "A1")], 1)
    assert one == (
        [ClusterGrowth("A1", 1, 0)],
        GrowthWindow("2022-01-01", "2023-01-01", "2024-01-01"),
    )
    assert cluster_growth([], 5) == ([], None)

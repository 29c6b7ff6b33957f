"""Cases through the API, on both stores: cases, members and status, pins of entities and
clusters, annotations on nodes and edges, the case's own network, snapshots that reopen as
they were after the graph changed, the activity log, and who may change a case."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import quote

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from web_fixtures import SAMPLE, build_sample_graph

from app.api.cases import editable_case
from app.auth import Principal, Role
from app.main import create_app
from app.report import REPORT_CSP
from graph import cases
from graph.exports import iter_cluster_summaries
from graph.linking import link_actors
from graph.schema import Label, Provenance, make_edge, make_node
from graph.store import GraphStore

S = SAMPLE


@pytest.fixture
def client(store: GraphStore) -> Iterator[TestClient]:
    """The sample graph after clustering: P1, P2, P3, S1 and the company are one actor."""
    build_sample_graph(store)
    link_actors(store)
    with TestClient(create_app(store=store)) as test_client:
        yield test_client


@pytest.fixture
def cluster(client: TestClient, store: GraphStore) -> str:
    return next(iter_cluster_summaries(store))["id"]


def open_case(client: TestClient, name: str = "PMK vendors", **extra: object) -> dict:
    response = client.post("/api/cases", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def open_pinned_case(client: TestClient, cluster: str, note: str | None = None) -> dict:
    """A case with `cluster` pinned and, given `note`, that note on P1: the work the
    snapshot, activity and delete tests start from."""
    case = open_case(client)
    client.post(f"/api/cases/{case['id']}/pins", json={"cluster": cluster})
    if note is not None:
        client.post(f"/api/cases/{case['id']}/annotations", json={"node": str(S.p1), "text": note})
    return case


def test_cases_open_list_update_and_page(client: TestClient) -> None:
    first = open_case(client, members=["alice", " alice ", "bob"], description="from tip 12")
    assert first["owner"] == "local" and first["status"] == "open"
    assert first["members"] == ["alice", "bob"]
    second = open_case(client, "Second")
    listed = client.get("/api/cases").json()
    assert listed["total"] == 2
    assert [c["id"] for c in listed["items"]] == [first["id"], second["id"]]
    page = client.get("/api/cases", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and [c["id"] for c in page["items"]] == [second["id"]]
    changed = client.patch(f"/api/cases/{first['id']}", json={"status": "closed", "name": "R"})
    assert changed.json()["status"] == "closed" and changed.json()["name"] == "R"
    assert changed.json()["updated"] >= first["updated"]
    closed = client.get("/api/cases", params={"status": "closed"}).json()
    assert [c["id"] for c in closed["items"]] == [first["id"]]
    added = client.post(f"/api/cases/{first['id']}/members", json={"name": "carol"}).json()
    assert added["members"] == ["alice", "bob", "carol"]
    removed = client.delete(f"/api/cases/{first['id']}/members/alice").json()
    assert removed["members"] == ["bob", "carol"]
    assert client.delete(f"/api/cases/{first['id']}/members/zed").status_code == 404
    assert client.get(f"/api/cases/{first['id']}").json()["name"] == "R"


def test_case_errors_are_json_with_the_right_status(client: TestClient) -> None:
    case = open_case(client)
    assert client.get("/api/cases/case-nope").status_code == 404
    assert client.get("/api/cases/case-nope").json() == {"detail": "no case 'case-nope'"}
    assert client.post("/api/cases", json={"name": ""}).status_code == 422
    assert client.patch(f"/api/cases/{case['id']}", json={"status": "lost"}).status_code == 422
    pins = f"/api/cases/{case['id']}/pins"
    assert client.post(pins, json={"ref": "Posting:P404"}).status_code == 404
    assert client.post(pins, json={"ref": "Nothing:x"}).status_code == 400
    assert client.post(pins, json={}).status_code == 422
    notes = f"/api/cases/{case['id']}/annotations"
    assert client.post(notes, json={"node": str(S.p1), "text": " "}).status_code == 400
    missing_edge = {"source": str(S.p1), "type": "HAS_IDENTIFIER", "target": str(S.telegram)}
    assert client.post(notes, json={"edge": missing_edge, "text": "x"}).status_code == 404
    assert client.post(notes, json={"edge": {**missing_edge, "type": "NOPE"},
                                    "text": "x"}).status_code == 400  # fmt: skip


def test_pins_and_the_case_network(client: TestClient, cluster: str) -> None:
    case = open_case(client)
    pins = f"/api/cases/{case['id']}/pins"
    pinned = client.post(pins, json={"cluster": cluster, "note": "main vendor"}).json()
    assert pinned["kind"] == "cluster"
    assert client.post(pins, json={"ref": str(S.platform)}).json()["kind"] == "node"
    again = client.post(pins, json={"ref": str(S.platform), "note": "where they post"}).json()
    listed = client.get(pins).json()
    assert listed["total"] == 2
    assert [p["ref"] for p in listed["items"]] == [f"Actor:{cluster}", str(S.platform)]
    assert listed["items"][1]["note"] == again["note"] == "where they post"

    network = client.get(f"/api/cases/{case['id']}/network").json()
    ids = {n["id"] for n in network["nodes"]}
    members = {str(S.p1), str(S.xss), str(S.p3), str(S.seizure), str(S.company)}
    # pins, the cluster's members, and the contacts two or more members share (not the url
    # only P3 has, not the country or substance: those are no ties)
    assert ids == {f"Actor:{cluster}", str(S.platform), *members, str(S.phone), str(S.telegram)}
    assert set(network["seeds"]) == {f"Actor:{cluster}", str(S.platform)}
    assert network["truncated"] is False
    types = {(e["type"], e["source"], e["target"]) for e in network["edges"]}
    assert ("HAS_IDENTIFIER", str(S.xss), str(S.telegram)) in types
    assert ("POSTED_ON", str(S.p1), str(S.platform)) in types
    assert sum(t == "MEMBER_OF" for t, _, _ in types) == 5
    cut = client.get(f"/api/cases/{case['id']}/network", params={"limit": 3}).json()
    assert cut["truncated"] is True and len(cut["nodes"]) == 3
    assert {n["id"] for n in cut["nodes"]} >= {f"Actor:{cluster}", str(S.platform)}

    gone = client.delete(f"{pins}/{quote(str(S.platform), safe='')}")
    assert gone.status_code == 204
    assert client.delete(f"{pins}/{quote(str(S.platform), safe='')}").status_code == 404
    assert client.get(pins).json()["total"] == 1


def test_annotations_on_nodes_and_edges(client: TestClient) -> None:
    case = open_case(client)
    notes = f"/api/cases/{case['id']}/annotations"
    on_node = client.post(notes, json={"node": str(S.xss), "text": "<b>same</b> seller"})
    assert on_node.status_code == 201
    body = on_node.json()
    assert body["author"] == "local" and body["target"] == str(S.xss) and body["at"]
    assert body["text"] == "<b>same</b> seller"
    edge = {"source": str(S.xss), "type": "HAS_IDENTIFIER", "target": str(S.telegram)}
    on_edge = client.post(notes, json={"edge": edge, "text": "handle in the footer"}).json()
    assert on_edge["edge"] == edge
    assert on_edge["target"] == f"HAS_IDENTIFIER:{S.xss}->{S.telegram}"
    client.post(notes, json={"node": str(S.xss), "text": "second"})
    everything = client.get(notes).json()
    assert everything["total"] == 3
    assert [a["text"] for a in everything["items"]] == ["<b>same</b> seller",
                                                        "handle in the footer", "second"]
    per_node = client.get(notes, params={"target": str(S.xss)}).json()
    assert per_node["total"] == 2 and {a["text"] for a in per_node["items"]} == {
        "<b>same</b> seller", "second"
    }
    per_edge = client.get(notes, params={"target": on_edge["target"]}).json()
    assert [a["id"] for a in per_edge["items"]] == [on_edge["id"]]
    assert client.delete(f"{notes}/{on_edge['id']}").status_code == 204
    assert client.delete(f"{notes}/{on_edge['id']}").status_code == 404
    assert client.get(notes).json()["total"] == 2


def test_a_snapshot_reopens_as_it_was_after_the_graph_changes(
    client: TestClient, store: GraphStore, cluster: str
) -> None:
    case = open_pinned_case(client, cluster, "then")
    drawn = client.get(f"/api/cases/{case['id']}/network", params={"limit": 100}).json()
    positions = {n["id"]: {"x": float(i * 10), "y": -float(i)} for i, n in
                 enumerate(drawn["nodes"])}  # fmt: skip
    positions["Posting:not-drawn"] = {"x": 1.0, "y": 1.0}
    made = client.post(f"/api/cases/{case['id']}/snapshots",
                       json={"title": "before takedown", "positions": positions,
                             "view": {"limit": 100}})  # fmt: skip
    assert made.status_code == 201
    snap = made.json()
    assert snap["network"] == drawn and snap["author"] == "local"
    assert set(snap["positions"]) == {n["id"] for n in drawn["nodes"]}

    # the graph changes: a new posting shares the phone, and the cluster is re-run
    fresh = make_node(Label.POSTING, {"id": "P9", "title": "new"}, Provenance("t", "P9"))
    store.upsert([fresh], [make_edge("HAS_IDENTIFIER", fresh.ref, S.phone, Provenance("t"))])
    link_actors(store)
    client.post(f"/api/cases/{case['id']}/annotations", json={"node": str(S.p1), "text": "now"})
    now = client.get(f"/api/cases/{case['id']}/network").json()
    assert "Posting:P9" in {n["id"] for n in now["nodes"]}

    reopened = client.get(f"/api/cases/{case['id']}/snapshots/{snap['id']}").json()
    assert reopened == snap
    assert [a["text"] for a in reopened["annotations"]] == ["then"]
    listed = client.get(f"/api/cases/{case['id']}/snapshots").json()
    assert listed["total"] == 1
    assert listed["items"][0]["nodes"] == len(drawn["nodes"])
    assert listed["items"][0]["title"] == "before takedown"
    assert client.get(f"/api/cases/{case['id']}/snapshots/snap-x").status_code == 404


def test_activity_says_who_did_what(client: TestClient, cluster: str) -> None:
    case = open_pinned_case(client, cluster)
    client.patch(f"/api/cases/{case['id']}", json={"status": "closed"})
    log = client.get(f"/api/cases/{case['id']}/activity").json()
    assert [e["action"] for e in log["items"]] == ["create", "pin", "update"]
    assert all(e["actor"] == "local" and e["at"] for e in log["items"])
    assert log["items"][1]["detail"] == {"ref": f"Actor:{cluster}", "kind": "cluster"}
    assert log["items"][2]["detail"] == {"was": {"status": "open"}}


def test_only_owner_members_or_admins_change_a_case(store: GraphStore) -> None:
    build_sample_graph(store)
    case = cases.create_case(store, "Alice's", "alice", ["bob"])
    analyst = Principal("mallory", Role.ANALYST)
    assert not case.allows(analyst.name)
    assert case.allows("bob") and case.allows("alice")
    with pytest.raises(HTTPException) as refused:
        editable_case(store, case.id, analyst)
    assert refused.value.status_code == 403
    assert editable_case(store, case.id, replace(analyst, name="bob")).id == case.id
    assert editable_case(store, case.id, Principal("root", Role.ADMIN)).id == case.id


def test_deleting_a_case_removes_its_work_not_the_evidence(
    client: TestClient, store: GraphStore, cluster: str
) -> None:
    case = open_pinned_case(client, cluster, "x")
    client.post(f"/api/cases/{case['id']}/snapshots", json={})
    other = open_case(client, "Other")
    before = store.counts()
    assert client.delete(f"/api/cases/{case['id']}").status_code == 204
    assert client.get(f"/api/cases/{case['id']}").status_code == 404
    assert client.delete(f"/api/cases/{case['id']}").status_code == 404
    for kind in ("pin", "annotation", "snapshot", "log"):
        assert store.list_documents(f"case_{kind}:{case['id']}") == (0, [])
    assert store.counts() == before
    assert [c["id"] for c in client.get("/api/cases").json()["items"]] == [other["id"]]


def test_case_data_never_enters_the_graph(client: TestClient, store: GraphStore) -> None:
    before = store.counts()
    case = open_case(client, "PMK oil")
    client.post(f"/api/cases/{case['id']}/annotations", json={"node": str(S.p1), "text": "PMK"})
    assert store.counts() == before
    found = client.get("/api/search", params={"q": "PMK"}).json()["items"]
    assert {n["label"] for n in found} <= {str(label) for label in Label}
    assert {n["id"] for n in found} == {str(S.xss), str(S.p3)}


def test_the_pages_work_the_case_on_both_stores(client: TestClient, cluster: str) -> None:
    """The forms of the case pages, without a browser (test_case_pages_browser drives them
    in Chromium on SQLite): the same calls must work on Neo4j."""
    listing = client.get("/cases")
    assert listing.status_code == 200
    token = listing.text.split('name="csrf" value="')[1].split('"')[0]
    made = client.post("/cases", data={"csrf": token, "name": "Forms", "members": "a, b"},
                       follow_redirects=False)  # fmt: skip
    assert made.status_code == 303
    page = made.headers["location"]
    for path, form in [
        ("/pins", {"ref": cluster}),
        ("/pins", {"ref": str(S.platform)}),
        ("/annotations", {"target": f"HAS_IDENTIFIER:{S.xss}->{S.telegram}", "text": "tie"}),
        ("/annotations", {"target": str(S.p1), "text": "node note"}),
        ("/status", {"status": "closed"}),
    ]:
        answer = client.post(page + path, data={"csrf": token, **form}, follow_redirects=False)
        assert answer.status_code == 303, (path, answer.text)
    refused = client.post(page + "/pins", data={"csrf": "forged", "ref": str(S.p3)})
    assert refused.status_code == 403
    shown = client.get(page)
    assert shown.status_code == 200 and "node note" in shown.text and "closed" in shown.text
    snap = client.post(page + "/snapshots", data={"csrf": token, "positions": "{}"},
                       follow_redirects=False)  # fmt: skip
    assert client.get(snap.headers["location"]).status_code == 200
    report = client.get(page + "/report")
    assert report.status_code == 200 and "tie" in report.text
    assert report.headers["content-security-policy"] == REPORT_CSP
    case_id = page.rsplit("/", 1)[1]
    notes = client.get(f"/api/cases/{case_id}/annotations").json()["items"]
    assert [n["edge"] is not None for n in notes] == [True, False]

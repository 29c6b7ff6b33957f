"""Watchlists on both stores: ingest and the analysis raise alerts for watched contacts,
companies, substances and clusters, once each, and the API serves and acknowledges them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from graph.checks import run_checks
from graph.linking import link_actors
from graph.schema import Label, NodeRef
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore
from graph.watchlists import (
    acknowledge,
    add_watch,
    delete_watch,
    get_watch,
    list_alerts,
    list_watches,
)
from ingest.loader import ingest_files
from ingest.targets import watch_target

PHONE_AS_WATCHED = "+86 138 0013 8000"
PHONE_AS_POSTED = "WhatsApp: 0086-138-0013-8000"
SUBSTANCE_CAS = "80532-66-7"  # P-2-P methyl glycidic acid methyl ester (BMK glycidate)


def posting(pid: str, platform: str, day: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "platform": platform, "posted_at": day, "title": f"Offer {pid}",
            "text": text, "kind": "offer", **extra}  # fmt: skip


def ingest(store: GraphStore, folder: Path, name: str, rows: list[dict[str, Any]]) -> None:
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    summary = ingest_files(store, "postings", [path], source="test",
                           rejects_path=folder / f"{name}.rejects.jsonl")  # fmt: skip
    assert summary.rejected == 0


def watch(store: GraphStore, kind: str, value: str) -> str:
    watch_kind, target = watch_target(kind, value)
    return add_watch(store, watch_kind, target, value, by="analyst")[0].id


def test_watched_phone_alerts_once_for_a_new_posting(store: GraphStore, tmp_path: Path) -> None:
    ingest(store, tmp_path, "old", [posting("P0", "ChemB2B", "2024-01-01", PHONE_AS_POSTED)])
    wid = watch(store, "phone", PHONE_AS_WATCHED)
    assert get_watch(store, wid).target == "Identifier:phone:+8613800138000"  # type: ignore[union-attr]
    ingest(store, tmp_path, "old", [posting("P0", "ChemB2B", "2024-01-01", PHONE_AS_POSTED)])
    assert list_alerts(store)[0] == 0  # known before the watch: not new

    rows = [
        posting("P1", "ChemB2B", "2024-02-01", f"BMK oil. {PHONE_AS_POSTED}"),
        posting("P2", "ChemB2B", "2024-02-02", "no contact here"),
    ]
    ingest(store, tmp_path, "new", rows)
    ingest(store, tmp_path, "new", rows)  # the same file again
    total, alerts = list_alerts(store)
    assert total == 1
    alert = alerts[0]
    assert (alert.kind, alert.subject, alert.watch) == ("new_posting", "Posting:P1", wid)
    assert alert.detail["platform"] == "ChemB2B" and alert.detail["evidence"]

    seen = acknowledge(store, alert.id, "lead")
    assert seen is not None and seen.acknowledged_by == "lead"
    assert list_alerts(store, acknowledged=False)[0] == 0
    assert acknowledge(store, alert.id, "someone else").acknowledged_by == "lead"  # type: ignore[union-attr]


def test_first_posting_of_a_watched_substance(store: GraphStore, tmp_path: Path) -> None:
    wid = watch(store, "substance", SUBSTANCE_CAS)
    ingest(store, tmp_path, "first", [
        posting("P2", "ChemB2B", "2024-03-02", f"CAS {SUBSTANCE_CAS} in stock"),
        posting("P1", "ChemB2B", "2024-03-01", f"BMK glycidate CAS {SUBSTANCE_CAS}"),
    ])  # fmt: skip
    ingest(store, tmp_path, "later", [
        posting("P3", "Forum", "2024-04-01", f"{SUBSTANCE_CAS} wholesale"),
    ])  # fmt: skip
    total, alerts = list_alerts(store, watch=wid)
    assert total == 1
    assert (alerts[0].kind, alerts[0].subject) == ("first_posting", "Posting:P1")
    assert get_watch(store, wid).first_posting == "P1"  # type: ignore[union-attr]

    assert watch(store, "substance", "BMK glycidate") == wid  # the same node: the same watch

    # watched again after it was posted: it has had its first posting, so no alert
    assert delete_watch(store, wid)
    again = watch(store, "substance", SUBSTANCE_CAS)
    assert get_watch(store, again).first_posting in {"P1", "P2", "P3"}  # type: ignore[union-attr]
    ingest(store, tmp_path, "more", [posting("P5", "Forum", "2024-05-01", SUBSTANCE_CAS)])
    assert list_alerts(store, watch=again)[0] == 0


def test_reappearance_after_takedown_touching_a_watch(store: GraphStore, tmp_path: Path) -> None:
    wid = watch(store, "telegram", "@ChemVendor88")
    ingest(store, tmp_path, "takedown", [
        posting("R1", "ChemB2B", "2024-01-05", "telegram: @chemvendor88",
                removed_at="2024-02-01", removed_by="ChemB2B"),
        posting("R2", "TradeBoard", "2024-02-10", "t.me/chemvendor88 back in stock"),
        posting("X1", "ChemB2B", "2024-01-06", "wickr: otherguy77",
                removed_at="2024-02-01", removed_by="ChemB2B"),
        posting("X2", "TradeBoard", "2024-02-11", "wickr: otherguy77"),
    ])  # fmt: skip
    link_actors(store)
    counts = run_checks(store)
    assert counts["reappearances"] == 2
    run_checks(store)  # again: nothing twice
    alerts = [a for a in list_alerts(store, watch=wid)[1] if a.kind == "reappearance"]
    assert len(alerts) == 1
    assert alerts[0].subject == "Posting:R1->Posting:R2"
    assert alerts[0].detail["reposted_platform"] == "TradeBoard"

    # watched after the analysis found it: what was found before is not news
    later = watch(store, "wickr", "otherguy77")
    run_checks(store)
    assert list_alerts(store, watch=later)[0] == 0


def test_watched_cluster_on_a_new_platform(store: GraphStore, tmp_path: Path) -> None:
    contacts = "wickr: vendorgeorge, email: george@chemsupply-hb.com"
    ingest(store, tmp_path, "a", [posting("C1", "ChemB2B", "2024-01-01", contacts),
                                  posting("C2", "ChemB2B", "2024-01-02", contacts)])  # fmt: skip
    link_actors(store)
    cluster = store.get_node(NodeRef(Label.POSTING, "C1")).props["cluster"]  # type: ignore[union-attr]
    wid = watch(store, "cluster", str(cluster))
    assert get_watch(store, wid).platforms == ["ChemB2B"]  # type: ignore[union-attr]
    run_checks(store)
    assert list_alerts(store, watch=wid)[0] == 0

    ingest(store, tmp_path, "b", [posting("C3", "Forum", "2024-02-01", "wickr: vendorgeorge")])
    link_actors(store)
    run_checks(store)
    run_checks(store)
    total, alerts = list_alerts(store, watch=wid)
    assert total == 1 and alerts[0].kind == "new_platform"
    assert alerts[0].subject == "Platform:Forum" and alerts[0].detail["posting"] == "C3"


def test_watched_company_and_deleting_a_watch(store: GraphStore, tmp_path: Path) -> None:
    wid = watch(store, "company", "Hubei Fengheng Chemical Co., Ltd.")
    seizures = tmp_path / "seizures.csv"
    seizures.write_text("id,date,substance,consignor\nS1,2024-02-01,PMK,HUBEI FENGHENG CHEMICAL "
                        "CO LTD\n", encoding="utf-8")  # fmt: skip
    ingest_files(store, "seizures", [seizures], rejects_path=tmp_path / "r.jsonl")
    total, alerts = list_alerts(store, watch=wid)
    assert total == 1 and (alerts[0].kind, alerts[0].subject) == ("new_record", "Seizure:S1")
    assert delete_watch(store, wid)
    assert list_alerts(store)[0] == 0 and list_watches(store)[0] == 0
    assert not delete_watch(store, wid)


def test_a_cluster_watch_needs_the_cluster(store: GraphStore) -> None:
    with pytest.raises(ValueError, match="no cluster"):
        watch(store, "cluster", "A-missing")
    with pytest.raises(ValueError, match="not a recognisable phone"):
        watch_target("phone", "call me maybe")


# --- the API (one store suffices: the logic under it runs on both above) ---------------------


def test_watch_api(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "prexus.db")
    client = TestClient(create_app(store=store))
    made = client.post("/api/watches", json={"kind": "phone", "value": PHONE_AS_WATCHED,
                                            "note": "vendor from case 12"})  # fmt: skip
    assert made.status_code == 201, made.text
    wid = made.json()["id"]
    assert made.json()["target"] == "Identifier:phone:+8613800138000"
    again = client.post("/api/watches", json={"kind": "identifier", "value": "+8613800138000"})
    assert again.status_code == 200 and again.json()["id"] == wid
    assert client.post("/api/watches", json={"kind": "email", "value": "nope"}).status_code == 400
    assert client.post("/api/watches", json={"kind": "boat", "value": "x"}).status_code == 422

    upload = f'{{"id": "P9", "platform": "ChemB2B", "text": "{PHONE_AS_POSTED}"}}\n'
    ingested = client.post("/api/ingest/postings", files={"file": ("p.jsonl", upload)})
    assert ingested.status_code == 200, ingested.text

    page = client.get("/api/watch-alerts", params={"watch": wid}).json()
    assert page["total"] == 1 and page["items"][0]["subject"] == "Posting:P9"
    alert = page["items"][0]["id"]
    acked = client.post(f"/api/watch-alerts/{alert}/acknowledge")
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "local"
    assert client.get("/api/watch-alerts", params={"acknowledged": False}).json()["total"] == 0
    assert client.post("/api/watch-alerts/a-nope/acknowledge").status_code == 404

    listed = client.get("/api/watches", params={"limit": 1}).json()
    assert listed["total"] == 1 and listed["items"][0]["note"] == "vendor from case 12"
    assert client.patch(f"/api/watches/{wid}", json={"note": "x"}).json()["note"] == "x"
    assert client.delete(f"/api/watches/{wid}").status_code == 204
    assert client.get(f"/api/watches/{wid}").status_code == 404
    store.close()


def test_watch_a_cluster_from_its_page(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "prexus.db")
    contacts = "wickr: vendorgeorge, threema: ABCD1234"
    ingest(store, tmp_path, "a", [posting("C1", "ChemB2B", "2024-01-01", contacts)])
    link_actors(store)
    cluster = str(store.get_node(NodeRef(Label.POSTING, "C1")).props["cluster"])  # type: ignore[union-attr]
    client = TestClient(create_app(store=store))
    page = client.get(f"/cluster/{cluster}")
    assert page.status_code == 200 and 'id="watch-cluster"' in page.text
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    added = client.post("/watches", data={"csrf": csrf, "kind": "cluster", "value": cluster},
                        follow_redirects=False)  # fmt: skip
    assert added.status_code == 303
    watches = client.get("/watches").text
    assert f"Actor:{cluster}" in watches
    refused = client.post("/watches", data={"csrf": csrf, "kind": "cluster", "value": "A-gone"})
    assert refused.status_code == 400 and "no cluster" in refused.text
    store.close()

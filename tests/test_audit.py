"""The audit trail: every API call and page view that reads or changes data is recorded
(who, when, what, parameters without secrets, status, how many results), the chain shows
tampering (`prexus audit verify` names the entry), and admins can query and export it."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from itertools import pairwise
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_fixtures import SAMPLE, build_sample_graph

from app.audit import GENESIS, AuditLog, verify_chain
from app.auth import Role
from app.cli import cli
from app.main import create_app
from app.statedb import StateDB
from graph.settings import Settings
from graph.store import GraphStore

runner = CliRunner()


@pytest.fixture
def state_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state database file the CLI finds through the settings."""
    path = tmp_path / "state.db"
    monkeypatch.setenv("PREXUS_STATE_DB", str(path))
    monkeypatch.setenv("PREXUS_DB", str(tmp_path / "prexus.db"))
    monkeypatch.delenv("PREXUS_NEO4J_URI", raising=False)
    return path


@pytest.fixture
def app(store: GraphStore, state_path: Path) -> FastAPI:
    build_sample_graph(store)
    return create_app(store=store, state_db=StateDB(state_path))


def test_api_calls_and_page_views_are_recorded(app: FastAPI) -> None:
    admin = app.state.keys.add("ada", Role.ADMIN)
    viewer = app.state.keys.add("vic", Role.VIEWER)
    client = TestClient(app)
    found = client.get("/api/search", params={"q": "PMK", "limit": 1},
                       headers={"X-API-Key": viewer})  # fmt: skip
    assert found.status_code == 200
    client.get(f"/entity/Posting/{SAMPLE.p1.key}", headers={"X-API-Key": viewer})
    client.get("/api/keys", headers={"X-API-Key": viewer})  # refused: recorded all the same
    client.get("/api/stats")  # no key
    client.get("/api/health")
    client.get("/static/css/prexus.css")
    client.post("/api/clusters/decisions", headers={"X-API-Key": admin},
                json={"action": "confirm", "records": [str(SAMPLE.p1)], "by": "ada"})  # fmt: skip

    entries = app.state.audit.entries()
    paths = [e["path"] for e in entries]
    assert "/api/health" not in paths and not any(p.startswith("/static") for p in paths)
    search, page, refused, anonymous, decision = entries
    assert search["actor"] == "vic" and search["role"] == "viewer" and search["method"] == "GET"
    assert search["params"] == {"query": {"q": "PMK", "limit": "1"}}
    assert search["status"] == 200 and search["results"] == found.json()["total"] > 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", search["at"])
    assert page["path"] == "/entity/Posting/P1" and page["status"] == 200
    assert (refused["path"], refused["status"], refused["actor"]) == ("/api/keys", 403, "vic")
    assert (anonymous["actor"], anonymous["role"], anonymous["status"]) == ("anonymous", None, 401)
    assert decision["method"] == "POST" and decision["actor"] == "ada"
    assert decision["params"]["body"] == {"action": "confirm", "records": ["Posting:P1"],
                                          "by": "ada"}  # fmt: skip
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in pairwise(entries))
    assert app.state.audit.verify().ok


def test_single_user_calls_are_recorded_as_local(app: FastAPI) -> None:
    TestClient(app).get("/api/clusters", params={"limit": 5})
    (entry,) = app.state.audit.entries()
    assert (entry["actor"], entry["role"], entry["results"]) == ("local", "admin", 0)


def test_secrets_never_reach_the_trail(app: FastAPI) -> None:
    key = app.state.keys.add("ann", Role.ANALYST)
    client = TestClient(app)
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"key": key, "csrf": token, "next": "/"}, follow_redirects=False)
    client.post("/api/keys", headers={"X-API-Key": key}, json={"name": "x", "role": "viewer"})
    (login, refused) = app.state.audit.entries()
    assert login["path"] == "/login" and login["actor"] == "ann" and login["status"] == 303
    assert login["params"]["body"] == {"key": "[redacted]", "csrf": "[redacted]", "next": "/"}
    dump = json.dumps(app.state.audit.entries())
    assert key not in dump and token not in dump
    assert refused["status"] == 403


def test_ingest_upload_records_file_and_rows(app: FastAPI) -> None:
    rows = b'{"id": "X1", "platform": "p", "title": "t"}\n{"id": "X2", "platform": "p"}\n'
    done = TestClient(app).post("/api/ingest/postings", files={"file": ("feed.jsonl", rows)},
                                data={"source": "feed"})  # fmt: skip
    assert done.status_code == 200
    (entry,) = app.state.audit.entries()
    assert entry["params"] == {"file": "feed.jsonl", "source": "feed"}
    assert entry["results"] == 2


def test_entries_filter_by_whole_path_segments_and_actor(state_path: Path) -> None:
    audit = AuditLog(StateDB(state_path))
    for actor, path in [("a", "/api/cases/1"), ("b", "/api/cases/1/notes"), ("a", "/api/cases/10"),
                        ("a", "/cases/1"), ("b", "/api/cases_1")]:  # fmt: skip
        audit.append(actor=actor, role="analyst", method="GET", path=path, params={}, status=200)
    paths = [e["path"] for e in audit.entries(path_prefix="/api/cases/1")]
    assert paths == ["/api/cases/1", "/api/cases/1/notes"]
    assert [e["path"] for e in audit.entries(path_prefix="/cases/1")] == ["/cases/1"]
    assert [e["seq"] for e in audit.entries(actor="b")] == [2, 5]
    assert [e["seq"] for e in audit.entries(limit=2, offset=1)] == [2, 3]
    assert [e["seq"] for e in audit.entries(limit=2, newest_first=True)] == [5, 4]
    assert audit.count(path_prefix="/api/cases") == 3 and audit.count(actor="a") == 3


def fill(app: FastAPI, n: int = 5) -> None:
    client = TestClient(app)
    for i in range(n):
        client.get("/api/search", params={"q": f"word{i}"})


def test_tampering_is_detected_and_named(app: FastAPI, state_path: Path) -> None:
    fill(app)
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
    with sqlite3.connect(state_path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET actor = 'someone' WHERE seq = 3")
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("""UPDATE audit SET params = '{"query":{"q":"other"}}' WHERE seq = 3""")
    check = app.state.audit.verify()
    assert (check.ok, check.broken_seq, check.entries) == (False, 3, 2)
    assert "entry 3 was altered" in check.reason
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1 and "broken at entry 3" in result.output


def test_deleted_and_forged_entries_are_detected(app: FastAPI, state_path: Path) -> None:
    fill(app)
    with sqlite3.connect(state_path) as conn:
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute("DELETE FROM audit WHERE seq = 2")
    check = app.state.audit.verify()
    assert check.broken_seq == 2 and "missing" in check.reason
    with sqlite3.connect(state_path) as conn:  # renumbering hides the gap but not the chain
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET seq = seq - 1 WHERE seq > 2")
    check = app.state.audit.verify()
    assert check.broken_seq == 2 and "does not follow" in check.reason


def test_admin_queries_verifies_and_exports_over_the_api(app: FastAPI) -> None:
    admin = app.state.keys.add("ada", Role.ADMIN)
    analyst = app.state.keys.add("ann", Role.ANALYST)
    fill(app, 3)
    TestClient(app).get("/api/stats", headers={"X-API-Key": analyst})
    client = TestClient(app, headers={"X-API-Key": admin})
    page = client.get("/api/audit", params={"actor": "ann"}).json()
    assert page["total"] == 1 and page["items"][0]["path"] == "/api/stats"
    newest = client.get("/api/audit", params={"limit": 2}).json()
    assert newest["total"] == 5 and [e["seq"] for e in newest["items"]] == [5, 4]
    search = client.get("/api/audit", params={"path_prefix": "/api/search", "order": "oldest"})
    assert [e["params"]["query"]["q"] for e in search.json()["items"]] == ["word0", "word1",
                                                                           "word2"]  # fmt: skip
    verified = client.get("/api/audit/verify").json()
    assert verified["ok"] and verified["broken_seq"] is None and verified["head_seq"] >= 7
    exported = client.get("/api/audit/export.jsonl")
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert verify_chain(lines).ok and lines[0]["seq"] == 1
    viewer = TestClient(app, headers={"X-API-Key": app.state.keys.add("vic", Role.VIEWER)})
    for url in ("/api/audit", "/api/audit/verify", "/api/audit/export.jsonl"):
        assert viewer.get(url).status_code == 403


def test_cli_export_writes_jsonl_that_checks_out(app: FastAPI, tmp_path: Path) -> None:
    fill(app, 4)
    out = tmp_path / "audit.jsonl"
    result = runner.invoke(cli, ["audit", "export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4]
    assert {"at", "actor", "role", "method", "path", "params", "status", "results", "hash"} <= set(
        lines[0]
    )
    assert verify_chain(lines).ok
    lines[1]["status"] = 500
    assert verify_chain(lines).broken_seq == 2
    stdout = runner.invoke(cli, ["audit", "export"])
    assert len(stdout.stdout.splitlines()) == 4


def test_two_writers_never_fork_the_chain(state_path: Path) -> None:
    """Two connections (as two server processes would have) appending at once."""
    logs = [AuditLog(StateDB(state_path)) for _ in range(2)]

    def write(log: AuditLog, name: str) -> None:
        for i in range(50):
            log.append(actor=name, role=None, method="GET", path=f"/x/{i}", params={},
                       status=200)  # fmt: skip

    threads = [threading.Thread(target=write, args=(log, f"w{n}")) for n, log in enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check = logs[0].verify()
    assert check.ok and check.entries == 100


def test_state_db_defaults_beside_the_embedded_store(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "data" / "prexus.db")
    assert settings.state_db_path == tmp_path / "data" / "prexus-state.db"
    assert Settings(state_db=tmp_path / "s.db").state_db_path == tmp_path / "s.db"

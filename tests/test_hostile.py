"""Hostile input through every text input and upload, on both stores (SQLite and a real
Neo4j), and every limit answering a clear 4xx.

Injection payloads (Cypher, SQL, FTS5 and Lucene syntax, path traversal, HTML/JS, NUL bytes,
right-to-left marks, very long text, a text that once sent the contact parser into
exponential backtracking) go into every string parameter of every GET route, found by
walking the app's routes (so a route added later is covered without editing this file),
into every field of every record kind uploaded through `POST /api/ingest/{kind}`, and into
every string field of every JSON body and page form. Nothing executes (the graph is
unchanged by reads, and stays intact after writes), nothing leaks (no file contents, no
server paths), no 5xx, and whatever comes back is JSON-encoded or HTML-escaped.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Union
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from web_fixtures import SAMPLE, build_sample_graph

from app.main import create_app
from graph import limits
from graph.limits import (
    MAX_JSON_BODY_BYTES,
    MAX_JSON_DEPTH,
    MAX_PATH_DEPTH,
    MAX_QUERY_CHARS,
    MAX_REF_CHARS,
    MAX_SEEDS,
    MAX_VIEW_DEPTH,
    MAX_VIEW_LIMIT,
    QueryTimeoutError,
    time_budget,
)
from graph.schema import Label, NodeRef
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore
from ingest.records import SPECS, string_list, text

S = SAMPLE
CSRF = "hostile-test-token-0123456789abcdefghijklmnop"

PAYLOADS = [
    # Cypher
    "' OR 1=1 //",
    '"}) MATCH (n) DETACH DELETE n //',
    "\u0027) MATCH (n) DETACH DELETE n RETURN 1 //",
    "`) DETACH DELETE n //",
    "x`:`Posting",
    "$key",
    # SQL and FTS5 / Lucene query syntax
    "'; DROP TABLE nodes; --",
    '" OR ""="',
    "NEAR(PMK oil",
    '"',
    "*",
    "AND OR NOT",
    "text: PMK* ^2 ~ -",
    # path traversal
    "../../etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..\\..\\windows\\win.ini",
    "file:///etc/passwd",
    # HTML and script
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "{{7*7}}${7*7}",
    # odd bytes and sizes
    "a\x00b",
    "\u202eevil\u202c PMK",
    "\ufeffＰＭＫ\u200b",
    "A" * 5_000,
    ":" * 40 + "+86 138 0013 8000",  # was exponential backtracking in the contact parser
]
CORE_PAYLOADS = [PAYLOADS[i] for i in (0, 1, 6, 8, 13, 17, 18, 21, 22, 24, 25)]
"""One of each family: what `Posting:<payload>` references and slow routes get."""
SLOW_ROUTES = frozenset({"/trends/chart.svg"})
"""Routes that draw an image per distinct query (a quarter second each): core payloads only."""
RAW_MARKUP = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
"""Never in an HTML page or an SVG as written: only escaped."""
LEAKS = ("root:x:0:0", "[extensions]", "prexus-upload-", "Traceback (most recent call last)")
"""File contents, server paths, stack traces: never in any response."""
REF_PARAMS = frozenset({"seed", "from", "to", "a", "b", "ref", "target"})
"""Parameters holding `Label:key`: also sent as `Posting:<payload>`, so the payload gets past
the label check and reaches the store as a key."""
VALID = {
    "q": "PMK", "seed": str(S.p1), "from": str(S.p1), "to": str(S.seizure), "a": str(S.p1),
    "b": str(S.p3), "key": S.p1.key, "posting_id": S.p1.key, "substance": "5449-12-7",
    "next": "/", "label": "Posting",
}  # fmt: skip
"""A valid value for the string parameters not under test; others get 'x'."""


# --- the routes, found by walking the app ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: Literal["query", "path", "body"]
    kind: Literal["str", "list", "choice", "model", "other"]
    annotation: Any
    required: bool


def _kind(annotation: Any) -> tuple[str, Any]:
    """('str' | 'list' | 'choice' | 'model' | 'other', the annotation without None)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        rest = [arg for arg in args if arg is not type(None)]
        return _kind(rest[0]) if len(rest) == 1 else ("other", annotation)
    if annotation is str:
        return "str", annotation
    if origin is list:
        return ("list", annotation) if args and args[0] is str else ("other", annotation)
    if origin is Literal or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return "choice", annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    return "other", annotation


def _choice(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return str(typing.get_args(annotation)[0])
    return str(next(iter(annotation)).value)


def _params(route: APIRoute) -> list[Param]:
    found: list[Param] = []

    def walk(dependant: Any) -> None:
        for where, fields in (("query", dependant.query_params), ("path", dependant.path_params),
                              ("body", dependant.body_params)):  # fmt: skip
            for field in fields:
                kind, annotation = _kind(field.field_info.annotation)
                found.append(Param(field.alias, where, kind, annotation,  # type: ignore[arg-type]
                                   field.field_info.is_required()))  # fmt: skip
        for sub in dependant.dependencies:
            walk(sub)

    walk(route.dependant)
    return list({(p.where, p.name): p for p in found}.values())


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """(full path, route) of every API and page route, through included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):  # FastAPI's lazily included routers
            yield from _routes(route.original_router.routes, prefix + route.include_context.prefix)


def _url(template: str, values: dict[str, str]) -> str:
    path = template
    for name, value in values.items():
        encoded = quote(value, safe="")
        path = path.replace("{" + name + ":path}", encoded).replace("{" + name + "}", encoded)
    return path


def _default(param: Param) -> Any:
    if param.kind == "choice":
        if param.name in VALID:
            return VALID[param.name]
        return _choice(param.annotation)
    if param.kind == "list":
        return [VALID.get(param.name, "x")]
    if param.kind == "str":
        return VALID.get(param.name, "x")
    return 1 if param.annotation is int else None


def _request_values(params: list[Param], tested: Param, value: Any) -> tuple[dict, dict]:
    """(path values, query values): `value` in the parameter under test, a valid value in
    required or path parameters, nothing in the other optional ones."""
    path: dict[str, str] = {}
    query: dict[str, Any] = {}
    for param in params:
        if param.where == "body":
            continue
        if param == tested:
            chosen = [value] if param.kind == "list" else value
        elif param.where == "path" or param.required:
            chosen = _default(param)
        else:
            continue
        if chosen is not None:
            (path if param.where == "path" else query)[param.name] = chosen
    return path, {k: v for k, v in query.items() if k not in path}


def _problem(response: Any) -> str | None:
    """Why a response to hostile input is wrong, or None when it is fine."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    body = response.text
    for leak in LEAKS:
        if leak in body:
            return f"leaks {leak!r}"
    content_type = response.headers.get("content-type", "")
    if "html" in content_type or "svg" in content_type:
        for markup in RAW_MARKUP:
            if markup in body:
                return f"raw {markup!r} in {content_type}"
    elif content_type.startswith("application/json") and body:
        try:
            json.loads(body)
        except ValueError:
            return "invalid JSON"
    return None


@pytest.fixture
def hostile(store: GraphStore) -> Iterator[tuple[TestClient, FastAPI]]:
    """The sample graph (with its own hostile posting) served single-user, with a form
    token in the cookie jar."""
    build_sample_graph(store)
    app = create_app(store=store)
    with TestClient(app, follow_redirects=False) as client:
        client.cookies.set("prexus_csrf", CSRF)
        yield client, app


# --- every string parameter of every GET route --------------------------------------------


def test_hostile_text_in_every_get_parameter(
    hostile: tuple[TestClient, FastAPI], store: GraphStore
) -> None:
    client, app = hostile
    before = store.counts()
    tried, failures = 0, []
    for template, route in _routes(app.router.routes):
        if "GET" not in route.methods:
            continue
        params = _params(route)
        for param in params:
            if param.where == "body" or param.kind not in ("str", "list"):
                continue
            variants = CORE_PAYLOADS if template in SLOW_ROUTES else PAYLOADS
            if param.name in REF_PARAMS:
                variants = variants + [f"Posting:{p}" for p in CORE_PAYLOADS]
            for payload in variants:
                path, query = _request_values(params, param, payload)
                response = client.get(_url(template, path), params=query)
                tried += 1
                problem = _problem(response)
                if problem:
                    failures.append(f"GET {template} {param.name}={payload[:60]!r}: {problem}")
    assert tried > 500, "the walk found too few parameters: is the route walk broken?"
    assert not failures, f"{len(failures)} of {tried} requests:\n" + "\n".join(failures[:40])
    assert store.counts() == before, "a read-only request changed the graph"


def test_traversal_in_the_url_path_reads_no_file(hostile: tuple[TestClient, FastAPI]) -> None:
    client, _ = hostile
    for path in (
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/vendor/vis/../../../app/main.py",
        "/api/entities/Posting/..%2f..%2f..%2fetc%2fpasswd",
        "/entity/Posting/%00",
    ):
        response = client.get(path)
        assert response.status_code in (400, 404), path
        assert _problem(response) is None, path
        assert "create_app" not in response.text


# --- uploads: a payload in every field of every record kind ---------------------------------


def _hostile_rows(kind: str) -> list[dict[str, Any]]:
    """Per payload: one row with the payload in every field (mostly rejected: countries,
    dates, CAS numbers), and one with it in every free-text field and in an unknown field's
    name and value (ingested as written, if anything)."""
    fields = SPECS[kind].fields
    rows = []
    for i, payload in enumerate(PAYLOADS):
        rows.append({spec.name: payload for spec in fields})
        free = {
            spec.name: [payload] if spec.parse is string_list else f"{payload} #{i}"
            for spec in fields
            if spec.parse in (text, string_list)
        }
        rows.append({**free, payload[:100] or "blank": payload})
    return rows


def _as_csv(rows: list[dict[str, Any]]) -> bytes:
    """The rows as CSV; a NUL in a column name would make the whole file unreadable (a
    header row with binary in it), so those names lose it."""
    rows = [{k.replace("\x00", ""): v for k, v in row.items()} for row in rows]
    columns = list(dict.fromkeys(name for row in rows for name in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()})
    return out.getvalue().encode()


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_hostile_records_through_upload(
    hostile: tuple[TestClient, FastAPI], store: GraphStore, kind: str
) -> None:
    client, _ = hostile
    rows = _hostile_rows(kind)
    jsonl = "\n".join(json.dumps(row) for row in rows).encode()
    for name, blob in ((f"{PAYLOADS[13]}.jsonl", jsonl), ("../../etc/passwd.csv", _as_csv(rows))):
        response = client.post(f"/api/ingest/{kind}", files={"file": (name, blob)},
                               data={"source": PAYLOADS[1]})  # fmt: skip
        assert _problem(response) is None, response.text[:500]
        assert response.status_code == 200, response.text[:500]
        result = response.json()
        assert result["read"] == len(rows)
        assert result["ingested"] + result["updated"] + result["unchanged"] + result[
            "rejected"
        ] == len(rows)
    # nothing executed: the graph the payloads would have deleted is all there
    assert all(store.get_node(ref) for ref in (S.p1, S.xss, S.phone, S.seizure, S.cn))


def test_hostile_postings_are_stored_as_written_and_shown_as_text(
    hostile: tuple[TestClient, FastAPI], store: GraphStore
) -> None:
    client, _ = hostile
    client.post("/api/ingest/platforms", files={"file": ("p.csv", b"name\nChemB2B Market\n")})
    rows = [
        {"id": f"H{i}{payload[:50]}", "platform": "ChemB2B Market", "title": payload,
         "text": payload}
        for i, payload in enumerate(PAYLOADS)
        if "\x00" not in payload  # a NUL is rejected (binary): the upload test has it
    ]  # fmt: skip
    blob = "\n".join(json.dumps(row) for row in rows).encode()
    result = client.post("/api/ingest/postings", files={"file": ("h.jsonl", blob)}).json()
    assert result["rejected"] == 0, result["rejects"]
    for row in rows:
        ref = NodeRef(Label.POSTING, row["id"].strip())
        node = store.get_node(ref)
        assert node is not None and node.props["title"] == row["title"].strip(), ref
        if "%" in ref.key:
            continue  # Starlette's TestClient decodes a path twice; a real server once
        api = client.get(f"/api/entities/Posting/{quote(ref.key, safe='')}")
        assert api.status_code == 200 and api.json()["properties"]["title"] == node.props["title"]
        page = client.get(f"/entity/Posting/{quote(ref.key, safe='')}")
        assert page.status_code == 200 and _problem(page) is None
    found = client.get("/search", params={"q": "alert"})
    assert found.status_code == 200 and _problem(found) is None


# --- JSON bodies and page forms ----------------------------------------------------------


def _body_for(model: type[BaseModel], payload: str) -> dict[str, Any] | None:
    """A body with `payload` in every string field; None when a required field is of a
    kind this cannot fill."""
    body: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        kind, annotation = _kind(field.annotation)
        if kind == "str":
            body[field.alias or name] = payload
        elif kind == "list":
            body[field.alias or name] = [payload]
        elif kind == "choice":
            body[field.alias or name] = _choice(annotation)
        elif field.is_required():
            if annotation is int:
                body[field.alias or name] = 1
            elif annotation is bool:
                body[field.alias or name] = True
            else:
                return None
    return body


def test_hostile_text_in_every_json_body_and_page_form(
    hostile: tuple[TestClient, FastAPI], store: GraphStore
) -> None:
    client, app = hostile
    headers = {"X-CSRF-Token": CSRF}
    unsafe = [(t, r) for t, r in _routes(app.router.routes) if r.methods - {"GET", "HEAD"}]
    # creating an API key ends single-user mode: those go last
    unsafe.sort(key=lambda item: item[0].startswith(("/api/keys", "/login", "/logout")))
    tried, failures = 0, []
    for template, route in unsafe:
        params = _params(route)
        body_params = [p for p in params if p.where == "body"]
        if any(p.annotation is not None and "UploadFile" in str(p.annotation)
               for p in body_params):  # fmt: skip
            continue  # uploads: the test above
        path = _url(template, {p.name: str(_default(p)) for p in params if p.where == "path"})
        method = sorted(route.methods - {"HEAD"})[0]
        for payload in CORE_PAYLOADS:  # writes are slower than reads: one of each family
            model = next((p.annotation for p in body_params if p.kind == "model"), None)
            if model is not None:
                body = _body_for(model, payload)
                if body is None:
                    break
                response = client.request(method, path, json=body, headers=headers)
            else:
                form = {p.name: (_default(p) if p.kind == "choice" else payload)
                        for p in body_params if p.kind in ("str", "list", "choice")}  # fmt: skip
                form["csrf"] = CSRF
                response = client.request(method, path, data=form, headers=headers)
            tried += 1
            problem = _problem(response)
            if problem:
                failures.append(f"{method} {template} {payload[:60]!r}: {problem}")
    assert tried > 50
    assert not failures, f"{len(failures)} of {tried} requests:\n" + "\n".join(failures[:40])
    assert all(store.get_node(ref) for ref in (S.p1, S.xss, S.phone, S.seizure, S.cn))


# --- limits: each a clear 4xx naming it ----------------------------------------------------


def _detail(response: Any) -> str:
    return json.dumps(response.json()["detail"])


def test_limits_answer_4xx_naming_the_limit(hostile: tuple[TestClient, FastAPI]) -> None:
    client, _ = hostile
    seeds = [("seed", str(S.p1))] * (MAX_SEEDS + 1)
    cases = [
        ("/api/search", {"q": "x" * (MAX_QUERY_CHARS + 1)}, 422, str(MAX_QUERY_CHARS)),
        ("/search", {"q": "x" * (MAX_QUERY_CHARS + 1)}, 422, str(MAX_QUERY_CHARS)),
        ("/api/network", {"seed": str(S.p1), "depth": MAX_VIEW_DEPTH + 1}, 422,
         str(MAX_VIEW_DEPTH)),
        ("/api/network", {"seed": str(S.p1), "limit": MAX_VIEW_LIMIT + 1}, 422,
         str(MAX_VIEW_LIMIT)),
        ("/api/network", seeds, 422, str(MAX_SEEDS)),
        ("/api/paths", {"from": str(S.p1), "to": str(S.p3), "max_depth": MAX_PATH_DEPTH + 1},
         422, str(MAX_PATH_DEPTH)),
        ("/api/paths", {"from": "Posting:" + "k" * MAX_REF_CHARS, "to": str(S.p3)}, 400,
         f"{MAX_REF_CHARS:,}"),
        ("/api/network", {"seed": "Posting:" + "k" * MAX_REF_CHARS}, 400, f"{MAX_REF_CHARS:,}"),
    ]  # fmt: skip
    for path, params, status, named in cases:
        response = client.get(path, params=params)
        assert response.status_code == status, (path, response.text[:300])
        text = _detail(response) if path.startswith("/api") else response.text
        assert named in text, (path, text[:300])


def test_json_bodies_over_the_depth_or_size_limit_are_refused_before_parsing(
    hostile: tuple[TestClient, FastAPI],
) -> None:
    client, _ = hostile
    headers = {"content-type": "application/json"}
    deep = b'{"action": "confirm", "records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post("/api/clusters/decisions", content=deep, headers=headers)
    assert response.status_code == 400
    assert f"{MAX_JSON_DEPTH}-level limit" in response.json()["detail"]
    just_deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    assert client.post("/api/clusters/decisions", content=just_deep,
                       headers=headers).status_code == 400  # fmt: skip
    shallow = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH  # within: the model refuses it
    assert client.post("/api/clusters/decisions", content=shallow,
                       headers=headers).status_code == 422  # fmt: skip
    strings = json.dumps({"action": "confirm", "records": ["[[[[" * 50], "by": "x"}).encode()
    in_strings = client.post("/api/clusters/decisions", content=strings, headers=headers)
    assert "level limit" not in in_strings.text  # brackets inside strings do not count
    big = b'{"note": "' + b"x" * MAX_JSON_BODY_BYTES + b'"}'
    response = client.post("/api/clusters/decisions", content=big, headers=headers)
    assert response.status_code == 413
    assert f"{MAX_JSON_BODY_BYTES:,}-byte limit" in response.json()["detail"]
    no_type = client.post("/api/clusters/decisions", content=deep)  # parsed as JSON anyway
    assert no_type.status_code == 400


def test_uploads_over_the_size_limit_are_refused(store: GraphStore) -> None:
    with TestClient(create_app(store=store, max_upload_bytes=1000)) as small:
        response = small.post("/api/ingest/postings", files={"file": ("a.jsonl", b"x" * 5000)})
    assert response.status_code == 413
    assert "1,000-byte limit" in response.json()["detail"]


# --- heavy queries stop at the time budget -------------------------------------------------


def test_a_query_past_its_time_budget_answers_504(
    hostile: tuple[TestClient, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = hostile
    monkeypatch.setattr(limits, "QUERY_TIMEOUT_SECONDS", 1e-9)
    for path, params in [("/api/network", {"seed": str(S.p1), "depth": 3}),
                         ("/api/search", {"q": "PMK"}),
                         ("/api/paths", {"from": str(S.p1), "to": str(S.seizure)}),
                         ("/api/entities/Posting/P1", {})]:  # fmt: skip
        response = client.get(path, params=params)
        assert response.status_code == 504, (path, response.text[:300])
        assert "timed out after 1e-09 s" in response.json()["detail"]
    page = client.get("/search", params={"q": "PMK"})
    assert page.status_code == 504 and "timed out" in page.text
    monkeypatch.setattr(limits, "QUERY_TIMEOUT_SECONDS", 10.0)
    assert client.get("/api/search", params={"q": "PMK"}).status_code == 200


def test_sqlite_interrupts_a_statement_past_the_budget(tmp_path: Any) -> None:
    store = SQLiteStore(tmp_path / "budget.db")
    endless = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    )
    try:
        with pytest.raises(sqlite3.OperationalError, match="interrupted"), time_budget(0.2):
            store._db.execute(endless).fetchone()
        assert store.search("anything") == []  # the connection still works after it
    finally:
        store.close()


@pytest.mark.neo4j
def test_neo4j_stops_a_query_past_the_budget(neo4j_store: GraphStore) -> None:
    endless = "UNWIND range(1, 10000000000) AS x WITH x WHERE x < 0 RETURN count(x) AS n"
    with pytest.raises(QueryTimeoutError, match=r"timed out after 0\.5 s"), time_budget(0.5):
        neo4j_store._run(endless)  # type: ignore[attr-defined]
    assert neo4j_store.search("anything") == []

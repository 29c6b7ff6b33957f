"""Access: every route answers each role as the permission it declares says, with no key
401 (pages: to /login), keys stored hashed, page sessions and CSRF, secure-by-default
binding, cross-site writes refused, and the rate limit per key."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web_fixtures import SAMPLE, build_sample_graph

from app.auth import (
    FORBIDDEN_PREFIX,
    PUBLIC_PATHS,
    ROLE_PERMISSIONS,
    SIGNED_IN_PATHS,
    Principal,
    Role,
    iter_routes,
    route_permissions,
)
from app.cli import cli
from app.csrf import CSRF_COOKIE, csrf_protected
from app.main import create_app
from app.ratelimit import RateLimiter
from app.statedb import StateDB
from graph.settings import Settings
from graph.store import GraphStore

TEMPLATES = Path(__file__).resolve().parent.parent / "app" / "templates"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
runner = CliRunner()


@pytest.fixture
def app(store: GraphStore) -> FastAPI:
    build_sample_graph(store)
    return create_app(store=store)


@pytest.fixture
def keys(app: FastAPI) -> dict[Role, str]:
    """One key per role: from now on the app is multi-user."""
    return {role: app.state.keys.add(f"{role.value}-key", role) for role in Role}


def sample_path(path: str) -> str:
    """A concrete URL for a route template: every parameter a harmless value."""
    return re.sub(r"\{(\w+)(:path)?\}", lambda m: "Posting" if m[1] == "label" else "x", path)


def is_page(path: str) -> bool:
    return not path.startswith(("/api", "/openapi"))


def routes(app: FastAPI) -> Iterator[tuple[str, str, Any]]:
    return iter_routes(app)


FORM_TOKEN = "t" * 43


def call(client: TestClient, method: str, path: str, key: str | None = None) -> object:
    """The route with parameters filled in; writes carry an empty body (a page form: just a
    valid CSRF pair, so what answers is the role check, not the token check)."""
    headers = {"X-API-Key": key} if key else {}
    body: dict[str, Any] = {}
    if method in UNSAFE:
        body = {"json": {}} if path.startswith("/api") else {"data": {"csrf": FORM_TOKEN}}
    client.cookies.set(CSRF_COOKIE, FORM_TOKEN)
    return client.request(method, sample_path(path), headers=headers,
                          follow_redirects=False, **body)  # fmt: skip


def refused_for_role(response: object) -> bool:
    return response.status_code == 403 and FORBIDDEN_PREFIX in response.text  # type: ignore[attr-defined]


def test_every_route_declares_a_permission_or_is_public(app: FastAPI) -> None:
    """A new route without CanRead/CanAnnotate/CanIngest/CanAdmin/SignedIn fails here."""
    unguarded = [
        f"{method} {path}"
        for method, path, route in routes(app)
        if path not in PUBLIC_PATHS | SIGNED_IN_PATHS and route_permissions(route) is None
    ]
    assert not unguarded, f"routes with no permission dependency: {unguarded}"


def test_every_route_with_no_key_and_with_each_role(app: FastAPI, keys: dict[Role, str]) -> None:
    client = TestClient(app)
    checked = 0
    for method, path, route in routes(app):
        anonymous = call(client, method, path)
        where = f"{method} {path}"
        if path in PUBLIC_PATHS:
            assert anonymous.status_code != 401, where
            assert not anonymous.headers.get("location", "").startswith("/login?next="), where
            continue
        if is_page(path):
            assert anonymous.status_code == 303, where
            assert anonymous.headers["location"].startswith("/login?next="), where
        else:
            assert anonymous.status_code == 401, where
            assert anonymous.json()["detail"].startswith("sign in"), where
            assert anonymous.headers["www-authenticate"] == "Bearer"
        needed = route_permissions(route) or []
        for role, key in keys.items():
            allowed = all(p is None or p in ROLE_PERMISSIONS[role] for p in needed)
            response = call(client, method, path, key)
            assert response.status_code != 401, (where, role)
            assert refused_for_role(response) is not allowed, (where, role, response.text[:300])
        checked += 1
    assert checked > 30  # the API and the pages, not just a few


def test_roles_grant_what_the_issue_says() -> None:
    assert Principal("v", Role.VIEWER).can("read") and not Principal("v", Role.VIEWER).can(
        "annotate"
    )
    assert {str(p) for p in ROLE_PERMISSIONS[Role.ANALYST]} == {"read", "annotate"}
    assert {str(p) for p in ROLE_PERMISSIONS[Role.INGESTER]} == {"ingest"}
    assert {str(p) for p in ROLE_PERMISSIONS[Role.ADMIN]} == {"read", "annotate", "ingest",
                                                               "admin"}  # fmt: skip


def test_bearer_and_api_key_headers_and_bad_keys(app: FastAPI, keys: dict[Role, str]) -> None:
    client = TestClient(app)
    viewer = keys[Role.VIEWER]
    bearer = {"Authorization": f"Bearer {viewer}"}
    assert client.get("/api/stats", headers=bearer).status_code == 200
    assert client.get("/api/stats", headers={"X-API-Key": viewer}).status_code == 200
    wrong = client.get("/api/stats", headers={"X-API-Key": viewer + "x"})
    assert wrong.status_code == 401 and "invalid or revoked" in wrong.json()["detail"]
    app.state.keys.revoke(f"{Role.VIEWER.value}-key")
    assert client.get("/api/stats", headers={"X-API-Key": viewer}).status_code == 401
    # health stays open for probes; static assets too
    assert client.get("/api/health").status_code == 200
    assert client.get("/static/css/prexus.css").status_code == 200


def test_keys_are_stored_hashed(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    from app.keys import KeyStore, token_hash

    token = KeyStore(db).add("alice", Role.ANALYST)
    db.close()
    raw = (tmp_path / "state.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("state.db-*")
    )
    assert token.encode() not in raw
    with sqlite3.connect(tmp_path / "state.db") as conn:
        assert conn.execute("SELECT token_hash FROM api_keys").fetchone()[0] == token_hash(token)


def test_admin_manages_keys_over_the_api(app: FastAPI, keys: dict[Role, str]) -> None:
    client = TestClient(app, headers={"X-API-Key": keys[Role.ADMIN]})
    made = client.post("/api/keys", json={"name": "bob", "role": "ingester"})
    assert made.status_code == 201 and made.json()["token"].startswith("prx_")
    assert client.post("/api/keys", json={"name": "bob", "role": "viewer"}).status_code == 409
    assert client.post("/api/keys", json={"name": "bob", "role": "boss"}).status_code == 422
    listed = client.get("/api/keys").json()
    assert {"name": "bob", "role": "ingester"} in [
        {"name": k["name"], "role": k["role"]} for k in listed
    ]
    assert all("token" not in k and "token_hash" not in k for k in listed)
    bob = made.json()["token"]
    assert client.get("/api/stats", headers={"X-API-Key": bob}).status_code == 403  # ingester
    assert client.delete("/api/keys/bob").json()["revoked_at"]
    assert client.delete("/api/keys/bob").status_code == 404
    assert client.get("/api/stats", headers={"X-API-Key": bob}).status_code == 401
    viewer = TestClient(app, headers={"X-API-Key": keys[Role.VIEWER]})
    assert viewer.get("/api/keys").status_code == 403


# --- single-user mode and binding ------------------------------------------------------------


def test_single_user_without_keys_on_loopback(app: FastAPI) -> None:
    assert TestClient(app).get("/api/stats").status_code == 200
    local = TestClient(app, client=("127.0.0.1", 5000))
    assert local.get("/api/stats").status_code == 200
    assert local.get("/login").status_code == 200 and "single-user" in local.get("/login").text


def test_single_user_refuses_remote_and_proxied_clients(app: FastAPI) -> None:
    remote = TestClient(app, client=("203.0.113.7", 5000))
    refused = remote.get("/api/stats")
    assert refused.status_code == 401 and "single-user" in refused.json()["detail"]
    proxied = TestClient(app, client=("127.0.0.1", 5000), headers={"X-Forwarded-For": "1.2.3.4"})
    assert proxied.get("/api/stats").status_code == 401


def test_exposed_server_never_falls_back_to_single_user(store: GraphStore) -> None:
    client = TestClient(create_app(store=store, exposed=True))
    refused = client.get("/api/stats")
    assert refused.status_code == 401 and "prexus keys add" in refused.json()["detail"]


@pytest.fixture
def state_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PREXUS_DB", str(tmp_path / "prexus.db"))
    monkeypatch.delenv("PREXUS_NEO4J_URI", raising=False)
    monkeypatch.delenv("PREXUS_STATE_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "prexus-state.db"


def test_serve_refuses_other_addresses_without_keys(state_env: Path) -> None:
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0" in result.output
    assert "prexus keys add" in result.output
    from app.cli_access import refuse_unsafe_bind

    added = runner.invoke(cli, ["keys", "add", "admin", "--role", "admin"])
    assert added.exit_code == 0, added.output
    refuse_unsafe_bind("0.0.0.0", Settings())  # keys exist now: no refusal
    refuse_unsafe_bind("127.0.0.1", Settings())


def test_keys_cli_add_list_revoke(state_env: Path) -> None:
    added = runner.invoke(cli, ["keys", "add", "alice", "--role", "analyst"])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("prx_") and len(token) > 40
    assert state_env.exists()  # beside the embedded store
    listed = runner.invoke(cli, ["keys", "list"])
    assert "alice" in listed.output and "analyst" in listed.output and token not in listed.output
    again = runner.invoke(cli, ["keys", "add", "alice", "--role", "viewer"])
    assert again.exit_code == 2 and "exists" in again.output
    assert runner.invoke(cli, ["keys", "add", "x", "--role", "boss"]).exit_code == 2
    assert runner.invoke(cli, ["keys", "add", "local", "--role", "admin"]).exit_code == 2
    assert runner.invoke(cli, ["keys", "revoke", "alice"]).exit_code == 0
    assert runner.invoke(cli, ["keys", "revoke", "alice"]).exit_code == 1
    app = create_app(settings=Settings())
    assert not app.state.keys.any_active()
    assert [e["path"] for e in app.state.audit.entries()] == ["prexus keys add",
                                                               "prexus keys revoke"]  # fmt: skip


# --- pages: sign in, session cookie, CSRF ----------------------------------------------------


def form_token(client: TestClient, url: str) -> str:
    page = client.get(url)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, url
    return found.group(1)


def test_page_sign_in_session_and_sign_out(app: FastAPI, keys: dict[Role, str]) -> None:
    client = TestClient(app)
    first = client.get("/entity/Posting/P1", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == (
        "/login?next=%2Fentity%2FPosting%2FP1"
    )
    token = form_token(client, "/login?next=/entity/Posting/P1")
    bad = client.post("/login", data={"key": "prx_nope", "csrf": token, "next": "/"})
    assert bad.status_code == 401 and "not valid" in bad.text
    no_csrf = client.post("/login", data={"key": keys[Role.VIEWER], "next": "/"},
                          follow_redirects=False)  # fmt: skip
    assert no_csrf.status_code == 403
    signed = client.post(
        "/login", data={"key": keys[Role.VIEWER], "csrf": token, "next": "/entity/Posting/P1"},
        follow_redirects=False,
    )  # fmt: skip
    assert signed.status_code == 303 and signed.headers["location"] == "/entity/Posting/P1"
    cookie = signed.headers["set-cookie"]
    assert "prexus_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert keys[Role.VIEWER] not in cookie
    page = client.get("/entity/Posting/P1")
    assert page.status_code == 200 and "viewer-key" in page.text
    assert client.get("/api/stats").status_code == 200  # network.js fetches with the cookie
    # a viewer may not decide on clusters, by form or by API
    denied = client.post("/cluster/A1/decisions", data={"action": "confirm", "by": "v",
                                                        "csrf": token})  # fmt: skip
    assert denied.status_code == 403 and FORBIDDEN_PREFIX in denied.text
    out = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_revoking_a_key_ends_its_sessions(app: FastAPI, keys: dict[Role, str]) -> None:
    client = TestClient(app)
    token = form_token(client, "/login")
    client.post("/login", data={"key": keys[Role.ANALYST], "csrf": token})
    assert client.get("/", follow_redirects=False).status_code == 200
    app.state.keys.revoke("analyst-key")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_never_redirects_off_site(app: FastAPI, keys: dict[Role, str]) -> None:
    client = TestClient(app)
    token = form_token(client, "/login")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        signed = client.post("/login", data={"key": keys[Role.VIEWER], "csrf": token,
                                             "next": target}, follow_redirects=False)  # fmt: skip
        assert signed.headers["location"] == "/", target


def test_every_post_form_carries_the_csrf_token() -> None:
    """Templates: each form that posts holds the token field."""
    for template in TEMPLATES.glob("*.html"):
        for form in re.findall(r"<form\b.*?</form>", template.read_text(), re.S):
            if re.search(r'method="post"', form, re.I):
                assert 'name="csrf" value="{{ csrf }}"' in form, template.name


def test_every_page_route_that_changes_data_checks_csrf(app: FastAPI) -> None:
    def depends_on_csrf(route: Any) -> bool:
        stack = list(route.dependant.dependencies)
        while stack:
            dep = stack.pop()
            if dep.call is csrf_protected:
                return True
            stack.extend(dep.dependencies)
        return False

    unsafe_pages = [(m, p, r) for m, p, r in routes(app) if m in UNSAFE and is_page(p)]
    assert unsafe_pages
    for method, path, route in unsafe_pages:
        assert depends_on_csrf(route), f"{method} {path}"


def test_cluster_form_works_single_user_with_token_only(app: FastAPI) -> None:
    client = TestClient(app)
    client.get("/")
    assert client.cookies.get(CSRF_COOKIE)
    forged = client.post("/cluster/A1/decisions", data={"action": "confirm", "by": "x",
                                                        "csrf": "not-the-token"})  # fmt: skip
    assert forged.status_code == 403 and "another site" in forged.text


def test_cross_site_writes_are_refused(app: FastAPI, keys: dict[Role, str]) -> None:
    client = TestClient(app, headers={"X-API-Key": keys[Role.ADMIN]})
    body = {"action": "confirm", "records": [str(SAMPLE.p1)], "by": "x"}
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "null"}):  # fmt: skip
        refused = client.post("/api/clusters/decisions", json=body, headers=headers)
        assert refused.status_code == 403 and "cross-site" in refused.json()["detail"], headers
    same = client.post(
        "/api/keys",
        json={"name": "c", "role": "viewer"},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 201
    # reading is not a write: a link from elsewhere still opens a page
    assert client.get("/api/stats", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


# --- rate limit ------------------------------------------------------------------------------


def test_rate_limit_per_key_answers_429(store: GraphStore, tmp_path: Path) -> None:
    settings = Settings(rate_limit_per_minute=6, rate_limit_burst=3, state_db=tmp_path / "s.db")
    app = create_app(store=store, settings=settings)
    first, second = app.state.keys.add("one", "viewer"), app.state.keys.add("two", "viewer")
    client = TestClient(app)
    codes = [client.get("/api/stats", headers={"X-API-Key": first}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/stats", headers={"X-API-Key": first})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "10"
    assert "too many requests" in limited.json()["detail"]
    assert client.get("/api/stats", headers={"X-API-Key": second}).status_code == 200
    # refusals are not audited, so a flood cannot flood the trail
    assert {e["status"] for e in app.state.audit.entries(limit=1000)} == {200}


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limiter.allow("k") for _ in range(3)] == [0, 0, 1]
    now[0] += 1.0
    assert limiter.allow("k") == 0 and limiter.allow("k") == 1
    assert limiter.allow("other") == 0
    assert RateLimiter(per_minute=0, burst=1).allow("k") == 0  # 0: off


@pytest.mark.browser
def test_sign_in_and_out_in_a_real_browser(tmp_path: Path) -> None:
    """Chromium: redirected to the sign-in form, the session cookie is HttpOnly and
    SameSite=Strict and holds no key, the page and its API calls work, sign-out ends it."""
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright
    from web_fixtures import CHROMIUM_ARGS, chromium_path, live_server

    from graph.sqlite_store import SQLiteStore

    executable = chromium_path()
    store = SQLiteStore(tmp_path / "prexus.db")
    build_sample_graph(store)
    app = create_app(store=store)
    key = app.state.keys.add("ann", Role.ANALYST)
    try:
        with live_server(store, app) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{url}/entity/Posting/P1")
            assert page.url.startswith(f"{url}/login?next=")
            page.fill("input[name=key]", key)
            page.click("#login-form button[type=submit]")
            page.wait_for_url(f"{url}/entity/Posting/P1")
            assert "ann (analyst)" in page.inner_text("header")
            session = next(c for c in page.context.cookies() if c["name"] == "prexus_session")
            assert session["httpOnly"] and session["sameSite"] == "Strict"
            assert key not in session["value"]
            api = page.evaluate("fetch('/api/stats').then(r => r.status)")
            assert api == 200  # network.js's fetches go with the session
            page.click("form.signout button")
            page.wait_for_url(f"{url}/login")
            page.goto(f"{url}/")
            assert page.url.startswith(f"{url}/login")
            browser.close()
    finally:
        store.close()
    entries = app.state.audit.entries(actor="ann")
    assert [e["path"] for e in entries][:2] == ["/login", "/entity/Posting/P1"]

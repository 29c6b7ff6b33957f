"""Who is calling, how often, from where, and the audit entry for what they did.

One pure ASGI middleware (no BaseHTTPMiddleware: streaming and latency stay untouched) that,
for every request but static assets:

1. resolves the caller: an API key (`Authorization: Bearer`, `X-API-Key`), else a page
   session cookie, else, with no keys configured, the single local user (loopback clients
   only, and never when the server listens on another address);
2. applies the caller's rate limit (429 with Retry-After);
3. refuses cross-site writes (Sec-Fetch-Site / Origin) and callers with no valid
   credentials on anything but the public paths (401; pages redirect to /login), before a
   request body is read;
4. records the call in the audit trail once the response is sent.

Roles are checked by each route's own dependency (app.auth): this layer only knows who.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request, cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.audit import AuditLog
from app.auth import LOCAL_USER, Principal, is_public
from app.csrf import csrf_cookie
from app.keys import KeyStore
from app.ratelimit import RateLimiter

SESSION_COOKIE = "prexus_session"
STATIC_PREFIX = "/static/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_AUDITED = frozenset({"/api/health", "/login", "/docs", "/openapi.json"})
"""Read with GET, these touch no data: liveness, the sign-in form, the API's description."""
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
SECRET_NAMES = frozenset({"key", "api_key", "token", "csrf", "password", "secret", "salt"})
AUDIT_BODY_BYTES = 64 * 1024
"""Form and JSON bodies up to this size are summarised in the entry (uploads never are)."""
RESULTS_PARSE_BYTES = 256 * 1024
"""JSON answers up to this size are parsed to count results; above, only a leading total."""
MAX_VALUE_CHARS = 500
MAX_ITEMS = 50
_LEADING_TOTAL = re.compile(rb'^\s*\{\s*"total"\s*:\s*(\d+)')

NO_KEYS_EXPOSED = (
    "no API keys are configured and this server does not listen on loopback only: create "
    "a key with `prexus keys add NAME --role admin`"
)
SINGLE_USER_REMOTE = (
    "Prexus runs single-user (no API keys configured) and answers only this machine; "
    "create keys (`prexus keys add NAME --role admin`) to share it"
)


def is_api(path: str) -> bool:
    """The API and the schema answer in JSON; everything else is a page."""
    return path == "/api" or path.startswith(("/api/", "/openapi"))


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _local_client(scope: Scope, headers: Headers) -> bool:
    """A direct connection from this machine. A proxy's forwarding headers mean the real
    client is elsewhere; a client that is not an IP address is an in-process test client."""
    if any(name in headers for name in PROXY_HEADERS):
        return False
    host = (scope.get("client") or ("", 0))[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _redact(name: str, value: Any) -> Any:
    lowered = name.lower()
    if lowered in SECRET_NAMES or lowered.endswith(("_key", "_token", "password", "secret")):
        return "[redacted]"
    return value


def summarise(value: Any, depth: int = 0) -> Any:
    """A JSON value cut down to what an audit entry needs: short strings, few items, no
    secrets."""
    if isinstance(value, str):
        return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "…"
    if isinstance(value, list):
        if depth >= 3:
            return f"[{len(value)} items]"
        items = [summarise(v, depth + 1) for v in value[:MAX_ITEMS]]
        return items + ([f"… {len(value) - MAX_ITEMS} more"] if len(value) > MAX_ITEMS else [])
    if isinstance(value, dict):
        if depth >= 3:
            return f"{{{len(value)} fields}}"
        return {str(k): _redact(str(k), summarise(v, depth + 1))
                for k, v in list(value.items())[:MAX_ITEMS]}  # fmt: skip
    return value


def pairs_summary(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Query or form fields: one value, or a list for a repeated name; secrets redacted."""
    out: dict[str, Any] = {}
    for name, value in pairs[: MAX_ITEMS * 4]:
        value = _redact(name, summarise(value))
        if name in out:
            held = out[name]
            out[name] = [*held, value] if isinstance(held, list) else [held, value]
        else:
            out[name] = value
    return out


def body_summary(content_type: str, body: bytes) -> Any:
    if content_type.startswith("application/x-www-form-urlencoded"):
        return pairs_summary(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        return summarise(json.loads(body))
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's stack
        return f"[{len(body)} bytes, not JSON]"


def count_results(body: bytes, complete: bool) -> int | None:
    """How many results a JSON answer holds: its `total`, else the length of the list it is
    or of its `items`/`nodes`/`paths` (None when it says nothing countable)."""
    if not complete:
        match = _LEADING_TOTAL.match(body)
        return int(match.group(1)) if match else None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if isinstance(doc, list):
        return len(doc)
    if isinstance(doc, dict):
        total = doc.get("total")
        if isinstance(total, int) and not isinstance(total, bool):
            return total
        for name in ("items", "nodes", "paths"):
            if isinstance(doc.get(name), list):
                return len(doc[name])
    return None


class AccessMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        keys: KeyStore,
        audit: AuditLog,
        limiter: RateLimiter,
        exposed: bool = False,
    ) -> None:
        self.app = app
        self.keys = keys
        self.audit = audit
        self.limiter = limiter
        self.exposed = exposed

    def authenticate(self, scope: Scope, headers: Headers) -> tuple[Principal | None, str | None]:
        """The caller, or None and why (None: no credentials where keys exist)."""
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        token = credentials.strip() if scheme.lower() == "bearer" else ""
        token = token or headers.get("x-api-key", "").strip()
        if token:
            principal = self.keys.principal(token)
            return (principal, None) if principal else (None, "invalid or revoked API key")
        session = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
        if session and (principal := self.keys.session_principal(session)):
            return principal, None
        if self.keys.any_active():
            return None, None
        if self.exposed:
            return None, NO_KEYS_EXPOSED
        if not _local_client(scope, headers):
            return None, SINGLE_USER_REMOTE
        return LOCAL_USER, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(STATIC_PREFIX):
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        principal, problem = self.authenticate(scope, headers)
        state["principal"] = principal
        client = (scope.get("client") or ("", 0))[0] or None
        caller = (
            f"key:{principal.name}"
            if principal and principal is not LOCAL_USER
            else (f"client:{client}")
        )
        wait = self.limiter.allow(caller)
        if wait:  # not audited: a flood of refusals must not flood the trail
            await self._refuse(scope, receive, send, 429, (
                f"too many requests: at most {self.limiter.rate * 60:g} a minute "
                f"(bursts of {self.limiter.burst}); retry in {wait} s"
            ), {"Retry-After": str(wait)})  # fmt: skip
            return

        audited = method not in SAFE_METHODS or path not in NOT_AUDITED
        content_type = headers.get("content-type", "")
        keep_body = audited and content_type.startswith(
            ("application/x-www-form-urlencoded", "application/json")
        )
        request_body = bytearray()
        answer: dict[str, Any] = {"status": 500, "json": False, "complete": True}
        response_body = bytearray()

        async def receive_and_keep() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request_body) <= AUDIT_BODY_BYTES:
                request_body.extend(message.get("body", b""))
            return message

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                if minted := state.get("csrf_minted"):
                    cookie = csrf_cookie(minted, scope.get("scheme") == "https")
                    MutableHeaders(scope=message).append("set-cookie", cookie)
                answer["json"] = (
                    Headers(raw=message.get("headers", []))
                    .get("content-type", "")
                    .startswith("application/json")
                )
            elif message["type"] == "http.response.body" and answer["json"]:
                chunk = message.get("body", b"")
                if answer["complete"] and len(response_body) + len(chunk) <= RESULTS_PARSE_BYTES:
                    response_body.extend(chunk)
                else:  # too long to parse: keep the head, where a page's total is
                    answer["complete"] = False
                    if not response_body:
                        response_body.extend(chunk[:1024])
            await send(message)

        try:
            cross_site = method not in SAFE_METHODS and self._cross_site(headers)
            if cross_site:
                await self._refuse(scope, receive, send_and_note, 403,
                                   "cross-site request refused")  # fmt: skip
            elif principal is None and not is_public(path):
                await self._sign_in(scope, receive, send_and_note, problem)
            else:
                await self.app(scope, receive_and_keep if keep_body else receive, send_and_note)
        finally:
            if audited:
                results = state.get("audit_results")
                if results is None and response_body:
                    results = count_results(bytes(response_body), answer["complete"])
                self._record(scope, state, principal, client, answer["status"], content_type,
                             bytes(request_body), results)  # fmt: skip

    @staticmethod
    def _cross_site(headers: Headers) -> bool:
        """A browser says where a request comes from; a write from another site (or another
        origin on this site) is refused whatever credentials it carries."""
        site = headers.get("sec-fetch-site")
        if site is not None:  # trusted when sent: our Referrer-Policy makes Origin "null"
            return site not in ("same-origin", "none")
        origin = headers.get("origin")
        return origin is not None and urlsplit(origin).netloc != headers.get("host", "")

    async def _sign_in(
        self, scope: Scope, receive: Receive, send: Send, problem: str | None
    ) -> None:
        path = scope["path"]
        if is_api(path) or problem is not None:
            detail = problem or (
                "sign in: send an API key (Authorization: Bearer KEY, or X-API-Key: KEY)"
            )
            await self._refuse(scope, receive, send, 401, detail,
                               {"WWW-Authenticate": "Bearer"})  # fmt: skip
            return
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        if scope["method"] not in SAFE_METHODS:  # a form's target cannot be reopened by GET
            target = "/"
        response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        await response(scope, receive, send)

    @staticmethod
    async def _refuse(
        scope: Scope,
        receive: Receive,
        send: Send,
        code: int,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        response: Response
        if is_api(scope["path"]):
            response = JSONResponse({"detail": detail}, code, headers=headers)
        else:
            from app.pages import error_page

            response = error_page(Request(scope), code, detail)
            response.headers.update(headers or {})
        await response(scope, receive, send)

    def _record(
        self,
        scope: Scope,
        state: dict[str, Any],
        principal: Principal | None,
        client: str | None,
        status: int,
        content_type: str,
        request_body: bytes,
        results: int | None,
    ) -> None:
        actor = state.get("audit_principal") or principal
        params: dict[str, Any] = {}
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            params["query"] = pairs_summary(parse_qsl(query, keep_blank_values=True))
        if request_body:
            params["body"] = body_summary(content_type, request_body[:AUDIT_BODY_BYTES])
        params.update(summarise(state.get("audit_params") or {}))
        self.audit.append(
            actor=actor.name if actor else "anonymous",
            role=actor.role.value if actor else None,
            method=scope["method"],
            path=scope["path"],
            params=params,
            status=status,
            results=results,
            client=client,
        )

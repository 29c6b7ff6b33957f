"""Request and response hardening.

Headers every response carries: a strict Content-Security-Policy (scripts and styles only
from our own static files, no inline code) and the usual anti-sniffing/framing headers.

Why on every response and not just pages: scraped postings are hostile text, and a JSON or
export response opened directly in a browser must not become a page that runs it either.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class SecurityHeadersMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware), so streaming responses and latency are untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimitMiddleware:
    """Refuse request bodies over `max_bytes` with a JSON 413: at once when Content-Length
    says so, else as soon as the streamed body passes the limit (before it fills the disk).

    Why not FastAPI's own `max_body_size`: its 413 is plain text, and every error here is
    JSON `{"detail": ...}`.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"request body over the {self.max_bytes:,}-byte limit"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": self._too_large()}, 413)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # FastAPI re-raises HTTPException from parsing
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, counting_receive, send)


# A JSON string, to its closing quote or, when it has none, to the end: possessive, so each
# byte is read once whatever the quotes and backslashes.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(set(range(256)) - set(b"[]{}"))


def json_nested_deeper_than(body: bytes, levels: int) -> bool:
    """Whether arrays and objects in a JSON text nest deeper than `levels`, without parsing
    it: strings go, brackets stay, then each pass drops the innermost pairs (C speed, one
    pass per level), so a megabyte of `[]` costs milliseconds and `[[[[...` no recursion.
    Openers never closed count as nesting too."""
    brackets = _JSON_STRING.sub(b"", body).translate(_SQUARE, _NOT_BRACKET)
    for _ in range(levels):
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    return b"[]" in brackets or brackets.count(b"[") > levels


def _small_body_kind(headers: Headers) -> str | None:
    """'JSON' or 'form' for the bodies the app reads whole, else None (uploads stream).
    No content type at all counts as JSON: FastAPI parses such a body as JSON."""
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not content_type or content_type == "application/json" or content_type.endswith("+json"):
        return "JSON"
    if content_type == "application/x-www-form-urlencoded":
        return "form"
    return None


class JsonBodyLimitMiddleware:
    """Refuse a JSON body nested deeper than `max_depth` levels (400) and a JSON or form
    body over `max_bytes` (413) before anything parses it, each with a JSON error naming
    its limit.

    Why: the parser would take `[[[[...` a million deep into a RecursionError (an opaque
    error, or a 500 where a handler recurses further), and these bodies are small documents
    (decisions, keys) read whole into memory. Uploads (multipart) stream past untouched.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = _small_body_kind(Headers(scope=scope)) if scope["type"] == "http" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending it all
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                detail = f"{kind} body over the {self.max_bytes:,}-byte limit"
                await JSONResponse({"detail": detail}, 413)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if kind == "JSON" and json_nested_deeper_than(body, self.max_depth):
            detail = f"JSON nested deeper than the {self.max_depth}-level limit"
            await JSONResponse({"detail": detail}, 400)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

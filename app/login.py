"""Signing pages in and out with an API key.

A valid key starts a server-side session (app.keys); the browser holds only its random id,
in an HttpOnly, SameSite=Strict cookie that scripts cannot read and other sites cannot make
it send. Revoking the key ends its sessions. Both forms carry the CSRF token (app.csrf).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.access import SESSION_COOKIE
from app.csrf import CsrfProtected
from app.keys import KeyStore

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def safe_next(target: str) -> str:
    """Only a path on this site: never `//evil.example` or `https://…` (an open redirect)."""
    ok = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if ok else "/"


def _keys(request: Request) -> KeyStore:
    return request.app.state.keys


def _form(request: Request, code: int = 200, **context: object) -> HTMLResponse:
    from app.pages import render

    single_user = not _keys(request).any_active()
    context.setdefault("error", None)
    context.setdefault("next_url", "/")
    return render(request, "login.html", code, single_user=single_user, **context)


@router.get("/login")
def login_form(
    request: Request, next_url: Annotated[str, Query(alias="next", max_length=2000)] = "/"
) -> HTMLResponse:
    return _form(request, next_url=safe_next(next_url))


@router.post("/login", dependencies=[CsrfProtected], response_model=None)
def login(
    request: Request,
    key: Annotated[str, Form(max_length=200)],
    next_url: Annotated[str, Form(alias="next", max_length=2000)] = "/",
) -> Response:
    keys = _keys(request)
    session = keys.start_session(key.strip())
    if session is None:
        return _form(request, status.HTTP_401_UNAUTHORIZED, next_url=safe_next(next_url),
                     error="That key is not valid (unknown or revoked).")  # fmt: skip
    request.state.audit_principal = keys.principal(key.strip())
    if previous := request.cookies.get(SESSION_COOKIE):  # one browser, one session
        keys.end_session(previous)
    response = RedirectResponse(safe_next(next_url), status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE, session, max_age=int(keys.session_length.total_seconds()),
        httponly=True, samesite="strict", path="/", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/logout", dependencies=[CsrfProtected], response_class=RedirectResponse)
def logout(request: Request) -> RedirectResponse:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        _keys(request).end_session(session)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response

"""Form tokens against cross-site request forgery, for every page form that changes data.

A double-submit token: `render` (app.pages) puts the browser's token in every page as
`csrf` and keeps it in a cookie; a form sends it back as the `csrf` field (or a script as
the `X-CSRF-Token` header), and `csrf_protected` compares the two. The cookie is HttpOnly
and SameSite=Strict, so another site can neither read it nor make the browser send it: a
forged form cannot hold the matching pair. It works the same signed in or single-user.

Every page route that changes data declares `dependencies=[CsrfProtected]`; a test
enumerates the routes to hold every unsafe page route to it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request, Response, status

CSRF_COOKIE = "prexus_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token(request: Request) -> str:
    """This browser's form token: the one its cookie holds, else a fresh one, the same for
    the whole request. A fresh one is left in `request.state.csrf_minted`, and the access
    middleware sets the cookie on the response, whichever code renders the page."""
    state = request.state
    if getattr(state, "csrf_token", None):
        return state.csrf_token
    held = request.cookies.get(CSRF_COOKIE, "")
    usable = 32 <= len(held) <= 128 and held.replace("-", "").replace("_", "").isalnum()
    state.csrf_token = held if usable else secrets.token_urlsafe(32)
    if not usable:
        state.csrf_minted = state.csrf_token
    return state.csrf_token


def csrf_cookie(token: str, secure: bool) -> str:
    """The Set-Cookie value holding `token`: HttpOnly, SameSite=Strict, the whole site."""
    response = Response()
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="strict", path="/", secure=secure
    )
    return response.headers["set-cookie"]


def keep_csrf(request: Request, response: Response, token: str) -> None:
    """Set the cookie half of the pair when the browser does not hold `token` yet (the
    middleware does this for every response; kept for callers that build their own)."""
    if (
        request.cookies.get(CSRF_COOKIE) != token
        and getattr(request.state, "csrf_minted", None) != token
    ):
        response.headers.append("set-cookie", csrf_cookie(token, request.url.scheme == "https"))


def check_csrf(request: Request, submitted: str) -> None:
    held = request.cookies.get(CSRF_COOKIE, "")
    if not held or not hmac.compare_digest(held.encode(), submitted.encode()):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "This form is out of date or came from another site: reload the page and send "
            "it again.",
        )


def csrf_protected(
    request: Request,
    csrf: Annotated[str, Form(max_length=200, alias=CSRF_FIELD)] = "",
) -> None:
    """The dependency: the form's `csrf` field (or the header) must match the cookie."""
    check_csrf(request, csrf or request.headers.get(CSRF_HEADER, ""))


CsrfProtected = Depends(csrf_protected)

"""The deconfliction page: download our identifiers as salted hashes for a partner, and
upload a partner's list to see which of our contacts, records and clusters are on it.

The salt travels in the form body (never in a URL), and both forms carry the CSRF token.
The work is done by the same functions as the API (app.api.deconflict).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse

from app.api.deconflict import MEDIA_TYPES, export_hashes, match_upload
from app.auth import CanAnnotate, CanRead
from app.csrf import CsrfProtected
from app.deps import Store
from app.pages import render
from graph.deconfliction import MIN_SALT_BYTES, HashFormat

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

Salt = Annotated[str, Form(max_length=1000)]


@router.get("/deconflict")
def deconflict_page(_: CanRead, request: Request) -> HTMLResponse:
    return render(request, "deconflict.html", nav="deconflict", report=None,
                  min_salt=MIN_SALT_BYTES)  # fmt: skip


@router.post("/deconflict/export", response_class=Response, dependencies=[CsrfProtected])
def export_form(
    _: CanRead,
    store: Store,
    salt: Salt,
    scope: Annotated[Literal["all", "cluster", "case"], Form()] = "all",
    scope_id: Annotated[str, Form(max_length=200)] = "",
    format: Annotated[HashFormat, Form()] = "jsonl",
) -> Response:
    """The hash list as a download."""
    name, text = export_hashes(
        store, salt, scope_id.strip() if scope == "case" else None,
        scope_id.strip() if scope == "cluster" else None, format,
    )  # fmt: skip
    return Response(text, media_type=MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


@router.post("/deconflict/match", dependencies=[CsrfProtected])
def match_form(
    _: CanAnnotate,
    request: Request,
    store: Store,
    salt: Salt,
    file: Annotated[UploadFile, File()],
) -> HTMLResponse:
    """The matches, on the same page as the forms."""
    report = match_upload(store, file.file.read(), salt)
    return render(request, "deconflict.html", nav="deconflict", report=report,
                  file_name=file.filename or "the list", min_salt=MIN_SALT_BYTES)  # fmt: skip

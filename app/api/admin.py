"""API keys and the audit trail: the admin role's business."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.audit import MAX_PAGE, AuditLog
from app.auth import CanAdmin, Role
from app.deps import Offset
from app.keys import KEY_NAME, KeyInfo, KeyRequestError, KeyStore
from app.models import Problem

router = APIRouter(tags=["admin"])


class KeyIn(BaseModel):
    name: str = Field(pattern=KEY_NAME.pattern, examples=["alice"])
    role: Role = Field(examples=["analyst"])


class KeyOut(BaseModel):
    name: str
    role: Role
    created_at: str
    revoked_at: str | None

    @classmethod
    def of(cls, info: KeyInfo) -> KeyOut:
        return cls(name=info.name, role=info.role, created_at=info.created_at,
                   revoked_at=info.revoked_at)  # fmt: skip


class NewKey(KeyOut):
    token: str = Field(description="The key itself: shown this once, stored only hashed.")


class AuditEntry(BaseModel):
    seq: int
    at: str
    actor: str
    role: str | None
    client: str | None
    method: str
    path: str
    params: Any
    status: int
    results: int | None
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[AuditEntry]


class AuditCheckOut(BaseModel):
    ok: bool
    entries: int = Field(description="Entries that check out, from the first.")
    head_seq: int = Field(description="The last entry that checks out.")
    head_hash: str = Field(description="Its hash: keep a copy elsewhere to detect truncation.")
    broken_seq: int | None = Field(description="The first entry that does not fit.")
    reason: str | None


def keys_of(request: Request) -> KeyStore:
    return request.app.state.keys


def audit_of(request: Request) -> AuditLog:
    return request.app.state.audit


@router.get("/keys")
def list_keys(
    _: CanAdmin, request: Request, revoked: bool = Query(True, description="Include revoked.")
) -> list[KeyOut]:
    """Every key's name, role and dates (never the key or its hash)."""
    return [KeyOut.of(info) for info in keys_of(request).list(include_revoked=revoked)]


@router.post(
    "/keys",
    status_code=status.HTTP_201_CREATED,
    responses={
        400: {"model": Problem, "description": "A body that is not JSON"},
        409: {"model": Problem, "description": "An active key has that name"},
    },
)
def add_key(_: CanAdmin, request: Request, body: KeyIn) -> NewKey:
    """A new key: the answer holds the token, which is never shown again."""
    store = keys_of(request)
    try:
        token = store.add(body.name, body.role)
    except KeyRequestError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    info = next(k for k in store.list(include_revoked=False) if k.name == body.name)
    return NewKey(**KeyOut.of(info).model_dump(), token=token)


@router.delete("/keys/{name}", responses={404: {"model": Problem, "description": "No active key"}})
def revoke_key(_: CanAdmin, request: Request, name: str) -> KeyOut:
    """Revoke the active key called `name`; its page sessions end at once."""
    try:
        return KeyOut.of(keys_of(request).revoke(name))
    except KeyRequestError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get("/audit")
def audit_entries(
    _: CanAdmin,
    request: Request,
    path_prefix: Annotated[
        str | None,
        Query(
            max_length=500,
            description="Whole path segments: `/api/clusters` matches "
            "`/api/clusters/A1`, not `/api/clustersX`.",
        ),
    ] = None,
    actor: Annotated[str | None, Query(max_length=100, description="A key's name.")] = None,
    order: Literal["newest", "oldest"] = "newest",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Offset = 0,
) -> AuditPage:
    """Audit entries, newest first unless `order=oldest`, filtered by path and actor."""
    audit = audit_of(request)
    items = audit.entries(path_prefix, actor, limit, offset, newest_first=order == "newest")
    return AuditPage(
        total=audit.count(path_prefix, actor), limit=limit, offset=offset,
        items=[AuditEntry(**entry) for entry in items],
    )  # fmt: skip


@router.get("/audit/verify")
def audit_verify(_: CanAdmin, request: Request) -> AuditCheckOut:
    """Check the whole hash chain; `broken_seq` names the first entry altered, inserted or
    missing. Same check as `prexus audit verify`."""
    return AuditCheckOut(**audit_of(request).verify().as_dict())


@router.get(
    "/audit/export.jsonl",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSON Lines"}},
)
def audit_export(_: CanAdmin, request: Request) -> StreamingResponse:
    """Every entry, oldest first, one JSON object a line, hashes included (an export can be
    checked on its own)."""
    return StreamingResponse(
        audit_of(request).export_jsonl(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="prexus-audit.jsonl"'},
    )

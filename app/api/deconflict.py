"""Deconfliction: our identifiers as salted hashes for a partner, and which of ours are on a
partner's hash list (graph.deconfliction; the README's "Deconfliction" has the salt
agreement)."""

from __future__ import annotations

from typing import Annotated

from fastapi import (
    APIRouter,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    Response,
    UploadFile,
    status,
)
from pydantic import BaseModel, Field

from app.auth import CanAnnotate, CanRead
from app.deps import Store
from app.models import Problem
from graph.deconfliction import (
    MIN_SALT_BYTES,
    DeconflictionError,
    HashFormat,
    MatchReport,
    match_hash_list,
    read_hash_list,
    salt_from_text,
    scope_identifiers,
    write_hash_list,
)
from graph.store import GraphStore

router = APIRouter(prefix="/deconflict", tags=["deconfliction"])

REFUSED = {
    400: {"model": Problem, "description": "A salt shorter than 16 bytes, or a bad list"},
    404: {"model": Problem, "description": "No such case or cluster"},
}
MEDIA_TYPES: dict[str, str] = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
SALT_HELP = (
    f"The salt agreed with the partner for this exchange (at least {MIN_SALT_BYTES} bytes), "
    "used as written. Sent in a header or form field so it stays out of URLs and logs."
)


class Holder(BaseModel):
    ref: str = Field(examples=["Posting:P0000001"])
    label: str
    key: str
    cluster: str | None


class IdentifierMatch(BaseModel):
    kind: str = Field(examples=["phone"])
    value: str = Field(examples=["+8613800138000"])
    hash: str
    hub: bool = Field(description="A hub identifier (a footer, an escrow service): weak.")
    records_total: int = Field(description="Records of ours that show it.")
    records: list[Holder] = Field(description="The first of them.")
    clusters: list[str] = Field(description="Clusters of the records listed.")


class MatchOut(BaseModel):
    partner_hashes: int = Field(description="Distinct hashes on the partner's list.")
    unreadable_lines: int = Field(description="Lines that held no 64-hex hash.")
    salt_check: str = Field(
        description="`same` or `different`: the list's salt check against our salt; "
        "`absent` when the list has no Prexus header."
    )
    matched: int
    matches: list[IdentifierMatch]
    scope: str | None = Field(description="What the partner exported, if its header says.")


def export_hashes(
    store: GraphStore, salt_text: str, case: str | None, cluster: str | None, fmt: HashFormat
) -> tuple[str, str]:
    """(file name, text) of a hash list; 400 for a bad salt, 404 for an unknown scope."""
    try:
        salt = salt_from_text(salt_text)
        scope, refs = scope_identifiers(store, case=case or None, cluster=cluster or None)
    except DeconflictionError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except LookupError as exc:  # no such case or cluster
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    name = "prexus-hashes-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in scope)
    return f"{name}.{fmt}", write_hash_list(salt, scope, refs, fmt)


def match_upload(store: GraphStore, data: bytes, salt_text: str) -> MatchReport:
    """Read a partner's list and match it; 400 for a bad salt or an unreadable list."""
    try:
        salt = salt_from_text(salt_text)
        text = data.decode("utf-8-sig")
        return match_hash_list(store, read_hash_list(text), salt)
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the list is not UTF-8 text") from None
    except DeconflictionError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


@router.get(
    "/export", response_class=Response,
    responses={
        200: {"description": "The hash list.", "content": {m: {} for m in MEDIA_TYPES.values()}},
        **REFUSED,
    },
)  # fmt: skip
def export(
    _: CanRead,
    store: Store,
    salt: Annotated[str, Header(alias="X-Prexus-Salt", max_length=1000, description=SALT_HELP)],
    case: Annotated[str | None, Query(max_length=200, description="Only this case's.")] = None,
    cluster: Annotated[
        str | None, Query(max_length=200, description="Only this cluster's.")
    ] = None,
    format: Annotated[HashFormat, Query(description="JSON Lines or CSV.")] = "jsonl",
) -> Response:
    """Our identifiers (a case's, a cluster's, or all; hubs left out) as
    HMAC-SHA256(salt, "kind:normalised value") in hex, with the kind in clear, after a
    header line naming the scheme and a salt check."""
    name, text = export_hashes(store, salt, case, cluster, format)
    return Response(
        text, media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip


@router.post("/match", responses=REFUSED)
def match(
    _: CanAnnotate,
    store: Store,
    file: Annotated[
        UploadFile, File(description="The partner's list: JSONL, CSV or one hash per line.")
    ],
    salt: Annotated[str, Form(max_length=1000, description=SALT_HELP)],
) -> MatchOut:
    """Which of our identifiers are on a partner's hash list, with the postings and
    records that show them and their clusters. Nothing of the list is stored."""
    return MatchOut.model_validate(match_upload(store, file.file.read(), salt).as_dict())

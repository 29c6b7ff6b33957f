"""Upload a file of records; the same pipeline as `prexus ingest`."""

from __future__ import annotations

import json
import shutil
import tempfile
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile, status

from app.auth import CanIngest
from app.deps import Store
from app.models import IngestResult, Problem, Rejected
from ingest.loader import ingest_files
from ingest.readers import InputFileError, file_format
from ingest.records import RECORD_KINDS

router = APIRouter(tags=["ingest"])

RecordKind = StrEnum("RecordKind", {kind: kind for kind in RECORD_KINDS})  # type: ignore[misc]
REJECTS_SHOWN = 100
_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")


def upload_suffix(filename: str | None) -> str:
    """The suffixes that tell the reader the format ('.jsonl.gz'), or 415 naming them."""
    name = Path(filename or "upload").name
    try:
        file_format(Path(name))
    except InputFileError:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"unsupported file type {name!r}: expected .csv, .tsv, .jsonl, .ndjson or .json, "
            "optionally .gz",
        ) from None
    gz = name.lower().endswith(".gz")
    stem = name[:-3] if gz else name
    ext = next(s for s in _SUFFIXES if stem.lower().endswith(s))
    return ext + (".gz" if gz else "")


def _read_rejects(path: Path, name: str) -> list[Rejected]:
    """The first rejected rows, naming the uploaded file rather than our temporary copy."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in islice(handle, REJECTS_SHOWN)]
    return [Rejected(**{**row, "file": name}) for row in rows]


@router.post(
    "/ingest/{kind}",
    responses={
        413: {"model": Problem, "description": "Upload over the size limit"},
        415: {"model": Problem, "description": "Not a CSV, JSONL or JSON file"},
    },
)
def ingest(
    _: CanIngest,
    request: Request,
    store: Store,
    kind: RecordKind,
    file: Annotated[UploadFile, File(description="CSV, TSV, JSONL or JSON array; .gz too.")],
    source: Annotated[
        str | None, Form(max_length=200, description="Source name kept as provenance.")
    ] = None,
) -> IngestResult:
    """Ingest one file of records of `kind`; rows that fail come back with their reason."""
    suffix = upload_suffix(file.filename)
    with tempfile.TemporaryDirectory(prefix="prexus-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        rejects = Path(folder) / "rejects.jsonl"
        name = Path(file.filename or "upload").name
        summary = ingest_files(
            store, str(kind), [path], source=source or f"upload:{name}", rejects_path=rejects
        )
        counts = summary.as_dict()
        request.state.audit_params = {"file": name, "source": source}
        request.state.audit_results = summary.read
        return IngestResult(
            **{
                k: counts[k]
                for k in (
                    "kind",
                    "read",
                    "ingested",
                    "updated",
                    "unchanged",
                    "rejected",
                    "warnings",
                )
            },
            unreadable_files=[p.replace(str(path), name) for p in summary.unreadable_files],
            rejects=_read_rejects(rejects, name),
        )

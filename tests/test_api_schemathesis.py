"""Property-based checks of the whole API against its own OpenAPI schema (schemathesis,
in process over ASGI, on a small SQLite store): no input makes a 5xx, and every response
has a documented status, content type and shape. Bounded to stay under ~90 s."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from web_fixtures import build_sample_graph  # noqa: E402

from app.main import create_app  # noqa: E402
from graph.sqlite_store import SQLiteStore  # noqa: E402

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


# Loaded when the module is collected (schemathesis' from_fixture needs a pytest internal that
# pytest 9 no longer has); the folder goes when the interpreter exits.
_FOLDER = tempfile.TemporaryDirectory(prefix="prexus-schemathesis-")
_STORE = SQLiteStore(Path(_FOLDER.name) / "prexus.db")
build_sample_graph(_STORE)
_APP = create_app(store=_STORE, max_upload_bytes=64 * 1024)
# An admin key: every call is signed in, so the cases reach the handlers (the schema's
# security schemes would otherwise have schemathesis send made-up keys, answered 401).
_KEY = _APP.state.keys.add("schemathesis-admin", "admin")
AUTH = {"Authorization": f"Bearer {_KEY}", "X-API-Key": _KEY}
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP, headers=AUTH)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_api_conforms_to_its_schema(case: object) -> None:
    case.call_and_validate(checks=CHECKS, headers=AUTH)  # type: ignore[attr-defined]

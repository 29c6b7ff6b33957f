"""Shared fixtures: one `store` fixture parametrised over both backends.

The Neo4j backend runs against a real Neo4j server: the one PREXUS_NEO4J_URI names, or one
this session starts from the jars scripts/neo4j_server.py assembles. Without Java or Maven
those tests skip with the reason, except under CI=true, where a missing or failing server
fails the run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from web_fixtures import CHROMIUM_ARGS, chromium_path

from graph.settings import Settings
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import neo4j_server  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser

IN_CI = os.environ.get("CI", "").lower() == "true"


@contextmanager
def started_neo4j() -> Iterator[neo4j_server.Neo4jServer]:
    """A Neo4j server of our own, stopped on exit. Without Java or Maven, or when it will
    not start, the test skips with the reason, or fails under CI=true."""
    missing = neo4j_server.java_and_maven_available()
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true but Neo4j cannot run here: {missing}")
        pytest.skip(f"Neo4j tests skipped: {missing}")
    server = neo4j_server.Neo4jServer()
    try:
        server.start()
    except neo4j_server.Neo4jServerError as exc:
        if IN_CI:
            pytest.fail(f"Neo4j server did not start: {exc}")
        pytest.skip(f"Neo4j server did not start: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def neo4j_settings() -> Iterator[Settings]:
    """Settings pointing at a real Neo4j: external if PREXUS_NEO4J_URI is set, else ours."""
    external = os.environ.get("PREXUS_NEO4J_URI")
    if external:
        yield Settings(neo4j_uri=external)
        return
    with started_neo4j() as server:
        yield Settings(
            neo4j_uri=server.uri,
            neo4j_user=server.user,
            neo4j_password=server.password or "",
        )


@pytest.fixture(scope="session")
def neo4j_store(neo4j_settings: Settings) -> Iterator[GraphStore]:
    """One connection for the session: creating constraints once, not per test."""
    from graph import open_store

    backend = open_store(neo4j_settings)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture(params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each backend."""
    if request.param == "neo4j":
        backend: GraphStore = request.getfixturevalue("neo4j_store")
        backend.clear()
        yield backend
        return
    backend = SQLiteStore(tmp_path / "prexus.db")
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, one per browser test module; skips without playwright or Chromium
    (fails under CI=true without Chromium)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


DEMO_ORDER = ("platforms", "routes", "operators", "contacts", "postings", "seizures")


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3,000-posting demo world (seed 7) with its ground truth, written once."""
    from ingest.demo import write_demo_world

    out = tmp_path_factory.mktemp("demo")
    write_demo_world(out, postings=3000, seed=7)
    return out


def load_demo(store: GraphStore, world: Path, rejects_dir: Path) -> None:
    """Ingest a demo world in dependency order; demo data must ingest without rejects."""
    from ingest.loader import ingest_files

    for kind in DEMO_ORDER:
        name = f"{kind}.jsonl" if kind == "postings" else f"{kind}.csv"
        summary = ingest_files(store, kind, [world / name], source="demo",
                               rejects_path=rejects_dir / f"{kind}.rejects.jsonl")
        assert summary.rejected == 0, kind

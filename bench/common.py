"""Small helpers the benchmarks share: timing, peak memory, a Neo4j to run against."""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))


@dataclass
class Timing:
    seconds: float = 0.0


@contextlib.contextmanager
def timed() -> Iterator[Timing]:
    timing = Timing()
    start = time.perf_counter()
    try:
        yield timing
    finally:
        timing.seconds = time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def neo4j_settings() -> Iterator[Settings | None]:
    """Settings for the Neo4j in PREXUS_NEO4J_URI, or a throwaway server started here."""
    from graph.settings import Settings

    if os.environ.get("PREXUS_NEO4J_URI"):
        yield Settings()
        return
    import neo4j_server

    reason = neo4j_server.java_and_maven_available()
    if reason:
        print(f"Neo4j skipped: {reason}")
        yield None
        return
    with neo4j_server.Neo4jServer(heap_max="2g", pagecache="1g") as server:
        yield Settings(
            neo4j_uri=server.uri, neo4j_user=server.user, neo4j_password=server.password or ""
        )


def row(*cells: object) -> str:
    return " | ".join(str(c) for c in cells)

"""Every limit on what an input file or a request may ask for, in one place, and the time
budget that stops a heavy query cleanly.

Why one module: the readers, the API, the pages and the README quote the same numbers, and
hostile input meets each of them as a rejected row or a clear 4xx naming the limit, never
as a crash, a hang or a 5xx. A query that runs past its budget answers 504 instead of
holding a worker (and the database) for as long as the graph makes it take.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# --- input files (ingest/readers.py): a row over a limit is rejected, the file goes on -----
MAX_FIELD_CHARS = 100_000
"""Longest value a field may hold (a posting body is rarely over 20k characters)."""
MAX_FIELD_NAME_CHARS = 200
"""Longest field name: unknown fields become properties, and a name is not a document."""
MAX_RECORD_CHARS = 1_000_000
"""Longest raw record (line or array item); longer lines are skipped without being held."""
MAX_JSON_DEPTH = 20
"""Deepest nesting accepted in a JSON record or a JSON request body."""
MAX_JSON_ARRAY_BYTES = 512 * 1024 * 1024
"""Largest JSON array file: arrays are read whole (JSONL streams, and has no limit)."""
MAX_GZIP_RATIO = 200
"""Most bytes a gzipped input may expand to per compressed byte, once past
GZIP_RATIO_FROM_BYTES: text compresses 5-20 times; a 'zip bomb' over 1000."""
GZIP_RATIO_FROM_BYTES = 8 * 1024 * 1024

# --- requests (app/) -------------------------------------------------------------------------
MAX_UPLOAD_BYTES = 256 * 1024 * 1024
"""Largest request body (an ingest upload); 413 over it."""
MAX_JSON_BODY_BYTES = 1024 * 1024
"""Largest JSON request body (decisions, keys, cases): they are read whole; 413 over it."""
MAX_QUERY_CHARS = 200
"""Longest search text; 422 over it."""
MAX_REF_CHARS = 8_192
"""Longest `Label:key` reference in a parameter; 400 over it (no stored key that fits in a
URL is longer)."""
MAX_SEEDS = 50
MAX_VIEW_DEPTH = 4
"""Most hops of an ego network; 422 over it."""
MAX_VIEW_LIMIT = 2000
"""Most nodes an ego network may ask for; 422 over it. Views cut at the limit say so."""
MAX_PATH_DEPTH = 6
"""Most hops of a path search; 422 over it."""
MAX_PATHS = 50
PATH_EXPANSION_BUDGET = 5000
"""Nodes one step of the path search may add; a hub beyond it marks the result truncated."""
QUERY_TIMEOUT_SECONDS = 10.0
"""Time budget of one search, ego network, entity page or path search; 504 past it."""


class QueryTimeoutError(TimeoutError):
    """A query ran past its time budget; it was stopped, and nothing was half-written."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"query timed out after {seconds:g} s: narrow it (fewer hops, a smaller limit, "
            "kinds or dates)"
        )
        self.seconds = seconds


_deadline: ContextVar[tuple[float, float] | None] = ContextVar("prexus_deadline", default=None)
"""(monotonic deadline, the budget in seconds) of the query running in this context."""


@contextmanager
def time_budget(seconds: float | None = None) -> Iterator[None]:
    """Run the block under a deadline `seconds` (default QUERY_TIMEOUT_SECONDS) from now;
    the stores check it (SQLite interrupts the statement, Neo4j gets a transaction timeout)
    and raise QueryTimeoutError. A budget inside another keeps the earlier deadline."""
    budget = QUERY_TIMEOUT_SECONDS if seconds is None else seconds
    outer = _deadline.get()
    deadline = time.monotonic() + budget
    if outer is not None and outer[0] <= deadline:
        yield
        return
    token = _deadline.set((deadline, budget))
    try:
        yield
    finally:
        _deadline.reset(token)


def seconds_left() -> float | None:
    """Time left of the current budget (None outside one); QueryTimeoutError when none."""
    current = _deadline.get()
    if current is None:
        return None
    left = current[0] - time.monotonic()
    if left <= 0:
        raise QueryTimeoutError(current[1])
    return left


def check_deadline() -> None:
    """QueryTimeoutError when the current budget is spent; a loop calls it between steps."""
    seconds_left()


def deadline_passed() -> bool:
    """For a database's progress callback: the budget is spent (never raises)."""
    current = _deadline.get()
    return current is not None and time.monotonic() >= current[0]


def budget_seconds() -> float | None:
    """The current budget in seconds, to name it in the error (None outside one)."""
    current = _deadline.get()
    return current[1] if current is not None else None

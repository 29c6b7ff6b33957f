"""`BatchWriter` writes each batch on a background thread while the next one is built.

The store's own work runs outside the GIL (SQLite's C code, a Neo4j server across a
socket), so it overlaps the Python that reads records and builds entities: on two cores
the writes cost little more than the time the builder leaves free. (The collector
thresholds an ingest runs with are in `graph.collector`.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

Batch = TypeVar("Batch")

class BatchWriter(Generic[Batch]):
    """Runs `write` on each submitted batch, in order, on one background thread.

    At most one batch is in flight: `submit` first waits for the previous write, so memory
    stays flat and a write error reaches the caller by the next batch. Leaving the block
    waits for the last write; if the block failed, its own error is the one that propagates.
    """

    def __init__(self, write: Callable[[Batch], None]) -> None:
        self._write = write
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="prexus-ingest-writer")
        self._pending: Future[None] | None = None

    def submit(self, batch: Batch) -> None:
        self.wait()
        self._pending = self._pool.submit(self._write, batch)

    def wait(self) -> None:
        """Block until the batch in flight is written; re-raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> BatchWriter[Batch]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.wait()
            else:
                with contextlib.suppress(Exception):
                    self.wait()  # the write in flight finishes; the caller's error wins
        finally:
            self._pool.shutdown(wait=True)

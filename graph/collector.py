"""The garbage collector during bulk runs: an ingest, `prexus analyze`.

Both build millions of short-lived objects (records, tuples read from the store) while a
large set of long-lived ones stays alive (memos, a million postings' facts, the projection).
With the default thresholds a full pass over every live object runs every few thousand
allocations: it took about a seventh of an ingest, and doubled the network projection
when it ran after linking in the same process (22.8 s against 9.1 s at 1M postings).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

GC_THRESHOLDS = (500_000, 20, 100)
"""Allocations between young collections, and young (then middle) collections between older
ones, during a bulk run. Cyclic garbage still gets collected, just in larger rounds.

Why 500,000 young: a batch being built keeps about a hundred thousand objects alive until
it is sent, and each young collection walks the live ones. At 50,000 an ingest worker
spent 5-6% of its time in young collections (28 of them per 60,000 postings); at 500,000
it hardly collects, and its peak memory did not move (docs/benchmarks.md)."""

_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's thresholds for the duration; nested or concurrent runs share
    one raise, and the last one out restores what was set before."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(*(max(a, b) for a, b in zip(_gc_saved, GC_THRESHOLDS, strict=True)))
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None

"""Requests per key: a token bucket per caller, in memory.

Each caller's bucket holds up to `burst` tokens and refills at `per_minute / 60` a second;
a request takes one, and an empty bucket answers how long until the next token. In memory
and per process: it is there to stop a runaway script or a guessing client, not to meter
usage across a cluster of servers. Why no library: the common ones (`limits`, `slowapi`)
count windows, not buckets, and the whole thing is a dozen lines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_BUCKETS = 10_000
"""Past this many callers, full buckets (idle callers) are forgotten: unknown clients
cannot grow memory without bound."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`allow(caller)` answers 0 (go ahead) or the seconds to wait before trying again.

    Called from the event loop only, so it needs no lock."""

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, caller: str) -> int:
        if not self.enabled:
            return 0
        now = self.clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_idle(now)
            bucket = self._buckets[caller] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0
        return max(1, math.ceil((1 - bucket.tokens) / self.rate))

    def _forget_idle(self, now: float) -> None:
        full = [name for name, b in self._buckets.items()
                if b.tokens + (now - b.at) * self.rate >= self.burst]  # fmt: skip
        for name in full:
            del self._buckets[name]
        if len(self._buckets) >= MAX_BUCKETS:  # all busy: start afresh rather than grow
            self._buckets.clear()

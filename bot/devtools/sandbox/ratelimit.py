"""The sandbox's rate limit: at most N API requests a second per key, as a provider would.

A token bucket per key (N tokens, refilled at N a second, so a burst of N is accepted at once).
A request that finds the bucket empty is answered 429 with ``Retry-After`` in whole seconds,
as HTTP's delta-seconds are, and is not counted. Off unless set (``Sandbox.set_rate_limit``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from starlette.types import Send

from bot.devtools.sandbox.faults import parse_fault, send_fault


class RateLimit:
    """Per-key buckets of ``per_second`` requests; None means no limit."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second: float | None = None
        self.refused = 0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def set(self, per_second: float | None) -> None:
        if per_second is not None and not per_second > 0:
            raise ValueError("the rate limit must be positive (or None for none)")
        self.per_second = per_second
        self._buckets.clear()

    def refuse(self, key: str | None) -> int | None:
        """None when the request may go on (and counts), else the Retry-After in seconds."""
        rate = self.per_second
        if rate is None or not key:
            return None
        now = self._clock()
        tokens, at = self._buckets.get(key, (rate, now))
        tokens = min(rate, tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        self.refused += 1
        return max(1, math.ceil((1.0 - tokens) / rate))


async def send_rate_limited(send: Send, retry_after: int) -> None:
    await send_fault(parse_fault(0, {"status": 429, "retry_after": retry_after}), send)

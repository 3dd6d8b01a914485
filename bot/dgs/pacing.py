"""Per-key request pacing: a generic cell rate algorithm (a token bucket kept as one number).

Each key has a "theoretical arrival time" (TAT): the time its next request would be due if
requests came exactly at the allowed rate. Reserving a slot is O(1) arithmetic with no lock
and no await, so on one event loop it is atomic; the caller sleeps for the returned wait
afterwards, never while holding anything.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class PacingWaitTooLong(Exception):  # noqa: N818 - a signal to the client, not an error kind
    """The key's next slot is further away than the caller is willing to wait."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"next slot in {wait:.3f} s")
        self.wait = wait


class KeyPacer:
    """At most ``rate`` requests per second per key, with bursts of ``burst`` requests."""

    _MIN_PRUNE_SIZE = 1024

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be a positive finite number")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._tat: dict[str, float] = {}
        self._prune_at = self._MIN_PRUNE_SIZE

    def reserve(self, key: str, max_wait: float = math.inf) -> float:
        """Take the key's next slot; return how many seconds to wait before using it.

        Raises PacingWaitTooLong (taking nothing) when the wait would exceed ``max_wait``.
        """
        now = self._clock()
        tat = self._tat.get(key, now)
        tat = max(tat, now)
        wait = max(0.0, tat - self._tolerance - now)
        if wait > max_wait:
            raise PacingWaitTooLong(wait)
        self._tat[key] = tat + self._interval
        if len(self._tat) >= self._prune_at:
            self._prune(now)
        return wait

    def slow_down(self, key: str, seconds: float) -> None:
        """Make the key's next request wait at least ``seconds`` from now."""
        if not seconds > 0:
            return
        earliest = self._clock() + seconds + self._tolerance
        if self._tat.get(key, -math.inf) < earliest:
            self._tat[key] = earliest

    def _prune(self, now: float) -> None:
        # A key whose TAT has passed behaves exactly like a key never seen; dropping those keeps
        # the table as large as the set of recently busy keys. Doubling the threshold keeps
        # the cost amortised O(1) per request.
        self._tat = {key: tat for key, tat in self._tat.items() if tat > now}
        self._prune_at = max(self._MIN_PRUNE_SIZE, 2 * len(self._tat))

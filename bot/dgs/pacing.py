"""Per-key request pacing: a generic cell rate algorithm (a token bucket kept as one number).

Each key has a "theoretical arrival time" (TAT): the time its next request would be due if
requests came exactly at the allowed rate. Reserving a slot is O(1) arithmetic with no lock
and no await, so on one event loop it is atomic; the caller sleeps for the returned wait
afterwards, never while holding anything.
"""

from __future__ import annotations

import enum
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field


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


# --------------------------------------------------------------------------- the provider's pace


class Priority(enum.Enum):
    """Who waits for a provider call: a person (interactive) or nobody (background)."""

    INTERACTIVE = "interactive"
    BACKGROUND = "background"


_PRIORITY: ContextVar[Priority] = ContextVar("dgs_priority", default=Priority.INTERACTIVE)


def mark_background() -> None:
    """Every provider call of the current task, and of the tasks it starts, is background work
    (polls, the relist, exports): it goes after the calls people wait for. Call it first thing
    in a job or a background task; a task's context is its own, so it never leaks to others."""
    _PRIORITY.set(Priority.BACKGROUND)


def current_priority() -> Priority:
    return _PRIORITY.get()


# The rate grows by INCREASE requests/s for every second's worth of calls that succeed; a 429
# multiplies it by DECREASE. Without an explicit ceiling it may grow to UNBOUNDED_RATE.
DEFAULT_BURST = 20
INCREASE = 1.0
DECREASE = 0.7
MIN_RATE = 0.5
UNBOUNDED_RATE = 1000.0
FORGET_AFTER = 600.0  # seconds a key is idle before what was learned of it is dropped


@dataclass(slots=True)
class _Bucket:
    rate: float
    capacity: float
    tokens: float  # at time ``at``
    at: float  # no refill before it (a Retry-After pause may put it in the future)
    refused_at: float = -math.inf  # when a 429 last lowered the rate
    epoch: int = 0  # a 429 or a pause starts a new one: tickets of an older one are void
    learned: bool = False  # a 429 has told us something about this key's limit
    used_at: float = 0.0
    accepted: deque[float] = field(default_factory=deque)  # answers (not 429) in the last second

    def level(self, now: float) -> float:
        if now <= self.at:
            return self.tokens
        return min(self.capacity, self.tokens + (now - self.at) * self.rate)


class ProviderPacer:
    """Per-key token buckets for the provider: people first, limits learned from 429.

    - Interactive calls take the key's next token, in the future if need be (the bucket goes
      into debt and the caller waits): people are served in arrival order at the key's rate.
    - Background calls take a token only when the bucket holds more than half its burst and
      nobody is in debt, so whatever they do, a person arriving finds tokens ready and never
      queues behind a poll or an export.
    - A 429 pauses the key for its Retry-After and lowers the rate (multiplicative decrease)
      to ``DECREASE`` times the rate the provider really accepted over the last second; each
      answered call raises it again by ``INCREASE / rate`` (additive increase: about INCREASE
      requests/s per second of full use), never above ``ceiling``. Tickets taken before a
      429 are void (``still_valid``): their holders queue again at the lowered rate.

    Pure arithmetic on ``clock``: no lock and no await, so each method is atomic on one event
    loop.
    """

    _MIN_PRUNE_SIZE = 1024

    def __init__(
        self,
        rate: float,
        *,
        burst: int = DEFAULT_BURST,
        ceiling: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be a positive finite number")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if ceiling is not None and not ceiling > 0:
            raise ValueError("ceiling must be positive")
        self.ceiling = min(ceiling, UNBOUNDED_RATE) if ceiling is not None else UNBOUNDED_RATE
        self.start_rate = min(rate, self.ceiling)
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._prune_at = self._MIN_PRUNE_SIZE

    # ------------------------------------------------------------ taking tokens

    def reserve(self, key: str, max_wait: float = math.inf) -> float:
        """An interactive call takes the key's next token; returns the seconds to wait.

        Raises PacingWaitTooLong (taking nothing) when the wait would exceed ``max_wait``."""
        now = self._clock()
        bucket = self._bucket(key, now)
        start = max(bucket.at, now)
        level = bucket.level(start) - 1.0
        wait = (start - now) + max(0.0, -level) / bucket.rate
        if wait > max_wait:
            raise PacingWaitTooLong(wait)
        bucket.tokens, bucket.at = level, start
        return wait

    def take_spare(self, key: str) -> float:
        """A background call takes a token only if one is spare: 0.0 when taken, else the
        seconds after which asking again may succeed (nothing is taken)."""
        now = self._clock()
        bucket = self._bucket(key, now)
        if bucket.at > now:
            return bucket.at - now
        level = bucket.level(now)
        needed = 1.0 + bucket.capacity / 2
        if level < needed:
            return (needed - level) / bucket.rate
        bucket.tokens, bucket.at = level - 1.0, now
        return 0.0

    async def take_turn(
        self,
        key: str,
        *,
        background: bool,
        deadline: float,
        sleep: Callable[[float], Awaitable[None]],
    ) -> float | None:
        """Wait for the key's turn: None once it has come, or the wait that would pass
        ``deadline`` (then nothing was taken and nothing waited for).

        A person's call takes the next token, if need be a future one; background work waits
        for a spare one. A 429 or a pause meanwhile voids the token: the call queues again,
        at the rate just learned."""
        while True:
            left = max(0.0, deadline - self._clock())
            if background:
                wait = self.take_spare(key)
                if wait == 0.0:
                    return None
                if wait > left:
                    return wait
                await sleep(wait)
                continue
            try:
                wait = self.reserve(key, max_wait=left)
            except PacingWaitTooLong as exc:
                return exc.wait
            ticket = self.ticket(key)
            if wait > 0:
                await sleep(wait)
            if self.still_valid(key, ticket):
                return None

    def ticket(self, key: str) -> int:
        """Taken with a token: ``still_valid`` tells whether a 429 or a pause voided it since."""
        bucket = self._buckets.get(key)
        return 0 if bucket is None else bucket.epoch

    def still_valid(self, key: str, ticket: int) -> bool:
        bucket = self._buckets.get(key)
        return bucket is None or bucket.epoch == ticket

    def pause_left(self, key: str) -> float:
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else max(0.0, bucket.at - self._clock())

    # ------------------------------------------------------------ learning

    def answered(self, key: str) -> None:
        """A call of this key got an answer other than 429: the rate may creep up."""
        now = self._clock()
        bucket = self._bucket(key, now)
        bucket.accepted.append(now)
        while bucket.accepted and bucket.accepted[0] <= now - 1.0:
            bucket.accepted.popleft()
        if bucket.rate < self.ceiling:
            self._set_rate(bucket, min(self.ceiling, bucket.rate + INCREASE / bucket.rate))

    def refused(self, key: str, retry_after: float | None, sent_at: float) -> None:
        """The provider answered 429 to a call sent at ``sent_at``.

        The key pauses for ``retry_after`` and every ticket taken so far is void. The rate
        drops once per episode: a 429 to a call sent before the last drop says nothing new."""
        now = self._clock()
        bucket = self._bucket(key, now)
        if sent_at >= bucket.refused_at:
            while bucket.accepted and bucket.accepted[0] <= now - 1.0:
                bucket.accepted.popleft()
            got = float(len(bucket.accepted))
            # The rate may have been a guess, and a burst may have gone far above it: when
            # the provider accepted fewer over the last second, that measures its limit.
            rate = DECREASE * bucket.rate
            if got >= 1:
                rate = min(rate, got)
            bucket.learned = True
            bucket.refused_at = now
            self._set_rate(bucket, max(MIN_RATE, rate))
        self._void(bucket)
        end = now + max(0.0, retry_after or 0.0)
        if end >= bucket.at:
            # After the pause the provider's window is fresh: a burst (a second's worth of
            # the learned rate at most) may go.
            bucket.tokens, bucket.at = bucket.capacity, end

    def slow_down(self, key: str, seconds: float) -> None:
        """Nothing of this key before ``seconds`` from now (a 429 seen by someone else)."""
        if not seconds > 0:
            return
        now = self._clock()
        bucket = self._bucket(key, now)
        self._void(bucket)
        end = now + seconds
        if end > bucket.at:
            bucket.tokens, bucket.at = bucket.level(max(now, bucket.at)), end

    def rate(self, key: str) -> float:
        """The key's current rate (requests per second)."""
        bucket = self._buckets.get(key)
        return self.start_rate if bucket is None else bucket.rate

    # ------------------------------------------------------------ bookkeeping

    def _set_rate(self, bucket: _Bucket, rate: float) -> None:
        # Once a 429 has spoken, a burst is at most a second's worth of the learned rate: a
        # larger one would only meet the same 429 again after every pause.
        now = self._clock()
        level = bucket.level(max(now, bucket.at))
        bucket.tokens, bucket.at = level, max(now, bucket.at)
        bucket.rate = rate
        if bucket.learned:
            bucket.capacity = max(1.0, min(float(self.burst), rate))
            bucket.tokens = min(bucket.tokens, bucket.capacity)

    @staticmethod
    def _void(bucket: _Bucket) -> None:
        # Holders of void tickets queue again, so the debt they ran up is forgiven.
        bucket.epoch += 1
        bucket.tokens = max(bucket.tokens, 0.0)

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._prune_at:
                self._prune(now)
            capacity = float(self.burst)
            bucket = _Bucket(self.start_rate, capacity, capacity, now)
            self._buckets[key] = bucket
        bucket.used_at = now
        return bucket

    def _prune(self, now: float) -> None:
        # A key idle for FORGET_AFTER starts afresh; doubling the threshold keeps the cost
        # amortised O(1) per call.
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if now - bucket.used_at < FORGET_AFTER
        }
        self._prune_at = max(self._MIN_PRUNE_SIZE, 2 * len(self._buckets))

"""The poller: which links are due, poll them in detail, and sweep every key's list.

    the sweep (sweep.py) ── list of each key, every interval ──► links due now
    the pump (here)      ── due links ──► provider get ──► recording.py ──► outbox

Scheduling (``schedule.py``). Active links (a charge or creation in the last hour, or a
pending charge) are polled every interval; a quiet link is polled when the sweep shows it
changed (``use_count``, status), and once a day besides. Taking a link from the due list
writes its next time at once, as if the poll will find nothing new (the common case), in the
same transaction as the read: a poll that does find something writes again, one that finds
nothing writes nothing more.

Final statuses (expired, completed, archived) get one more poll after the poll that saw the
change, then none (``final_polled``).

Provider faults are per key (``keys.py``); the other keys go on. A hung key holds at most
``per_key`` of the ``max_in_flight`` slots.

Time. Stored times (next polls) are wall time, so they survive a restart; waits kept in
memory (a key's pause) are monotonic. A wall clock stepped back is noticed (``clock.py``) and
stored times move back by as much.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.dgs.errors import (
    AuthError,
    DGSError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitedError,
)
from bot.notify.clock import StepWatch
from bot.notify.keys import KeyHealth, KeyRules
from bot.notify.recording import Recorder
from bot.notify.running import Running, always
from bot.notify.schedule import Schedule, ScheduleRules
from bot.notify.sweep import Sweep, malformed
from bot.store.models import PollTarget

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


@dataclass
class PollerConfig:
    interval: float  # POLL_INTERVAL_SECONDS: how often an active link is polled
    quiet_poll: float = 24 * 3600.0  # a quiet link's details poll besides the sweep's news
    quiet_max_factor: float = 10.0  # a link's own fault (unreadable): retried this many later
    active_window: float = 3600.0  # a charge (or creation) this recent keeps a link active
    pending_note_after: float = 15 * 60.0
    jitter: float = 0.1
    batch: int = 128  # links taken from the due list and queued in memory, at most
    per_key: int = 4  # polls of one key in flight at once
    max_in_flight: int = 64  # polls in flight at once, all keys
    # While people wait for replies, polls yield: a few in flight keep alerts flowing without
    # taking the loop, the database or the provider's connections from them
    # (benchmarks/load.py: 5,000 due links added +3.6 s to reply p95 at 64 in flight).
    busy_in_flight: int = 4
    key_backoff_max: float = 300.0
    # The sweep lists every key's links: links made elsewhere are found, and use_count shows
    # which quiet links were paid. None: every ``interval``, so a link made on the provider's
    # dashboard is watched within two intervals.
    sweep_interval: float | None = None
    operator_retry: float = 600.0  # the operator's key refused (401): try it again after this
    relist_concurrency: int = 4  # keys listed at once by the sweep
    stop_grace: float = 1.0  # at stop, how long polls in flight may finish

    @property
    def sweep_every(self) -> float:
        return self.interval if self.sweep_interval is None else self.sweep_interval

    @property
    def tick(self) -> float:
        """How often the due list is looked at."""
        return min(max(self.interval / 4, 0.05), 5.0)


class Poller:
    """Polls due links and turns changes into outbox rows. One per bot process."""

    def __init__(
        self,
        services: Services,
        config: PollerConfig,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_enqueue: Callable[[], None] | None = None,
        on_due: Callable[[], None] | None = None,
        users_waiting: Callable[[], bool] = lambda: False,
    ) -> None:
        self._services = services
        self._users_waiting = users_waiting
        self.config = config
        self._clock = clock  # wall time: what is stored (next polls) survives a restart
        self._steps = StepWatch()
        rng = rng or random.Random()
        self.schedule = Schedule(
            ScheduleRules(
                interval=config.interval,
                active_window=config.active_window,
                quiet_poll=config.quiet_poll,
                jitter=config.jitter,
            ),
            rng,
        )
        self.keys = KeyHealth(
            services,
            KeyRules(
                interval=config.interval,
                backoff_max=min(config.key_backoff_max, config.interval * config.quiet_max_factor),
                operator_retry=config.operator_retry,
                jitter=config.jitter,
            ),
            monotonic=monotonic,
            rng=rng,
            on_enqueue=on_enqueue,
        )
        self.recorder = Recorder(
            services,
            self.schedule,
            pending_note_after=config.pending_note_after,
            clock=clock,
            on_enqueue=on_enqueue,
        )
        self.sweep = Sweep(
            services,
            self.keys,
            self.schedule,
            clock=clock,
            concurrency=config.relist_concurrency,
            on_due=on_due,
        )
        self._busy: Counter[str] = Counter()  # fingerprint -> polls in flight
        self._tasks: dict[asyncio.Task[None], PollTarget] = {}
        self._queue: dict[str, deque[PollTarget]] = {}  # taken from the store, not started
        self._queued = 0
        self._wake = asyncio.Event()
        self._pumping = False
        self._pull_now = False
        self.polls = 0  # answers received (benchmarks)
        self.failures: Counter[str] = Counter()  # failed polls by error

    # The wall clock, for every part (tests set it back to show a stepped clock).
    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self._clock = self.recorder.clock = self.sweep.clock = clock

    async def relist(self, running: Running = always) -> None:
        """The sweep of every key's list (``sweep.py``)."""
        await self.sweep.run(running)

    async def watch_key(self, api_key: str, running: Running = always) -> None:
        """List a key just connected now (``sweep.py``)."""
        await self.sweep.watch_key(api_key, running)

    # ------------------------------------------------------------------ the pump

    async def pump(self, running: Running = always) -> int:
        """Poll what is due until nothing is due, queued or in flight; returns the polls made.

        Due links are taken from the store in batches into per-key queues, and started as
        slots free up (``per_key`` per key, ``max_in_flight`` in all), so a slow key never
        holds up the others. A second call while one runs returns at once.
        """
        if self._pumping:
            return 0
        self._pumping = True
        cfg = self.config
        before = self.polls
        next_pull = 0.0
        try:
            while running():
                self._wake.clear()
                await self._follow_clock()
                now = self.clock()
                if self._pull_now:
                    self._pull_now, next_pull = False, 0.0
                if self._queued < cfg.batch // 2 and now >= next_pull:
                    want = cfg.batch - self._queued
                    targets = await self._pull(now, want)
                    for target in targets:
                        self._queue.setdefault(target.api_key_fingerprint, deque()).append(target)
                    self._queued += len(targets)
                    next_pull = now if len(targets) == want else now + cfg.tick
                await self._dispatch(now)
                if not self._tasks and not self._queued and next_pull > now:
                    break
                if next_pull <= now and self._queued < cfg.batch // 2:
                    await asyncio.sleep(0)  # let replies to users in between batches
                    continue
                timeout = next_pull - now if next_pull > now else cfg.tick
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
        finally:
            try:
                await self._settle()
            finally:
                self._pumping = False
        return self.polls - before

    def wake(self) -> bool:
        """Links just became due: a running pump takes them at once. False when no pump
        runs (the caller starts one)."""
        if not self._pumping:
            return False
        self._pull_now = True
        self._wake.set()
        return True

    async def _follow_clock(self) -> None:
        """The wall clock stepped back: move what is stored back by as much, so no poll and
        no alert retry waits the size of the step."""
        step = self._steps.stepped_back(self.clock(), self.keys.monotonic())
        if step > 0:
            log.warning("the clock went back %.0f s: moving stored schedules back too", step)
            await self._services.repo.shift_schedule(step, self.clock())

    def _slots(self) -> int:
        cfg = self.config
        return cfg.busy_in_flight if self._users_waiting() else cfg.max_in_flight

    async def _dispatch(self, now: float) -> None:
        """Start queued polls, key by key, as far as the slots allow."""
        cfg = self.config
        slots = self._slots()
        later: list[tuple[str, float, int]] = []
        for fp in list(self._queue):
            if len(self._tasks) >= slots:
                break
            queue = self._queue[fp]
            paused_for = self.keys.paused_for(fp)
            if paused_for > 0:
                # The key backs off: its links wait in the store, not in memory.
                later += [(t.link_id, now + paused_for, t.quiet_steps) for t in queue]
                self._queued -= len(queue)
                queue.clear()
            api_key = await self.keys.key_for(fp) if queue else None
            while queue and self._busy[fp] < cfg.per_key and len(self._tasks) < slots:
                target = queue.popleft()
                self._queued -= 1
                if api_key is not None:
                    self._spawn(target, api_key)
            if not queue:
                del self._queue[fp]
        if later:
            await self._services.repo.reschedule_polls(later)

    async def _settle(self) -> None:
        """At stop: let polls in flight finish briefly, cancel the rest; links queued or
        cut short are due at once, so the next start polls them first."""
        targets = [t for queue in self._queue.values() for t in queue]
        self._queue.clear()
        self._queued = 0
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=self.config.stop_grace)
            targets += [self._tasks[task] for task in late if task in self._tasks]
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if targets:
            now = self.clock()
            with contextlib.suppress(Exception):
                await self._services.repo.reschedule_polls(
                    [(target.link_id, now, target.quiet_steps) for target in targets]
                )

    async def _pull(self, now: float, limit: int) -> list[PollTarget]:
        """Take due links and schedule their next poll as if nothing will change."""
        cfg = self.config
        # Keys with enough queued already, and keys backing off, wait for the next pull.
        skip = {fp for fp, queue in self._queue.items() if len(queue) >= cfg.per_key}
        skip |= self.keys.paused_keys()
        operator_fp = self.keys.operator_fp
        extra = [operator_fp] if operator_fp else []
        repo = self._services.repo
        async with self._services.db.transaction() as conn:
            targets = await repo.claim_for_poll(
                now,
                limit=limit,
                per_key=cfg.per_key * 2,
                extra_fingerprints=extra,
                skip_fingerprints=sorted(skip),
                skip_links=[
                    *(target.link_id for target in self._tasks.values()),
                    *(target.link_id for queue in self._queue.values() for target in queue),
                ],
                conn=conn,
            )
            if targets:
                await repo.reschedule_polls(
                    [(t.link_id, *self.schedule.if_nothing_new(t, now)) for t in targets],
                    conn=conn,
                )
        return targets

    def _spawn(self, target: PollTarget, api_key: str) -> None:
        fp = target.api_key_fingerprint
        self._busy[fp] += 1
        task = asyncio.create_task(self._poll_guarded(target, api_key))
        self._tasks[task] = target

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.pop(finished, None)
            self._busy[fp] -= 1
            if self._busy[fp] <= 0:
                del self._busy[fp]
            self._wake.set()

        task.add_done_callback(done)

    # ------------------------------------------------------------------ one poll

    async def _poll_guarded(self, target: PollTarget, api_key: str) -> None:
        try:
            await self._poll(target, api_key)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug or a database problem with one link must not stop the others.
            log.exception("polling link %s failed", target.link_id)

    async def _poll(self, target: PollTarget, api_key: str) -> None:
        try:
            details = await self._services.dgs.get_link(api_key, target.link_id)
        except DGSError as exc:
            self.failures[type(exc).__name__] += 1
            await self._poll_failed(target, api_key, exc)
            return
        self.polls += 1
        self.keys.answered(target.api_key_fingerprint)
        await self.recorder.record(target, details)

    async def _poll_failed(self, target: PollTarget, api_key: str, error: DGSError) -> None:
        """A provider fault belongs to the key (401, 429, 5xx, timeouts) or to this link."""
        repo = self._services.repo
        fp = target.api_key_fingerprint
        cfg = self.config
        link_id = target.link_id
        if isinstance(error, AuthError):
            await self.keys.refused(fp, api_key)
            await repo.set_next_poll(link_id, self.clock())  # first in line once it is back
        elif isinstance(error, RateLimitedError):
            wait = error.retry_after if error.retry_after is not None else cfg.interval
            self.keys.rate_limited(fp, api_key, wait)
            await repo.set_next_poll(link_id, self.clock() + wait)
        elif isinstance(error, NotFoundError):
            log.warning("link %s is unknown to DGS now (404): no more polls", link_id)
            await repo.stop_polling(link_id)
        elif isinstance(error, ProviderUnavailableError) and not malformed(error):
            await repo.set_next_poll(link_id, self.clock() + self.keys.failed(fp, api_key, error))
        else:
            # An unreadable answer, or 400/403/409/410/422 on a GET: this link's problem.
            log.warning("link %s: DGS could not be polled: %s", link_id, error.message)
            await repo.set_next_poll(link_id, self.clock() + cfg.interval * cfg.quiet_max_factor)

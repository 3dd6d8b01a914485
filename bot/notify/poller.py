"""The poller: which links are due, fetch them, store what changed and its alerts at once.

Scheduling. Every link has ``next_poll_at``. A link with a charge (or made) in the last hour
is polled every ``interval``; a quiet one backs off step by step (2×, 4×, 8×) to 10× that;
every time gets ±10 % jitter so polls spread out instead of arriving in herds. Taking a link
from the due list writes its next time at once, as if the poll will find nothing new (the
common case), in the same transaction as the read: a poll that does find something writes
again, one that finds nothing writes nothing more.

Change. The answer's digest is compared with the last one seen: equal, no pending charge,
no final status → nothing to do (no SQL at all). Otherwise, in ONE transaction: merge the
charges, diff against the stored snapshot (``diff.py``), queue the owner's alert in the
outbox, store the new snapshot and schedule. A crash anywhere loses nothing: either the
whole poll is stored, or none of it and the next poll sees the same change again.

Final statuses (expired, completed, archived) get one more poll after the poll that saw
the change, then none (``final_polled``).

Provider faults are per key: 401 marks the key invalid, tells its owners once, and its
links wait for ``/connect`` (the due query only takes valid keys); 429 slows the key down
for Retry-After; 5xx and timeouts back the key off exponentially. The other keys go on.
A hung key holds at most ``per_key`` of the ``max_in_flight`` slots.

The sweep (at start, then every interval; ``relist``) lists every key's links, 100 a
request. A status or ``use_count`` change seen in the list makes the link due now, so a
payment on a quiet link is told within about one interval. A link the bot has no record of
is adopted by the baseline rule: made before its key was connected, its charges so far are
history (only what happens next is news); made after (elsewhere, or while the bot was down),
it has no history and every charge on it is news. A key just connected is listed at once
(``watch_key``).

Time. Stored times (next polls) are wall time, so they survive a restart; waits kept in
memory (a key's pause) are monotonic. A wall clock stepped back is noticed (``clock.py``) and
stored times move back by as much.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.bounded import LRUDict
from bot.dgs.client import key_hint
from bot.dgs.errors import (
    AuthError,
    DGSError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitedError,
)
from bot.dgs.models import Link, LinkDetails
from bot.drive import milestones_reached
from bot.notify.clock import StepWatch
from bot.notify.diff import Alert, EventKind, LinkDiff, LinkFacts, diff, for_level
from bot.notify.messages import (
    KIND_ALERT,
    KIND_DRIVE_MILESTONE,
    KIND_GROUP_PAYMENT,
    KIND_KEY_INVALID,
)
from bot.store.db import Connection
from bot.store.models import PollTarget, StoredLink
from bot.store.secrets import key_last4

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

OPERATOR_SINCE_META = "operator-key-since"  # + ":" + the key's fingerprint

Running = Callable[[], bool]

# Decrypted keys kept between polls; one forgotten is read (and decrypted) again when due.
KEY_CACHE_SIZE = 4096


def _always() -> bool:
    return True


@dataclass
class PollerConfig:
    interval: float  # POLL_INTERVAL_SECONDS: how often an active link is polled
    quiet_max_factor: float = 10.0  # a quiet link is polled at most this many intervals apart
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
    relist_concurrency: int = 4
    stop_grace: float = 1.0  # at stop, how long polls in flight may finish

    @property
    def sweep_every(self) -> float:
        return self.interval if self.sweep_interval is None else self.sweep_interval

    @property
    def tick(self) -> float:
        """How often the due list is looked at."""
        return min(max(self.interval / 4, 0.05), 5.0)


@dataclass
class _Trouble:
    """A key whose polls fail with 5xx or timeouts."""

    failures: int
    since: float
    until: float


@dataclass(frozen=True)
class _Account:
    """A key the sweep lists."""

    fingerprint: str
    api_key: str
    owner: int | None  # who gets the links found on it (None: nobody to tell yet)
    since: float  # epoch seconds when the key was connected

    def made_after_connect(self, link: Link) -> bool:
        """The baseline rule: a link made after its key was connected has no history.
        Provider times have whole seconds: a link of the connect's own second counts as
        made after it (better one old payment told than one new payment lost)."""
        if link.created_at is None:
            return False
        return link.created_at.timestamp() > self.since - 1.0


def digest_of(details: LinkDetails) -> bytes:
    return hashlib.blake2b(details.model_dump_json().encode(), digest_size=16).digest()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _has_pending(details: LinkDetails) -> bool:
    return details.stats.pending_charges > 0 or any(
        charge.status == "pending" for charge in details.recent_charges
    )


def _malformed(exc: ProviderUnavailableError) -> bool:
    # The client reports an answer that does not fit the model this way (no status code).
    # It is this link's data, not the key's health: the other links of the key are fine.
    return exc.status_code is None and "unexpected response" in exc.message


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
        self.clock = clock  # wall time: what is stored (next polls) survives a restart
        self.monotonic = monotonic  # in-memory waits: a clock stepped back never lengthens them
        self._steps = StepWatch()
        self._rng = rng or random.Random()
        self._on_enqueue = on_enqueue
        self._on_due = on_due
        operator_key = services.settings.dgs_api_key
        self._operator_key = operator_key.get_secret_value() if operator_key else None
        self._operator_fp = services.accounts.operator_fingerprint
        self._keys: LRUDict[str, str] = LRUDict(KEY_CACHE_SIZE)  # fingerprint -> API key
        self._digests: dict[str, bytes] = {}  # link id -> digest of the last answer stored
        self._busy: Counter[str] = Counter()  # fingerprint -> polls in flight
        self._paused: dict[str, float] = {}  # fingerprint -> no polls before (monotonic)
        self._trouble: dict[str, _Trouble] = {}
        self._outage_since: float | None = None
        self._tasks: dict[asyncio.Task[None], PollTarget] = {}
        self._queue: dict[str, deque[PollTarget]] = {}  # taken from the store, not started
        self._queued = 0
        self._wake = asyncio.Event()
        self._pumping = False
        self._pull_now = False
        self._relisting = False
        self._operator_since_at: float | None = None
        self.polls = 0  # answers received (benchmarks)
        self.failures: Counter[str] = Counter()  # failed polls by error

    # ------------------------------------------------------------------ the pump

    async def pump(self, running: Running = _always) -> int:
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

    def _due_now(self) -> None:
        if self._on_due is not None:
            self._on_due()

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
            paused_for = self._paused_for(fp)
            if paused_for > 0:
                # The key backs off: its links wait in the store, not in memory.
                later += [(t.link_id, now + paused_for, t.quiet_steps) for t in queue]
                self._queued -= len(queue)
                queue.clear()
            api_key = await self._key_for(fp) if queue else None
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
        for fp in list(self._paused):
            if self._paused_for(fp) > 0:
                skip.add(fp)
            else:
                del self._paused[fp]
        extra = [self._operator_fp] if self._operator_fp else []
        repo = self._services.repo
        async with self._services.db.transaction() as conn:
            targets = await repo.due_for_poll(
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
                    [(t.link_id, *self._quiet_schedule(t, now)) for t in targets], conn=conn
                )
        return targets

    def _jittered(self, seconds: float) -> float:
        j = self.config.jitter
        return seconds * self._rng.uniform(1 - j, 1 + j)

    def _quiet_schedule(self, target: PollTarget, now: float) -> tuple[float, int]:
        """Next poll time and quiet steps if this poll finds nothing new."""
        cfg = self.config
        window = cfg.active_window
        recent_charge = target.last_charge_at is not None and now - target.last_charge_at < window
        if recent_charge or now - target.created_at < window:
            return now + self._jittered(cfg.interval), 0
        steps = target.quiet_steps + 1
        factor = min(cfg.quiet_max_factor, float(2**steps))
        return now + self._jittered(cfg.interval * factor), steps

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

    async def _key_for(self, fingerprint: str) -> str | None:
        api_key = self._keys.get(fingerprint)
        if api_key is None:
            if fingerprint == self._operator_fp:
                api_key = self._operator_key
            else:
                api_key = await self._services.repo.api_key_for_fingerprint(fingerprint)
            if api_key is None:
                return None
            self._keys[fingerprint] = api_key
        return api_key

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
        self._key_answered(target.api_key_fingerprint)
        await self._record(target, details)

    async def _poll_failed(self, target: PollTarget, api_key: str, error: DGSError) -> None:
        """A provider fault belongs to the key (401, 429, 5xx, timeouts) or to this link."""
        repo = self._services.repo
        fp = target.api_key_fingerprint
        cfg = self.config
        link_id = target.link_id
        if isinstance(error, AuthError):
            await self._refused(fp, api_key)
            await repo.set_next_poll(link_id, self.clock())  # first in line once it is back
        elif isinstance(error, RateLimitedError):
            wait = error.retry_after if error.retry_after is not None else cfg.interval
            self._services.dgs.slow_down(api_key, wait)
            self._pause(fp, wait)
            log.info("DGS asks key %s to slow down for %.1f s", key_hint(api_key), wait)
            await repo.set_next_poll(link_id, self.clock() + wait)
        elif isinstance(error, NotFoundError):
            log.warning("link %s is unknown to DGS now (404): no more polls", link_id)
            await repo.stop_polling(link_id)
        elif isinstance(error, ProviderUnavailableError) and not _malformed(error):
            await repo.set_next_poll(link_id, self.clock() + self._key_failed(fp, api_key, error))
        else:
            # An unreadable answer, or 400/403/409/410/422 on a GET: this link's problem.
            log.warning("link %s: DGS could not be polled: %s", link_id, error.message)
            await repo.set_next_poll(link_id, self.clock() + cfg.interval * cfg.quiet_max_factor)

    async def _record(self, target: PollTarget, details: LinkDetails) -> None:
        digest = digest_of(details)
        if (
            not details.link.is_final
            and details.link.status == target.status
            and self._digests.get(target.link_id) == digest
            and not _has_pending(details)
        ):
            return  # nothing new: the next poll was already scheduled when it was taken
        enqueued = await self._store(target, details)
        self._digests[target.link_id] = digest
        if enqueued and self._on_enqueue is not None:
            self._on_enqueue()

    async def _store(self, target: PollTarget, details: LinkDetails) -> bool:
        """Charges, snapshot, schedule and alert in one transaction; True if an alert was
        queued."""
        services = self._services
        repo = services.repo
        cfg = self.config
        now = self.clock()
        queued = False
        result: LinkDiff | None = None
        async with services.db.transaction() as conn:
            stored = await repo.get_link(target.link_id, conn=conn)
            if stored is None:
                return False  # forgotten meanwhile
            changes = await repo.upsert_charges(conn, target.link_id, details.recent_charges)
            pending_now = _has_pending(details)
            pending = await repo.pending_charges(target.link_id, conn=conn) if pending_now else []
            result = diff(
                stored.snapshot,
                details,
                changes,
                pending,
                known_status=stored.status,
                now=_utc(now),
                pending_after=timedelta(seconds=cfg.pending_note_after),
            )
            owner = await repo.get_user(stored.owner_user_id, conn=conn)
            level = owner.notify_level if owner is not None else target.notify_level
            events = for_level(result.events, level, muted=stored.muted)
            # An owner out of DGS_ALLOWED_USERS: watched for nobody (charges still recorded,
            # so a user added back is not flooded with old payments).
            watched = not services.accounts.lost_operator_key(
                stored.owner_user_id, stored.api_key_fingerprint
            )
            if events and watched:
                alert = Alert(LinkFacts.of(details), events)
                await repo.enqueue(
                    conn,
                    stored.owner_user_id,
                    KIND_ALERT,
                    alert.to_payload(),
                    user_id=stored.owner_user_id,
                )
                queued = True
            if watched and stored.group_chat_id is not None:
                queued = await self._tell_group(conn, stored, details, result) or queued
            for charge_id in result.noted_pending:
                await repo.mark_pending_noted(conn, target.link_id, charge_id)
            next_poll_at, steps, final = self._schedule_after(
                target, details, result, stored.status, now, busy=pending_now
            )
            await repo.save_snapshot(
                conn,
                target.link_id,
                details,
                next_poll_at=next_poll_at,
                quiet_steps=steps,
                final_polled=final,
                last_charge_at=_utc(now) if result.activity else None,
            )
        for line in result.anomalies:
            log.warning("odd data from DGS: %s", line)
        if final:
            self._digests.pop(target.link_id, None)
        return queued

    async def _tell_group(
        self, conn: Connection, stored: StoredLink, details: LinkDetails, result: LinkDiff
    ) -> bool:
        """A group's link also reports to the group, in the same transaction: a drive's
        milestones (each once; its card is redrawn by ``bot/notify/drives.py``), or a line
        per payment on a plain link. True if a row was queued."""
        assert stored.group_chat_id is not None
        repo = self._services.repo
        group = await repo.get_group(stored.group_chat_id, conn=conn)
        if group is None or not group.active:
            return False
        drive = await self._services.drives.get(stored.link_id, conn=conn)
        if drive is not None:
            queued = False
            raised = details.stats.total_collected
            for milestone in milestones_reached(raised, drive.goal, drive.milestone):
                if await self._services.drives.announce(stored.link_id, milestone, conn=conn):
                    payload = {"title": details.link.title, "percent": milestone}
                    await repo.enqueue(conn, group.chat_id, KIND_DRIVE_MILESTONE, payload)
                    queued = True
            return queued
        payments = tuple(e for e in result.events if e.kind is EventKind.PAYMENT)
        if not payments:
            return False
        if group.anonymous_totals:  # the names are not even stored for the group's line
            payments = tuple(replace(event, payer_name=None) for event in payments)
        payload = Alert(LinkFacts.of(details), payments).to_payload()
        payload["anonymous"] = group.anonymous_totals
        await repo.enqueue(conn, group.chat_id, KIND_GROUP_PAYMENT, payload)
        return True

    def _schedule_after(
        self,
        target: PollTarget,
        details: LinkDetails,
        result: LinkDiff,
        stored_status: str,
        now: float,
        *,
        busy: bool,
    ) -> tuple[float, int, bool]:
        """(next poll, quiet steps, final) after a poll that found something."""
        interval = self.config.interval
        if details.link.is_final:
            if details.link.status != stored_status:
                return now + self._jittered(interval), 0, False  # one last poll to come
            return now, target.quiet_steps, True
        if busy or result.activity:
            return now + self._jittered(interval), 0, False
        next_poll_at, steps = self._quiet_schedule(target, now)
        return next_poll_at, steps, False

    # ------------------------------------------------------------------ key faults

    async def _refused(self, fingerprint: str, api_key: str) -> None:
        """401: the key is no good. Mark it invalid and tell its owners, once."""
        self._keys.pop(fingerprint, None)
        if fingerprint == self._operator_fp:
            # Nobody can /connect the operator's key: log it for the operator, retry later.
            if self._paused_for(fingerprint) <= 0:
                log.error(
                    "DGS refused the operator key DGS_API_KEY (%s); its links pause for %.0f s",
                    key_hint(api_key),
                    self.config.operator_retry,
                )
            self._pause(fingerprint, self.config.operator_retry)
            return
        repo = self._services.repo
        async with self._services.db.transaction() as conn:
            users = await repo.mark_fingerprint_invalid(fingerprint, conn=conn)
            for user_id in users:
                await repo.enqueue(
                    conn,
                    user_id,
                    KIND_KEY_INVALID,
                    {"last4": key_last4(api_key)},
                    user_id=user_id,
                )
        if users:
            log.warning(
                "DGS refused key %s: polling of its links waits for /connect (users %s)",
                key_hint(api_key),
                ", ".join(map(str, users)),
            )
            if self._on_enqueue is not None:
                self._on_enqueue()

    def _key_failed(self, fingerprint: str, api_key: str, exc: DGSError) -> float:
        """5xx or timeout: back the key off; returns in how many seconds it may be tried."""
        cfg = self.config
        now = self.monotonic()
        trouble = self._trouble.get(fingerprint)
        if trouble is None:
            trouble = self._trouble[fingerprint] = _Trouble(failures=0, since=now, until=now)
            if self._outage_since is None:
                self._outage_since = now
                log.warning(
                    "DGS is not answering (%s, key %s); backing off", exc, key_hint(api_key)
                )
            else:
                log.debug("DGS is not answering for key %s either", key_hint(api_key))
        trouble.failures += 1
        cap = min(cfg.key_backoff_max, cfg.interval * cfg.quiet_max_factor)
        delay = self._jittered(min(cap, cfg.interval * 2**trouble.failures))
        trouble.until = max(trouble.until, now + delay)
        self._paused[fingerprint] = max(self._paused.get(fingerprint, 0.0), trouble.until)
        return trouble.until - now

    def _pause(self, fingerprint: str, seconds: float) -> None:
        until = self.monotonic() + seconds
        self._paused[fingerprint] = max(self._paused.get(fingerprint, 0.0), until)

    def _paused_for(self, fingerprint: str) -> float:
        """Seconds the key still waits (0 or less: it may be used)."""
        return self._paused.get(fingerprint, 0.0) - self.monotonic()

    async def _follow_clock(self) -> None:
        """The wall clock stepped back: move what is stored back by as much, so no poll and
        no alert retry waits the size of the step."""
        step = self._steps.stepped_back(self.clock(), self.monotonic())
        if step > 0:
            log.warning("the clock went back %.0f s: moving stored schedules back too", step)
            await self._services.repo.shift_schedule(step, self.clock())

    def _key_answered(self, fingerprint: str) -> None:
        if not self._trouble or self._trouble.pop(fingerprint, None) is None:
            return
        if not self._trouble and self._outage_since is not None:
            log.info("DGS answers again, after %.0f s", self.monotonic() - self._outage_since)
            self._outage_since = None

    # ------------------------------------------------------------------ the sweep

    async def relist(self, running: Running = _always) -> None:
        """The sweep: list every key's links. Links made elsewhere are adopted, a status or
        ``use_count`` change seen in the list makes the link due now."""
        if self._relisting:
            return
        self._relisting = True
        try:
            accounts = await self._accounts()
            valid = {account.fingerprint for account in accounts}
            gate = asyncio.Semaphore(self.config.relist_concurrency)

            async def one(account: _Account) -> None:
                async with gate:
                    if running() and self._paused_for(account.fingerprint) <= 0:
                        await self._relist_key(account, valid, running)

            await asyncio.gather(*(one(account) for account in accounts))
        finally:
            self._relisting = False

    async def watch_key(self, api_key: str, running: Running = _always) -> None:
        """A key was just connected: list its links now rather than at the next sweep, so a
        payment made in between is told (or is history, by the baseline rule)."""
        accounts = await self._accounts()
        valid = {account.fingerprint for account in accounts}
        for account in accounts:
            if account.api_key == api_key:
                await self._relist_key(account, valid, running)

    async def _accounts(self) -> list[_Account]:
        """Every valid key: whom its links found belong to, and since when it is watched."""
        repo = self._services.repo
        owners: dict[str, int] = {}
        since: dict[str, float] = {}
        for credential in await repo.list_valid_credentials():  # by user id: lowest first
            fp = credential.key_fingerprint
            owners.setdefault(fp, credential.user_id)
            connected = credential.created_at.timestamp()
            since[fp] = min(since.get(fp, connected), connected)
        accounts: list[_Account] = []
        for fp, owner in owners.items():
            api_key = await self._key_for(fp)
            if api_key is not None:
                accounts.append(_Account(fp, api_key, owner, since[fp]))
        if self._operator_key is not None and self._operator_fp is not None:
            operator_owner = None
            # A shared key has no single owner: links made elsewhere go to the first allowed
            # user who has talked to the bot (nobody else can be written to).
            for user_id in sorted(self._services.settings.dgs_allowed_users):
                user = await repo.get_user(user_id)
                if user is not None and user.active:
                    operator_owner = user_id
                    break
            accounts.append(
                _Account(
                    self._operator_fp,
                    self._operator_key,
                    operator_owner,
                    await self._operator_since(self._operator_fp),
                )
            )
        return accounts

    async def _operator_since(self, fingerprint: str) -> float:
        """When this bot first used the operator's key (its "connect" time), kept in the
        store so that a restart does not move it."""
        if self._operator_since_at is None:
            repo = self._services.repo
            name = f"{OPERATOR_SINCE_META}:{fingerprint}"
            stored = await repo.get_meta(name)
            if stored is None:
                stored = repr(self.clock())
                await repo.set_meta(name, stored)
            self._operator_since_at = float(stored)
        return self._operator_since_at

    async def _relist_key(self, account: _Account, valid: set[str], running: Running) -> None:
        api_key = account.api_key
        try:
            page: list[Link] = []
            async for link in self._services.dgs.iter_links(api_key):
                page.append(link)
                if len(page) >= 100:
                    await self._absorb(page, account, valid)
                    page = []
                if not running():
                    return
            if page:
                await self._absorb(page, account, valid)
        except AuthError:
            await self._refused(account.fingerprint, api_key)
        except RateLimitedError as exc:
            # The key's pace and health are one, whether a poll or the sweep learnt of it.
            wait = exc.retry_after if exc.retry_after is not None else self.config.interval
            self._services.dgs.slow_down(api_key, wait)
            self._pause(account.fingerprint, wait)
            log.info("sweep of key %s slowed down: %s", key_hint(api_key), exc.message)
        except ProviderUnavailableError as exc:
            if _malformed(exc):
                log.info("sweep of key %s failed: %s", key_hint(api_key), exc.message)
            else:
                self._key_failed(account.fingerprint, api_key, exc)
        except DGSError as exc:
            log.info("sweep of key %s failed: %s", key_hint(api_key), exc.message)
        else:
            self._key_answered(account.fingerprint)

    async def _absorb(self, links: Sequence[Link], account: _Account, valid: set[str]) -> None:
        repo = self._services.repo
        states = await repo.link_states([link.id for link in links])
        now = self.clock()
        paid: list[str] = []
        for link in links:
            state = states.get(link.id)
            if state is None:
                if account.owner is not None:
                    await self._adopt(link, account, account.owner)
                continue
            if state.api_key_fingerprint != account.fingerprint and (
                state.api_key_fingerprint not in valid
            ):
                # Its old key is gone; this one sees the link: poll it with this one.
                await repo.upsert_link(
                    link,
                    owner_user_id=state.owner_user_id,
                    api_key_fingerprint=account.fingerprint,
                )
                continue
            if link.status == state.status:
                if state.use_count is not None and link.use_count != state.use_count:
                    # A successful payment since the last poll (pending and failed charges do
                    # not move use_count): poll it now, however quiet it had been.
                    paid.append(link.id)
                continue
            if link.is_final:
                if not state.final_polled:
                    await repo.set_next_poll(link.id, now)  # its poll reports the change
            else:
                # Taking payments again (reopened elsewhere): watch it again.
                await repo.upsert_link(
                    link,
                    owner_user_id=state.owner_user_id,
                    api_key_fingerprint=state.api_key_fingerprint,
                )
        if paid:
            await repo.poll_soon(paid, now)
            self._due_now()

    async def _adopt(self, link: Link, account: _Account, owner: int) -> None:
        """A link the bot has no record of: made outside the bot, or while it was down."""
        repo = self._services.repo
        fp, api_key = account.fingerprint, account.api_key
        if account.made_after_connect(link):
            # No history: every charge on it is news, even one made before the bot saw the
            # link. Its first poll (now) finds them all new and tells them.
            await repo.upsert_link(
                link, owner_user_id=owner, api_key_fingerprint=fp, next_poll_at=self.clock()
            )
            log.info(
                "watching link %s, made after its key was connected (user %s)", link.id, owner
            )
            self._due_now()
            return
        # It existed when the key was connected: its charges so far are history, not news.
        if link.is_final:
            async with self._services.db.transaction() as conn:
                await repo.upsert_link(
                    link, owner_user_id=owner, api_key_fingerprint=fp, conn=conn
                )
                await repo.stop_polling(link.id, conn=conn)
            return
        try:
            details = await self._services.dgs.get_link(api_key, link.id)
        except DGSError as exc:
            log.info("link %s found by the sweep, not adopted yet: %s", link.id, exc.message)
            return
        now = self.clock()
        next_poll_at = now + self._jittered(self.config.interval)
        async with self._services.db.transaction() as conn:
            await repo.upsert_link(
                details.link,
                owner_user_id=owner,
                api_key_fingerprint=fp,
                next_poll_at=next_poll_at,
                conn=conn,
            )
            await repo.upsert_charges(conn, link.id, details.recent_charges)
            await repo.save_snapshot(
                conn,
                link.id,
                details,
                next_poll_at=next_poll_at,
                quiet_steps=0,
                final_polled=details.link.is_final,
            )
        self._digests[link.id] = digest_of(details)
        log.info("watching link %s, made outside the bot (user %s)", link.id, owner)

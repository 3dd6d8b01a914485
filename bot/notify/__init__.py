"""Payment alerts: poll link stats on the job queue and tell each owner once.

    JobQueue tick ─► poller.py (due links ─► provider get ─► diff.py ─► snapshot + outbox rows,
                     one transaction) ─► sender.py (outbox ─► messages.py ─► Telegram ─► sent)

``start_notifier(app)`` is called once the Application runs. It recovers rows left in flight
by a crash before anything is sent, then schedules the jobs: the poll tick (a fraction of
``POLL_INTERVAL_SECONDS``), the sender tick, the sweep of every key's list (every
``POLL_INTERVAL_SECONDS``), the drive cards and a daily outbox prune. Each job runs once at
start, then repeats (``_every``); each returns at once when its previous run is still busy.
``watch_key(app, key)`` lists a key just connected at once, outside the chat's queue.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import Application, CallbackContext, JobQueue

from bot.dgs.pacing import mark_background
from bot.notify.daily import CHECK_EVERY_SECONDS, DailyJobs
from bot.notify.drives import DriveRefresher
from bot.notify.poller import Poller, PollerConfig
from bot.notify.sender import Sender, SenderConfig
from bot.notify.tills import TILL_CHECK_SECONDS, TillMarker

log = logging.getLogger(__name__)

OUTBOX_KEEP_SECONDS = 7 * 24 * 3600
PRUNE_EVERY_SECONDS = 24 * 3600
DRIVE_CHECK_SECONDS = 2.0  # how often drive cards are compared with the latest figures

AnyApp = Application[Any, Any, Any, Any, Any, Any]
AnyContext = CallbackContext[Any, Any, Any, Any]

# By the Application's id, weakly: the jobs keep a notifier alive exactly as long as they run.
_NOTIFIERS: weakref.WeakValueDictionary[int, Notifier] = weakref.WeakValueDictionary()


class Notifier:
    """The poller and the sender of one running Application, and their jobs."""

    def __init__(self, app: AnyApp, *, clock: Callable[[], float] | None = None) -> None:
        services = app.bot_data.services
        if services is None:
            raise RuntimeError("the services must be open before the notifier starts")
        self._app = app
        self._services = services
        self.poller = Poller(
            services,
            PollerConfig(interval=services.settings.poll_interval_seconds),
            on_enqueue=self.kick_sender,
            on_due=self.kick_poller,
            users_waiting=lambda: app.update_processor.current_concurrent_updates > 0,
        )
        self.sender = Sender(app, services, SenderConfig())
        self.drives = DriveRefresher(app, services)
        self.tills = TillMarker(app, services)  # issue 17: the till's message marked paid
        # Issue 17: invoice reminders and daily totals (``clock``: tests set the day's time).
        if clock is not None:
            services.reminders.clock = clock
        self.daily = DailyJobs(services)
        self.started = False
        # Issue 16: among replicas (webhook on PostgreSQL, bot/replicas.py) this process's
        # name; the sweep and the prune run on one replica per round.
        self.replicated = services.settings.replicated
        self.replica = uuid.uuid4().hex[:12]

    @property
    def job_queue(self) -> JobQueue[Any]:
        queue = self._app.job_queue
        if queue is None:
            raise RuntimeError("the Application has no job queue (python-telegram-bot[job-queue])")
        return queue

    def running(self) -> bool:
        return self._app.running

    def start(self) -> None:
        self.job_queue.run_once(self._start_job, when=0, name="notify:start")

    async def _start_job(self, context: AnyContext) -> None:
        # Rows in flight belong to a process that died mid-send: send them again (at most
        # one repeat per chat, never a loss). This must come before the first claim.
        recovered = await self._services.repo.recover_in_flight(replicated=self.replicated)
        if recovered:
            log.info(
                "outbox: %d message(s) left in flight by the last run will be sent", recovered
            )
        config = self.poller.config
        tick = config.tick
        self._every(self._send_job, min(tick, 1.0), "notify:send")
        self._every(self._poll_job, tick, "notify:poll")
        self._every(self._relist_job, config.sweep_every, "notify:sweep")
        # Passes over the store that must not overlap: a second would edit a card or queue a
        # reminder the first is still on.
        drives, daily, tills = "notify:drives", "notify:daily", "notify:tills"
        self._every(self._drives_job, min(tick, DRIVE_CHECK_SECONDS), drives, exclusive=True)
        self._every(self._daily_job, min(tick * 5, CHECK_EVERY_SECONDS), daily, exclusive=True)
        self._every(self._tills_job, min(tick, TILL_CHECK_SECONDS), tills, exclusive=True)
        self.job_queue.run_repeating(
            self._prune_job, interval=PRUNE_EVERY_SECONDS, first=60, name="notify:prune"
        )
        self.started = True

    def _every(
        self,
        callback: Callable[[AnyContext], Coroutine[Any, Any, None]],
        interval: float,
        name: str,
        *,
        exclusive: bool = False,
    ) -> None:
        """Run ``callback`` now, then every ``interval`` seconds; ``exclusive``: a run that
        finds the last one still busy returns at once.

        Not ``run_repeating(first=0)``: APScheduler's interval trigger moves a start time that
        is already past to ``start + interval``, so "first=0" ran the first sweep only after a
        whole interval (10 minutes, when it was the relist)."""
        if exclusive:
            callback = _one_at_a_time(callback)
        queue = self.job_queue
        queue.run_once(callback, when=0, name=f"{name}:first")
        # Overlapping runs return at once (the run before is still busy): no APScheduler
        # "maximum number of running instances" warnings when a pass takes long.
        overlap = {"max_instances": 8, "coalesce": True}
        queue.run_repeating(
            callback, interval=interval, first=interval, name=name, job_kwargs=overlap
        )

    def watch_key(self, api_key: str) -> None:
        """A key was just connected: list its links now (a job, so the reply never waits)."""
        if not (self.started and self.running()):
            return

        async def listing(context: AnyContext) -> None:
            mark_background()  # polls and lists go after the calls people wait for
            await self.poller.watch_key(api_key, self.running)

        self.job_queue.run_once(listing, when=0, name="notify:watch-key")

    def kick_poller(self) -> None:
        """Links became due (found, or paid by the list): poll now, not at the next tick."""
        if self.started and self.running() and not self.poller.wake():
            self.job_queue.run_once(self._poll_job, when=0, name="notify:poll-now")

    def kick_sender(self) -> None:
        """Something was queued: send now rather than at the next tick."""
        if self.started and self.running():
            self.job_queue.run_once(self._send_job, when=0, name="notify:send-now")

    async def _poll_job(self, context: AnyContext) -> None:
        mark_background()  # polls and lists go after the calls people wait for
        await self.poller.pump(self.running)

    async def _send_job(self, context: AnyContext) -> None:
        await self.sender.drain(self.running)

    async def _drives_job(self, context: AnyContext) -> None:
        await self.drives.refresh()

    async def _tills_job(self, context: AnyContext) -> None:
        await self.tills.refresh()

    async def _daily_job(self, context: AnyContext) -> None:
        if await self.daily.run():
            self.kick_sender()

    async def _relist_job(self, context: AnyContext) -> None:
        if not await self._once("sweep", self.poller.config.sweep_every):
            return
        mark_background()  # polls and lists go after the calls people wait for
        await self.poller.relist(self.running)

    async def _once(self, job: str, every: float) -> bool:
        """Whether this process runs a once-only job this round: always alone; among
        replicas, the first whose timer fires ``every`` s after the last start does."""
        if not self.replicated:
            return True
        return await self._services.repo.take_job(job, self.replica, every)

    async def _prune_job(self, context: AnyContext) -> None:
        if not await self._once("prune", PRUNE_EVERY_SECONDS):
            return
        if self.replicated:  # handled updates: kept a day, so Telegram's repeat is dropped
            await self._services.repo.prune_inbox(self.poller.clock() - PRUNE_EVERY_SECONDS)
            await self._services.repo.prune_replicas(self.poller.clock() - PRUNE_EVERY_SECONDS)
        removed = await self._services.repo.prune_outbox(self.poller.clock() - OUTBOX_KEEP_SECONDS)
        if removed:
            log.info("outbox: pruned %d finished row(s)", removed)


def _one_at_a_time(
    callback: Callable[[AnyContext], Coroutine[Any, Any, None]],
) -> Callable[[AnyContext], Coroutine[Any, Any, None]]:
    """``callback``, returning at once while an earlier run of it is still busy."""
    busy = False

    async def run(context: AnyContext) -> None:
        nonlocal busy
        if busy:
            return
        busy = True
        try:
            await callback(context)
        finally:
            busy = False

    return run


def start_notifier(app: AnyApp, *, clock: Callable[[], float] | None = None) -> None:
    """Start payment alerts on a running Application (call right after ``app.start()``);
    ``clock``: the wall clock of the reminders and daily totals (tests set it)."""
    notifier = Notifier(app, clock=clock)
    _NOTIFIERS[id(app)] = notifier
    notifier.start()


def watch_key(app: AnyApp, api_key: str) -> None:
    """List a key's links now (it was just connected); nothing when no notifier runs."""
    notifier = _NOTIFIERS.get(id(app))
    if notifier is not None:
        notifier.watch_key(api_key)


def notifier_of(app: AnyApp) -> Notifier:
    """The notifier started on ``app`` (tests and tools reach its poller and sender)."""
    return _NOTIFIERS[id(app)]


__all__ = [
    "Notifier",
    "Poller",
    "PollerConfig",
    "Sender",
    "SenderConfig",
    "notifier_of",
    "start_notifier",
    "watch_key",
]

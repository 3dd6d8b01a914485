"""Payment alerts: poll link stats on the job queue and tell each owner once.

    JobQueue tick ─► poller.py (due links ─► provider get ─► diff.py ─► snapshot + outbox rows,
                     one transaction) ─► sender.py (outbox ─► messages.py ─► Telegram ─► sent)

``start_notifier(app)`` is called once the Application runs. It recovers rows left in flight
by a crash before anything is sent, then schedules the jobs: the poll tick (a fraction of
``POLL_INTERVAL_SECONDS``), the sender tick, the relist (at start and every 10 minutes) and a
daily outbox prune. Each job returns at once when the previous run of it is still busy.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from telegram.ext import Application, CallbackContext, JobQueue

from bot.notify.drives import DriveRefresher
from bot.notify.poller import Poller, PollerConfig
from bot.notify.sender import Sender, SenderConfig

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

    def __init__(self, app: AnyApp) -> None:
        services = app.bot_data.services
        if services is None:
            raise RuntimeError("the services must be open before the notifier starts")
        self._app = app
        self._services = services
        self.poller = Poller(
            services,
            PollerConfig(interval=services.settings.poll_interval_seconds),
            on_enqueue=self.kick_sender,
            users_waiting=lambda: app.update_processor.current_concurrent_updates > 0,
        )
        self.sender = Sender(app, services, SenderConfig())
        self.drives = DriveRefresher(app, services)
        self.started = False

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
        recovered = await self._services.repo.recover_in_flight()
        if recovered:
            log.info(
                "outbox: %d message(s) left in flight by the last run will be sent", recovered
            )
        queue = self.job_queue
        tick = self.poller.config.tick
        # Overlapping ticks return at once (the run before is still busy): no APScheduler
        # "maximum number of running instances" warnings when a pass takes long.
        overlap = {"max_instances": 8, "coalesce": True}
        queue.run_repeating(
            self._send_job,
            interval=min(tick, 1.0),
            first=0,
            name="notify:send",
            job_kwargs=overlap,
        )
        queue.run_repeating(
            self._poll_job, interval=tick, first=0, name="notify:poll", job_kwargs=overlap
        )
        queue.run_repeating(
            self._relist_job,
            interval=self.poller.config.relist_interval,
            first=0,
            name="notify:relist",
            job_kwargs=overlap,
        )
        queue.run_repeating(
            self._drives_job,
            interval=min(tick, DRIVE_CHECK_SECONDS),
            first=0,
            name="notify:drives",
            job_kwargs=overlap,
        )
        queue.run_repeating(
            self._prune_job, interval=PRUNE_EVERY_SECONDS, first=60, name="notify:prune"
        )
        self.started = True

    def kick_sender(self) -> None:
        """Something was queued: send now rather than at the next tick."""
        if self.started and self.running():
            self.job_queue.run_once(self._send_job, when=0, name="notify:send-now")

    async def _poll_job(self, context: AnyContext) -> None:
        await self.poller.pump(self.running)

    async def _send_job(self, context: AnyContext) -> None:
        await self.sender.drain(self.running)

    async def _drives_job(self, context: AnyContext) -> None:
        await self.drives.refresh()

    async def _relist_job(self, context: AnyContext) -> None:
        await self.poller.relist(self.running)

    async def _prune_job(self, context: AnyContext) -> None:
        removed = await self._services.repo.prune_outbox(self.poller.clock() - OUTBOX_KEEP_SECONDS)
        if removed:
            log.info("outbox: pruned %d finished row(s)", removed)


def start_notifier(app: AnyApp) -> None:
    """Start payment alerts on a running Application (call right after ``app.start()``)."""
    notifier = Notifier(app)
    _NOTIFIERS[id(app)] = notifier
    notifier.start()


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
]

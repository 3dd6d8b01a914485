"""The daily totals and the invoice reminders (issue 17, points 4 and 5): two cheap jobs
that queue messages in the outbox, so the sender delivers them as it delivers alerts
(retried, in order, a blocked chat dropped).

Each run is one indexed read of who (or what) is due; most runs find nobody. What makes each
message once-only is written in the same transaction as its outbox row: the
``(user, Kigali day)`` row of ``daily_summaries``, or the reminder leaving ``pending``.
A restart, or a second replica due at the same moment, finds the row and queues nothing.
A time missed while the bot was down is still due at start, the same day.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.dgs.models import KIGALI, LinkStatus
from bot.notify.digest import (
    KIND_DAILY,
    KIND_REMINDER,
    KIND_REMINDER_FORWARD,
    daily_payload,
    reminder_payload,
)
from bot.store.reminders import DueReminder

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 30.0  # a summary may come up to this late after its minute


def kigali_day(now: float) -> tuple[str, float, int]:
    """(the Kigali date as ``YYYY-MM-DD``, its midnight in epoch seconds, the minute of the
    day now)."""
    local = datetime.fromtimestamp(now, KIGALI)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local.date().isoformat(), midnight.timestamp(), local.hour * 60 + local.minute


class DailyJobs:
    """``run`` is the job: reminders due, then summaries due. Returns True when it queued a
    message (the sender is kicked)."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def clock(self) -> float:
        """The wall clock the vendor's choices were made by (``Reminders.clock``)."""
        return self._services.reminders.clock()

    async def run(self) -> bool:
        """Reminders due, then summaries due (one pass at a time: ``Notifier._every``)."""
        reminded = await self.remind()
        told = await self.summarise()
        return reminded or told

    # --- reminders ---------------------------------------------------------------------------

    async def remind(self) -> bool:
        queued = False
        for due in await self._services.repo.due_reminders(self.clock()):
            queued = await self._remind(due) or queued
        return queued

    async def _unpaid(self, due: DueReminder) -> bool:
        """Unpaid and still open, as far as the notifier has seen (the sweep lists every key
        each poll interval and records each link's ``use_count``)."""
        snapshot = due.snapshot.link if due.snapshot is not None else None
        status = snapshot.status if snapshot is not None else due.status
        if status != LinkStatus.ACTIVE or (due.use_count or 0) > 0:
            return False
        if snapshot is not None and snapshot.use_count > 0:
            return False
        return await self._services.repo.paid_successes(due.link_id) == 0

    async def _remind(self, due: DueReminder) -> bool:
        services = self._services
        repo = services.repo
        unpaid = await self._unpaid(due)
        async with services.db.transaction() as conn:
            if not unpaid:
                await repo.close_reminder(conn, due.link_id, "skipped")
                return False
            if not await repo.close_reminder(conn, due.link_id, "sent"):
                return False  # another run (or replica) sent it
            link = due.snapshot.link if due.snapshot is not None else None
            payload = reminder_payload(
                due.link_id,
                link.title if link is not None else due.title,
                link.amount if link is not None and link.amount is not None else due.amount,
                link.currency if link is not None and link.currency else due.currency,
                due.url or (link.url if link is not None else None),
                due.slug or (link.slug if link is not None else None),
            )
            # To the vendor only, in private: the customer never started the bot.
            for kind in (KIND_REMINDER, KIND_REMINDER_FORWARD):
                await repo.enqueue(conn, due.user_id, kind, payload, user_id=due.user_id)
        return True

    # --- daily totals ------------------------------------------------------------------------

    async def summarise(self) -> bool:
        repo = self._services.repo
        day, day_start, minute = kigali_day(self.clock())
        queued = False
        for user_id in await repo.due_daily(day=day, day_start=day_start, minute=minute):
            queued = await self._summarise(user_id, day, day_start) or queued
        return queued

    async def _summarise(self, user_id: int, day: str, day_start: float) -> bool:
        services = self._services
        repo = services.repo
        next_day = (datetime.fromtimestamp(day_start, KIGALI) + timedelta(days=1)).timestamp()
        yesterday = (datetime.fromtimestamp(day_start, KIGALI) - timedelta(days=1)).timestamp()
        today_paid = await repo.successes_between(user_id, day_start, next_day)
        before = await repo.successes_between(user_id, yesterday, day_start)
        payload = daily_payload(day, today_paid, before)
        async with services.db.transaction() as conn:
            if not await repo.claim_day(conn, user_id, day):
                return False
            outbox_id = await repo.enqueue(conn, user_id, KIND_DAILY, payload, user_id=user_id)
            await repo.note_day_message(conn, user_id, day, outbox_id)
        log.info("daily totals of %s queued for user %s", day, user_id)
        return True

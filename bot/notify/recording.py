"""What one details poll changes: charges, snapshot, schedule and alerts, in one transaction.

The answer's digest is compared with the last one seen: equal, no pending charge, no final
status → nothing to do (no SQL at all). Otherwise, in ONE transaction: merge the charges,
diff against the stored snapshot (``diff.py``), queue the owner's alert in the outbox (and the
group's line or a drive's milestones), store the new snapshot and the next poll. A crash
anywhere loses nothing: either the whole poll is stored, or none of it and the next poll sees
the same change again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.dgs.models import LinkDetails, LinkStatus
from bot.drive import milestones_reached
from bot.notify.diff import Alert, Event, EventKind, LinkDiff, LinkFacts, diff, for_level
from bot.notify.messages import KIND_ALERT, KIND_DRIVE_MILESTONE, KIND_GROUP_PAYMENT
from bot.notify.schedule import Schedule
from bot.store.baselines import Baseline, take_baseline
from bot.store.db import Connection
from bot.store.models import ChargeChange, PollTarget, StoredLink

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


def digest_of(details: LinkDetails) -> bytes:
    return hashlib.blake2b(details.model_dump_json().encode(), digest_size=16).digest()


def has_pending(details: LinkDetails) -> bool:
    return details.stats.pending_charges > 0 or any(
        charge.status == "pending" for charge in details.recent_charges
    )


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def news_since(
    baseline: Baseline, details: LinkDetails, changes: Sequence[ChargeChange]
) -> list[ChargeChange]:
    """Of a list-adopted link's first charges, the ones that came after its adoption.

    Successes are counted: the newest (use_count now − then). Other charges (failed,
    pending) do not move use_count, so they go by time: made after the adoption (the
    provider's whole seconds: one of the adoption's own second counts as after it)."""
    new_successes = max(0, details.link.use_count - baseline.use_count)
    news: list[ChargeChange] = []
    for change in changes:  # newest first, as the provider lists them
        charge = change.charge
        if charge.status == "success":
            if new_successes > 0:
                new_successes -= 1
                news.append(change)
        elif charge.created_at is not None and (
            charge.created_at.timestamp() > baseline.adopted_at - 1.0
        ):
            news.append(change)
    return news


class Recorder:
    """Stores what polls found. One per poller."""

    def __init__(
        self,
        services: Services,
        schedule: Schedule,
        *,
        pending_note_after: float,
        clock: Callable[[], float],
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self._services = services
        self._schedule = schedule
        self._pending_after = timedelta(seconds=pending_note_after)
        self.clock = clock
        self._on_enqueue = on_enqueue
        self._digests: dict[str, bytes] = {}  # link id -> digest of the last answer stored

    async def record(self, target: PollTarget, details: LinkDetails) -> None:
        digest = digest_of(details)
        if (
            not details.link.is_final
            and details.link.status == target.status
            and self._digests.get(target.link_id) == digest
            and not has_pending(details)
        ):
            return  # nothing new: the next poll was already scheduled when it was taken
        enqueued, final = await self._store(target, details)
        if final:
            self._digests.pop(target.link_id, None)
        else:
            self._digests[target.link_id] = digest
        if enqueued and self._on_enqueue is not None:
            self._on_enqueue()

    async def _store(self, target: PollTarget, details: LinkDetails) -> tuple[bool, bool]:
        """Charges, snapshot, schedule and alert in one transaction; (an alert was queued,
        the link had its final poll)."""
        services = self._services
        repo = services.repo
        now = self.clock()
        queued = False
        async with services.db.transaction() as conn:
            stored = await repo.get_link(target.link_id, conn=conn)
            if stored is None:
                return False, False  # forgotten meanwhile
            changes = await repo.upsert_charges(conn, target.link_id, details.recent_charges)
            if stored.snapshot is None:
                baseline = await take_baseline(conn, target.link_id)
                if baseline is not None:
                    changes = news_since(baseline, details, changes)
            pending_now = has_pending(details)
            pending = await repo.pending_charges(target.link_id, conn=conn) if pending_now else []
            result = diff(
                stored.snapshot,
                details,
                changes,
                pending,
                known_status=stored.status,
                now=_utc(now),
                pending_after=self._pending_after,
            )
            # An owner out of DGS_ALLOWED_USERS: watched for nobody (charges still recorded,
            # so a user added back is not flooded with old payments).
            watched = not services.accounts.lost_operator_key(
                stored.owner_user_id, stored.api_key_fingerprint
            )
            told = result.events
            if _used_up(told) and await repo.is_till_link(target.link_id, conn=conn):
                # A till's link is one sale, used up by design: "no longer takes payments"
                # and Reopen would alarm the vendor at every sale (the till says "Paid").
                told = tuple(event for event in told if not _used_up((event,)))
            # The link's maker; a cashier's links tell the shop's owner too (bot/staff.py).
            recipients = await services.staff.recipients(stored, conn=conn) if watched else []
            for recipient in recipients:
                person = await repo.get_user(recipient, conn=conn)
                level = person.notify_level if person is not None else target.notify_level
                events = for_level(told, level, muted=stored.muted)
                if not events:
                    continue
                alert = Alert(LinkFacts.of(details), events)
                payload = alert.to_payload()
                await repo.enqueue(conn, recipient, KIND_ALERT, payload, user_id=recipient)
                queued = True
            if watched and stored.group_chat_id is not None:
                queued = await self._tell_group(conn, stored, details, result) or queued
            for charge_id in result.noted_pending:
                await repo.mark_pending_noted(conn, target.link_id, charge_id)
            next_poll_at, steps, final = self._schedule.after(
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
        return queued, final

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
            raised = details.stats.total_collected
            crossed = [
                milestone
                for milestone in milestones_reached(raised, drive.goal, drive.milestone)
                if await self._services.drives.announce(stored.link_id, milestone, conn=conn)
            ]
            if not crossed:
                return False
            # One big gift may cross 25 % and 50 % at once: the group reads one message, the
            # highest mark (each is still announced once, so none comes later either).
            payload = {"title": details.link.title, "percent": max(crossed)}
            await repo.enqueue(conn, group.chat_id, KIND_DRIVE_MILESTONE, payload)
            return True
        payments = tuple(e for e in result.events if e.kind is EventKind.PAYMENT)
        if not payments:
            return False
        if group.anonymous_totals:  # the names are not even stored for the group's line
            payments = tuple(replace(event, payer_name=None) for event in payments)
        payload = Alert(LinkFacts.of(details), payments).to_payload()
        payload["anonymous"] = group.anonymous_totals
        await repo.enqueue(conn, group.chat_id, KIND_GROUP_PAYMENT, payload)
        return True


def _used_up(events: Sequence[Event]) -> bool:
    """Whether ``events`` tell that the link took its last payment (``max_uses`` reached)."""
    return any(
        event.kind is EventKind.STATUS and event.status == LinkStatus.COMPLETED for event in events
    )

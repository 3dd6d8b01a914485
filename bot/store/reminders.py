"""The ``reminders`` table: an unpaid invoice's one reminder (issue 17, point 4).

A row is set from the link's card (``remind_at`` and the choice that made it), and leaves
``pending`` exactly once: ``sent`` in the transaction that queues the vendor's messages, or
``skipped`` when the link was paid or closed by then. The conditional update is what makes
it once-only, even with several replicas due at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.dgs.models import LinkDetails
from bot.store.base import Queries, money_text
from bot.store.db import Connection
from bot.store.engine import Row


@dataclass(frozen=True, slots=True)
class Reminder:
    link_id: str
    user_id: int
    choice: str
    remind_at: float  # epoch seconds
    state: str


@dataclass(frozen=True, slots=True)
class DueReminder:
    """A pending reminder whose time has come, with what the store knows of its link."""

    link_id: str
    user_id: int
    chat_id: int | None
    amount: Decimal  # as set; the snapshot's, when newer, is the link's now
    currency: str
    title: str
    url: str | None
    slug: str | None
    status: str
    use_count: int | None
    snapshot: LinkDetails | None


def _reminder(row: Row) -> Reminder:
    return Reminder(
        link_id=row["link_id"],
        user_id=row["user_id"],
        choice=row["choice"],
        remind_at=row["remind_at"],
        state=row["state"],
    )


class ReminderQueries(Queries):
    """Reminders of unpaid invoices."""

    async def set_reminder(
        self,
        link_id: str,
        user_id: int,
        choice: str,
        remind_at: float,
        *,
        amount: Decimal,
        currency: str,
    ) -> Reminder:
        """Set (or replace) the link's reminder; a reminder already sent is set again.
        ``amount``: the invoice's, as the vendor saw it (the link row keeps no amount)."""
        async with self._db.transaction() as c:
            row = await c.fetchone(
                "INSERT INTO reminders (link_id, user_id, choice, amount, currency, remind_at, "
                "state, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?) "
                "ON CONFLICT (link_id) DO UPDATE SET user_id = excluded.user_id, "
                "choice = excluded.choice, amount = excluded.amount, "
                "currency = excluded.currency, remind_at = excluded.remind_at, "
                "state = 'pending' RETURNING *",
                (link_id, user_id, choice, money_text(amount), currency, remind_at, self._clock()),
            )
        assert row is not None
        return _reminder(row)

    async def clear_reminder(self, link_id: str) -> bool:
        return await self._db.execute("DELETE FROM reminders WHERE link_id = ?", (link_id,)) > 0

    async def get_reminder(self, link_id: str) -> Reminder | None:
        row = await self._db.fetchone("SELECT * FROM reminders WHERE link_id = ?", (link_id,))
        return None if row is None else _reminder(row)

    async def due_reminders(self, now: float, limit: int = 100) -> list[DueReminder]:
        """Pending reminders due at ``now``: one indexed read (``reminders_due``)."""
        rows = await self._db.fetchall(
            "SELECT r.link_id, r.user_id, r.amount, r.currency, l.chat_id, l.title, l.url, "
            "l.slug, l.status, l.use_count, l.snapshot FROM reminders AS r "
            "JOIN links AS l ON l.link_id = r.link_id "
            "WHERE r.state = 'pending' AND r.remind_at <= ? ORDER BY r.remind_at LIMIT ?",
            (now, limit),
        )
        return [
            DueReminder(
                link_id=row["link_id"],
                user_id=row["user_id"],
                chat_id=row["chat_id"],
                amount=Decimal(row["amount"]),
                currency=row["currency"],
                title=row["title"],
                url=row["url"],
                slug=row["slug"],
                status=row["status"],
                use_count=row["use_count"],
                snapshot=(
                    None
                    if row["snapshot"] is None
                    else LinkDetails.model_validate_json(row["snapshot"])
                ),
            )
            for row in rows
        ]

    async def close_reminder(self, conn: Connection, link_id: str, state: str) -> bool:
        """Pending → ``state`` ('sent' or 'skipped'); False when another run got there first."""
        return (
            await conn.execute(
                "UPDATE reminders SET state = ? WHERE link_id = ? AND state = 'pending'",
                (state, link_id),
            )
            > 0
        )

    async def paid_successes(self, link_id: str) -> int:
        """Successful charges the notifier has recorded for the link."""
        async with self._db.reading() as c:
            count = await c.fetchval(
                "SELECT COUNT(*) FROM charges WHERE link_id = ? AND status = 'success'",
                (link_id,),
            )
        return int(count or 0)

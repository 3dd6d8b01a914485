"""The ``inbox`` table: updates the webhook took, waiting for a replica to handle them.

Only replicas use it (webhook mode on PostgreSQL, ``bot/replicas.py``). The webhook adds each
update keyed by its ``update_id`` (Telegram's repeat of one already taken is dropped) and
answers 200; any replica claims the next update of a chat nobody holds, handles it, and
marks it done.

A chat's updates go one at a time, in ``update_id`` order: only a chat's oldest waiting
update can be claimed, and only while no lease on it runs. Claiming is
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two replicas asking at once take different
chats instead of queueing on the same row; a claim that read a row just before another
replica's claim committed finds the lease there when it re-reads the row, and skips it. A
replica that dies holding a chat stops renewing its lease; when the lease runs out another
replica takes the update again (the one in hand at a kill may be handled twice, nothing is
lost). Done rows stay a day, so a late repeat from Telegram is still recognised.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.base import Queries
from bot.store.engine import POSTGRESQL

# NOTIFY channel the webhook wakes the workers on.
INBOX_CHANNEL = "paylinks_inbox"


@dataclass(frozen=True, slots=True)
class Claimed:
    """An update a replica holds: handle it, then ``finish_update``."""

    update_id: int
    chat_key: int
    body: str
    attempts: int


class InboxQueries(Queries):
    """The inbox of updates (replica mode)."""

    async def add_update(self, update_id: int, chat_key: int, body: str) -> bool:
        """Keep an update for the workers; False when this ``update_id`` is already there
        (Telegram posted it again). Wakes the workers of every replica on PostgreSQL."""
        async with self._db.transaction() as c:
            added = await c.execute(
                "INSERT INTO inbox (update_id, chat_key, body, received_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (update_id) DO NOTHING",
                (update_id, chat_key, body, self._clock()),
            )
            if added and c.dialect == POSTGRESQL:
                # Delivered at commit, to every replica's listener (bot/replicas.py).
                await c.execute(f"NOTIFY {INBOX_CHANNEL}")
        return added > 0

    async def claim_update(self, replica: str, lease_seconds: float) -> Claimed | None:
        """The oldest update of a chat that nobody holds, now leased to ``replica``; None when
        every waiting chat is held (or nothing waits)."""
        now = self._clock()
        async with self._db.transaction() as c:
            lock = " FOR UPDATE OF i SKIP LOCKED" if c.dialect == POSTGRESQL else ""
            row = await c.fetchone(
                f"""
                SELECT i.update_id FROM inbox AS i
                WHERE i.done_at IS NULL
                  AND (i.lease_until IS NULL OR i.lease_until < :now)
                  AND i.update_id = (SELECT MIN(w.update_id) FROM inbox AS w
                                     WHERE w.chat_key = i.chat_key AND w.done_at IS NULL)
                ORDER BY i.update_id
                LIMIT 1{lock}
                """,  # noqa: S608 - a fixed fragment, never a value
                {"now": now},
            )
            if row is None:
                return None
            taken = await c.fetchone(
                "UPDATE inbox SET leased_by = ?, lease_until = ?, attempts = attempts + 1 "
                "WHERE update_id = ? RETURNING update_id, chat_key, body, attempts",
                (replica, now + lease_seconds, row["update_id"]),
            )
        assert taken is not None  # the row is locked by this transaction
        return Claimed(taken["update_id"], taken["chat_key"], taken["body"], taken["attempts"])

    async def renew_update_lease(self, update_id: int, replica: str, lease_seconds: float) -> bool:
        """Still working on it: the lease runs ``lease_seconds`` from now. False when the
        update is no longer ours (the lease ran out and another replica took it)."""
        return (
            await self._db.execute(
                "UPDATE inbox SET lease_until = ? "
                "WHERE update_id = ? AND leased_by = ? AND done_at IS NULL",
                (self._clock() + lease_seconds, update_id, replica),
            )
            > 0
        )

    async def finish_update(self, update_id: int, replica: str) -> bool:
        """Handled: the chat's next update may be claimed. False when another replica took
        it meanwhile (this replica's lease ran out)."""
        return (
            await self._db.execute(
                "UPDATE inbox SET done_at = ?, lease_until = NULL "
                "WHERE update_id = ? AND leased_by = ? AND done_at IS NULL",
                (self._clock(), update_id, replica),
            )
            > 0
        )

    async def waiting_updates(self) -> int:
        """Updates not yet handled (for tests and the health of a deploy)."""
        row = await self._db.fetchone("SELECT COUNT(*) FROM inbox WHERE done_at IS NULL")
        return 0 if row is None else int(row[0])

    async def prune_inbox(self, before: float) -> int:
        """Forget updates handled before ``before`` (a repeat from Telegram comes sooner)."""
        return await self._db.execute(
            "DELETE FROM inbox WHERE done_at IS NOT NULL AND done_at < ?", (before,)
        )

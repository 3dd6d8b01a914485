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
from bot.store.engine import POSTGRESQL, Connection

# NOTIFY channel the webhook wakes the workers on.
INBOX_CHANNEL = "paylinks_inbox"
# The first key of the two-key transaction advisory lock on a chat's inbox (the second is the
# chat). The two-key space never meets the one-key locks of the migrations.
CHAT_LOCK_CLASS = 16
# An update kept; Telegram's repeat of one (the same update_id) is dropped.
_KEEP = (
    "INSERT INTO inbox (update_id, chat_key, body, received_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (update_id) DO NOTHING"
)


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
                _KEEP,
                (update_id, chat_key, body, self._clock()),
            )
            if added and c.dialect == POSTGRESQL:
                # Delivered at commit, to every replica's listener (bot/replicas.py).
                await c.execute(f"NOTIFY {INBOX_CHANNEL}")
        return added > 0

    async def add_and_claim(
        self, update_id: int, chat_key: int, body: str, replica: str, lease_seconds: float
    ) -> tuple[bool, Claimed | None]:
        """``add_update``, and the update leased to ``replica`` in the same transaction when its
        chat has no other update not done: the replica Telegram posted it to handles it, and
        no other is woken for it (``bot/replicas.py``). When the chat is held, its holder takes
        this one as it finishes (``finish_and_take_next``); only when the chat has updates
        waiting that nobody holds (a holder's lease ran out) is every replica woken."""
        now = self._clock()
        async with self._db.transaction() as c:
            await _lock_chat(c, chat_key)
            added = await c.execute(
                _KEEP,
                (update_id, chat_key, body, now),
            )
            if not added:
                return False, None
            others = await c.fetchall(
                "SELECT lease_until FROM inbox "
                "WHERE chat_key = ? AND done_at IS NULL AND update_id <> ?",
                (chat_key, update_id),
            )
            if others:
                held = any(
                    row["lease_until"] is not None and row["lease_until"] >= now for row in others
                )
                if not held and c.dialect == POSTGRESQL:
                    await c.execute(f"NOTIFY {INBOX_CHANNEL}")
                return True, None
            return True, await _lease(c, update_id, replica, now, now + lease_seconds)

    async def finish_and_take_next(
        self, update_id: int, chat_key: int, replica: str, lease_seconds: float
    ) -> tuple[bool, Claimed | None]:
        """``finish_update``, and the chat's next update (if one waits) leased to ``replica``
        in the same transaction: a chat's updates stay with the replica that holds it while
        they come, without waking the others. Under the chat's lock, as ``add_and_claim``,
        so an update posted as this one finishes is either seen here or finds the chat free."""
        now = self._clock()
        async with self._db.transaction() as c:
            await _lock_chat(c, chat_key)
            finished = await c.execute(
                "UPDATE inbox SET done_at = ?, lease_until = NULL "
                "WHERE update_id = ? AND leased_by = ? AND done_at IS NULL",
                (now, update_id, replica),
            )
            if not finished:
                return False, None  # taken over meanwhile: the chat is another's now
            row = await c.fetchone(
                "SELECT update_id, lease_until FROM inbox "
                "WHERE chat_key = ? AND done_at IS NULL ORDER BY update_id LIMIT 1",
                (chat_key,),
            )
            if row is None or (row["lease_until"] is not None and row["lease_until"] >= now):
                return True, None
            return True, await _lease(c, row["update_id"], replica, now, now + lease_seconds)

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
                  -- nor a later one held: it came first (Telegram posted out of order)
                  AND NOT EXISTS (SELECT 1 FROM inbox AS h
                                  WHERE h.chat_key = i.chat_key AND h.done_at IS NULL
                                    AND h.lease_until >= :now)
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


async def _lock_chat(c: Connection, chat_key: int) -> None:
    """PostgreSQL: one transaction at a time adds to or hands on one chat's updates (a
    transaction advisory lock, released at commit). SQLite has one writer anyway."""
    if c.dialect == POSTGRESQL:
        await c.execute(
            "SELECT pg_advisory_xact_lock(?, CAST(mod(CAST(? AS bigint), 2147483647) AS integer))",
            (CHAT_LOCK_CLASS, chat_key),
        )


async def _lease(
    c: Connection, update_id: int, replica: str, now: float, until: float
) -> Claimed | None:
    """Leases one update to ``replica`` in the caller's transaction (its chat locked); None
    when a dispatcher's ``claim_update`` (which takes no chat lock) leased it first."""
    taken = await c.fetchone(
        "UPDATE inbox SET leased_by = ?, lease_until = ?, attempts = attempts + 1 "
        "WHERE update_id = ? AND done_at IS NULL AND (lease_until IS NULL OR lease_until < ?) "
        "RETURNING update_id, chat_key, body, attempts",
        (replica, until, update_id, now),
    )
    if taken is None:
        return None
    return Claimed(taken["update_id"], taken["chat_key"], taken["body"], taken["attempts"])

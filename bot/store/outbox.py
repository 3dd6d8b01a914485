"""The ``outbox`` table: every alert, queued in the transaction of the change it tells.

Life of a row: pending -> (claim_due) in_flight -> sent | failed, or back to pending
(release: retry later). drop_for_chat moves a chat's pending rows to dropped.
A chat's rows go out one at a time, in order: claim_due takes only a chat's oldest
pending row, and only when none of its rows is in flight.

Crash semantics: rows are enqueued in the same transaction as the change that caused
them, so no alert is lost. A row is marked sent only after Telegram accepted it; rows
found in flight at start (recover_in_flight) are sent again, so a crash repeats at
most the one message per chat that was being sent, and never drops one.

Replicas (PostgreSQL): several senders share the table. A claim locks the rows it takes
(``FOR UPDATE SKIP LOCKED``: another replica's claim passes over them) and gives them a lease
(``lease_until``); a row in flight whose lease ran out belongs to a replica that died
mid-send and is claimed again, and a replica starting leaves the others' rows in flight alone.
On SQLite (one process) the statements are today's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.store.base import Queries, utc, utc_or_none
from bot.store.db import (
    Connection,
    decode_json,
    encode_json,
)
from bot.store.engine import POSTGRESQL, Row
from bot.store.models import (
    OutboxRow,
    OutboxState,
)

MAX_ERROR_CHARS = 1000
# How long a replica may hold rows in flight (PostgreSQL): a send, the limiter's RetryAfter
# waits and the database writes after it fit well inside; a dead replica's rows wait this long.
OUTBOX_LEASE_SECONDS = 300.0


def _outbox(row: Row) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        chat_id=row["chat_id"],
        user_id=row["user_id"],
        kind=row["kind"],
        payload=decode_json(row["payload"]),
        created_at=utc(row["created_at"]),
        state=OutboxState(row["state"]),
        attempts=row["attempts"],
        not_before=row["not_before"],
        sent_at=utc_or_none(row["sent_at"]),
        last_error=row["last_error"],
    )


class OutboxQueries(Queries):
    """The outbox's rows and their states."""

    async def enqueue(
        self,
        conn: Connection | None,
        chat_id: int,
        kind: str,
        payload: Mapping[str, Any],
        user_id: int | None = None,
        *,
        not_before: float | None = None,
    ) -> int:
        """Queue a message; ``payload`` is stored as JSON (``db.encode_json`` rules)."""
        now = self._clock()
        body = encode_json(dict(payload))
        async with self._writing(conn) as c:
            return int(
                await c.fetchval(
                    "INSERT INTO outbox (chat_id, user_id, kind, payload, created_at, not_before) "
                    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (chat_id, user_id, kind, body, now, now if not_before is None else not_before),
                )
            )

    async def claim_due(self, now: float, limit: int) -> list[OutboxRow]:
        """Take up to ``limit`` due rows to send (they become in_flight), oldest first."""
        # The sender asks every second: an empty outbox costs a read, not a write transaction.
        if self._db.dialect == POSTGRESQL:
            return await self._claim_due_leased(now, limit)
        async with self._db.reading() as c:
            due = await c.fetchval(
                "SELECT 1 FROM outbox WHERE state = 'pending' AND not_before <= ? LIMIT 1",
                (now,),
            )
        if not due:
            return []
        async with self._db.transaction() as c:
            rows = await c.fetchall(
                _CLAIM_DUE,
                {"now": now, "limit": limit},
            )
        return sorted((_outbox(row) for row in rows), key=lambda row: row.id)

    async def _claim_due_leased(self, now: float, limit: int) -> list[OutboxRow]:
        """``claim_due`` among replicas: rows locked as they are taken, leased; rows whose
        lease ran out (their replica died mid-send) are due again first."""
        async with self._db.reading() as c:
            due = await c.fetchval(
                "SELECT 1 FROM outbox WHERE (state = 'pending' AND not_before <= ?) "
                "OR (state = 'in_flight' AND (lease_until IS NULL OR lease_until < ?)) LIMIT 1",
                (now, now),
            )
        if not due:
            return []
        async with self._db.transaction() as c:
            await c.execute(_EXPIRED_TO_PENDING, (now,))
            rows = await c.fetchall(
                _CLAIM_DUE_LEASED,
                {"now": now, "limit": limit, "until": now + OUTBOX_LEASE_SECONDS},
            )
        return sorted((_outbox(row) for row in rows), key=lambda row: row.id)

    async def claim_more(self, chat_id: int, kind: str, now: float, limit: int) -> list[OutboxRow]:
        """Beside a row just claimed for ``chat_id``, take its next due rows of ``kind`` too
        (they become in flight), oldest first: the sender merges them into one message."""
        if limit <= 0:
            return []
        async with self._db.transaction() as c:
            # The chat's first row is in flight with this sender: no other replica claims
            # the chat's rows meanwhile. On PostgreSQL these get the lease too.
            lease = ", lease_until = ?" if c.dialect == POSTGRESQL else ""
            until = (now + OUTBOX_LEASE_SECONDS,) if c.dialect == POSTGRESQL else ()
            rows = await c.fetchall(
                f"""
                UPDATE outbox SET state = 'in_flight', attempts = attempts + 1{lease}
                WHERE id IN (
                    SELECT id FROM outbox
                    WHERE chat_id = ? AND state = 'pending' AND kind = ? AND not_before <= ?
                    ORDER BY id LIMIT ?
                )
                RETURNING *
                """,  # noqa: S608 - a fixed fragment, never a value
                (*until, chat_id, kind, now, limit),
            )
        return sorted((_outbox(row) for row in rows), key=lambda row: row.id)

    async def mark_sent(self, outbox_id: int) -> bool:
        """Telegram took it. False when the row was not in flight."""
        return await self._finish(
            "UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL "
            "WHERE id = ? AND state = 'in_flight'",
            (self._clock(), outbox_id),
        )

    async def mark_failed(self, outbox_id: int, error: str) -> bool:
        """Give up on it for good (the error is kept, truncated)."""
        return await self._finish(
            "UPDATE outbox SET state = 'failed', last_error = ? "
            "WHERE id = ? AND state = 'in_flight'",
            (error[:MAX_ERROR_CHARS], outbox_id),
        )

    async def release(self, outbox_id: int, not_before: float, error: str | None = None) -> bool:
        """Not now (flood limit, network): back to pending, due again at ``not_before``."""
        return await self._finish(
            "UPDATE outbox SET state = 'pending', not_before = ?, "
            "last_error = COALESCE(?, last_error) WHERE id = ? AND state = 'in_flight'",
            (not_before, None if error is None else error[:MAX_ERROR_CHARS], outbox_id),
        )

    async def _finish(self, sql: str, params: Sequence[Any]) -> bool:
        return await self._db.execute(sql, params) > 0

    async def drop_for_chat(self, chat_id: int, *, conn: Connection | None = None) -> int:
        """The chat is gone (bot blocked or removed): drop its pending rows. Rows in flight
        stay with the sender, which will mark them."""
        async with self._writing(conn) as c:
            return await c.execute(
                "UPDATE outbox SET state = 'dropped' WHERE chat_id = ? AND state = 'pending'",
                (chat_id,),
            )

    async def recover_in_flight(self, *, replicated: bool = False) -> int:
        """At start, before any ``claim_due``: rows in flight belong to a dead process and
        may or may not have reached Telegram. Put them back to pending (keeping their
        ``not_before``) so they are sent again: at most one repeat, never a loss.

        ``replicated``: other replicas may be sending right now, so only the rows whose
        lease ran out are a dead process's (the others come back when theirs does)."""
        if replicated:
            return await self._db.execute(_EXPIRED_TO_PENDING, (self._clock(),))
        return await self._db.execute(
            "UPDATE outbox SET state = 'pending' WHERE state = 'in_flight'"
        )

    async def get_outbox(self, outbox_id: int) -> OutboxRow | None:
        row = await self._db.fetchone("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
        return None if row is None else _outbox(row)

    async def prune_outbox(self, before: float) -> int:
        """Delete finished rows (sent, failed, dropped) created before ``before``."""
        return await self._db.execute(
            "DELETE FROM outbox WHERE state IN ('sent', 'failed', 'dropped') AND created_at < ?",
            (before,),
        )


# Rows in flight whose sender's lease ran out (it died mid-send): pending again, keeping
# their not_before, so they are sent again (at most one repeat, never a loss).
# The due rows that head their chat's queue while none of the chat's rows is in flight (one
# message in flight per chat keeps a chat's alerts in order), oldest first.
_DUE_CHAT_HEADS = """
    SELECT o.id FROM outbox AS o
    WHERE o.state = 'pending' AND o.not_before <= :now
      AND o.id = (SELECT MIN(p.id) FROM outbox AS p
                  WHERE p.chat_id = o.chat_id AND p.state = 'pending')
      AND NOT EXISTS (SELECT 1 FROM outbox AS f
                      WHERE f.chat_id = o.chat_id AND f.state = 'in_flight')
    ORDER BY o.id LIMIT :limit
"""
_CLAIM_DUE = (
    "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1 "  # noqa: S608 - fixed text
    f"WHERE id IN ({_DUE_CHAT_HEADS}) RETURNING *"
)
# Among replicas: the rows locked as they are taken (another replica skips them), leased.
_CLAIM_DUE_LEASED = (
    "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1, "  # noqa: S608 - fixed text
    "lease_until = :until "
    f"WHERE id IN ({_DUE_CHAT_HEADS} FOR UPDATE OF o SKIP LOCKED) "
    "AND state = 'pending' RETURNING *"
)
_EXPIRED_TO_PENDING = (
    "UPDATE outbox SET state = 'pending', lease_until = NULL "
    "WHERE state = 'in_flight' AND (lease_until IS NULL OR lease_until < ?)"
)

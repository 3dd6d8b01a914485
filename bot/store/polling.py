"""The notifier's side of the ``links`` table: which links are due, the snapshot a poll
brings back, and when each link is polled next."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.dgs.models import LinkDetails
from bot.store.base import Queries, epoch
from bot.store.db import (
    Connection,
    encode_json,
)
from bot.store.engine import POSTGRESQL, json_values
from bot.store.models import (
    LinkState,
    NotifyLevel,
    PollTarget,
)

# How long a replica holds the links it claimed (PostgreSQL), at most: a poll with the
# client's retries fits inside. The poller's reschedule at the claim shortens it to the poll
# scheduled next (reschedule_polls); saving the poll's result ends it.
POLL_LEASE_SECONDS = 120.0


class PollQueries(Queries):
    """Poll schedules and snapshots."""

    async def due_for_poll(
        self,
        now: float,
        *,
        limit: int,
        per_key: int,
        extra_fingerprints: Sequence[str] = (),
        skip_fingerprints: Sequence[str] = (),
        skip_links: Sequence[str] = (),
        conn: Connection | None = None,
        _claim: bool = False,
    ) -> list[PollTarget]:
        """Links to poll now, most overdue first, at most ``per_key`` per key (so one busy key
        cannot crowd out the others). Only links whose owner is active and whose key is valid:
        a stored valid credential, or one of ``extra_fingerprints`` (the operator's key).
        Keys in ``skip_fingerprints`` (backing off, or already busy) and the links in
        ``skip_links`` (being polled right now) are left out."""
        # Claiming among replicas (claim_for_poll): lock what is read, pass over what another
        # replica's claim holds, and over links leased to a replica polling them now.
        lock = "FOR UPDATE OF l SKIP LOCKED" if _claim else ""
        unleased = ""
        if _claim:
            unleased = "AND (l.poll_lease_until IS NULL OR l.poll_lease_until <= :now)"
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                f"""
                WITH due AS (
                    SELECT l.link_id, l.owner_user_id, l.api_key_fingerprint, l.status,
                        l.next_poll_at, l.quiet_steps, l.last_charge_at, l.created_at, l.muted,
                        l.group_chat_id, u.notify_level
                    FROM links AS l JOIN users AS u ON u.user_id = l.owner_user_id
                    WHERE l.final_polled = 0 AND l.next_poll_at <= :now AND u.active = 1
                      AND l.api_key_fingerprint NOT IN ({json_values(c.dialect, ":skip")})
                      AND l.link_id NOT IN ({json_values(c.dialect, ":skip_links")})
                      AND (l.api_key_fingerprint IN ({json_values(c.dialect, ":extra")})
                           OR EXISTS (SELECT 1 FROM credentials AS c
                                      WHERE c.key_fingerprint = l.api_key_fingerprint
                                        AND c.status = 'valid'))
                      {unleased}
                    ORDER BY l.next_poll_at
                    LIMIT :window
                    {lock}
                )
                SELECT * FROM (
                    SELECT *, ROW_NUMBER() OVER (
                        PARTITION BY api_key_fingerprint ORDER BY next_poll_at, link_id
                    ) AS key_rank
                    FROM due
                ) AS ranked
                WHERE key_rank <= :per_key
                ORDER BY next_poll_at, link_id
                LIMIT :limit
                """,  # noqa: S608 - json_values gives fixed fragments, never a value
                {
                    "now": now,
                    "skip": encode_json(list(skip_fingerprints)),
                    "skip_links": encode_json(list(skip_links)),
                    "extra": encode_json(list(extra_fingerprints)),
                    "per_key": per_key,
                    "limit": limit,
                    # The share-out looks at the most overdue links only: bounded work (and a
                    # short hold on the database) however long the backlog.
                    "window": limit * 4,
                },
            )
        return [
            PollTarget(
                link_id=row["link_id"],
                owner_user_id=row["owner_user_id"],
                api_key_fingerprint=row["api_key_fingerprint"],
                status=row["status"],
                next_poll_at=row["next_poll_at"],
                quiet_steps=row["quiet_steps"],
                last_charge_at=row["last_charge_at"],
                created_at=row["created_at"],
                muted=bool(row["muted"]),
                group_chat_id=row["group_chat_id"],
                notify_level=NotifyLevel(row["notify_level"]),
            )
            for row in rows
        ]

    async def claim_for_poll(
        self,
        now: float,
        *,
        limit: int,
        per_key: int,
        extra_fingerprints: Sequence[str] = (),
        skip_fingerprints: Sequence[str] = (),
        skip_links: Sequence[str] = (),
        conn: Connection,
    ) -> list[PollTarget]:
        """``due_for_poll`` for the poller, which polls what it gets, in its transaction
        ``conn``. On PostgreSQL (replicas) the links are locked as they are read, so another
        replica's claim passes over them, and leased: nobody else claims them until the poll's
        result is saved or the lease runs out (``POLL_LEASE_SECONDS``, or sooner: the poll
        scheduled next, ``reschedule_polls``), so a dead replica's links come back. On SQLite,
        one process: ``due_for_poll`` itself."""
        claim = conn.dialect == POSTGRESQL
        targets = await self.due_for_poll(
            now,
            limit=limit,
            per_key=per_key,
            extra_fingerprints=extra_fingerprints,
            skip_fingerprints=skip_fingerprints,
            skip_links=skip_links,
            conn=conn,
            _claim=claim,
        )
        if claim and targets:
            await conn.execute(
                "UPDATE links SET poll_lease_until = ? "  # noqa: S608 - fixed fragment
                f"WHERE link_id IN ({json_values(conn.dialect, '?')})",
                (now + POLL_LEASE_SECONDS, encode_json([t.link_id for t in targets])),
            )
        return targets

    async def save_snapshot(
        self,
        conn: Connection | None,
        link_id: str,
        details: LinkDetails,
        *,
        next_poll_at: float,
        quiet_steps: int,
        final_polled: bool,
        last_charge_at: datetime | None = None,
    ) -> bool:
        """The poller's result: the provider's view of the link and when to poll it next.
        ``last_charge_at`` None keeps the stored one. False when the link is unknown."""
        link = details.link
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE links SET title = ?, slug = ?, url = ?, currency = ?, status = ?, "
                "snapshot = ?, use_count = ?, next_poll_at = ?, quiet_steps = ?, "
                "final_polled = ?, last_charge_at = COALESCE(?, last_charge_at), "
                "poll_lease_until = NULL WHERE link_id = ?",
                (
                    link.title,
                    link.slug,
                    link.url,
                    link.currency,
                    link.status,
                    details.model_dump_json(),
                    link.use_count,
                    next_poll_at,
                    quiet_steps,
                    int(final_polled),
                    epoch(last_charge_at),
                    link_id,
                ),
            )
        return changed > 0

    async def set_next_poll(
        self,
        link_id: str,
        next_poll_at: float,
        *,
        quiet_steps: int | None = None,
        conn: Connection | None = None,
    ) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE links SET next_poll_at = ?, quiet_steps = COALESCE(?, quiet_steps), "
                "poll_lease_until = NULL WHERE link_id = ?",
                (next_poll_at, quiet_steps, link_id),
            )
        return changed > 0

    async def reschedule_polls(
        self, rows: Sequence[tuple[str, float, int]], *, conn: Connection | None = None
    ) -> None:
        """Many ``(link_id, next_poll_at, quiet_steps)`` at once (one statement, batched)."""
        if not rows:
            return
        async with self._writing(conn) as c:
            # A claim's lease (claim_for_poll) never outlasts the poll scheduled next: a poll
            # that finds nothing new writes nothing more, and its link is due on time.
            await c.executemany(
                "UPDATE links SET next_poll_at = ?, quiet_steps = ?, poll_lease_until = CASE "
                "WHEN poll_lease_until > ? THEN ? ELSE poll_lease_until END WHERE link_id = ?",
                [
                    (next_poll_at, steps, next_poll_at, next_poll_at, link_id)
                    for link_id, next_poll_at, steps in rows
                ],
            )

    async def stop_polling(self, link_id: str, *, conn: Connection | None = None) -> bool:
        """No more polls for this link (the provider no longer knows it)."""
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE links SET final_polled = 1 WHERE link_id = ?", (link_id,)
            )
        return changed > 0

    async def link_states(
        self, link_ids: Sequence[str], *, conn: Connection | None = None
    ) -> dict[str, LinkState]:
        """The stored state of those of ``link_ids`` the bot knows."""
        if not link_ids:
            return {}
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT link_id, owner_user_id, api_key_fingerprint, status, final_polled, "  # noqa: S608 - fixed fragment
                "use_count "
                f"FROM links WHERE link_id IN ({json_values(c.dialect, '?')})",
                (encode_json(list(link_ids)),),
            )
        return {
            row["link_id"]: LinkState(
                link_id=row["link_id"],
                owner_user_id=row["owner_user_id"],
                api_key_fingerprint=row["api_key_fingerprint"],
                status=row["status"],
                final_polled=bool(row["final_polled"]),
                use_count=None if row["use_count"] is None else int(row["use_count"]),
            )
            for row in rows
        }

    async def poll_soon(
        self, link_ids: Sequence[str], now: float, *, conn: Connection | None = None
    ) -> None:
        """Make these links due at ``now`` at the latest (the list showed they changed)."""
        if not link_ids:
            return
        async with self._writing(conn) as c:
            await c.execute(
                "UPDATE links SET quiet_steps = 0, next_poll_at = "  # noqa: S608 - fixed fragment
                "CASE WHEN ? < next_poll_at THEN ? ELSE next_poll_at END "
                f"WHERE final_polled = 0 AND link_id IN ({json_values(c.dialect, '?')})",
                (now, now, encode_json(list(link_ids))),
            )

    async def shift_schedule(
        self, seconds: float, now: float, *, conn: Connection | None = None
    ) -> None:
        """The wall clock stepped back by ``seconds`` (it reads ``now``): every stored time
        still to come moves back as much, so nothing waits the size of the step (polls,
        alert retries)."""
        async with self._writing(conn) as c:
            await c.execute(
                "UPDATE links SET next_poll_at = next_poll_at - ? "
                "WHERE final_polled = 0 AND next_poll_at > ?",
                (seconds, now),
            )
            await c.execute(
                "UPDATE outbox SET not_before = not_before - ? "
                "WHERE state = 'pending' AND not_before > ?",
                (seconds, now),
            )

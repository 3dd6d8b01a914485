"""The daily totals' tables (issue 17, point 5): each vendor's time and switch
(``daily_settings``), and the days already told (``daily_summaries``).

A day is told once: its ``(user_id, day)`` row is inserted in the transaction that queues the
message, and a second insert (a restart, another replica) finds it and queues nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.store.base import Queries
from bot.store.db import Connection

DEFAULT_MINUTE = 20 * 60  # 20:00 Kigali


class DailyMode(StrEnum):
    AUTO = "auto"  # on the days the vendor made a link (the default)
    ON = "on"  # every day
    OFF = "off"


@dataclass(frozen=True, slots=True)
class DailySetting:
    mode: DailyMode = DailyMode.AUTO
    minute: int = DEFAULT_MINUTE  # minutes after midnight, Kigali


@dataclass(frozen=True, slots=True)
class Success:
    """A successful payment on one of the vendor's links."""

    link_id: str
    title: str
    amount: Decimal
    currency: str
    at: float  # epoch seconds: the provider's time, else when the bot first saw it


class DailyQueries(Queries):
    """Daily totals: who is due, what they took, which days were told."""

    async def get_daily_setting(self, user_id: int) -> DailySetting:
        row = await self._db.fetchone(
            "SELECT mode, minute FROM daily_settings WHERE user_id = ?", (user_id,)
        )
        if row is None:
            return DailySetting()
        return DailySetting(DailyMode(row["mode"]), int(row["minute"]))

    async def set_daily_setting(self, user_id: int, setting: DailySetting) -> None:
        await self._db.execute(
            "INSERT INTO daily_settings (user_id, mode, minute) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET mode = excluded.mode, minute = excluded.minute",
            (user_id, setting.mode.value, setting.minute),
        )

    async def due_daily(self, *, day: str, day_start: float, minute: int) -> list[int]:
        """The users whose summary of ``day`` is due at ``minute`` (Kigali) and not yet told:
        those who made a link that day (by default) or turned it on for every day, whose time
        has come, who did not turn it off, and who have not blocked the bot. One read:
        the day's links (``links_by_created``) and the few who chose every day."""
        rows = await self._db.fetchall(
            """
            SELECT c.user_id FROM (
                SELECT owner_user_id AS user_id FROM links WHERE created_at >= :day_start
                UNION
                SELECT user_id FROM daily_settings WHERE mode = 'on'
            ) AS c
            JOIN users AS u ON u.user_id = c.user_id AND u.active = 1
            LEFT JOIN daily_settings AS s ON s.user_id = c.user_id
            WHERE COALESCE(s.mode, 'auto') <> 'off'
              AND COALESCE(s.minute, :default_minute) <= :minute
              AND NOT EXISTS (SELECT 1 FROM daily_summaries AS d
                              WHERE d.user_id = c.user_id AND d.day = :day)
            ORDER BY c.user_id
            """,
            {
                "day_start": day_start,
                "default_minute": DEFAULT_MINUTE,
                "minute": minute,
                "day": day,
            },
        )
        return [int(row["user_id"]) for row in rows]

    async def successes_between(self, user_id: int, start: float, end: float) -> list[Success]:
        """The user's successful payments in [start, end), by the provider's time."""
        rows = await self._db.fetchall(
            """
            SELECT c.link_id, l.title, c.amount, c.currency,
                   COALESCE(c.created_at, c.first_seen_at) AS at
            FROM charges AS c JOIN links AS l ON l.link_id = c.link_id
            WHERE l.owner_user_id = ? AND c.status = 'success'
              AND COALESCE(c.created_at, c.first_seen_at) >= ?
              AND COALESCE(c.created_at, c.first_seen_at) < ?
            ORDER BY at
            """,
            (user_id, start, end),
        )
        return [
            Success(
                link_id=row["link_id"],
                title=row["title"],
                amount=Decimal(row["amount"]),
                currency=row["currency"],
                at=float(row["at"]),
            )
            for row in rows
        ]

    async def claim_day(self, conn: Connection, user_id: int, day: str) -> bool:
        """Take ``day`` for ``user_id`` inside the caller's transaction; False when it was
        taken already (its message is queued or sent): nothing more to do."""
        taken = await conn.fetchval(
            "INSERT INTO daily_summaries (user_id, day, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id, day) DO NOTHING RETURNING user_id",
            (user_id, day, self._clock()),
        )
        return taken is not None

    async def note_day_message(
        self, conn: Connection, user_id: int, day: str, outbox_id: int
    ) -> None:
        await conn.execute(
            "UPDATE daily_summaries SET outbox_id = ? WHERE user_id = ? AND day = ?",
            (outbox_id, user_id, day),
        )

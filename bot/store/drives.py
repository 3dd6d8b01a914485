"""Donation drives the bot keeps: the goal (also in the link's metadata), the group's card,
the milestones already announced. Rows live in the ``drives`` table (migration 3)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from bot.drive import format_suggested, parse_suggested
from bot.store.db import Connection, Database
from bot.store.engine import Row


@dataclass(frozen=True, slots=True)
class Drive:
    link_id: str
    group_chat_id: int
    goal: Decimal
    suggested: list[Decimal]
    card_message_id: int | None
    milestone: int  # the highest milestone announced (0, 25, 50, 75, 100)
    card_edited_at: float  # epoch of the last edit of the card (the 10 s throttle)
    created_at: float


def _drive(row: Row) -> Drive:
    return Drive(
        link_id=row["link_id"],
        group_chat_id=row["group_chat_id"],
        goal=Decimal(row["goal"]),
        suggested=parse_suggested(row["suggested"]),
        card_message_id=row["card_message_id"],
        milestone=row["milestone"],
        card_edited_at=row["card_edited_at"],
        created_at=row["created_at"],
    )


class DriveRepo:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def create(
        self, link_id: str, group_chat_id: int, goal: Decimal, suggested: list[Decimal]
    ) -> Drive:
        async with self._db.transaction() as c:
            await c.execute(
                "INSERT INTO drives (link_id, group_chat_id, goal, suggested, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (link_id) DO NOTHING",
                (link_id, group_chat_id, str(goal), format_suggested(suggested), self._clock()),
            )
            row = await c.fetchone("SELECT * FROM drives WHERE link_id = ?", (link_id,))
        assert row is not None
        return _drive(row)

    async def get(self, link_id: str, *, conn: Connection | None = None) -> Drive | None:
        if conn is not None:
            row = await conn.fetchone("SELECT * FROM drives WHERE link_id = ?", (link_id,))
        else:
            row = await self._db.fetchone("SELECT * FROM drives WHERE link_id = ?", (link_id,))
        return None if row is None else _drive(row)

    async def of_group(self, group_chat_id: int) -> list[Drive]:
        rows = await self._db.fetchall(
            "SELECT * FROM drives WHERE group_chat_id = ? ORDER BY created_at DESC",
            (group_chat_id,),
        )
        return [_drive(row) for row in rows]

    async def with_cards(self) -> list[Drive]:
        """Drives whose card is posted (the ones the notifier keeps current)."""
        rows = await self._db.fetchall(
            "SELECT * FROM drives WHERE card_message_id IS NOT NULL ORDER BY group_chat_id"
        )
        return [_drive(row) for row in rows]

    async def set_card(self, link_id: str, message_id: int) -> None:
        await self._db.execute(
            "UPDATE drives SET card_message_id = ?, card_edited_at = ? WHERE link_id = ?",
            (message_id, self._clock(), link_id),
        )

    async def card_edited(self, link_id: str) -> None:
        await self._db.execute(
            "UPDATE drives SET card_edited_at = ? WHERE link_id = ?", (self._clock(), link_id)
        )

    async def announce(self, link_id: str, milestone: int, *, conn: Connection) -> bool:
        """Record ``milestone`` as announced; False when it (or a higher one) already was."""
        changed = await conn.execute(
            "UPDATE drives SET milestone = ? WHERE link_id = ? AND milestone < ?",
            (milestone, link_id, milestone),
        )
        return changed > 0

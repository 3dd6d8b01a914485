"""Saved items (``items``), the link one tap made for an item on a day (``item_links``), and the
till's QR messages waiting for their payment (``tills``). Issue 17, points 2 and 3."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.store.base import ENSURE_USER, Queries, money_text
from bot.store.db import Connection
from bot.store.engine import Row


@dataclass(frozen=True, slots=True)
class Item:
    item_id: int
    owner_user_id: int
    name: str
    price: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class TillPaid:
    """An open till message whose link has a successful payment recorded."""

    link_id: str
    owner_user_id: int
    chat_id: int
    message_id: int
    language: str
    amount: Decimal
    currency: str
    payer_name: str | None


def _item(row: Row) -> Item:
    return Item(
        item_id=int(row["item_id"]),
        owner_user_id=int(row["owner_user_id"]),
        name=row["name"],
        price=Decimal(row["price"]),
        currency=row["currency"],
    )


class ItemQueries(Queries):
    """A shop's items, always read and written under their owner's id."""

    async def items_of(self, owner: int, *, conn: Connection | None = None) -> list[Item]:
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT * FROM items WHERE owner_user_id = ? ORDER BY item_id", (owner,)
            )
        return [_item(row) for row in rows]

    async def get_item(
        self, owner: int, item_id: int, *, conn: Connection | None = None
    ) -> Item | None:
        async with self._reading(conn) as c:
            row = await c.fetchone(
                "SELECT * FROM items WHERE owner_user_id = ? AND item_id = ?", (owner, item_id)
            )
        return None if row is None else _item(row)

    async def add_item(
        self, owner: int, name: str, price: Decimal, currency: str, *, limit: int
    ) -> Item | None:
        """The new item, or None when the owner already has ``limit`` items (counted in the
        same transaction, so two adds at once cannot pass the limit together)."""
        now = self._clock()
        async with self._db.transaction() as c:
            count = await c.fetchval(
                "SELECT count(*) FROM items WHERE owner_user_id = ?", (owner,)
            )
            if int(count or 0) >= limit:
                return None
            await c.execute(ENSURE_USER, (owner, now, now))
            row = await c.fetchone(
                "INSERT INTO items (owner_user_id, name, price, currency, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
                (owner, name, money_text(price), currency, now, now),
            )
        assert row is not None
        return _item(row)

    async def update_item(
        self,
        owner: int,
        item_id: int,
        *,
        name: str | None = None,
        price: Decimal | None = None,
    ) -> Item | None:
        """Change the name, the price or both; None when the owner has no such item."""
        async with self._db.transaction() as c:
            row = await c.fetchone(
                "UPDATE items SET name = COALESCE(?, name), price = COALESCE(?, price), "
                "updated_at = ? WHERE owner_user_id = ? AND item_id = ? RETURNING *",
                (
                    name,
                    None if price is None else money_text(price),
                    self._clock(),
                    owner,
                    item_id,
                ),
            )
        return None if row is None else _item(row)

    async def remove_item(self, owner: int, item_id: int) -> bool:
        async with self._db.transaction() as c:
            changed = await c.execute(
                "DELETE FROM items WHERE owner_user_id = ? AND item_id = ?", (owner, item_id)
            )
        return changed > 0

    # --- one link per item and day ----------------------------------------------------------

    async def item_links_on(self, item: Item, day: str) -> list[str]:
        """Links made for ``item`` on ``day`` at its present name and price, newest first."""
        async with self._reading(None) as c:
            rows = await c.fetchall(
                "SELECT link_id FROM item_links WHERE item_id = ? AND day = ? AND name = ? "
                "AND price = ? ORDER BY created_at DESC",
                (item.item_id, day, item.name, money_text(item.price)),
            )
        return [row["link_id"] for row in rows]

    async def add_item_link(self, item: Item, day: str, link_id: str) -> None:
        async with self._db.transaction() as c:
            await c.execute(
                "INSERT INTO item_links (item_id, day, link_id, name, price, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (item.item_id, day, link_id, item.name, money_text(item.price), self._clock()),
            )

    # --- the till ---------------------------------------------------------------------------

    async def open_till(
        self, link_id: str, owner: int, chat_id: int, message_id: int, language: str
    ) -> None:
        now = self._clock()
        async with self._db.transaction() as c:
            await c.execute(ENSURE_USER, (owner, now, now))
            await c.execute(
                "INSERT INTO tills (link_id, owner_user_id, chat_id, message_id, language, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (link_id) DO UPDATE SET "
                "chat_id = excluded.chat_id, message_id = excluded.message_id",
                (link_id, owner, chat_id, message_id, language, now),
            )

    async def tills_paid(self, *, limit: int = 50) -> list[TillPaid]:
        """Open till messages whose link has a successful charge recorded (the first one)."""
        async with self._reading(None) as c:
            rows = await c.fetchall(
                "SELECT t.link_id, t.owner_user_id, t.chat_id, t.message_id, t.language, "
                "c.amount, c.currency, c.payer_name FROM tills AS t "
                "JOIN charges AS c ON c.link_id = t.link_id AND c.status = 'success' "
                "WHERE t.paid_at IS NULL ORDER BY t.created_at, c.first_seen_at, c.charge_id "
                "LIMIT ?",
                (limit,),
            )
        seen: dict[str, TillPaid] = {}
        for row in rows:
            seen.setdefault(
                row["link_id"],
                TillPaid(
                    link_id=row["link_id"],
                    owner_user_id=int(row["owner_user_id"]),
                    chat_id=int(row["chat_id"]),
                    message_id=int(row["message_id"]),
                    language=row["language"],
                    amount=Decimal(row["amount"]),
                    currency=row["currency"],
                    payer_name=row["payer_name"],
                ),
            )
        return list(seen.values())

    async def close_till(self, link_id: str) -> bool:
        """Mark a till message paid; False when it already was (someone else edited it)."""
        async with self._db.transaction() as c:
            changed = await c.execute(
                "UPDATE tills SET paid_at = ? WHERE link_id = ? AND paid_at IS NULL",
                (self._clock(), link_id),
            )
        return changed > 0

    async def is_till_link(self, link_id: str, *, conn: Connection | None = None) -> bool:
        """Whether ``link_id`` was made at the till (``conn``: the caller's transaction)."""
        async with self._reading(conn) as c:
            value = await c.fetchval("SELECT 1 FROM tills WHERE link_id = ?", (link_id,))
        return value is not None

"""The ``staff`` and ``staff_invites`` tables: who is a cashier of which shop, and the
one-time invites (stored by their token's hash) that make them one. Rules are ``bot/staff.py``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.base import ENSURE_USER, Queries
from bot.store.db import Connection
from bot.store.engine import Row


@dataclass(frozen=True)
class Membership:
    """A cashier of the shop that ``owner_user_id``'s key is (``shop_fingerprint``)."""

    cashier_user_id: int
    owner_user_id: int
    shop_fingerprint: str
    cashier_name: str
    owner_name: str
    owner_alerts: bool
    joined_at: float
    removed_at: float | None

    @property
    def active(self) -> bool:
        return self.removed_at is None


@dataclass(frozen=True)
class Invite:
    owner_user_id: int
    expires_at: float
    used_by: int | None


def _membership(row: Row) -> Membership:
    return Membership(
        cashier_user_id=row["cashier_user_id"],
        owner_user_id=row["owner_user_id"],
        shop_fingerprint=row["shop_fingerprint"],
        cashier_name=row["cashier_name"],
        owner_name=row["owner_name"],
        owner_alerts=bool(row["owner_alerts"]),
        joined_at=row["joined_at"],
        removed_at=row["removed_at"],
    )


class StaffQueries(Queries):
    """Cashiers and invites."""

    async def create_staff_invite(
        self,
        token_hash: str,
        owner_user_id: int,
        owner_name: str,
        *,
        now: float,
        expires_at: float,
    ) -> None:
        async with self._writing(None) as c:
            await c.execute(ENSURE_USER, (owner_user_id, now, now))
            await c.execute(
                "INSERT INTO staff_invites "
                "(token_hash, owner_user_id, owner_name, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_hash, owner_user_id, owner_name, now, expires_at),
            )

    async def get_staff_invite(self, token_hash: str) -> Invite | None:
        async with self._reading(None) as c:
            row = await c.fetchone(
                "SELECT owner_user_id, expires_at, used_by FROM staff_invites "
                "WHERE token_hash = ?",
                (token_hash,),
            )
        if row is None:
            return None
        return Invite(row["owner_user_id"], row["expires_at"], row["used_by"])

    async def claim_staff_invite(
        self,
        token_hash: str,
        cashier_user_id: int,
        cashier_name: str,
        shop_fingerprint: str,
        *,
        now: float,
    ) -> int | None:
        """Use the invite once and make its taker a cashier, in one transaction: the shop
        owner's id, or None when it was used, expired or unknown (two takers racing: one)."""
        async with self._writing(None) as c:
            row = await c.fetchone(
                "SELECT owner_user_id, owner_name FROM staff_invites WHERE token_hash = ? "
                "AND used_by IS NULL AND expires_at > ?",
                (token_hash, now),
            )
            if row is None:
                return None
            owner = int(row["owner_user_id"])
            claimed = await c.execute(
                "UPDATE staff_invites SET used_by = ?, used_at = ? "
                "WHERE token_hash = ? AND used_by IS NULL",
                (cashier_user_id, now, token_hash),
            )
            if claimed == 0:
                return None
            await c.execute(ENSURE_USER, (cashier_user_id, now, now))
            await c.execute(
                """
                INSERT INTO staff (
                    cashier_user_id, owner_user_id, shop_fingerprint, cashier_name, owner_name,
                    joined_at
                ) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (cashier_user_id, owner_user_id) DO UPDATE SET
                    shop_fingerprint = excluded.shop_fingerprint,
                    cashier_name = excluded.cashier_name,
                    owner_name = excluded.owner_name,
                    owner_alerts = 1,
                    joined_at = excluded.joined_at,
                    removed_at = NULL
                """,
                (cashier_user_id, owner, shop_fingerprint, cashier_name, row["owner_name"], now),
            )
        return owner

    async def shop_of(
        self, cashier_user_id: int, *, conn: Connection | None = None
    ) -> Membership | None:
        """The shop the user is a cashier of now, if any."""
        async with self._reading(conn) as c:
            row = await c.fetchone(
                "SELECT * FROM staff WHERE cashier_user_id = ? AND removed_at IS NULL "
                "ORDER BY joined_at DESC LIMIT 1",
                (cashier_user_id,),
            )
        return None if row is None else _membership(row)

    async def staff_on_key(
        self, cashier_user_id: int, fingerprint: str, *, conn: Connection | None = None
    ) -> Membership | None:
        """The user's membership (current or ended) of the shop whose key this is."""
        async with self._reading(conn) as c:
            row = await c.fetchone(
                "SELECT * FROM staff WHERE cashier_user_id = ? AND shop_fingerprint = ? "
                "ORDER BY (removed_at IS NULL) DESC, joined_at DESC LIMIT 1",
                (cashier_user_id, fingerprint),
            )
        return None if row is None else _membership(row)

    async def staff_of(self, owner_user_id: int) -> list[Membership]:
        """The shop's cashiers now, first joined first."""
        async with self._reading(None) as c:
            rows = await c.fetchall(
                "SELECT * FROM staff WHERE owner_user_id = ? AND removed_at IS NULL "
                "ORDER BY joined_at, cashier_user_id",
                (owner_user_id,),
            )
        return [_membership(row) for row in rows]

    async def remove_cashier(
        self, owner_user_id: int, cashier_user_id: int, *, now: float
    ) -> bool:
        async with self._writing(None) as c:
            changed = await c.execute(
                "UPDATE staff SET removed_at = ? WHERE owner_user_id = ? "
                "AND cashier_user_id = ? AND removed_at IS NULL",
                (now, owner_user_id, cashier_user_id),
            )
        return changed > 0

    async def set_owner_alerts(self, owner_user_id: int, cashier_user_id: int, on: bool) -> bool:
        async with self._writing(None) as c:
            changed = await c.execute(
                "UPDATE staff SET owner_alerts = ? WHERE owner_user_id = ? "
                "AND cashier_user_id = ? AND removed_at IS NULL",
                (int(on), owner_user_id, cashier_user_id),
            )
        return changed > 0

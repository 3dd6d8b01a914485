"""The ``charges`` table: every payment seen on a link, merged from the provider's lists."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.dgs.models import Charge
from bot.store.base import Queries, epoch, money_text, utc, utc_or_none
from bot.store.db import (
    Connection,
)
from bot.store.engine import Row
from bot.store.models import (
    ChargeChange,
    StoredCharge,
)


def _charge(row: Row) -> StoredCharge:
    return StoredCharge(
        link_id=row["link_id"],
        charge_id=row["charge_id"],
        amount=Decimal(row["amount"]),
        currency=row["currency"],
        status=row["status"],
        payer_name=row["payer_name"],
        payment_type=row["payment_type"],
        created_at=utc_or_none(row["created_at"]),
        first_seen_at=utc(row["first_seen_at"]),
        status_changed_at=utc(row["status_changed_at"]),
        pending_noted=bool(row["pending_noted"]),
    )


_CHARGE_FIELDS = ("amount", "currency", "status", "payer_name", "payment_type", "created_at")
_KEEP_IF_MISSING = frozenset({"payer_name", "payment_type", "created_at"})


class ChargeQueries(Queries):
    """Charges: merged, read back, noted as still pending."""

    async def upsert_charges(
        self, conn: Connection | None, link_id: str, charges: Sequence[Charge]
    ) -> list[ChargeChange]:
        """Merge the provider's charges of a link; return what is new or changed status.

        The changes come in the order of ``charges``; a charge listed twice counts once
        (its first occurrence: the provider lists newest first). A charge whose status did
        not change is refreshed silently (say, a payer name that arrived late).
        """
        now = self._clock()
        changes: list[ChargeChange] = []
        seen: set[str] = set()
        async with self._writing(conn) as c:
            for charge in charges:
                if charge.id in seen:
                    continue
                seen.add(charge.id)
                old = await c.fetchone(
                    "SELECT * FROM charges WHERE link_id = ? AND charge_id = ?",
                    (link_id, charge.id),
                )
                values = (
                    money_text(charge.amount),
                    charge.currency,
                    charge.status,
                    charge.payer_name,
                    charge.payment_type,
                    epoch(charge.created_at),
                )
                if old is None:
                    await c.execute(
                        "INSERT INTO charges (amount, currency, status, payer_name, "
                        "payment_type, created_at, link_id, charge_id, first_seen_at, "
                        "status_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*values, link_id, charge.id, now, now),
                    )
                    previous: str | None = None
                else:
                    current = tuple(old[name] for name in _CHARGE_FIELDS)
                    # Optional fields the provider leaves out keep what we knew.
                    merged = tuple(
                        current[i] if value is None and name in _KEEP_IF_MISSING else value
                        for i, (name, value) in enumerate(zip(_CHARGE_FIELDS, values, strict=True))
                    )
                    if current == merged:
                        continue
                    previous = old["status"]
                    await c.execute(
                        "UPDATE charges SET amount = ?, currency = ?, status = ?, "
                        "payer_name = COALESCE(?, payer_name), "
                        "payment_type = COALESCE(?, payment_type), "
                        "created_at = COALESCE(?, created_at), "
                        "status_changed_at = CASE WHEN status = ? THEN status_changed_at "
                        "ELSE ? END WHERE link_id = ? AND charge_id = ?",
                        (*values, charge.status, now, link_id, charge.id),
                    )
                    if previous == charge.status:
                        continue
                row = await c.fetchone(
                    "SELECT * FROM charges WHERE link_id = ? AND charge_id = ?",
                    (link_id, charge.id),
                )
                assert row is not None
                changes.append(ChargeChange(charge=_charge(row), previous_status=previous))
        return changes

    async def mark_pending_noted(
        self, conn: Connection | None, link_id: str, charge_id: str
    ) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE charges SET pending_noted = 1 WHERE link_id = ? AND charge_id = ?",
                (link_id, charge_id),
            )
        return changed > 0

    async def charges_of(
        self, link_id: str, *, conn: Connection | None = None
    ) -> list[StoredCharge]:
        """Every charge seen on the link, oldest first (by the provider's time when known)."""
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT * FROM charges WHERE link_id = ? "
                "ORDER BY COALESCE(created_at, first_seen_at), first_seen_at, charge_id",
                (link_id,),
            )
        return [_charge(row) for row in rows]

    async def pending_charges(
        self, link_id: str, *, conn: Connection | None = None
    ) -> list[StoredCharge]:
        """The link's charges still pending that have not had their "still pending" note."""
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT * FROM charges WHERE link_id = ? AND status = 'pending' "
                "AND pending_noted = 0 ORDER BY first_seen_at, charge_id",
                (link_id,),
            )
        return [_charge(row) for row in rows]

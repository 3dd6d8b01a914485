"""The staff tables (issue 17, point 1) on SQLite and on PostgreSQL (``database_url``): an
invite is claimed once, never after its expiry, and a removed cashier's row stays (ended)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet

from bot.store import Database, KeyVault, Repo

T0 = 1_700_000_000.0
DAY = 24 * 3600


@pytest.fixture
async def repo(database_url: str) -> AsyncIterator[Repo]:
    database = await Database.open(database_url)
    try:
        yield Repo(database, KeyVault(Fernet.generate_key()), clock=lambda: T0)
    finally:
        await database.close()


async def test_an_invite_is_claimed_once_and_not_after_it_expires(repo: Repo) -> None:
    await repo.create_staff_invite("h1", 1, "Aline", now=T0, expires_at=T0 + DAY)
    await repo.create_staff_invite("h2", 1, "Aline", now=T0, expires_at=T0 + DAY)
    assert await repo.claim_staff_invite("h1", 2, "Eric", "fp-shop", now=T0 + 60) == 1
    assert await repo.claim_staff_invite("h1", 3, "Jean", "fp-shop", now=T0 + 61) is None
    assert await repo.claim_staff_invite("h2", 3, "Jean", "fp-shop", now=T0 + DAY) is None
    assert await repo.claim_staff_invite("unknown", 3, "Jean", "fp-shop", now=T0) is None
    invite = await repo.get_staff_invite("h1")
    assert invite is not None and invite.used_by == 2 and invite.owner_user_id == 1
    shop = await repo.shop_of(2)
    assert shop is not None
    assert (shop.owner_user_id, shop.owner_name, shop.cashier_name) == (1, "Aline", "Eric")
    assert shop.owner_alerts and shop.active
    assert await repo.shop_of(3) is None


async def test_a_removed_cashier_keeps_an_ended_row(repo: Repo) -> None:
    await repo.create_staff_invite("h1", 1, "Aline", now=T0, expires_at=T0 + DAY)
    await repo.claim_staff_invite("h1", 2, "Eric", "fp-shop", now=T0)
    assert await repo.set_owner_alerts(1, 2, False)
    assert [m.owner_alerts for m in await repo.staff_of(1)] == [False]
    assert not await repo.remove_cashier(9, 2, now=T0 + 5)  # not the owner
    assert await repo.remove_cashier(1, 2, now=T0 + 10)
    assert await repo.shop_of(2) is None
    assert await repo.staff_of(1) == []
    ended = await repo.staff_on_key(2, "fp-shop")
    assert ended is not None and not ended.active and ended.removed_at == T0 + 10
    assert await repo.staff_on_key(2, "fp-other") is None
    # Invited again: the same row, active, alerts to the owner on again.
    await repo.create_staff_invite("h2", 1, "Aline", now=T0, expires_at=T0 + DAY)
    assert await repo.claim_staff_invite("h2", 2, "Eric", "fp-shop", now=T0 + 20) == 1
    again = await repo.staff_on_key(2, "fp-shop")
    assert again is not None and again.active and again.owner_alerts

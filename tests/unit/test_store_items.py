"""The store's part for issue 17, points 2 and 3 (``bot/store/items.py``): saved items under
their owner, the day's link of an item, the till's messages and their payments. On SQLite and
on PostgreSQL (the ``database_url`` fixture, ``tests/engines.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from bot.store import KeyVault, Repo
from bot.store.engine import Database, open_database
from tests.unit.test_store import Clock, make_charge, make_link


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def repo(db: Database) -> Repo:
    return Repo(db, KeyVault(Fernet.generate_key()), clock=Clock())


async def test_items_are_kept_exactly_per_owner_and_limited(repo: Repo) -> None:
    first = await repo.add_item(7, "Samosa", Decimal("500"), "RWF", limit=2)
    assert first is not None and first.price == Decimal("500")
    assert await repo.add_item(7, "Tea", Decimal("250.50"), "USD", limit=2) is not None
    assert await repo.add_item(7, "Third", Decimal("1"), "RWF", limit=2) is None
    assert await repo.add_item(8, "Other shop", Decimal("9"), "RWF", limit=2) is not None
    mine = await repo.items_of(7)
    assert [(i.name, i.price, i.currency) for i in mine] == [
        ("Samosa", Decimal("500"), "RWF"),
        ("Tea", Decimal("250.50"), "USD"),
    ]
    # Another owner's id never reaches these rows.
    assert await repo.get_item(8, first.item_id) is None
    assert await repo.update_item(8, first.item_id, price=Decimal(1)) is None
    assert not await repo.remove_item(8, first.item_id)
    changed = await repo.update_item(7, first.item_id, price=Decimal("600"))
    assert changed is not None and (changed.name, changed.price) == ("Samosa", Decimal("600"))
    renamed = await repo.update_item(7, first.item_id, name="Beef samosa")
    assert renamed is not None and (renamed.name, renamed.price) == ("Beef samosa", Decimal(600))
    assert await repo.remove_item(7, first.item_id)
    assert [i.name for i in await repo.items_of(7)] == ["Tea"]


async def test_an_items_day_link_is_found_at_its_price_only(repo: Repo) -> None:
    item = await repo.add_item(7, "Samosa", Decimal("500"), "RWF", limit=50)
    assert item is not None
    await repo.add_item_link(item, "2026-12-03", "lnk_1")
    assert await repo.item_links_on(item, "2026-12-03") == ["lnk_1"]
    assert await repo.item_links_on(item, "2026-12-04") == []
    repriced = await repo.update_item(7, item.item_id, price=Decimal("600"))
    assert repriced is not None
    assert await repo.item_links_on(repriced, "2026-12-03") == []
    assert await repo.remove_item(7, item.item_id)  # its day links go with it
    assert await repo.item_links_on(item, "2026-12-03") == []


async def test_a_till_is_paid_once_its_links_success_is_recorded(repo: Repo, db: Database) -> None:
    await repo.upsert_link(make_link("lnk_1"), owner_user_id=7, api_key_fingerprint="fp")
    await repo.open_till("lnk_1", 7, 7, 42, "fr")
    assert await repo.is_till_link("lnk_1")
    async with db.transaction() as conn:
        await repo.upsert_charges(conn, "lnk_1", [make_charge("c1", status="failed")])
    assert await repo.tills_paid() == []
    async with db.transaction() as conn:
        await repo.upsert_charges(
            conn, "lnk_1", [make_charge("c2", status="success", amount="5000", payer_name="Jean")]
        )
    (paid,) = await repo.tills_paid()
    assert (paid.chat_id, paid.message_id, paid.language) == (7, 42, "fr")
    assert (paid.amount, paid.currency, paid.payer_name) == (Decimal(5000), "RWF", "Jean")
    assert await repo.close_till("lnk_1")
    assert not await repo.close_till("lnk_1")  # once
    assert await repo.tills_paid() == []

"""Issue 17, points 4 and 5, in the store: reminders leave ``pending`` once, a day's totals are
claimed once, and who is due, on SQLite and on PostgreSQL (``database_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from bot.dgs.models import Charge, Link
from bot.store import Database, KeyVault, Repo
from bot.store.daily import DailyMode, DailySetting

T0 = 1_796_300_000.0  # 2026-12-03, 14:13 Kigali
DAY_START = 1_796_248_800.0  # 2026-12-03 00:00 Kigali (UTC+2)


@pytest.fixture
async def repo(database_url: str) -> AsyncIterator[Repo]:
    db = await Database.open(database_url)
    try:
        yield Repo(db, KeyVault(Fernet.generate_key()), clock=lambda: T0)
    finally:
        await db.close()


async def a_link(repo: Repo, user_id: int, link_id: str, created: float = T0) -> None:
    await repo.upsert_user_seen(user_id)
    link = Link.model_validate(
        {
            "id": link_id,
            "title": f"Link {link_id}",
            "amount_type": "fixed",
            "amount": "500",
            "currency": "RWF",
            "max_uses": 1,
            "created_at": datetime.fromtimestamp(created, UTC).isoformat(),
        }
    )
    await repo.upsert_link(link, owner_user_id=user_id, api_key_fingerprint="fp")


async def test_a_reminder_is_sent_once_even_when_two_runs_race(repo: Repo) -> None:
    await a_link(repo, 5, "inv")
    await repo.set_reminder("inv", 5, "1d", T0 + 10, amount=Decimal("500"), currency="RWF")
    assert await repo.due_reminders(T0) == []
    [due] = await repo.due_reminders(T0 + 10)
    assert (due.link_id, due.amount, due.currency) == ("inv", Decimal("500"), "RWF")
    async with repo.db.transaction() as conn:
        assert await repo.close_reminder(conn, "inv", "sent")
    async with repo.db.transaction() as conn:
        assert not await repo.close_reminder(conn, "inv", "sent")  # the other run
    assert await repo.due_reminders(T0 + 100) == []


async def test_a_day_is_claimed_once_and_who_is_due(repo: Repo) -> None:
    await a_link(repo, 1, "made-today")  # auto: made a link today
    await a_link(repo, 2, "made-before", created=DAY_START - 3600)  # auto, nothing today
    await repo.upsert_user_seen(3)
    await repo.set_daily_setting(3, DailySetting(DailyMode.ON, 18 * 60))  # every day, 18:00
    await a_link(repo, 4, "off-today")
    await repo.set_daily_setting(4, DailySetting(DailyMode.OFF))
    day = "2026-12-03"
    assert await repo.due_daily(day=day, day_start=DAY_START, minute=17 * 60) == []
    assert await repo.due_daily(day=day, day_start=DAY_START, minute=18 * 60) == [3]
    assert await repo.due_daily(day=day, day_start=DAY_START, minute=20 * 60) == [1, 3]
    async with repo.db.transaction() as conn:
        assert await repo.claim_day(conn, 1, day)
    async with repo.db.transaction() as conn:
        assert not await repo.claim_day(conn, 1, day)
    assert await repo.due_daily(day=day, day_start=DAY_START, minute=20 * 60) == [3]


async def test_successes_between_reads_the_provider_time(repo: Repo) -> None:
    await a_link(repo, 1, "l1")
    charges = [
        Charge.model_validate(
            {
                "id": f"c{n}",
                "amount": "500",
                "currency": "RWF",
                "status": status,
                "created_at": datetime.fromtimestamp(at, UTC).isoformat(),
            }
        )
        for n, (status, at) in enumerate(
            [("success", T0), ("failed", T0), ("success", DAY_START - 1)]
        )
    ]
    await repo.upsert_charges(None, "l1", charges)
    found = await repo.successes_between(1, DAY_START, DAY_START + 86400)
    assert [(s.link_id, s.amount) for s in found] == [("l1", Decimal("500"))]

"""A burst of plain replies through the real bot: many updates share a few database writes.

100 people send ``/start`` at the same moment, then ``/help``. Write transactions are
counted at the database boundary (``Database.write_transactions``: every ``BEGIN
IMMEDIATE``), from before the first update is queued until the last one has finished its
turn, persistence included (``handlers/gates.py:persist_now``). The bot polls the provider
at its production interval (60 s), so the notifier's own periodic writes (about one a
second) stay out of the count as far as they can.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.concurrency import OrderedUpdateProcessor
from bot.devtools.sandbox import Sandbox
from bot.store.db import decode_json
from bot.store.group_commit import group_commit
from bot.users import TELEGRAM_LANGUAGE
from tests.conftest import World, make_settings, start_world
from tests.fakes.telegram import FakeTelegram, FakeUser

PEOPLE = 100
FIRST_ID = 30_000
# Per 100 updates (issue 19): a handful of group commits, not one or more per update.
MAX_WRITES = 20


@pytest.fixture
async def quiet_world(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[World]:
    settings = make_settings(tg, sandbox, tmp_path / "data", poll_interval_seconds=60)
    running = await start_world(tg, sandbox, settings)
    try:
        yield running
    finally:
        if not running.task.done():
            await running.stop()


async def burst(world: World, people: list[FakeUser], text: str, answer: str) -> int:
    """Everyone sends ``text`` at once; the write transactions made until all are done."""
    db = world.services.db
    processor = world.app.update_processor
    assert isinstance(processor, OrderedUpdateProcessor)
    before = db.write_transactions
    marks = {person.id: world.tg.mark() for person in people}
    for person in people:
        await world.tg.send_text(person, text)
    async with asyncio.timeout(30):
        for person in people:
            reply = await world.tg.wait_for_message(person.id, since=marks[person.id])
            assert answer in reply.content, reply.describe()
        # The replies are out; each update's turn ends after its persistence is written.
        while processor.waiting_keys or not world.app.update_queue.empty():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    return db.write_transactions - before


async def test_a_burst_of_start_then_help_costs_a_few_write_transactions(
    quiet_world: World,
) -> None:
    world = quiet_world
    flushes = group_commit(world.services.db).flushes
    people = [world.user(FIRST_ID + n, f"Vendor {n}", language="fr") for n in range(PEOPLE)]

    starts = await burst(world, people, "/start", "Vendor")
    assert starts <= MAX_WRITES, f"{starts} write transactions for {PEOPLE} /start"
    # What those few transactions held: every newcomer's row, and each one's persisted
    # user data (the language their Telegram app reported).
    db = world.services.db
    ids = [person.id for person in people]
    marks = ",".join("?" * len(ids))
    users = await db.fetchall(f"SELECT user_id FROM users WHERE user_id IN ({marks})", ids)
    assert len(users) == PEOPLE
    rows = await db.fetchall(
        f"SELECT user_id, data FROM persist_user_data WHERE user_id IN ({marks})", ids
    )
    assert {row["user_id"]: decode_json(row["data"]) for row in rows} == {
        person.id: {TELEGRAM_LANGUAGE: "fr"} for person in people
    }

    # Nothing about these users changes with /help: nothing to write at all.
    helps = await burst(world, people, "/help", "/new")
    assert helps <= MAX_WRITES // 4, f"{helps} write transactions for {PEOPLE} /help"
    flushes = group_commit(db).flushes - flushes
    print(f"\nwrite transactions per {PEOPLE} updates: /start {starts}, /help {helps}")
    print(f"of which group commits: {flushes}")


async def test_a_burst_of_newcomers_is_looked_up_in_a_few_reads(quiet_world: World) -> None:
    """Each newcomer's row is looked for before their update is answered; 100 of them at once
    share a few reads (``Database.reads``: every hold of the connection outside a write), not
    one each queued on the database lock before their reply can go out."""
    world = quiet_world
    db = world.services.db
    people = [world.user(FIRST_ID + n, f"Vendor {n}", language="rw") for n in range(PEOPLE)]
    before = db.reads
    await burst(world, people, "/start", "Vendor")
    reads = db.reads - before
    assert reads <= MAX_WRITES, f"{reads} reads for {PEOPLE} /start"
    # And each came out as it should, on disk once their turns are over: a row for everyone
    # (written after the reply, within the turn), the language Telegram reported.
    for person in people:
        row = await world.services.repo.get_user(person.id)
        assert row is not None and row.active and row.language is None
        assert world.app.user_data[person.id] == {TELEGRAM_LANGUAGE: "rw"}


async def test_the_heap_made_at_start_is_out_of_the_collectors_way(quiet_world: World) -> None:
    """A full garbage collection in the middle of a burst walked every object start-up made
    (about 55 ms of the 100 /start burst, benchmarks/load.py --scenarios plain): once the bot
    runs, they are frozen, so a collection walks only what the updates made."""
    person = quiet_world.user(FIRST_ID, "Vendor")
    mark = quiet_world.tg.mark()
    await quiet_world.tg.send_text(person, "/start")
    reply = await quiet_world.tg.wait_for_message(person.id, since=mark)
    assert "Vendor" in reply.content
    frozen = gc.get_freeze_count()
    assert frozen > 10_000, f"{frozen} objects frozen while the bot runs"

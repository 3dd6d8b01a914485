"""Group commit on a real SQLite file: many writers, one transaction, nothing answered early.

Transactions are counted at the database boundary (``Database.write_transactions``: every
``BEGIN IMMEDIATE``); what is on disk is read through a second connection, as a restarted
process would read it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bot.store.db import Connection, Database, decode_json
from bot.store.group_commit import group_commit
from bot.store.persistence import SQLitePersistence


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await Database.open(database_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def reader(db: Database) -> AsyncIterator[Database]:
    """A second connection to the same database."""
    other = await Database.open(db.path)
    try:
        yield other
    finally:
        await other.close()


def meta_write(key: str, value: str) -> Callable[[Connection], Awaitable[str]]:
    async def write(conn: Connection) -> str:
        await conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        return value

    return write


async def meta(db: Database) -> dict[str, str]:
    rows = await db.fetchall("SELECT key, value FROM meta WHERE key LIKE 't:%'")
    return {row["key"]: row["value"] for row in rows}


# --- the committer -------------------------------------------------------------------------


async def test_writes_asked_for_together_share_one_transaction(
    db: Database, reader: Database
) -> None:
    committer = group_commit(db)
    before = db.write_transactions
    results = await asyncio.gather(
        *(committer.run(meta_write(f"t:{n}", str(n))) for n in range(50))
    )
    assert results == [str(n) for n in range(50)]
    assert db.write_transactions - before == 1
    # On disk when run() returned: another connection sees every row.
    assert await meta(reader) == {f"t:{n}": str(n) for n in range(50)}


async def test_a_write_asked_for_during_a_flush_waits_for_the_next_one(
    db: Database, reader: Database
) -> None:
    committer = group_commit(db)
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow(conn: Connection) -> None:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('t:slow', '1')")
        inside.set()
        await release.wait()

    before = db.write_transactions
    first = asyncio.create_task(committer.run(slow))
    await inside.wait()  # the first flush is in its transaction now
    second = asyncio.create_task(committer.run(meta_write("t:late", "2")))
    await asyncio.sleep(0.05)
    assert not second.done()
    assert await meta(reader) == {}  # nothing committed yet
    release.set()
    await asyncio.gather(first, second)
    assert db.write_transactions - before == 2  # back to back: the late one got its own
    assert await meta(reader) == {"t:slow": "1", "t:late": "2"}


async def test_a_failing_write_is_undone_alone(db: Database, reader: Database) -> None:
    committer = group_commit(db)

    async def broken(conn: Connection) -> None:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('t:broken', 'x')")
        await conn.execute("INSERT INTO no_such_table VALUES (1)")

    good = committer.run(meta_write("t:good", "1"))
    results = await asyncio.gather(good, committer.run(broken), return_exceptions=True)
    assert results[0] == "1"
    assert "no_such_table" in str(results[1])
    assert await meta(reader) == {"t:good": "1"}


async def test_a_cancelled_waiter_does_not_cancel_the_write(
    db: Database, reader: Database
) -> None:
    committer = group_commit(db)
    waiter = asyncio.create_task(committer.run(meta_write("t:kept", "1")))
    await asyncio.sleep(0)
    waiter.cancel()
    # The next flush starts after this request, so it runs after the cancelled one's.
    await committer.run(meta_write("t:after", "2"))
    assert await meta(reader) == {"t:kept": "1", "t:after": "2"}


# --- the persistence writes only what changed, through the committer -----------------------


async def test_persistence_writes_only_what_changed(db: Database, reader: Database) -> None:
    persistence = SQLitePersistence(db)
    writes = db.write_transactions

    def made() -> int:
        nonlocal writes
        count, writes = db.write_transactions - writes, db.write_transactions
        return count

    await persistence.update_user_data(1, {"draft": {"title": "Cake"}})
    assert made() == 1
    await persistence.update_user_data(1, {"draft": {"title": "Cake"}})  # the same again
    await persistence.update_conversation("form", (1, 1), "TITLE")
    assert made() == 1
    await persistence.update_conversation("form", (1, 1), "TITLE")
    await persistence.update_chat_data(1, {})  # a private chat with no data: no row
    assert made() == 1  # the delete of a row nobody knows of yet
    await persistence.update_chat_data(1, {})
    assert made() == 0
    await persistence.update_user_data(1, {"draft": {"title": "Cakes"}})
    assert made() == 1

    # Known from what was loaded, too: a restarted process does not rewrite old rows.
    loaded = SQLitePersistence(db)
    await loaded.get_user_data()
    await loaded.get_conversations("form")
    await loaded.update_user_data(1, {"draft": {"title": "Cakes"}})
    await loaded.update_conversation("form", (1, 1), "TITLE")
    assert made() == 0

    rows = await reader.fetchall("SELECT user_id, data FROM persist_user_data")
    assert {row["user_id"]: decode_json(row["data"]) for row in rows} == {
        1: {"draft": {"title": "Cakes"}}
    }


async def test_many_users_handed_over_at_once_are_one_transaction(
    db: Database, reader: Database
) -> None:
    persistence = SQLitePersistence(db)
    before = db.write_transactions
    await asyncio.gather(
        *(persistence.update_user_data(n, {"n": n}) for n in range(1, 101)),
        *(persistence.update_conversation("form", (n, n), "AMOUNT") for n in range(1, 101)),
    )
    assert db.write_transactions - before == 1
    assert len(await SQLitePersistence(reader).get_user_data()) == 100
    assert len(await SQLitePersistence(reader).get_conversations("form")) == 100


async def test_group_chat_rows_moved_behind_its_back_are_written_again(
    db: Database, reader: Database
) -> None:
    persistence = SQLitePersistence(db)
    await persistence.update_chat_data(-5, {"pinned": 7})
    await persistence.update_conversation("form", (-5, 1), "TITLE")
    # What Repo.migrate_chat does when a group becomes a supergroup.
    await db.execute("UPDATE persist_chat_data SET chat_id = -1005 WHERE chat_id = -5")
    await db.execute("DELETE FROM persist_conversations")
    await persistence.update_chat_data(-5, {"pinned": 7})
    await persistence.update_conversation("form", (-5, 1), "TITLE")
    assert await SQLitePersistence(reader).get_chat_data() == {
        -5: {"pinned": 7},
        -1005: {"pinned": 7},
    }
    assert await SQLitePersistence(reader).get_conversations("form") == {(-5, 1): "TITLE"}

"""The store: migrations, every repo query, the outbox's life, transactions.

Tests taking ``repo``, ``db`` or ``database_url`` run on SQLite and on PostgreSQL
(``tests/unit/conftest.py``); the rest are about SQLite's file itself."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bot.dgs.models import Charge, Link, LinkDetails
from bot.store import (
    CredentialStatus,
    Database,
    DatabaseError,
    KeyVault,
    NotifyLevel,
    OutboxState,
    Repo,
)
from bot.store.db import Connection, NestedTransactionError
from bot.store.migrations import MIGRATIONS
from bot.store.persistence import SQLitePersistence

T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def vault() -> KeyVault:
    return KeyVault(Fernet.generate_key())


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await Database.open(database_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def repo(db: Database, vault: KeyVault, clock: Clock) -> Repo:
    return Repo(db, vault, clock=clock)


def make_link(link_id: str = "lnk_1", **fields: Any) -> Link:
    data: dict[str, Any] = {
        "id": link_id,
        "slug": f"slug-{link_id}",
        "url": f"https://pay.example/{link_id}",
        "title": "Cake",
        "amount_type": "fixed",
        "amount": "5000",
        "currency": "RWF",
        "status": "active",
        "created_at": "2024-05-01 10:00:00",
    }
    data.update(fields)
    return Link.model_validate(data)


def make_charge(charge_id: str, **fields: Any) -> Charge:
    data: dict[str, Any] = {
        "id": charge_id,
        "amount": "1500",
        "currency": "RWF",
        "status": "pending",
        "created_at": "2024-05-01 10:05:00",
    }
    data.update(fields)
    return Charge.model_validate(data)


async def table_names(db: Database) -> set[str]:
    if db.dialect == "postgresql":
        sql = (
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = current_schema()"
        )
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {row["name"] for row in await db.fetchall(sql)}


async def test_v3_database_gains_each_links_use_count_from_its_snapshot(
    database_url: str, vault: KeyVault, clock: Clock
) -> None:
    path = database_url
    old = await Database.open(path, migrations=MIGRATIONS[:3])
    try:
        repo = Repo(old, vault, clock=clock)
        fingerprint = repo.key_fingerprint("k")
        await repo.upsert_link(make_link(), owner_user_id=7, api_key_fingerprint=fingerprint)
        await repo.upsert_link(
            make_link("lnk_2"), owner_user_id=7, api_key_fingerprint=fingerprint
        )
        details = LinkDetails.model_validate(
            {"link": make_link(use_count=3).model_dump(mode="json"), "stats": {}}
        )
        async with old.transaction() as conn:
            await conn.execute(
                "UPDATE links SET snapshot = ? WHERE link_id = 'lnk_1'",
                (details.model_dump_json(),),
            )
    finally:
        await old.close()

    new = await Database.open(path)
    try:
        states = await Repo(new, vault, clock=clock).link_states(["lnk_1", "lnk_2"])
        assert states["lnk_1"].use_count == 3
        assert states["lnk_2"].use_count is None  # never polled: nothing to compare yet
    finally:
        await new.close()


async def columns(db: Database, table: str) -> set[str]:
    if db.dialect == "postgresql":
        rows = await db.fetchall(
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
    else:
        rows = await db.fetchall(f"PRAGMA table_info({table})")
    return {row["name"] for row in rows}


# --- opening and migrations ------------------------------------------------------------


async def test_file_database_uses_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "paylinks.sqlite3"
    db = await Database.open(path, busy_timeout_ms=4321)
    try:
        assert path.exists()
        assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
        assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1  # type: ignore[index]
        assert (await db.fetchone("PRAGMA busy_timeout"))[0] == 4321  # type: ignore[index]
        version = (await db.fetchone("PRAGMA user_version"))[0]  # type: ignore[index]
        assert version == len(MIGRATIONS) == db.schema_version
        # Foreign keys are really enforced: a credential needs its user.
        with pytest.raises(sqlite3.IntegrityError):
            await db.execute(
                "INSERT INTO credentials (user_id, encrypted_key, key_last4, key_fingerprint,"
                " created_at) VALUES (1, 'x', 'x', 'x', 0)"
            )
    finally:
        await db.close()


async def test_v1_database_migrates_forward_keeping_its_rows(
    database_url: str, vault: KeyVault, clock: Clock
) -> None:
    path = database_url
    old = await Database.open(path, migrations=MIGRATIONS[:1])
    try:
        assert old.schema_version == 1
        assert "qr_file_id" not in await columns(old, "links")
        assert "persist_conversations" not in await table_names(old)
        repo = Repo(old, vault, clock=clock)
        await repo.upsert_user_seen(7)
        await repo.set_language(7, "rw")
        await repo.save_credential(7, "key-seven-abcd")
        await repo.upsert_link(
            make_link(), owner_user_id=7, api_key_fingerprint=repo.key_fingerprint("k")
        )
        async with old.transaction() as conn:
            await repo.upsert_charges(conn, "lnk_1", [make_charge("c1", amount="1500.50")])
            await repo.enqueue(conn, 7, "payment", {"amount": Decimal("1500.50")})
    finally:
        await old.close()

    new = await Database.open(path)
    try:
        assert new.schema_version == len(MIGRATIONS)
        repo = Repo(new, vault, clock=clock)
        user = await repo.get_user(7)
        assert user is not None
        assert user.language == "rw"
        assert await repo.get_api_key(7) == "key-seven-abcd"
        link = await repo.get_link("lnk_1")
        assert link is not None
        assert link.title == "Cake"
        (charge,) = await repo.charges_of("lnk_1")
        assert str(charge.amount) == "1500.50"
        row = await repo.get_outbox(1)
        assert row is not None
        assert row.payload == {"amount": Decimal("1500.50")}
        # What migration 2 brought is there and works on the old rows.
        assert {"qr_file_id", "qr_content_hash"} <= await columns(new, "links")
        assert {"persist_user_data", "persist_chat_data", "persist_conversations"} <= (
            await table_names(new)
        )
        assert await repo.set_qr_file_id("lnk_1", "h1", "FILE1")
        assert await repo.get_qr_file_id("lnk_1", "h1") == "FILE1"
        persistence = SQLitePersistence(new)
        await persistence.update_user_data(7, {"step": 2})
        assert await persistence.get_user_data() == {7: {"step": 2}}
    finally:
        await new.close()


async def test_database_newer_than_the_code_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    db = await Database.open(path)
    await db.close()
    with pytest.raises(DatabaseError, match="downgrades are not supported"):
        await Database.open(path, migrations=MIGRATIONS[:1])
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    raw.close()


async def test_failed_migration_leaves_nothing_of_itself(database_url: str) -> None:
    path = database_url
    broken = (
        MIGRATIONS[0],
        "CREATE TABLE extra (x INTEGER); INSERT INTO no_such_table VALUES (1);",
    )
    with pytest.raises(DatabaseError, match="migration 2 failed"):
        await Database.open(path, migrations=broken)
    db = await Database.open(path, migrations=MIGRATIONS[:1])
    try:
        assert db.schema_version == 1
        assert "extra" not in await table_names(db)
        assert "users" in await table_names(db)
    finally:
        await db.close()


async def test_callable_migration_and_statements_with_semicolons_inside() -> None:
    async def fill(conn: Connection) -> None:
        await conn.execute("INSERT INTO t (v) VALUES (?)", ("from callable",))

    script = """
    CREATE TABLE t (v TEXT);
    CREATE TABLE log (v TEXT);
    -- a comment; with a semicolon
    CREATE TRIGGER t_log AFTER INSERT ON t BEGIN
        INSERT INTO log (v) VALUES ('seen; ' || new.v);
    END;
    INSERT INTO t (v) VALUES ('a;b');
    """
    db = await Database.open(":memory:", migrations=(script, fill))
    try:
        values = [row["v"] for row in await db.fetchall("SELECT v FROM t ORDER BY rowid")]
        assert values == ["a;b", "from callable"]
        log = [row["v"] for row in await db.fetchall("SELECT v FROM log ORDER BY rowid")]
        assert log == ["seen; a;b", "seen; from callable"]
    finally:
        await db.close()


# --- transactions ----------------------------------------------------------------------


async def test_exception_inside_transaction_leaves_no_partial_rows(repo: Repo) -> None:
    async def write_then_fail() -> None:
        async with repo.db.transaction() as conn:
            await repo.upsert_user_seen(1, conn=conn)
            await repo.upsert_link(
                make_link(), owner_user_id=1, api_key_fingerprint="f", conn=conn
            )
            await repo.upsert_charges(conn, "lnk_1", [make_charge("c1")])
            await repo.enqueue(conn, 1, "payment", {"n": 1})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await write_then_fail()
    assert await repo.get_user(1) is None
    assert await repo.get_link("lnk_1") is None
    assert await repo.charges_of("lnk_1") == []
    assert await repo.claim_due(T0 + 10, 10) == []


async def test_concurrent_callers_queue_instead_of_joining_an_open_transaction(
    repo: Repo,
) -> None:
    inside = asyncio.Event()
    order: list[str] = []

    async def rolled_back_writer() -> None:
        async with repo.db.transaction() as conn:
            await repo.set_meta("a", "1", conn=conn)
            inside.set()
            # Give the other task every chance to run a statement on the connection.
            for _ in range(20):
                await asyncio.sleep(0)
            await asyncio.sleep(0.02)
            order.append("a done")
            raise RuntimeError("roll back")

    async def other_writer() -> None:
        await inside.wait()
        await repo.set_meta("b", "1")
        order.append("b done")

    results = await asyncio.wait_for(
        asyncio.gather(rolled_back_writer(), other_writer(), return_exceptions=True), 5
    )
    assert isinstance(results[0], RuntimeError)
    assert results[1] is None
    # Had "b" run inside the first transaction, the rollback would have taken it too.
    assert await repo.get_meta("a") is None
    assert await repo.get_meta("b") == "1"
    assert order == ["a done", "b done"]


async def test_nested_use_by_the_same_task_fails_fast_instead_of_deadlocking(
    repo: Repo,
) -> None:
    async def nested() -> None:
        async with repo.db.transaction():
            await repo.get_user(1)

    with pytest.raises(NestedTransactionError):
        await asyncio.wait_for(nested(), 5)
    # The outer transaction was rolled back and the connection is free again.
    await repo.upsert_user_seen(1)


async def test_conn_refuses_work_after_its_transaction(repo: Repo) -> None:
    async with repo.db.transaction() as conn:
        await repo.set_meta("k", "v", conn=conn)
    with pytest.raises(RuntimeError, match="after its transaction"):
        await repo.set_meta("k", "w", conn=conn)
    assert await repo.get_meta("k") == "v"


async def test_cancelled_transaction_rolls_back_and_frees_the_database(repo: Repo) -> None:
    entered = asyncio.Event()

    async def slow() -> None:
        async with repo.db.transaction() as conn:
            await repo.set_meta("half", "written", conn=conn)
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(slow())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.wait_for(repo.get_meta("half"), 5) is None
    await repo.set_meta("after", "ok")
    assert await repo.get_meta("after") == "ok"


# --- users -----------------------------------------------------------------------------


async def test_user_seen_creates_then_reactivates(repo: Repo, clock: Clock) -> None:
    assert await repo.get_user(5) is None
    user = await repo.upsert_user_seen(5)
    assert (user.language, user.default_currency) == (None, None)
    assert user.notify_level is NotifyLevel.ALL
    assert user.active
    assert user.created_at == datetime.fromtimestamp(T0, UTC)

    clock.advance(60)
    assert await repo.mark_inactive(5)
    assert not (await repo.get_user(5)).active  # type: ignore[union-attr]

    clock.advance(60)
    back = await repo.upsert_user_seen(5)
    assert back.active
    assert back.created_at == user.created_at
    assert back.updated_at == datetime.fromtimestamp(T0 + 120, UTC)
    assert await repo.mark_inactive(999) is False


async def test_user_settings(repo: Repo) -> None:
    await repo.upsert_user_seen(5)
    await repo.set_language(5, "fr")
    await repo.set_default_currency(5, "USD")
    await repo.set_notify_level(5, NotifyLevel.PAYMENTS)
    user = await repo.get_user(5)
    assert user is not None
    assert (user.language, user.default_currency, user.notify_level) == ("fr", "USD", "payments")
    await repo.set_language(5, None)
    assert (await repo.get_user(5)).language is None  # type: ignore[union-attr]
    # A setting for a user not seen yet creates them.
    await repo.set_language(6, "en")
    assert (await repo.get_user(6)).language == "en"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="loud"):
        await repo.set_notify_level(5, "loud")  # type: ignore[arg-type]


# --- credentials -----------------------------------------------------------------------


async def test_credential_lifecycle(repo: Repo) -> None:
    saved = await repo.save_credential(3, "dgs_live_0123456789wxyz")
    assert saved.key_last4 == "wxyz"
    assert saved.key_fingerprint == repo.key_fingerprint("dgs_live_0123456789wxyz")
    assert saved.status is CredentialStatus.VALID
    assert await repo.get_user(3) is not None
    assert await repo.get_api_key(3) == "dgs_live_0123456789wxyz"
    assert [c.user_id for c in await repo.list_valid_credentials()] == [3]

    assert await repo.mark_fingerprint_invalid(saved.key_fingerprint) == [3]
    invalid = await repo.get_credential(3)
    assert invalid is not None
    assert invalid.status is CredentialStatus.INVALID
    assert not invalid.is_valid
    assert await repo.list_valid_credentials() == []

    # A new key replaces the old one and is valid again.
    await repo.save_credential(3, "dgs_live_other_key_9876")
    assert await repo.get_api_key(3) == "dgs_live_other_key_9876"
    assert (await repo.get_credential(3)).status is CredentialStatus.VALID  # type: ignore[union-attr]

    assert await repo.delete_credential(3)
    assert await repo.get_credential(3) is None
    assert await repo.get_api_key(3) is None
    assert await repo.delete_credential(3) is False


async def test_shared_key_found_and_invalidated_by_fingerprint(repo: Repo) -> None:
    await repo.save_credential(1, "shared-key-1111")
    await repo.save_credential(2, "shared-key-1111")
    await repo.save_credential(3, "own-key-3333")
    shared = repo.key_fingerprint("shared-key-1111")
    assert await repo.api_key_for_fingerprint(shared) == "shared-key-1111"

    assert await repo.mark_fingerprint_invalid(shared) == [1, 2]
    assert await repo.api_key_for_fingerprint(shared) is None
    assert [c.user_id for c in await repo.list_valid_credentials()] == [3]
    assert await repo.mark_fingerprint_invalid(shared) == []


# --- links -----------------------------------------------------------------------------


async def test_upsert_link_records_then_refreshes(repo: Repo, clock: Clock) -> None:
    first = await repo.upsert_link(
        make_link(),
        owner_user_id=1,
        api_key_fingerprint="fp1",
        chat_id=1,
        client_ref="ref-1",
    )
    assert (first.title, first.slug, first.currency, first.status) == (
        "Cake",
        "slug-lnk_1",
        "RWF",
        "active",
    )
    assert first.owner_user_id == 1
    assert first.chat_id == 1
    assert first.next_poll_at == T0
    # 10:00 in Kigali (UTC+2) is 08:00 UTC.
    assert first.created_at == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert (first.muted, first.final_polled, first.snapshot) == (False, False, None)

    await repo.save_snapshot(
        None,
        "lnk_1",
        LinkDetails.model_validate({"link": make_link(status="expired").model_dump()}),
        next_poll_at=T0 + 500,
        quiet_steps=3,
        final_polled=True,
    )
    clock.advance(100)
    again = await repo.upsert_link(
        make_link(title="Big cake", status="active"),
        owner_user_id=2,
        api_key_fingerprint="fp1",
        chat_id=99,
        client_ref="ref-2",
    )
    assert again.title == "Big cake"
    assert again.owner_user_id == 1
    assert again.chat_id == 1
    assert again.client_ref == "ref-1"
    # expired -> active: watched again, and due now rather than at T0 + 500.
    assert again.final_polled is False
    assert again.next_poll_at == T0 + 100
    assert again.quiet_steps == 3

    same_status = await repo.upsert_link(
        make_link(title="Bigger cake"), owner_user_id=1, api_key_fingerprint="fp1"
    )
    assert same_status.next_poll_at == T0 + 100
    explicit = await repo.upsert_link(
        make_link(), owner_user_id=1, api_key_fingerprint="fp1", next_poll_at=T0 + 7
    )
    assert explicit.next_poll_at == T0 + 7


async def test_links_of_user(repo: Repo) -> None:
    await repo.upsert_link(
        make_link("old", created_at="2024-01-01 00:00:00"),
        owner_user_id=1,
        api_key_fingerprint="f",
    )
    await repo.upsert_link(
        make_link("new", created_at="2024-06-01 00:00:00"),
        owner_user_id=1,
        api_key_fingerprint="f",
    )
    await repo.upsert_link(make_link("theirs"), owner_user_id=2, api_key_fingerprint="g")
    assert [link.link_id for link in await repo.links_of_user(1)] == ["new", "old"]
    assert [link.link_id for link in await repo.links_of_user(1, limit=1, offset=1)] == ["old"]

    # A link's group must be a known group (the foreign key).
    with pytest.raises(repo.db.integrity_errors):
        await repo.upsert_link(
            make_link("old"), owner_user_id=1, api_key_fingerprint="f", group_chat_id=-500
        )


async def due(repo: Repo, now: float, limit: int) -> list[str]:
    return [target.link_id for target in await repo.due_for_poll(now, limit=limit, per_key=limit)]


async def test_due_for_poll(repo: Repo) -> None:
    await repo.save_credential(1, "valid-key")
    await repo.save_credential(2, "dead-key")
    good, dead = repo.key_fingerprint("valid-key"), repo.key_fingerprint("dead-key")
    assert await repo.mark_fingerprint_invalid(dead) == [2]
    await repo.upsert_link(
        make_link("a"), owner_user_id=1, api_key_fingerprint=good, next_poll_at=T0 + 20
    )
    await repo.upsert_link(
        make_link("b"), owner_user_id=1, api_key_fingerprint=good, next_poll_at=T0 + 10
    )
    await repo.upsert_link(
        make_link("later"), owner_user_id=1, api_key_fingerprint=good, next_poll_at=T0 + 1000
    )
    await repo.upsert_link(
        make_link("keyless"), owner_user_id=2, api_key_fingerprint=dead, next_poll_at=T0
    )
    await repo.upsert_link(
        make_link("done", status="expired"),
        owner_user_id=1,
        api_key_fingerprint=good,
        next_poll_at=T0,
    )
    await repo.save_snapshot(
        None,
        "done",
        LinkDetails.model_validate({"link": make_link("done", status="expired").model_dump()}),
        next_poll_at=T0,
        quiet_steps=0,
        final_polled=True,
    )
    assert await due(repo, T0 + 100, 10) == ["b", "a"]
    assert await due(repo, T0 + 100, 1) == ["b"]
    assert await due(repo, T0, 10) == []
    assert await repo.set_next_poll("b", T0 + 2000, quiet_steps=4)
    assert await due(repo, T0 + 100, 10) == ["a"]
    assert (await repo.get_link("b")).quiet_steps == 4  # type: ignore[union-attr]


async def test_snapshot_round_trips_exactly(repo: Repo) -> None:
    await repo.upsert_link(make_link(), owner_user_id=1, api_key_fingerprint="f")
    details = LinkDetails.model_validate(
        {
            "link": make_link(
                title="Renamed", amount="5000.50", metadata={"note": "x"}, use_count=2
            ).model_dump(),
            "stats": {"total_charges": 2, "total_collected": "10001.00", "currency": "RWF"},
            "recent_charges": [
                {
                    "id": "c2",
                    "amount": "5000.50",
                    "currency": "RWF",
                    "status": "success",
                    "created_at": "2024-05-02 09:00:00",
                    "payer_name": "Aline",
                },
            ],
        }
    )
    paid_at = datetime(2024, 5, 2, 7, 0, tzinfo=UTC)
    assert await repo.save_snapshot(
        None,
        "lnk_1",
        details,
        next_poll_at=T0 + 30,
        quiet_steps=0,
        final_polled=False,
        last_charge_at=paid_at,
    )
    link = await repo.get_link("lnk_1")
    assert link is not None
    assert link.snapshot == details
    assert link.snapshot is not None
    assert str(link.snapshot.stats.total_collected) == "10001.00"
    assert str(link.snapshot.link.amount) == "5000.50"
    assert link.title == "Renamed"
    assert link.last_charge_at == paid_at
    # Omitting last_charge_at keeps the one we had.
    await repo.save_snapshot(
        None, "lnk_1", details, next_poll_at=T0 + 60, quiet_steps=1, final_polled=False
    )
    assert (await repo.get_link("lnk_1")).last_charge_at == paid_at  # type: ignore[union-attr]
    assert not await repo.save_snapshot(
        None, "missing", details, next_poll_at=0, quiet_steps=0, final_polled=False
    )


async def test_qr_file_id_is_keyed_by_content(repo: Repo) -> None:
    await repo.upsert_link(make_link(), owner_user_id=1, api_key_fingerprint="f")
    assert await repo.get_qr_file_id("lnk_1", "hash-a") is None
    assert await repo.set_qr_file_id("lnk_1", "hash-a", "FILE_A")
    assert await repo.get_qr_file_id("lnk_1", "hash-a") == "FILE_A"
    # The link changed: the old card must not be reused.
    assert await repo.get_qr_file_id("lnk_1", "hash-b") is None
    await repo.set_qr_file_id("lnk_1", "hash-b", "FILE_B")
    assert await repo.get_qr_file_id("lnk_1", "hash-a") is None
    assert await repo.get_qr_file_id("lnk_1", "hash-b") == "FILE_B"


async def test_mute(repo: Repo) -> None:
    await repo.upsert_link(make_link(), owner_user_id=1, api_key_fingerprint="f")
    assert await repo.set_muted("lnk_1", True)
    assert (await repo.get_link("lnk_1")).muted  # type: ignore[union-attr]
    assert await repo.set_muted("lnk_1", False)
    assert not (await repo.get_link("lnk_1")).muted  # type: ignore[union-attr]


# --- charges ---------------------------------------------------------------------------


async def test_upsert_charges_reports_new_and_changed_only(repo: Repo, clock: Clock) -> None:
    await repo.upsert_link(make_link(), owner_user_id=1, api_key_fingerprint="f")
    async with repo.db.transaction() as conn:
        changes = await repo.upsert_charges(
            conn,
            "lnk_1",
            [make_charge("c2"), make_charge("c1", status="success"), make_charge("c2")],
        )
    assert [(c.charge.charge_id, c.previous_status, c.is_new) for c in changes] == [
        ("c2", None, True),
        ("c1", None, True),
    ]

    clock.advance(30)
    async with repo.db.transaction() as conn:
        assert (
            await repo.upsert_charges(
                conn, "lnk_1", [make_charge("c2"), make_charge("c1", status="success")]
            )
            == []
        )

    clock.advance(30)
    async with repo.db.transaction() as conn:
        changes = await repo.upsert_charges(
            conn,
            "lnk_1",
            [
                make_charge("c2", status="success", payer_name="Jean", payment_type="card"),
                make_charge("c1", status="success", payer_name="Aline"),
            ],
        )
    (change,) = changes
    assert (change.charge.charge_id, change.previous_status, change.charge.status) == (
        "c2",
        "pending",
        "success",
    )
    assert change.charge.first_seen_at == datetime.fromtimestamp(T0, UTC)
    assert change.charge.status_changed_at == datetime.fromtimestamp(T0 + 60, UTC)
    assert change.charge.payer_name == "Jean"

    # A later response without the optional fields keeps what we knew.
    async with repo.db.transaction() as conn:
        assert (
            await repo.upsert_charges(conn, "lnk_1", [make_charge("c1", status="success")]) == []
        )
    by_id = {c.charge_id: c for c in await repo.charges_of("lnk_1")}
    assert by_id["c1"].payer_name == "Aline"  # arrived late, silently stored
    assert by_id["c1"].status_changed_at == datetime.fromtimestamp(T0, UTC)

    assert not by_id["c2"].pending_noted
    async with repo.db.transaction() as conn:
        assert await repo.mark_pending_noted(conn, "lnk_1", "c2")
    noted = {c.charge_id: c.pending_noted for c in await repo.charges_of("lnk_1")}
    assert noted == {"c1": False, "c2": True}


async def test_charges_of_oldest_first(repo: Repo) -> None:
    await repo.upsert_link(make_link(), owner_user_id=1, api_key_fingerprint="f")
    await repo.upsert_charges(
        None,
        "lnk_1",
        [
            make_charge("late", created_at="2024-05-03 08:00:00"),
            make_charge("early", created_at="2024-05-01 08:00:00"),
            make_charge("middle", created_at="2024-05-02 08:00:00"),
        ],
    )
    charges = await repo.charges_of("lnk_1")
    assert [c.charge_id for c in charges] == ["early", "middle", "late"]
    assert charges[0].created_at == datetime(2024, 5, 1, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["1500", "1500.50", "0.10", "0.001", "999999999999999999.123456789", "1E+3"],
)
async def test_amounts_round_trip_exactly(repo: Repo, text: str) -> None:
    await repo.upsert_link(make_link(), owner_user_id=1, api_key_fingerprint="f")
    await repo.upsert_charges(None, "lnk_1", [make_charge("c", amount=text)])
    (charge,) = await repo.charges_of("lnk_1")
    assert isinstance(charge.amount, Decimal)
    # Same digits and exponent, not merely an equal value.
    assert charge.amount.as_tuple() == Decimal(text).as_tuple()
    typeof = "pg_typeof(amount)::text" if repo.db.dialect == "postgresql" else "typeof(amount)"
    row = await repo.db.fetchone(f"SELECT {typeof} AS t, amount FROM charges")
    assert row is not None
    assert row["t"] == "text"


async def test_non_finite_amount_is_refused(repo: Repo) -> None:
    await repo.upsert_link(make_link(), owner_user_id=1, api_key_fingerprint="f")
    with pytest.raises(ValueError, match="finite"):
        await repo.upsert_charges(None, "lnk_1", [make_charge("c", amount="NaN")])
    assert await repo.charges_of("lnk_1") == []


# --- groups ----------------------------------------------------------------------------


async def test_group_lifecycle_keeps_settings(repo: Repo) -> None:
    group = await repo.upsert_group(-100, "Market", added_by=1)
    assert (group.title, group.active, group.anonymous_totals, group.added_by) == (
        "Market",
        True,
        False,
        1,
    )
    assert await repo.set_group_language(-100, "rw")
    assert await repo.set_anonymous_totals(-100, True)
    assert await repo.deactivate_group(-100)
    assert not (await repo.get_group(-100)).active  # type: ignore[union-attr]
    back = await repo.upsert_group(-100, "Market 2")
    assert (back.title, back.active, back.language, back.anonymous_totals, back.added_by) == (
        "Market 2",
        True,
        "rw",
        True,
        1,
    )
    assert await repo.deactivate_group(-1) is False
    assert await repo.get_group(-1) is None


# --- migrate_chat ----------------------------------------------------------------------

OLD, NEW = -4001, -1004001


async def places_holding(db: Database, chat_id: int) -> list[str]:
    """Every table.column (and conversation key) holding ``chat_id``, found by scanning."""
    found: list[str] = []
    for table in sorted(await table_names(db)):
        if table.startswith("sqlite_") or table == "schema_version":
            continue
        for column in sorted(await columns(db, table)):
            # PostgreSQL compares a text column with text only.
            where, value = (
                (f'CAST("{column}" AS TEXT) = ?', str(chat_id))
                if db.dialect == "postgresql"
                else (f'"{column}" = ?', chat_id)
            )
            row = await db.fetchone(f'SELECT count(*) FROM "{table}" WHERE {where}', (value,))
            assert row is not None
            if row[0]:
                found.append(f"{table}.{column}")
    for row in await db.fetchall("SELECT name, key FROM persist_conversations"):
        if chat_id in json.loads(row["key"]):
            found.append(f"conversation {row['name']} {row['key']}")
    return found


async def test_migrate_chat_moves_the_id_everywhere(repo: Repo) -> None:
    db = repo.db
    await repo.upsert_group(OLD, "Market", added_by=1)
    await repo.set_group_language(OLD, "rw")
    await repo.upsert_link(
        make_link("l1"), owner_user_id=1, api_key_fingerprint="f", chat_id=OLD, group_chat_id=OLD
    )
    await repo.upsert_link(make_link("l2"), owner_user_id=1, api_key_fingerprint="f", chat_id=1)
    await repo.enqueue(None, OLD, "payment", {"n": 1})
    await repo.enqueue(None, 1, "payment", {"n": 2})
    persistence = SQLitePersistence(db)
    await persistence.update_chat_data(OLD, {"pinned": 5})
    await persistence.update_conversation("form", (OLD, 1), "AMOUNT")
    await persistence.update_conversation("form", (1, 1), "TITLE")
    await persistence.update_conversation("other", (OLD,), 3)
    assert len(await places_holding(db, OLD)) >= 6

    await repo.migrate_chat(OLD, NEW)

    assert await places_holding(db, OLD) == []
    group = await repo.get_group(NEW)
    assert group is not None
    assert (group.title, group.language) == ("Market", "rw")
    l1 = await repo.get_link("l1")
    assert l1 is not None
    assert (l1.chat_id, l1.group_chat_id) == (NEW, NEW)
    assert (await repo.get_link("l2")).chat_id == 1  # type: ignore[union-attr]
    assert [row.chat_id for row in await repo.claim_due(T0 + 1, 10)] == [NEW, 1]
    assert await persistence.get_chat_data() == {NEW: {"pinned": 5}}
    assert await persistence.get_conversations("form") == {(NEW, 1): "AMOUNT", (1, 1): "TITLE"}
    assert await persistence.get_conversations("other") == {(NEW,): 3}


async def test_migrate_chat_when_the_new_id_is_already_known(repo: Repo) -> None:
    await repo.upsert_group(OLD, "Market")
    await repo.set_anonymous_totals(OLD, True)
    await repo.upsert_group(NEW, "Market (new)")
    await repo.upsert_link(
        make_link("l1"), owner_user_id=1, api_key_fingerprint="f", group_chat_id=OLD
    )
    await repo.upsert_link(
        make_link("l2"), owner_user_id=1, api_key_fingerprint="f", group_chat_id=NEW
    )
    persistence = SQLitePersistence(repo.db)
    await persistence.update_chat_data(OLD, {"from": "old"})
    await persistence.update_chat_data(NEW, {"from": "new"})

    await repo.migrate_chat(OLD, NEW)

    assert await repo.get_group(OLD) is None
    group = await repo.get_group(NEW)
    assert group is not None
    assert group.anonymous_totals  # the old group's settings win
    rows = await repo.db.fetchall(
        "SELECT link_id FROM links WHERE group_chat_id = ? ORDER BY link_id", (NEW,)
    )
    assert [row["link_id"] for row in rows] == ["l1", "l2"]
    assert await persistence.get_chat_data() == {NEW: {"from": "old"}}


# --- outbox ----------------------------------------------------------------------------


async def test_outbox_claims_due_rows_one_per_chat_in_order(repo: Repo, clock: Clock) -> None:
    a1 = await repo.enqueue(None, 10, "payment", {"n": "a1"}, user_id=10)
    a2 = await repo.enqueue(None, 10, "payment", {"n": "a2"})
    b1 = await repo.enqueue(None, 20, "payment", {"n": "b1"}, not_before=T0 + 50)
    c1 = await repo.enqueue(None, 30, "digest", {"total": Decimal("10.50")})

    claimed = await repo.claim_due(T0, 10)
    assert [row.id for row in claimed] == [a1, c1]
    first = claimed[0]
    assert (first.state, first.attempts, first.user_id, first.kind) == (
        OutboxState.IN_FLIGHT,
        1,
        10,
        "payment",
    )
    assert claimed[1].payload == {"total": Decimal("10.50")}
    # a2 waits for a1 to finish; b1 is not due.
    assert await repo.claim_due(T0, 10) == []

    assert await repo.mark_sent(a1)
    assert await repo.mark_sent(a1) is False  # no longer in flight
    sent = await repo.get_outbox(a1)
    assert sent is not None
    assert sent.state is OutboxState.SENT
    assert sent.sent_at == datetime.fromtimestamp(T0, UTC)

    assert [row.id for row in await repo.claim_due(T0 + 60, 1)] == [a2]
    assert [row.id for row in await repo.claim_due(T0 + 60, 10)] == [b1]


async def test_outbox_release_and_failure(repo: Repo) -> None:
    row_id = await repo.enqueue(None, 10, "payment", {})
    later = await repo.enqueue(None, 10, "payment", {})
    await repo.claim_due(T0, 10)
    assert await repo.release(row_id, T0 + 30, "429 retry after 30")
    released = await repo.get_outbox(row_id)
    assert released is not None
    assert (released.state, released.not_before, released.last_error) == (
        OutboxState.PENDING,
        T0 + 30,
        "429 retry after 30",
    )
    # Still first in its chat's line: the later row does not overtake it.
    assert await repo.claim_due(T0 + 10, 10) == []
    (again,) = await repo.claim_due(T0 + 30, 10)
    assert (again.id, again.attempts) == (row_id, 2)

    assert await repo.mark_failed(again.id, "x" * 5000)
    failed = await repo.get_outbox(row_id)
    assert failed is not None
    assert failed.state is OutboxState.FAILED
    assert failed.last_error == "x" * 1000
    assert await repo.release(row_id, T0) is False
    assert [row.id for row in await repo.claim_due(T0 + 30, 10)] == [later]


async def test_drop_for_chat_drops_pending_rows_only(repo: Repo) -> None:
    in_flight = await repo.enqueue(None, 10, "payment", {})
    pending = await repo.enqueue(None, 10, "payment", {})
    other = await repo.enqueue(None, 20, "payment", {})
    await repo.claim_due(T0, 1)
    assert await repo.drop_for_chat(10) == 1
    assert (await repo.get_outbox(pending)).state is OutboxState.DROPPED  # type: ignore[union-attr]
    assert (await repo.get_outbox(in_flight)).state is OutboxState.IN_FLIGHT  # type: ignore[union-attr]
    assert (await repo.get_outbox(other)).state is OutboxState.PENDING  # type: ignore[union-attr]


async def test_crash_while_sending_resends_only_the_row_in_flight(
    database_url: str, vault: KeyVault, clock: Clock
) -> None:
    path = database_url
    db = await Database.open(path)
    repo = Repo(db, vault, clock=clock)
    done = await repo.enqueue(None, 10, "payment", {"n": 1})
    sending = await repo.enqueue(None, 10, "payment", {"n": 2})
    waiting = await repo.enqueue(None, 10, "payment", {"n": 3})
    await repo.claim_due(T0, 10)
    await repo.mark_sent(done)
    (row,) = await repo.claim_due(T0, 10)
    assert row.id == sending
    await db.close()  # the process dies here, before mark_sent

    db = await Database.open(path)
    try:
        repo = Repo(db, vault, clock=clock)
        assert await repo.recover_in_flight() == 1
        resent = await repo.claim_due(T0, 10)
        assert [(r.id, r.attempts) for r in resent] == [(sending, 2)]
        await repo.mark_sent(sending)
        assert [r.id for r in await repo.claim_due(T0, 10)] == [waiting]
        assert (await repo.get_outbox(done)).state is OutboxState.SENT  # type: ignore[union-attr]
    finally:
        await db.close()


async def test_prune_outbox_keeps_unfinished_rows(repo: Repo, clock: Clock) -> None:
    sent = await repo.enqueue(None, 10, "payment", {})
    pending = await repo.enqueue(None, 20, "payment", {})
    await repo.claim_due(T0, 1)
    await repo.mark_sent(sent)
    clock.advance(100)
    fresh = await repo.enqueue(None, 10, "payment", {})
    await repo.claim_due(T0 + 100, 10)
    await repo.mark_sent(fresh)
    assert await repo.prune_outbox(T0 + 50) == 1
    assert await repo.get_outbox(sent) is None
    assert await repo.get_outbox(pending) is not None
    assert await repo.get_outbox(fresh) is not None


async def test_outbox_payload_must_be_storable(repo: Repo) -> None:
    with pytest.raises(TypeError, match="set"):
        await repo.enqueue(None, 10, "payment", {"ids": {1, 2}})
    assert await repo.claim_due(T0, 10) == []


async def test_meta(repo: Repo) -> None:
    assert await repo.get_meta("webhook") is None
    await repo.set_meta("webhook", "a")
    await repo.set_meta("webhook", "b")
    assert await repo.get_meta("webhook") == "b"

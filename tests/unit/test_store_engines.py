"""DATABASE_URL picks the engine; what PostgreSQL does beside SQLite (placeholders, the schema
version, replicas migrating at once). The store's own tests run on both (``test_store.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import SettingsError, load_settings
from bot.store.db import SQLiteDatabase
from bot.store.engine import DatabaseError, open_database
from bot.store.migrations import MIGRATIONS
from bot.store.postgres import _compile
from tests.engines import drop_postgres_database, fresh_postgres_database


def test_placeholders_become_numbered_outside_quotes_comments_and_casts() -> None:
    text, names, count = _compile(
        "SELECT '?', \"a?\", x::text, ? -- ?\n FROM t WHERE y = ? /* :no */"
    )
    assert text == "SELECT '?', \"a?\", x::text, $1 -- ?\n FROM t WHERE y = $2 /* :no */"
    assert (names, count) == (None, 2)
    text, names, count = _compile("SELECT :a, :b, :a, 'it''s :c'")
    assert text == "SELECT $1, $2, $1, 'it''s :c'"
    assert (names, count) == (("a", "b"), 2)
    with pytest.raises(ValueError, match="both"):
        _compile("SELECT ?, :a")


async def test_database_url_chooses_the_engine(tmp_path: Path) -> None:
    default = load_settings(bot_data_dir=tmp_path, database_url="")
    assert default.database_target == tmp_path / "paylinks.sqlite3"
    given = tmp_path / "elsewhere.sqlite3"
    settings = load_settings(bot_data_dir=tmp_path, database_url=f"sqlite:///{given}")
    db = await open_database(settings.database_target)
    try:
        assert isinstance(db, SQLiteDatabase)
        assert db.path == str(given)
        assert given.exists()
    finally:
        await db.close()
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings(bot_data_dir=tmp_path, database_url="mysql://u@h/db")


async def test_postgres_url_opens_postgresql_and_hides_the_password(
    postgres_server: str,
) -> None:
    settings = load_settings(database_url=postgres_server)
    db = await open_database(settings.database_target)
    try:
        assert db.dialect == "postgresql"
        assert db.schema_version == len(MIGRATIONS)
    finally:
        await db.close()
    with pytest.raises(DatabaseError) as caught:
        await open_database("postgresql://someone:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in str(caught.value)
    assert "***" in str(caught.value)


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """An empty PostgreSQL database (SQLite's file has its own tests in test_store.py)."""
    url, name = await fresh_postgres_database(postgres_server)
    try:
        yield url
    finally:
        await drop_postgres_database(postgres_server, name)


async def test_postgres_newer_than_the_code_is_refused_and_left_alone(
    postgres_url: str,
) -> None:
    db = await open_database(postgres_url)
    await db.close()
    with pytest.raises(DatabaseError, match="downgrades are not supported"):
        await open_database(postgres_url, migrations=MIGRATIONS[:1])
    db = await open_database(postgres_url)
    try:
        assert await db.fetchall("SELECT version FROM schema_version") == [(len(MIGRATIONS),)]
    finally:
        await db.close()


async def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    dbs = await asyncio.gather(*(open_database(postgres_url) for _ in range(3)))
    try:
        assert {db.schema_version for db in dbs} == {len(MIGRATIONS)}
        rows = await dbs[0].fetchall("SELECT version FROM schema_version")
        assert [row[0] for row in rows] == [len(MIGRATIONS)]
    finally:
        for db in dbs:
            await db.close()

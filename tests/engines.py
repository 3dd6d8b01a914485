"""Fixtures to run a test on both engines (a pytest plugin of ``tests/conftest.py``):
``database_url`` is ``sqlite`` (a file in the test's folder) or ``postgresql`` (a fresh
database on a throwaway cluster, one per test); ``postgres_server`` the server itself.

PostgreSQL comes from ``PAYLINKS_TEST_DATABASE_URL`` (``.ci/run`` starts a cluster and sets
it), else from a cluster these tests start themselves (``tests/postgres_cluster.py``). When
neither is possible the PostgreSQL runs skip with the reason, except in CI (``CI`` set),
where they fail: there they must run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests import postgres_cluster


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server the tests may create databases on."""
    given = os.environ.get(postgres_cluster.ENV_URL)
    if given:
        yield given
        return
    try:
        cluster = postgres_cluster.start()
    except postgres_cluster.ClusterUnavailableError as exc:
        if _in_ci():
            pytest.fail(f"PostgreSQL tests must run in CI: {exc}")
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")
    try:
        yield cluster.url
    finally:
        postgres_cluster.stop(cluster.folder)


async def fresh_postgres_database(server: str) -> tuple[str, str]:
    """A new empty database on ``server``: its URL and name."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await admin.close()
    base, _, _ = server.rpartition("/")
    return f"{base}/{name}", name


async def drop_postgres_database(server: str, name: str) -> None:
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Where a test's database lives, on each engine in turn (an empty database)."""
    if request.param == "sqlite":
        yield str(tmp_path / "paylinks.sqlite3")
        return
    server: str = request.getfixturevalue("postgres_server")
    url, name = await fresh_postgres_database(server)
    try:
        yield url
    finally:
        await drop_postgres_database(server, name)


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database only (replicas: several processes on one database)."""
    url, name = await fresh_postgres_database(postgres_server)
    try:
        yield url
    finally:
        await drop_postgres_database(postgres_server, name)

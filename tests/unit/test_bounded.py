"""Every per-user (per chat, per key) in-memory map or set stays bounded under a flood of
distinct people, and still serves the recent ones.

The structures that only touch memory are flooded with 100,000 distinct users. Those that read
the database on a miss (the user and group directories, the poller's keys) are flooded through
their real repository with a small bound: 100,000 SQLite round trips would take a minute,
and the bound is the same code whatever its size.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from telegram import Chat, Message, Update, User

from bot import bounded
from bot.bounded import LRUDict, LRUSet
from bot.config import load_settings
from bot.groups import GroupDirectory
from bot.notify import keys as keys_module
from bot.notify.poller import Poller, PollerConfig
from bot.services import Services, open_services
from bot.store import Database, KeyVault, Repo
from bot.users import UserDirectory
from handlers import edit

FLOOD = 100_000


@pytest.fixture
async def repo() -> AsyncIterator[Repo]:
    db = await Database.open(":memory:")
    try:
        yield Repo(db, KeyVault(Fernet.generate_key()))
    finally:
        await db.close()


# --- the structures themselves -------------------------------------------------------------


def test_an_lru_dict_keeps_the_most_recent_entries() -> None:
    cache: LRUDict[int, str] = LRUDict(1000)
    cache[-1] = "first"
    for user_id in range(FLOOD):
        cache[user_id] = str(user_id)
        if user_id % 500 == 0:
            assert cache.get(-1) == "first"  # read often: it stays
    assert len(cache) == 1000
    assert cache[FLOOD - 1] == str(FLOOD - 1) and cache[-1] == "first"
    assert 0 not in cache and cache.get(FLOOD - 1000) is None
    del cache[-1]
    assert len(cache) == 999


def test_an_lru_set_keeps_the_most_recent_members() -> None:
    members: LRUSet[tuple[int, int]] = LRUSet(1000)
    for user_id in range(FLOOD):
        members.add((user_id, user_id))
    assert len(members) == 1000
    assert (FLOOD - 1, FLOOD - 1) in members and (0, 0) not in members
    members.discard((FLOOD - 1, FLOOD - 1))
    assert (FLOOD - 1, FLOOD - 1) not in members and len(members) == 999


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LRUDict(0)
    with pytest.raises(ValueError, match="at least 1"):
        bounded.LRUSet(0)


# --- the directories -------------------------------------------------------------------------


async def test_the_user_directory_forgets_the_oldest_users(repo: Repo) -> None:
    settings = load_settings(_env_file=None, telegram_bot_token=None)
    users = UserDirectory(repo, settings, max_size=100)
    first = await users.seen(1)
    for user_id in range(2, 2_001):
        await users.seen(user_id)
    assert len(users._known) == 100
    recent = await users.seen(2_000)
    assert (await users.seen(2_000)) is recent  # served from memory
    again = await users.seen(1)  # forgotten: read again, same row
    assert again is not first and again.user_id == 1


async def test_the_group_directory_bounds_its_groups(repo: Repo) -> None:
    groups = GroupDirectory(repo, max_groups=100)
    await repo.upsert_group(-1, "Choir", added_by=5)
    choir = await groups.get(-1)
    assert choir is not None
    for chat_id in range(-2, -2_002, -1):
        await groups.get(chat_id)
        assert (await groups.get(-1)) is choir  # used between the others: it stays
    assert len(groups._groups) == 100


def test_the_group_directory_bounds_its_admin_answers() -> None:
    now = [1000.0]
    groups = GroupDirectory(None, clock=lambda: now[0])  # type: ignore[arg-type]
    for user_id in range(FLOOD):
        groups.remember_admin(-100, user_id, is_admin=user_id % 2 == 0)
    assert len(groups._admins) <= bounded_size(groups._admins)
    assert groups.cached_admin(-100, FLOOD - 2) is True
    assert groups.cached_admin(-100, FLOOD - 1) is False
    assert groups.cached_admin(-100, 0) is None  # forgotten: asked again
    now[0] += 301
    assert groups.cached_admin(-100, FLOOD - 2) is None  # older than 5 minutes


def bounded_size(mapping: Any) -> int:
    size = getattr(mapping, "max_size", None)
    assert isinstance(size, int) and size < FLOOD, "not a bounded map"
    return size


# --- the editor's "left the prompt" set ------------------------------------------------------


def command_from(user_id: int, text: str = "/help") -> Update:
    user = User(user_id, "U", is_bot=False)
    chat = Chat(user_id, Chat.PRIVATE)
    message = Message(1, datetime.now(UTC), chat, from_user=user, text=text)
    return Update(user_id, message=message)


async def test_the_editors_left_prompt_set_is_bounded() -> None:
    prompts = edit._Prompts()
    started = time.perf_counter()
    for user_id in range(1, FLOOD + 1):
        await prompts.note(command_from(user_id), None)  # type: ignore[arg-type]
    assert time.perf_counter() - started < 60
    assert len(prompts.left) <= bounded_size(prompts.left)
    assert (FLOOD, FLOOD) in prompts.left  # the latest one who walked away is still known
    prompts.open(command_from(FLOOD))
    assert (FLOOD, FLOOD) not in prompts.left


# --- the poller's keys -----------------------------------------------------------------------


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = load_settings(
        _env_file=None, telegram_bot_token=None, bot_data_dir=tmp_path / "data"
    )
    async with open_services(settings, dgs_base_url="http://127.0.0.1:9") as opened:
        yield opened


async def test_the_pollers_keys_are_bounded(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys_module, "KEY_CACHE_SIZE", 50)
    poller = Poller(services, PollerConfig(interval=60.0))
    health = poller.keys
    keys = [f"sk_test_{user_id:032d}" for user_id in range(1, 501)]
    prints = []
    for user_id, key in enumerate(keys, start=1):
        prints.append((await services.repo.save_credential(user_id, key)).key_fingerprint)
    for fingerprint, key in zip(prints, keys, strict=True):
        assert await health.key_for(fingerprint) == key
    assert len(health._keys) == 50
    assert await health.key_for(prints[-1]) == keys[-1]
    assert await health.key_for(prints[0]) == keys[0]  # read again

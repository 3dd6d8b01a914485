"""What a start decides about trust: who keeps the operator's key, how keys are fingerprinted,
who may read the data folder, one bot per folder, and a database that cannot be used.

The bot runs in-process (``start_world``) or as ``python -m bot`` (``BotProcess``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.devtools.sandbox import Sandbox
from bot.dgs.models import AmountType, Link, LinkCreate
from bot.services import open_services
from bot.store.migrations import MIGRATIONS
from tests.conftest import World, make_settings, start_world
from tests.e2e.test_process import BotProcess, bot_env
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

OPERATOR_KEY = "sk_test_operator_trust_0099"
INTERVAL = 0.2  # the world's POLL_INTERVAL_SECONDS


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def umask_022() -> Iterator[None]:
    # The usual default: what a file gets when nobody asks for anything tighter.
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
async def processes() -> AsyncIterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for process in started:
        if process.proc is not None and process.proc.returncode is None:
            process.proc.kill()
            await process.proc.wait()


async def launch(processes: list[BotProcess], env: dict[str, str]) -> BotProcess:
    process = BotProcess(env)
    processes.append(process)
    await process.start()
    return process


async def exit_of(process: BotProcess) -> tuple[int, str]:
    """Wait for a process that stops by itself: (exit code, stderr)."""
    assert process.proc is not None
    _, err = await asyncio.wait_for(process.proc.communicate(), timeout=30)
    process.stderr += err
    assert process.proc.returncode is not None
    return process.proc.returncode, process.stderr.decode()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- point 10: a user taken out of DGS_ALLOWED_USERS ----------------------------------------


async def quick_card(world: World, user: FakeUser, text: str) -> FakeMessage:
    mark = world.tg.mark()
    await world.tg.send_text(user, text)
    return await world.tg.wait_for_message(user.id, lambda m: m.photo is not None, since=mark)


def callback_datas(message: FakeMessage) -> list[str]:
    return [b["callback_data"] for row in message.buttons for b in row if "callback_data" in b]


def lost_key_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "bot.accounts" and "DGS_ALLOWED_USERS" in r.getMessage()
    ]


async def removed_after_restart(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path
) -> tuple[World, FakeUser, FakeUser, FakeMessage, FakeMessage]:
    """Aline and Bosco make a link each on the operator's key; the bot restarts with Aline
    taken out of DGS_ALLOWED_USERS. Returns the new world, both users and their cards."""
    data_dir = tmp_path / "data"
    aline, bosco = tg.user(401, "Aline"), tg.user(402, "Bosco")

    def settings_for(allowed: str) -> Settings:
        return make_settings(
            tg, sandbox, data_dir, dgs_api_key=OPERATOR_KEY, dgs_allowed_users=allowed
        )

    before = settings_for(f"{aline.id},{bosco.id}")
    world = await start_world(tg, sandbox, before, auto_connect=False)
    try:
        aline_card = await quick_card(world, aline, "/new 5000 Sambusa")
        bosco_card = await quick_card(world, bosco, "/new 7000 Chapati")
        # Positive control: before the restart Aline's own buttons act.
        query_id = await tg.press(aline, aline_card, callback_data=callback_datas(aline_card)[0])
        answer = await tg.wait_for_callback_answer(query_id)
        assert "not for you" not in (answer.text or "")
    finally:
        await world.stop()
    after = settings_for(str(bosco.id))
    world = await start_world(tg, sandbox, after, auto_connect=False)
    return world, aline, bosco, aline_card, bosco_card


async def test_a_removed_user_loses_the_operator_key_buttons_and_is_logged_once(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    world, aline, bosco, aline_card, bosco_card = await removed_after_restart(
        tg, sandbox, tmp_path
    )
    try:
        # Every button of Aline's old card refuses her, the owner included.
        datas = callback_datas(aline_card)
        assert datas
        for data in datas:
            query_id = await tg.press(aline, aline_card, callback_data=data)
            reply = await tg.wait_for_callback_answer(query_id)
            assert reply.show_alert and "not for you" in (reply.text or ""), (data, reply)
        # Bosco, still allowed, keeps his.
        query_id = await tg.press(bosco, bosco_card, callback_data=callback_datas(bosco_card)[0])
        assert "not for you" not in ((await tg.wait_for_callback_answer(query_id)).text or "")

        # One line at the start (how many links, whose), never the key, and not per poll.
        await asyncio.sleep(6 * INTERVAL)
        lines = lost_key_lines(caplog)
        assert len(lines) == 1, lines
        assert "1 links" in lines[0] and str(aline.id) in lines[0]
        assert str(bosco.id) not in lines[0]
        assert OPERATOR_KEY not in caplog.text
    finally:
        await world.stop()


async def test_a_removed_user_gets_no_alert_for_a_payment(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path
) -> None:
    world, aline, bosco, _aline_card, _bosco_card = await removed_after_restart(
        tg, sandbox, tmp_path
    )
    try:
        links = {
            link.title: link.id
            for link in (await world.services.dgs.list_links(OPERATOR_KEY)).links
        }
        heard_by_aline = len(tg.sent_to(aline))
        await sandbox.add_charge(OPERATOR_KEY, links["Sambusa"], 1111)
        await sandbox.add_charge(OPERATOR_KEY, links["Chapati"], 2222)
        # Positive control: the poller runs, and alerts Bosco about his link.
        await tg.wait_for_message(bosco.id, lambda m: "2,222" in m.content, timeout=10)
        await asyncio.sleep(6 * INTERVAL)
        assert len(tg.sent_to(aline)) == heard_by_aline
    finally:
        await world.stop()


# --- point 12: keyed fingerprints, private files ---------------------------------------------


def database_bytes(data_dir: Path) -> bytes:
    files = sorted(p for p in data_dir.iterdir() if p.name.startswith("paylinks.sqlite3"))
    return b"".join(p.read_bytes() for p in files)


async def test_an_old_database_has_its_fingerprints_keyed_and_its_links_still_alert(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    own_key, gone_key = "sk_test_vendor_own_0301", "sk_test_vendor_gone_0303"
    vendor, staff, former = tg.user(301, "Vendor"), tg.user(302, "Staff"), tg.user(303, "Former")
    settings = make_settings(
        tg,
        sandbox,
        data_dir,
        dgs_api_key=OPERATOR_KEY,
        dgs_allowed_users=str(staff.id),
        bot_encryption_key=Fernet.generate_key().decode(),
    )
    body = LinkCreate(
        title="Tailor", amount_type=AmountType.FIXED, amount=Decimal(100), currency="RWF"
    )
    made: dict[str, Link] = {}
    async with open_services(settings, dgs_base_url=sandbox.api_base_url) as services:
        await services.repo.save_credential(vendor.id, own_key)
        for owner, key in ((vendor, own_key), (staff, OPERATOR_KEY), (former, gone_key)):
            made[key] = await services.dgs.create_link(key, body)
            await services.links.remember(made[key], api_key=key, owner_user_id=owner.id)
    # What earlier versions stored: the plain SHA-256 of each key.
    with sqlite3.connect(settings.database_path) as raw:
        raw.execute("UPDATE credentials SET key_fingerprint = ?", (sha256(own_key),))
        for key, link in made.items():
            raw.execute(
                "UPDATE links SET api_key_fingerprint = ? WHERE link_id = ?",
                (sha256(key), link.id),
            )
    raw.close()
    assert sha256(own_key).encode() in database_bytes(data_dir)  # the control

    world = await start_world(tg, sandbox, settings, auto_connect=False)
    try:
        for key in (own_key, OPERATOR_KEY, gone_key):
            assert sha256(key).encode() not in database_bytes(data_dir), key
        with sqlite3.connect(settings.database_path) as raw:
            stored = dict(raw.execute("SELECT link_id, api_key_fingerprint FROM links"))
            (credential,) = raw.execute("SELECT key_fingerprint FROM credentials").fetchone()
        raw.close()
        repo = world.services.repo
        assert credential == repo.key_fingerprint(own_key)
        assert stored[made[own_key].id] == repo.key_fingerprint(own_key)
        assert stored[made[OPERATOR_KEY].id] == repo.key_fingerprint(OPERATOR_KEY)
        # A key the bot no longer holds: no plain hash left, and no match for any key.
        assert stored[made[gone_key].id] not in {
            sha256(gone_key),
            repo.key_fingerprint(gone_key),
            credential,
            repo.key_fingerprint(OPERATOR_KEY),
        }
        # The links are still found by their keys: payments on them are alerted.
        await sandbox.add_charge(own_key, made[own_key].id, 1234)
        await sandbox.add_charge(OPERATOR_KEY, made[OPERATOR_KEY].id, 4321)
        await tg.wait_for_message(vendor.id, lambda m: "1,234" in m.content, timeout=10)
        await tg.wait_for_message(staff.id, lambda m: "4,321" in m.content, timeout=10)
    finally:
        await world.stop()
    # A second start changes nothing more.
    with sqlite3.connect(settings.database_path) as raw:
        again = dict(raw.execute("SELECT link_id, api_key_fingerprint FROM links"))
    raw.close()
    assert again == stored


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("key", ["generated", "given", "given, old folder"])
async def test_the_data_folder_and_database_are_private(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path, key: str
) -> None:
    data_dir = tmp_path / "data"
    if key == "given, old folder":
        # Left by an earlier version: an open folder and database.
        data_dir.mkdir(mode=0o755)
        (data_dir / "paylinks.sqlite3").touch(mode=0o644)
        assert mode(data_dir) == 0o755 and mode(data_dir / "paylinks.sqlite3") == 0o644
    overrides = (
        {} if key == "generated" else {"bot_encryption_key": Fernet.generate_key().decode()}
    )
    settings = make_settings(tg, sandbox, data_dir, **overrides)
    world = await start_world(tg, sandbox, settings)
    try:
        await world.say(world.user(120, "Aline"), "/start")
        assert mode(data_dir) == 0o700
        database = settings.database_path
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            assert mode(path) == 0o600, path
        assert (data_dir / "secret.key").exists() == (key == "generated")
    finally:
        await world.stop()


# --- point 13: one bot per data folder -------------------------------------------------------


async def test_a_second_bot_on_one_data_folder_says_so_and_exits(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path, processes: list[BotProcess]
) -> None:
    data_dir = tmp_path / "data"
    env = bot_env(tg, data_dir, DGS_API_BASE_URL=sandbox.api_base_url, LOG_LEVEL="INFO")
    user = tg.user(501, "Aline")
    first = await launch(processes, env)
    await tg.send_text(user, "/start")
    await tg.wait_for_message(user.id, timeout=30)

    second = await launch(processes, env)
    code, err = await exit_of(second)
    assert code == 2
    assert err.count("\n") == 1, err
    assert "another bot is already running" in err and str(data_dir) in err
    assert "Traceback" not in err
    # The first goes on answering.
    mark = tg.mark()
    await tg.send_text(user, "/start")
    await tg.wait_for_message(user.id, since=mark, timeout=30)

    # Killed, the first leaves its lock file but not its lock: the next bot starts.
    assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
    assert (data_dir / "bot.lock").exists()
    third = await launch(processes, env)
    mark = tg.mark()
    await tg.send_text(user, "/start")
    await tg.wait_for_message(user.id, since=mark, timeout=30)
    assert await third.stop() == 0
    assert b"another bot" not in third.stderr


# --- point 18: a database that cannot be used ------------------------------------------------


def schema(database: Path) -> tuple[int, list[tuple[str, str]]]:
    """The version and every table and index, with its SQL."""
    with sqlite3.connect(database) as raw:
        version = int(raw.execute("PRAGMA user_version").fetchone()[0])
        objects = raw.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    raw.close()
    return version, objects


def garbage(database: Path) -> str:
    database.write_bytes(b"this is not a database, just some bytes. " * 100)
    return "file is not a database"


def too_new(database: Path) -> str:
    with sqlite3.connect(database) as raw:
        raw.execute("PRAGMA user_version = 999")
    raw.close()
    return "schema version 999"


def failing_migration(database: Path) -> str:
    # At version 2, with a table migration 3 is about to create: it fails.
    with sqlite3.connect(database) as raw:
        for script in MIGRATIONS[:2]:
            assert isinstance(script, str)
            raw.executescript(script)
        raw.executescript("CREATE TABLE drives (x INTEGER); PRAGMA user_version = 2;")
    raw.close()
    return "migration 3 failed"


@pytest.mark.parametrize("damage", [garbage, too_new, failing_migration])
async def test_an_unusable_database_stops_the_bot_with_one_line_naming_it(
    tg: FakeTelegram, tmp_path: Path, processes: list[BotProcess], damage: object
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    database = data_dir / "paylinks.sqlite3"
    assert callable(damage)
    reason = damage(database)
    before = database.read_bytes()
    version = None if damage is garbage else schema(database)
    bot = await launch(processes, bot_env(tg, data_dir, LOG_LEVEL="INFO"))
    code, err = await exit_of(bot)
    assert code == 2
    assert err.count("\n") == 1, err
    assert str(database) in err and reason in err
    assert "Traceback" not in err
    # Nothing written: not a byte of the garbage, no migration half applied.
    if damage is garbage:
        assert database.read_bytes() == before
    else:
        assert schema(database) == version

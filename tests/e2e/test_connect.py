"""/connect and /disconnect: the key is deleted from the chat, checked, stored encrypted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.devtools.sandbox import Sandbox
from tests.conftest import World, make_settings, start_world
from tests.fakes.telegram import FakeTelegram

KEY = "sk_test_vendor_alice_0001"


@pytest.fixture
async def real_world(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> World:
    """A bot that does not auto-connect users: they must /connect a key."""
    settings = make_settings(tg, sandbox, tmp_path / "data")
    world = await start_world(tg, sandbox, settings, auto_connect=False)
    yield world  # type: ignore[misc]
    await world.stop()


async def test_connect_deletes_the_key_and_stores_it_encrypted(real_world: World) -> None:
    world = real_world
    alice = world.user(301, "Alice")
    await world.say(alice, "/connect")
    pasted = await world.tg.send_text(alice, KEY)
    reply = await world.tg.wait_for_message(alice.id, lambda m: "0001" in m.text)
    assert "Connected" in reply.text
    deleted = [r.params["message_id"] for r in world.tg.calls("deleteMessage")]
    assert pasted["message_id"] in deleted
    assert await world.services.repo.get_api_key(alice.id) == KEY
    # Encrypted at rest: the key's text is nowhere in the database file.
    await world.stop()
    raw = b"".join(p.read_bytes() for p in world.settings.bot_data_dir.glob("paylinks.sqlite3*"))
    assert KEY.encode() not in raw


async def test_a_refused_key_is_deleted_and_connect_ends(real_world: World) -> None:
    world = real_world
    bob = world.user(302, "Bob")
    await world.say(bob, "/connect")
    await world.tg.send_text(bob, "live_key_that_is_wrong_1234")
    reply = await world.tg.wait_for_message(bob.id, lambda m: "refused" in m.text)
    assert "/connect to try again" in reply.text
    assert len(world.tg.calls("deleteMessage")) == 1
    assert await world.services.repo.get_api_key(bob.id) is None
    # No longer waiting for a key: trying again starts with /connect.
    await world.say(bob, "/connect")
    await world.tg.send_text(bob, KEY)
    await world.tg.wait_for_message(bob.id, lambda m: "Connected" in m.text)


async def test_commands_needing_a_key_explain_connect(real_world: World) -> None:
    reply = await real_world.say(real_world.user(303), "/start")
    assert "/connect" in reply.text


async def test_disconnect_asks_first(real_world: World) -> None:
    world = real_world
    carol = world.user(304, "Carol")
    await world.services.repo.save_credential(carol.id, KEY)
    ask = await world.say(carol, "/disconnect")
    assert "0001" in ask.text
    kept = await world.press(carol, ask, "disconnect:no")
    assert await world.services.repo.get_api_key(carol.id) == KEY
    ask = await world.say(carol, "/disconnect")
    done = await world.press(carol, ask, "disconnect:yes")
    assert "forgotten" in done.text and "stays" in kept.text
    assert await world.services.repo.get_api_key(carol.id) is None


async def test_connect_in_a_group_is_refused_and_a_pasted_key_deleted(real_world: World) -> None:
    world = real_world
    dan = world.user(305, "Dan")
    group = world.tg.group(-1001, "Market", {dan: "member"})
    await world.tg.add_bot_to_group(dan, group)
    await world.tg.send_text(dan, "/connect", chat=group)
    reply = await world.tg.wait_for_message(group.id, lambda m: "private" in m.text)
    assert "never in a group" in reply.text
    # Privacy mode: the bot sees the paste because it replies to the bot's message.
    pasted = await world.tg.send_text(dan, f"here: {KEY}", chat=group, reply_to=reply)
    await world.tg.wait_for_message(group.id, lambda m: "revoke" in m.text)
    deleted = [r.params["message_id"] for r in world.tg.calls("deleteMessage")]
    assert pasted["message_id"] in deleted


async def test_settings_fixture_is_isolated(settings: Settings) -> None:
    assert settings.dgs_api_key is None


async def test_operator_key_serves_listed_users_only(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = make_settings(
        tg,
        sandbox,
        tmp_path / "data",
        dgs_api_key="sk_test_operator_market_01",
        dgs_allowed_users="701",
    )
    world = await start_world(tg, sandbox, settings, auto_connect=False)
    try:
        listed, other = world.user(701, "Listed"), world.user(702, "Other")
        mark = tg.mark()
        await tg.send_text(listed, "/new 5000 Rent")
        card = await tg.wait_for_message(listed.id, lambda m: m.photo is not None, since=mark)
        assert "Rent" in card.content
        (post,) = [r for r in await sandbox.requests() if r["method"] == "POST"]
        assert post["key"] == "t_01"  # the operator's key, as the sandbox logs it (last 4)
        reply = await world.say(other, "/new 5000 Rent")
        assert "/connect" in reply.content
        assert len([r for r in await sandbox.requests() if r["method"] == "POST"]) == 1
    finally:
        await world.stop()

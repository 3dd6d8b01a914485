"""Trust (issue 12): a pending /connect never swallows other text, edits are not acted on,
and a key of any shape stays out of the logs.

Through the real handler order: the in-process ``world`` for the chat, the bot process
(``python -m bot`` at ``LOG_LEVEL=DEBUG``) for what reaches the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.devtools.sandbox import Sandbox
from handlers import connect
from tests.conftest import World, make_settings, start_world
from tests.e2e.test_process import BotProcess, bot_env
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

# Not shaped like sk_…: the pattern redaction cannot catch it, only knowing it can.
ODD_KEY = "Zx9-unknown-shape-KEY-7781"
EDIT_LINE = "I do not act on edited messages"


async def _requests(world: World) -> list[dict[str, Any]]:
    return list(await world.sandbox.requests())


def _deleted(world: World) -> list[int]:
    return [int(r.params["message_id"]) for r in world.tg.calls("deleteMessage")]


async def _settled(world: World, user: FakeUser) -> None:
    """Every earlier update of ``user`` is handled: updates of one chat run in order, so
    once /help is answered, whatever came before it was too (a stray text before it gets the
    fallback's hint first: issue 14)."""
    mark = world.tg.mark()
    await world.tg.send_text(user, "/help")
    await world.tg.wait_for_message(user.id, lambda m: "What I can do" in m.content, since=mark)


async def _refused_connect(world: World, user: FakeUser) -> FakeMessage:
    await world.say(user, "/connect")
    mark = world.tg.mark()
    await world.tg.send_text(user, ODD_KEY)
    return await world.tg.wait_for_message(user.id, lambda m: "refused" in m.content, since=mark)


# --- point 5: an unfinished /connect does not take over private text -------------------------


async def test_a_refused_key_ends_connect_and_the_next_form_title_reaches_the_form(
    world: World,
) -> None:
    vendor = world.user(811, "Aline")
    refusal = await _refused_connect(world, vendor)
    assert "/connect" in refusal.content  # how to try again
    before = len(await _requests(world))

    kind = await world.say(vendor, "/new")
    await world.tg.press(vendor, kind, text="Fixed amount")
    await world.tg.wait_for_message(vendor.id, lambda m: "payment for" in m.content)
    title = await world.tg.send_text(vendor, "Sambusa-Festival")
    currency = await world.tg.wait_for_message(vendor.id, lambda m: "currency" in m.content)

    assert "Sambusa-Festival" in currency.content or "RWF" in currency.button_texts
    assert title["message_id"] not in _deleted(world)
    # Nothing was sent to the provider with the title as a key (the sandbox logs a key's
    # last 4 characters): no request at all since the refusal.
    assert [r for r in (await _requests(world))[before:] if r["key"] == "ival"] == []
    assert len(await _requests(world)) == before


async def test_another_command_ends_a_pending_connect(world: World) -> None:
    vendor = world.user(812, "Bosco")
    ask = await world.say(vendor, "/connect")
    assert "Paste your DGS key" in ask.content
    await _settled(world, vendor)  # /help: another command
    before = len(await _requests(world))
    stray = await world.tg.send_text(vendor, "Chapati-Stall-2024")
    await _settled(world, vendor)
    assert stray["message_id"] not in _deleted(world)
    assert len(await _requests(world)) == before


async def test_a_button_that_opens_the_form_ends_a_pending_connect(world: World) -> None:
    vendor = world.user(813, "Claire")
    welcome = await world.say(vendor, "/start")
    await world.say(vendor, "/connect")
    mark = world.tg.mark()
    await world.tg.press(vendor, welcome, text="➕ New link")
    kind = await world.tg.wait_for_message(vendor.id, lambda m: bool(m.buttons), since=mark)
    await world.tg.press(vendor, kind, text="Fixed amount")
    await world.tg.wait_for_message(vendor.id, lambda m: "payment for" in m.content)
    before = len(await _requests(world))
    title = await world.tg.send_text(vendor, "Mandazi-Order")
    await world.tg.wait_for_message(vendor.id, lambda m: "currency" in m.content)
    assert title["message_id"] not in _deleted(world)
    assert len(await _requests(world)) == before


async def test_connect_ends_after_ten_idle_minutes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert connect.KEY_WAIT_SECONDS == 600
    monkeypatch.setattr(connect, "KEY_WAIT_SECONDS", 1.0)
    vendor = world.user(814, "Dany")
    await world.say(vendor, "/connect")
    notice = await world.tg.wait_for_message(vendor.id, timeout=5)
    assert "/connect" in notice.content and "stopped waiting" in notice.content
    before = len(await _requests(world))
    late = await world.tg.send_text(vendor, "Chapati-Stall-2024")
    await _settled(world, vendor)
    assert late["message_id"] not in _deleted(world)
    assert len(await _requests(world)) == before


async def test_connect_still_takes_the_key_sent_right_after_it(world: World) -> None:
    vendor = world.user(815, "Eric")
    await world.say(vendor, "/connect")
    pasted = await world.tg.send_text(vendor, "sk_test_trust_vendor_0815")
    done = await world.tg.wait_for_message(vendor.id, lambda m: "Connected" in m.content)
    assert "0815" in done.content
    assert pasted["message_id"] in _deleted(world)
    assert await world.services.repo.get_api_key(vendor.id) == "sk_test_trust_vendor_0815"


# --- point 7: edited messages are not acted on -----------------------------------------------


async def test_an_edited_quick_create_makes_no_second_link(world: World) -> None:
    vendor = world.user(821, "Fabrice")
    mark = world.tg.mark()
    sent = await world.tg.send_text(vendor, "/new 5000 Rnet")
    await world.tg.wait_for_message(vendor.id, lambda m: m.photo is not None, since=mark)
    mark = world.tg.mark()
    await world.tg.edit_text(vendor, sent, "/new 5000 Rent")
    line = await world.tg.wait_for_message(vendor.id, since=mark)
    assert EDIT_LINE in line.content
    await world.tg.edit_text(vendor, sent, "/new 5000 Rent!")  # once per message is enough
    await _settled(world, vendor)

    posts = [r for r in await _requests(world) if r["method"] == "POST"]
    assert len(posts) == 1
    said = [m for m in world.tg.history(vendor.id) if m.from_bot and EDIT_LINE in m.content]
    assert len(said) == 1


async def test_an_edited_form_answer_does_not_move_the_form(world: World) -> None:
    vendor = world.user(822, "Gisele")
    kind = await world.say(vendor, "/new")
    await world.tg.press(vendor, kind, text="Fixed amount")
    await world.tg.wait_for_message(vendor.id, lambda m: "payment for" in m.content)
    await world.tg.send_text(vendor, "School fees")
    currency = await world.tg.wait_for_message(vendor.id, lambda m: "currency" in m.content)
    await world.tg.press(vendor, currency, text="RWF")
    await world.tg.wait_for_message(vendor.id, lambda m: "How much" in m.content)
    wrong = await world.tg.send_text(vendor, "lots")
    await world.tg.wait_for_message(vendor.id)  # refused: the same step again

    mark = world.tg.mark()
    await world.tg.edit_text(vendor, wrong, "15000")
    summary = await world.say(vendor, "12000")
    assert "Check your link" in summary.content and "12,000" in summary.content
    answers = [m for m in world.tg.changes_since(mark) if m.from_bot]
    assert [m for m in answers if "Check your link" in m.content] == [summary]
    assert not any("15,000" in m.content for m in answers)


async def test_a_key_edited_into_a_group_message_is_still_deleted(world: World) -> None:
    member = world.user(823, "Hakim")
    group = world.tg.group(-1008230, "Market", {member: "member"})
    await world.tg.add_bot_to_group(member, group)
    await world.tg.send_text(member, "/connect", chat=group)
    reply = await world.tg.wait_for_message(group.id, lambda m: "private" in m.content)
    sent = await world.tg.send_text(member, "hello", chat=group, reply_to=reply)
    await world.tg.edit_text(member, sent, "oops sk_test_pasted_in_group_0823")
    await world.tg.wait_for_message(group.id, lambda m: "revoke" in m.content)
    assert sent["message_id"] in _deleted(world)


# --- point 11: keys of any shape stay out of the log -----------------------------------------


def _process(tg: FakeTelegram, sandbox: Sandbox, data_dir: Path) -> BotProcess:
    return BotProcess(bot_env(tg, data_dir, DGS_API_BASE_URL=sandbox.api_base_url))


async def _help(tg: FakeTelegram, user: FakeUser) -> None:
    mark = tg.mark()
    await tg.send_text(user, "/help")
    await tg.wait_for_message(
        user.id, lambda m: "What I can do" in m.content, since=mark, timeout=30
    )


async def test_a_key_of_unknown_shape_pasted_after_connect_is_never_logged(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path
) -> None:
    bot = _process(tg, sandbox, tmp_path / "data")
    await bot.start()
    try:
        vendor = tg.user(831, "Ines")
        await tg.send_text(vendor, "/connect")
        await tg.wait_for_message(vendor.id, lambda m: "Paste" in m.content, timeout=30)
        await tg.send_text(vendor, ODD_KEY)
        await tg.wait_for_message(vendor.id, lambda m: "refused" in m.content, timeout=15)
        await _help(tg, vendor)
    finally:
        assert await bot.stop() == 0
    assert b"getUpdates" in bot.stderr  # PTB's DEBUG lines, updates included, are there
    assert ODD_KEY.encode() not in bot.stderr


async def test_a_stored_key_of_unknown_shape_is_never_logged_after_a_restart(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    vendor = tg.user(832, "Jean")
    first = await start_world(tg, sandbox, make_settings(tg, sandbox, data_dir))
    await first.services.repo.save_credential(vendor.id, ODD_KEY)
    await first.stop()

    bot = _process(tg, sandbox, data_dir)
    await bot.start()
    try:
        await _help(tg, vendor)
        # Pasted again by mistake, outside /connect: PTB logs the update at DEBUG.
        await tg.send_text(vendor, f"my key {ODD_KEY}")
        await _help(tg, vendor)
    finally:
        assert await bot.stop() == 0
    assert b"getUpdates" in bot.stderr
    assert ODD_KEY.encode() not in bot.stderr

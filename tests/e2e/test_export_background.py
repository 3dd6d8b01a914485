"""/export in the background (issue 12, points 19 and 8), over the fake Bot API and the sandbox.

The export runs beside the chat's ordered queue: /help is answered while it works, a second
/export says it is already running, the progress line is one message edited in place, links
with a fresh stored snapshot are not fetched again, and asked in a group the file goes to the
person in private with one line in the group.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bot.config import Settings
from bot.devtools.sandbox import Sandbox
from handlers import edit
from tests.conftest import World, eventually, make_settings, start_world
from tests.e2e.test_dashboard import key_of, make_link, sandbox_calls
from tests.e2e.test_share_export import rows_of
from tests.fakes.telegram import FakeMessage, FakeTelegram

pytestmark = pytest.mark.timeout(90)

GROUP_ID = -1007001


@pytest.fixture
def settings(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> Settings:
    """No pacing to speak of; the poller polls a new link once, then not for 10 minutes, so
    every provider call during an export is the export's own or a first poll."""
    return make_settings(
        tg,
        sandbox,
        tmp_path / "data",
        dgs_requests_per_second=1000.0,
        poll_interval_seconds=600.0,
    )


def has_document(message: FakeMessage) -> bool:
    return message.document is not None


async def test_help_is_answered_while_a_slow_export_runs(world: World) -> None:
    aline = world.user(701, "Aline")
    key = key_of(aline)
    await world.say(aline, "/links")  # connects the key (auto-connect), so the poller polls
    known = await make_link(world, aline, title="Known stall")

    async def snapshot_stored() -> bool:
        stored = await world.services.repo.get_link(known.id)
        return stored is not None and stored.snapshot is not None

    await eventually(snapshot_stored, timeout=20)
    # 40 links made on the provider's dashboard: the bot has no snapshot of them.
    seeded = world.sandbox.seed_links(key, 40, title="Stall")
    await world.sandbox.set_key_delay(key, 0.6)  # every call of this key takes 0.6 s
    await world.sandbox.clear_requests()
    mark = world.tg.mark()
    await world.tg.send_text(aline, "/export")
    progress = await world.tg.wait_for_message(aline.id, since=mark)
    assert "Preparing" in progress.content

    await world.tg.send_text(aline, "/help")
    helped = await world.tg.wait_for_message(aline.id, lambda m: "What I can do" in m.content)
    assert not [m for m in world.tg.sent_to(aline.id) if m.revision > mark and has_document(m)]
    assert helped.message_id != progress.message_id

    await world.tg.send_text(aline, "/export")
    running = await world.tg.wait_for_message(aline.id, lambda m: "already running" in m.content)
    assert running.message_id != progress.message_id

    sent = await world.tg.wait_for_message(aline.id, has_document, timeout=60, since=mark)
    await world.sandbox.set_key_delay(key, 0)
    assert sent.document is not None
    rows = rows_of(sent.document)
    assert {row["id"] for row in rows} == {known.id, *seeded}
    assert {row["title"] for row in rows} >= {"Known stall", "Stall 1", "Stall 40"}
    assert "41 links" in (sent.caption or "")

    # One progress line, edited in place: a count on the way, "ready" at the end.
    await world.tg.wait_for_message(
        aline.id,
        lambda m: m.message_id == progress.message_id and "Export ready" in m.content,
        since=mark,
    )
    edits = [
        call
        for call in world.tg.calls("editMessageText")
        if call.params.get("message_id") == progress.message_id
    ]
    texts = [str(call.params["text"]) for call in edits]
    assert any("/ 41 links" in text for text in texts), texts
    assert "Export ready: 41 links" in texts[-1]
    times = [call.time for call in edits]
    assert all(b - a >= 1.9 for a, b in itertools.pairwise(times[:-1])), times
    assert "Export ready" in world.tg.message(aline.id, progress.message_id).content
    assert len([m for m in world.tg.sent_to(aline.id) if m.revision > mark]) == 4

    # The snapshot was fresh: the export did not ask the provider for that link again; the
    # links it had never seen, it did.
    assert not await sandbox_calls(world, "GET", known.id)
    for link_id in seeded:
        assert await sandbox_calls(world, "GET", link_id)

    # Finished: a new /export starts again.
    mark = world.tg.mark()
    await world.tg.send_text(aline, "/export")
    again = await world.tg.wait_for_message(aline.id, has_document, timeout=30, since=mark)
    assert again.document is not None and len(rows_of(again.document)) == 41


async def test_export_sent_in_a_group_goes_to_the_sender_in_private(world: World) -> None:
    paul = world.user(702, "Paul")
    group = world.tg.group(GROUP_ID, "Kimironko market", {paul: "creator"})
    mark = world.tg.mark()
    await world.tg.add_bot_to_group(paul, group)
    await world.tg.wait_for_message(GROUP_ID, since=mark)
    link = await make_link(world, paul, title="Choir robes")
    await world.sandbox.add_charge(
        key_of(paul), link.id, 5000, payer_name="Aline", payer_phone="+250788123456"
    )

    mark = world.tg.mark()
    await world.tg.send_text(paul, "/export", chat=group)
    sent = await world.tg.wait_for_message(paul.id, has_document, timeout=30, since=mark)
    assert sent.document is not None
    assert [row["title"] for row in rows_of(sent.document)] == ["Choir robes"]
    in_group = [m for m in world.tg.sent_to(GROUP_ID) if m.revision > mark]
    assert len(in_group) == 1, [m.content for m in in_group]
    assert "private" in in_group[0].content and in_group[0].document is None
    for message in world.tg.history(GROUP_ID):
        assert "788123456" not in message.content and "Aline" not in message.content


async def test_the_editors_left_prompt_set_stays_bounded(
    tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many people sending commands: the editor remembers only the latest ones who left a
    prompt (the oldest are forgotten), not everyone who ever sent a command."""
    monkeypatch.setattr(edit, "LEFT_PROMPTS_MAX", 20, raising=False)
    settings = make_settings(tg, sandbox, tmp_path / "data", dgs_requests_per_second=1000.0)
    world = await start_world(tg, sandbox, settings)
    try:
        prompts = next(
            handler.callback.__self__  # type: ignore[attr-defined]
            for handler in world.app.handlers[-2]
            if isinstance(getattr(handler.callback, "__self__", None), edit._Prompts)
        )
        for user_id in range(7100, 7160):
            await world.say(world.user(user_id, f"U{user_id}"), "/help")
        assert len(prompts.left) == 20
        assert (7159, 7159) in prompts.left and (7100, 7100) not in prompts.left
    finally:
        await world.stop()

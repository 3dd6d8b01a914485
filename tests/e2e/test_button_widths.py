"""Issue 14, point 5: buttons that fit a phone, in every language, on every screen a vendor
walks through: /start, the create form with each step and More options, the summary, the
card, the editor, archive, /links, /language, /notifications, a drive in a group.

Every keyboard the fake Bot API received is read back (sent, edited or replaced) and each
row checked: a button alone holds 30 places, two side by side 16 each, more share the width.
An emoji takes two places. The vendor's long title and description are typed on purpose: the
bot must cut what it puts of them in a label.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot import callbacks
from bot.config import Settings
from bot.devtools.sandbox import Sandbox
from tests.conftest import World, make_settings
from tests.e2e.test_groups import GROUP_ID, Parish, start_drive
from tests.e2e.test_groups import parish as parish  # noqa: PLC0414 - the fixture, by name
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser

pytestmark = pytest.mark.timeout(120)

LANGUAGES = ("rw", "en", "fr", "sw")
# The budget: ~30 places for a button alone, ~16 for each of two; more share 32.
BUDGET = {1: 30, 2: 16}
LONG_TITLE = "Ubukwe bwa Mukamana na Habimana: inkunga y'umuryango wose"
LONG_WORDS = "Amafaranga yo kugura amabati mashya yo gusakara igisenge cy'itorero ryacu"
KEYBOARD_METHODS = {
    "sendmessage",
    "sendphoto",
    "editmessagetext",
    "editmessagecaption",
    "editmessagereplymarkup",
}


@pytest.fixture
def settings(tg: FakeTelegram, sandbox: Sandbox, tmp_path: Path) -> Settings:
    return make_settings(tg, sandbox, tmp_path / "data", dgs_requests_per_second=1000.0)


def places(label: str) -> int:
    """How wide a label reads on a phone: wide signs (emoji, ✅) take two places."""
    return sum(
        0
        if unicodedata.combining(c) or c in "\ufe0f\u200d"
        else 2
        if unicodedata.east_asian_width(c) in ("W", "F")
        else 1
        for c in label
    )


def keyboards(world: World, chat_id: int) -> list[list[list[dict[str, Any]]]]:
    """Every inline keyboard the bot sent to ``chat_id``, in order."""
    found = []
    for request in world.tg.requests:
        markup = request.params.get("reply_markup")
        if request.method.lower() not in KEYBOARD_METHODS or not isinstance(markup, dict):
            continue
        if str(request.params.get("chat_id")) == str(chat_id) and markup.get("inline_keyboard"):
            found.append(markup["inline_keyboard"])
    return found


def too_wide(rows: list[list[dict[str, Any]]]) -> list[str]:
    cut = []
    for row in rows:
        room = BUDGET.get(len(row), 32 // len(row) - 1)
        cut += [
            f"{b['text']!r} ({places(b['text'])} > {room}, {len(row)} a row)"
            for b in row
            if places(b["text"]) > room
        ]
    return cut


def data_of(message: FakeMessage, wanted: Callable[[str], bool]) -> str:
    for row in message.buttons:
        for b in row:
            if "callback_data" in b and wanted(str(b["callback_data"])):
                return str(b["callback_data"])
    raise AssertionError(f"no such button: {message.describe()}")


class Walk:
    """One vendor pressing buttons by their data (the same in every language)."""

    def __init__(self, world: World, user: FakeUser) -> None:
        self.world, self.user = world, user
        self.last: FakeMessage | None = None

    async def _next(self, mark: int, where: Callable[[FakeMessage], bool] | None) -> FakeMessage:
        self.last = await self.world.tg.wait_for_message(
            self.user.id, where or (lambda m: bool(m.buttons)), since=mark, timeout=10
        )
        return self.last

    async def say(self, text: str) -> FakeMessage:
        mark = self.world.tg.mark()
        await self.world.tg.send_text(self.user, text)
        return await self._next(mark, None)

    async def press(
        self, wanted: Callable[[str], bool], where: Callable[[FakeMessage], bool] | None = None
    ) -> FakeMessage:
        assert self.last is not None
        mark = self.world.tg.mark()
        await self.world.tg.press(self.user, self.last, callback_data=data_of(self.last, wanted))
        return await self._next(mark, where)

    async def form(self, action: str, arg: str = "", **wait: Any) -> FakeMessage:
        def wanted(data: str) -> bool:
            parts = data.split(":", 3)
            return (
                data.startswith(callbacks.FORM)
                and parts[2] == action
                and (not arg or parts[3] == arg)
            )

        return await self.press(wanted, **wait)

    def offers(self, action: str) -> bool:
        """The last message has the form's ``action`` button."""
        assert self.last is not None
        return any(
            str(b.get("callback_data", "")).startswith(callbacks.FORM)
            and str(b.get("callback_data", "")).split(":", 3)[2] == action
            for row in self.last.buttons
            for b in row
        )

    async def form_if(self, action: str, arg: str = "") -> None:
        if self.offers(action):
            await self.form(action, arg)

    async def tap(self, prefix: str, contains: str = "", **wait: Any) -> FakeMessage:
        return await self.press(lambda d: d.startswith(prefix) and contains in d, **wait)


async def walk_everything(walk: Walk) -> None:
    await walk.say("/start")
    await walk.say("/new")
    await walk.form("kind", "fixed")
    await walk.say(LONG_TITLE)
    await walk.form_if("cur", "RWF")  # asked unless the vendor's last currency is known
    await walk.say("5000")  # the summary
    while LONG_TITLE[:8] not in str(walk.last and walk.last.buttons):
        await walk.form("back")  # back to the title: each step with its buttons
    await walk.form("keep")  # Keep showed the long title
    await walk.form_if("cur", "RWF")
    await walk.form("keep")  # the amount: the summary again
    assert walk.offers("create")
    await walk.form("more")
    await walk.form("opt", "methods")
    await walk.form("pt", "card")
    await walk.form("back")
    await walk.form("opt", "max_uses")
    await walk.form("mu", "10")
    await walk.form("opt", "expiry")
    await walk.form("ex", "7")
    await walk.form("opt", "description")
    await walk.say(LONG_WORDS)
    await walk.form("opt", "slug")
    await walk.form("slug")
    await walk.form("col", "phone")
    await walk.form("col", "name")
    await walk.form("back")  # the summary
    await walk.form("create", where=lambda m: m.photo is not None and bool(m.buttons))
    await walk.tap(callbacks.LINK_CARD, where=lambda m: "de:" in str(m.buttons))
    await walk.tap(callbacks.EDIT)  # the editor's menu
    await walk.tap(callbacks.EDIT_FIELD, ":description:")
    await walk.tap(callbacks.EDIT)  # Back, from the prompt (Remove beside it)
    await walk.tap(callbacks.EDIT_FIELD, ":payment_types:")
    await walk.tap(callbacks.EDIT)
    await walk.tap(callbacks.EDIT_FIELD, ":collect_address:")  # a switch, saved at once
    await walk.tap(callbacks.LINK_CARD)  # Back to the card
    await walk.tap(callbacks.MUTE)
    await walk.tap(callbacks.ARCHIVE)  # asks to confirm
    await walk.tap(callbacks.LINK_CARD)  # No
    await walk.tap(callbacks.LIST)  # the list
    await walk.say("/links")
    await walk.say("/language")
    await walk.say("/notifications")


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_button_a_vendor_meets_fits_a_phone(world: World, language: str) -> None:
    user = world.user(700 + LANGUAGES.index(language), "Aline", language=language)
    await walk_everything(Walk(world, user))
    shown = keyboards(world, user.id)
    datas = {str(b.get("callback_data", "")) for rows in shown for row in rows for b in row}
    # The walk saw every screen (no keyboard was missed because the walk stopped short).
    for prefix in ("start:new", "lk:", "de:", "df:", "dz:", "dm:", "lm:", "da:", "dy:", "dl:"):
        assert any(d.startswith(prefix) for d in datas), prefix
    for action in (":kind:", ":keep:", ":opt:", ":pt:", ":mu:", ":ex:", ":slug:", ":col:"):
        assert any(d.startswith("f:") and action in d for d in datas), action
    assert any(d.startswith(callbacks.LANGUAGE) for d in datas)
    assert any(d.startswith(callbacks.NOTIFY) for d in datas)
    cut = [line for rows in shown for line in too_wide(rows)]
    assert not cut, "\n".join(sorted(set(cut)))


@pytest.mark.parametrize("language", LANGUAGES)
async def test_switches_show_their_state_in_the_form_and_the_editor(
    world: World, language: str
) -> None:
    user = world.user(710 + LANGUAGES.index(language), "Aline", language=language)
    walk = Walk(world, user)
    await walk.say("/new")
    await walk.form("kind", "fixed")
    await walk.say("Rent")
    await walk.form("cur", "RWF")
    await walk.say("5000")
    options = await walk.form("more")

    def switch(message: FakeMessage, arg: str) -> str:
        (label,) = [
            b["text"]
            for row in message.buttons
            for b in row
            if str(b.get("callback_data", "")).endswith(f":col:{arg}")
        ]
        return str(label)

    before = switch(options, "phone")  # asked by default
    assert before.startswith("✅ ") and ":" not in before, before
    after = switch(await walk.form("col", "phone"), "phone")
    assert after == "⬜ " + before.removeprefix("✅ ")
    assert switch(walk.last, "address").startswith("⬜ ")  # not asked by default
    await walk.form("back")
    await walk.form("create", where=lambda m: m.photo is not None and bool(m.buttons))
    await walk.tap(callbacks.LINK_CARD, where=lambda m: "de:" in str(m.buttons))
    menu = await walk.tap(callbacks.EDIT)

    def editor_switch(message: FakeMessage) -> str:
        (label,) = [
            b["text"]
            for row in message.buttons
            for b in row
            if ":collect_phone:" in str(b.get("callback_data", ""))
        ]
        return str(label)

    assert editor_switch(menu) == after  # the link does not ask the phone
    await walk.tap(callbacks.EDIT_FIELD, ":collect_phone:")  # saved: back on the card
    menu = await walk.tap(callbacks.EDIT)
    assert editor_switch(menu) == before


async def test_a_drive_in_a_group_has_buttons_that_fit(world: World, parish: Parish) -> None:
    await parish.join("administrator")
    await start_drive(world, parish)
    group = keyboards(world, GROUP_ID)
    private = keyboards(world, parish.grace.id)
    assert group and private
    cut = [line for rows in group + private for line in too_wide(rows)]
    assert not cut, "\n".join(sorted(set(cut)))

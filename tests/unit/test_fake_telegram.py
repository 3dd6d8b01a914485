"""The fake Bot API, driven by a real PTB ``Bot`` and a real long-polling ``Application``."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import io
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from telegram import (
    Bot,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from tests import factories
from tests.conftest import eventually
from tests.fakes import telegram as fake
from tests.fakes.telegram import FakeTelegram

Context = ContextTypes.DEFAULT_TYPE


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as client:
        yield client


def build_app(tg: FakeTelegram) -> Application:
    return (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )


@contextlib.asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    await app.start()
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


def png(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d)] for d in data])


# Sending, editing, deleting ---------------------------------------------------------------


async def test_get_me_describes_the_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (fake.BOT_ID, fake.BOT_USERNAME, True)
    assert me.supports_inline_queries


async def test_send_edit_delete_update_the_stored_chat(tg: FakeTelegram, bot: Bot) -> None:
    tg.user(5, "Alice")
    tg.user(6, "Bob")
    first = await bot.send_message(5, "one")
    second = await bot.send_message(5, "two", reply_markup=keyboard("a", "b"))
    other = await bot.send_message(6, "hi Bob")
    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert first.from_user is not None
    assert first.from_user.id == fake.BOT_ID
    assert first.chat.id == 5
    assert first.chat.type == "private"

    await bot.edit_message_text("one, edited", 5, first.message_id, reply_markup=keyboard("c"))
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("one, edited", 5, first.message_id, reply_markup=keyboard("c"))
    # Editing the text without a keyboard removes it, as on Telegram.
    await bot.edit_message_text("one, edited", 5, first.message_id)
    await bot.edit_message_reply_markup(5, second.message_id, reply_markup=keyboard("z"))
    await bot.delete_message(5, first.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(5, first.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("gone", 5, first.message_id)

    stored = tg.sent_to(5)
    assert [(m.message_id, m.text, m.button_texts) for m in stored] == [(2, "two", ["z"])]
    assert stored[0].edited
    assert stored[0].buttons == [[{"text": "z", "callback_data": "z"}]]
    assert [m.text for m in tg.sent_to(6)] == ["hi Bob"]
    assert [m.text for m in tg.history(5, include_deleted=True)] == ["one, edited", "two"]


async def test_photo_upload_file_id_reuse_download_and_document(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.user(5)
    image = png()
    sent = await bot.send_photo(5, image, caption="<b>QR</b>", parse_mode=ParseMode.HTML)
    largest = sent.photo[-1]
    assert (largest.width, largest.height) == (40, 30)
    assert sent.caption == "QR"
    assert sent.caption_entities[0].type == "bold"

    again = await bot.send_photo(5, largest.file_id)
    assert again.photo[-1].file_id == largest.file_id

    file = await bot.get_file(largest.file_id)
    assert bytes(await file.download_as_bytearray()) == image

    document = await bot.send_document(5, b"id,amount\n1,5000\n", filename="links.csv")
    assert document.document is not None
    assert document.document.file_name == "links.csv"

    stored = tg.sent_to(5)
    assert [m.photo for m in stored[:2]] == [image, image]
    assert [m.reused_file for m in stored] == [False, True, False]
    assert (stored[2].document, stored[2].filename) == (b"id,amount\n1,5000\n", "links.csv")
    upload = tg.calls("sendPhoto")[0]
    assert upload.files["photo"].content == image
    assert upload.params["caption"] == "<b>QR</b>"


async def test_photo_must_be_an_image_and_file_ids_keep_their_type(
    tg: FakeTelegram, bot: Bot
) -> None:
    tg.user(5)
    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(5, b"not an image")
    document = await bot.send_document(5, b"x", filename="a.txt")
    assert document.document is not None
    with pytest.raises(BadRequest, match=r"(?i)can't use file of type Document as Photo"):
        await bot.send_photo(5, document.document.file_id)
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_photo(5, "no-such-file-id")
    assert len(tg.sent_to(5)) == 1


# Telegram's validations -------------------------------------------------------------------


REJECTED_HTML = [
    "5 < 6",
    "Tom & Jerry",
    "<b>unclosed",
    "<b><i>crossed</b></i>",
    "closing only</b>",
    "<script>x</script>",
    "<span>not a spoiler</span>",
    "&nbsp;is not supported",
]


async def test_html_that_telegram_rejects(tg: FakeTelegram, bot: Bot) -> None:
    # One server for all cases keeps this fast; each case is still reported by name.
    tg.user(5)
    outcomes: dict[str, str] = {}
    for text in REJECTED_HTML:
        try:
            await bot.send_message(5, text, parse_mode=ParseMode.HTML)
        except BadRequest as error:
            outcomes[text] = (
                "rejected" if "can't parse entities" in str(error).lower() else str(error)
            )
        else:
            outcomes[text] = "accepted"
    assert outcomes == dict.fromkeys(REJECTED_HTML, "rejected")
    assert tg.sent_to(5) == []


async def test_html_is_parsed_into_text_and_entities(tg: FakeTelegram, bot: Bot) -> None:
    tg.user(5)
    source = (
        '<b>Pay</b> 5&#160;000 RWF &lt;now&gt; &amp; <a href="https://pay.example/l?a=1&amp;b=2">'
        "link</a> <tg-spoiler>s</tg-spoiler> "
        '<pre><code class="language-py">x</code></pre> 👍<i>é</i>'
    )
    sent = await bot.send_message(5, source, parse_mode=ParseMode.HTML)
    assert sent.text == "Pay 5\xa0000 RWF <now> & link s x 👍é"
    found = {(e.type, sent.parse_entity(e)) for e in sent.entities}
    assert found == {
        ("bold", "Pay"),
        ("text_link", "link"),
        ("spoiler", "s"),
        ("pre", "x"),
        ("italic", "é"),
    }
    link = next(e for e in sent.entities if e.type == "text_link")
    assert link.url == "https://pay.example/l?a=1&b=2"
    pre = next(e for e in sent.entities if e.type == "pre")
    assert pre.language == "py"
    # Without a parse mode the same characters are plain text.
    plain = await bot.send_message(5, "5 < 6 & 7")
    assert plain.text == "5 < 6 & 7"


async def test_text_and_caption_length_limits(tg: FakeTelegram, bot: Bot) -> None:
    tg.user(5)
    await bot.send_message(5, "x" * 4096)
    # Markup does not count towards the limit; the parsed text does.
    await bot.send_message(5, "<b>" + "x" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(5, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(5, "&amp;" * 4097, parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(5, "   ")
    await bot.send_photo(5, png(), caption="c" * 1024)
    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        await bot.send_photo(5, png(), caption="c" * 1025)
    first = tg.sent_to(5)[0]
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.edit_message_text("y" * 4097, 5, first.message_id)
    assert len(tg.sent_to(5)) == 3


@pytest.mark.parametrize(
    ("data", "accepted"),
    [("x" * 64, True), ("x" * 65, False), ("é" * 32, True), ("é" * 33, False)],
)
async def test_callback_data_is_limited_to_64_bytes(
    tg: FakeTelegram, bot: Bot, data: str, accepted: bool
) -> None:
    tg.user(5)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]])
    sent = await bot.send_message(5, "menu", reply_markup=markup)
    long_markup = InlineKeyboardMarkup([[InlineKeyboardButton("pay", callback_data=data)]])
    if accepted:
        await bot.send_message(5, "menu", reply_markup=long_markup)
        await bot.edit_message_reply_markup(5, sent.message_id, reply_markup=long_markup)
    else:
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(5, "menu", reply_markup=long_markup)
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.edit_message_reply_markup(5, sent.message_id, reply_markup=long_markup)
    assert len(tg.sent_to(5)) == (2 if accepted else 1)


async def test_commands_are_recorded_per_scope_and_language(tg: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([("start", "Start"), ("new", "New link")])
    await bot.set_my_commands([("start", "Tangira")], language_code="rw")
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Start", "capital letters are not allowed")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "new"]
    assert [c.description for c in await bot.get_my_commands(language_code="rw")] == ["Tangira"]
    assert tg.commands[("default", "rw")] == [{"command": "start", "description": "Tangira"}]


async def test_unknown_methods_are_tolerated_and_recorded(tg: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_my_description("Payment links for vendors") is True
    call = await tg.wait_for_request("setMyDescription")
    assert call.params["description"] == "Payment links for vendors"
    assert call.token == tg.token


async def test_expected_token_rejects_other_tokens(tg: FakeTelegram) -> None:
    tg.expect_token("1000:the-right-one")
    async with Bot("1000:the-right-one", base_url=tg.base_url) as good:
        assert good.username == fake.BOT_USERNAME
    wrong = Bot("1000:a-wrong-one", base_url=tg.base_url)
    with pytest.raises(InvalidToken):
        await wrong.initialize()
    await wrong.shutdown()
    assert {c.token for c in tg.calls("getMe")} == {"1000:the-right-one", "1000:a-wrong-one"}


# People talking to a polling Application --------------------------------------------------


async def test_command_callback_and_inline_round_trip(tg: FakeTelegram) -> None:
    alice = tg.user(5, "Alice")
    app = build_app(tg)

    async def start(update: Update, context: Context) -> None:
        assert update.effective_message is not None
        buttons = [
            [InlineKeyboardButton("Pay", callback_data="pay:1")],
            [InlineKeyboardButton("Site", url="https://example.org")],
        ]
        await update.effective_message.reply_text(
            "Menu", reply_markup=InlineKeyboardMarkup(buttons)
        )

    async def pressed(update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Paid!", show_alert=True)
        await query.edit_message_text(f"Done {query.data}")

    async def inline(update: Update, context: Context) -> None:
        query = update.inline_query
        assert query is not None
        content = InputTextMessageContent(f"<b>{query.query}</b>", parse_mode=ParseMode.HTML)
        await query.answer([InlineQueryResultArticle("r1", query.query.upper(), content)])

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    app.add_handler(InlineQueryHandler(inline))
    async with polling(app):
        incoming = await tg.send_text(alice, "/start")
        assert incoming["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
        menu = await tg.wait_for_message(alice)
        assert menu.text == "Menu"
        assert menu.button_texts == ["Pay", "Site"]

        with pytest.raises(LookupError, match=r"(?i)no button"):
            await tg.press(alice, menu, "pay:2")
        with pytest.raises(LookupError, match=r"(?i)not a callback button"):
            await tg.press(alice, menu, text="Site")
        query_id = await tg.press(alice, menu, text="Pay")
        answer = await tg.wait_for_callback_answer(query_id)
        assert (answer.text, answer.show_alert) == ("Paid!", True)
        edited = await tg.wait_for_message(alice)
        assert (edited.message_id, edited.text, edited.edited) == (
            menu.message_id,
            "Done pay:1",
            True,
        )
        assert edited.buttons == []

        inline_id = await tg.inline_query(alice, "hello")
        inline_answer = await tg.wait_for_inline_answer(inline_id)
        assert [r["title"] for r in inline_answer.results] == ["HELLO"]


async def test_long_polling_delivers_updates_in_order_once(tg: FakeTelegram, bot: Bot) -> None:
    alice = tg.user(5)
    seen: list[tuple[int, str]] = []
    done = asyncio.Event()

    async def record(update: Update, context: Context) -> None:
        assert update.message is not None
        assert update.message.text is not None
        seen.append((update.update_id, update.message.text))
        if len(seen) == 30:
            done.set()

    app = build_app(tg)
    app.add_handler(MessageHandler(filters.TEXT, record))
    async with polling(app):
        for number in range(30):
            await tg.send_text(alice, f"m{number}")
            if number % 7 == 0:
                await asyncio.sleep(0.01)  # let some arrive while a long poll is waiting
        async with asyncio.timeout(5):
            await done.wait()
        await asyncio.sleep(0.05)  # a duplicate would arrive now
    assert [text for _, text in seen] == [f"m{n}" for n in range(30)]
    assert len({update_id for update_id, _ in seen}) == 30
    # PTB confirmed them all on the way out, so nothing is delivered again.
    assert await bot.get_updates(timeout=0) == ()


async def test_unconfirmed_updates_are_delivered_again(tg: FakeTelegram, bot: Bot) -> None:
    alice = tg.user(5)
    for text in ("one", "two", "three"):
        await tg.send_text(alice, text)
    fetched = await bot.get_updates(timeout=0)
    assert [u.message.text for u in fetched if u.message] == ["one", "two", "three"]
    # A poller that dies without confirming: Telegram hands the same updates out again.
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [u.update_id for u in fetched]
    # An offset confirms everything below it.
    rest = await bot.get_updates(offset=fetched[0].update_id + 1, timeout=0)
    assert [u.message.text for u in rest if u.message] == ["two", "three"]

    seen: list[str] = []
    app = build_app(tg)

    async def record(update: Update, context: Context) -> None:
        assert update.message is not None
        assert update.message.text is not None
        seen.append(update.message.text)

    app.add_handler(MessageHandler(filters.TEXT, record))
    async with polling(app):
        await tg.wait_for_request(
            "getUpdates", lambda r: bool(r.response and r.response["result"])
        )

        async def both_handled() -> bool:
            return len(seen) >= 2

        # The handlers run after the fetch, later on a loaded machine; then a moment more, so
        # that a wrongly repeated "one" would be seen too.
        await eventually(both_handled)
        await asyncio.sleep(0.05)
    assert seen == ["two", "three"]


async def test_long_poll_waits_for_an_update_and_a_second_poller_conflicts(
    tg: FakeTelegram, bot: Bot
) -> None:
    alice = tg.user(5)
    waiting = asyncio.create_task(bot.get_updates(timeout=3))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await tg.send_text(alice, "late")
    updates = await waiting
    assert [u.message.text for u in updates if u.message] == ["late"]

    first = asyncio.create_task(bot.get_updates(offset=updates[0].update_id + 1, timeout=3))
    await asyncio.sleep(0.1)
    async with Bot(tg.token, base_url=tg.base_url) as second:
        assert await second.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
        await first


# Fault injection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (fake.RetryAfter(7), RetryAfter),
        (fake.Forbidden(), Forbidden),
        (fake.ChatMigrated(-1001234), ChatMigrated),
        (fake.ServerError(), NetworkError),
        (fake.ServerError(500, "Internal Server Error"), NetworkError),
        (fake.BadRequest("Bad Request: TOPIC_CLOSED"), BadRequest),
    ],
)
async def test_injected_faults_surface_as_ptb_errors(
    tg: FakeTelegram,
    bot: Bot,
    monkeypatch: pytest.MonkeyPatch,
    fault: fake.Fault,
    error: type[TelegramError],
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as a timedelta
    tg.user(5)
    tg.inject("sendMessage", fault)
    with pytest.raises(error) as raised:
        await bot.send_message(5, "first")
    assert type(raised.value) is error
    if isinstance(raised.value, RetryAfter):
        assert raised.value.retry_after == dtm.timedelta(seconds=7)
    if isinstance(raised.value, ChatMigrated):
        assert raised.value.new_chat_id == -1001234
    assert tg.sent_to(5) == []
    # times=1: the next call goes through.
    await bot.send_message(5, "second")
    assert [m.text for m in tg.sent_to(5)] == ["second"]


async def test_timeout_fault_delivers_but_the_client_times_out(tg: FakeTelegram) -> None:
    tg.user(5)
    tg.inject("sendMessage", fake.Timeout(2.0))
    request = HTTPXRequest(read_timeout=0.3)
    async with Bot(tg.token, base_url=tg.base_url, request=request) as slow_bot:
        with pytest.raises(TimedOut):
            await slow_bot.send_message(5, "did it arrive?")
    assert [m.text for m in tg.sent_to(5)] == ["did it arrive?"]


async def test_faults_can_target_one_chat_and_last(tg: FakeTelegram, bot: Bot) -> None:
    tg.user(5)
    tg.user(6)
    tg.inject("sendMessage", fake.Forbidden(), times=None, chat_id=6)
    await bot.send_message(5, "fine")
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(6, "blocked")
    tg.clear_faults()
    await bot.send_message(6, "now fine")
    assert [m.text for m in tg.sent_to(6)] == ["now fine"]


async def test_group_rate_limit(
    tg: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB 22 warns when a RetryAfter is built unless timedeltas are opted into.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    alice = tg.user(5)
    group = tg.group(-100, "Shop", {alice: "creator"}, bot_status="member")
    tg.enforce_group_limit(per_minute=3)
    for number in range(3):
        await bot.send_message(group.id, f"n{number}")
    with pytest.raises(RetryAfter):
        await bot.send_message(group.id, "one too many")
    await bot.send_message(5, "private chats are not limited")
    assert len(tg.sent_to(group)) == 3


# The people model -------------------------------------------------------------------------


async def test_blocked_unknown_and_never_started_users(tg: FakeTelegram, bot: Bot) -> None:
    alice = tg.user(5)
    tg.user(7, "Shy", started=False)
    tg.block(alice)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(5, "hello?")
    tg.unblock(alice)
    await bot.send_message(5, "hello again")
    with pytest.raises(Forbidden, match=r"(?i)can't initiate conversation"):
        await bot.send_message(7, "hi")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(99, "who?")
    updates = await bot.get_updates(timeout=0)
    changes = [
        (u.my_chat_member.old_chat_member.status, u.my_chat_member.new_chat_member.status)
        for u in updates
        if u.my_chat_member
    ]
    assert changes == [("member", "kicked"), ("kicked", "member")]


async def test_group_migration(tg: FakeTelegram, bot: Bot) -> None:
    alice = tg.user(5)
    group = tg.group(-200, "Shop", {alice: "creator"}, bot_status="member")
    await bot.send_message(-200, "before")
    await tg.migrate_group(group, -1009999)
    with pytest.raises(ChatMigrated) as raised:
        await bot.send_message(-200, "after")
    assert raised.value.new_chat_id == -1009999
    await bot.send_message(group.id, "after")
    assert [m.text for m in tg.sent_to(-1009999)] == ["after"]
    updates = await bot.get_updates(timeout=0)
    service = [u.message for u in updates if u.message]
    assert [(m.chat.id, m.migrate_to_chat_id, m.migrate_from_chat_id) for m in service] == [
        (-200, -1009999, None),
        (-1009999, None, -200),
    ]
    chat = await bot.get_chat(group.id)
    assert (chat.type, chat.title) == ("supergroup", "Shop")


async def test_group_admins_and_members(tg: FakeTelegram, bot: Bot) -> None:
    alice, bob, carol, dave = (tg.user(i, name) for i, name in enumerate("ABCD", start=1))
    group = tg.group(
        -300,
        "Shop",
        {alice: "creator", bob: "administrator", carol: "member"},
        bot_status="member",
    )
    admins = await bot.get_chat_administrators(group.id)
    assert {(m.user.id, m.status) for m in admins} == {(1, "creator"), (2, "administrator")}
    statuses = [(await bot.get_chat_member(group.id, u.id)).status for u in (carol, dave)]
    assert statuses == [ChatMember.MEMBER, ChatMember.LEFT]
    assert (await bot.get_chat_member(group.id, fake.BOT_ID)).status == ChatMember.MEMBER

    tg.set_member_status(group, carol, "administrator")
    tg.set_member_status(group, tg.bot_user, "administrator")
    admins = await bot.get_chat_administrators(group.id)
    assert {m.user.id for m in admins} == {1, 2, 3, fake.BOT_ID}
    assert await bot.get_chat_member_count(group.id) == 4
    with pytest.raises(BadRequest, match=r"(?i)no administrators in the private chat"):
        await bot.get_chat_administrators(1)
    promoted = [u.my_chat_member for u in await bot.get_updates(timeout=0) if u.my_chat_member]
    assert [(m.old_chat_member.status, m.new_chat_member.status) for m in promoted] == [
        ("member", "administrator")
    ]


async def test_bot_joining_and_leaving_groups_reaches_the_app(tg: FakeTelegram) -> None:
    alice = tg.user(5)
    bob = tg.user(6, "Bob")
    group = tg.group(-400, "Market", {alice: "creator", bob: "member"})
    changes: list[tuple[int, int, str, str]] = []
    replies: list[str] = []
    app = build_app(tg)

    async def membership(update: Update, context: Context) -> None:
        change = update.my_chat_member
        assert change is not None
        changes.append(
            (
                change.chat.id,
                change.from_user.id,
                change.old_chat_member.status,
                change.new_chat_member.status,
            )
        )

    async def start(update: Update, context: Context) -> None:
        assert update.effective_message is not None
        assert update.effective_chat is not None
        sender = update.effective_message.sender_chat or update.effective_user
        assert sender is not None
        replies.append(f"{update.effective_chat.id}:{sender.id}")
        await update.effective_message.reply_text("hello group")

    app.add_handler(ChatMemberHandler(membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(CommandHandler("start", start))
    async with polling(app):
        with pytest.raises(RuntimeError, match=r"(?i)add_bot_to_group"):
            await tg.send_text(bob, "/start", group)
        await tg.add_bot_to_group(alice, group)
        # Privacy mode: plain text and commands for other bots never reach the bot.
        await tg.send_text(bob, "just chatting", group)
        await tg.send_text(bob, "/start@SomeOtherBot", group)
        await tg.send_text(bob, f"/start@{fake.BOT_USERNAME}", group)
        reply = await tg.wait_for_message(group)
        assert reply.text == "hello group"
        await tg.send_text(alice, "/start", group, anonymous=True)
        await tg.wait_for_message(group)
        await tg.remove_bot_from_group(alice, group)
        tg.block(bob)
        await tg.wait_for_request("getUpdates", lambda r: "kicked" in str(r.response))
        await asyncio.sleep(0.05)
    assert changes == [
        (-400, 5, "left", "member"),
        (-400, 5, "member", "left"),
        (6, 6, "member", "kicked"),
    ]
    assert replies == ["-400:6", "-400:-400"]
    assert [m["text"] for m in tg.withheld] == ["just chatting", "/start@SomeOtherBot"]


async def test_user_media_reaches_the_bot_and_can_be_downloaded(
    tg: FakeTelegram, bot: Bot
) -> None:
    alice = tg.user(5)
    photo = png(16, 16)
    await tg.send_sticker(alice)
    await tg.send_photo_from_user(alice, photo, caption="receipt")
    await tg.send_document_from_user(
        alice, b"%PDF-1.4", "invoice.pdf", mime_type="application/pdf"
    )
    updates = await bot.get_updates(timeout=0)
    messages = [u.message for u in updates if u.message]
    assert messages[0].sticker is not None
    assert messages[0].text is None
    assert messages[1].caption == "receipt"
    downloaded = await (await messages[1].photo[-1].get_file()).download_as_bytearray()
    assert bytes(downloaded) == photo
    assert messages[2].document is not None
    assert messages[2].document.file_name == "invoice.pdf"


async def test_wait_for_message_times_out_with_a_readable_dump(tg: FakeTelegram, bot: Bot) -> None:
    tg.user(5)
    await bot.send_message(5, "Here is your link")
    with pytest.raises(fake.WaitTimeoutError) as raised:
        await tg.wait_for_message(5, lambda m: "receipt" in m.content, timeout=0.2)
    assert "Here is your link" in str(raised.value)


# Factories -------------------------------------------------------------------------------


async def test_factory_updates_drive_process_update(tg: FakeTelegram) -> None:
    tg.user(5)
    app = build_app(tg)
    events: list[str] = []

    async def start(update: Update, context: Context) -> None:
        assert update.effective_message is not None
        assert update.effective_user is not None
        events.append(f"start {context.args} {update.effective_user.language_code}")
        await update.effective_message.reply_text("Menu", reply_markup=keyboard("pay:9"))

    async def pressed(update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"Chose {query.data}")

    async def inline(update: Update, context: Context) -> None:
        assert update.inline_query is not None
        events.append(f"inline {update.inline_query.query}")

    async def membership(update: Update, context: Context) -> None:
        change = update.my_chat_member
        assert change is not None
        events.append(
            f"member {change.new_chat_member.user.id} {change.old_chat_member.status}"
            f"->{change.new_chat_member.status} in {change.chat.type}"
        )

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    app.add_handler(InlineQueryHandler(inline))
    app.add_handler(ChatMemberHandler(membership, ChatMemberHandler.MY_CHAT_MEMBER))
    async with app:
        await app.process_update(
            factories.message_update(app.bot, 5, "/start abc", language_code="rw")
        )
        menu = tg.sent_to(5)[0]
        await app.process_update(factories.callback_update(app.bot, 5, "pay:9", menu.message_id))
        await app.process_update(factories.inline_query_update(app.bot, 5, "shoes"))
        await app.process_update(
            factories.my_chat_member_update(app.bot, 5, -500, "left", "member")
        )
        # Not a command: the CommandHandler must not fire.
        await app.process_update(factories.message_update(app.bot, 5, "start"))
    assert events == [
        "start ['abc'] rw",
        "inline shoes",
        f"member {fake.BOT_ID} left->member in group",
    ]
    assert [m.text for m in tg.sent_to(5)] == ["Chose pay:9"]
    assert len(tg.callback_answers) == 1


async def test_factories_without_an_initialised_bot() -> None:
    bot = Bot(fake.DEFAULT_TOKEN)
    update = factories.callback_update(bot, 5, "x", 3, chat_id=-10, chat_type="supergroup")
    assert update.callback_query is not None
    message = update.callback_query.message
    assert message is not None
    assert message.chat.id == -10
    assert update.callback_query.from_user.id == 5
    command = factories.message_update(bot, 5, f"/new@{fake.BOT_USERNAME} 500", -10, "group")
    assert command.message is not None
    assert command.message.parse_entities(["bot_command"])
    assert command.message.chat.type == "group"
    assert next(iter(command.message.parse_entities().values())) == f"/new@{fake.BOT_USERNAME}"
    with pytest.raises(ValueError, match=r"(?i)negative chat_id"):
        factories.message_update(bot, 5, "hi", chat_type="group")


# The local Bot API's product side (the demo's web chat reads it) -----------------------------


async def test_changes_since_reports_sends_edits_and_deletes_in_order(
    tg: FakeTelegram, bot: Bot
) -> None:
    user = tg.user(31, "Ama")
    start = tg.revision
    await tg.send_text(user, "hi")
    first = await bot.send_message(user.id, "one")
    second = await bot.send_message(user.id, "two")
    assert [(m.message_id, m.from_bot) for m in tg.changes_since(start)] == [
        (1, False),
        (first.message_id, True),
        (second.message_id, True),
    ]
    seen = tg.revision
    assert tg.changes_since(seen) == []
    await bot.edit_message_text("<b>uno</b>", user.id, first.message_id, parse_mode=ParseMode.HTML)
    await bot.delete_message(user.id, second.message_id)
    changed = tg.changes_since(seen)
    assert [(m.message_id, m.content, m.deleted) for m in changed] == [
        (first.message_id, "uno", False),
        (second.message_id, "two", True),
    ]
    assert changed[0].revision < changed[1].revision <= tg.revision
    assert tg.message(user, first.message_id).entities == [
        {"type": "bold", "offset": 0, "length": 3}
    ]
    with pytest.raises(LookupError):
        tg.message(user, 99)


async def test_bot_name_is_configurable_and_records_can_be_bounded() -> None:
    async with FakeTelegram(
        bot_username="SomeDemoBot", bot_first_name="Some Demo", keep_records=3
    ) as tg:
        user = tg.user(32, "Ama")
        async with Bot(tg.token, base_url=tg.base_url) as bot:
            me = await bot.get_me()
            assert (me.username, me.first_name) == ("SomeDemoBot", "Some Demo")
            for number in range(10):
                await bot.send_message(user.id, f"m{number}")
        assert len(tg.requests) <= 6 and tg.requests[-1].params["text"] == "m9"
        sent = tg.sent_to(user)
        assert len(sent) == 10 and sent[0].data["from"]["username"] == "SomeDemoBot"
        # A group command addressed to the configured name reaches the bot (privacy mode).
        group = tg.group(-70, "G", {user: "member"}, bot_status="member")
        await tg.send_text(user, "/help@SomeDemoBot", group)
        await tg.send_text(user, "/help@PayLinksTestBot", group)
        assert [m["text"] for m in tg.withheld] == ["/help@PayLinksTestBot"]


async def test_an_attached_server_is_served_by_its_owner() -> None:
    tg = FakeTelegram()
    with pytest.raises(RuntimeError):
        _ = tg.url
    tg.attach("http://127.0.0.1:9/")
    assert tg.base_url == "http://127.0.0.1:9/bot"
    assert tg.base_file_url == "http://127.0.0.1:9/file/bot"
    await tg.stop()
    with pytest.raises(RuntimeError):
        _ = tg.url

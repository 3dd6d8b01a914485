"""PTB persistence on SQLite: a half-filled form survives a restart, even a kill -9.

The Telegram side is a real ``Application`` with a persistent ``ConversationHandler``, fed
real ``Update`` objects; its HTTP layer is an offline Bot API (``OfflineBotAPI``) that only
answers ``getMe``. One test runs this file as a script in a child process that kills itself
with SIGKILL mid-form (see ``_child`` at the bottom).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from telegram import Update
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, RequestData

from bot.store.db import Database, decode_json, encode_json
from bot.store.persistence import SQLitePersistence

USER = 4242
TITLE, AMOUNT = "TITLE", "AMOUNT"
FORM = "new_link"
STARTED = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


class OfflineBotAPI(BaseRequest):
    """PTB's transport, answering getMe and refusing anything else (nothing else is sent)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        self.calls.append(endpoint)
        if endpoint == "getMe":
            me = {"id": 1, "is_bot": True, "first_name": "PayLinks", "username": "paylinks_bot"}
            return 200, json.dumps({"ok": True, "result": me}).encode()
        body = {"ok": False, "error_code": 400, "description": f"offline: {endpoint}"}
        return 400, json.dumps(body).encode()


def message(update_id: int, text: str) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "message_id": update_id,
        "date": 1_714_550_400 + update_id,
        "chat": {"id": USER, "type": "private", "first_name": "Aline"},
        "from": {"id": USER, "is_bot": False, "first_name": "Aline"},
        "text": text,
    }
    if text.startswith("/"):
        msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": msg}


def build_app(
    db: Database, finished: list[dict[str, Any]], *, update_interval: float = 60
) -> Application[Any, Any, Any, Any, Any, Any]:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
        assert context.user_data is not None
        context.user_data["draft"] = {"started": STARTED, "min": Decimal("100.00")}
        return TITLE

    async def title(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
        assert context.user_data is not None
        assert context.chat_data is not None
        assert update.effective_message is not None
        context.user_data["draft"]["title"] = update.effective_message.text
        context.chat_data["last_form"] = FORM
        return AMOUNT

    async def amount(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert context.user_data is not None
        assert update.effective_message is not None
        assert update.effective_message.text is not None
        draft = context.user_data.pop("draft")
        finished.append({**draft, "amount": Decimal(update.effective_message.text)})
        return ConversationHandler.END

    app = (
        ApplicationBuilder()
        .token("123456:OFFLINE")
        .request(OfflineBotAPI())
        .updater(None)
        .job_queue(None)
        .persistence(SQLitePersistence(db, update_interval=update_interval))
        .build()
    )
    text = filters.TEXT & ~filters.COMMAND
    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("new", start)],
            states={TITLE: [MessageHandler(text, title)], AMOUNT: [MessageHandler(text, amount)]},
            fallbacks=[],
            name=FORM,
            persistent=True,
        )
    )
    return app


async def feed(app: Application[Any, Any, Any, Any, Any, Any], update_id: int, text: str) -> None:
    await app.process_update(Update.de_json(message(update_id, text), app.bot))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await Database.open(database_url)
    try:
        yield database
    finally:
        await database.close()


# --- the form survives ---------------------------------------------------------------------


async def test_half_filled_form_survives_kill_9(database_url: str) -> None:
    path = database_url
    child = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, __file__, str(path)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert child.stdout == b"persisted\n"

    db = await Database.open(path)
    try:
        finished: list[dict[str, Any]] = []
        app = build_app(db, finished)
        await app.initialize()
        try:
            assert app.chat_data[USER] == {"last_form": FORM}
            await feed(app, 3, "2500.50")
        finally:
            await app.shutdown()
        # The third message is only understood in the AMOUNT state: the form resumed there.
        assert finished == [
            {
                "started": STARTED,
                "min": Decimal("100.00"),
                "title": "Cake",
                "amount": Decimal("2500.50"),
            }
        ]
        assert str(finished[0]["min"]) == "100.00"
        persistence = SQLitePersistence(db)
        assert await persistence.get_conversations(FORM) == {}
        assert await persistence.get_user_data() == {}
    finally:
        await db.close()


async def test_writing_after_each_update_makes_each_step_durable(database_url: str) -> None:
    path = database_url
    first_db = await Database.open(path)
    second_db: Database | None = None
    try:
        first = build_app(first_db, [])
        await first.initialize()
        await feed(first, 1, "/new")
        await first.update_persistence()
        await feed(first, 2, "Cake")
        await first.update_persistence()
        # `first` is abandoned here, never stopped or flushed; another connection reads the
        # file, as a restarted process would.
        second_db = await Database.open(path)
        finished: list[dict[str, Any]] = []
        second = build_app(second_db, finished)
        await second.initialize()
        try:
            assert second.user_data[USER]["draft"]["title"] == "Cake"
            await feed(second, 3, "10")
        finally:
            await second.shutdown()
        assert [entry["amount"] for entry in finished] == [Decimal("10")]
    finally:
        if second_db is not None:
            await second_db.close()
        await first_db.close()


async def test_bot_data_is_not_stored_and_bad_values_are_refused(db: Database) -> None:
    errors: list[BaseException] = []

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        errors.append(context.error)

    app = build_app(db, [])
    app.add_error_handler(on_error)
    assert app.persistence is not None
    assert not app.persistence.store_data.bot_data
    assert not app.persistence.store_data.callback_data
    await app.initialize()
    try:
        app.bot_data["services"] = object()  # live objects: never copied, never stored
        await feed(app, 1, "/new")
        await app.update_persistence()
        assert errors == []
        persistence = SQLitePersistence(db)
        good = await persistence.get_user_data()
        assert good == {USER: {"draft": {"started": STARTED, "min": Decimal("100.00")}}}

        app.user_data[USER]["draft"]["ids"] = {1, 2}
        app.mark_data_for_update_persistence(user_ids=USER)
        await app.update_persistence()
        assert len(errors) == 1
        assert isinstance(errors[0], TypeError)
        assert "set" in str(errors[0])
        assert await persistence.get_user_data() == good
        del app.user_data[USER]["draft"]["ids"]
    finally:
        await app.shutdown()


async def test_offline_bot_api_refuses_real_calls(db: Database) -> None:
    # The fake must not quietly answer what the tests do not expect to send.
    app = build_app(db, [])
    await app.initialize()
    try:
        with pytest.raises(BadRequest, match="offline: sendMessage"):
            await app.bot.send_message(USER, "hi")
    finally:
        await app.shutdown()


# --- the persistence API directly ----------------------------------------------------------


async def test_user_and_chat_data_round_trip_and_drop(db: Database) -> None:
    persistence = SQLitePersistence(db)
    data = {
        "draft": {
            "amount": Decimal("1500.50"),
            "expires": datetime(2024, 6, 1, 18, 0, tzinfo=timezone(timedelta(hours=2))),
            "day": date(2024, 6, 1),
            "types": ["card", "ussd"],
            "ratio": 0.5,
            "none": None,
            "ok": True,
        }
    }
    await persistence.update_user_data(1, data)
    await persistence.update_user_data(2, {"x": 1})
    await persistence.update_chat_data(-5, {"pinned": 7})
    assert await persistence.get_user_data() == {1: data, 2: {"x": 1}}
    stored = (await persistence.get_user_data())[1]["draft"]
    assert str(stored["amount"]) == "1500.50"
    assert stored["expires"].utcoffset() == timedelta(hours=2)
    assert await persistence.get_chat_data() == {-5: {"pinned": 7}}

    # refresh_* change nothing: the process's memory is the newest copy.
    in_memory = {"x": 2}
    await persistence.refresh_user_data(2, in_memory)
    assert in_memory == {"x": 2}

    await persistence.drop_user_data(1)
    await persistence.update_user_data(2, {})  # emptied: no row kept
    await persistence.drop_chat_data(-5)
    await persistence.flush()
    assert await persistence.get_user_data() == {}
    assert await persistence.get_chat_data() == {}
    assert await persistence.get_bot_data() == {}
    assert await persistence.get_callback_data() is None


async def test_conversations_are_kept_per_name_and_key(db: Database) -> None:
    persistence = SQLitePersistence(db)
    await persistence.update_conversation(FORM, (USER, USER), TITLE)
    await persistence.update_conversation(FORM, (USER, USER), AMOUNT)
    await persistence.update_conversation(FORM, (-100, USER), 3)
    await persistence.update_conversation("settings", (USER,), "LANG")
    assert await persistence.get_conversations(FORM) == {(USER, USER): AMOUNT, (-100, USER): 3}
    assert await persistence.get_conversations("settings") == {(USER,): "LANG"}
    await persistence.update_conversation(FORM, (USER, USER), None)
    assert await persistence.get_conversations(FORM) == {(-100, USER): 3}
    assert await persistence.get_conversations("missing") == {}


# --- the JSON codec ------------------------------------------------------------------------


def test_codec_round_trips_the_allowed_types_exactly() -> None:
    value: dict[str, Any] = {
        "amounts": [Decimal("0.10"), Decimal("1E+3"), Decimal("-5")],
        "when": datetime(2024, 1, 2, 3, 4, 5, 600, tzinfo=UTC),
        "naive": datetime(2024, 1, 2, 3, 4, 5),  # noqa: DTZ001 - naive must stay naive
        "day": date(2024, 1, 2),
        "pair": (1, "a"),
        "text": "é ✓",
        "lookalike": {"$decimal": "1", "other": 2},
    }
    back = decode_json(encode_json(value))
    assert back == {**value, "pair": [1, "a"]}
    assert [a.as_tuple() for a in back["amounts"]] == [a.as_tuple() for a in value["amounts"]]
    assert back["naive"].tzinfo is None


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": {1, 2}}, "$.a"),
        ({"a": [b"raw"]}, "$.a[0]"),
        ({"a": {1: "int key"}}, "$.a"),
        ({"a": float("nan")}, "$.a"),
        ({"a": {"$decimal": "1"}}, "$.a"),
        ({"a": object()}, "$.a"),
    ],
)
def test_codec_refuses_what_it_cannot_restore(value: Any, where: str) -> None:
    with pytest.raises(TypeError) as caught:
        encode_json(value)
    assert where in str(caught.value)


# --- the child process of test_half_filled_form_survives_kill_9 ----------------------------


async def _child(path: str) -> None:
    """Two steps of the form, wait until PTB's own persistence loop wrote them, then die."""
    db = await Database.open(path)
    app = build_app(db, [], update_interval=0.05)
    await app.initialize()
    await app.start()
    await feed(app, 1, "/new")
    await feed(app, 2, "Cake")
    for _ in range(1000):
        state = await db.fetchone("SELECT state FROM persist_conversations")
        user = await db.fetchone("SELECT data FROM persist_user_data")
        chat = await db.fetchone("SELECT data FROM persist_chat_data")
        if (
            state is not None
            and decode_json(state["state"]) == AMOUNT
            and user is not None
            and decode_json(user["data"])["draft"].get("title") == "Cake"
            and chat is not None
        ):
            break
        await asyncio.sleep(0.01)
    else:
        sys.exit(3)
    print("persisted", flush=True)
    # No stop, no shutdown, no close: as abrupt as a process can end.
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1]))

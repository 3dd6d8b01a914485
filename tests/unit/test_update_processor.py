"""``OrderedUpdateProcessor``: in order per (chat, user), concurrent across people, bounded.

Most tests run a real ``telegram.ext.Application`` (talking to the fake Bot API only for
``getMe``) and feed real ``Update`` objects into its ``update_queue``, the queue the Updater
fills when polling, so updates reach the processor exactly as in production. Handlers record
when each update starts and ends and may wait on a gate the test opens.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.concurrency import OrderedUpdateProcessor, update_key
from tests.conftest import TEST_TOKEN
from tests.factories import callback_update, inline_query_update, message_update
from tests.fakes.telegram import FakeTelegram

AnyApp = Application[Any, Any, Any, Any, Any, Any]


@dataclass
class Recorder:
    """What the handlers saw: start and end events, and how many ran at once."""

    events: list[tuple[str, str]] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    pauses: dict[str, float] = field(default_factory=dict)
    active: int = 0
    peak: int = 0
    active_per_chat: dict[int, int] = field(default_factory=dict)
    peak_per_chat: dict[int, int] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def gate(self, label: str) -> asyncio.Event:
        return self.gates.setdefault(label, asyncio.Event())

    def started(self) -> list[str]:
        return [label for kind, label in self.events if kind == "start"]

    def ended(self) -> list[str]:
        return [label for kind, label in self.events if kind == "end"]

    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        label = _label(update)
        chat = update.effective_chat.id if update.effective_chat else 0
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.active_per_chat[chat] = self.active_per_chat.get(chat, 0) + 1
        self.peak_per_chat[chat] = max(self.peak_per_chat.get(chat, 0), self.active_per_chat[chat])
        self._record("start", label)
        try:
            if label in self.gates:
                await self.gates[label].wait()
            # Yield at least once, as any real handler does.
            await asyncio.sleep(self.pauses.get(label, 0))
        finally:
            self.active -= 1
            self.active_per_chat[chat] -= 1
            self._record("end", label)

    def _record(self, kind: str, label: str) -> None:
        self.events.append((kind, label))
        self.changed.set()
        self.changed = asyncio.Event()

    async def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until ``condition`` holds after some handler event."""
        async with asyncio.timeout(timeout):
            while not condition():
                await self.changed.wait()


def _label(update: Update) -> str:
    if update.callback_query is not None and update.callback_query.data is not None:
        return update.callback_query.data
    if update.effective_message is not None and update.effective_message.text is not None:
        return update.effective_message.text
    if update.inline_query is not None:
        return update.inline_query.query
    return "?"


@dataclass
class Harness:
    app: AnyApp
    processor: OrderedUpdateProcessor
    recorder: Recorder

    def send(self, user_id: int, label: str) -> None:
        """``user_id`` writes ``label`` in their private chat (queued, as polling would)."""
        self.app.update_queue.put_nowait(message_update(self.app.bot, user_id, label))

    def send_update(self, update: Update) -> None:
        self.app.update_queue.put_nowait(update)


@pytest.fixture
async def harness_factory(
    tg: FakeTelegram,
) -> AsyncIterator[Callable[[int], Coroutine[Any, Any, Harness]]]:
    running: list[Harness] = []

    async def start(max_active: int) -> Harness:
        processor = OrderedUpdateProcessor(max_active=max_active)
        app: AnyApp = (
            ApplicationBuilder()
            .token(TEST_TOKEN)
            .base_url(tg.base_url)
            .base_file_url(tg.base_file_url)
            .concurrent_updates(processor)
            .build()
        )
        recorder = Recorder()
        app.add_handler(TypeHandler(Update, recorder.handle))
        await app.initialize()
        await app.start()
        harness = Harness(app, processor, recorder)
        running.append(harness)
        return harness

    yield start
    for harness in running:
        for gate in harness.recorder.gates.values():
            gate.set()
        if harness.app.running:
            await harness.app.stop()
        await harness.app.shutdown()


async def test_one_users_updates_run_one_at_a_time_in_arrival_order(
    harness_factory: Callable[[int], Coroutine[Any, Any, Harness]],
) -> None:
    h = await harness_factory(16)
    labels = [f"m{i}" for i in range(6)]
    for i, label in enumerate(labels):
        # Earlier updates take longer: run concurrently, they would finish in reverse.
        h.recorder.pauses[label] = 0.06 - i * 0.01
        h.send(501, label)
    await h.recorder.until(lambda: len(h.recorder.ended()) == len(labels))
    assert h.recorder.started() == labels
    assert h.recorder.ended() == labels
    assert h.recorder.peak_per_chat[501] == 1
    assert h.processor.waiting_keys == 0  # nothing kept for a conversation gone quiet


async def test_different_users_run_concurrently(
    harness_factory: Callable[[int], Coroutine[Any, Any, Harness]],
) -> None:
    h = await harness_factory(16)
    h.recorder.gate("a-slow")
    h.send(601, "a-slow")
    h.send(601, "a-next")
    for user in (602, 603):
        h.send(user, f"{user}-1")
        h.send(user, f"{user}-2")
    others = {"602-1", "602-2", "603-1", "603-2"}
    await h.recorder.until(lambda: others <= set(h.recorder.ended()))
    # Everyone else is done while A's first update still hangs and A's second waits its turn.
    assert "a-slow" not in h.recorder.ended()
    assert "a-next" not in h.recorder.started()
    assert h.processor.waiting_keys == 1
    h.recorder.gates["a-slow"].set()
    await h.recorder.until(lambda: "a-next" in h.recorder.ended())
    assert h.recorder.ended()[-2:] == ["a-slow", "a-next"]


async def test_the_global_bound_is_honoured(
    harness_factory: Callable[[int], Coroutine[Any, Any, Harness]],
) -> None:
    h = await harness_factory(3)
    users = range(701, 709)
    for user in users:
        h.recorder.gate(f"u{user}")
        h.send(user, f"u{user}")
    await h.recorder.until(lambda: len(h.recorder.started()) == 3)
    for _ in range(20):  # give the others every chance to (wrongly) start
        await asyncio.sleep(0)
    assert len(h.recorder.started()) == 3
    for gate in h.recorder.gates.values():
        gate.set()
    await h.recorder.until(lambda: len(h.recorder.ended()) == len(users))
    assert h.recorder.peak == 3
    # The bound is first come, first served across users.
    assert h.recorder.started() == [f"u{user}" for user in users]


async def test_one_users_flood_does_not_starve_the_others(
    harness_factory: Callable[[int], Coroutine[Any, Any, Harness]],
) -> None:
    """A bound taken before the per-key lock would give the flood every slot."""
    h = await harness_factory(2)
    h.recorder.gate("flood-0")
    for i in range(30):
        h.send(801, f"flood-{i}")
    h.send(802, "other-1")
    h.send(803, "other-2")
    await h.recorder.until(lambda: {"other-1", "other-2"} <= set(h.recorder.ended()))
    assert h.recorder.started()[:1] == ["flood-0"]
    assert [label for label in h.recorder.started() if label.startswith("flood")] == ["flood-0"]
    h.recorder.gates["flood-0"].set()
    await h.recorder.until(lambda: len(h.recorder.ended()) == 32)
    assert [label for label in h.recorder.ended() if label.startswith("flood")] == [
        f"flood-{i}" for i in range(30)
    ]


async def test_a_button_press_queues_behind_the_same_users_message(
    harness_factory: Callable[[int], Coroutine[Any, Any, Harness]],
) -> None:
    """Messages and button presses of one person in one chat share a queue; groups differ."""
    h = await harness_factory(16)
    h.recorder.gate("typed")
    h.send(901, "typed")
    h.send_update(callback_update(h.app.bot, 901, "pressed", message_id=1))
    # The same person in a group is another conversation: it does not wait.
    h.send_update(message_update(h.app.bot, 901, "in-group", chat_id=-100, chat_type="group"))
    await h.recorder.until(lambda: "in-group" in h.recorder.ended())
    assert "pressed" not in h.recorder.started()
    h.recorder.gates["typed"].set()
    await h.recorder.until(lambda: "pressed" in h.recorder.ended())


def test_update_key() -> None:
    from telegram import Bot

    bot = Bot(TEST_TOKEN)
    assert update_key(message_update(bot, 5, "hi")) == (5, 5)
    assert update_key(message_update(bot, 5, "hi", chat_id=-7, chat_type="group")) == (-7, 5)
    assert update_key(inline_query_update(bot, 5, "q")) == (None, 5)
    assert update_key(Update(update_id=1)) is None
    assert update_key("not an update") is None


async def test_updates_without_a_conversation_run_unordered_but_bounded() -> None:
    processor = OrderedUpdateProcessor(max_active=2)
    gate = asyncio.Event()
    running: list[int] = []

    async def work(n: int) -> None:
        running.append(n)
        await gate.wait()

    tasks = [
        asyncio.create_task(processor.process_update(Update(update_id=n), work(n)))
        for n in range(4)
    ]
    for _ in range(10):
        await asyncio.sleep(0)
    assert running == [0, 1]  # concurrently, yet no more than the bound
    gate.set()
    await asyncio.gather(*tasks)
    assert running == [0, 1, 2, 3]


def test_max_active_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_active"):
        OrderedUpdateProcessor(max_active=0)


async def test_cancelled_queued_updates_leave_no_unawaited_coroutines() -> None:
    """At shutdown the loop cancels what is still queued: nothing may warn "never awaited"."""
    from telegram import Bot

    bot = Bot(TEST_TOKEN)
    processor = OrderedUpdateProcessor(max_active=1)
    hang = asyncio.Event()

    async def handler() -> None:
        await hang.wait()

    # One running, two queued behind it on the same key, one waiting for the global bound.
    coroutines = [handler() for _ in range(4)]
    updates = [message_update(bot, user, "hi") for user in (1, 1, 1, 2)]
    tasks = [
        asyncio.create_task(processor.process_update(update, coroutine))
        for update, coroutine in zip(updates, coroutines, strict=True)
    ]
    for _ in range(10):
        await asyncio.sleep(0)
    assert inspect.getcoroutinestate(coroutines[0]) == inspect.CORO_SUSPENDED
    assert all(inspect.getcoroutinestate(c) == inspect.CORO_CREATED for c in coroutines[1:])
    assert processor.waiting_keys == 2

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for running in tasks:
            running.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        del running, tasks
        gc.collect()
    assert all(isinstance(result, asyncio.CancelledError) for result in results)
    assert all(inspect.getcoroutinestate(c) == inspect.CORO_CLOSED for c in coroutines)
    assert not [w for w in caught if "never awaited" in str(w.message)]
    assert processor.waiting_keys == 0


async def test_stop_runs_the_queued_updates_in_order(
    harness_factory: Callable[[int], Coroutine[Any, Any, Harness]],
) -> None:
    """``Application.stop()`` with updates queued behind a running one: all run, in order."""
    h = await harness_factory(4)
    h.recorder.gate("first")
    for label in ("first", "second", "third"):
        h.send(1001, label)
    await h.recorder.until(lambda: "first" in h.recorder.started())
    stopping = asyncio.create_task(h.app.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # it waits for the updates in hand
    h.recorder.gates["first"].set()
    await asyncio.wait_for(stopping, 5)
    assert h.recorder.ended() == ["first", "second", "third"]

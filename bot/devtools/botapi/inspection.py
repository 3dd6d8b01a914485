"""What a test reads back from the local Bot API (the bot's messages, its calls, its answers,
waiting for each) and the faults and limits it sets for the bot to meet."""

from __future__ import annotations

import copy
from collections.abc import Callable

from bot.devtools.botapi.model import (
    CallbackAnswer,
    ChatGroup,
    ChatMessage,
    ChatRef,
    Fault,
    Injection,
    InlineAnswer,
    RecordedRequest,
    WaitTimeoutError,
)
from bot.devtools.botapi.state import BotApiState


class Inspection(BotApiState):
    """Reading what the bot did, and the faults it will meet."""

    # Reading what the bot did

    def sent_to(self, chat: ChatRef) -> list[ChatMessage]:
        """The bot's messages in ``chat`` as they are now (edits applied, deleted ones gone)."""
        chat_id = self.chat_id_of(chat)
        return [
            copy.deepcopy(m)
            for m in self._messages.get(chat_id, {}).values()
            if m.from_bot and not m.deleted
        ]

    def history(self, chat: ChatRef, *, include_deleted: bool = False) -> list[ChatMessage]:
        """Every message in ``chat``, the users' too."""
        return [
            copy.deepcopy(m)
            for m in self._messages.get(self.chat_id_of(chat), {}).values()
            if include_deleted or not m.deleted
        ]

    def message(self, chat: ChatRef, message_id: int) -> ChatMessage:
        """One message of ``chat`` as it is now (``LookupError`` if there is none)."""
        return copy.deepcopy(
            self._stored({"chat": {"id": self.chat_id_of(chat)}, "message_id": message_id})
        )

    @property
    def revision(self) -> int:
        """The latest change so far; pass it to ``changes_since`` to get only newer ones."""
        return self._seq

    def changes_since(self, revision: int) -> list[ChatMessage]:
        """Every message of every chat sent, edited or deleted after ``revision``, oldest first.

        Deleted messages are included (``deleted=True``) so that a viewer can remove them.
        """
        changed = [
            copy.deepcopy(m)
            for chat in self._messages.values()
            for m in chat.values()
            if m.revision > revision
        ]
        return sorted(changed, key=lambda m: m.revision)

    def groups(self) -> list[ChatGroup]:
        return list(self._groups.values())

    def pinned(self, chat: ChatRef) -> list[int]:
        return list(self._pinned.get(self.chat_id_of(chat), []))

    def calls(self, method: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def mark(self) -> int:
        """A point in time for ``wait_for_message(since=...)``."""
        return self._seq

    # Waiting for it

    async def wait_for_message(
        self,
        chat: ChatRef,
        predicate: Callable[[ChatMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: int | None = None,
    ) -> ChatMessage:
        """The next bot message sent or edited in ``chat`` that matches ``predicate``.

        "Next" means after the latest of: the last update the test produced, the message this
        method last returned for the chat, or ``since`` (from ``mark()``) when given. So repeated
        calls walk through the bot's replies in order. Returns the message as of that event.
        """
        chat_id = self.chat_id_of(chat)
        cursor = (
            since
            if since is not None
            else max(self._last_input_seq, self._message_cursor.get(chat_id, 0))
        )

        def find() -> ChatMessage | None:
            for seq, event_chat, snapshot in self._events:
                if (
                    seq > cursor
                    and event_chat == chat_id
                    and (predicate is None or predicate(snapshot))
                ):
                    self._message_cursor[chat_id] = seq
                    return copy.deepcopy(snapshot)
            return None

        found = await self._wait_until(find, timeout)
        if found is None:
            raise WaitTimeoutError(
                f"no matching bot message in chat {chat_id} within {timeout}s\n"
                f"{self.dump(chat_id)}"
            )
        return found

    async def wait_for_request(
        self,
        method: str,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> RecordedRequest:
        """The first handled ``method`` call matching ``predicate`` not returned before."""

        def find() -> RecordedRequest | None:
            for record in self.requests:
                if (
                    record.status is not None
                    and record.seq not in self._consumed_requests
                    and record.method.lower() == method.lower()
                    and (predicate is None or predicate(record))
                ):
                    self._consumed_requests.add(record.seq)
                    return record
            return None

        found = await self._wait_until(find, timeout)
        if found is None:
            raise WaitTimeoutError(
                f"no matching {method} call within {timeout}s\n{self.dump_requests()}"
            )
        return found

    async def wait_for_callback_answer(
        self,
        query_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        found = await self._wait_until(lambda: self.callback_answers.get(query_id), timeout)
        if found is None:
            raise WaitTimeoutError(
                f"callback query {query_id} was not answered within {timeout}s\n"
                f"{self.dump_requests()}"
            )
        return found

    async def wait_for_inline_answer(
        self,
        query_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> InlineAnswer:
        found = await self._wait_until(lambda: self.inline_answers.get(query_id), timeout)
        if found is None:
            raise WaitTimeoutError(
                f"inline query {query_id} was not answered within {timeout}s\n"
                f"{self.dump_requests()}"
            )
        return found

    def dump(self, chat: ChatRef) -> str:
        """A readable account of ``chat`` and of recent failed calls, for assertion messages."""
        chat_id = self.chat_id_of(chat)
        lines = [f"chat {chat_id}:"]
        lines += [m.describe() for m in self._messages.get(chat_id, {}).values()] or ["  (empty)"]
        withheld = [m for m in self.withheld if m["chat"]["id"] == chat_id]
        if withheld:
            lines.append(f"  ({len(withheld)} group message(s) withheld by privacy mode)")
        lines.append(self.dump_requests())
        return "\n".join(lines)

    def dump_requests(self, last: int = 15) -> str:
        recent = [r for r in self.requests if r.method != "getUpdates"][-last:]
        lines = ["recent calls (getUpdates omitted):"]
        for record in recent:
            outcome = "pending" if record.status is None else (record.error or "ok")
            params = {k: v for k, v in record.params.items() if k != "reply_markup"}
            lines.append(f"  {record.method} {params} -> {outcome}")
        return "\n".join(lines if recent else [*lines, "  (none)"])

    # Faults and limits

    def expect_token(self, token: str) -> None:
        """Answer 401 Unauthorized to calls made with any other token."""
        self._expected_token = token

    def inject(
        self, method: str, fault: Fault, times: int | None = 1, chat_id: int | None = None
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (to ``chat_id``) with ``fault``.

        ``times=None`` keeps the fault until ``clear_faults()``.
        """
        self._injections.append(Injection(method.lower(), fault, times, chat_id))

    def clear_faults(self) -> None:
        self._injections.clear()

    def enforce_group_limit(self, per_minute: int = 20) -> None:
        """429 when the bot sends more than ``per_minute`` messages to one group in a minute."""
        self._group_limit = per_minute

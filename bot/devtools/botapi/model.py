"""The people, chats, messages and files the local Bot API keeps, and the faults it can inject."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.devtools.botapi.builders import (
    ADMIN_STATUSES,
    BOT_ID,
    JSON,
    group_chat_dict,
    user_dict,
)


@dataclass(frozen=True)
class ChatUser:
    """A person (or another bot) talking to the bot; hashable so it can key group members."""

    id: int
    first_name: str = "Alice"
    language_code: str | None = "en"
    username: str | None = None
    last_name: str | None = None
    is_bot: bool = False

    def to_dict(self) -> JSON:
        return user_dict(
            self.id,
            self.first_name,
            is_bot=self.is_bot,
            language_code=self.language_code,
            username=self.username,
            last_name=self.last_name,
        )


@dataclass(eq=False)
class ChatGroup:
    """A group; ``id`` follows migrations to a supergroup."""

    id: int
    title: str
    members: dict[ChatUser, str]
    type: str = "group"
    bot_status: str = "left"

    def to_chat(self) -> JSON:
        return group_chat_dict(self.id, self.title, self.type)

    def status_of(self, user: ChatUser) -> str:
        if user.id == BOT_ID:
            return self.bot_status
        for member, status in self.members.items():
            if member.id == user.id:
                return status
        return "left"

    def owner(self) -> ChatUser:
        for wanted in ADMIN_STATUSES:
            for member, status in self.members.items():
                if status == wanted:
                    return member
        raise ValueError(f"group {self.title!r} has no creator or administrator")


ChatRef = int | ChatUser | ChatGroup


@dataclass(frozen=True)
class UploadedFile:
    filename: str | None
    content: bytes
    content_type: str | None


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # "photo", "document", "sticker"
    content: bytes
    file_path: str
    filename: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0

    def as_file(self) -> JSON:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


@dataclass
class ChatMessage:
    """A message in a chat as Telegram stores it now, plus what the bot sent to produce it."""

    chat_id: int
    message_id: int
    from_bot: bool
    data: JSON  # the Bot API Message, as getUpdates or a send method returns it
    source_text: str | None = None  # text or caption as sent, markup included
    parse_mode: str | None = None
    reply_markup: JSON | None = None  # as sent, of any keyboard type
    file: StoredFile | None = None
    reused_file: bool = False
    edits: int = 0
    deleted: bool = False
    revision: int = 0  # raised on every change (sent, edited, deleted): see changes_since

    @property
    def sender(self) -> JSON | None:
        """The Bot API ``from`` of the message (None for channel posts)."""
        sender = self.data.get("from")
        return sender if isinstance(sender, dict) else None

    @property
    def text(self) -> str | None:
        return self.data.get("text")

    @property
    def caption(self) -> str | None:
        return self.data.get("caption")

    @property
    def content(self) -> str:
        """Text or caption, whichever the message has (plain, entities stripped)."""
        return self.text or self.caption or ""

    @property
    def entities(self) -> list[JSON]:
        return list(self.data.get("entities") or self.data.get("caption_entities") or [])

    @property
    def buttons(self) -> list[list[JSON]]:
        markup = self.data.get("reply_markup") or {}
        return [list(row) for row in markup.get("inline_keyboard", [])]

    @property
    def button_texts(self) -> list[str]:
        return [button["text"] for row in self.buttons for button in row]

    @property
    def keyboard(self) -> JSON | None:
        """A reply keyboard, ReplyKeyboardRemove or ForceReply sent with the message."""
        if self.reply_markup is None or "inline_keyboard" in self.reply_markup:
            return None
        return self.reply_markup

    @property
    def photo(self) -> bytes | None:
        return self.file.content if self.file and self.file.kind == "photo" else None

    @property
    def document(self) -> bytes | None:
        return self.file.content if self.file and self.file.kind == "document" else None

    @property
    def filename(self) -> str | None:
        return self.file.filename if self.file else None

    @property
    def edited(self) -> bool:
        return self.edits > 0

    def describe(self) -> str:
        who = "bot" if self.from_bot else "user"
        state = " [deleted]" if self.deleted else (" [edited]" if self.edited else "")
        kind = (
            f" [{self.file.kind}: {self.file.filename or self.file.file_id}]" if self.file else ""
        )
        body = self.content if len(self.content) < 300 else self.content[:300] + "…"
        buttons = f" buttons={self.button_texts}" if self.buttons else ""
        return f"  #{self.message_id} {who}{state}{kind}: {body!r}{buttons}"


@dataclass
class RecordedRequest:
    seq: int
    method: str
    params: JSON  # non-string values JSON-decoded
    files: dict[str, UploadedFile]
    token: str
    time: float
    status: int | None = None  # None while the server is still handling it
    response: JSON | None = None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def error(self) -> str | None:
        if self.response is None or self.response.get("ok"):
            return None
        return str(self.response.get("description"))


@dataclass(frozen=True)
class CallbackAnswer:
    query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


@dataclass(frozen=True)
class InlineAnswer:
    query_id: str
    results: list[JSON]
    cache_time: int | None
    is_personal: bool
    next_offset: str | None
    button: JSON | None


# Faults injected at the HTTP boundary -------------------------------------------------------


@dataclass(frozen=True)
class RetryAfter:
    """429 flood control; PTB raises ``telegram.error.RetryAfter``."""

    seconds: int = 5


@dataclass(frozen=True)
class Forbidden:
    """403; PTB raises ``telegram.error.Forbidden``."""

    description: str = "Forbidden: bot was blocked by the user"


@dataclass(frozen=True)
class ChatMigrated:
    """400 with ``migrate_to_chat_id``; PTB raises ``telegram.error.ChatMigrated``."""

    new_chat_id: int


@dataclass(frozen=True)
class Timeout:
    """The call takes effect, but the answer comes ``seconds`` later: after the client gave up."""

    seconds: float = 2.0


@dataclass(frozen=True)
class ServerError:
    """5xx; PTB raises ``telegram.error.NetworkError``."""

    status: int = 502
    description: str = "Bad Gateway"


@dataclass(frozen=True)
class BadRequest:
    """Any 400 Telegram might answer; PTB raises ``telegram.error.BadRequest``."""

    description: str = "Bad Request: something went wrong"


Fault = RetryAfter | Forbidden | ChatMigrated | Timeout | ServerError | BadRequest


@dataclass
class Injection:
    method: str  # lower case
    fault: Fault
    times: int | None
    chat_id: int | None


class ApiError(Exception):
    """An unsuccessful Bot API answer."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def fault_error(fault: Fault) -> ApiError:
    if isinstance(fault, RetryAfter):
        return ApiError(
            429,
            f"Too Many Requests: retry after {fault.seconds}",
            {"retry_after": fault.seconds},
        )
    if isinstance(fault, Forbidden):
        return ApiError(403, fault.description)
    if isinstance(fault, ChatMigrated):
        return migrated_error(fault.new_chat_id)
    if isinstance(fault, ServerError):
        return ApiError(fault.status, fault.description)
    if isinstance(fault, BadRequest):
        return ApiError(400, fault.description)
    raise TypeError(f"{fault!r} is not an error fault")


def migrated_error(new_chat_id: int) -> ApiError:
    return ApiError(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": new_chat_id},
    )


class WaitTimeoutError(AssertionError):
    """A ``wait_for_*`` gave up; the message says what the server saw instead."""


# Request decoding ---------------------------------------------------------------------------

"""The Bot API over HTTP: the endpoint the bot calls, its method table, and the methods that
do not write messages (getMe, getUpdates, commands, chats and members, pins, files); the
webhook methods are in ``webhook.py``."""

from __future__ import annotations

import asyncio
import copy
import functools
import re
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.devtools.botapi.builders import (
    ADMIN_STATUSES,
    BOT_ID,
    JSON,
    PRESENT_STATUSES,
    bot_user_dict,
    chat_member_dict,
)
from bot.devtools.botapi.messages import MessageMethods
from bot.devtools.botapi.model import (
    ApiError,
    ChatUser,
    Fault,
    RecordedRequest,
    Timeout,
    UploadedFile,
    fault_error,
)
from bot.devtools.botapi.params import int_param, read_params
from bot.devtools.botapi.webhook import GET_UPDATES_CONFLICT, WebhookMethods

_Handler = Callable[[JSON, dict[str, UploadedFile]], Any]


class BotApiMethods(MessageMethods, WebhookMethods):
    """Every Bot API method the bot uses, answered as Telegram would."""

    @functools.cached_property
    def app(self) -> Starlette:
        """The Bot API as an ASGI app: served by ``start``, or mounted by the demo."""
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._handle_api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._handle_file, methods=["GET"]),
            ]
        )

    # HTTP

    async def _handle_api(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        name = str(request.path_params["method"])
        canonical, handler = self._handlers.get(
            name.lower(), (name, functools.partial(self._unknown_method, name))
        )
        record = RecordedRequest(self._next_seq(), canonical, {}, {}, token, time.time())
        self.requests.append(record)
        self._trim(self.requests)
        fault: Fault | None = None
        try:
            record.params, record.files = await read_params(request)
            if self._expected_token is not None and token != self._expected_token:
                raise ApiError(401, "Unauthorized")
            fault = self._take_fault(canonical, record.params)
            if fault is not None and not isinstance(fault, Timeout):
                raise fault_error(fault)
            result = handler(record.params, record.files)
            if asyncio.iscoroutine(result):
                result = await result
            status, body = 200, {"ok": True, "result": result}
        except ApiError as error:
            status, body = error.status, error.body()
        except Exception as exc:  # noqa: BLE001
            # A bug in this server, not a Telegram answer: make it loud in the caller's output.
            self.internal_errors.append(traceback.format_exc())
            status, body = 500, ApiError(500, f"local Bot API bug: {exc!r}").body()
        record.status, record.response = status, body
        self._notify()
        if isinstance(fault, Timeout):
            await self._sleep(fault.seconds)
        return JSONResponse(body, status_code=status)

    def _take_fault(self, method: str, params: Mapping[str, Any]) -> Fault | None:
        for injection in self._injections:
            if injection.method != method.lower():
                continue
            if injection.chat_id is not None and str(params.get("chat_id")) != str(
                injection.chat_id
            ):
                continue
            if injection.times is not None:
                injection.times -= 1
                if injection.times <= 0:
                    self._injections.remove(injection)
            return injection.fault
        return None

    async def _handle_file(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        if self._expected_token is not None and token != self._expected_token:
            return Response(status_code=401)
        stored = self._files_by_path.get(str(request.path_params["path"]))
        if stored is None:
            return Response(status_code=404)
        return Response(stored.content, media_type=stored.mime_type or "application/octet-stream")

    @functools.cached_property
    def _handlers(self) -> dict[str, tuple[str, _Handler]]:
        """Method name, lower-cased (Telegram's are case-insensitive) → (its name, handler)."""
        handlers: dict[str, _Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChatMemberCount": self._get_chat_member_count,
            "pinChatMessage": self._pin_chat_message,
            "unpinChatMessage": self._unpin_chat_message,
            "getFile": self._get_file,
            "sendChatAction": self._send_chat_action,
        }
        return {name.lower(): (name, handler) for name, handler in handlers.items()}

    # The bot and its updates

    def _get_me(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return bot_user_dict(
            BOT_ID,
            self.bot_username,
            self.bot_user.first_name,
            get_me=True,
            privacy_mode=self.privacy_mode,
        )

    async def _get_updates(self, params: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        if self.webhook is not None:
            raise ApiError(409, GET_UPDATES_CONFLICT)
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        # An offset confirms every update below it; a negative one keeps only the last ones.
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._updates and not self._closing.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._wait_change(remaining)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
        return copy.deepcopy(self._updates[:limit])

    def _scope_key(self, params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        parts = [str(scope.get("type", "default"))]
        parts += [str(scope[key]) for key in ("chat_id", "user_id") if key in scope]
        return ":".join(parts), str(params.get("language_code") or "")

    def _set_my_commands(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be an array of at most 100 commands")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._scope_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        return list(self.commands.get(self._scope_key(params), []))

    def _delete_my_commands(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    # Chats and members

    def _get_chat(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat_id = self._known_chat(params)
        info = self._chat_data(chat_id) | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        pinned = self._pinned.get(chat_id)
        if pinned:
            info["pinned_message"] = copy.deepcopy(self._messages[chat_id][pinned[-1]].data)
        return info

    def _member_user(self, user_id: int) -> ChatUser:
        if user_id == BOT_ID:
            return self.bot_user
        if user_id not in self._users:
            raise ApiError(400, "Bad Request: user not found")
        return self._users[user_id]

    def _get_chat_member(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat_id = self._known_chat(params)
        member = self._member_user(int_param(params, "user_id"))
        if chat_id in self._users:
            status = "member" if member.id in (chat_id, BOT_ID) else "left"
        else:
            status = self._groups[chat_id].status_of(member)
        return chat_member_dict(member.to_dict(), status)

    def _get_chat_administrators(self, params: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        chat_id = self._known_chat(params)
        if chat_id in self._users:
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        group = self._groups[chat_id]
        admins = [
            chat_member_dict(member.to_dict(), status)
            for member, status in group.members.items()
            if status in ADMIN_STATUSES
        ]
        if group.bot_status in ADMIN_STATUSES:
            admins.append(chat_member_dict(self.bot_user.to_dict(), group.bot_status))
        return admins

    def _get_chat_member_count(self, params: JSON, files: dict[str, UploadedFile]) -> int:
        chat_id = self._known_chat(params)
        if chat_id in self._users:
            return 2
        group = self._groups[chat_id]
        present = sum(1 for status in group.members.values() if status in PRESENT_STATUSES)
        return present + (1 if group.bot_status in PRESENT_STATUSES else 0)

    def _pin_chat_message(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._writable_chat(params)
        message_id = int_param(params, "message_id")
        message = self._messages[chat_id].get(message_id)
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to pin not found")
        group = self._groups.get(chat_id)
        if (
            group is not None
            and group.type == "supergroup"
            and group.bot_status not in ADMIN_STATUSES
        ):
            raise ApiError(
                400, "Bad Request: not enough rights to manage pinned messages in the chat"
            )
        pinned = self._pinned.setdefault(chat_id, [])
        if message_id in pinned:
            pinned.remove(message_id)
        pinned.append(message_id)
        return True

    def _unpin_chat_message(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._writable_chat(params)
        pinned = self._pinned.get(chat_id, [])
        message_id = params.get("message_id")
        if message_id is None:
            if pinned:
                pinned.pop()
        elif int(message_id) in pinned:
            pinned.remove(int(message_id))
        else:
            raise ApiError(400, "Bad Request: message to unpin not found")
        return True

    def _get_file(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        stored = self.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return stored.as_file()

    def _send_chat_action(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self._writable_chat(params)
        return True

    def _unknown_method(self, name: str, params: JSON, files: dict[str, UploadedFile]) -> Any:
        lowered = name.lower()
        if lowered.startswith("send") and "chat_id" in params:
            # PTB parses what a send* method returns as a Message (a list for media groups).
            chat_id = self._writable_chat(params)
            markup, inline = self._markup(params)
            caption = params.get("caption")
            fields = {"caption": caption} if isinstance(caption, str) and caption else {}
            message = self._store_bot_message(
                chat_id, params, fields, source=caption, markup=markup, inline=inline
            )
            return [message] if lowered == "sendmediagroup" else message
        return True

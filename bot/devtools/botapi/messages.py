"""The Bot API methods that write messages: send, edit, delete, and the answers to queries,
with Telegram's cheap validations (HTML entities, lengths, "message is not modified")."""

from __future__ import annotations

import copy
import time
from collections import deque

from bot.devtools.botapi.builders import (
    JSON,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CAPTION_LENGTH,
    MAX_INLINE_RESULTS,
    MAX_TEXT_LENGTH,
    PRESENT_STATUSES,
    message_dict,
    now,
    private_chat_dict,
)
from bot.devtools.botapi.html import HTMLParseError, parse_html
from bot.devtools.botapi.model import (
    ApiError,
    CallbackAnswer,
    ChatMessage,
    InlineAnswer,
    StoredFile,
    UploadedFile,
    migrated_error,
)
from bot.devtools.botapi.params import (
    bool_param,
    image_size,
    int_param,
    validate_inline_keyboard,
)
from bot.devtools.botapi.state import BotApiState

_QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


class MessageMethods(BotApiState):
    """sendMessage, sendPhoto, sendDocument, edit*, delete*, answerCallbackQuery,
    answerInlineQuery."""

    # Chats the bot may write to

    def _known_chat(self, params: JSON) -> int:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id in self._migrated:
            raise migrated_error(self._migrated[chat_id])
        if chat_id not in self._users and chat_id not in self._groups:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _writable_chat(self, params: JSON) -> int:
        chat_id = self._known_chat(params)
        if chat_id in self._users:
            if chat_id in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if chat_id not in self._started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            return chat_id
        group = self._groups[chat_id]
        kind = "supergroup" if group.type == "supergroup" else "group"
        if group.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        if group.bot_status not in PRESENT_STATUSES:
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        return chat_id

    def _check_group_rate(self, chat_id: int) -> None:
        if self._group_limit is None or chat_id >= 0:
            return
        clock = time.monotonic()
        sent = self._group_sends.setdefault(chat_id, deque())
        while sent and clock - sent[0] >= 60:
            sent.popleft()
        if len(sent) >= self._group_limit:
            wait = max(1, int(60 - (clock - sent[0]) + 0.999))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        sent.append(clock)

    def _chat_data(self, chat_id: int) -> JSON:
        if chat_id in self._users:
            return private_chat_dict(self._users[chat_id].to_dict())
        return self._groups[chat_id].to_chat()

    # Message content

    def _formatted(
        self, params: JSON, key: str, entities_key: str, limit: int, *, required: bool
    ) -> tuple[str | None, list[JSON]]:
        """Plain text and entities of ``params[key]`` as Telegram would store them."""
        raw = params.get(key)
        if raw is None or raw == "":
            if required:
                raise ApiError(400, "Bad Request: message text is empty")
            return None, []
        source = str(raw)
        mode = str(params.get("parse_mode") or "").lower()
        if mode == "html":
            try:
                plain, entities = parse_html(source)
            except HTMLParseError as error:
                raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        else:
            # Markdown modes are passed through unchecked.
            plain, entities = source, list(params.get(entities_key) or [])
        if required and not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(plain) > limit:
            what = "message caption is too long" if key == "caption" else "message is too long"
            raise ApiError(400, f"Bad Request: {what}")
        return plain, entities

    @staticmethod
    def _markup(params: JSON) -> tuple[JSON | None, JSON | None]:
        """(markup as sent, the inline keyboard a Message shows)."""
        markup = params.get("reply_markup")
        if markup is None:
            return None, None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            validate_inline_keyboard(markup)
            return markup, {"inline_keyboard": markup["inline_keyboard"]}
        return markup, None

    def _reply_fields(self, chat_id: int, params: JSON) -> JSON:
        reply = params.get("reply_parameters")
        message_id = reply.get("message_id") if isinstance(reply, dict) else None
        message_id = message_id or params.get("reply_to_message_id")
        if not message_id:
            return {}
        target = self._messages[chat_id].get(int(message_id))
        if target is None or target.deleted:
            allowed = isinstance(reply, dict) and reply.get("allow_sending_without_reply")
            if allowed or bool_param(params, "allow_sending_without_reply"):
                return {}
            raise ApiError(400, "Bad Request: message to be replied not found")
        original = {k: v for k, v in target.data.items() if k != "reply_to_message"}
        return {"reply_to_message": copy.deepcopy(original)}

    def _store_bot_message(
        self,
        chat_id: int,
        params: JSON,
        fields: JSON,
        *,
        source: str | None,
        markup: JSON | None,
        inline: JSON | None,
        file: StoredFile | None = None,
        reused: bool = False,
    ) -> JSON:
        self._check_group_rate(chat_id)
        reply = self._reply_fields(chat_id, params)
        message_id = self._new_message_id(chat_id)
        data = message_dict(
            message_id, self._chat_data(chat_id), self._bot_from(), **reply, **fields
        )
        if inline is not None:
            data["reply_markup"] = inline
        message = ChatMessage(
            chat_id,
            message_id,
            True,
            data,
            source_text=source,
            parse_mode=params.get("parse_mode"),
            reply_markup=markup,
            file=file,
            reused_file=reused,
        )
        self._messages[chat_id][message_id] = message
        self._log_event(message)
        return copy.deepcopy(data)

    def _send_message(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat_id = self._writable_chat(params)
        text, entities = self._formatted(
            params, "text", "entities", MAX_TEXT_LENGTH, required=True
        )
        markup, inline = self._markup(params)
        fields: JSON = {"text": text}
        if entities:
            fields["entities"] = entities
        return self._store_bot_message(
            chat_id, params, fields, source=params.get("text"), markup=markup, inline=inline
        )

    def _send_media(self, params: JSON, files: dict[str, UploadedFile], kind: str) -> JSON:
        chat_id = self._writable_chat(params)
        caption, entities = self._formatted(
            params, "caption", "caption_entities", MAX_CAPTION_LENGTH, required=False
        )
        markup, inline = self._markup(params)
        stored, reused = self._media_file(params, files, kind)
        fields: JSON = {}
        if kind == "photo":
            fields["photo"] = [self._photo_size(stored)]
        else:
            fields["document"] = self._document(stored)
        if caption is not None:
            fields["caption"] = caption
        if entities:
            fields["caption_entities"] = entities
        return self._store_bot_message(
            chat_id,
            params,
            fields,
            source=params.get("caption"),
            markup=markup,
            inline=inline,
            file=stored,
            reused=reused,
        )

    def _send_photo(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self._send_media(params, files, "photo")

    def _send_document(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return self._send_media(params, files, "document")

    def _media_file(
        self, params: JSON, files: dict[str, UploadedFile], kind: str
    ) -> tuple[StoredFile, bool]:
        upload = files.get(kind)
        value = params.get(kind)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        if upload is not None:
            if kind == "photo":
                size = image_size(upload.content)
                if size is None:
                    raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
                if sum(size) > 10_000 or max(size) > 20 * min(size):
                    raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
            stored = self._register_file(
                upload.content, kind, filename=upload.filename, mime_type=upload.content_type
            )
            return stored, False
        if not isinstance(value, str) or not value:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        known = self.files.get(value)
        if known is not None:
            if known.kind != kind:
                raise ApiError(
                    400,
                    f"Bad Request: can't use file of type {known.kind.title()} as {kind.title()}",
                )
            return known, True
        if value.startswith(("http://", "https://")):
            # Telegram would fetch the URL; this server keeps an empty placeholder (offline).
            return self._register_file(b"", kind, filename=value.rsplit("/", 1)[-1]), False
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    # Edits and deletes

    def _editable(self, params: JSON) -> ChatMessage:
        chat_id = self._writable_chat(params)
        message = self._messages[chat_id].get(int_param(params, "message_id"))
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not message.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _apply_edit(
        self, message: ChatMessage, changes: JSON, inline: JSON | None, *, says: bool = True
    ) -> JSON:
        """``says=False``: buttons taken off an old message; a change (``changes_since``) but
        not the bot's next word (``wait_for_message``)."""
        before = {k: message.data.get(k) for k in changes} | {
            "reply_markup": message.data.get("reply_markup")
        }
        after = {k: v or None for k, v in changes.items()} | {"reply_markup": inline}
        if {k: v or None for k, v in before.items()} == after:
            raise ApiError(400, _NOT_MODIFIED)
        for key, value in after.items():
            if value:
                message.data[key] = value
            else:
                message.data.pop(key, None)
        message.data["edit_date"] = now()
        message.edits += 1
        self._log_event(message, says=says)
        return copy.deepcopy(message.data)

    def _edit_message_text(self, params: JSON, files: dict[str, UploadedFile]) -> JSON | bool:
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        if "text" not in message.data:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities = self._formatted(
            params, "text", "entities", MAX_TEXT_LENGTH, required=True
        )
        markup, inline = self._markup(params)
        result = self._apply_edit(message, {"text": text, "entities": entities}, inline)
        message.source_text, message.parse_mode = params.get("text"), params.get("parse_mode")
        message.reply_markup = markup
        return result

    def _edit_message_caption(self, params: JSON, files: dict[str, UploadedFile]) -> JSON | bool:
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        if message.file is None:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption, entities = self._formatted(
            params, "caption", "caption_entities", MAX_CAPTION_LENGTH, required=False
        )
        markup, inline = self._markup(params)
        result = self._apply_edit(
            message, {"caption": caption, "caption_entities": entities}, inline
        )
        message.source_text, message.parse_mode = params.get("caption"), params.get("parse_mode")
        message.reply_markup = markup
        return result

    def _edit_message_reply_markup(
        self, params: JSON, files: dict[str, UploadedFile]
    ) -> JSON | bool:
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        markup, inline = self._markup(params)
        result = self._apply_edit(message, {}, inline, says=inline is not None)
        message.reply_markup = markup
        return result

    def _delete_message(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._writable_chat(params)
        message = self._messages[chat_id].get(int_param(params, "message_id"))
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        message.deleted = True
        message.revision = self._next_seq()
        self._notify()
        return True

    def _delete_messages(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._writable_chat(params)
        for message_id in params.get("message_ids") or []:
            message = self._messages[chat_id].get(int(message_id))
            if message is not None and not message.deleted:
                message.deleted = True
                message.revision = self._next_seq()
        self._notify()
        return True

    # Queries

    def _answer_callback_query(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if not query_id or query_id in self._answered_queries:
            raise ApiError(400, _QUERY_INVALID)
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._answered_queries.add(query_id)
        cache_time = params.get("cache_time")
        self.callback_answers[query_id] = CallbackAnswer(
            query_id,
            None if text is None else str(text),
            bool_param(params, "show_alert"),
            params.get("url"),
            None if cache_time is None else int(cache_time),
        )
        return True

    def _answer_inline_query(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        query_id = str(params.get("inline_query_id") or "")
        if not query_id or query_id in self._answered_queries:
            raise ApiError(400, _QUERY_INVALID)
        results = params.get("results")
        if not isinstance(results, list):
            raise ApiError(400, "Bad Request: results must be an array")
        if len(results) > MAX_INLINE_RESULTS:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            result_id = str(result.get("id", ""))
            if not 1 <= len(result_id.encode()) <= 64:
                raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
            if result_id in seen:
                raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
            seen.add(result_id)
            if isinstance(result.get("reply_markup"), dict):
                validate_inline_keyboard(result["reply_markup"])
            content = result.get("input_message_content")
            if isinstance(content, dict) and "message_text" in content:
                self._formatted(
                    content, "message_text", "entities", MAX_TEXT_LENGTH, required=True
                )
        self._answered_queries.add(query_id)
        cache_time = params.get("cache_time")
        self.inline_answers[query_id] = InlineAnswer(
            query_id,
            results,
            None if cache_time is None else int(cache_time),
            bool_param(params, "is_personal"),
            params.get("next_offset"),
            params.get("button"),
        )
        return True

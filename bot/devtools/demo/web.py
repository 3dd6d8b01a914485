"""The web chat: a page that looks like Telegram on a phone, and the small JSON API behind it.

The page (``static/``) plays the demo people: it sends their texts and button presses to the
local Bot API through this API and polls for what changed. The bot's messages are sent as plain
text plus Telegram entities (the local Bot API parsed the bot's HTML exactly as Telegram does);
the page builds elements from them and never inserts text as HTML.

API (JSON; POST bodies must be ``application/json``):

- ``GET /api/state?lang=xx``: the page's texts and language, the people, the chats, the origin.
- ``GET /api/messages?since=N``: every message sent, edited or deleted after revision ``N``,
  in all chats, with the new revision and the pinned messages.
- ``POST /api/send`` ``{chat_id, user_id, text, lang?, reply_to?}``: a person writes.
- ``POST /api/press`` ``{chat_id, message_id, user_id, data, lang?}``: a person presses a
  callback button; answers the bot's callback answer (``text``, ``show_alert``) or null.
- ``GET /api/commands?chat_id=&user_id=&lang=``: the bot's command menu for that chat.
- ``GET /api/files/{file_id}``: a photo's or document's bytes (documents as downloads).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.config import LANGUAGES
from bot.devtools.accept_language import pick_language
from bot.devtools.botapi import JSON, ChatGroup, ChatMessage, ChatUser, WaitTimeoutError
from bot.devtools.demo.texts import page_texts
from bot.dgs.models import KIGALI
from bot.i18n import LANGUAGE_NAMES

if TYPE_CHECKING:
    from bot.devtools.demo.world import Demo

MAX_TEXT_LENGTH = 4096
PRESS_ANSWER_TIMEOUT_SECONDS = 5.0
_STATIC = {
    "chat.css": "text/css; charset=utf-8",
    "chat.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_TELEGRAM_HOSTS = frozenset({"t.me", "telegram.me", "telegram.dog"})
_FILENAME_UNSAFE = re.compile(r'[^A-Za-z0-9._ -]|"')


class RequestError(Exception):
    """A request the page should not have made; ``code`` is what the page shows a text for."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


def _static(name: str) -> bytes:
    return resources.files("bot.devtools.demo").joinpath("static", name).read_bytes()


class _SecurityHeaders:
    """Same-origin everything: the page loads nothing from elsewhere and is never framed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = _CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _Web:
    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.index = _static("index.html")
        self.assets = {name: _static(name) for name in _STATIC}

    # Pages ----------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        return Response(self.index, media_type="text/html; charset=utf-8")

    async def asset(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in self.assets:
            return Response(status_code=404)
        return Response(self.assets[name], media_type=_STATIC[name])

    # Reading --------------------------------------------------------------------------------

    def _language(self, request: Request, asked: str | None = None) -> str:
        return pick_language(
            asked if asked is not None else request.query_params.get("lang"),
            request.headers.get("accept-language"),
            self.demo.language,
        )

    async def state(self, request: Request) -> Response:
        language = self._language(request)
        group = self.demo.group
        people = [
            {
                "id": user.id,
                "name": user.first_name,
                "username": user.username,
                "group_status": group.status_of(user),
            }
            for user in self.demo.people.values()
        ]
        return JSONResponse(
            {
                "lang": language,
                "languages": [{"code": c, "name": LANGUAGE_NAMES[c]} for c in LANGUAGES],
                "texts": page_texts(self.demo.catalogues, language),
                "origin": self.demo.internal_url,
                "bot": {
                    "id": self.demo.api.bot_user.id,
                    "name": self.demo.api.bot_user.first_name,
                    "username": self.demo.api.bot_username,
                },
                "people": people,
                "group": {"id": group.id, "title": group.title, "type": group.type},
                "poll_interval_seconds": self.demo.poll_interval_seconds,
            }
        )

    async def messages(self, request: Request) -> Response:
        since = _int(request.query_params.get("since", "0"), "since")
        api = self.demo.api
        revision = api.revision
        changed = [self.message_json(m) for m in api.changes_since(since)]
        chats = {self.demo.group.id, *self.demo.people}
        pinned: dict[str, int | None] = {}
        for chat in chats:
            ids = api.pinned(chat)
            pinned[str(chat)] = ids[-1] if ids else None
        return JSONResponse({"revision": revision, "messages": changed, "pinned": pinned})

    async def commands(self, request: Request) -> Response:
        chat_id = _int(request.query_params.get("chat_id"), "chat_id")
        user = self._person(_int(request.query_params.get("user_id"), "user_id"), None)
        language = self._language(request)
        api = self.demo.api
        if chat_id == user.id:
            scopes = [f"chat:{chat_id}", "all_private_chats", "default"]
        elif chat_id == self.demo.group.id:
            admin = self.demo.group.status_of(user) in ("creator", "administrator")
            scopes = [f"chat_member:{chat_id}:{user.id}"]
            scopes += [f"chat_administrators:{chat_id}"] if admin else []
            scopes += [f"chat:{chat_id}"]
            scopes += ["all_chat_administrators"] if admin else []
            scopes += ["all_group_chats", "default"]
        else:
            raise RequestError(404, "no-chat")
        for scope in scopes:  # Telegram's order: narrowest scope first, language before none
            for code in (language, ""):
                found = api.commands.get((scope, code))
                if found:
                    return JSONResponse({"commands": found})
        return JSONResponse({"commands": []})

    async def file(self, request: Request) -> Response:
        stored = self.demo.api.files.get(str(request.path_params["file_id"]))
        if stored is None:
            return Response(status_code=404)
        if stored.kind == "photo":
            return Response(stored.content, media_type=_image_type(stored.content))
        name = _FILENAME_UNSAFE.sub("_", stored.filename or "file")
        disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''" + quote(
            stored.filename or "file"
        )
        return Response(
            stored.content,
            media_type=stored.mime_type or "application/octet-stream",
            headers={"Content-Disposition": disposition},
        )

    # Writing --------------------------------------------------------------------------------

    def _person(self, user_id: int, language: str | None) -> ChatUser:
        try:
            return self.demo.person(user_id, language)
        except KeyError:
            raise RequestError(404, "no-person") from None

    def _chat_for(self, chat_id: int, user_id: int) -> ChatGroup | None:
        """The group for a group chat, None for the person's own private chat."""
        if chat_id == self.demo.group.id:
            return self.demo.group
        if chat_id == user_id:
            return None
        raise RequestError(404, "no-chat")

    async def send(self, request: Request) -> Response:
        body = await _json_body(request)
        user_id = _int(body.get("user_id"), "user_id")
        chat_id = _int(body.get("chat_id"), "chat_id")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_LENGTH:
            raise RequestError(400, "bad-text")
        user = self._person(user_id, _language_of(body))
        chat = self._chat_for(chat_id, user_id)
        api = self.demo.api
        reply_to: ChatMessage | None = None
        if body.get("reply_to") is not None:
            try:
                reply_to = api.message(chat_id, _int(body.get("reply_to"), "reply_to"))
            except LookupError:
                reply_to = None  # deleted meanwhile: send without the reply, as Telegram does
        try:
            sent = await api.send_text(user, text, chat, reply_to=reply_to)
        except RuntimeError:
            raise RequestError(409, "not-member") from None
        return JSONResponse(
            {"message": self.message_json(api.message(chat_id, sent["message_id"]))}
        )

    async def press(self, request: Request) -> Response:
        body = await _json_body(request)
        user_id = _int(body.get("user_id"), "user_id")
        chat_id = _int(body.get("chat_id"), "chat_id")
        message_id = _int(body.get("message_id"), "message_id")
        data = body.get("data")
        if not isinstance(data, str) or not data:
            raise RequestError(400, "bad-data")
        user = self._person(user_id, _language_of(body))
        chat = self._chat_for(chat_id, user_id)
        if chat is not None and chat.status_of(user) not in ("creator", "administrator", "member"):
            raise RequestError(409, "not-member")
        api = self.demo.api
        target = {"chat": {"id": chat_id}, "message_id": message_id}
        try:
            query_id = await api.press(user, target, callback_data=data)
        except LookupError:
            raise RequestError(409, "button-gone") from None
        try:
            answer = await api.wait_for_callback_answer(
                query_id, timeout=PRESS_ANSWER_TIMEOUT_SECONDS
            )
        except WaitTimeoutError:
            return JSONResponse({"answer": None})
        return JSONResponse({"answer": {"text": answer.text, "show_alert": answer.show_alert}})

    # Messages as the page sees them -----------------------------------------------------

    def message_json(self, message: ChatMessage) -> JSON:
        data = message.data
        sender = message.sender or {}
        sender_chat = data.get("sender_chat")
        name = (
            str(sender_chat.get("title", ""))
            if isinstance(sender_chat, dict)
            else " ".join(filter(None, (sender.get("first_name"), sender.get("last_name"))))
        )
        out: JSON = {
            "chat_id": message.chat_id,
            "id": message.message_id,
            "revision": message.revision,
            "date": data.get("date"),
            "time": _clock(data.get("date")),
            "from": {"id": sender.get("id"), "name": name, "is_bot": bool(sender.get("is_bot"))},
            "deleted": message.deleted,
            "edited": message.edited,
        }
        if message.deleted:
            return out
        out["text"] = message.content
        out["entities"] = [self._entity(e) for e in message.entities]
        out["buttons"] = [[self._button(b) for b in row] for row in message.buttons]
        out["force_reply"] = bool((message.keyboard or {}).get("force_reply"))
        via = data.get("via_bot")
        if isinstance(via, dict):
            out["via"] = via.get("username")
        if data.get("photo"):
            largest = data["photo"][-1]
            out["photo"] = {
                "url": f"/api/files/{quote(largest['file_id'], safe='')}",
                "width": largest.get("width"),
                "height": largest.get("height"),
            }
        document = data.get("document")
        if isinstance(document, dict):
            out["document"] = {
                "url": f"/api/files/{quote(document['file_id'], safe='')}",
                "name": document.get("file_name") or "file",
                "size": document.get("file_size") or 0,
            }
        reply = data.get("reply_to_message")
        if isinstance(reply, dict):
            author = reply.get("from") or {}
            snippet = str(reply.get("text") or reply.get("caption") or "")
            out["reply_to"] = {
                "id": reply.get("message_id"),
                "name": author.get("first_name", ""),
                "text": snippet[:120],
            }
        service = _service(data)
        if service is not None:
            out["service"] = service
        elif not (out["text"] or "photo" in out or "document" in out):
            out["unsupported"] = True
        return out

    def _local(self, url: str) -> str:
        """This server's own links as paths, so they work from any address the page uses."""
        origin = self.demo.internal_url
        if url == origin or url.startswith(origin + "/"):
            return url[len(origin) :] or "/"
        return url

    def _entity(self, entity: JSON) -> JSON:
        if entity.get("type") == "text_link" and isinstance(entity.get("url"), str):
            return {**entity, "url": self._local(entity["url"])}
        return dict(entity)

    def _button(self, button: JSON) -> JSON:
        text = str(button.get("text", ""))
        if "callback_data" in button:
            return {"text": text, "kind": "callback", "data": button["callback_data"]}
        if "url" in button:
            return {"text": text, **self._url_action(str(button["url"]))}
        for key in (
            "switch_inline_query",
            "switch_inline_query_current_chat",
            "switch_inline_query_chosen_chat",
        ):
            if key in button:
                return {"text": text, "kind": "inline"}
        copy_text = button.get("copy_text")
        if isinstance(copy_text, dict):
            return {"text": text, "kind": "copy", "copy": str(copy_text.get("text", ""))}
        return {"text": text, "kind": "unsupported"}

    def _url_action(self, url: str) -> JSON:
        """What pressing a URL button does in the demo: a deep link to our bot starts it."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        bot = self.demo.api.bot_username.lower()
        host = (parts.hostname or "").lower()
        if parts.scheme in ("http", "https") and host in _TELEGRAM_HOSTS:
            if parts.path.strip("/").lower() == bot and "startgroup" not in query:
                return {"kind": "start", "payload": (query.get("start") or [""])[0]}
            return {"kind": "telegram"}
        if parts.scheme == "tg":
            if parts.netloc == "resolve" and (query.get("domain") or [""])[0].lower() == bot:
                return {"kind": "start", "payload": (query.get("start") or [""])[0]}
            return {"kind": "telegram"}
        if parts.scheme in ("http", "https"):
            return {"kind": "url", "url": self._local(url)}
        return {"kind": "unsupported"}


def _service(data: JSON) -> JSON | None:
    actor = (data.get("from") or {}).get("first_name", "")
    if data.get("new_chat_members"):
        names = [str(m.get("first_name", "")) for m in data["new_chat_members"]]
        return {"kind": "added", "actor": actor, "names": names}
    if data.get("left_chat_member"):
        return {"kind": "left", "actor": actor, "names": [data["left_chat_member"]["first_name"]]}
    if "migrate_to_chat_id" in data or "migrate_from_chat_id" in data:
        return {"kind": "migrated"}
    if data.get("pinned_message"):
        return {"kind": "pinned", "actor": actor}
    if not any(k in data for k in ("text", "caption", "photo", "document", "sticker")):
        return {"kind": "other"}
    return None


def _image_type(content: bytes) -> str:
    if content.startswith(b"\x89PNG"):
        return "image/png"
    if content.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if content[:4] == b"RIFF":
        return "image/webp"
    return "application/octet-stream"


def _clock(date: object) -> str:
    """A message's time as the bot's cards write times: Kigali's clock, 24-hour (the page
    must not show the zone of the browser it happens to run in)."""
    if not isinstance(date, int | float):
        return ""
    return datetime.fromtimestamp(date, KIGALI).strftime("%H:%M")


def _language_of(body: JSON) -> str | None:
    value = body.get("lang")
    return value if isinstance(value, str) and value in LANGUAGES else None


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise RequestError(400, f"bad-{name.replace('_', '-')}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RequestError(400, f"bad-{name.replace('_', '-')}") from None


async def _json_body(request: Request) -> JSON:
    # JSON only: a form posted by another site cannot reach here without a CORS preflight.
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise RequestError(415, "json-only")
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise RequestError(400, "bad-json") from None
    if not isinstance(body, dict):
        raise RequestError(400, "bad-json")
    return body


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return JSONResponse({"error": exc.code}, status_code=exc.status)


def create_web_app(demo: Demo) -> ASGIApp:
    """The page and its API for ``demo``."""
    web = _Web(demo)
    app = Starlette(
        routes=[
            Route("/", web.page, methods=["GET"]),
            Route("/static/{name}", web.asset, methods=["GET"]),
            Route("/api/state", web.state, methods=["GET"]),
            Route("/api/messages", web.messages, methods=["GET"]),
            Route("/api/commands", web.commands, methods=["GET"]),
            Route("/api/files/{file_id}", web.file, methods=["GET"]),
            Route("/api/send", web.send, methods=["POST"]),
            Route("/api/press", web.press, methods=["POST"]),
        ],
        exception_handlers={RequestError: _problem},
    )
    return _SecurityHeaders(app)
